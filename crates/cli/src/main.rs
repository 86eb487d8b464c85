//! `tincan-cli`: the headless Tincan peer. `devices` lists what the media engine can use;
//! `echo-test` tests a speaker and microphone together; `call` joins a room with a test pattern, a file or a device and measures what arrives.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod call;
mod devices;

/// The headless Tincan peer.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List cameras (with their modes), microphones and speakers.
    Devices {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Test speaker and microphone: play a short sound, record it, and say whether the
    /// microphone hears the speaker and how much echo cancellation removes (exit 0 either
    /// way; 1 when a device cannot be used).
    EchoTest {
        /// A microphone id from `devices` (default: the system's).
        #[arg(long)]
        microphone: Option<String>,
        /// A speaker id from `devices` (default: the system's).
        #[arg(long)]
        speaker: Option<String>,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Join (or create) a room and call everyone in it. Exit codes: 2 server unreachable,
    /// 3 room not found, full or malformed, 4 call failed.
    Call(call::CallArgs),
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,rtc=error,rtc_dtls=error,rtc_ice=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match Args::parse().command {
        Command::Devices { json } => devices::run(json),
        Command::EchoTest {
            microphone,
            speaker,
            json,
        } => devices::echo_test(microphone.as_deref(), speaker.as_deref(), json),
        Command::Call(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(call::run(args)),
            Err(e) => {
                eprintln!("tincan-cli: cannot start: {e}");
                ExitCode::from(call::exit::FAILED)
            }
        },
    }
}

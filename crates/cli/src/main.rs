//! `tincan-cli`: the headless Tincan peer. `devices` lists what the media engine can use;
//! `echo-test` tests a speaker and microphone together; `call` joins a room (or rings a
//! person) with a test pattern, a file or a device and measures what arrives; `listen` is
//! reachable by a personal code and answers rings.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod call;
mod devices;
mod people;

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
    /// List what can be shared with --share-screen: the display in $DISPLAY and its
    /// windows, each with its id, size and title (exit 1 when there is no X display); in a
    /// Wayland session, `portal` (the desktop asks which).
    Screens {
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
    /// Join (or create) a room and call everyone in it, or ring a person (--ring) and call
    /// them. Exit codes: 2 server unreachable, 3 room not found, full or malformed, 4 call
    /// failed; with --ring: 5 declined, 6 no answer, 7 busy, 8 not reachable.
    Call(call::CallArgs),
    /// Be reachable by a personal code: print `code CODE`, then `ringing CODE NAME` for each
    /// ring, answered as --answer says (accept: join the caller's room and call).
    Listen(people::ListenArgs),
}

fn main() -> ExitCode {
    tincan_media::audio::pulse_cookie::export_for_cpal();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,rtc=error,rtc_dtls=error,rtc_ice=error,zbus=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match Args::parse().command {
        Command::Devices { json } => devices::run(json),
        Command::Screens { json } => devices::screens(json),
        Command::EchoTest {
            microphone,
            speaker,
            json,
        } => devices::echo_test(microphone.as_deref(), speaker.as_deref(), json),
        Command::Call(args) => block_on(call::run(args)),
        Command::Listen(args) => block_on(people::listen(args)),
    }
}

fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("tincan-cli: cannot start: {e}");
            ExitCode::from(call::exit::FAILED)
        }
    }
}

//! `tincan-cli`: the headless Tincan peer. `devices` lists what the media engine can use;
//! `call` joins a room with a test pattern, a file or a device and measures what arrives.

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
        Command::Call(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(call::run(args)),
            Err(e) => {
                eprintln!("tincan-cli: cannot start: {e}");
                ExitCode::from(call::exit::FAILED)
            }
        },
    }
}

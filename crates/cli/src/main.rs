//! `tincan-cli`: the headless Tincan peer. `devices` lists what the media engine can use.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    match Args::parse().command {
        Command::Devices { json } => devices::run(json),
    }
}

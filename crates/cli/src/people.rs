//! Ringing people by their personal code: `tincan-cli call --ring CODE` rings someone into
//! the room it creates, and `tincan-cli listen` is reachable by its own code and answers
//! rings (docs/protocol.md, "Ringing people").

use std::path::Path;
use std::process::ExitCode;

use tincan_protocol::{PersonalCode, PersonalKey, RingAnswer, RingEnd, RingId, RoomCode};
use tincan_signaling::{
    connect, identity, ClientOptions, DirectoryEvent, Signaling, SignalingError,
};
use tokio::sync::mpsc;

use crate::call::{self, exit, CallArgs};

/// Reads the personal key kept at `path`, making (and keeping) one when there is none yet.
/// Without a path: a new key for this run only.
pub fn identity(path: Option<&Path>) -> Result<PersonalKey, String> {
    match path {
        Some(path) => identity::load_or_create(path),
        None => identity::generate(),
    }
    .map_err(|e| e.to_string())
}

/// A connection registered under this run's personal code.
pub struct Reachable {
    pub signaling: Signaling,
    pub events: mpsc::Receiver<DirectoryEvent>,
    pub code: PersonalCode,
}

/// Connects to `server` and registers `key`'s code there.
pub async fn reachable(server: &str, key: &PersonalKey) -> Result<Reachable, ExitCode> {
    let connected = connect(server, ClientOptions::default()).await;
    let (signaling, _room_events) = connected.map_err(|e| {
        eprintln!("tincan-cli: {e}");
        ExitCode::from(exit::UNREACHABLE)
    })?;
    let events = signaling
        .directory_events()
        .ok_or_else(|| ExitCode::from(exit::FAILED))?;
    let code = signaling.register(key).await.map_err(|e| {
        eprintln!("tincan-cli: cannot register the personal code: {e}");
        ExitCode::from(exit::FAILED)
    })?;
    Ok(Reachable {
        signaling,
        events,
        code,
    })
}

/// A ring on its way: ended by an answer, the timeout, or [`Ringing::cancel`].
pub struct Ringing {
    reach: Reachable,
    ring: RingId,
}

impl Ringing {
    /// Rings `to` into `room` from a connection registered with `key`.
    pub async fn start(
        server: &str,
        key: &PersonalKey,
        to: PersonalCode,
        name: &str,
        room: &RoomCode,
    ) -> Result<Self, ExitCode> {
        let reach = reachable(server, key).await?;
        println!("code {}", reach.code);
        let ring = reach
            .signaling
            .ring(to, name, room)
            .await
            .map_err(|e| ring_refused(&e))?;
        println!("ringing {to}");
        Ok(Self { reach, ring })
    }

    /// How the ring ended.
    pub async fn ended(&mut self) -> RingEnd {
        while let Some(event) = self.reach.events.recv().await {
            if let DirectoryEvent::RingEnded { ring, reason } = event {
                if ring == self.ring {
                    return reason;
                }
            }
        }
        RingEnd::Gone
    }

    /// Hangs up before an answer.
    pub async fn cancel(self) {
        let _ = self.reach.signaling.cancel_ring(self.ring).await;
        self.reach.signaling.close().await;
    }
}

fn ring_refused(e: &SignalingError) -> ExitCode {
    eprintln!("tincan-cli: the ring was refused: {e}");
    ExitCode::from(match e.code() {
        Some(tincan_protocol::ErrorCode::Offline) => exit::OFFLINE,
        _ => exit::FAILED,
    })
}

/// The exit code a ring's end gives `tincan-cli call --ring` (None: accepted, the call goes
/// on), after saying it.
pub fn ring_outcome(reason: RingEnd) -> Option<u8> {
    let (said, code) = match reason {
        RingEnd::Accepted => {
            println!("accepted");
            return None;
        }
        RingEnd::Declined => ("declined", exit::DECLINED),
        RingEnd::NoAnswer => ("no answer", exit::NO_ANSWER),
        RingEnd::Busy => ("busy", exit::BUSY),
        RingEnd::Gone => ("gone: the person went offline", exit::OFFLINE),
        _ => ("ended", exit::FAILED),
    };
    println!("ring {said}");
    Some(code)
}

/// How `tincan-cli listen` answers rings.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Answer {
    /// Join the caller's room and call (then exit, like `call`).
    Accept,
    Decline,
    Busy,
    /// Print rings and let them ring out.
    None,
}

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// How to answer rings.
    #[arg(long, value_enum, default_value = "accept")]
    answer: Answer,
    /// Everything `call` takes, for the call an accepted ring starts (--server is needed).
    #[command(flatten)]
    call: CallArgs,
}

/// `tincan-cli listen`: registers, prints `code CODE`, and answers each ring as asked;
/// `ringing CODE NAME` for each ring, then the call's own output after accepting one.
pub async fn listen(args: ListenArgs) -> ExitCode {
    let Some(server) = args.call.server.clone() else {
        eprintln!("tincan-cli: listen needs --server: rings come through a signaling server");
        return ExitCode::from(exit::USAGE);
    };
    let key = match identity(args.call.identity.as_deref()) {
        Ok(key) => key,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let mut reach = match reachable(&server, &key).await {
        Ok(reach) => reach,
        Err(code) => return code,
    };
    println!("code {}", reach.code);
    loop {
        let event = tokio::select! {
            event = reach.events.recv() => event,
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        };
        let Some(event) = event else {
            eprintln!("tincan-cli: the connection to the server ended");
            return ExitCode::from(exit::UNREACHABLE);
        };
        let DirectoryEvent::Ringing {
            ring,
            from,
            name,
            room,
        } = event
        else {
            continue;
        };
        println!("ringing {from} {name}");
        let answer = match args.answer {
            Answer::Accept => RingAnswer::Accept,
            Answer::Decline => RingAnswer::Decline,
            Answer::Busy => RingAnswer::Busy,
            Answer::None => continue,
        };
        if let Err(e) = reach.signaling.answer_ring(ring, answer).await {
            eprintln!("tincan-cli: cannot answer: {e}");
            continue;
        }
        if let RingAnswer::Accept = answer {
            // Busy for anyone else while in this call.
            let (signaling, mut events) = (reach.signaling.clone(), reach.events);
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if let DirectoryEvent::Ringing { ring, .. } = event {
                        let _ = signaling.answer_ring(ring, RingAnswer::Busy).await;
                    }
                }
            });
            let mut call_args = args.call;
            call_args.room = Some(room.to_string());
            return call::run(call_args).await;
        }
    }
}

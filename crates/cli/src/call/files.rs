//! `tincan-cli call`'s file transfers: `--send-file` offers files to each peer once it is
//! connected, `--receive-dir` accepts what peers offer (without it, offers are declined),
//! `--cancel-file-after` stops each transfer part way (for tests of cancelling). Every
//! transfer is printed as it ends and listed in the summary's `files`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;
use tincan_call::{Call, FileEvent, TransferId};
use tincan_protocol::PeerId;

#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// Offer this file to each peer once connected (give the flag once per file).
    #[arg(long, value_name = "PATH")]
    send_file: Vec<PathBuf>,
    /// Accept the files peers offer, into this folder; without it they are declined.
    #[arg(long, value_name = "DIR")]
    receive_dir: Option<PathBuf>,
    /// Cancel each transfer, sent or received, once this many bytes of it have passed.
    #[arg(long, value_name = "BYTES")]
    cancel_file_after: Option<u64>,
    /// Leave the call once a file has been handed over and none is under way any more.
    #[arg(long)]
    leave_after_files: bool,
}

/// One transfer as the summary lists it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct FileRecord {
    id: TransferId,
    peer: String,
    /// `sent` or `received`.
    direction: &'static str,
    name: String,
    size: u64,
    /// The last progress reported, in bytes.
    bytes: u64,
    progress_events: u64,
    /// Whether every progress report was above the one before.
    progress_rising: bool,
    /// offering, offered, sent, received, declined, cancelled by us/peer, failed.
    state: String,
    reason: Option<String>,
    sha256: Option<String>,
    path: Option<PathBuf>,
    /// From the offer to the end, in seconds (answering included).
    seconds: Option<f64>,
    #[serde(skip)]
    offered_at: std::time::Instant,
}

#[derive(Default)]
pub(super) struct Files {
    args: Option<FileArgs>,
    /// Peers already offered the files.
    offered_to: HashSet<PeerId>,
    records: BTreeMap<TransferId, FileRecord>,
    /// Transfers cancelled by `--cancel-file-after`, so it happens once each.
    cancelled: HashSet<TransferId>,
}

impl Files {
    pub fn new(args: FileArgs) -> Self {
        Self {
            args: Some(args),
            ..Self::default()
        }
    }

    /// Files given with `--send-file` that cannot be read: said before the call starts.
    pub fn check(&self) -> Result<(), String> {
        for path in self.args.iter().flat_map(|a| &a.send_file) {
            std::fs::File::open(path)
                .and_then(|f| f.metadata())
                .map_err(|e| format!("--send-file {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// `peer` is connected: offer it the files, once.
    pub async fn connected(&mut self, call: &Call, peer: &PeerId) {
        let Some(args) = &self.args else { return };
        if args.send_file.is_empty() || !self.offered_to.insert(peer.clone()) {
            return;
        }
        for path in &args.send_file {
            if let Err(e) = call.send_file(path, Some(peer.clone())).await {
                eprintln!("tincan-cli: {e}");
            }
        }
    }

    pub fn on_event(&mut self, call: &Call, event: FileEvent) {
        let id = event.id();
        match event {
            FileEvent::Offering {
                peer, name, size, ..
            } => {
                println!("file offering {id} to {peer}: {name} ({size} bytes)");
                self.records
                    .insert(id, FileRecord::new(id, &peer, "sent", name, size));
            }
            FileEvent::Offered {
                peer, name, size, ..
            } => {
                println!("file offered {id} from {peer}: {name} ({size} bytes)");
                self.records
                    .insert(id, FileRecord::new(id, &peer, "received", name, size));
                let answered = match self.args.as_ref().and_then(|a| a.receive_dir.as_ref()) {
                    Some(dir) => call.accept_file(id, dir),
                    None => call.decline_file(id),
                };
                if let Err(e) = answered {
                    eprintln!("tincan-cli: file {id}: {e}");
                }
            }
            FileEvent::Progress { bytes, .. } => {
                let Some(record) = self.records.get_mut(&id) else {
                    return;
                };
                record.progress_rising &= bytes > record.bytes || record.progress_events == 0;
                record.bytes = bytes;
                record.progress_events += 1;
                let limit = self.args.as_ref().and_then(|a| a.cancel_file_after);
                if limit.is_some_and(|l| bytes >= l) && self.cancelled.insert(id) {
                    println!("file cancelling {id} at {bytes} bytes");
                    if let Err(e) = call.cancel_file(id) {
                        eprintln!("tincan-cli: file {id}: {e}");
                    }
                }
            }
            FileEvent::Sent { sha256, .. } => {
                println!("file sent {id} sha256 {sha256}");
                self.end(id, "sent", None, Some(sha256), None);
            }
            FileEvent::Received { path, sha256, .. } => {
                println!("file received {id} sha256 {sha256} at {}", path.display());
                self.end(id, "received", None, Some(sha256), Some(path));
            }
            FileEvent::Declined { .. } => {
                println!("file declined {id}");
                self.end(id, "declined", None, None, None);
            }
            FileEvent::Cancelled { by, .. } => {
                let state = match by {
                    tincan_call::StoppedBy::Us => "cancelled by us",
                    tincan_call::StoppedBy::Peer => "cancelled by peer",
                };
                println!("file {state} {id}");
                self.end(id, state, None, None, None);
            }
            FileEvent::Failed { reason, .. } => {
                eprintln!("tincan-cli: file {id} failed: {reason}");
                self.end(id, "failed", Some(reason), None, None);
            }
        }
    }

    fn end(
        &mut self,
        id: TransferId,
        state: &str,
        reason: Option<String>,
        sha256: Option<String>,
        path: Option<PathBuf>,
    ) {
        if let Some(record) = self.records.get_mut(&id) {
            record.state = state.to_owned();
            record.reason = reason;
            record.sha256 = sha256;
            record.path = path;
            record.seconds = Some(record.offered_at.elapsed().as_secs_f64());
        }
    }

    /// With `--leave-after-files`: a transfer has happened and none is under way.
    pub fn all_done(&self) -> bool {
        self.args.as_ref().is_some_and(|a| a.leave_after_files)
            && !self.records.is_empty()
            && self
                .records
                .values()
                .all(|r| r.state != "offering" && r.state != "offered")
    }

    /// Files we sent that did not arrive, without a cancel of our own asking.
    pub fn failed_sends(&self) -> usize {
        self.records
            .values()
            .filter(|r| r.direction == "sent")
            .filter(|r| !self.cancelled.contains(&r.id))
            .filter(|r| r.state != "sent" && r.state != "declined")
            .count()
    }

    pub fn into_records(self) -> Vec<FileRecord> {
        self.records.into_values().collect()
    }
}

impl FileRecord {
    fn new(
        id: TransferId,
        peer: &PeerId,
        direction: &'static str,
        name: String,
        size: u64,
    ) -> Self {
        Self {
            id,
            peer: peer.to_string(),
            direction,
            name,
            size,
            bytes: 0,
            progress_events: 0,
            progress_rising: true,
            state: if direction == "sent" {
                "offering"
            } else {
                "offered"
            }
            .to_owned(),
            reason: None,
            sha256: None,
            path: None,
            seconds: None,
            offered_at: std::time::Instant::now(),
        }
    }
}

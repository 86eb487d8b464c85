//! The session's part in file transfers: starting one per recipient, and ending the ones
//! with a peer that is gone ([`crate::files`] does the transfers themselves).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tincan_protocol::PeerId;

use super::Session;
use crate::error::CallError;
use crate::events::CallEvent;
use crate::files::{FileEvent, Outgoing, Reporting, TransferId};

impl Session {
    /// Offers the file at `path` to `to`, or to every connected peer: one transfer each.
    pub(super) async fn send_file(
        &mut self,
        path: &Path,
        to: Option<&PeerId>,
    ) -> Result<Vec<TransferId>, CallError> {
        let targets: Vec<PeerId> = match to {
            Some(id) if self.peers.contains_key(id) => vec![id.clone()],
            Some(id) => {
                return Err(CallError::NoSuchPeer {
                    peer: id.to_string(),
                })
            }
            None => self
                .peers
                .values()
                .filter(|p| p.counters.connected.load(Ordering::Relaxed))
                .map(|p| p.id.clone())
                .collect(),
        };
        if targets.is_empty() {
            return Err(CallError::NobodyToSendTo);
        }
        let unreadable = |e: std::io::Error| CallError::FileUnreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let mut ids = Vec::new();
        for peer in targets {
            let Some(session) = self.peers.get(&peer) else {
                continue;
            };
            // A handle each: every transfer reads the file at its own pace.
            let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
            let meta = file.metadata().await.map_err(unreadable)?;
            if !meta.is_file() {
                return Err(unreadable(std::io::Error::other("it is not a file")));
            }
            let (id, control) = self.transfers.open(&peer);
            self.emit(CallEvent::File(FileEvent::Offering {
                id,
                peer: peer.clone(),
                name: name.clone(),
                size: meta.len(),
            }))
            .await;
            let outgoing = Outgoing {
                file,
                name: name.clone(),
                size: meta.len(),
            };
            let report = Reporting {
                id,
                peer: peer.clone(),
                events: self.events.clone(),
                transfers: Arc::clone(&self.transfers),
            };
            session.send_file(outgoing, control, report);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Ends the transfers with `peer`, whose connection has closed (their tasks with it).
    pub(super) async fn end_transfers_with(&self, peer: &PeerId, name: &str) {
        for id in self.transfers.end_all_with(peer) {
            self.emit(CallEvent::File(FileEvent::Failed {
                id,
                reason: format!("the connection to {name} closed"),
            }))
            .await;
        }
    }
}

//! Files handed over in a call: one reliable data channel per transfer, opened by the
//! sender; the receiver says yes or no before any byte is sent; the bytes go in 16 KiB
//! messages, at most [`SEND_BUFFER_BYTES`] of them unacknowledged (so a file of any size
//! costs the sender about that much memory), and land in a hidden part file that becomes the
//! file only when its SHA-256 matches the sender's. Cancelling, from either side, or a
//! connection that ends, leaves nothing behind. The wire: docs/protocol.md, "File transfer".
//!
//! [`receive`] and [`send`] are the tasks; what they decide (is this chunk too many, is
//! the hash right, is a progress report due) is in [`progress`] with the time passed in.

mod progress;
mod receive;
mod send;
mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tincan_protocol::PeerId;
use tokio::sync::{mpsc, Notify};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::error::CallError;

pub(crate) use receive::receive_file;
pub(crate) use send::{send_file, Outgoing, Reporting};
pub(crate) use wire::FILE_LABEL;

/// Bytes handed to a file channel that the far end has not acknowledged yet, at most: the
/// sender waits there (webrtc-rs's per-channel send buffer limit). It is also the most SCTP
/// has in flight: 512 KiB fills a 20 Mbit/s path with 40 ms of round trip and 160 ms of
/// router queue without overflowing it (1 MiB overflowed such a queue, and webrtc-rs's SCTP
/// lost a second to a retransmission timeout after each burst of drops: BENCHMARKS.md,
/// "File transfer"), and still allows 40 Mbit/s at a 100 ms round trip.
pub(crate) const SEND_BUFFER_BYTES: usize = 512 * 1024;

/// Transfers from one peer under way at once, at most (offers waiting for an answer
/// included); more are declined at once, so a peer cannot pile up questions, channels and
/// open files without end.
pub(crate) const MAX_TRANSFERS_PER_PEER: usize = 16;

/// How long the side that has the last word waits for the other to close the channel (its
/// sign that it heard) before it closes it itself.
const HEARD_WITHIN: Duration = Duration::from_secs(5);

/// Ends a transfer's channel. The side that has the last word (`received`, `decline`,
/// `cancel`, `failed`) says it and waits for the other to close, for at most
/// [`HEARD_WITHIN`]: closing at once, or leaving the call, could reset the stream before the
/// word (queued behind up to [`SEND_BUFFER_BYTES`] of file) arrives. The side that heard it
/// closes at once (`last_word` None).
async fn close_channel(channel: &Arc<dyn DataChannel>, last_word: Option<wire::FileMessage>) {
    if let Some(word) = last_word {
        if channel.send_text(&word.to_text()).await.is_ok() {
            let heard = tokio::time::timeout(HEARD_WITHIN, async {
                while let Some(event) = channel.poll().await {
                    if matches!(
                        event,
                        DataChannelEvent::OnClose | DataChannelEvent::OnClosing
                    ) {
                        break;
                    }
                }
            });
            if heard.await.is_err() {
                tracing::debug!(
                    ?word,
                    "the peer did not close the file channel after our last word"
                );
            }
        }
    }
    if let Err(e) = channel.close().await {
        tracing::debug!(error = %e, "closing a file channel");
    }
}

/// One transfer, sent or received, in this call: its number is ours alone (the two ends of
/// a transfer number it each their own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransferId(pub u64);

impl std::fmt::Display for TransferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Who stopped a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoppedBy {
    Us,
    Peer,
}

/// What happens to files in a call ([`crate::CallEvent::File`]), in order for each transfer:
/// `Offering` (ours) or `Offered` (theirs), then `Progress` any number of times, then one of
/// the endings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileEvent {
    /// We offer `peer` a file; it is asked.
    Offering {
        id: TransferId,
        peer: PeerId,
        name: String,
        size: u64,
    },
    /// `peer` offers us a file: answer with [`crate::Call::accept_file`] or
    /// [`crate::Call::decline_file`]. `name` is the name it will be saved under (made safe).
    Offered {
        id: TransferId,
        peer: PeerId,
        name: String,
        size: u64,
    },
    /// Bytes sent (and handed to the network) or received and written so far; reported at
    /// most every 100 ms and every 1 %, and always rising.
    Progress {
        id: TransferId,
        bytes: u64,
        size: u64,
    },
    /// The receiver has the whole file and its hash matched.
    Sent { id: TransferId, sha256: String },
    /// The file is saved at `path`, its SHA-256 the sender's.
    Received {
        id: TransferId,
        path: PathBuf,
        sha256: String,
    },
    /// The receiver said no.
    Declined { id: TransferId },
    /// Stopped before the end; nothing of it is kept.
    Cancelled { id: TransferId, by: StoppedBy },
    /// It went wrong (the message says what); nothing of it is kept.
    Failed { id: TransferId, reason: String },
}

impl FileEvent {
    pub fn id(&self) -> TransferId {
        match self {
            Self::Offering { id, .. }
            | Self::Offered { id, .. }
            | Self::Progress { id, .. }
            | Self::Sent { id, .. }
            | Self::Received { id, .. }
            | Self::Declined { id }
            | Self::Cancelled { id, .. }
            | Self::Failed { id, .. } => *id,
        }
    }
}

/// What a transfer's task is told by the app.
#[derive(Debug)]
pub(crate) enum Control {
    /// Save it in this folder.
    Accept(PathBuf),
    Decline,
    Cancel,
}

/// The transfers under way in a call, by number: how the app's answers reach their tasks.
#[derive(Default)]
pub(crate) struct Transfers {
    next: AtomicU64,
    live: Mutex<HashMap<TransferId, (PeerId, mpsc::Sender<Control>)>>,
    /// Transfers that have ended but whose channel is still closing (a last word on its way).
    closing: AtomicUsize,
    closed: Notify,
}

/// A transfer that has ended, its channel still closing: [`Transfers::settled`] waits for
/// it to be dropped.
pub(crate) struct Closing<'a>(&'a Transfers);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.closing.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

impl Transfers {
    /// A new transfer with `peer`: its number, and where its task hears the app.
    pub fn open(&self, peer: &PeerId) -> (TransferId, mpsc::Receiver<Control>) {
        let id = TransferId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = mpsc::channel(4);
        if let Ok(mut live) = self.live.lock() {
            live.insert(id, (peer.clone(), tx));
        }
        (id, rx)
    }

    /// The transfer is over: the app can no longer steer it, and a connection that closes
    /// now does not fail it. Its channel is closing until the guard is dropped.
    pub fn close(&self, id: TransferId) -> Closing<'_> {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&id);
        }
        self.closing.fetch_add(1, Ordering::AcqRel);
        Closing(self)
    }

    /// Returns once no transfer's channel is closing: leaving the call waits here (bounded),
    /// so the last word of a transfer that just ended reaches the peer.
    pub async fn settled(&self) {
        loop {
            let closed = self.closed.notified();
            if self.closing.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }

    /// How many transfers with `peer` are under way, both ways.
    pub fn with(&self, peer: &PeerId) -> usize {
        self.live
            .lock()
            .map(|live| live.values().filter(|(p, _)| p == peer).count())
            .unwrap_or(0)
    }

    /// Forgets every transfer with `peer` (its connection closed, and their tasks with it):
    /// their numbers.
    pub fn end_all_with(&self, peer: &PeerId) -> Vec<TransferId> {
        let Ok(mut live) = self.live.lock() else {
            return Vec::new();
        };
        let ids: Vec<TransferId> = live
            .iter()
            .filter(|(_, (p, _))| p == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            live.remove(id);
        }
        ids
    }

    /// Tells transfer `id` what the app wants.
    pub fn tell(&self, id: TransferId, control: Control) -> Result<(), CallError> {
        let tx = self
            .live
            .lock()
            .ok()
            .and_then(|live| live.get(&id).map(|(_, tx)| tx.clone()))
            .ok_or(CallError::NoSuchTransfer { id: id.0 })?;
        tx.try_send(control)
            .map_err(|_| CallError::NoSuchTransfer { id: id.0 })
    }
}

//! Sending one file to one peer on its own data channel: offer, wait for the answer, stream
//! the bytes while the channel has room, then the hash, and wait for the receiver's word.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tincan_protocol::PeerId;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::progress::Tally;
use super::wire::{FileMessage, CHUNK_BYTES};
use super::{close_channel, Control, FileEvent, StoppedBy, TransferId, Transfers};
use crate::events::CallEvent;

/// How long the channel may take to open.
const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// How long a person has to answer an offer.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(300);

/// How long the receiver may take to check the hash and save the file after the last byte.
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

/// The file read ahead of the channel, in bytes.
const READ_AHEAD: usize = 256 * 1024;

/// A file to send, opened and measured by the caller (so a missing file is the caller's
/// error, before any peer is asked).
pub(crate) struct Outgoing {
    pub file: tokio::fs::File,
    pub name: String,
    pub size: u64,
}

/// Where one transfer reports.
pub(crate) struct Reporting {
    pub id: TransferId,
    pub peer: PeerId,
    pub events: mpsc::Sender<CallEvent>,
    pub transfers: Arc<Transfers>,
}

impl Reporting {
    pub async fn emit(&self, event: FileEvent) {
        let _ = self.events.send(CallEvent::File(event)).await;
    }

    /// The transfer could not start: it is over.
    pub async fn fail(&self, reason: String) {
        drop(self.transfers.close(self.id));
        self.emit(FileEvent::Failed {
            id: self.id,
            reason,
        })
        .await;
    }

    /// Progress is dropped rather than waited for when the app is behind: the next report
    /// says more.
    pub fn progress(&self, bytes: u64, size: u64) {
        let _ = self.events.try_send(CallEvent::File(FileEvent::Progress {
            id: self.id,
            bytes,
            size,
        }));
    }
}

/// How a transfer ended, as its event says.
enum Ending {
    Sent(String),
    Declined,
    Cancelled(StoppedBy),
    Failed(String),
    /// The channel closed before the peer answered the offer (or before it opened): nothing
    /// of the file was read, and it may be offered again on a new channel.
    Unheard(Outgoing),
}

/// A file channel is made at most this many times for one transfer: a channel that closes
/// before its offer is answered is replaced once (the app test saw one close as the call
/// began, cause unknown; a second channel went through).
const CHANNELS_PER_TRANSFER: usize = 2;

/// Sends `outgoing` on a channel `open` makes (labelled `file`), answering to `control`.
pub(crate) async fn send_file<F, Fut>(
    open: F,
    outgoing: Outgoing,
    mut control: mpsc::Receiver<Control>,
    report: Reporting,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Arc<dyn DataChannel>, String>>,
{
    let id = report.id;
    let closed = || Ending::Failed(format!("the connection to {} closed", report.peer));
    let mut outgoing = outgoing;
    let mut made = 0;
    let (channel, ending) = loop {
        let channel = match open().await {
            Ok(channel) => channel,
            Err(e) if made == 0 => return report.fail(e).await,
            Err(_) => {
                return report
                    .fail(format!("the connection to {} closed", report.peer))
                    .await
            }
        };
        made += 1;
        match run(&channel, outgoing, &mut control, &report).await {
            Ending::Unheard(back) if made < CHANNELS_PER_TRANSFER => {
                tracing::info!(peer = %report.peer, %id, "a file channel closed before its offer was answered: offering on a new one");
                let _ = channel.close().await;
                outgoing = back;
            }
            Ending::Unheard(_) => break (channel, closed()),
            other => break (channel, other),
        }
    };
    let last_word =
        matches!(ending, Ending::Cancelled(StoppedBy::Us)).then_some(FileMessage::Cancel);
    let closing = report.transfers.close(id);
    report
        .emit(match ending {
            Ending::Sent(sha256) => FileEvent::Sent { id, sha256 },
            Ending::Declined => FileEvent::Declined { id },
            Ending::Cancelled(by) => FileEvent::Cancelled { id, by },
            Ending::Failed(reason) => FileEvent::Failed { id, reason },
            Ending::Unheard(_) => FileEvent::Failed {
                id,
                reason: format!("the connection to {} closed", report.peer),
            },
        })
        .await;
    close_channel(&channel, last_word).await;
    drop(closing);
}

/// What the channel said, read as the conversation needs it.
enum Heard {
    Open,
    Said(FileMessage),
    /// Nothing the conversation needs (buffer events, binary from a confused peer).
    Nothing,
    Closed,
    Garbled(String),
}

async fn hear(channel: &Arc<dyn DataChannel>) -> Heard {
    match channel.poll().await {
        None | Some(DataChannelEvent::OnClose | DataChannelEvent::OnClosing) => Heard::Closed,
        Some(DataChannelEvent::OnOpen) => Heard::Open,
        Some(DataChannelEvent::OnMessage(m)) if m.is_string => match FileMessage::parse(&m.data) {
            Ok(message) => Heard::Said(message),
            Err(e) => Heard::Garbled(e.to_string()),
        },
        Some(_) => Heard::Nothing,
    }
}

async fn run(
    channel: &Arc<dyn DataChannel>,
    outgoing: Outgoing,
    control: &mut mpsc::Receiver<Control>,
    report: &Reporting,
) -> Ending {
    let closed = || Ending::Failed(format!("the connection to {} closed", report.peer));
    // Open, then offer: a channel that closes before the answer gives the file back.
    let deadline = tokio::time::Instant::now() + OPEN_WITHIN;
    loop {
        tokio::select! {
            c = control.recv() => if let Some(Control::Cancel) | None = c { return Ending::Cancelled(StoppedBy::Us) },
            heard = hear(channel) => match heard {
                Heard::Open => break,
                Heard::Closed => return Ending::Unheard(outgoing),
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Ending::Failed(format!("no channel to {} opened within {} s", report.peer, OPEN_WITHIN.as_secs()));
            }
        }
    }
    let offer = FileMessage::Offer {
        name: outgoing.name.clone(),
        size: outgoing.size,
    };
    if channel.send_text(&offer.to_text()).await.is_err() {
        return Ending::Unheard(outgoing);
    }
    // The answer.
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    loop {
        tokio::select! {
            c = control.recv() => if let Some(Control::Cancel) | None = c { return Ending::Cancelled(StoppedBy::Us) },
            heard = hear(channel) => match heard {
                Heard::Said(FileMessage::Accept) => break,
                Heard::Said(FileMessage::Decline) => return Ending::Declined,
                Heard::Said(FileMessage::Cancel) => return Ending::Cancelled(StoppedBy::Peer),
                Heard::Closed => return Ending::Unheard(outgoing),
                Heard::Garbled(e) => return Ending::Failed(e),
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Ending::Failed(format!("{} did not answer within {} minutes", report.peer, ANSWER_WITHIN.as_secs() / 60));
            }
        }
    }
    // The bytes, as fast as the channel takes them.
    let mut reader = BufReader::with_capacity(READ_AHEAD, outgoing.file);
    let mut tally = Tally::new(outgoing.size);
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        tokio::select! {
            biased;
            c = control.recv() => if let Some(Control::Cancel) | None = c { return Ending::Cancelled(StoppedBy::Us) },
            heard = hear(channel) => match heard {
                Heard::Said(FileMessage::Cancel) => return Ending::Cancelled(StoppedBy::Peer),
                Heard::Said(FileMessage::Failed { reason }) => return Ending::Failed(format!("{} could not save it: {reason}", report.peer)),
                Heard::Closed => return closed(),
                Heard::Garbled(e) => return Ending::Failed(e),
                _ => {}
            },
            room = channel.writable() => {
                if room.is_err() {
                    return closed();
                }
                let n = match read_chunk(&mut reader, &mut buf).await {
                    Ok(n) => n,
                    Err(e) => return Ending::Failed(format!("cannot read {}: {e}", outgoing.name)),
                };
                if n == 0 {
                    break;
                }
                if let Err(e) = tally.add(&buf[..n]) {
                    // The file grew while it was sent.
                    return Ending::Failed(format!("the file changed while it was sent: {e}"));
                }
                if channel.send(BytesMut::from(&buf[..n])).await.is_err() {
                    return closed();
                }
                if let Some(bytes) = tally.report(Instant::now()) {
                    report.progress(bytes, outgoing.size);
                }
            }
        }
    }
    let sha256 = match tally.sent() {
        Ok(sha256) => sha256,
        Err(e) => return Ending::Failed(e.to_string()),
    };
    if channel
        .send_text(
            &FileMessage::Done {
                sha256: sha256.clone(),
            }
            .to_text(),
        )
        .await
        .is_err()
    {
        return closed();
    }
    // The receiver's word.
    let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
    loop {
        tokio::select! {
            c = control.recv() => if let Some(Control::Cancel) | None = c { return Ending::Cancelled(StoppedBy::Us) },
            heard = hear(channel) => match heard {
                Heard::Said(FileMessage::Received) => return Ending::Sent(sha256),
                Heard::Said(FileMessage::Failed { reason }) => return Ending::Failed(format!("{} could not save it: {reason}", report.peer)),
                Heard::Said(FileMessage::Cancel) => return Ending::Cancelled(StoppedBy::Peer),
                Heard::Closed => return closed(),
                Heard::Garbled(e) => return Ending::Failed(e),
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Ending::Failed(format!("{} did not confirm the file within {} s", report.peer, CONFIRM_WITHIN.as_secs()));
            }
        }
    }
}

/// Fills `buf` as far as the file goes; 0 at its end.
async fn read_chunk(
    reader: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

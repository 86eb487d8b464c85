//! Receiving one file from one peer on the data channel it opened: read its offer, ask the
//! app, then write what comes to a hidden part file that becomes the file only when every
//! byte is there and the hash is the sender's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tincan_protocol::PeerId;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::progress::Tally;
use super::send::Reporting;
use super::wire::{safe_file_name, split_extension, FileMessage};
use super::{close_channel, Control, FileEvent, StoppedBy, Transfers, MAX_TRANSFERS_PER_PEER};
use crate::events::CallEvent;

/// How long a peer has, once the channel is open, to say what it offers.
const OFFER_WITHIN: Duration = Duration::from_secs(10);

/// Written to disk in pieces this big.
const WRITE_BEHIND: usize = 256 * 1024;

/// A part file, removed unless it became the file: whatever ends a transfer early (a
/// cancel, an error, the call closing and aborting the task) leaves nothing behind.
struct Part {
    path: PathBuf,
    kept: bool,
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

enum Ending {
    Received(PathBuf, String),
    Declined,
    Cancelled(StoppedBy),
    /// Why, and whether to tell the sender (it is told unless it is gone).
    Failed(String, bool),
}

/// Reads the file transfer `peer` opened on `channel` until it ends.
pub(crate) async fn receive_file(
    peer: PeerId,
    channel: Arc<dyn DataChannel>,
    transfers: Arc<Transfers>,
    events: mpsc::Sender<CallEvent>,
) {
    let Some((name, size)) = read_offer(&channel).await else {
        let _ = channel.close().await;
        return;
    };
    if transfers.with(&peer) >= MAX_TRANSFERS_PER_PEER {
        tracing::info!(%peer, "a file offer declined: too many transfers with this peer");
        close_channel(&channel, Some(FileMessage::Decline)).await;
        return;
    }
    let (id, mut control) = transfers.open(&peer);
    let report = Reporting {
        id,
        peer: peer.clone(),
        events,
        transfers: Arc::clone(&transfers),
    };
    report
        .emit(FileEvent::Offered {
            id,
            peer,
            name: name.clone(),
            size,
        })
        .await;
    let ending = run(&channel, &name, size, &mut control, &report).await;
    let last_word = match &ending {
        Ending::Received(..) => Some(FileMessage::Received),
        Ending::Declined => Some(FileMessage::Decline),
        Ending::Cancelled(StoppedBy::Us) => Some(FileMessage::Cancel),
        Ending::Failed(reason, true) => Some(FileMessage::Failed {
            reason: reason.clone(),
        }),
        Ending::Cancelled(StoppedBy::Peer) | Ending::Failed(_, false) => None,
    };
    let closing = transfers.close(id);
    report
        .emit(match ending {
            Ending::Received(path, sha256) => FileEvent::Received { id, path, sha256 },
            Ending::Declined => FileEvent::Declined { id },
            Ending::Cancelled(by) => FileEvent::Cancelled { id, by },
            Ending::Failed(reason, _) => FileEvent::Failed { id, reason },
        })
        .await;
    close_channel(&channel, last_word).await;
    drop(closing);
}

/// The offer: the name to save under (made safe) and the size. None when the peer says
/// nothing readable in time, or closes.
async fn read_offer(channel: &Arc<dyn DataChannel>) -> Option<(String, u64)> {
    let deadline = tokio::time::Instant::now() + OFFER_WITHIN;
    loop {
        let event = tokio::time::timeout_at(deadline, channel.poll())
            .await
            .ok()??;
        match event {
            DataChannelEvent::OnMessage(m) if m.is_string => {
                return match FileMessage::parse(&m.data) {
                    Ok(FileMessage::Offer { name, size }) => Some((safe_file_name(&name), size)),
                    other => {
                        tracing::debug!(?other, "a file channel that does not start with an offer");
                        None
                    }
                };
            }
            DataChannelEvent::OnMessage(_) | DataChannelEvent::OnClose => return None,
            _ => {}
        }
    }
}

async fn run(
    channel: &Arc<dyn DataChannel>,
    name: &str,
    size: u64,
    control: &mut mpsc::Receiver<Control>,
    report: &Reporting,
) -> Ending {
    let gone = || Ending::Failed(format!("the connection to {} closed", report.peer), false);
    // The app's answer; the sender may give up meanwhile.
    let dir = loop {
        tokio::select! {
            c = control.recv() => match c {
                Some(Control::Accept(dir)) => break dir,
                Some(Control::Decline) => return Ending::Declined,
                Some(Control::Cancel) | None => return Ending::Cancelled(StoppedBy::Us),
            },
            event = channel.poll() => match event {
                None | Some(DataChannelEvent::OnClose) => return Ending::Cancelled(StoppedBy::Peer),
                Some(DataChannelEvent::OnMessage(m)) if m.is_string => {
                    if let Ok(FileMessage::Cancel) = FileMessage::parse(&m.data) {
                        return Ending::Cancelled(StoppedBy::Peer);
                    }
                }
                _ => {}
            },
        }
    };
    let (file, mut part) = match open_part(&dir, name, report.id.0).await {
        Ok(opened) => opened,
        Err(e) => return Ending::Failed(format!("cannot save into {}: {e}", dir.display()), true),
    };
    if channel
        .send_text(&FileMessage::Accept.to_text())
        .await
        .is_err()
    {
        return gone();
    }
    let mut out = BufWriter::with_capacity(WRITE_BEHIND, file);
    let mut tally = Tally::new(size);
    loop {
        tokio::select! {
            biased;
            c = control.recv() => if let Some(Control::Cancel) | None = c { return Ending::Cancelled(StoppedBy::Us) },
            event = channel.poll() => match event {
                None | Some(DataChannelEvent::OnClose) => return gone(),
                Some(DataChannelEvent::OnMessage(m)) if !m.is_string => {
                    if let Err(e) = tally.add(&m.data) {
                        return Ending::Failed(format!("{} {e}", report.peer), true);
                    }
                    if let Err(e) = out.write_all(&m.data).await {
                        return Ending::Failed(format!("cannot write {}: {e}", part.path.display()), true);
                    }
                    if let Some(bytes) = tally.report(Instant::now()) {
                        report.progress(bytes, size);
                    }
                }
                Some(DataChannelEvent::OnMessage(m)) => match FileMessage::parse(&m.data) {
                    Ok(FileMessage::Done { sha256 }) => {
                        if let Err(e) = out.flush().await {
                            return Ending::Failed(format!("cannot write {}: {e}", part.path.display()), true);
                        }
                        drop(out);
                        let sha256 = match tally.received(&sha256) {
                            Ok(sha256) => sha256,
                            Err(e) => return Ending::Failed(e.to_string(), true),
                        };
                        return match place(&part.path, &dir, name) {
                            Ok(path) => {
                                part.kept = true;
                                Ending::Received(path, sha256)
                            }
                            Err(e) => Ending::Failed(format!("cannot save {name} in {}: {e}", dir.display()), true),
                        };
                    }
                    Ok(FileMessage::Cancel) => return Ending::Cancelled(StoppedBy::Peer),
                    Ok(other) => return Ending::Failed(format!("{} said {other:?} in the middle of a file", report.peer), true),
                    Err(e) => return Ending::Failed(e.to_string(), true),
                },
                Some(_) => {}
            },
        }
    }
}

/// The hidden part file for transfer `id` of `name` in `dir` (made if missing), created
/// new: never one that is there already.
async fn open_part(dir: &Path, name: &str, id: u64) -> std::io::Result<(tokio::fs::File, Part)> {
    tokio::fs::create_dir_all(dir).await?;
    let path = dir.join(format!(".{name}.{}-{id}.part", std::process::id()));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await?;
    Ok((file, Part { path, kept: false }))
}

/// The `n`th name tried for `name`: `report.pdf`, then `report (1).pdf`, `report (2).pdf`…
pub(crate) fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let (stem, ext) = split_extension(name);
    format!("{stem} ({n}){ext}")
}

/// Moves the finished part file to `name` in `dir`, or the first numbered name free there:
/// a file already there is never replaced.
fn place(part: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    for n in 0..10_000 {
        let target = dir.join(numbered(name, n));
        // A hard link fails when the name is taken, so no file is ever overwritten, even
        // by one appearing meanwhile; where links are not supported, a checked rename.
        match std::fs::hard_link(part, &target) {
            Ok(()) => {
                std::fs::remove_file(part)?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) if !target.exists() => {
                std::fs::rename(part, &target)?;
                return Ok(target);
            }
            Err(_) => continue,
        }
    }
    Err(std::io::Error::other("every name for it is taken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_taken_gets_a_number_and_nothing_is_replaced() {
        assert_eq!(numbered("report.pdf", 0), "report.pdf");
        assert_eq!(numbered("report.pdf", 2), "report (2).pdf");
        assert_eq!(numbered("Makefile", 1), "Makefile (1)");

        let dir = std::env::temp_dir().join(format!("tincan-place-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "old").unwrap();
        for (content, expected) in [("new", "a (1).txt"), ("newer", "a (2).txt")] {
            let part = dir.join(".a.txt.part");
            std::fs::write(&part, content).unwrap();
            let placed = place(&part, &dir, "a.txt").unwrap();
            assert_eq!(placed, dir.join(expected));
            assert_eq!(std::fs::read_to_string(&placed).unwrap(), content);
            assert!(!part.exists());
        }
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "old");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Remote video: VP8 frames (put back together by [`super::jitter`], released at their playout
//! time by [`super::timing`]) decoded on a thread of their own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tincan_media::codec::Vp8Decoder;
use tincan_media::now_us;
use tincan_protocol::PeerId;
use tokio::sync::mpsc;

use super::jitter::Assembled;
use crate::counters::Counters;
use crate::events::{CallEvent, MediaFrame};
use crate::recording::{Tape, VideoRecorder};
use crate::stats::FreezeDetector;

/// Decodes a peer's video on a thread; asks for a keyframe (through `pli`) whenever the
/// decoder cannot go on, and records what it decodes when asked to. The thread ends when the
/// sender is dropped.
pub(crate) fn spawn_video_decoder(
    peer: PeerId,
    screen: bool,
    counters: Arc<Counters>,
    (events, frames): (mpsc::Sender<CallEvent>, mpsc::Sender<MediaFrame>),
    pli: mpsc::UnboundedSender<()>,
    mut recorder: Option<VideoRecorder>,
    tape: Option<Arc<Tape>>,
) -> (
    std::sync::mpsc::SyncSender<Assembled>,
    Option<std::thread::JoinHandle<()>>,
) {
    // A few frames of slack; a decoder that falls further behind drops frames and recovers
    // from the next keyframe.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Assembled>(8);
    let spawned = std::thread::Builder::new()
        .name("video-decode".into())
        .spawn(move || {
            let mut decoder = match Vp8Decoder::new() {
                Ok(decoder) => decoder,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the video decoder");
                    return;
                }
            };
            let mut freezes = FreezeDetector::default();
            // After a damaged frame every delta refers to a picture we do not have: decoding
            // them would show garbage, so they are skipped until a keyframe.
            let mut need_keyframe = false;
            while let Ok(frame) = rx.recv() {
                let keyframe = !frame.damaged && is_keyframe(&frame.data);
                if frame.damaged {
                    need_keyframe = true;
                }
                if need_keyframe && !keyframe {
                    let _ = pli.send(());
                    continue;
                }
                need_keyframe = false;
                match decoder.decode(&frame.data, now_us()) {
                    Ok(picture) => {
                        if let Some(recording) = recorder.as_mut() {
                            if let Err(e) = recording.write(&frame.data) {
                                let _ = events.blocking_send(CallEvent::Error {
                                    message: format!("recording stopped: {e}"),
                                });
                                recorder = None;
                            }
                        }
                        counters
                            .video_frames_decoded
                            .fetch_add(1, Ordering::Relaxed);
                        freezes.frame(Instant::now());
                        counters.freezes.store(freezes.count, Ordering::Relaxed);
                        counters
                            .freeze_ms
                            .store(freezes.total.as_millis() as u64, Ordering::Relaxed);
                        counters
                            .received_width
                            .store(picture.width(), Ordering::Relaxed);
                        counters
                            .received_height
                            .store(picture.height(), Ordering::Relaxed);
                        counters.mark_first_frame();
                        let audio_delay = std::time::Duration::from_micros(
                            counters.audio_delay_us.load(Ordering::Relaxed),
                        );
                        let show_at = frame.arrived + audio_delay;
                        if let Some(Err(e)) = tape.as_ref().map(|t| t.picture(&frame.data, show_at))
                        {
                            let _ = events.try_send(CallEvent::Error {
                                message: format!("recording stopped: {e}"),
                            });
                        }
                        // An app that reads no pictures (dropped its queue) changes nothing
                        // here: decoding goes on for the statistics and the recording.
                        let _ = frames.blocking_send(MediaFrame::Video {
                            peer: peer.clone(),
                            screen,
                            frame: picture,
                            show_at,
                        });
                    }
                    Err(_) => {
                        need_keyframe = true;
                        let _ = pli.send(());
                    }
                }
            }
            if let Some(recording) = recorder {
                if let Err(e) = recording.finish() {
                    tracing::warn!(error = %e, "the video recording did not close cleanly");
                }
            }
        });
    let thread = match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the video decoder thread");
            None
        }
    };
    (tx, thread)
}

/// RFC 6386 §9.1: bit 0 of a VP8 frame's first byte is 0 on a keyframe.
pub(crate) fn is_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

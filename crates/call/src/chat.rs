//! Chat with one peer over a data channel labelled `chat` (reliable, ordered), opened by the
//! offering side.
//!
//! A message sent before the channel is open — right after the connection comes up, or on a
//! slow path where SCTP's handshake takes a few round trips — waits in a bounded queue and
//! goes, in order, the moment the channel opens.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tincan_protocol::PeerId;
use tokio::sync::{mpsc, Mutex};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};

use crate::counters::Counters;
use crate::error::{webrtc, CallError};
use crate::events::CallEvent;

/// The data channel that carries chat: reliable and ordered (the default).
pub(crate) const CHAT_LABEL: &str = "chat";

/// The longest chat message, in bytes of UTF-8: a longer one is refused when sent
/// ([`CallError::ChatTooLong`]) and dropped when received.
pub const MAX_CHAT_BYTES: usize = 4096;

/// Chat messages shown from one peer in one second, at most: a flood would bury the
/// conversation and the page that draws it. More are dropped and counted.
pub(crate) const CHAT_PER_SECOND: u32 = 10;

/// What becomes of a received chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Show,
    TooLong,
    TooFast,
}

/// Which of one peer's chat messages are shown: at most [`MAX_CHAT_BYTES`] each and
/// [`CHAT_PER_SECOND`] in a second. Sans-IO: the time is passed in.
#[derive(Debug, Default)]
pub(crate) struct ChatGate {
    window: Option<std::time::Instant>,
    shown_in_window: u32,
}

impl ChatGate {
    pub fn judge(&mut self, bytes: usize, now: std::time::Instant) -> Verdict {
        if bytes > MAX_CHAT_BYTES {
            return Verdict::TooLong;
        }
        let fresh = self
            .window
            .is_none_or(|start| now.saturating_duration_since(start).as_secs() >= 1);
        if fresh {
            self.window = Some(now);
            self.shown_in_window = 0;
        }
        if self.shown_in_window >= CHAT_PER_SECOND {
            return Verdict::TooFast;
        }
        self.shown_in_window += 1;
        Verdict::Show
    }
}

/// Messages held for a channel not yet open, at most (by count and by bytes).
pub(crate) const MAX_PENDING: usize = 64;
pub(crate) const MAX_PENDING_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Out {
    channel: Option<Arc<dyn DataChannel>>,
    open: bool,
    pending: VecDeque<String>,
    pending_bytes: usize,
}

/// Chat to one peer: its channel once there, and what waits for the channel to open.
#[derive(Default)]
pub(crate) struct Chat(Mutex<Out>);

impl Chat {
    /// The chat channel is here (created by us, or announced by the far end).
    pub async fn attach(&self, channel: Arc<dyn DataChannel>) {
        let open = matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open));
        let mut out = self.0.lock().await;
        out.channel = Some(channel);
        if open {
            Self::flush(&mut out).await;
        }
    }

    /// Whether the chat channel is open (and so the connection's SCTP association is up).
    pub async fn is_open(&self) -> bool {
        self.0.lock().await.open
    }

    /// Forgets the channel: a closed peer's channel must not be kept alive from here.
    pub async fn detach(&self) {
        let mut out = self.0.lock().await;
        out.channel = None;
        out.pending.clear();
    }

    /// Sends `text`, or queues it until the channel opens. Fails when the queue is full or
    /// the channel has closed.
    pub async fn send(&self, to: &str, text: &str) -> Result<(), CallError> {
        let mut out = self.0.lock().await;
        if out.open {
            if let Some(channel) = out.channel.clone() {
                return channel.send_text(text).await.map_err(webrtc);
            }
        }
        if out.pending.len() >= MAX_PENDING || out.pending_bytes + text.len() > MAX_PENDING_BYTES {
            return Err(CallError::ChatQueueFull { to: to.to_owned() });
        }
        out.pending_bytes += text.len();
        out.pending.push_back(text.to_owned());
        Ok(())
    }

    async fn flush(out: &mut Out) {
        out.open = true;
        let Some(channel) = out.channel.clone() else {
            return;
        };
        while let Some(text) = out.pending.pop_front() {
            out.pending_bytes -= text.len();
            if let Err(e) = channel.send_text(&text).await {
                tracing::debug!(error = %e, "a queued chat message was not sent");
            }
        }
    }

    async fn opened(&self) {
        Self::flush(&mut *self.0.lock().await).await;
    }
}

/// Reads a peer's chat channel until it closes: messages become [`CallEvent::Chat`], and its
/// opening sends what waited for it.
pub(crate) async fn read_chat(
    peer: PeerId,
    channel: Arc<dyn DataChannel>,
    chat: Arc<Chat>,
    counters: Arc<Counters>,
    events: mpsc::Sender<CallEvent>,
) {
    chat.attach(Arc::clone(&channel)).await;
    let mut gate = ChatGate::default();
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => chat.opened().await,
            DataChannelEvent::OnMessage(message) if message.is_string => {
                let verdict = gate.judge(message.data.len(), std::time::Instant::now());
                if verdict != Verdict::Show {
                    counters.chat_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %peer, ?verdict, bytes = message.data.len(), "chat message dropped");
                    continue;
                }
                let text = String::from_utf8_lossy(&message.data).into_owned();
                counters.chat_received.fetch_add(1, Ordering::Relaxed);
                if events
                    .send(CallEvent::Chat {
                        peer: peer.clone(),
                        text,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ChatGate, Verdict, CHAT_PER_SECOND, MAX_CHAT_BYTES};
    use std::time::{Duration, Instant};

    #[test]
    fn long_messages_and_floods_are_dropped_and_the_next_second_is_shown() {
        let t0 = Instant::now();
        let mut gate = ChatGate::default();
        assert_eq!(gate.judge(MAX_CHAT_BYTES + 1, t0), Verdict::TooLong);
        for _ in 0..CHAT_PER_SECOND {
            assert_eq!(gate.judge(MAX_CHAT_BYTES, t0), Verdict::Show);
        }
        assert_eq!(
            gate.judge(5, t0 + Duration::from_millis(900)),
            Verdict::TooFast
        );
        assert_eq!(
            gate.judge(5, t0 + Duration::from_millis(1000)),
            Verdict::Show
        );
    }
}

//! Audio playout: one thread per call takes 20 ms from every peer's jitter buffer per tick,
//! hands each peer's frame to the app (`MediaFrame::Audio`) and plays their mix on the speaker.
//!
//! With a speaker the device's own pace drives the ticks (its `write` waits while enough is
//! queued), so the speaker's clock and ours cannot drift apart; without one a timer does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tincan_media::audio::analysis::rms;
use tincan_media::audio::{AudioProcessor, AudioSink, SpeakerSink};
use tincan_media::AudioFrame;
use tincan_protocol::PeerId;
use tokio::sync::mpsc;

use crate::audio_jitter::{AudioJitterBuffer, Played};
use crate::counters::Counters;
use crate::events::{CallEvent, MediaFrame};
use crate::media::{pace, Swap};
use crate::recording::{AudioRecorder, Tape};
use crate::CallError;

/// Where received audio is played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioOutput {
    /// A speaker by id, or the default one.
    Speaker(Option<String>),
    /// Nowhere: frames still reach the app as events (a bot, a test).
    None,
}

/// One peer's incoming audio, shared by its receive task (which fills it) and the playout
/// thread (which empties it).
pub(crate) struct PeerAudio {
    pub buffer: Mutex<AudioJitterBuffer>,
    pub counters: Arc<Counters>,
    /// Where what is played for this peer is recorded, when the call records.
    pub recorder: Mutex<Option<AudioRecorder>>,
    /// The peer's recording people can play, while the call is recorded.
    pub tape: Arc<Tape>,
}

type Peers = Arc<Mutex<HashMap<PeerId, Arc<PeerAudio>>>>;

/// What the session keeps of the playout thread.
pub(crate) struct Playout {
    peers: Peers,
    /// A speaker (already open) to switch to, picked up at the next tick.
    next_speaker: Arc<Swap<SpeakerSink>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const TICK: Duration = Duration::from_millis(20);

impl Playout {
    /// Opens the speaker (so a missing one fails the join, clearly) and starts the thread.
    /// What is played goes to `processor` too: the echo canceller's reference.
    pub fn start(
        output: &AudioOutput,
        events: mpsc::Sender<CallEvent>,
        frames: mpsc::Sender<MediaFrame>,
        processor: AudioProcessor,
    ) -> Result<Self, CallError> {
        let speaker = open(output)?;
        let peers: Peers = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let next_speaker: Arc<Swap<SpeakerSink>> = Arc::default();
        let thread = {
            let (peers, stop, next) = (peers.clone(), stop.clone(), next_speaker.clone());
            std::thread::Builder::new()
                .name("audio-playout".into())
                .spawn(move || run(peers, speaker, next, stop, (events, frames), processor))
                .map_err(|e| CallError::WebRtc(e.to_string()))?
        };
        Ok(Self {
            peers,
            next_speaker,
            stop,
            thread: Some(thread),
        })
    }

    pub fn add(&self, peer: PeerId, audio: Arc<PeerAudio>) {
        if let Ok(mut peers) = self.peers.lock() {
            peers.insert(peer, audio);
        }
    }

    pub fn remove(&self, peer: &PeerId) {
        if let Ok(mut peers) = self.peers.lock() {
            peers.remove(peer);
        }
    }

    /// Plays on another speaker (or none) from the next tick. The new speaker is opened here,
    /// so one that cannot be opened fails this call and the old one goes on playing.
    pub fn switch(&self, output: AudioOutput) -> Result<(), CallError> {
        self.next_speaker.put(open(&output)?);
        Ok(())
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Playout {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open(output: &AudioOutput) -> Result<Option<SpeakerSink>, CallError> {
    Ok(match output {
        AudioOutput::Speaker(id) => Some(SpeakerSink::open(id.as_deref())?),
        AudioOutput::None => None,
    })
}

fn run(
    peers: Peers,
    mut speaker: Option<SpeakerSink>,
    next_speaker: Arc<Swap<SpeakerSink>>,
    stop: Arc<AtomicBool>,
    (events, frames): (mpsc::Sender<CallEvent>, mpsc::Sender<MediaFrame>),
    processor: AudioProcessor,
) {
    let (mut start, mut n) = (Instant::now(), 0u64);
    while !stop.load(Ordering::Relaxed) {
        if let Some(next) = next_speaker.take() {
            speaker = next;
            (start, n) = (Instant::now(), 0);
        }
        if speaker.is_none() {
            pace(&mut start, &mut n, TICK);
        }
        let current: Vec<(PeerId, Arc<PeerAudio>)> = match peers.lock() {
            Ok(peers) => peers
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
            Err(_) => return,
        };
        let mut mix: Option<AudioFrame> = None;
        // How much later than written a sample is heard: the same for every peer this tick.
        let heard_after = speaker
            .as_ref()
            .map_or(Duration::ZERO, SpeakerSink::heard_after);
        for (peer, audio) in current {
            let Ok(mut buffer) = audio.buffer.lock() else {
                continue;
            };
            let (frame, played) = buffer.pop();
            // How long a picture arriving now waits to meet its sound. The sound of the same
            // moment arrives one frame later (a frame is sent once its 20 ms are captured, a
            // picture as soon as it is encoded), then waits in the buffer and the speaker.
            let delay = TICK + buffer.delay() + heard_after;
            audio
                .counters
                .audio_delay_us
                .store(delay.as_micros() as u64, Ordering::Relaxed);
            drop(buffer);
            audio.counters.note_audio_power(match played {
                Played::Silence => 0.0,
                _ => mean_square(&frame),
            });
            match played {
                Played::Silence => continue,
                Played::Concealed => {
                    audio
                        .counters
                        .audio_frames_concealed
                        .fetch_add(1, Ordering::Relaxed);
                }
                Played::Packet | Played::Recovered => {}
            }
            if let Ok(mut recorder) = audio.recorder.lock() {
                if let Some(recording) = recorder.as_mut() {
                    if let Err(e) = recording.write(&frame) {
                        let _ = events.try_send(CallEvent::Error {
                            message: format!("recording stopped: {e}"),
                        });
                        *recorder = None;
                    }
                }
            }
            if let Err(e) = audio.tape.sound(&frame, heard_after) {
                let _ = events.try_send(CallEvent::Error {
                    message: format!("recording stopped: {e}"),
                });
            }
            match &mut mix {
                Some(sum) => add_into(sum, &frame),
                None => mix = Some(frame.clone()),
            }
            // The app gets every peer's audio; one that is not reading loses some, never
            // the speaker its timing.
            let _ = frames.try_send(MediaFrame::Audio { peer, frame });
        }
        if let Some(sink) = speaker.as_mut() {
            let frame = mix.unwrap_or_else(|| AudioFrame::silence(0));
            // The reference is what the speaker gets, as it gets it (silence included: the
            // canceller must know when nothing plays), and the silence the device played
            // when this thread fell behind.
            let queued = sink.queued();
            for _ in 0..sink.take_gap_frames() {
                let _ = processor.far_end(&AudioFrame::silence(0), queued);
            }
            if let Err(e) = processor.far_end(&frame, queued) {
                tracing::debug!(error = %e, "the echo canceller missed a reference frame");
            }
            if let Err(e) = sink.write(&frame) {
                let _ = events.try_send(CallEvent::Error {
                    message: format!("{e}; playing nowhere until another speaker is chosen"),
                });
                speaker = None;
                (start, n) = (Instant::now(), 0);
            }
        }
    }
}

/// A frame's power: the mean of its squared samples, full scale 1.
fn mean_square(frame: &AudioFrame) -> f32 {
    rms(&frame.samples).powi(2) as f32
}

/// Mixes `frame` into `sum`, saturating rather than wrapping.
fn add_into(sum: &mut AudioFrame, frame: &AudioFrame) {
    for (s, &f) in sum.samples.iter_mut().zip(&frame.samples) {
        *s = s.saturating_add(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_saturates() {
        let mut a = AudioFrame::silence(0);
        a.samples[0] = 30_000;
        a.samples[1] = -100;
        let mut b = AudioFrame::silence(0);
        b.samples[0] = 10_000;
        b.samples[1] = 50;
        add_into(&mut a, &b);
        assert_eq!((a.samples[0], a.samples[1]), (i16::MAX, -50));
    }

    #[test]
    fn the_speaking_level_follows_the_audio_over_half_a_second() {
        let counters = Counters::default();
        let mut loud = AudioFrame::silence(0);
        for (i, s) in loud.samples.iter_mut().enumerate() {
            *s = if i % 2 == 0 { 16_384 } else { -16_384 };
        }
        let frames = |frame: &AudioFrame, n: usize| {
            for _ in 0..n {
                counters.note_audio_power(mean_square(frame));
            }
            counters.speaking_level()
        };
        assert!(frames(&loud, 1) < 0.15, "one frame is not a voice");
        let talking = frames(&loud, 75);
        assert!((0.45..=0.5).contains(&talking), "{talking}");
        let after = frames(&AudioFrame::silence(0), 75);
        assert!(after < 0.15, "{after}");
        assert!(frames(&AudioFrame::silence(0), 150) < 0.01);
    }
}

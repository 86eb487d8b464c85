//! Microphones and speakers through cpal. On Linux cpal talks to PulseAudio (or PipeWire's
//! PulseAudio server) when one runs, and to ALSA otherwise.
//!
//! The device callback only moves samples through a lock-free ring (rtrb); downmixing,
//! resampling and framing happen on the caller's thread, never in the audio thread.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};
use serde::Serialize;

use super::{to_f32, AudioSink, AudioSource, Framer, Resampler};
use crate::{now_us, AudioFrame, MediaError, SAMPLE_RATE};

/// A microphone or speaker as the pickers show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioDeviceInfo {
    /// cpal's stable id (`pulseaudio:tincan_mic`, `alsa:hw:0,0`): save it, pick by it.
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

/// Whether a person should be offered this device. ALSA's list includes every plugin its
/// configuration defines (rate converters, `null`, `upmix`, ...); only sound cards and the
/// bridges to a sound server are devices in the sense of a picker.
pub fn is_pickable(id: &str) -> bool {
    match id.strip_prefix("alsa:") {
        None => true,
        Some(pcm) => {
            matches!(pcm, "default" | "pulse" | "pipewire")
                || pcm.starts_with("hw:")
                || pcm.starts_with("plughw:")
                || pcm.contains("CARD=")
        }
    }
}

fn describe(device: &cpal::Device, default_id: Option<&str>) -> Option<AudioDeviceInfo> {
    let id = device.id().ok()?.to_string();
    if !is_pickable(&id) {
        return None;
    }
    let name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| id.clone());
    let is_default = default_id == Some(id.as_str());
    Some(AudioDeviceInfo {
        id,
        name,
        is_default,
    })
}

/// The sound system for listing devices, connected once for the whole process. cpal's
/// PulseAudio host is a connection to the server with a reader thread that lives until the
/// server hangs up: dropping the host does not end it (pulseaudio 0.3.2). A host per listing
/// leaked a thread, a 1 MiB read buffer and a server connection each time, and the device
/// watcher lists twice a second in a call. A host that fails (the server restarted) is
/// replaced by a fresh one.
static HOST: Mutex<Option<Arc<cpal::Host>>> = Mutex::new(None);

/// Runs `job` against the shared host; if it fails, once more against a fresh connection.
fn with_host<T>(job: impl Fn(&cpal::Host) -> Result<T, cpal::Error>) -> Result<T, cpal::Error> {
    let shared = || {
        let mut host = HOST.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(host.get_or_insert_with(|| Arc::new(cpal::default_host())))
    };
    let host = shared();
    job(&host).or_else(|_| {
        {
            let mut cached = HOST.lock().unwrap_or_else(PoisonError::into_inner);
            if cached.as_ref().is_some_and(|h| Arc::ptr_eq(h, &host)) {
                *cached = None;
            }
        }
        job(&shared())
    })
}

/// Every microphone. No sound system, or none at all, is an empty list.
pub fn list_microphones() -> Vec<AudioDeviceInfo> {
    list_devices(true)
}

/// Every speaker (or headphones).
pub fn list_speakers() -> Vec<AudioDeviceInfo> {
    list_devices(false)
}

fn list_devices(input: bool) -> Vec<AudioDeviceInfo> {
    with_host(|host| {
        let default = if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        };
        let default = default.and_then(|d| d.id().ok()).map(|id| id.to_string());
        let devices: Vec<cpal::Device> = if input {
            host.input_devices()?.collect()
        } else {
            host.output_devices()?.collect()
        };
        Ok(devices
            .iter()
            .filter_map(|d| describe(d, default.as_deref()))
            .collect())
    })
    .unwrap_or_default()
}

/// Streams get a connection of their own, not the listings' shared one: with the microphone,
/// the speaker and the listings on one PulseAudio connection the captured audio came out
/// ~3.5 % short (a 600 Hz tone heard at 620 Hz). An open sometimes leaves its connection
/// behind when the stream ends (see [`HOST`]; 20 opens left 0 to 4); that is at most a few per
/// call, not two a second.
fn find_device(id: Option<&str>, input: bool) -> Result<cpal::Device, MediaError> {
    let host = cpal::default_host();
    match id {
        None => {
            let device = if input {
                host.default_input_device()
            } else {
                host.default_output_device()
            };
            device.ok_or(if input {
                MediaError::NoMicrophone
            } else {
                MediaError::NoSpeaker
            })
        }
        Some(id) => {
            let devices = if input {
                host.input_devices()
            } else {
                host.output_devices()
            };
            devices
                .map_err(|e| MediaError::AudioDevice(e.to_string()))?
                .find(|d| d.id().map(|d_id| d_id.to_string() == id).unwrap_or(false))
                .ok_or_else(|| MediaError::AudioDeviceNotFound(id.to_owned()))
        }
    }
}

/// A 48 kHz mono config if the device takes one (no resampling), else its default. The
/// buffer is fixed at 10 ms where the device allows: PulseAudio's default first buffer was
/// two seconds long (docs/traps.md, trap 10).
fn choose_config(
    device: &cpal::Device,
    input: bool,
) -> Result<(StreamConfig, SampleFormat), MediaError> {
    let fail = |e: cpal::Error| MediaError::AudioDevice(e.to_string());
    let ranges: Vec<_> = if input {
        device.supported_input_configs().map_err(fail)?.collect()
    } else {
        device.supported_output_configs().map_err(fail)?.collect()
    };
    let preferred = [SampleFormat::F32, SampleFormat::I16];
    let exact = preferred.iter().find_map(|format| {
        ranges.iter().find(|r| {
            r.sample_format() == *format
                && r.channels() == 1
                && r.min_sample_rate() <= SAMPLE_RATE
                && r.max_sample_rate() >= SAMPLE_RATE
        })
    });
    let chosen = match exact {
        Some(range) => range.with_sample_rate(SAMPLE_RATE),
        None if input => device.default_input_config().map_err(fail)?,
        None => device.default_output_config().map_err(fail)?,
    };
    let mut config = chosen.config();
    let ten_ms = chosen.sample_rate() / 100;
    if let cpal::SupportedBufferSize::Range { min, max } = chosen.buffer_size() {
        if (*min..=*max).contains(&ten_ms) {
            config.buffer_size = cpal::BufferSize::Fixed(ten_ms);
        }
    }
    Ok((config, chosen.sample_format()))
}

/// Calls a stream builder generic over the sample type with the type `format` names; cpal
/// needs the type at compile time, devices choose it at run time.
macro_rules! with_sample_type {
    ($format:expr, $build:ident($($arg:expr),*)) => {
        match $format {
            SampleFormat::F32 => $build::<f32>($($arg),*),
            SampleFormat::I16 => $build::<i16>($($arg),*),
            SampleFormat::U16 => $build::<u16>($($arg),*),
            SampleFormat::I32 => $build::<i32>($($arg),*),
            other => Err(MediaError::AudioDevice(format!("unsupported sample format {other}"))),
        }
    };
}

type DeviceFault = Arc<Mutex<Option<String>>>;

fn fault_of(fault: &DeviceFault) -> Option<String> {
    fault.lock().ok().and_then(|f| f.clone())
}

/// Captures from a microphone as 48 kHz mono frames.
pub struct MicrophoneSource {
    _stream: cpal::Stream,
    ring: rtrb::Consumer<f32>,
    resampler: Resampler,
    framer: Framer,
    scratch: Vec<f32>,
    fault: DeviceFault,
    first_wait: bool,
    name: String,
}

// cpal's Stream is !Send on some platforms only because of raw handles it never shares
// across threads; the source is moved once, to the capture thread, and used there.
unsafe impl Send for MicrophoneSource {}

impl MicrophoneSource {
    /// Opens a microphone by id, or the default one.
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let device = find_device(id, true)?;
        let name = describe(&device, None).map(|d| d.name).unwrap_or_default();
        let (config, format) = choose_config(&device, true)?;
        let channels = usize::from(config.channels.max(1));
        let rate = config.sample_rate;
        // Two seconds of room: a reader that stalls loses the oldest audio, not the newest.
        let (producer, ring) = rtrb::RingBuffer::<f32>::new(rate as usize * 2);
        let fault: DeviceFault = Arc::default();
        let stream = with_sample_type!(
            format,
            build_input(&device, &config, channels, producer, fault.clone())
        )?;
        stream
            .play()
            .map_err(|e| MediaError::AudioDevice(e.to_string()))?;
        tracing::info!(microphone = %name, rate, channels, "microphone open");
        Ok(Self {
            _stream: stream,
            ring,
            resampler: Resampler::new(rate, SAMPLE_RATE)?,
            framer: Framer::default(),
            scratch: Vec::new(),
            fault,
            first_wait: true,
            name,
        })
    }
}

fn build_input<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    channels: usize,
    mut producer: rtrb::Producer<f32>,
    fault: DeviceFault,
) -> Result<cpal::Stream, MediaError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut promoted = false;
    device
        .build_input_stream::<T, _, _>(
            config.clone(),
            move |data: &[T], _| {
                super::realtime::promote_current_thread(&mut promoted);
                for frame in data.chunks_exact(channels) {
                    let mono =
                        frame.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / channels as f32;
                    // A full ring means the reader stalled; dropping is all the callback can do.
                    let _ = producer.push(mono);
                }
            },
            move |e| {
                if let Ok(mut f) = fault.lock() {
                    *f = Some(e.to_string());
                }
            },
            None,
        )
        .map_err(|e| MediaError::AudioDevice(e.to_string()))
}

impl AudioSource for MicrophoneSource {
    fn read(&mut self) -> Result<Option<AudioFrame>, MediaError> {
        // A cold virtual microphone took up to 2 s for its first samples (docs/traps.md, trap 10).
        let patience = if self.first_wait {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(1)
        };
        let deadline = Instant::now() + patience;
        loop {
            if let Some(frame) = self.framer.pop(now_us()) {
                self.first_wait = false;
                return Ok(Some(frame));
            }
            if let Some(e) = fault_of(&self.fault) {
                return Err(MediaError::AudioDevice(format!(
                    "microphone {}: {e}",
                    self.name
                )));
            }
            let available = self.ring.slots();
            if available > 0 {
                let chunk = self
                    .ring
                    .read_chunk(available)
                    .map_err(|e| MediaError::AudioDevice(e.to_string()))?;
                let (a, b) = chunk.as_slices();
                self.scratch.clear();
                let mut converted = std::mem::take(&mut self.scratch);
                self.resampler.process(a, &mut converted)?;
                self.resampler.process(b, &mut converted)?;
                chunk.commit_all();
                self.framer.push(&converted);
                self.scratch = converted;
                continue;
            }
            if Instant::now() > deadline {
                return Err(MediaError::AudioDevice(format!(
                    "microphone {} delivers no audio; is it muted or in use?",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Plays 48 kHz mono frames on a speaker.
pub struct SpeakerSink {
    _stream: cpal::Stream,
    ring: rtrb::Producer<f32>,
    resampler: Resampler,
    device_rate: u32,
    scratch: Vec<f32>,
    fault: DeviceFault,
    name: String,
    /// Whether the device has taken any audio yet, and how much was queued after the last
    /// write (to notice that it has).
    started: bool,
    last_queued: usize,
    /// Silence the device played because nothing was queued (after it had played audio), in
    /// device samples: the stream fell behind by that much.
    gaps: Arc<std::sync::atomic::AtomicU64>,
    /// Of those, what [`SpeakerSink::take_gap_frames`] has not reported yet.
    gap_carry: u64,
    /// How long the device (the sound server, the hardware) holds audio after taking it, in
    /// µs, as it said at its last callback.
    device_latency_us: Arc<std::sync::atomic::AtomicU64>,
}

// See MicrophoneSource.
unsafe impl Send for SpeakerSink {}

/// Audio queued for the device beyond which `write` waits: enough to ride out scheduling
/// hiccups, small enough not to add noticeable delay.
const SPEAKER_QUEUE: Duration = Duration::from_millis(80);

impl SpeakerSink {
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let device = find_device(id, false)?;
        let name = describe(&device, None).map(|d| d.name).unwrap_or_default();
        let (config, format) = choose_config(&device, false)?;
        let channels = usize::from(config.channels.max(1));
        let rate = config.sample_rate;
        let (ring, consumer) = rtrb::RingBuffer::<f32>::new(rate as usize);
        let fault: DeviceFault = Arc::default();
        let gaps: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let device_latency_us: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let stream = with_sample_type!(
            format,
            build_output(
                &device,
                &config,
                channels,
                consumer,
                fault.clone(),
                gaps.clone(),
                device_latency_us.clone()
            )
        )?;
        stream
            .play()
            .map_err(|e| MediaError::AudioDevice(e.to_string()))?;
        tracing::info!(speaker = %name, rate, channels, "speaker open");
        Ok(Self {
            _stream: stream,
            ring,
            resampler: Resampler::new(SAMPLE_RATE, rate)?,
            device_rate: rate,
            scratch: Vec::new(),
            fault,
            name,
            started: false,
            last_queued: 0,
            gaps,
            gap_carry: 0,
            device_latency_us,
        })
    }
}

fn build_output<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    channels: usize,
    mut consumer: rtrb::Consumer<f32>,
    fault: DeviceFault,
    gaps: Arc<std::sync::atomic::AtomicU64>,
    device_latency_us: Arc<std::sync::atomic::AtomicU64>,
) -> Result<cpal::Stream, MediaError>
where
    T: SizedSample + FromSample<f32>,
{
    let (mut played_any, mut promoted) = (false, false);
    device
        .build_output_stream::<T, _, _>(
            config.clone(),
            move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
                super::realtime::promote_current_thread(&mut promoted);
                let when = info.timestamp();
                let latency = when.playback.saturating_duration_since(when.callback);
                device_latency_us.store(
                    latency.as_micros().min(u128::from(u64::MAX)) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let mut gap = 0u64;
                for frame in data.chunks_exact_mut(channels) {
                    // An empty ring plays silence: the jitter buffer upstream conceals gaps.
                    let sample = match consumer.pop() {
                        Ok(sample) => {
                            played_any = true;
                            sample
                        }
                        Err(_) => {
                            gap += u64::from(played_any);
                            0.0
                        }
                    };
                    frame.fill(T::from_sample(sample));
                }
                if gap > 0 {
                    gaps.fetch_add(gap, std::sync::atomic::Ordering::Relaxed);
                }
            },
            move |e| {
                if let Ok(mut f) = fault.lock() {
                    *f = Some(e.to_string());
                }
            },
            None,
        )
        .map_err(|e| MediaError::AudioDevice(e.to_string()))
}

impl SpeakerSink {
    /// Whole 20 ms frames of silence the device played since the last call because nothing
    /// was queued: everything written since is heard that much later. (The echo canceller's
    /// reference takes as much silence, so it stays in step with what is heard.)
    pub fn take_gap_frames(&mut self) -> u32 {
        self.gap_carry += self.gaps.swap(0, std::sync::atomic::Ordering::Relaxed);
        let per_frame = u64::from(self.device_rate.max(1)) / 50;
        let frames = self.gap_carry / per_frame.max(1);
        self.gap_carry -= frames * per_frame;
        frames.min(u64::from(u32::MAX)) as u32
    }

    /// Audio written and not yet taken by the device: our own queue in front of it.
    pub fn queued(&self) -> Duration {
        let queued = self.ring.buffer().capacity() - self.ring.slots();
        Duration::from_secs_f64(queued as f64 / f64::from(self.device_rate.max(1)))
    }

    /// How much later than written a sample is heard: our queue, then the device's own
    /// latency (the sound server's buffer and the hardware's, as the device reports it; on
    /// PulseAudio tens of milliseconds). What a picture waits for to meet its sound.
    pub fn heard_after(&self) -> Duration {
        let device = self
            .device_latency_us
            .load(std::sync::atomic::Ordering::Relaxed);
        self.queued() + Duration::from_micros(device)
    }
}

impl AudioSink for SpeakerSink {
    fn write(&mut self, frame: &AudioFrame) -> Result<(), MediaError> {
        if let Some(e) = fault_of(&self.fault) {
            return Err(MediaError::AudioDevice(format!(
                "speaker {}: {e}",
                self.name
            )));
        }
        let input: Vec<f32> = frame.samples.iter().map(|&s| to_f32(s)).collect();
        self.scratch.clear();
        let mut converted = std::mem::take(&mut self.scratch);
        self.resampler.process(&input, &mut converted)?;
        let limit = (self.device_rate as f64 * SPEAKER_QUEUE.as_secs_f64()) as usize;
        let capacity = self.ring.buffer().capacity();
        // Less queued than after the last write: the device is pulling audio.
        if capacity - self.ring.slots() < self.last_queued {
            self.started = true;
        }
        let mut rest = &converted[..];
        // A cold device can take seconds to start pulling audio (docs/traps.md, trap 10), so the
        // first write waits longer before calling the speaker stuck.
        let patience = if self.started {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        let deadline = Instant::now() + patience;
        while !rest.is_empty() {
            let queued = capacity - self.ring.slots();
            let room = limit.saturating_sub(queued).min(rest.len());
            if room == 0 {
                if Instant::now() > deadline {
                    return Err(MediaError::AudioDevice(format!(
                        "speaker {} is not taking audio",
                        self.name
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            for &sample in &rest[..room] {
                let _ = self.ring.push(sample);
            }
            rest = &rest[room..];
        }
        self.last_queued = capacity - self.ring.slots();
        self.scratch = converted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_pickable;

    #[test]
    fn alsa_plugins_are_not_offered_but_cards_and_servers_are() {
        for id in [
            "alsa:null",
            "alsa:lavrate",
            "alsa:upmix",
            "alsa:speex",
            "alsa:jack",
        ] {
            assert!(!is_pickable(id), "{id}");
        }
        for id in [
            "alsa:default",
            "alsa:pulse",
            "alsa:hw:0,0",
            "alsa:sysdefault:CARD=PCH",
            "pulseaudio:tincan_mic",
        ] {
            assert!(is_pickable(id), "{id}");
        }
    }
}

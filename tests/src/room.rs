//! A room with two people in it, on private PulseAudio devices, for the audio processing
//! tests: the near end's speaker plays into its own microphone through an echo path (a delay
//! and an attenuation, changeable mid-call), a near-end talker and noise are mixed into that
//! microphone, a far-end talker speaks into the far end's microphone, and what the far end's
//! speaker plays is recorded. Everything runs on one clock (the room's thread, paced by the
//! sound server), so the recording lines up with what was scheduled.
//!
//! The room stands for air and walls, which never stall: its thread and the sound server
//! tools it runs are given real-time priority (as root; otherwise they run as they are and a
//! busy machine can move the echo path). The peers under test keep ordinary priority.
//!
//! Devices (each a null sink, the microphones remapped monitors of "feed" sinks, as
//! scripts/virtual-audio.sh does) are named after a tag, so two rooms can run at once and no
//! other test's devices are touched. They are unloaded when the room is dropped.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

const RATE: usize = 48_000;
/// The room's tick: 10 ms.
const BLOCK: usize = RATE / 100;
/// The longest echo delay the room can make.
const MAX_DELAY: usize = RATE / 2;
/// Every microphone hears at least this: a real one's own noise and the room's, about
/// −70 dBFS. (A virtual one gives digital silence, which no real room does, and which
/// noise suppression learns a floor from that it then takes many seconds to leave.)
const NOISE_FLOOR: f32 = 18.0;

/// What plays at a time in the room: a clip starting at a sample of the room's clock.
#[derive(Clone)]
struct Clip {
    start: usize,
    samples: Arc<Vec<i16>>,
    /// Repeats until `end` (a sample of the room's clock) when set.
    until: Option<usize>,
}

impl Clip {
    fn at(&self, t: usize) -> f32 {
        if t < self.start || self.until.is_some_and(|end| t >= end) {
            return 0.0;
        }
        let i = t - self.start;
        let s = match self.until {
            Some(_) => self.samples[i % self.samples.len().max(1)],
            None => self.samples.get(i).copied().unwrap_or(0),
        };
        f32::from(s)
    }
}

#[derive(Default)]
struct Script {
    near: Vec<Clip>,
    far: Vec<Clip>,
    /// (from sample, delay in samples, echo gain)
    echo: Vec<(usize, usize, f32)>,
}

struct Shared {
    script: Mutex<Script>,
    /// The room's clock, in samples since it started.
    now: Mutex<usize>,
    /// What the far end's speaker played, on the room's clock.
    far_heard: Mutex<Vec<i16>>,
    stop: std::sync::atomic::AtomicBool,
}

pub struct Room {
    tag: String,
    modules: Vec<String>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    children: Arc<Mutex<Vec<Child>>>,
}

fn pactl(args: &[&str]) -> String {
    let out = Command::new("pactl")
        .args(args)
        .output()
        .expect("pactl runs (scripts/install-deps installs pulseaudio-utils)");
    assert!(
        out.status.success(),
        "pactl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Real-time priority for the room: under the sound server's own threads (PulseAudio's run
/// at 5), over every ordinary process.
const ROOM_PRIORITY: i32 = 4;

/// Puts a process or thread (`0`: the calling thread) on round-robin real-time scheduling.
/// Refused without the privilege; the room then runs at ordinary priority, said once.
fn make_real_time(pid: libc::pid_t) {
    let param = libc::sched_param {
        sched_priority: ROOM_PRIORITY,
    };
    // SAFETY: sched_setscheduler only reads `param`, which outlives the call.
    let refused = unsafe { libc::sched_setscheduler(pid, libc::SCHED_RR, &param) } != 0;
    static TOLD: std::sync::Once = std::sync::Once::new();
    if refused {
        TOLD.call_once(|| {
            eprintln!(
                "room: no real-time priority ({}); a busy machine may move the echo path",
                std::io::Error::last_os_error()
            )
        });
    }
}

fn spawn(program: &str, args: &[String], input: bool) -> Child {
    let child = Command::new(program)
        .args(args)
        .stdin(if input { Stdio::piped() } else { Stdio::null() })
        .stdout(if input { Stdio::null() } else { Stdio::piped() })
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    make_real_time(child.id() as libc::pid_t);
    child
}

fn raw_args(device: &str) -> Vec<String> {
    [
        "-d",
        device,
        "--format=s16le",
        "--rate=48000",
        "--channels=1",
        "--raw",
        // Roomy: a tool that runs dry on a busy machine shifts the echo path (a real room's
        // does not move), which the echo canceller then has to find again.
        "--latency-msec=40",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn read_block(from: &mut ChildStdout, block: &mut [i16]) -> bool {
    let mut bytes = vec![0u8; block.len() * 2];
    if from.read_exact(&mut bytes).is_err() {
        return false;
    }
    for (s, b) in block.iter_mut().zip(bytes.chunks_exact(2)) {
        *s = i16::from_le_bytes([b[0], b[1]]);
    }
    true
}

fn write_block(to: &mut ChildStdin, block: &[f32]) -> bool {
    let bytes: Vec<u8> = block
        .iter()
        .flat_map(|&s| (s.clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect();
    to.write_all(&bytes).is_ok()
}

impl Room {
    /// Makes the devices and starts the room's clock with an echo path of `delay` at `gain`.
    pub fn build(tag: &str, delay: Duration, gain: f32) -> Self {
        assert!(
            std::env::var_os("PULSE_SERVER").is_some(),
            "no sound server: run through scripts/test (it sources scripts/virtual-audio.sh)"
        );
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let tag = format!("tincan_room_{tag}_{}", std::process::id());
        let mut modules = Vec::new();
        for sink in ["near_spk", "near_feed", "far_spk", "far_feed"] {
            modules.push(pactl(&[
                "load-module",
                "module-null-sink",
                &format!("sink_name={tag}_{sink}"),
                "rate=48000",
                "channels=1",
            ]));
        }
        for side in ["near", "far"] {
            modules.push(pactl(&[
                "load-module",
                "module-remap-source",
                &format!("source_name={tag}_{side}_mic"),
                &format!("master={tag}_{side}_feed.monitor"),
                "channels=1",
            ]));
        }
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                echo: vec![(0, delay.as_millis() as usize * RATE / 1000, gain)],
                ..Script::default()
            }),
            now: Mutex::new(0),
            far_heard: Mutex::new(Vec::new()),
            stop: Default::default(),
        });
        let mut near_spk = spawn(
            "parec",
            &raw_args(&format!("{tag}_near_spk.monitor")),
            false,
        );
        let mut far_spk = spawn("parec", &raw_args(&format!("{tag}_far_spk.monitor")), false);
        let mut near_feed = spawn("pacat", &raw_args(&format!("{tag}_near_feed")), true);
        let mut far_feed = spawn("pacat", &raw_args(&format!("{tag}_far_feed")), true);
        let mut near_in = near_spk.stdout.take().expect("piped");
        let mut far_in = far_spk.stdout.take().expect("piped");
        let mut near_out = near_feed.stdin.take().expect("piped");
        let mut far_out = far_feed.stdin.take().expect("piped");
        let children = Arc::new(Mutex::new(vec![near_spk, far_spk, near_feed, far_feed]));
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                make_real_time(0);
                let mut history = vec![0i16; MAX_DELAY + BLOCK];
                let (mut played, mut heard) = (vec![0i16; BLOCK], vec![0i16; BLOCK]);
                let (mut near_mic, mut far_mic) = (vec![0f32; BLOCK], vec![0f32; BLOCK]);
                let mut seed = 0x1234_5678u32;
                let mut floor = move || {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((seed >> 16) as f32 / 32768.0 - 1.0) * NOISE_FLOOR
                };
                while !shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if !read_block(&mut near_in, &mut played)
                        || !read_block(&mut far_in, &mut heard)
                    {
                        break;
                    }
                    let t0 = *shared.now.lock().unwrap_or_else(PoisonError::into_inner);
                    history.drain(..BLOCK);
                    history.extend_from_slice(&played);
                    {
                        let script = shared.script.lock().unwrap_or_else(PoisonError::into_inner);
                        let &(_, delay, gain) = script
                            .echo
                            .iter()
                            .rev()
                            .find(|(from, _, _)| *from <= t0)
                            .unwrap_or(&(0, 0, 0.0));
                        let delay = delay.min(MAX_DELAY);
                        for i in 0..BLOCK {
                            let t = t0 + i;
                            let echo = f32::from(history[MAX_DELAY + i - delay]) * gain;
                            near_mic[i] =
                                echo + script.near.iter().map(|c| c.at(t)).sum::<f32>() + floor();
                            far_mic[i] = script.far.iter().map(|c| c.at(t)).sum::<f32>() + floor();
                        }
                    }
                    shared
                        .far_heard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&heard);
                    *shared.now.lock().unwrap_or_else(PoisonError::into_inner) = t0 + BLOCK;
                    if !write_block(&mut near_out, &near_mic)
                        || !write_block(&mut far_out, &far_mic)
                    {
                        break;
                    }
                }
            })
        };
        Self {
            tag,
            modules,
            shared,
            thread: Some(thread),
            children,
        }
    }

    /// The near end's speaker and microphone, and the far end's, as `tincan-cli` ids.
    pub fn near_speaker(&self) -> String {
        format!("pulseaudio:{}_near_spk", self.tag)
    }
    pub fn near_microphone(&self) -> String {
        format!("pulseaudio:{}_near_mic", self.tag)
    }
    pub fn far_speaker(&self) -> String {
        format!("pulseaudio:{}_far_spk", self.tag)
    }
    pub fn far_microphone(&self) -> String {
        format!("pulseaudio:{}_far_mic", self.tag)
    }

    /// The room's clock, seconds since it was built.
    pub fn now(&self) -> f64 {
        *self
            .shared
            .now
            .lock()
            .unwrap_or_else(PoisonError::into_inner) as f64
            / RATE as f64
    }

    fn sample(seconds: f64) -> usize {
        (seconds * RATE as f64) as usize
    }

    /// The near-end talker says `samples` (48 kHz mono) from `at` seconds on the room's clock;
    /// repeated until `until` when given.
    pub fn near_says(&self, at: f64, samples: Arc<Vec<i16>>, until: Option<f64>) {
        self.script().near.push(Clip {
            start: Self::sample(at),
            samples,
            until: until.map(Self::sample),
        });
    }

    /// The far-end talker, as [`Room::near_says`].
    pub fn far_says(&self, at: f64, samples: Arc<Vec<i16>>, until: Option<f64>) {
        self.script().far.push(Clip {
            start: Self::sample(at),
            samples,
            until: until.map(Self::sample),
        });
    }

    /// From `at` seconds on, the echo comes back after `delay` at `gain`.
    pub fn echo_from(&self, at: f64, delay: Duration, gain: f32) {
        let delay = delay.as_millis() as usize * RATE / 1000;
        assert!(delay <= MAX_DELAY, "the room echoes at most 500 ms late");
        self.script().echo.push((Self::sample(at), delay, gain));
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What the far end's speaker played from `from` to `to` seconds on the room's clock.
    pub fn far_heard(&self, from: f64, to: f64) -> Vec<i16> {
        let heard = self
            .shared
            .far_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (a, b) = (Self::sample(from), Self::sample(to).min(heard.len()));
        heard.get(a..b).map(<[i16]>::to_vec).unwrap_or_default()
    }

    /// Waits until the room's clock reads `seconds`.
    pub async fn until(&self, seconds: f64) {
        while self.now() < seconds {
            assert!(
                !self.thread.as_ref().is_some_and(JoinHandle::is_finished),
                "the room stopped (a sound server tool ended)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Room {
    /// Stops the room's clock, its tools and devices; what the far end heard stays readable.
    pub fn stop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for child in self
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for module in self.modules.drain(..).rev() {
            let _ = Command::new("pactl")
                .args(["unload-module", &module])
                .status();
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.stop();
    }
}

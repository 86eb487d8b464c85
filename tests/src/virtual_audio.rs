//! The virtual sound devices of scripts/virtual-audio.sh, read back by tests.

/// What a peer's speaker plays, read back from the virtual speaker's monitor for `seconds`.
pub fn record_virtual_speaker(seconds: f64) -> std::thread::JoinHandle<Vec<i16>> {
    let timed = record_virtual_speaker_timed(seconds);
    std::thread::spawn(move || timed.join().expect("the recorder").samples)
}

/// What the virtual speaker played, with when it played it.
pub struct TimedRecording {
    pub samples: Vec<i16>,
    /// When the first sample was played, in µs since the UNIX epoch: sample `n` played at
    /// `start_us + n / 48 kHz`. Read from when each piece reached us, so it may be early by
    /// up to the speaker's block (the reader asks PulseAudio for 10 ms, and the null sink
    /// renders in blocks of the smallest latency asked of it).
    pub start_us: f64,
}

impl TimedRecording {
    /// When sample `n` was played, in µs since the epoch.
    pub fn time_of(&self, n: usize) -> f64 {
        self.start_us + n as f64 * 1e6 / 48_000.0
    }
}

/// Records the virtual speaker's monitor for `seconds`, noting when each piece arrives so
/// each sample's play time is known on the wall clock (for lip sync against pictures drawn
/// by a page, whose clock is the same).
pub fn record_virtual_speaker_timed(seconds: f64) -> std::thread::JoinHandle<TimedRecording> {
    use std::io::Read;
    assert!(
        std::env::var_os("PULSE_SERVER").is_some(),
        "no virtual sound devices: run through scripts/test (it sources scripts/virtual-audio.sh)"
    );
    std::thread::spawn(move || {
        let mut parec = std::process::Command::new("parec")
            .args([
                "-d",
                "tincan_speaker.monitor",
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
                "--latency-msec=10",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("parec runs");
        let mut out = parec.stdout.take().expect("piped");
        let started = std::time::Instant::now();
        let mut bytes = Vec::new();
        let mut start_us = f64::INFINITY;
        let mut piece = [0u8; 4096];
        while started.elapsed().as_secs_f64() < seconds {
            let Ok(n) = out.read(&mut piece) else { break };
            if n == 0 {
                break;
            }
            let now_us = tincan_media::now_us() as f64;
            bytes.extend_from_slice(&piece[..n]);
            // The last sample read so far was played at or before now.
            let samples = (bytes.len() / 2) as f64;
            start_us = start_us.min(now_us - samples * 1e6 / 48_000.0);
        }
        let _ = parec.kill();
        let samples = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        TimedRecording { samples, start_us }
    })
}

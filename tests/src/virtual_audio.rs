//! The virtual sound devices of scripts/virtual-audio.sh, read back by tests.

/// What a peer's speaker plays, read back from the virtual speaker's monitor for `seconds`.
pub fn record_virtual_speaker(seconds: f64) -> std::thread::JoinHandle<Vec<i16>> {
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
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("parec runs");
        let mut out = parec.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
        let _ = parec.kill();
        let bytes = reader.join().expect("reader");
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    })
}

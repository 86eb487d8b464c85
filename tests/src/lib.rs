//! The harness for Tincan's cross-process tests: start real binaries on free loopback ports,
//! talk to them with real WebSocket clients, and break the network between them.
//!
//! Binaries are found beside the test executable (`target/<profile>/`). `scripts/test` builds
//! them first; a bare `cargo test` after `cargo build --workspace --bins` works too.

pub mod balancer;
pub mod cable;
pub mod cli;
pub mod desktop;
pub mod files;
pub mod lan;
pub mod long_path;
pub mod netns;
pub mod notifications;
pub mod plain_peer;
pub mod portal;
pub mod process;
pub mod raw;
pub mod redis;
pub mod resilience;
pub mod room;
pub mod screen;
pub mod server;
pub mod speech;
pub mod turn;
pub mod virtual_audio;
pub mod webdriver;
pub mod wine;

pub use balancer::Balancer;
pub use cable::Cable;
pub use cli::{about, CliPeer, Place, Role};
pub use desktop::{start_app, Desktop};
pub use long_path::{Impairment, LongPath};
pub use netns::Netns;
pub use plain_peer::PlainPeer;
pub use raw::RawClient;
pub use redis::RedisProcess;
pub use room::Room;
pub use server::{http_get, ServerProcess};
pub use webdriver::{Browser, FakeDevices};
pub use wine::Wine;

use std::path::PathBuf;

/// The path of a workspace binary built for the same profile as the running test, or in
/// `TINCAN_BIN_DIR` when that is set (a benchmark comparing another build of the binaries).
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("TINCAN_BIN_DIR") {
        let path = PathBuf::from(dir).join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "TINCAN_BIN_DIR has no {}", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins --tests` (scripts/test does)",
        path.display()
    );
    path
}

/// Drains an in-process call's events and pictures in the background, so the engine never
/// blocks on a full queue while a test looks elsewhere.
pub fn drain(feeds: tincan_call::CallFeeds) {
    drain_events(feeds.events);
    let mut frames = feeds.frames;
    tokio::spawn(async move { while frames.recv().await.is_some() {} });
}

/// Reads a call's control events and throws them away (the test reads its pictures).
pub fn drain_events(mut events: tokio::sync::mpsc::Receiver<tincan_call::CallEvent>) {
    tokio::spawn(async move { while events.recv().await.is_some() {} });
}

/// Writes `frames` frames of the stamped test pattern to a y4m file (a fake camera's clip).
pub fn write_stamped_clip(
    path: &std::path::Path,
    format: tincan_media::video::VideoFormat,
    frames: usize,
) {
    use tincan_media::video::{PatternSource, VideoSource, Y4mWriter};
    let mut pattern = PatternSource::new(format).expect("a pattern at this size");
    let mut writer = Y4mWriter::create(path, format).expect("the clip can be written");
    for _ in 0..frames {
        let frame = pattern.read().expect("the pattern draws");
        writer.write(&frame).expect("the clip can be written");
    }
}

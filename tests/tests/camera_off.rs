//! Turning the camera off must close it, not only stop sending: people take the camera's
//! light going out as the proof that nobody sees them, and another app may want the camera.
//! There is no camera here, so a y4m file stands in: the engine opens and closes every video
//! input the same way, and whether a file is open shows in /proc/self/fd like /dev/video0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tincan_call::{Call, CallOptions, MediaFrame, RoomChoice, VideoInput};
use tincan_e2e::{drain, drain_events, ServerProcess};
use tincan_media::video::VideoFormat;
use tokio::sync::mpsc::Receiver;

const FORMAT: VideoFormat = VideoFormat {
    width: 320,
    height: 180,
    fps: 30,
};

fn options(server: &ServerProcess, room: RoomChoice, name: &str, video: VideoInput) -> CallOptions {
    let mut o = CallOptions::new(server.addr.to_string(), room, name);
    o.format = FORMAT;
    o.video = video;
    o.video_kbps = 300;
    o.bind = vec!["127.0.0.1:0".into()];
    o
}

/// How many times this process has `path` open.
fn times_open(path: &Path) -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        panic!("/proc/self/fd is readable on Linux");
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// Waits (up to 2 s: the capture thread lets go at its next picture) for `path` to be open
/// `times`; returns how many times it is open in the end.
async fn until_open(path: &Path, times: usize) -> usize {
    for _ in 0..40 {
        if times_open(path) == times {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    times_open(path)
}

/// Counts the pictures `frames` brings from the other peer within `window`.
async fn pictures_within(frames: &mut Receiver<MediaFrame>, window: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + window;
    let mut pictures = 0;
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, frames.recv()).await {
        if matches!(frame, MediaFrame::Video { .. }) {
            pictures += 1;
        }
    }
    pictures
}

fn clip(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    tincan_e2e::write_stamped_clip(&path, FORMAT, 30);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_the_camera_off_closes_it_and_on_opens_it_again() {
    let dir = std::env::temp_dir().join(format!("tincan-camera-off-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (first, second, third) = (
        clip(&dir, "a.y4m"),
        clip(&dir, "b.y4m"),
        clip(&dir, "c.y4m"),
    );
    let server = ServerProcess::start(&[]).await;

    let (ada, ada_events) = Call::join(options(
        &server,
        RoomChoice::Create,
        "Ada",
        VideoInput::File(first.clone()),
    ))
    .await
    .expect("Ada joins");
    drain(ada_events);
    let room = ada.room().to_string();
    let (_bo, bo_feeds) = Call::join(options(
        &server,
        RoomChoice::Join(room.clone()),
        "Bo",
        VideoInput::Pattern,
    ))
    .await
    .expect("Bo joins");
    drain_events(bo_feeds.events);
    let mut bo_sees = bo_feeds.frames;
    let on = pictures_within(&mut bo_sees, Duration::from_secs(3)).await;
    assert!(on > 20, "Bo saw {on} of Ada's pictures in 3 s");
    assert_eq!(times_open(&first), 1, "Ada's video input is open");

    // Off: the input closes, and nothing more arrives.
    ada.set_camera_off(true).expect("the camera turns off");
    assert_eq!(until_open(&first, 0).await, 0, "off closes the input");
    pictures_within(&mut bo_sees, Duration::from_millis(300)).await;
    let off = pictures_within(&mut bo_sees, Duration::from_secs(1)).await;
    assert_eq!(off, 0, "Bo saw {off} pictures with Ada's camera off");

    // Switching camera while off only remembers the choice: nothing is opened.
    ada.set_video_input(VideoInput::File(second.clone()))
        .expect("a switch while off is remembered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(times_open(&second), 0, "a switch while off opens nothing");

    // On: the input chosen last opens and pictures flow again (from a keyframe).
    ada.set_camera_off(false).expect("the camera turns on");
    assert_eq!(until_open(&second, 1).await, 1, "on opens the chosen input");
    assert_eq!(times_open(&first), 0);
    let again = pictures_within(&mut bo_sees, Duration::from_secs(2)).await;
    assert!(
        again > 10,
        "Bo saw {again} pictures after the camera came back"
    );

    // An input that cannot be opened: turning on fails with the reason, the camera stays off.
    ada.set_camera_off(true).expect("the camera turns off");
    let missing = dir.join("unplugged.y4m");
    ada.set_video_input(VideoInput::File(missing))
        .expect("a switch while off is remembered");
    let error = ada
        .set_camera_off(false)
        .expect_err("a missing input cannot be turned on");
    assert!(error.to_string().contains("unplugged.y4m"), "{error}");
    assert_eq!(until_open(&second, 0).await, 0);
    pictures_within(&mut bo_sees, Duration::from_millis(300)).await;
    let still_off = pictures_within(&mut bo_sees, Duration::from_secs(1)).await;
    assert_eq!(
        still_off, 0,
        "the camera stayed off after the failed turn-on"
    );

    // Joining with the camera off does not open it.
    let mut late = options(
        &server,
        RoomChoice::Join(room),
        "Cy",
        VideoInput::File(third.clone()),
    );
    late.camera_off = true;
    let (cy, cy_events) = Call::join(late).await.expect("Cy joins");
    drain(cy_events);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        times_open(&third),
        0,
        "joining with the camera off opens nothing"
    );
    cy.set_camera_off(false).expect("Cy's camera turns on");
    assert_eq!(until_open(&third, 1).await, 1);

    std::fs::remove_dir_all(&dir).ok();
}

//! Camera frames to I420, checked against known output; and what happens with no camera.

use tincan_media::video::convert::{mjpeg_to_i420, nv12_to_i420, yuyv_to_i420};
use tincan_media::video::{list_cameras, CameraSource, VideoFormat};
use tincan_media::MediaError;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/fixtures");

#[test]
fn yuyv_converts_to_i420_with_chroma_averaged_over_row_pairs() {
    #[rustfmt::skip]
    let yuyv = [
        10, 100, 20, 200,   30, 110, 40, 210,
        50, 120, 60, 220,   70, 130, 80, 230,
    ];
    let frame = yuyv_to_i420(&yuyv, 4, 2, 7).unwrap();
    assert_eq!(frame.y(), &[10, 20, 30, 40, 50, 60, 70, 80]);
    assert_eq!(frame.u(), &[110, 120]);
    assert_eq!(frame.v(), &[210, 220]);
    assert_eq!(frame.capture_us, 7);
}

#[test]
fn nv12_converts_to_i420_by_splitting_chroma() {
    let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, /* UV */ 100, 200, 110, 210];
    let frame = nv12_to_i420(&nv12, 4, 2, 0).unwrap();
    assert_eq!(frame.y(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(frame.u(), &[100, 110]);
    assert_eq!(frame.v(), &[200, 210]);
}

#[test]
fn short_buffers_are_refused_not_read_past() {
    assert!(matches!(
        yuyv_to_i420(&[0; 10], 4, 2, 0),
        Err(MediaError::Format(_))
    ));
    assert!(matches!(
        nv12_to_i420(&[0; 11], 4, 2, 0),
        Err(MediaError::Format(_))
    ));
    assert!(matches!(
        mjpeg_to_i420(b"not a jpeg", 0),
        Err(MediaError::Format(_))
    ));
}

#[test]
fn mjpeg_converts_to_the_known_bt601_colours() {
    let jpeg = std::fs::read(format!("{FIXTURES}/bars-32x16.jpg")).unwrap();
    let frame = mjpeg_to_i420(&jpeg, 0).unwrap();
    assert_eq!((frame.width(), frame.height()), (32, 16));
    // Red, green, blue, white bars (assets/fixtures/README.md); sample each bar's middle.
    let expected = [
        (81, 90, 240),
        (145, 54, 34),
        (41, 240, 110),
        (235, 128, 128),
    ];
    for (bar, (y, u, v)) in expected.into_iter().enumerate() {
        let x = bar * 8 + 4;
        let got = (
            frame.y()[8 * 32 + x],
            frame.u()[4 * 16 + x / 2],
            frame.v()[4 * 16 + x / 2],
        );
        let close = |a: u8, b: i32| (i32::from(a) - b).abs() <= 3;
        assert!(
            close(got.0, y) && close(got.1, u) && close(got.2, v),
            "bar {bar}: got {got:?}, want {:?}",
            (y, u, v)
        );
    }
}

fn video_devices() -> usize {
    std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("video"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn with_no_camera_the_list_is_empty_and_opening_says_so() {
    if cfg!(target_os = "linux") && video_devices() > 0 {
        // A machine with cameras: they are listed, each with the modes it offers.
        let cameras = list_cameras();
        assert!(
            !cameras.is_empty(),
            "/dev/video* exists but no camera was listed"
        );
        return;
    }
    assert_eq!(list_cameras(), vec![]);
    let wanted = VideoFormat {
        width: 1280,
        height: 720,
        fps: 30,
    };
    match CameraSource::open(None, wanted) {
        Err(e @ MediaError::NoCamera) => assert!(e.to_string().contains("no camera found"), "{e}"),
        Err(other) => panic!("expected NoCamera, got {other}"),
        Ok(_) => panic!("opened a camera that does not exist"),
    }
    match CameraSource::open(Some("3"), wanted) {
        Err(MediaError::NoCamera | MediaError::CameraNotFound(_)) => {}
        Err(other) => panic!("expected a not-found error, got {other}"),
        Ok(_) => panic!("opened a camera that does not exist"),
    }
}

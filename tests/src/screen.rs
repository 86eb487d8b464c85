//! Screen sharing's test bench: a known picture (a page of text-like strokes) shown on a
//! virtual display, and the last picture a peer recorded of a share.

use std::path::Path;

use tincan_media::codec::{IvfReader, Vp8Decoder};
use tincan_media::video::convert;
use tincan_media::VideoFrame;

use crate::Desktop;

/// A virtual display of `width`×`height` showing the page of text (its picture written in
/// `dir`), and that page in I420, as a share of it should arrive.
pub async fn desktop_showing_text(dir: &Path, width: u32, height: u32) -> (Desktop, VideoFrame) {
    let shown = screen_of_text(width, height);
    let picture = dir.join("screen.ppm");
    write_ppm(&picture, width, height, &shown);
    let desktop = Desktop::start_sized(width, height).await;
    desktop.show_picture(&picture);
    let expected = convert::rgb_to_i420(&shown, width, height, 0).expect("the shown picture");
    (desktop, expected)
}

/// A window of `width`×`height` showing the page of text on `desktop`, at (`x`, `y`), titled
/// "ImageMagick: window.ppm" (ImageMagick's `display`), once it is on view (xdotool finds
/// it), and its X id; closed when the process is dropped.
pub async fn window_showing_text(
    desktop: &Desktop,
    dir: &Path,
    width: u32,
    height: u32,
    at: (u32, u32),
) -> (tokio::process::Child, u32) {
    let picture = dir.join("window.ppm");
    write_ppm(&picture, width, height, &screen_of_text(width, height));
    let window = tokio::process::Command::new("display")
        .args(["-display", &desktop.display, "-geometry"])
        .arg(format!("+{}+{}", at.0, at.1))
        .arg(&picture)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("display runs (Debian package imagemagick)");
    for _ in 0..100 {
        let found = std::process::Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "window.ppm"])
            .env("DISPLAY", &desktop.display)
            .output()
            .expect("xdotool runs (Debian package xdotool)");
        let id = String::from_utf8_lossy(&found.stdout)
            .split_whitespace()
            .next()
            .and_then(|id| id.parse().ok());
        if let (true, Some(id)) = (found.status.success(), id) {
            return (window, id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the window showing text never came on view");
}

/// What a recording (`--record`'s `PEER.ivf`) holds: the last picture that decoded, how many
/// did, the last one's time in ms, and the size in the file's header.
pub struct Recorded {
    pub last: Option<VideoFrame>,
    pub frames: usize,
    pub last_ms: u64,
    pub size: (u16, u16),
}

pub fn last_recorded(path: &Path) -> Recorded {
    let mut ivf = IvfReader::open(path).expect("a recording");
    let mut decoder = Vp8Decoder::new().expect("a decoder");
    let mut recorded = Recorded {
        last: None,
        frames: 0,
        last_ms: 0,
        size: (ivf.width, ivf.height),
    };
    while let Some((data, ms)) = ivf.next_frame().expect("a readable recording") {
        if let Ok(picture) = decoder.decode(&data, 0) {
            recorded.last = Some(picture);
            recorded.frames += 1;
            recorded.last_ms = ms;
        }
    }
    recorded
}

/// A picture like a screen of text: a white page with rows of dark "words" (runs of thin
/// strokes), a title bar, a coloured side panel and a grey gradient; as packed RGB.
pub(crate) fn screen_of_text(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut rgb = vec![255u8; w * h * 3];
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        let i = (y * w + x) * 3;
        rgb[i..i + 3].copy_from_slice(&c);
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for y in 0..h {
        for x in 0..w {
            if y < 40 {
                put(x, y, [40, 60, 110]); // title bar
            } else if x < 200 {
                put(x, y, [230, 236, 245]); // side panel
            } else if y >= h - 60 {
                let g = (x * 255 / w) as u8;
                put(x, y, [g, g, g]); // gradient
            }
        }
    }
    // Lines of text: 14 px high, 22 px apart; words of 2-12 "letters" 7 px wide.
    for line in 0.. {
        let top = 60 + line * 22;
        if top + 14 >= h - 60 {
            break;
        }
        let mut x = 220;
        while x < w - 40 {
            let letters = 2 + (next() % 11) as usize;
            for _ in 0..letters {
                let shape = next();
                for dy in 0..14 {
                    for dx in 0..6 {
                        // Each letter a few strokes: a stem, a bar, a bowl's edge.
                        let on = (dx == 0 && shape & 1 == 1)
                            || (dy == 7 && shape & 2 == 2)
                            || (dx == 5 && shape & 4 == 4 && dy > 5)
                            || (dy == 13 && shape & 8 == 8)
                            || (dy == 3 && shape & 16 == 16 && dx < 4);
                        if on && x + dx < w - 40 {
                            put(x + dx, top + dy, [20, 20, 20]);
                        }
                    }
                }
                x += 7;
            }
            x += 7;
        }
    }
    rgb
}

/// Writes packed RGB as a PPM (P6) picture, which ImageMagick shows.
fn write_ppm(path: &Path, width: u32, height: u32, rgb: &[u8]) {
    let mut file = format!("P6\n{width} {height}\n255\n").into_bytes();
    file.extend_from_slice(rgb);
    std::fs::write(path, file).expect("the picture is written");
}

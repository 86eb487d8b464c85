//! A block code stamped into the luma plane that carries a frame's number and capture time
//! through VP8 and back, so a receiver can measure frame loss, order and latency from the
//! decoded picture alone.
//!
//! 96 bits: the frame number (32), the low 48 bits of the capture time in microseconds, and a
//! CRC-16 over both. Each bit is a square block, white (Y 235) for 1 and black (Y 16) for 0, in
//! three rows of 32 across the top of the picture. Blocks are as large as the picture allows
//! (a 40th of its width, a multiple of 8), so a 1280-wide frame has 32-pixel blocks: large,
//! flat squares that an encoder at any ordinary bitrate keeps.

use crate::{MediaError, VideoFrame};

const COLUMNS: u32 = 32;
const ROWS: u32 = 3;
const TOP: u32 = 16;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

/// What a stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub frame_number: u32,
    /// Capture time in microseconds since the UNIX epoch, modulo 2^48 (about 8.9 years).
    pub capture_us: u64,
}

impl Stamp {
    /// The capture time this stamp most likely means, given a wall-clock time near it.
    pub fn capture_us_near(&self, now_us: u64) -> u64 {
        let period = 1u64 << 48;
        let base = now_us & !(period - 1);
        let candidate = base | self.capture_us;
        if candidate > now_us + period / 2 {
            candidate.saturating_sub(period)
        } else {
            candidate
        }
    }
}

struct Layout {
    block: u32,
    left: u32,
}

fn layout(width: u32, height: u32) -> Result<Layout, MediaError> {
    let block = ((width / 40) & !7).max(8);
    if COLUMNS * block > width || TOP + ROWS * block > height {
        return Err(MediaError::Format(format!(
            "{width}x{height} is too small for a stamp (at least 256x40)"
        )));
    }
    let left = ((width - COLUMNS * block) / 2) & !15;
    Ok(Layout { block, left })
}

fn bits_of(stamp: Stamp) -> [bool; 96] {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&stamp.frame_number.to_be_bytes());
    bytes[4..10].copy_from_slice(&(stamp.capture_us & ((1 << 48) - 1)).to_be_bytes()[2..]);
    let crc = crc16(&bytes[..10]);
    bytes[10..].copy_from_slice(&crc.to_be_bytes());
    let mut bits = [false; 96];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
    }
    bits
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Writes the stamp into the frame (luma blocks, neutral chroma under them).
pub fn write(frame: &mut VideoFrame, stamp: Stamp) -> Result<(), MediaError> {
    let (width, height) = (frame.width(), frame.height());
    let Layout { block, left } = layout(width, height)?;
    let bits = bits_of(stamp);
    let (y_plane, u_plane, v_plane) = frame.planes_mut();
    for (i, bit) in bits.iter().enumerate() {
        let (row, col) = (i as u32 / COLUMNS, i as u32 % COLUMNS);
        let x0 = left + col * block;
        let y0 = TOP + row * block;
        let value = if *bit { WHITE } else { BLACK };
        for y in y0..y0 + block {
            let start = (y * width + x0) as usize;
            y_plane[start..start + block as usize].fill(value);
        }
        let cw = width / 2;
        for y in y0 / 2..(y0 + block) / 2 {
            let start = (y * cw + x0 / 2) as usize;
            u_plane[start..start + (block / 2) as usize].fill(128);
            v_plane[start..start + (block / 2) as usize].fill(128);
        }
    }
    Ok(())
}

/// Reads a stamp back from a (decoded) frame; None if there is none or it is damaged.
pub fn read(frame: &VideoFrame) -> Option<Stamp> {
    let (width, height) = (frame.width(), frame.height());
    let Layout { block, left } = layout(width, height).ok()?;
    let y_plane = frame.y();
    let mut bytes = [0u8; 12];
    let inner = block / 4;
    for i in 0..96u32 {
        let (row, col) = (i / COLUMNS, i % COLUMNS);
        let x0 = left + col * block + inner;
        let y0 = TOP + row * block + inner;
        let mut sum = 0u32;
        for y in y0..y0 + block / 2 {
            let start = (y * width + x0) as usize;
            sum += y_plane[start..start + (block / 2) as usize]
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>();
        }
        let mean = sum / (block / 2 * block / 2);
        if mean > u32::from(WHITE + BLACK) / 2 {
            bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
        }
    }
    let crc = u16::from_be_bytes([bytes[10], bytes[11]]);
    if crc != crc16(&bytes[..10]) {
        return None;
    }
    let frame_number = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&bytes[4..10]);
    Some(Stamp {
        frame_number,
        capture_us: u64::from_be_bytes(time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_on_a_clean_frame() {
        for (w, h) in [(320, 180), (640, 360), (1280, 720), (1920, 1080)] {
            let mut frame = VideoFrame::black(w, h).unwrap();
            let stamp = Stamp {
                frame_number: 0xDEAD_BEEF,
                capture_us: 0xABCD_1234_5678,
            };
            write(&mut frame, stamp).unwrap();
            assert_eq!(read(&frame), Some(stamp), "{w}x{h}");
        }
    }

    #[test]
    fn a_damaged_stamp_reads_as_none() {
        let mut frame = VideoFrame::black(640, 360).unwrap();
        write(
            &mut frame,
            Stamp {
                frame_number: 7,
                capture_us: 99,
            },
        )
        .unwrap();
        // Flip one block: the CRC catches it.
        let block = 16u32;
        let left = ((640 - 32 * block) / 2) & !15;
        let (y, _, _) = frame.planes_mut();
        for row in 16..32u32 {
            let start = (row * 640 + left) as usize;
            for v in &mut y[start..start + 16] {
                *v = if *v > 128 { 16 } else { 235 };
            }
        }
        assert_eq!(read(&frame), None);
        assert_eq!(
            read(&VideoFrame::black(640, 360).unwrap()),
            None,
            "unstamped"
        );
    }

    #[test]
    fn too_small_frames_are_refused() {
        let mut frame = VideoFrame::black(128, 32).unwrap();
        assert!(write(
            &mut frame,
            Stamp {
                frame_number: 1,
                capture_us: 1
            }
        )
        .is_err());
    }

    #[test]
    fn capture_time_is_unwrapped_near_now() {
        let now = 1_763_900_000_000_000u64;
        let stamp = Stamp {
            frame_number: 0,
            capture_us: (now - 5_000) & ((1 << 48) - 1),
        };
        assert_eq!(stamp.capture_us_near(now), now - 5_000);
    }
}

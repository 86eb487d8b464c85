//! The frames that flow through the engine.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::MediaError;

/// Audio is 48 kHz mono everywhere inside the engine.
pub const SAMPLE_RATE: u32 = 48_000;
/// One audio frame is 20 ms: Opus's packet size for calls.
pub const FRAME_SAMPLES: usize = 960;

/// Wall-clock microseconds since the UNIX epoch. Capture times use the wall clock so that two
/// processes on one machine (a test's sender and receiver) can compare them.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One picture in I420: a full-size Y plane, then U and V at half size each way.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    width: u32,
    height: u32,
    data: Vec<u8>,
    /// When the picture was taken ([`now_us`]).
    pub capture_us: u64,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VideoFrame({}x{} @{})",
            self.width, self.height, self.capture_us
        )
    }
}

impl VideoFrame {
    /// Bytes of an I420 picture of this size.
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * (w / 2) * (h / 2)
    }

    fn check_size(width: u32, height: u32) -> Result<(), MediaError> {
        if width == 0
            || height == 0
            || width % 2 != 0
            || height % 2 != 0
            || width > 8192
            || height > 8192
        {
            return Err(MediaError::Format(format!(
                "{width}x{height}: sizes must be even and between 2 and 8192"
            )));
        }
        Ok(())
    }

    /// A black picture.
    pub fn black(width: u32, height: u32) -> Result<Self, MediaError> {
        Self::check_size(width, height)?;
        let luma = (width * height) as usize;
        let mut data = vec![16u8; Self::i420_len(width, height)];
        data[luma..].fill(128);
        Ok(Self {
            width,
            height,
            data,
            capture_us: 0,
        })
    }

    /// Wraps I420 bytes (Y, then U, then V, tightly packed).
    pub fn from_i420(
        width: u32,
        height: u32,
        data: Vec<u8>,
        capture_us: u64,
    ) -> Result<Self, MediaError> {
        Self::check_size(width, height)?;
        let want = Self::i420_len(width, height);
        if data.len() != want {
            return Err(MediaError::Format(format!(
                "{width}x{height} I420 needs {want} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
            capture_us,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The whole I420 buffer.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    pub fn u(&self) -> &[u8] {
        let (l, c) = (self.luma_len(), self.chroma_len());
        &self.data[l..l + c]
    }

    pub fn v(&self) -> &[u8] {
        let (l, c) = (self.luma_len(), self.chroma_len());
        &self.data[l + c..]
    }

    /// The three planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (l, c) = (self.luma_len(), self.chroma_len());
        let (y, rest) = self.data.split_at_mut(l);
        let (u, v) = rest.split_at_mut(c);
        (y, u, v)
    }

    fn luma_len(&self) -> usize {
        (self.width * self.height) as usize
    }

    fn chroma_len(&self) -> usize {
        ((self.width / 2) * (self.height / 2)) as usize
    }
}

/// 20 ms of 48 kHz mono audio.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Exactly [`FRAME_SAMPLES`] samples.
    pub samples: Vec<i16>,
    /// When the first sample was captured ([`now_us`]).
    pub capture_us: u64,
}

impl std::fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AudioFrame({} samples @{})",
            self.samples.len(),
            self.capture_us
        )
    }
}

impl AudioFrame {
    pub fn silence(capture_us: u64) -> Self {
        Self {
            samples: vec![0; FRAME_SAMPLES],
            capture_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_split_the_buffer() {
        let mut frame = VideoFrame::black(4, 2).unwrap();
        assert_eq!(frame.data().len(), 8 + 2 + 2);
        let (y, u, v) = frame.planes_mut();
        y.fill(1);
        u.fill(2);
        v.fill(3);
        assert_eq!(frame.y(), &[1; 8]);
        assert_eq!(frame.u(), &[2; 2]);
        assert_eq!(frame.v(), &[3; 2]);
    }

    #[test]
    fn odd_or_wrong_sizes_are_refused() {
        assert!(VideoFrame::black(3, 2).is_err());
        assert!(VideoFrame::from_i420(4, 2, vec![0; 11], 0).is_err());
    }
}

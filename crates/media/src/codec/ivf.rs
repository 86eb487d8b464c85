//! IVF, the plain container libvpx's own tools read: a 32-byte file header, then each frame
//! as a 12-byte header (size, timestamp) and its bytes. Recording received VP8 as IVF keeps the
//! encoded frames as they came, so `vpxdec` or ffmpeg plays a recording without re-encoding.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::MediaError;

const SIGNATURE: &[u8; 4] = b"DKIF";
const VP8_FOURCC: &[u8; 4] = b"VP80";
const HEADER_LEN: u16 = 32;
/// Timestamps are in milliseconds.
const TIMEBASE_DEN: u32 = 1000;

/// Writes VP8 frames to an IVF file. The picture size is taken from the first keyframe.
pub struct IvfWriter {
    path: PathBuf,
    file: BufWriter<File>,
    frames: u32,
    size: Option<(u16, u16)>,
}

impl IvfWriter {
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| file_error(&path, e))?;
        let mut writer = Self {
            path,
            file: BufWriter::new(file),
            frames: 0,
            size: None,
        };
        writer.write_header()?;
        Ok(writer)
    }

    /// Appends a frame shown `ms` milliseconds into the recording.
    pub fn write(&mut self, frame: &[u8], ms: u64) -> Result<(), MediaError> {
        if self.size.is_none() {
            self.size = keyframe_size(frame);
        }
        let mut header = [0u8; 12];
        header[..4].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&ms.to_le_bytes());
        self.file
            .write_all(&header)
            .and_then(|_| self.file.write_all(frame))
            .map_err(|e| file_error(&self.path, e))?;
        self.frames += 1;
        Ok(())
    }

    /// Rewrites the header with the frame count and size, and flushes.
    pub fn finish(mut self) -> Result<(), MediaError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| file_error(&self.path, e))?;
        self.write_header()?;
        self.file.flush().map_err(|e| file_error(&self.path, e))
    }

    fn write_header(&mut self) -> Result<(), MediaError> {
        let (w, h) = self.size.unwrap_or((0, 0));
        let mut header = Vec::with_capacity(usize::from(HEADER_LEN));
        header.extend_from_slice(SIGNATURE);
        header.extend_from_slice(&0u16.to_le_bytes()); // version
        header.extend_from_slice(&HEADER_LEN.to_le_bytes());
        header.extend_from_slice(VP8_FOURCC);
        header.extend_from_slice(&w.to_le_bytes());
        header.extend_from_slice(&h.to_le_bytes());
        header.extend_from_slice(&TIMEBASE_DEN.to_le_bytes()); // rate (denominator)
        header.extend_from_slice(&1u32.to_le_bytes()); // scale (numerator)
        header.extend_from_slice(&self.frames.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes()); // unused
        self.file
            .write_all(&header)
            .map_err(|e| file_error(&self.path, e))
    }
}

/// A VP8 keyframe's picture size (RFC 6386 §9.1: 3-byte frame tag, start code, then 14-bit
/// width and height).
pub(crate) fn keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w, h))
}

/// A frame longer than this is refused as damage rather than read: a 4K keyframe is well
/// under 2 MB, and the length comes from the file.
pub const MAX_IVF_FRAME_BYTES: usize = 16 << 20;

/// Reads an IVF file back: its picture size and its frames with their timestamps.
pub struct IvfReader<R = BufReader<File>> {
    path: PathBuf,
    file: R,
    pub width: u16,
    pub height: u16,
    /// The frame count the header claims.
    pub frames: u32,
}

impl IvfReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let file = BufReader::new(File::open(&path).map_err(|e| file_error(&path, e))?);
        IvfReader::from_reader(file, path)
    }
}

impl<R: Read> IvfReader<R> {
    /// Reads IVF from `file`; `path` names it in errors.
    pub fn from_reader(mut file: R, path: impl Into<PathBuf>) -> Result<Self, MediaError> {
        let path = path.into();
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)
            .map_err(|e| file_error(&path, e))?;
        if &header[..4] != SIGNATURE || &header[8..12] != VP8_FOURCC {
            return Err(MediaError::File {
                path: path.display().to_string(),
                reason: "not a VP8 IVF file".into(),
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        Ok(Self {
            width: u16_at(12),
            height: u16_at(14),
            frames: u32::from_le_bytes([header[24], header[25], header[26], header[27]]),
            path,
            file,
        })
    }

    /// The next frame and its timestamp in ms, or None at the end.
    pub fn next_frame(&mut self) -> Result<Option<(Vec<u8>, u64)>, MediaError> {
        let mut header = [0u8; 12];
        match self.file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(file_error(&self.path, e)),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > MAX_IVF_FRAME_BYTES {
            return Err(MediaError::File {
                path: self.path.display().to_string(),
                reason: format!("a frame claims {len} bytes: the file is damaged"),
            });
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&header[4..]);
        // Read what is there rather than trusting the length with an allocation.
        let mut frame = Vec::new();
        (&mut self.file)
            .take(len as u64)
            .read_to_end(&mut frame)
            .map_err(|e| file_error(&self.path, e))?;
        if frame.len() < len {
            return Err(MediaError::File {
                path: self.path.display().to_string(),
                reason: "the last frame is cut short".into(),
            });
        }
        Ok(Some((frame, u64::from_le_bytes(ms))))
    }
}

fn file_error(path: &Path, e: std::io::Error) -> MediaError {
    MediaError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Vp8Config, Vp8Decoder, Vp8Encoder};
    use crate::video::{PatternSource, VideoFormat, VideoSource};

    #[test]
    fn frames_written_read_back_and_decode() {
        let dir = std::env::temp_dir().join(format!("tincan-ivf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.ivf");
        let format = VideoFormat {
            width: 320,
            height: 180,
            fps: 30,
        };
        let mut source = PatternSource::new(format).unwrap();
        let mut encoder = Vp8Encoder::new(&Vp8Config::new(320, 180, 30, 300)).unwrap();
        let mut writer = IvfWriter::create(&path).unwrap();
        let mut written = Vec::new();
        for i in 0..10u64 {
            let frame = source.read().unwrap();
            if let Some(encoded) = encoder.encode(&frame).unwrap() {
                writer.write(&encoded.data, i * 33).unwrap();
                written.push(encoded.data);
            }
        }
        writer.finish().unwrap();

        let mut reader = IvfReader::open(&path).unwrap();
        assert_eq!(
            (reader.width, reader.height, reader.frames),
            (320, 180, written.len() as u32)
        );
        let mut decoder = Vp8Decoder::new().unwrap();
        let mut i = 0;
        while let Some((frame, ms)) = reader.next_frame().unwrap() {
            assert_eq!(frame, written[i]);
            assert_eq!(ms, i as u64 * 33);
            let picture = decoder.decode(&frame, 0).unwrap();
            assert_eq!((picture.width(), picture.height()), (320, 180));
            i += 1;
        }
        assert_eq!(i, written.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

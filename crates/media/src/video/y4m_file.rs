//! y4m (YUV4MPEG2) files as a video source, looping at the end.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::{VideoFormat, VideoSource};
use crate::{now_us, MediaError, VideoFrame};

/// A reader whose header line was read (and checked) first, then put back in front.
pub type Checked<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// The longest header line read: the real ones are under 100 bytes.
const MAX_HEADER_BYTES: usize = 1024;

/// Plays a 4:2:0 8-bit y4m file over and over.
pub struct Y4mSource {
    path: PathBuf,
    decoder: y4m::Decoder<Checked<BufReader<File>>>,
    format: VideoFormat,
}

fn open(path: &Path) -> Result<(y4m::Decoder<Checked<BufReader<File>>>, VideoFormat), MediaError> {
    let file = File::open(path).map_err(|e| MediaError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    read_header(BufReader::new(file), path)
}

/// The y4m header of `reader` (named `path` in errors): a decoder for its frames and their
/// format, if they are 8-bit 4:2:0 of a size we take.
pub fn read_header<R: Read>(
    reader: R,
    path: &Path,
) -> Result<(y4m::Decoder<Checked<R>>, VideoFormat), MediaError> {
    let fail = |reason: String| MediaError::File {
        path: path.display().to_string(),
        reason,
    };
    let reader = check_size(reader).map_err(fail)?;
    let decoder = y4m::Decoder::new(reader).map_err(|e| fail(format!("not a y4m file: {e:?}")))?;
    let colorspace = decoder.get_colorspace();
    if !matches!(
        colorspace,
        y4m::Colorspace::C420
            | y4m::Colorspace::C420jpeg
            | y4m::Colorspace::C420paldv
            | y4m::Colorspace::C420mpeg2
    ) {
        return Err(fail(format!(
            "colour space {colorspace:?} is not 8-bit 4:2:0"
        )));
    }
    let rate = decoder.get_framerate();
    let fps = match rate.num.checked_div(rate.den) {
        None => 30,
        Some(fps) => fps.clamp(1, 240) as u32,
    };
    let format = VideoFormat {
        width: decoder.get_width() as u32,
        height: decoder.get_height() as u32,
        fps,
    };
    VideoFrame::black(format.width, format.height).map_err(|e| fail(e.to_string()))?;
    Ok((decoder, format))
}

/// Reads the header line and checks the picture size before the y4m crate sees it: the crate
/// adds up plane sizes without checking, so a header claiming a huge picture overflows it
/// (found by fuzzing, docs/fuzzing.md). Gives the reader back with the line in front.
fn check_size<R: Read>(mut reader: R) -> Result<Checked<R>, String> {
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while header.last() != Some(&b'\n') {
        if header.len() >= MAX_HEADER_BYTES {
            return Err("not a y4m file: its header line is too long".into());
        }
        match reader.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => header.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    for token in header.split(|b| b.is_ascii_whitespace()) {
        let Some((&tag, value)) = token.split_first() else {
            continue;
        };
        if tag == b'W' || tag == b'H' {
            let size = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u32>().ok());
            if !size.is_some_and(|v| (2..=8192).contains(&v)) {
                return Err(format!(
                    "the picture's {} is {:?}: sizes go from 2 to 8192",
                    if tag == b'W' { "width" } else { "height" },
                    String::from_utf8_lossy(value)
                ));
            }
        }
    }
    Ok(std::io::Cursor::new(header).chain(reader))
}

impl Y4mSource {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let (decoder, format) = open(&path)?;
        Ok(Self {
            path,
            decoder,
            format,
        })
    }
}

impl VideoSource for Y4mSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        let mut looped = false;
        loop {
            match read_frame(&mut self.decoder, self.format, &self.path)? {
                Some(frame) => return Ok(frame),
                None if !looped => {
                    looped = true;
                    self.decoder = open(&self.path)?.0;
                }
                None => {
                    return Err(MediaError::File {
                        path: self.path.display().to_string(),
                        reason: "the file has no frames".into(),
                    })
                }
            }
        }
    }
}

/// The next frame of `decoder` (of `format`, named `path` in errors), or None at the end.
pub fn read_frame<R: Read>(
    decoder: &mut y4m::Decoder<R>,
    format: VideoFormat,
    path: &Path,
) -> Result<Option<VideoFrame>, MediaError> {
    match decoder.read_frame() {
        Ok(frame) => {
            let mut data = Vec::with_capacity(VideoFrame::i420_len(format.width, format.height));
            data.extend_from_slice(frame.get_y_plane());
            data.extend_from_slice(frame.get_u_plane());
            data.extend_from_slice(frame.get_v_plane());
            VideoFrame::from_i420(format.width, format.height, data, now_us()).map(Some)
        }
        Err(y4m::Error::EOF) => Ok(None),
        Err(e) => Err(MediaError::File {
            path: path.display().to_string(),
            reason: format!("cannot read a frame: {e:?}"),
        }),
    }
}

/// Writes I420 frames to a y4m file (for Chromium's fake camera, and for recordings).
pub struct Y4mWriter {
    path: PathBuf,
    encoder: y4m::Encoder<std::io::BufWriter<File>>,
    format: VideoFormat,
}

impl Y4mWriter {
    pub fn create(path: impl AsRef<Path>, format: VideoFormat) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let fail = |reason: String| MediaError::File {
            path: path.display().to_string(),
            reason,
        };
        VideoFrame::black(format.width, format.height)?;
        let file = File::create(&path).map_err(|e| fail(e.to_string()))?;
        let encoder = y4m::encode(
            format.width as usize,
            format.height as usize,
            y4m::Ratio::new(format.fps.max(1) as usize, 1),
        )
        .with_colorspace(y4m::Colorspace::C420jpeg)
        .write_header(std::io::BufWriter::new(file))
        .map_err(|e| fail(format!("{e:?}")))?;
        Ok(Self {
            path,
            encoder,
            format,
        })
    }

    pub fn write(&mut self, frame: &VideoFrame) -> Result<(), MediaError> {
        if frame.width() != self.format.width || frame.height() != self.format.height {
            return Err(MediaError::Format(format!(
                "frame is {}x{}, the file is {}x{}",
                frame.width(),
                frame.height(),
                self.format.width,
                self.format.height
            )));
        }
        let out = y4m::Frame::new([frame.y(), frame.u(), frame.v()], None);
        self.encoder
            .write_frame(&out)
            .map_err(|e| MediaError::File {
                path: self.path.display().to_string(),
                reason: format!("{e:?}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{stamp, PatternSource};

    #[test]
    fn a_written_file_plays_back_in_a_loop_with_its_stamps() {
        let dir = std::env::temp_dir().join(format!("tincan-y4m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pattern.y4m");
        let format = VideoFormat {
            width: 320,
            height: 180,
            fps: 25,
        };
        let mut pattern = PatternSource::new(format).unwrap();
        let mut writer = Y4mWriter::create(&path, format).unwrap();
        for _ in 0..5 {
            writer.write(&pattern.read().unwrap()).unwrap();
        }
        drop(writer);

        let mut source = Y4mSource::open(&path).unwrap();
        assert_eq!(source.format(), format);
        let numbers: Vec<u32> = (0..12)
            .map(|_| stamp::read(&source.read().unwrap()).unwrap().frame_number)
            .collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);

        std::fs::write(dir.join("bad.y4m"), b"not a video").unwrap();
        assert!(matches!(
            Y4mSource::open(dir.join("bad.y4m")),
            Err(MediaError::File { .. })
        ));
        assert!(matches!(
            Y4mSource::open(dir.join("missing.y4m")),
            Err(MediaError::File { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn a_header_claiming_a_huge_picture_is_refused_before_the_decoder_sees_it() {
        // The input fuzzing found: the y4m crate overflowed adding up its plane sizes.
        let crash = b"YUV4MPEG2 W1640444444444444402 H11 F30:1\nFRAME\n";
        let e = read_header(&crash[..], Path::new("x.y4m")).err();
        assert!(e.is_some_and(|e| e.to_string().contains("width")));
        let ok = b"YUV4MPEG2 W4 H2 F30:1 C420jpeg\nFRAME\n\x10\x10\x10\x10\x10\x10\x10\x10\x80\x80\x80\x80";
        let (mut decoder, format) = read_header(&ok[..], Path::new("x.y4m")).unwrap();
        assert_eq!((format.width, format.height), (4, 2));
        let frame = read_frame(&mut decoder, format, Path::new("x.y4m")).unwrap();
        assert!(frame.is_some());
    }
}

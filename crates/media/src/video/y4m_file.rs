//! y4m (YUV4MPEG2) files as a video source, looping at the end.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{VideoFormat, VideoSource};
use crate::{now_us, MediaError, VideoFrame};

/// Plays a 4:2:0 8-bit y4m file over and over.
pub struct Y4mSource {
    path: PathBuf,
    decoder: y4m::Decoder<BufReader<File>>,
    format: VideoFormat,
}

fn open(path: &Path) -> Result<(y4m::Decoder<BufReader<File>>, VideoFormat), MediaError> {
    let fail = |reason: String| MediaError::File {
        path: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(|e| fail(e.to_string()))?;
    let decoder = y4m::Decoder::new(BufReader::new(file))
        .map_err(|e| fail(format!("not a y4m file: {e:?}")))?;
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
    let fps = if rate.den == 0 {
        30
    } else {
        ((rate.num + rate.den / 2) / rate.den).max(1) as u32
    };
    let format = VideoFormat {
        width: decoder.get_width() as u32,
        height: decoder.get_height() as u32,
        fps,
    };
    VideoFrame::black(format.width, format.height).map_err(|e| fail(e.to_string()))?;
    Ok((decoder, format))
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
            match self.decoder.read_frame() {
                Ok(frame) => {
                    let mut data = Vec::with_capacity(VideoFrame::i420_len(
                        self.format.width,
                        self.format.height,
                    ));
                    data.extend_from_slice(frame.get_y_plane());
                    data.extend_from_slice(frame.get_u_plane());
                    data.extend_from_slice(frame.get_v_plane());
                    return VideoFrame::from_i420(
                        self.format.width,
                        self.format.height,
                        data,
                        now_us(),
                    );
                }
                Err(y4m::Error::EOF) if !looped => {
                    looped = true;
                    self.decoder = open(&self.path)?.0;
                }
                Err(e) => {
                    return Err(MediaError::File {
                        path: self.path.display().to_string(),
                        reason: format!("cannot read a frame: {e:?}"),
                    })
                }
            }
        }
    }
}

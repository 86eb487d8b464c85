//! `record`: each remote peer's video as it arrived (VP8 in IVF, no re-encoding) and its audio
//! as played (WAV), in `DIR/<peer id>.ivf` and `DIR/<peer id>.wav`; its screen share, if it
//! shares, in `DIR/<peer id>-screen.ivf`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tincan_media::audio::{AudioSink, WavSink};
use tincan_media::codec::IvfWriter;
use tincan_media::{AudioFrame, MediaError};
use tincan_protocol::PeerId;

pub(crate) fn video_path(dir: &Path, peer: &PeerId, screen: bool) -> PathBuf {
    match screen {
        false => dir.join(format!("{peer}.ivf")),
        true => dir.join(format!("{peer}-screen.ivf")),
    }
}

pub(crate) fn audio_path(dir: &Path, peer: &PeerId) -> PathBuf {
    dir.join(format!("{peer}.wav"))
}

/// A peer's video recording, opened at its first decodable frame.
pub(crate) struct VideoRecorder {
    path: PathBuf,
    writer: Option<IvfWriter>,
    start: Instant,
}

impl VideoRecorder {
    pub fn new(dir: &Path, peer: &PeerId, screen: bool) -> Self {
        Self {
            path: video_path(dir, peer, screen),
            writer: None,
            start: Instant::now(),
        }
    }

    pub fn write(&mut self, frame: &[u8]) -> Result<(), MediaError> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                self.start = Instant::now();
                self.writer.insert(IvfWriter::create(&self.path)?)
            }
        };
        writer.write(frame, self.start.elapsed().as_millis() as u64)
    }

    pub fn finish(self) -> Result<(), MediaError> {
        match self.writer {
            Some(writer) => writer.finish(),
            None => Ok(()),
        }
    }
}

/// A peer's audio recording: what the playout thread played for it, from its first sound.
pub(crate) struct AudioRecorder {
    path: PathBuf,
    sink: Option<WavSink>,
}

impl AudioRecorder {
    pub fn new(dir: &Path, peer: &PeerId) -> Self {
        Self {
            path: audio_path(dir, peer),
            sink: None,
        }
    }

    pub fn write(&mut self, frame: &AudioFrame) -> Result<(), MediaError> {
        let sink = match &mut self.sink {
            Some(sink) => sink,
            None => self.sink.insert(WavSink::create(&self.path)?),
        };
        sink.write(frame)
    }

    pub fn finish(self) -> Result<(), MediaError> {
        match self.sink {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    }
}

//! wav files as a source (any rate and channel count, downmixed and resampled) and a sink
//! (48 kHz mono 16-bit).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{AudioSink, AudioSource, Framer, Resampler};
use crate::{now_us, AudioFrame, MediaError, SAMPLE_RATE};

/// Sample rates a wav source takes, Hz.
const MIN_RATE: u32 = 8_000;
const MAX_RATE: u32 = 384_000;
/// The longest wav source, in seconds (10 minutes: 110 MB as 48 kHz float).
const MAX_SECONDS: u64 = 600;

/// Plays a wav file, once or looping.
pub struct WavSource {
    path: PathBuf,
    /// The whole file as 48 kHz mono: call audio files are short.
    samples: Vec<f32>,
    at: usize,
    looping: bool,
    framer: Framer,
}

impl WavSource {
    pub fn open(path: impl AsRef<Path>, looping: bool) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| MediaError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_reader(std::io::BufReader::new(file), path, looping)
    }

    /// Plays wav from `reader`; `path` names it in errors.
    pub fn from_reader(
        reader: impl std::io::Read,
        path: impl Into<PathBuf>,
        looping: bool,
    ) -> Result<Self, MediaError> {
        let path = path.into();
        let fail = |reason: String| MediaError::File {
            path: path.display().to_string(),
            reason,
        };
        let reader = hound::WavReader::new(reader).map_err(|e| fail(e.to_string()))?;
        let spec = reader.spec();
        // Everything is held as 48 kHz mono: a rate no sound file has, or a long file, would
        // make that huge.
        if !(MIN_RATE..=MAX_RATE).contains(&spec.sample_rate) {
            return Err(fail(format!(
                "{} Hz is not a sample rate we play ({MIN_RATE}–{MAX_RATE})",
                spec.sample_rate
            )));
        }
        let seconds = u64::from(reader.duration()) / u64::from(spec.sample_rate);
        if seconds > MAX_SECONDS {
            return Err(fail(format!(
                "the file lasts {seconds} s; at most {MAX_SECONDS} s is played"
            )));
        }
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| fail(e.to_string()))?,
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| fail(e.to_string()))?
            }
        };
        let mono: Vec<f32> = interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect();
        let mut samples = Vec::with_capacity(mono.len());
        Resampler::new(spec.sample_rate, SAMPLE_RATE)?.process(&mono, &mut samples)?;
        if samples.is_empty() {
            return Err(fail("the file has no audio".into()));
        }
        Ok(Self {
            path,
            samples,
            at: 0,
            looping,
            framer: Framer::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AudioSource for WavSource {
    fn read(&mut self) -> Result<Option<AudioFrame>, MediaError> {
        while self.framer.len() < crate::FRAME_SAMPLES {
            if self.at >= self.samples.len() {
                if !self.looping {
                    break;
                }
                self.at = 0;
            }
            let end = (self.at + crate::FRAME_SAMPLES).min(self.samples.len());
            self.framer.push(&self.samples[self.at..end]);
            self.at = end;
        }
        if let Some(frame) = self.framer.pop(now_us()) {
            return Ok(Some(frame));
        }
        // The end of a file that does not loop: pad the last partial frame with silence.
        if self.framer.len() > 0 {
            let pad = vec![0.0; crate::FRAME_SAMPLES - self.framer.len()];
            self.framer.push(&pad);
            return Ok(self.framer.pop(now_us()));
        }
        Ok(None)
    }
}

/// Records audio to a 48 kHz mono 16-bit wav file.
pub struct WavSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
}

impl WavSink {
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&path, spec).map_err(|e| MediaError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            path,
            writer: Some(writer),
        })
    }

    /// Writes the header and closes the file (also done on drop, without the error).
    pub fn finish(mut self) -> Result<(), MediaError> {
        self.close()
    }

    fn close(&mut self) -> Result<(), MediaError> {
        if let Some(writer) = self.writer.take() {
            writer.finalize().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn fail(&self, e: hound::Error) -> MediaError {
        MediaError::File {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, frame: &AudioFrame) -> Result<(), MediaError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut result = Ok(());
        for &sample in &frame.samples {
            if let Err(e) = writer.write_sample(sample) {
                result = Err(e);
                break;
            }
        }
        result.map_err(|e| self.fail(e))
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::ToneSource;

    #[test]
    fn a_recorded_tone_plays_back_the_same() {
        let dir = std::env::temp_dir().join(format!("tincan-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        let mut tone = ToneSource::tone(440.0);
        let mut sink = WavSink::create(&path).unwrap();
        let mut sent = Vec::new();
        for _ in 0..10 {
            let frame = tone.read().unwrap().unwrap();
            sink.write(&frame).unwrap();
            sent.extend(frame.samples);
        }
        sink.finish().unwrap();
        let mut source = WavSource::open(&path, false).unwrap();
        let mut got = Vec::new();
        while let Some(frame) = source.read().unwrap() {
            got.extend(frame.samples);
        }
        assert_eq!(got, sent);
        std::fs::remove_dir_all(&dir).ok();
    }
}

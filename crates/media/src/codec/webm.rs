//! WebM recordings people can play: a peer's VP8 frames exactly as they arrived (no
//! re-encoding) and its sound as played, encoded to Opus, in one file muxed by libwebm (the
//! `webm` crate).
//!
//! The two streams come from different threads with different delays, while a WebM cluster
//! wants its blocks in time order across tracks. [`Interleave`] holds each stream's frames
//! briefly and lets out whichever is earlier; a stream that stalls (the camera turned off)
//! holds the other back at most [`HOLD_US`]. The muxer is built once a keyframe says the
//! picture's size (or when there is nothing but sound to write).

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use webm::mux::{AudioCodecId, AudioTrack, Segment, SegmentBuilder, VideoCodecId, VideoTrack};

use super::ivf::keyframe_size;
use super::{OpusEncoder, Vp8Config, Vp8Encoder};
use crate::{AudioFrame, MediaError, VideoFrame, SAMPLE_RATE};

/// How long one stream's frames wait for the other's before they are written anyway.
pub const HOLD_US: u64 = 1_000_000;
/// Frames held at most per stream (a stalled muxer cannot grow without bound): 10 s of sound,
/// 300 pictures.
const MAX_QUEUED: usize = 500;
/// The sound's bitrate in the file: speech at music quality.
const AUDIO_BPS: i32 = 64_000;
/// The picture size declared when no keyframe came before the first sound (players take the
/// size from the stream), and the black picture's such a file starts with.
const FALLBACK_SIZE: (u32, u32) = (640, 360);

/// One frame waiting for its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub at_us: u64,
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Which stream a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Video,
    Audio,
}

/// Orders two streams' blocks by time (sans IO: times are passed in). Each stream's own
/// times never go back (a late one is moved up to its predecessor's), and what comes out never
/// goes back either.
#[derive(Debug, Default)]
pub struct Interleave {
    video: VecDeque<Block>,
    audio: VecDeque<Block>,
    newest_us: u64,
    written_us: u64,
}

impl Interleave {
    pub fn push(&mut self, stream: Stream, mut block: Block) {
        let queue = match stream {
            Stream::Video => &mut self.video,
            Stream::Audio => &mut self.audio,
        };
        let floor = queue.back().map_or(self.written_us, |b| b.at_us);
        block.at_us = block.at_us.max(floor);
        self.newest_us = self.newest_us.max(block.at_us);
        queue.push_back(block);
        while queue.len() > MAX_QUEUED {
            queue.pop_front();
        }
    }

    /// The next block to write: the earlier head while both streams have one; with one
    /// stream empty, the other's head once it is [`HOLD_US`] older than the newest block (or
    /// at once with `all`, at the end).
    pub fn pop(&mut self, all: bool) -> Option<(Stream, Block)> {
        let (stream, queue) = match (self.video.front(), self.audio.front()) {
            (Some(v), Some(a)) if v.at_us <= a.at_us => (Stream::Video, &mut self.video),
            (Some(_), Some(_)) => (Stream::Audio, &mut self.audio),
            (Some(v), None) if all || v.at_us + HOLD_US <= self.newest_us => {
                (Stream::Video, &mut self.video)
            }
            (None, Some(a)) if all || a.at_us + HOLD_US <= self.newest_us => {
                (Stream::Audio, &mut self.audio)
            }
            _ => return None,
        };
        let mut block = queue.pop_front()?;
        block.at_us = block.at_us.max(self.written_us);
        self.written_us = block.at_us;
        Some((stream, block))
    }

    /// The first keyframe's picture size among the held video, if any.
    fn video_size(&self) -> Option<(u32, u32)> {
        self.video
            .iter()
            .find_map(|b| keyframe_size(&b.data))
            .map(|(w, h)| (u32::from(w), u32::from(h)))
    }
}

struct Muxer {
    segment: Segment<BufWriter<File>>,
    video: VideoTrack,
    audio: AudioTrack,
}

/// One peer's recording: `push_video` and `push_audio` with the time each is seen or heard
/// (µs on any clock both share), then `finish`.
pub struct WebmWriter {
    path: PathBuf,
    muxer: Option<Muxer>,
    queue: Interleave,
    encoder: OpusEncoder,
    /// Video is written from a keyframe on: a recording that starts mid-call skips the deltas
    /// before one (the caller asks the sender for one).
    seen_keyframe: bool,
    first_us: Option<u64>,
    last_us: u64,
}

impl WebmWriter {
    /// Creates the file now, so a folder that cannot be written fails here.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        // Created (and truncated) here; the muxer opens it again once the tracks are known.
        File::create(&path).map_err(|e| file_error(&path, e))?;
        Ok(Self {
            path,
            muxer: None,
            queue: Interleave::default(),
            encoder: OpusEncoder::new(AUDIO_BPS)?,
            seen_keyframe: false,
            first_us: None,
            last_us: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A VP8 frame shown at `at_us`.
    pub fn push_video(&mut self, frame: &[u8], at_us: u64) -> Result<(), MediaError> {
        let keyframe = keyframe_size(frame).is_some();
        self.seen_keyframe |= keyframe;
        if !self.seen_keyframe {
            return Ok(());
        }
        self.queue.push(
            Stream::Video,
            Block {
                at_us,
                data: frame.to_vec(),
                keyframe,
            },
        );
        self.drain(false)
    }

    /// 20 ms of sound heard from `at_us`.
    pub fn push_audio(&mut self, frame: &AudioFrame, at_us: u64) -> Result<(), MediaError> {
        let data = self.encoder.encode(frame)?;
        self.queue.push(
            Stream::Audio,
            Block {
                at_us,
                data,
                keyframe: true,
            },
        );
        self.drain(false)
    }

    fn drain(&mut self, all: bool) -> Result<(), MediaError> {
        while let Some((stream, block)) = self.queue.pop(all) {
            let muxer = match &mut self.muxer {
                Some(muxer) => muxer,
                None => {
                    let size = self.queue.video_size().or_else(|| {
                        (stream == Stream::Video)
                            .then(|| keyframe_size(&block.data))
                            .flatten()
                            .map(|(w, h)| (u32::from(w), u32::from(h)))
                    });
                    let muxer = self
                        .muxer
                        .insert(open(&self.path, size.unwrap_or(FALLBACK_SIZE))?);
                    if stream == Stream::Audio && size.is_none() {
                        // No picture yet (the camera is off): the file starts with a black one,
                        // since libwebm clusters on pictures and cannot finish a file whose
                        // video track is empty.
                        let black = black_keyframe()?;
                        self.first_us = Some(block.at_us);
                        muxer
                            .segment
                            .add_frame(muxer.video, &black, 0, true)
                            .map_err(|e| mux_error(&self.path, e))?;
                    }
                    muxer
                }
            };
            let first = *self.first_us.get_or_insert(block.at_us);
            let ns = (block.at_us - first) * 1000;
            let track: webm::mux::TrackNum = match stream {
                Stream::Video => muxer.video.into(),
                Stream::Audio => muxer.audio.into(),
            };
            muxer
                .segment
                .add_frame(track, &block.data, ns, block.keyframe)
                .map_err(|e| mux_error(&self.path, e))?;
            self.last_us = block.at_us;
        }
        Ok(())
    }

    /// Writes what is held and closes the file (its duration, cues). A recording in which
    /// nothing arrived is removed rather than left empty and unplayable.
    pub fn finish(mut self) -> Result<Option<PathBuf>, MediaError> {
        self.drain(true)?;
        let Some(muxer) = self.muxer.take() else {
            let _ = std::fs::remove_file(&self.path);
            return Ok(None);
        };
        // Segment duration in the segment's timecode scale (1 ms).
        let duration_ms = (self.last_us - self.first_us.unwrap_or(0)) / 1000 + 20;
        muxer
            .segment
            .finalize(Some(duration_ms))
            .map_err(|_| MediaError::File {
                path: self.path.display().to_string(),
                reason: "the recording could not be finished".into(),
            })?;
        Ok(Some(self.path))
    }
}

fn open(path: &Path, (width, height): (u32, u32)) -> Result<Muxer, MediaError> {
    let file = File::options()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    let writer = webm::mux::Writer::new(BufWriter::new(file));
    let fail = |e| mux_error(path, e);
    let builder = SegmentBuilder::new(writer)
        .map_err(fail)?
        .set_writing_app("Tincan")
        .map_err(fail)?;
    let (builder, video) = builder
        .add_video_track(width, height, VideoCodecId::VP8, None)
        .map_err(fail)?;
    let (builder, audio) = builder
        .add_audio_track(SAMPLE_RATE, 1, AudioCodecId::Opus, None)
        .map_err(fail)?;
    let builder = builder
        .set_codec_private(audio, &opus_head())
        .map_err(fail)?;
    Ok(Muxer {
        segment: builder.build(),
        video,
        audio,
    })
}

/// One black picture at [`FALLBACK_SIZE`], as a VP8 keyframe.
fn black_keyframe() -> Result<Vec<u8>, MediaError> {
    let (width, height) = FALLBACK_SIZE;
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(width, height, 30, 100))?;
    let black = VideoFrame::black(width, height)?;
    for _ in 0..4 {
        if let Some(frame) = encoder.encode(&black)? {
            return Ok(frame.data);
        }
    }
    Err(MediaError::Codec(
        "VP8 made no picture of a black frame".into(),
    ))
}

/// Opus's identification header (RFC 7845 §5.1), which Matroska carries as the audio
/// track's CodecPrivate: one channel, 48 kHz, 312 samples of encoder delay to skip.
fn opus_head() -> [u8; 19] {
    let mut head = [0u8; 19];
    head[..8].copy_from_slice(b"OpusHead");
    head[8] = 1;
    head[9] = 1;
    head[10..12].copy_from_slice(&312u16.to_le_bytes());
    head[12..16].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    head
}

fn file_error(path: &Path, e: std::io::Error) -> MediaError {
    MediaError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn mux_error(path: &Path, e: webm::mux::Error) -> MediaError {
    MediaError::File {
        path: path.display().to_string(),
        reason: format!("WebM: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(at_us: u64) -> Block {
        Block {
            at_us,
            data: vec![0],
            keyframe: true,
        }
    }

    fn drain(queue: &mut Interleave, all: bool) -> Vec<(Stream, u64)> {
        std::iter::from_fn(|| queue.pop(all))
            .map(|(s, b)| (s, b.at_us))
            .collect()
    }

    #[test]
    fn two_streams_come_out_in_time_order() {
        let mut q = Interleave::default();
        for t in [0, 33_000, 66_000] {
            q.push(Stream::Video, block(t));
        }
        for t in [10_000, 30_000, 50_000] {
            q.push(Stream::Audio, block(t));
        }
        // 66 ms waits: nothing of the sound after it has come yet.
        assert_eq!(
            drain(&mut q, false),
            [
                (Stream::Video, 0),
                (Stream::Audio, 10_000),
                (Stream::Audio, 30_000),
                (Stream::Video, 33_000),
                (Stream::Audio, 50_000)
            ]
        );
        assert_eq!(drain(&mut q, true), [(Stream::Video, 66_000)]);
    }

    #[test]
    fn a_stalled_stream_holds_the_other_back_at_most_the_hold() {
        let mut q = Interleave::default();
        q.push(Stream::Audio, block(0));
        q.push(Stream::Audio, block(500_000));
        assert!(q.pop(false).is_none());
        q.push(Stream::Audio, block(HOLD_US));
        assert_eq!(drain(&mut q, false), [(Stream::Audio, 0)]);
    }

    #[test]
    fn time_never_goes_back() {
        let mut q = Interleave::default();
        q.push(Stream::Audio, block(100_000));
        q.push(Stream::Audio, block(90_000));
        q.push(Stream::Video, block(200_000));
        q.push(Stream::Video, block(50_000));
        let out = drain(&mut q, true);
        assert!(out.windows(2).all(|w| w[0].1 <= w[1].1), "{out:?}");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn a_recording_with_nothing_in_it_leaves_no_file() {
        let path = std::env::temp_dir().join(format!("tincan-empty-{}.webm", std::process::id()));
        let writer = WebmWriter::create(&path).unwrap();
        assert!(path.exists());
        assert_eq!(writer.finish().unwrap(), None);
        assert!(!path.exists());
    }

    #[test]
    fn sound_alone_makes_a_file() {
        let path = std::env::temp_dir().join(format!("tincan-sound-{}.webm", std::process::id()));
        let mut writer = WebmWriter::create(&path).unwrap();
        for n in 0..100u64 {
            let frame = AudioFrame::silence(n * 20_000);
            writer.push_audio(&frame, n * 20_000).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), Some(path.clone()));
        let bytes = std::fs::read(&path).unwrap();
        // EBML magic, and the DocType says webm.
        assert_eq!(bytes[..4], [0x1a, 0x45, 0xdf, 0xa3]);
        assert!(bytes.windows(4).any(|w| w == b"webm"));
        assert!(bytes.windows(6).any(|w| w == b"A_OPUS"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn picture_and_sound_make_a_file() {
        use crate::codec::{Vp8Config, Vp8Encoder};
        use crate::video::{PatternSource, VideoFormat, VideoSource};
        let path = std::env::temp_dir().join(format!("tincan-av-{}.webm", std::process::id()));
        let format = VideoFormat {
            width: 320,
            height: 180,
            fps: 30,
        };
        let mut source = PatternSource::new(format).unwrap();
        let mut encoder = Vp8Encoder::new(&Vp8Config::new(320, 180, 30, 300)).unwrap();
        let mut writer = WebmWriter::create(&path).unwrap();
        for n in 0..150u64 {
            let at = n * 20_000;
            writer.push_audio(&AudioFrame::silence(at), at).unwrap();
            if n % 3 == 0 {
                if let Some(encoded) = encoder.encode(&source.read().unwrap()).unwrap() {
                    writer.push_video(&encoded.data, at).unwrap();
                }
            }
        }
        assert_eq!(writer.finish().unwrap(), Some(path.clone()));
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.windows(5).any(|w| w == b"V_VP8"));
        assert!(bytes.windows(6).any(|w| w == b"A_OPUS"));
        std::fs::remove_file(&path).unwrap();
    }
}

//! Codecs: VP8 (libvpx, through env-libvpx-sys) and Opus; IVF files (raw recordings, for
//! tests and tools) and WebM files (recordings people play).

mod ivf;
mod opus_codec;
mod vp8;
mod webm;

pub use self::webm::{Block, Interleave, Stream, WebmWriter, HOLD_US};
pub use ivf::{IvfReader, IvfWriter};
pub use opus_codec::{OpusDecoder, OpusEncoder};
pub use vp8::{threads_for, EncodedFrame, Vp8Config, Vp8Decoder, Vp8Encoder};

//! Codecs: VP8 (libvpx, through env-libvpx-sys) and Opus, and IVF files for recordings.

mod ivf;
mod opus_codec;
mod vp8;

pub use ivf::{IvfReader, IvfWriter};
pub use opus_codec::{OpusDecoder, OpusEncoder};
pub use vp8::{threads_for, EncodedFrame, Vp8Config, Vp8Decoder, Vp8Encoder};

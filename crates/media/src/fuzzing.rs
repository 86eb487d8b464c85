//! What the fuzz targets run (tests/fuzz, docs/fuzzing.md), and what replays their committed
//! corpus in every test run (tests/tests/server/fuzz_corpus.rs): the file readers fed arbitrary bytes. Each must return (an error is
//! fine) without panicking, hanging, or allocating more than the input can justify.

use std::path::Path;

use crate::audio::{AudioSource, WavSource};
use crate::codec::IvfReader;
use crate::video::y4m_file;

/// An IVF file: its header, then every frame.
pub fn ivf(data: &[u8]) {
    let Ok(mut reader) = IvfReader::from_reader(data, "fuzz.ivf") else {
        return;
    };
    while let Ok(Some(_)) = reader.next_frame() {}
}

/// A y4m file: its header, then every frame.
pub fn y4m(data: &[u8]) {
    let path = Path::new("fuzz.y4m");
    let Ok((mut decoder, format)) = y4m_file::read_header(data, path) else {
        return;
    };
    while let Ok(Some(_)) = y4m_file::read_frame(&mut decoder, format, path) {}
}

/// A wav file, played once to the end.
pub fn wav(data: &[u8]) {
    let Ok(mut source) = WavSource::from_reader(data, "fuzz.wav", false) else {
        return;
    };
    while let Ok(Some(_)) = source.read() {}
}

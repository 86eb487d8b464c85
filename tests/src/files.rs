//! Files for transfer tests: noise to send, a byte-for-byte comparison, a hash, what a
//! folder holds (hidden part files included), and the transfer a `tincan-cli` summary lists.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;

/// Writes `bytes` of noise (so nothing on the way can compress it) to `path`.
pub fn write_noise(path: &Path, bytes: u64, seed: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("a temp file"));
    let mut state = seed | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("write the file");
        left -= n as u64;
    }
    out.flush().expect("write the file");
}

/// Whether two files hold the same bytes.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    let open = |p: &Path| std::io::BufReader::new(std::fs::File::open(p).expect("readable"));
    let (mut a, mut b) = (open(a), open(b));
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x);
        if n != read_full(&mut b, &mut y) || x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).expect("readable") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

/// A file's SHA-256, as 64 lower-case hex digits (as transfers report it).
pub fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).expect("readable");
    let mut hash = Sha256::new();
    std::io::copy(&mut file, &mut hash).expect("readable");
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Every entry in `dir`, hidden ones included.
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The one transfer a peer's summary lists.
pub fn the_transfer(summary: &Value) -> &Value {
    let files = summary["files"].as_array().expect("a files list");
    assert_eq!(files.len(), 1, "one transfer: {files:#?}");
    &files[0]
}

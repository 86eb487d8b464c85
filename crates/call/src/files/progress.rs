//! What a transfer decides, without sockets or clocks: whether the bytes a peer sends fit
//! what it offered, whether the file it sent is the file it hashed, and when to report
//! progress.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Progress is reported at most this often…
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// …and at least every this share of the file (in 1/1000s), whichever comes later.
const REPORT_STEP_PERMILLE: u64 = 10;

/// The bytes of a file so far, as sent or as received: counted against its size and hashed.
pub(crate) struct Tally {
    size: u64,
    bytes: u64,
    hash: Sha256,
    reported: u64,
    reported_at: Option<Instant>,
}

/// Why the bytes do not make the file that was offered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Mismatch {
    #[error("it sent more than the {size} bytes it offered")]
    TooMany { size: u64 },
    #[error("it ended after {bytes} of the {size} bytes it offered")]
    TooFew { bytes: u64, size: u64 },
    #[error("the file's SHA-256 is not the one it was sent with: it was damaged on the way")]
    Hash,
    #[error("the file changed while it was sent ({bytes} bytes read, {size} offered)")]
    Changed { bytes: u64, size: u64 },
}

impl Tally {
    pub fn new(size: u64) -> Self {
        Self {
            size,
            bytes: 0,
            hash: Sha256::new(),
            reported: 0,
            reported_at: None,
        }
    }

    /// Counts and hashes `chunk`, refusing bytes past the offered size.
    pub fn add(&mut self, chunk: &[u8]) -> Result<(), Mismatch> {
        let after = self.bytes + chunk.len() as u64;
        if after > self.size {
            return Err(Mismatch::TooMany { size: self.size });
        }
        self.hash.update(chunk);
        self.bytes = after;
        Ok(())
    }

    /// The sender's end: every offered byte was read; the hash to send.
    pub fn sent(self) -> Result<String, Mismatch> {
        if self.bytes != self.size {
            return Err(Mismatch::Changed {
                bytes: self.bytes,
                size: self.size,
            });
        }
        Ok(tincan_protocol::hex(&self.hash.finalize()))
    }

    /// The receiver's end: every offered byte came, and they hash to `sha256`.
    pub fn received(self, sha256: &str) -> Result<String, Mismatch> {
        if self.bytes != self.size {
            return Err(Mismatch::TooFew {
                bytes: self.bytes,
                size: self.size,
            });
        }
        let ours = tincan_protocol::hex(&self.hash.finalize());
        if ours != sha256 {
            return Err(Mismatch::Hash);
        }
        Ok(ours)
    }

    /// The bytes to report now, if a report is due: not within [`REPORT_EVERY`] of the
    /// last, nor before another 1 % — except the last byte, always reported.
    pub fn report(&mut self, now: Instant) -> Option<u64> {
        let step = (self.size * REPORT_STEP_PERMILLE / 1000).max(1);
        let soon = self
            .reported_at
            .is_some_and(|at| now.saturating_duration_since(at) < REPORT_EVERY);
        let due = self.bytes == self.size && self.bytes > self.reported
            || (!soon && self.bytes >= self.reported + step);
        if !due {
            return None;
        }
        self.reported = self.bytes;
        self.reported_at = Some(now);
        Some(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_whole_only_with_every_byte_and_the_senders_hash() {
        let mut sent = Tally::new(6);
        sent.add(b"abc").unwrap();
        sent.add(b"def").unwrap();
        let hash = sent.sent().unwrap();
        assert_eq!(
            hash,
            "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
        );

        let mut got = Tally::new(6);
        got.add(b"abcdef").unwrap();
        assert_eq!(got.received(&hash), Ok(hash.clone()));

        let mut damaged = Tally::new(6);
        damaged.add(b"abcdeX").unwrap();
        assert_eq!(damaged.received(&hash), Err(Mismatch::Hash));

        let mut short = Tally::new(6);
        short.add(b"abc").unwrap();
        assert_eq!(
            short.received(&hash),
            Err(Mismatch::TooFew { bytes: 3, size: 6 })
        );

        let mut long = Tally::new(6);
        long.add(b"abcd").unwrap();
        assert_eq!(long.add(b"efg"), Err(Mismatch::TooMany { size: 6 }));
        long.add(b"ef").unwrap();
        assert!(long.sent().is_ok(), "the refused chunk was not counted");

        let mut changed = Tally::new(6);
        changed.add(b"ab").unwrap();
        assert_eq!(changed.sent(), Err(Mismatch::Changed { bytes: 2, size: 6 }));
        assert!(Tally::new(0).sent().is_ok(), "an empty file is a file");
    }

    #[test]
    fn progress_is_reported_every_percent_at_most_ten_times_a_second_and_at_the_end() {
        let t0 = Instant::now();
        let mut tally = Tally::new(1000);
        tally.add(&[0; 5]).unwrap();
        assert_eq!(tally.report(t0), None, "less than 1 %");
        tally.add(&[0; 5]).unwrap();
        assert_eq!(tally.report(t0), Some(10));
        tally.add(&[0; 500]).unwrap();
        assert_eq!(
            tally.report(t0 + Duration::from_millis(50)),
            None,
            "too soon"
        );
        assert_eq!(tally.report(t0 + Duration::from_millis(100)), Some(510));
        tally.add(&[0; 490]).unwrap();
        assert_eq!(
            tally.report(t0 + Duration::from_millis(101)),
            Some(1000),
            "the end is always reported"
        );
        assert_eq!(tally.report(t0 + Duration::from_secs(5)), None, "once");
    }
}

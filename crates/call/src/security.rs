//! A short code both people can read to each other to know no one sits between them: derived
//! from both DTLS certificate fingerprints (which the SDP carries and DTLS verifies), in an
//! order both ends agree on, so both ends compute the same code.

/// The `a=fingerprint:` values of an SDP.
pub(crate) fn fingerprints(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|f| f.trim().to_ascii_lowercase())
        .collect()
}

/// Twelve digits in three groups (`4821 0937 5512`) from two fingerprints, whichever end
/// computes it.
pub fn security_code(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a over both, twice with different seeds: enough mixing for a comparison code (the
    // fingerprints themselves are the cryptographic part).
    let hash = |seed: u64| {
        let mut h = seed;
        for byte in first.bytes().chain([0u8]).chain(second.bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let n = (hash(0xcbf2_9ce4_8422_2325) ^ hash(0x6c62_272e_07bb_0142).rotate_left(17))
        % 1_000_000_000_000;
    let digits = format!("{n:012}");
    format!("{} {} {}", &digits[..4], &digits[4..8], &digits[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_get_the_same_code() {
        let a = "sha-256 AB:CD";
        let b = "sha-256 12:34";
        assert_eq!(security_code(a, b), security_code(b, a));
        assert_ne!(security_code(a, b), security_code(a, "sha-256 12:35"));
        assert_eq!(security_code(a, b).len(), 14);
    }

    #[test]
    fn reads_fingerprints_from_sdp() {
        let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=audio\r\n";
        assert_eq!(fingerprints(sdp), vec!["sha-256 ab:cd".to_owned()]);
    }
}

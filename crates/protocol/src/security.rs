//! The security code two people read to each other to know that nobody sits between them,
//! and the commitment that keeps a server in the middle from choosing certificates that make
//! two different codes look alike (docs/calls.md, "The security code").
//!
//! Both are functions of the DTLS certificate fingerprints the SDP carries (`a=fingerprint:`
//! lines), which DTLS then checks against the certificates actually used. The guest page
//! computes the same values in JavaScript; the formulas are in docs/protocol.md.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Digits in a security code: 20, about 66 bits.
pub const SECURITY_CODE_DIGITS: usize = 20;

/// The `a=fingerprint:` values of an SDP, as `"sha-256 ab:cd:…"`: lower case, each once,
/// sorted (an SDP repeats them per media section).
pub fn fingerprints(sdp: &str) -> Vec<String> {
    let mut all: Vec<String> = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|f| f.to_ascii_lowercase())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// A hash of a peer's certificate fingerprints, sent before the peer shows them (in an offer
/// or answer) and before it has seen the other side's: 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Commitment(String);

/// A commitment that is not 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a commitment is 64 lower-case hex digits")]
pub struct BadCommitment;

impl TryFrom<String> for Commitment {
    type Error = BadCommitment;

    fn try_from(text: String) -> Result<Self, BadCommitment> {
        let hex = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex {
            Ok(Self(text))
        } else {
            Err(BadCommitment)
        }
    }
}

impl From<Commitment> for String {
    fn from(c: Commitment) -> Self {
        c.0
    }
}

impl std::fmt::Display for Commitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Commitment {
    /// The commitment to these fingerprints (as [`fingerprints`] gives them):
    /// SHA-256 of `"tincan-commit-v1\n"` and the fingerprints, one per line.
    pub fn to(fingerprints: &[String]) -> Self {
        let mut sorted: Vec<&str> = fingerprints.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut h = Sha256::new();
        h.update(b"tincan-commit-v1\n");
        for f in sorted {
            h.update(f.as_bytes());
            h.update(b"\n");
        }
        Self(crate::hex(&h.finalize()))
    }

    /// Whether an SDP's fingerprints are the ones committed to (and it has some).
    pub fn matches(&self, sdp: &str) -> bool {
        let shown = fingerprints(sdp);
        !shown.is_empty() && Self::to(&shown) == *self
    }
}

/// One side of a connection, for [`security_code`]: its peer id and its fingerprints.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub peer: &'a str,
    pub fingerprints: &'a [String],
}

/// Twenty digits in five groups (`4821 0937 5512 8830 1204`), the same at both ends of one
/// connection: SHA-256 over `"tincan-code-v1\n"`, the room code, then for each side in order
/// of peer id its id and its fingerprints; the first 16 bytes, big-endian, modulo 10²⁰.
pub fn security_code(room: &str, a: Side<'_>, b: Side<'_>) -> String {
    let (first, second) = if a.peer <= b.peer { (a, b) } else { (b, a) };
    let mut h = Sha256::new();
    h.update(b"tincan-code-v1\n");
    h.update(room.as_bytes());
    h.update(b"\n");
    for side in [first, second] {
        let mut fingerprints: Vec<&str> = side.fingerprints.iter().map(String::as_str).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        h.update(side.peer.as_bytes());
        h.update(b" ");
        h.update(fingerprints.join(",").as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut top = [0u8; 16];
    top.copy_from_slice(&digest[..16]);
    let n = u128::from_be_bytes(top) % 10u128.pow(SECURITY_CODE_DIGITS as u32);
    let digits = format!("{n:020}");
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(tail: &str) -> Vec<String> {
        vec![format!("sha-256 {tail}")]
    }

    #[test]
    fn reads_fingerprints_from_sdp_once_each_in_lower_case() {
        let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=audio\r\n\
                   a=fingerprint:sha-256 ab:cd\r\nm=video\r\na=fingerprint:sha-256  01:02\r\n";
        assert_eq!(fingerprints(sdp), vec!["sha-256 01:02", "sha-256 ab:cd"]);
    }

    #[test]
    fn both_ends_get_the_same_code_in_five_groups_of_four() {
        let (a, b) = (fp("ab:cd"), fp("12:34"));
        let alice = Side {
            peer: "p1",
            fingerprints: &a,
        };
        let bob = Side {
            peer: "p2",
            fingerprints: &b,
        };
        let code = security_code("room", alice, bob);
        assert_eq!(code, security_code("room", bob, alice));
        assert_eq!(code.len(), 24);
        assert_eq!(code.split(' ').count(), 5);
        assert!(code.split(' ').all(|g| g.len() == 4));
        // A known answer: the guest page's JavaScript must give the same (docs/protocol.md).
        assert_eq!(code, "1536 5249 3869 3116 2772");
    }

    #[test]
    fn a_substituted_fingerprint_changes_the_code_at_both_ends() {
        // Someone in the middle shows each end its own certificate instead of the other's.
        let (a, b, m1, m2) = (fp("aa"), fp("bb"), fp("m1"), fp("m2"));
        let side = |peer, fingerprints| Side { peer, fingerprints };
        let genuine = security_code("r", side("p1", &a), side("p2", &b));
        let at_alice = security_code("r", side("p1", &a), side("p2", &m1));
        let at_bob = security_code("r", side("p1", &m2), side("p2", &b));
        assert_ne!(at_alice, genuine);
        assert_ne!(at_bob, genuine);
        assert_ne!(at_alice, at_bob);
        // The room and the ids count too.
        assert_ne!(security_code("s", side("p1", &a), side("p2", &b)), genuine);
        assert_ne!(security_code("r", side("p1", &a), side("p3", &b)), genuine);
    }

    #[test]
    fn a_commitment_holds_only_for_the_fingerprints_committed_to() {
        let committed = Commitment::to(&fp("ab:cd"));
        // A known answer (docs/protocol.md).
        assert_eq!(
            committed.to_string(),
            "9b4ea0f70b35d31cca2d831821cf2fc67dabe47ee823f6e8c3e133831b0958be"
        );
        assert!(committed.matches("a=fingerprint:sha-256 AB:CD\r\n"));
        assert!(!committed.matches("a=fingerprint:sha-256 AB:CE\r\n"));
        assert!(!committed.matches("v=0\r\n"), "no fingerprint shown");
        assert!(
            !committed.matches("a=fingerprint:sha-256 AB:CD\r\na=fingerprint:sha-256 00:11\r\n")
        );
    }

    #[test]
    fn commitments_are_64_hex_digits_on_the_wire() {
        let c = Commitment::to(&fp("ab"));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Commitment>(&json).unwrap(), c);
        for bad in ["\"abc\"", &format!("\"{}\"", "A".repeat(64)), "\"\"", "7"] {
            assert!(serde_json::from_str::<Commitment>(bad).is_err(), "{bad}");
        }
    }
}

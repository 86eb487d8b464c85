//! Finding a room on the local network without telling anyone its code.
//!
//! An app asked to join a code it does not host asks each Tincan server it finds on the LAN
//! (DNS-SD `_tincan._tcp`) `GET /lan/lookup?tag=TAG&nonce=NONCE`:
//!
//! - [`room_tag`] is a 40-bit hash of the code. A room code has 60 bits, so about a million
//!   codes share each tag: a server that sees the tag learns nothing it could join with.
//! - A server that hosts a room with that tag answers `{"proof": "..."}`, [`proof`] of the
//!   nonce keyed by the code. Only someone who knows the code can make it, so a stranger's
//!   server that claims every tag cannot lure the code out of the app: the app checks the
//!   proof ([`proof_matches`]) before it sends the code anywhere.
//! - A server that hosts no such room answers 404. Each lookup counts against the asker's
//!   join budget (30 a minute), like a join.
//!
//! The wire format is in `docs/protocol.md` ("Finding a room on the LAN").

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{hex, RoomCode};

/// The DNS-SD service type every LAN-hosting Tincan server advertises.
pub const SERVICE_TYPE: &str = "_tincan._tcp.local.";
/// The HTTP path of the lookup.
pub const LOOKUP_PATH: &str = "/lan/lookup";
/// Hex characters in a tag (40 bits).
pub const TAG_HEX_LEN: usize = 10;
/// Hex characters in a nonce (128 bits).
pub const NONCE_HEX_LEN: usize = 32;

/// The answer to a lookup that matched a hosted room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupReply {
    /// [`proof`] of the asker's nonce, hex.
    pub proof: String,
}

/// The room's 40-bit tag, hex.
pub fn room_tag(code: &RoomCode) -> String {
    let digest = Sha256::new()
        .chain_update(b"tincan lan tag v1\0")
        .chain_update(code.to_string().as_bytes())
        .finalize();
    hex(&digest[..TAG_HEX_LEN / 2])
}

/// What a server that hosts `code` answers to `nonce`, hex.
pub fn proof(code: &RoomCode, nonce: &str) -> String {
    hex(&proof_mac(code, nonce).finalize().into_bytes())
}

fn proof_mac(code: &RoomCode, nonce: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("tincan lan proof v1\0{code}").as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(nonce.as_bytes());
    mac
}

/// Whether `answer` proves its sender knows `code` (compared in constant time).
pub fn proof_matches(code: &RoomCode, nonce: &str, answer: &str) -> bool {
    match unhex(answer) {
        Some(bytes) => proof_mac(code, nonce).verify_slice(&bytes).is_ok(),
        None => false,
    }
}

/// A fresh random nonce, hex.
pub fn new_nonce() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; NONCE_HEX_LEN / 2];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// True for a well-formed tag or nonce of `len` lowercase hex characters.
pub fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_short_stable_and_differ_between_codes() {
        let a = RoomCode::parse("k7wq-2m9x-d4tp").unwrap();
        let b = RoomCode::parse("k7wq-2m9x-d4tq").unwrap();
        assert_eq!(
            room_tag(&a),
            room_tag(&RoomCode::parse("K7WQ2M9XD4TP").unwrap())
        );
        assert!(is_hex(&room_tag(&a), TAG_HEX_LEN));
        assert_ne!(room_tag(&a), room_tag(&b));
    }

    #[test]
    fn only_the_code_makes_a_proof_and_only_for_that_nonce() {
        let code = RoomCode::parse("k7wq-2m9x-d4tp").unwrap();
        let other = RoomCode::parse("k7wq-2m9x-d4tq").unwrap();
        let nonce = new_nonce().unwrap();
        assert!(is_hex(&nonce, NONCE_HEX_LEN));
        let answer = proof(&code, &nonce);
        assert!(proof_matches(&code, &nonce, &answer));
        assert!(!proof_matches(&other, &nonce, &answer));
        assert!(!proof_matches(&code, &new_nonce().unwrap(), &answer));
        for junk in ["", "zz", "abc", &"0".repeat(64), &"f".repeat(1000)] {
            assert!(!proof_matches(&code, &nonce, junk), "{junk}");
        }
    }
}

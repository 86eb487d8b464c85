//! Personal codes: who a person is, whichever server or computer they are on, so that others
//! can ring them (docs/protocol.md, "Ringing people").
//!
//! Each install has an Ed25519 key pair ([`PersonalKey`]); its personal code is 80 bits of
//! the SHA-256 of the public key, written like a room code but with four groups
//! (`k7wq-2m9x-d4tp-8rna`). A client registers its code on a server by showing the public key
//! and signing the server's nonce with the private one, so a server gives a code only to the
//! holder of the key behind it; finding another key with the same code takes about 2⁸⁰ tries.

use std::fmt;

use ring::signature::{self, Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

use crate::code::{read_base32, write_base32, Misread};

/// How many bits of the key's hash a personal code carries.
pub const PERSONAL_CODE_BITS: u32 = 80;
const CHARS: usize = 16;

/// A personal code in canonical form (lower case, grouped with dashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonalCode {
    value: u128,
}

/// Why a string is not a personal code, for the person who typed or pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalCodeError {
    #[error(
        "a personal code has 16 letters and digits (like k7wq-2m9x-d4tp-8rna); this one has {0}"
    )]
    WrongLength(usize),
    #[error("'{0}' cannot appear in a personal code; codes use letters and digits only")]
    BadCharacter(char),
}

impl PersonalCode {
    /// The code of the person holding the private half of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let mut h = Sha256::new();
        h.update(b"tincan-person-v1\n");
        h.update(key.0);
        let digest = h.finalize();
        let mut top = [0u8; 16];
        top[6..].copy_from_slice(&digest[..10]);
        Self {
            value: u128::from_be_bytes(top),
        }
    }

    /// Parses what a person typed or pasted: any case, with or without separators.
    pub fn parse(input: &str) -> Result<Self, PersonalCodeError> {
        match read_base32(input, CHARS) {
            Ok(value) => Ok(Self { value }),
            Err(Misread::Length(n)) => Err(PersonalCodeError::WrongLength(n)),
            Err(Misread::Character(c)) => Err(PersonalCodeError::BadCharacter(c)),
        }
    }
}

impl fmt::Display for PersonalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&write_base32(self.value, CHARS))
    }
}

impl std::str::FromStr for PersonalCode {
    type Err = PersonalCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for PersonalCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PersonalCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 public key: 64 lower-case hex digits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// A signature proving a registration: 128 lower-case hex digits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof(pub [u8; 64]);

/// Why a registration was not proved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the signature does not match the key: register with the key the code belongs to")]
    BadSignature,
    #[error("the proof was made for server {signed_for}, not this one ({here})")]
    WrongServer { signed_for: String, here: String },
}

/// Why a personal key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("a personal key file holds 64 hex digits; this one does not")]
    Malformed,
}

impl PublicKey {
    /// Checks a registration: `proof` must be this key's signature of the text
    /// [`registration_text`] makes of `host` and `nonce`.
    pub fn verify(&self, host: &str, nonce: &str, proof: &Proof) -> Result<(), ProofError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, self.0)
            .verify(&registration_text(host, nonce), &proof.0)
            .map_err(|_| ProofError::BadSignature)
    }
}

/// What a client signs to register: the protocol's label, the server as the client reached
/// it (`host[:port]`, lower case; a relayed proof would name the wrong server) and the
/// server's nonce from `welcome`.
pub fn registration_text(host: &str, nonce: &str) -> Vec<u8> {
    format!("tincan-register-v1\n{}\n{nonce}", canonical_host(host)).into_bytes()
}

/// `host[:port]` in lower case, without a port that is a scheme's default (80, 443): what a
/// client dialled and what the server's `Host` header says then compare equal.
pub fn canonical_host(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    for default in [":80", ":443"] {
        if let Some(bare) = host.strip_suffix(default) {
            return bare.to_owned();
        }
    }
    host
}

/// One install's identity: an Ed25519 key pair, kept as its 32-byte seed.
pub struct PersonalKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl fmt::Debug for PersonalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the seed.
        write!(f, "PersonalKey({})", self.code())
    }
}

impl Clone for PersonalKey {
    fn clone(&self) -> Self {
        Self::from_seed(self.seed)
    }
}

impl PersonalKey {
    /// A new identity from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(seed))
    }

    /// The identity kept as `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // Any 32 bytes are a valid Ed25519 seed; ring only refuses other lengths.
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .unwrap_or_else(|_| unreachable!("a 32-byte seed is always accepted"));
        Self { seed, pair }
    }

    /// The identity as a file keeps it: the seed in hex.
    pub fn to_text(&self) -> String {
        crate::hex(&self.seed)
    }

    /// Reads what [`PersonalKey::to_text`] wrote.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let bytes = crate::unhex(text.trim()).ok_or(KeyError::Malformed)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self::from_seed(seed))
    }

    pub fn public(&self) -> PublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(key)
    }

    pub fn code(&self) -> PersonalCode {
        PersonalCode::of(&self.public())
    }

    /// Signs a registration with `host` (as the client dialled it) and the server's nonce.
    pub fn prove(&self, host: &str, nonce: &str) -> Proof {
        let mut proof = [0u8; 64];
        proof.copy_from_slice(self.pair.sign(&registration_text(host, nonce)).as_ref());
        Proof(proof)
    }
}

macro_rules! hex_serde {
    ($ty:ident, $len:expr, $what:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&crate::hex(&self.0))
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                crate::unhex(&text)
                    .and_then(|bytes| <[u8; $len]>::try_from(bytes).ok())
                    .map($ty)
                    .ok_or_else(|| serde::de::Error::custom($what))
            }
        }
    };
}

hex_serde!(PublicKey, 32, "a public key is 64 hex digits");
hex_serde!(Proof, 64, "a proof is 128 hex digits");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_proves_its_own_code_and_no_other() {
        let ada = PersonalKey::from_seed([7; 32]);
        let mallory = PersonalKey::from_seed([9; 32]);
        let proof = ada.prove("signal.example:8443", "n0nce");
        assert_eq!(
            ada.public().verify("signal.example:8443", "n0nce", &proof),
            Ok(())
        );
        // Another key, another nonce, another server: refused.
        assert!(mallory
            .public()
            .verify("signal.example:8443", "n0nce", &proof)
            .is_err());
        assert!(ada
            .public()
            .verify("signal.example:8443", "other", &proof)
            .is_err());
        assert!(ada
            .public()
            .verify("evil.example:8443", "n0nce", &proof)
            .is_err());
        assert_ne!(ada.code(), mallory.code());
    }

    #[test]
    fn the_code_is_stable_and_documented() {
        // docs/protocol.md gives this known answer.
        let key = PersonalKey::from_seed([7; 32]);
        assert_eq!(
            crate::hex(&key.public().0),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(key.code().to_string(), "waj9-ev77-q593-7y9c");
        assert_eq!(
            PersonalKey::from_text(&key.to_text()).unwrap().code(),
            key.code()
        );
        assert_eq!(
            PersonalCode::parse(&key.code().to_string().to_uppercase()).unwrap(),
            key.code()
        );
    }

    #[test]
    fn default_ports_and_case_do_not_change_the_host() {
        assert_eq!(canonical_host("Signal.Example:443"), "signal.example");
        assert_eq!(canonical_host("signal.example"), "signal.example");
        assert_eq!(canonical_host("127.0.0.1:8080"), "127.0.0.1:8080");
        let key = PersonalKey::from_seed([1; 32]);
        let proof = key.prove("SIGNAL.example:80", "x");
        assert_eq!(key.public().verify("signal.example", "x", &proof), Ok(()));
    }

    #[test]
    fn malformed_codes_and_keys_say_what_is_wrong() {
        assert_eq!(
            PersonalCode::parse("k7wq-2m9x-d4tp"),
            Err(PersonalCodeError::WrongLength(12))
        );
        assert_eq!(
            PersonalCode::parse("k7wq-2m9x-d4tp-8rn!"),
            Err(PersonalCodeError::BadCharacter('!'))
        );
        assert_eq!(
            PersonalKey::from_text("abc").unwrap_err(),
            KeyError::Malformed
        );
        assert!(serde_json::from_str::<PublicKey>("\"00\"").is_err());
        assert!(serde_json::from_str::<Proof>(&format!("\"{}\"", "zz".repeat(64))).is_err());
    }
}

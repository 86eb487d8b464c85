//! Room codes: 60 random bits, written as 12 characters of Crockford base32 in three groups
//! (`k7wq-2m9x-d4tp`).
//!
//! Crockford's alphabet leaves out `i`, `l`, `o` and `u`, so a code read aloud or copied by hand
//! survives: parsing ignores case, separators and spaces, and reads `i`/`l` as `1`, `o` as `0`
//! and `u` as `v`.

use std::fmt;
use std::str::FromStr;

/// How many random bits a room code carries.
pub const ROOM_CODE_BITS: u32 = 60;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const CHARS: usize = 12;
const GROUP: usize = 4;

/// A room code in canonical form: lower case, grouped with dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode {
    /// The 60-bit value; the canonical text is derived from it on demand.
    value: u64,
}

/// Why a string is not a room code. The messages are written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomCodeError {
    #[error("a room code has 12 letters and digits (like k7wq-2m9x-d4tp); this one has {0}")]
    WrongLength(usize),
    #[error("'{0}' cannot appear in a room code; codes use letters and digits only")]
    BadCharacter(char),
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

impl RoomCode {
    /// A fresh code from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RoomCodeError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| RoomCodeError::Random(e.to_string()))?;
        Ok(Self::from_value(u64::from_le_bytes(bytes)))
    }

    /// The code for a 60-bit value (higher bits are dropped). Useful for tests and tools.
    pub fn from_value(value: u64) -> Self {
        Self {
            value: value & ((1u64 << ROOM_CODE_BITS) - 1),
        }
    }

    /// The 60-bit value behind the code.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Parses what a person typed: any case, with or without separators (`-`, space, `_`, `.`),
    /// forgiving look-alike characters.
    pub fn parse(input: &str) -> Result<Self, RoomCodeError> {
        match read_base32(input, CHARS) {
            Ok(value) => Ok(Self {
                value: value as u64,
            }),
            Err(Misread::Length(n)) => Err(RoomCodeError::WrongLength(n)),
            Err(Misread::Character(c)) => Err(RoomCodeError::BadCharacter(c)),
        }
    }
}

/// Why text is not a code of the length asked for.
pub(crate) enum Misread {
    Length(usize),
    Character(char),
}

/// Reads `chars` Crockford base32 digits as a person typed them (any case, separators and
/// spaces ignored, look-alikes forgiven) into a number, the first digit highest.
pub(crate) fn read_base32(input: &str, chars: usize) -> Result<u128, Misread> {
    let mut value = 0u128;
    let mut count = 0usize;
    for c in input.trim().chars() {
        if matches!(c, '-' | ' ' | '_' | '.') {
            continue;
        }
        let digit = digit_of(c).ok_or(Misread::Character(c))?;
        count += 1;
        if count <= chars {
            value = (value << 5) | u128::from(digit);
        }
    }
    if count != chars {
        return Err(Misread::Length(count));
    }
    Ok(value)
}

/// Writes the low `5 * chars` bits of `value` as `chars` base32 digits in groups of four
/// joined by dashes (`k7wq-2m9x-d4tp`).
pub(crate) fn write_base32(value: u128, chars: usize) -> String {
    let mut out = String::with_capacity(chars + chars / GROUP);
    for i in 0..chars {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        let shift = 5 * (chars - 1 - i);
        out.push(ALPHABET[((value >> shift) & 31) as usize] as char);
    }
    out
}

fn digit_of(c: char) -> Option<u8> {
    let c = match c.to_ascii_lowercase() {
        'i' | 'l' => '1',
        'o' => '0',
        'u' => 'v',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&write_base32(u128::from(self.value), CHARS))
    }
}

impl FromStr for RoomCode {
    type Err = RoomCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for RoomCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RoomCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_three_groups_of_four() {
        let code = RoomCode::from_value(0);
        assert_eq!(code.to_string(), "0000-0000-0000");
        let code = RoomCode::from_value(u64::MAX);
        assert_eq!(code.to_string(), "zzzz-zzzz-zzzz");
    }

    #[test]
    fn typed_forms_parse_to_the_same_code() {
        let code = RoomCode::parse("k7wq-2m9x-d4tp").unwrap();
        for typed in [
            "K7WQ-2M9X-D4TP",
            "k7wq2m9xd4tp",
            " k7wq 2m9x d4tp ",
            "k7wq_2m9x.d4tp",
        ] {
            assert_eq!(RoomCode::parse(typed).unwrap(), code, "{typed}");
        }
        assert_eq!(code.to_string(), "k7wq-2m9x-d4tp");
    }

    #[test]
    fn look_alike_characters_are_forgiven() {
        let code = RoomCode::parse("1110-0000-vvvv").unwrap();
        assert_eq!(RoomCode::parse("iLlo-OoOo-uUvV").unwrap(), code);
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert_eq!(
            RoomCode::parse("k7wq-2m9x"),
            Err(RoomCodeError::WrongLength(8))
        );
        assert_eq!(
            RoomCode::parse("k7wq-2m9x-d4tp-a"),
            Err(RoomCodeError::WrongLength(13))
        );
        assert_eq!(
            RoomCode::parse("k7wq-2m9x-d4t!"),
            Err(RoomCodeError::BadCharacter('!'))
        );
        assert_eq!(RoomCode::parse(""), Err(RoomCodeError::WrongLength(0)));
    }

    #[test]
    fn generated_codes_round_trip_and_differ() {
        let a = RoomCode::generate().unwrap();
        let b = RoomCode::generate().unwrap();
        assert_ne!(a, b, "two 60-bit draws collided");
        assert_eq!(RoomCode::parse(&a.to_string()).unwrap(), a);
        assert!(a.value() < 1 << ROOM_CODE_BITS);
    }

    #[test]
    fn generated_codes_use_all_sixty_bits() {
        // Over 64 draws every one of the 60 bits should be seen both set and clear; a stuck
        // bit would mean fewer bits of entropy than the code promises.
        let (mut ones, mut zeros) = (0u64, 0u64);
        for _ in 0..64 {
            let v = RoomCode::generate().unwrap().value();
            ones |= v;
            zeros |= !v;
        }
        let mask = (1u64 << ROOM_CODE_BITS) - 1;
        assert_eq!(ones & mask, mask);
        assert_eq!(zeros & mask, mask);
    }
}

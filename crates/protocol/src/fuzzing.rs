//! What the fuzz targets run (tests/fuzz, docs/fuzzing.md), and what replays their committed
//! corpus in every test run (tests/tests/server/fuzz_corpus.rs): everything that reads text a
//! peer or a server sent. Each must return without panicking, and what decodes must encode
//! back to the same message.

use crate::{decode_client, decode_server, fingerprints, Commitment, RoomCode};

/// One frame as the server (a client message) and as a client (a server message) reads it,
/// a room code as typed, and an SDP's fingerprints as the security code reads them.
pub fn decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = decode_client(text) {
        let again = decode_client(&message.to_json());
        assert_eq!(again.as_ref(), Ok(&message), "a client message round trip");
    }
    if let Ok(message) = decode_server(text) {
        let again = decode_server(&message.to_json());
        assert_eq!(again.as_ref(), Ok(&message), "a server message round trip");
    }
    if let Ok(code) = RoomCode::parse(text) {
        assert_eq!(RoomCode::parse(&code.to_string()), Ok(code));
    }
    let shown = fingerprints(text);
    let _ = Commitment::to(&shown).matches(text);
}

//! Decoding that tells apart the ways a message can be wrong, so the server can answer with
//! the right error code and keep the connection.

use serde::de::DeserializeOwned;

use crate::{ClientMessage, ErrorCode, ServerMessage};

/// Why a text frame is not a message of this protocol version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON object with a \"type\" field: {0}")]
    Malformed(String),
    #[error("unknown message type \"{0}\"")]
    UnknownType(String),
    #[error("bad \"{kind}\" message: {detail}")]
    BadFields { kind: String, detail: String },
}

impl DecodeError {
    /// The error code the server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed(_) | Self::BadFields { .. } => ErrorCode::BadMessage,
            Self::UnknownType(_) => ErrorCode::UnknownType,
        }
    }

    /// The message's type, when it had a readable one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Malformed(_) => None,
            Self::UnknownType(kind) | Self::BadFields { kind, .. } => Some(kind),
        }
    }
}

/// Decodes one message from a client.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    decode(text, &ClientMessage::TYPE_NAMES)
}

/// Decodes one message from a server. A client should skip an `UnknownType` (a newer server
/// may send more) and treat the others as a broken server.
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    decode(text, &ServerMessage::TYPE_NAMES)
}

fn decode<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    // The fast path parses once; the slow path runs only for bad input.
    match serde_json::from_str::<T>(text) {
        Ok(message) => Ok(message),
        Err(full) => {
            // Only bad input gets here, so a second, generic parse costs nothing that matters.
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| DecodeError::Malformed(shorten(&e.to_string())))?;
            let kind = value
                .as_object()
                .and_then(|object| object.get("type"))
                .and_then(|kind| kind.as_str())
                .ok_or_else(|| {
                    DecodeError::Malformed("expected an object with a string \"type\"".into())
                })?;
            if known.contains(&kind) {
                Err(DecodeError::BadFields {
                    kind: kind.to_owned(),
                    detail: shorten(&full.to_string()),
                })
            } else {
                Err(DecodeError::UnknownType(shorten(kind)))
            }
        }
    }
}

/// Keeps error text (which may echo the input) short enough to send back.
fn shorten(text: &str) -> String {
    const MAX: usize = 160;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IceCandidate, PeerId, Signal};

    #[test]
    fn decodes_every_client_type() {
        let cases: [&str; 12] = [
            r#"{"type":"hello","version":1,"client":"t"}"#,
            r#"{"type":"create_room"}"#,
            r#"{"type":"join","room":"k7wq2m9xd4tp","name":"Ada"}"#,
            r#"{"type":"signal","to":"p1","signal":{"kind":"offer","sdp":"v=0"}}"#,
            r#"{"type":"leave"}"#,
            r#"{"type":"refresh_ice"}"#,
            r#"{"type":"ping","nonce":7}"#,
            &format!(
                r#"{{"type":"register","key":"{}","proof":"{}"}}"#,
                "ab".repeat(32),
                "cd".repeat(64)
            ),
            r#"{"type":"ring","to":"k7wq-2m9x-d4tp-8rna","name":"Ada","room":"k7wq2m9xd4tp"}"#,
            r#"{"type":"answer_ring","ring":"r1","answer":"busy"}"#,
            r#"{"type":"cancel_ring","ring":"r1"}"#,
            r#"{"type":"watch","codes":["k7wq2m9xd4tp8rna"]}"#,
        ];
        assert_eq!(cases.len(), ClientMessage::TYPE_NAMES.len());
        for (case, name) in cases.iter().zip(ClientMessage::TYPE_NAMES) {
            let message = decode_client(case).unwrap();
            assert_eq!(message.type_name(), name);
        }
    }

    #[test]
    fn candidate_fields_use_the_browser_names() {
        let text = r#"{"type":"signal","to":"p2","signal":{"kind":"candidate","candidate":
            {"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0",
             "sdpMLineIndex":0,"usernameFragment":"abcd"}}}"#;
        let ClientMessage::Signal { to, signal } = decode_client(text).unwrap() else {
            panic!("not a signal");
        };
        assert_eq!(to, PeerId("p2".into()));
        assert_eq!(
            signal,
            Signal::Candidate {
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: Some("abcd".into()),
                }
            }
        );
    }

    #[test]
    fn audio_processing_is_a_flat_signal() {
        let text = r#"{"type":"signal","to":"p2","signal":{"kind":"audio_processing",
            "echo_cancellation":true,"noise_suppression":false,"auto_gain":true}}"#;
        let ClientMessage::Signal { signal, .. } = decode_client(text).unwrap() else {
            panic!("not a signal");
        };
        let expected = crate::AudioProcessing {
            noise_suppression: false,
            ..crate::AudioProcessing::ON
        };
        assert_eq!(signal, Signal::AudioProcessing(expected));
        let back = serde_json::to_value(&signal).unwrap();
        assert_eq!(back["kind"], "audio_processing");
        assert_eq!(back["noise_suppression"], false);
        let missing = r#"{"type":"signal","to":"p2","signal":{"kind":"audio_processing"}}"#;
        assert!(decode_client(missing).is_err());
    }

    #[test]
    fn sharing_is_a_flag() {
        let text = r#"{"type":"signal","to":"p2","signal":{"kind":"sharing","on":true}}"#;
        let ClientMessage::Signal { signal, .. } = decode_client(text).unwrap() else {
            panic!("not a signal");
        };
        assert_eq!(signal, Signal::Sharing { on: true });
        let not_a_flag = r#"{"type":"signal","to":"p2","signal":{"kind":"sharing","on":"yes"}}"#;
        assert!(decode_client(not_a_flag).is_err());
    }

    #[test]
    fn malformed_unknown_and_bad_fields_are_told_apart() {
        let e = decode_client("{not json").unwrap_err();
        assert!(matches!(e, DecodeError::Malformed(_)));
        assert_eq!(e.code(), ErrorCode::BadMessage);

        let e = decode_client(r#"["hello"]"#).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed(_)));

        let e = decode_client(r#"{"type":"teleport","to":"mars"}"#).unwrap_err();
        assert_eq!(e, DecodeError::UnknownType("teleport".into()));
        assert_eq!(e.code(), ErrorCode::UnknownType);

        let e = decode_client(r#"{"type":"join","room":"abc"}"#).unwrap_err();
        assert!(matches!(&e, DecodeError::BadFields { kind, .. } if kind == "join"));
        assert_eq!(e.kind(), Some("join"));
        assert_eq!(e.code(), ErrorCode::BadMessage);

        // Fields this version does not know are ignored: a newer client may add optional ones.
        assert_eq!(
            decode_client(r#"{"type":"leave","since":"v2"}"#),
            Ok(ClientMessage::Leave)
        );
    }

    #[test]
    fn error_text_is_bounded() {
        let kind = "x".repeat(10_000);
        let e = decode_client(&format!(r#"{{"type":"{kind}"}}"#)).unwrap_err();
        assert!(e.to_string().len() < 300);
    }

    #[test]
    fn server_messages_round_trip() {
        let text = r#"{"type":"error","code":"room_full","message":"full","request":"join"}"#;
        let message = decode_server(text).unwrap();
        assert_eq!(serde_json::to_string(&message).unwrap(), text);
        let e = decode_server(r#"{"type":"fireworks"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnknownType);
        let ringing = r#"{"type":"ringing","ring":"r1","from":"k7wq-2m9x-d4tp-8rna","name":"Ada","room":"abcd-efgh-jkmn"}"#;
        let message = decode_server(ringing).unwrap();
        assert_eq!(serde_json::to_string(&message).unwrap(), ringing);
        // A reason from a newer server still ends the ring.
        let ended = decode_server(r#"{"type":"ring_ended","ring":"r1","reason":"moved"}"#);
        assert!(matches!(
            ended,
            Ok(ServerMessage::RingEnded {
                reason: crate::RingEnd::Other,
                ..
            })
        ));
    }
}

//! Fuzzing the decoders with proptest (stable Rust; cargo-fuzz needs nightly). Three input
//! families: arbitrary text, valid messages with random byte edits, and random JSON values
//! shaped like messages. Every input must decode or fail with a `DecodeError`, never panic,
//! and every valid message must survive encode → decode unchanged.
//!
//! `TINCAN_FUZZ_CASES` sets the cases per family (default 3,000 for the test suite; the
//! figures in the closing note of the foundation issue came from a longer run).

use proptest::prelude::*;
use tincan_protocol::{
    decode_client, decode_server, ClientMessage, ErrorCode, IceCandidate, LeaveReason, PeerId,
    PeerInfo, RoomCode, ServerMessage, Signal,
};

fn cases() -> u32 {
    std::env::var("TINCAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const SEEDS: &[&str] = &[
    r#"{"type":"hello","version":1,"client":"tincan-cli/0.1.0"}"#,
    r#"{"type":"create_room"}"#,
    r#"{"type":"join","room":"k7wq-2m9x-d4tp","name":"Ada","resume":"00ff"}"#,
    r#"{"type":"signal","to":"a1b2","signal":{"kind":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1"}}"#,
    r#"{"type":"signal","to":"a1b2","signal":{"kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 ::1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}}}"#,
    r#"{"type":"leave"}"#,
    r#"{"type":"ping","nonce":18446744073709551615}"#,
    r#"{"type":"joined","room":"k7wq-2m9x-d4tp","peer_id":"p","peers":[{"id":"q","name":"Bo"}],"ice_servers":[{"urls":["turn:x"],"username":"1:p","credential":"c"}],"resume_token":"t","resumed":false,"capacity":4}"#,
    r#"{"type":"error","code":"room_full","message":"full","request":"join"}"#,
];

fn text() -> impl Strategy<Value = String> {
    ".{0,200}"
}

fn edited_seed() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = SEEDS[seed].as_bytes().to_vec();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z_]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("kind".to_owned()),
                    Just("to".to_owned()),
                    Just("room".to_owned()),
                    Just("signal".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn message_shaped() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "hello",
            "create_room",
            "join",
            "signal",
            "leave",
            "ping",
            "joined",
            "error",
            "peer_left",
            "peer_away",
            "welcome",
        ]),
        json_value(),
    )
        .prop_map(|(kind, body)| {
            let mut object = match body {
                serde_json::Value::Object(map) => map,
                other => [("x".to_owned(), other)].into_iter().collect(),
            };
            object.insert("type".into(), kind.into());
            serde_json::Value::Object(object).to_string()
        })
}

fn decode_both(text: &str) {
    let _ = decode_client(text);
    let _ = decode_server(text);
}

fn signal() -> impl Strategy<Value = Signal> {
    prop_oneof![
        ".{0,64}".prop_map(|sdp| Signal::Offer { sdp }),
        ".{0,64}".prop_map(|sdp| Signal::Answer { sdp }),
        (
            ".{0,64}",
            proptest::option::of(".{0,4}"),
            proptest::option::of(any::<u16>())
        )
            .prop_map(|(candidate, sdp_mid, sdp_mline_index)| Signal::Candidate {
                candidate: IceCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    username_fragment: None,
                },
            }),
        Just(Signal::EndOfCandidates),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u32>(), proptest::option::of(".{0,16}"))
            .prop_map(|(version, client)| ClientMessage::Hello { version, client }),
        Just(ClientMessage::CreateRoom),
        (".{0,20}", ".{0,20}", proptest::option::of("[0-9a-f]{0,32}"))
            .prop_map(|(room, name, resume)| ClientMessage::Join { room, name, resume }),
        ("[0-9a-f]{1,16}", signal()).prop_map(|(to, signal)| ClientMessage::Signal {
            to: PeerId(to),
            signal
        }),
        Just(ClientMessage::Leave),
        proptest::option::of(any::<u64>()).prop_map(|nonce| ClientMessage::Ping { nonce }),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        any::<u64>().prop_map(|v| ServerMessage::RoomCreated {
            room: RoomCode::from_value(v)
        }),
        ("[0-9a-f]{1,16}", ".{0,20}").prop_map(|(id, name)| ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: PeerId(id),
                name
            }
        }),
        (
            "[0-9a-f]{1,16}",
            prop::sample::select(vec![
                LeaveReason::Left,
                LeaveReason::Disconnected,
                LeaveReason::Timeout
            ])
        )
            .prop_map(|(id, reason)| ServerMessage::PeerLeft {
                peer_id: PeerId(id),
                reason
            }),
        "[0-9a-f]{1,16}".prop_map(|id| ServerMessage::PeerAway {
            peer_id: PeerId(id)
        }),
        ("[0-9a-f]{1,16}", signal()).prop_map(|(from, signal)| ServerMessage::Signal {
            from: PeerId(from),
            signal
        }),
        (
            prop::sample::select(ErrorCode::ALL[..14].to_vec()),
            ".{0,40}"
        )
            .prop_map(|(code, message)| ServerMessage::Error {
                code,
                message,
                request: None
            }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in text()) {
        decode_both(&text);
    }

    #[test]
    fn edited_valid_messages_never_panic(bytes in edited_seed()) {
        decode_both(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn message_shaped_json_never_panics(text in message_shaped()) {
        decode_both(&text);
    }

    #[test]
    fn client_messages_round_trip(message in client_message()) {
        prop_assert_eq!(decode_client(&message.to_json()), Ok(message));
    }

    #[test]
    fn server_messages_round_trip(message in server_message()) {
        prop_assert_eq!(decode_server(&message.to_json()), Ok(message));
    }

    #[test]
    fn room_codes_round_trip(value in any::<u64>()) {
        let code = RoomCode::from_value(value);
        let text = code.to_string();
        prop_assert_eq!(RoomCode::parse(&text), Ok(code.clone()));
        prop_assert_eq!(RoomCode::parse(&text.to_uppercase().replace('-', "")), Ok(code));
    }
}

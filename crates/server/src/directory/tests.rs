use std::time::{Duration, Instant};

use tincan_protocol::{decode_server, PersonalCode, RingAnswer, RingEnd, RoomCode, ServerMessage};
use tokio::sync::mpsc;

use super::{Directory, DirectoryRules};
use crate::rooms::Outbox;

/// A connection's outbox and what it has been sent.
struct Conn {
    id: u64,
    outbox: Outbox,
    inbox: mpsc::Receiver<String>,
}

impl Conn {
    fn new(id: u64) -> Self {
        let (outbox, inbox) = mpsc::channel(64);
        Self { id, outbox, inbox }
    }

    fn said(&mut self) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(text) = self.inbox.try_recv() {
            out.push(decode_server(&text).expect("the directory sends valid messages"));
        }
        out
    }
}

fn code(n: u128) -> PersonalCode {
    PersonalCode::parse(&format!("{n:016}")).expect("digits are a code")
}

fn room() -> RoomCode {
    RoomCode::from_value(42)
}

fn ended(messages: &[ServerMessage]) -> Vec<RingEnd> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::RingEnded { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_ring_reaches_every_device_and_the_answer_ends_it_for_all() {
    let mut d = Directory::default();
    let now = Instant::now();
    let (mut ada, mut bo_desk, mut bo_laptop) = (Conn::new(1), Conn::new(2), Conn::new(3));
    d.register(ada.id, &ada.outbox, code(1)).unwrap();
    d.register(bo_desk.id, &bo_desk.outbox, code(2)).unwrap();
    d.register(bo_laptop.id, &bo_laptop.outbox, code(2))
        .unwrap();
    let (ring, _) = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap();
    for bo in [&mut bo_desk, &mut bo_laptop] {
        let said = bo.said();
        assert!(
            matches!(&said[..], [ServerMessage::Ringing { from, name, room: r, .. }]
                if *from == code(1) && name == "Ada" && *r == room()),
            "{said:?}"
        );
    }
    // Only a callee may answer.
    assert!(d.answer(ada.id, &ring, RingAnswer::Accept).is_err());
    d.answer(bo_laptop.id, &ring, RingAnswer::Accept).unwrap();
    assert_eq!(ended(&ada.said()), [RingEnd::Accepted]);
    assert_eq!(ended(&bo_laptop.said()), [RingEnd::Accepted]);
    assert_eq!(ended(&bo_desk.said()), [RingEnd::AnsweredElsewhere]);
    // Over: a second answer or a cancel finds nothing.
    assert!(d.answer(bo_desk.id, &ring, RingAnswer::Decline).is_err());
    assert!(d.cancel(ada.id, &ring).is_err());
}

#[test]
fn rings_need_a_registered_caller_and_a_reachable_callee() {
    let mut d = Directory::default();
    let now = Instant::now();
    let (ada, bo) = (Conn::new(1), Conn::new(2));
    let refused = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::NotRegistered);
    d.register(ada.id, &ada.outbox, code(1)).unwrap();
    let refused = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::Offline);
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    assert!(d.ring(ada.id, code(2), "Ada", &room(), now).is_ok());
    // Ringing your own code from the only device it is on reaches nobody.
    let refused = d.ring(ada.id, code(1), "Ada", &room(), now).unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::Offline);
}

#[test]
fn an_unanswered_ring_ends_at_its_timeout_and_not_before() {
    let mut d = Directory::new(DirectoryRules {
        ring_timeout: Duration::from_secs(30),
        ..DirectoryRules::default()
    });
    let now = Instant::now();
    let (mut ada, mut bo) = (Conn::new(1), Conn::new(2));
    d.register(ada.id, &ada.outbox, code(1)).unwrap();
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    let (ring, at) = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap();
    assert_eq!(at, now + Duration::from_secs(30));
    d.expire(&ring, now + Duration::from_secs(29));
    assert!(ended(&ada.said()).is_empty());
    d.expire(&ring, at);
    assert_eq!(ended(&ada.said()), [RingEnd::NoAnswer]);
    assert_eq!(ended(&bo.said()), [RingEnd::NoAnswer]);
}

#[test]
fn a_caller_that_hangs_up_or_goes_ends_the_ring_and_so_does_a_callee_that_goes() {
    let mut d = Directory::default();
    let now = Instant::now();
    let (mut ada, mut bo, cy) = (Conn::new(1), Conn::new(2), Conn::new(3));
    d.register(ada.id, &ada.outbox, code(1)).unwrap();
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    let (ring, _) = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap();
    assert!(d.cancel(bo.id, &ring).is_err(), "only the caller cancels");
    d.cancel(ada.id, &ring).unwrap();
    assert_eq!(ended(&bo.said()), [RingEnd::Cancelled]);
    assert_eq!(ended(&ada.said()), [RingEnd::Cancelled]);

    d.register(cy.id, &cy.outbox, code(3)).unwrap();
    d.ring(cy.id, code(2), "Cy", &room(), now).unwrap();
    assert!(d.disconnect(cy.id));
    assert!(!d.disconnect(99), "a connection that never came here");
    assert_eq!(ended(&bo.said()), [RingEnd::Gone]);

    d.ring(ada.id, code(2), "Ada", &room(), now).unwrap();
    d.disconnect(bo.id);
    assert_eq!(ended(&ada.said()), [RingEnd::Gone]);
    let refused = d.ring(ada.id, code(2), "Ada", &room(), now).unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::Offline);
}

#[test]
fn watchers_hear_presence_now_and_on_every_change() {
    let mut d = Directory::default();
    let (mut ada, bo, bo_too) = (Conn::new(1), Conn::new(2), Conn::new(3));
    d.watch(ada.id, &ada.outbox, vec![code(2), code(3), code(2)])
        .unwrap();
    let presence = |said: Vec<ServerMessage>| -> Vec<(PersonalCode, bool)> {
        said.into_iter()
            .filter_map(|m| match m {
                ServerMessage::Presence { code, online } => Some((code, online)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        presence(ada.said()),
        [(code(2), false), (code(3), false)],
        "each code once, offline"
    );
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    // A second device changes nothing; going offline needs the last one gone.
    d.register(bo_too.id, &bo_too.outbox, code(2)).unwrap();
    d.disconnect(bo.id);
    assert_eq!(presence(ada.said()), [(code(2), true)]);
    d.disconnect(bo_too.id);
    assert_eq!(presence(ada.said()), [(code(2), false)]);
    // Watching too many is refused; a new list replaces the old.
    let many: Vec<PersonalCode> = (0..300).map(code).collect();
    assert!(d.watch(ada.id, &ada.outbox, many).is_err());
    d.watch(ada.id, &ada.outbox, vec![]).unwrap();
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    assert!(presence(ada.said()).is_empty());
}

#[test]
fn one_person_cannot_be_flooded_with_rings_or_devices() {
    let mut d = Directory::new(DirectoryRules {
        rings_per_callee: 2,
        devices_per_code: 2,
        ..DirectoryRules::default()
    });
    let now = Instant::now();
    let bo = Conn::new(100);
    d.register(bo.id, &bo.outbox, code(2)).unwrap();
    let callers: Vec<Conn> = (1..=3).map(Conn::new).collect();
    for (i, c) in callers.iter().enumerate() {
        d.register(c.id, &c.outbox, code(10 + i as u128)).unwrap();
    }
    assert!(d.ring(callers[0].id, code(2), "A", &room(), now).is_ok());
    assert!(d.ring(callers[1].id, code(2), "B", &room(), now).is_ok());
    let refused = d
        .ring(callers[2].id, code(2), "C", &room(), now)
        .unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::RateLimited);
    let (second, third) = (Conn::new(200), Conn::new(201));
    d.register(second.id, &second.outbox, code(2)).unwrap();
    let refused = d.register(third.id, &third.outbox, code(2)).unwrap_err();
    assert_eq!(refused.code, tincan_protocol::ErrorCode::RateLimited);
}

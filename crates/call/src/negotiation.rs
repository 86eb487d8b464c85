//! Negotiating with one peer, decided without sockets, clocks or webrtc-rs: what to do with
//! an offer, an answer or a candidate given where the exchange stands. The session carries
//! out the [`Act`]s on the peer connection.
//!
//! Perfect negotiation (W3C webrtc-pc, "Perfect negotiation example"): when both sides offer
//! at once, the impolite side (the larger peer id) ignores the other's offer and keeps its
//! own; the polite side rolls its own back and answers. "Offering" lasts from sending an offer
//! until its answer is applied — not just while it is being made — so a collision is seen
//! whenever it happens.

use std::time::{Duration, Instant};

use tincan_protocol::IceCandidate;

/// The session id of an SDP's `o=` line: random, and the same in every description one peer
/// connection makes (RFC 9429 5.2.1), so a new id means a new connection at the far end. (Not
/// the certificate: one call uses one certificate for all its connections, docs/calls.md.)
pub(crate) fn session_id(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("o="))
        .and_then(|origin| origin.split_whitespace().nth(1))
}

/// Most candidates held while the far end's description has not come (a browser sends a few
/// dozen at most; anything a peer sends is bounded).
pub(crate) const HELD_CANDIDATES: usize = 100;

/// An offer of ours unanswered this long is given up: the next one may go out (it was lost
/// with a server connection, or the far end ignored it and is gone).
pub(crate) const OFFER_GIVEN_UP_AFTER: Duration = Duration::from_secs(5);

/// What the session must do with the peer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// Set the far end's offer and send an answer; first roll back our own offer when
    /// `rollback` (we are the polite side of a collision).
    Answer { sdp: String, rollback: bool },
    /// Set the far end's answer to our offer.
    ApplyAnswer { sdp: String },
    /// Add these remote candidates, in order (an empty `candidate` is the end of them).
    AddCandidates(Vec<IceCandidate>),
    /// The far end set up a new connection (its SDP session id changed): replace ours with a
    /// new one and give the offer to that.
    Replace { sdp: String },
    /// Our offer was answered from a new connection at the far end: ours cannot carry on, so
    /// set up a new one and offer again.
    Redo,
    /// Nothing to do, and why (for the log).
    Ignore(&'static str),
}

/// Where the exchange with one peer stands.
#[derive(Debug)]
pub(crate) struct Negotiation {
    polite: bool,
    /// Since when an offer of ours has waited for its answer.
    offering: Option<Instant>,
    /// The far end's current connection's SDP session id, once it has sent a description.
    remote: Option<String>,
    /// Candidates that came before the far end's description.
    held: Vec<IceCandidate>,
}

impl Negotiation {
    pub fn new(polite: bool) -> Self {
        Self {
            polite,
            offering: None,
            remote: None,
            held: Vec::new(),
        }
    }

    /// Whether we may send an offer now (none of ours is waiting, or it has been given up).
    pub fn can_offer(&self, now: Instant) -> bool {
        self.offering
            .is_none_or(|at| now.saturating_duration_since(at) >= OFFER_GIVEN_UP_AFTER)
    }

    /// We set an offer as our local description and sent it.
    pub fn offer_sent(&mut self, now: Instant) {
        self.offering = Some(now);
    }

    /// Making or sending our offer failed: nothing waits for an answer.
    pub fn offer_failed(&mut self) {
        self.offering = None;
    }

    pub fn on_offer(&mut self, sdp: String) -> Vec<Act> {
        let offered = session_id(&sdp).map(str::to_owned);
        if self.started_over(offered.as_deref()) {
            // Whatever we had is void; the new connection starts from this offer.
            self.offering = None;
            self.remote = None;
            return vec![Act::Replace { sdp }];
        }
        let rollback = match (self.offering.is_some(), self.polite) {
            (true, false) => {
                return vec![Act::Ignore("both offered: the impolite side keeps its own")]
            }
            (true, true) => true,
            (false, _) => false,
        };
        self.offering = None;
        self.described(offered, Act::Answer { sdp, rollback })
    }

    pub fn on_answer(&mut self, sdp: String) -> Vec<Act> {
        if self.offering.is_none() {
            return vec![Act::Ignore("an answer to no offer of ours")];
        }
        self.offering = None;
        let answered = session_id(&sdp).map(str::to_owned);
        if self.started_over(answered.as_deref()) {
            self.remote = None;
            return vec![Act::Redo];
        }
        self.described(answered, Act::ApplyAnswer { sdp })
    }

    /// A candidate (or, empty, the end of them) from the far end.
    pub fn on_candidate(&mut self, candidate: IceCandidate) -> Vec<Act> {
        if self.remote.is_some() {
            return vec![Act::AddCandidates(vec![candidate])];
        }
        if self.held.len() >= HELD_CANDIDATES {
            return vec![Act::Ignore("too many candidates before a description")];
        }
        self.held.push(candidate);
        Vec::new()
    }

    /// The far end's description is in: apply it, then the candidates that came before it.
    fn described(&mut self, session: Option<String>, apply: Act) -> Vec<Act> {
        self.remote = Some(session.unwrap_or_default());
        let mut acts = vec![apply];
        if !self.held.is_empty() {
            acts.push(Act::AddCandidates(std::mem::take(&mut self.held)));
        }
        acts
    }

    /// Whether a description comes from another connection than the one we negotiated with.
    fn started_over(&self, session: Option<&str>) -> bool {
        match (&self.remote, session) {
            (Some(known), Some(session)) => !known.is_empty() && known != session,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A description from the connection with this session id.
    fn sdp(session: &str) -> String {
        format!("v=0\r\no=- {session} 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 AA\r\n")
    }

    fn candidate(n: u16) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 10.0.0.{n} 5000 typ host"),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }
    }

    #[test]
    fn an_offer_is_answered_and_candidates_before_it_follow_in_order() {
        let mut n = Negotiation::new(false);
        assert_eq!(n.on_candidate(candidate(1)), vec![]);
        assert_eq!(n.on_candidate(candidate(2)), vec![]);
        assert_eq!(
            n.on_offer(sdp("11")),
            vec![
                Act::Answer {
                    sdp: sdp("11"),
                    rollback: false
                },
                Act::AddCandidates(vec![candidate(1), candidate(2)])
            ]
        );
        // Later ones go straight in.
        assert_eq!(
            n.on_candidate(candidate(3)),
            vec![Act::AddCandidates(vec![candidate(3)])]
        );
    }

    #[test]
    fn candidates_held_before_a_description_are_bounded() {
        let mut n = Negotiation::new(true);
        for i in 0..HELD_CANDIDATES {
            assert_eq!(n.on_candidate(candidate(i as u16)), vec![]);
        }
        assert!(matches!(n.on_candidate(candidate(0))[..], [Act::Ignore(_)]));
    }

    #[test]
    fn colliding_offers_the_impolite_side_keeps_its_own_and_the_polite_side_yields() {
        let t = Instant::now();
        let (mut impolite, mut polite) = (Negotiation::new(false), Negotiation::new(true));
        impolite.offer_sent(t);
        polite.offer_sent(t);
        // Each receives the other's offer.
        assert!(matches!(impolite.on_offer(sdp("44"))[..], [Act::Ignore(_)]));
        assert_eq!(
            polite.on_offer(sdp("55")),
            vec![Act::Answer {
                sdp: sdp("55"),
                rollback: true
            }]
        );
        // The polite side's answer completes the impolite side's offer.
        assert_eq!(
            impolite.on_answer(sdp("44")),
            vec![Act::ApplyAnswer { sdp: sdp("44") }]
        );
        assert!(impolite.can_offer(t) && polite.can_offer(t));
    }

    #[test]
    fn one_offer_at_a_time_until_it_is_answered_or_given_up() {
        let t = Instant::now();
        let mut n = Negotiation::new(false);
        assert!(n.can_offer(t));
        n.offer_sent(t);
        // A restart wanted meanwhile waits.
        assert!(!n.can_offer(t + Duration::from_secs(1)));
        // Lost with the server connection: given up after a while.
        assert!(n.can_offer(t + OFFER_GIVEN_UP_AFTER));
        n.offer_failed();
        assert!(n.can_offer(t));
        assert!(matches!(n.on_answer(sdp("11"))[..], [Act::Ignore(_)]));
    }

    #[test]
    fn a_restart_from_the_same_connection_is_answered_one_from_a_new_one_replaces_it() {
        let t = Instant::now();
        let mut n = Negotiation::new(true);
        n.on_offer(sdp("11"));
        // An ICE restart: same connection, a new offer.
        assert_eq!(
            n.on_offer(sdp("11")),
            vec![Act::Answer {
                sdp: sdp("11"),
                rollback: false
            }]
        );
        // The far end set up a new connection: another session id.
        assert_eq!(n.on_offer(sdp("22")), vec![Act::Replace { sdp: sdp("22") }]);
        // Our offer answered from a new connection: start over ourselves.
        let mut n = Negotiation::new(false);
        n.offer_sent(t);
        n.on_answer(sdp("11"));
        n.offer_sent(t);
        assert_eq!(n.on_answer(sdp("33")), vec![Act::Redo]);
    }
}

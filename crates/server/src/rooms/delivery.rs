//! Getting room traffic to members: sent to a connected one, held for one reconnecting, and
//! a member that stops reading cut off.

use tincan_protocol::{PeerId, PeerInfo, ServerMessage};
use tokio::sync::mpsc;

use super::Member;

pub(super) fn others(members: &[Member], except: &PeerId) -> Vec<PeerInfo> {
    members
        .iter()
        .filter(|m| &m.info.id != except)
        .map(|m| m.info.clone())
        .collect()
}

/// Sends to everyone but `about`.
pub(super) fn announce(
    members: &mut [Member],
    about: &PeerId,
    message: &ServerMessage,
    held: usize,
) {
    let text = message.to_json();
    for member in members.iter_mut().filter(|m| &m.info.id != about) {
        deliver(member, text.clone(), held);
    }
}

pub(super) fn broadcast(members: &mut [Member], message: &ServerMessage, held: usize) {
    let text = message.to_json();
    for member in members.iter_mut() {
        deliver(member, text.clone(), held);
    }
}

/// Sends to a connected peer, or holds for a reconnecting one. A peer whose outbox is full has
/// stopped reading: it is cut off (its connection ends) and its place waits for a resume.
pub(super) fn deliver(member: &mut Member, text: String, held: usize) {
    match &member.outbox {
        Some(outbox) => match outbox.try_send(text) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(text)) => {
                tracing::warn!(peer = %member.info.id, "peer is not reading; disconnecting it");
                member.outbox = None;
                hold(member, text, held);
            }
            Err(mpsc::error::TrySendError::Closed(text)) => {
                member.outbox = None;
                hold(member, text, held);
            }
        },
        None => hold(member, text, held),
    }
}

pub(super) fn hold(member: &mut Member, text: String, held: usize) {
    if member.held.len() >= held {
        member.held.pop_front();
    }
    member.held.push_back(text);
}

//! `tincan://join/CODE?server=…` links: opening one starts the app (or wakes the running one)
//! for that room, on the server the link names (after asking, for a server the person has
//! not joined before) or, without one, the way a typed code goes.
//!
//! `tincan://person/CODE?name=…` links ("Copy my link"): opening one offers to add that
//! person to the contacts.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use tincan_protocol::PersonalCode;

/// What a query value escapes: everything but RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a link asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkJoin {
    pub room: String,
    /// The server's WebSocket URL, normalised (`wss://call.example.org/ws`).
    pub server: Option<String>,
    /// True when the page must ask "Join a call on HOST?" before anything connects or the
    /// camera and microphone start: the link names a server the person has not used.
    pub ask: bool,
    /// The server's host, for that question.
    pub host: Option<String>,
}

/// The link for `room` on `server`.
pub fn app_link(room: &str, server: &str) -> String {
    format!(
        "tincan://join/{room}?server={}",
        utf8_percent_encode(server, QUERY_VALUE)
    )
}

/// The room (and server) in a link, if `text` is one of ours; `knows` says whether a server
/// may be used without asking.
pub fn join_in_link(text: &str, knows: &dyn Fn(&str) -> bool) -> Option<LinkJoin> {
    let rest = text.trim().strip_prefix("tincan://join/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let code = path.trim_end_matches('/');
    let valid = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return None;
    }
    let mut server = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(value) = pair.strip_prefix("server=") {
            let decoded = percent_decode_str(value).decode_utf8().ok()?;
            // A link whose server is not a server address is not followed at all.
            server = Some(tincan_signaling::websocket_url(&decoded).ok()?);
        }
    }
    let ask = server.as_ref().is_some_and(|s| !knows(s.as_str()));
    Some(LinkJoin {
        room: code.to_ascii_lowercase(),
        host: server
            .as_ref()
            .and_then(|s| s.host_str().map(str::to_owned)),
        server: server.map(String::from),
        ask,
    })
}

/// Someone's personal code (and the name they go by) from a person link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonLink {
    pub code: PersonalCode,
    pub name: Option<String>,
}

/// The link that adds this install's `code` to someone's contacts.
pub fn person_link(code: PersonalCode) -> String {
    format!("tincan://person/{code}")
}

/// The person in a `tincan://person/CODE[?name=…]` link, if `text` is one.
pub fn person_in_link(text: &str) -> Option<PersonLink> {
    let rest = text.trim().strip_prefix("tincan://person/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let code = PersonalCode::parse(path.trim_end_matches('/')).ok()?;
    let name = query
        .split('&')
        .find_map(|p| p.strip_prefix("name="))
        .and_then(|v| percent_decode_str(v).decode_utf8().ok())
        .map(|n| crate::people::book::clean_name(&n))
        .filter(|n| !n.is_empty());
    Some(PersonLink { code, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(text: &str) -> Option<String> {
        join_in_link(text, &|_| true).map(|l| l.room)
    }

    #[test]
    fn links_give_their_room_and_anything_else_is_ignored() {
        assert_eq!(
            room("tincan://join/k7wq-2m9x-d4tp").as_deref(),
            Some("k7wq-2m9x-d4tp")
        );
        assert_eq!(
            room("tincan://join/K7WQ-2M9X-D4TP/").as_deref(),
            Some("k7wq-2m9x-d4tp")
        );
        for bad in [
            "tincan://join/",
            "https://join/abc",
            "tincan://join/a b",
            "tincan://join/../x",
            "tincan://leave/abc",
            "tincan://join/abc?server=ftp%3A%2F%2Fx",
            "tincan://join/abc?server=%FF",
        ] {
            assert_eq!(room(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_link_carries_its_server_and_asks_for_one_not_known() {
        let link = app_link("k7wq-2m9x-d4tp", "wss://call.example.org/ws");
        let known = |s: &str| s == "wss://call.example.org/ws";
        let joined = join_in_link(&link, &known).unwrap();
        assert_eq!(joined.server.as_deref(), Some("wss://call.example.org/ws"));
        assert!(!joined.ask);
        let other = app_link("k7wq-2m9x-d4tp", "ws://10.0.0.9:4000/ws");
        let joined = join_in_link(&other, &known).unwrap();
        assert!(joined.ask);
        assert_eq!(joined.host.as_deref(), Some("10.0.0.9"));
        // A typed-style address in a hand-made link is normalised.
        let joined = join_in_link("tincan://join/abc?server=call.example.org", &known).unwrap();
        assert_eq!(joined.server.as_deref(), Some("ws://call.example.org/ws"));
        assert!(joined.ask);
    }

    #[test]
    fn person_links_carry_a_code_and_maybe_a_name() {
        let code = tincan_protocol::PersonalKey::from_seed([7; 32]).code();
        let link = person_link(code);
        assert_eq!(link, "tincan://person/waj9-ev77-q593-7y9c");
        assert_eq!(person_in_link(&link), Some(PersonLink { code, name: None }));
        let named = person_in_link(&format!("{link}?name=Ada%20L%0A")).unwrap();
        assert_eq!(named.name.as_deref(), Some("Ada L"));
        for bad in [
            "tincan://person/",
            "tincan://person/abc",
            "tincan://join/waj9-ev77-q593-7y9c",
        ] {
            assert_eq!(person_in_link(bad), None, "{bad}");
        }
    }
}

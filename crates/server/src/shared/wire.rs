//! What servers publish to each other's channel (`tincan:to:<server id>`, one subscription
//! per server): the Lua scripts write these, [`Frame::parse`] reads them.
//!
//! - `d <peer>\n<text>`: deliver `text` (a server message, JSON) to `peer`, connected here;
//! - `x <peer> <conn>`: `peer` took its place back on another connection; the connection
//!   `conn` (here) no longer speaks for it.

/// One message on a server's channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Deliver { peer: &'a str, text: &'a str },
    Superseded { peer: &'a str, conn: &'a str },
}

impl<'a> Frame<'a> {
    /// None for anything else (a newer server's frame, or garbage): it is skipped.
    pub fn parse(payload: &'a [u8]) -> Option<Self> {
        let payload = std::str::from_utf8(payload).ok()?;
        if let Some(rest) = payload.strip_prefix("d ") {
            let (peer, text) = rest.split_once('\n')?;
            return Some(Frame::Deliver { peer, text });
        }
        if let Some(rest) = payload.strip_prefix("x ") {
            let (peer, conn) = rest.split_once(' ')?;
            return Some(Frame::Superseded { peer, conn });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Frame;

    #[test]
    fn frames_read_back_and_anything_else_is_skipped() {
        assert_eq!(
            Frame::parse(b"d ab12\n{\"type\":\"left\"}"),
            Some(Frame::Deliver {
                peer: "ab12",
                text: "{\"type\":\"left\"}"
            })
        );
        // A text may hold newlines of its own (JSON does not, but nothing depends on it).
        assert_eq!(
            Frame::parse(b"d p\na\nb"),
            Some(Frame::Deliver {
                peer: "p",
                text: "a\nb"
            })
        );
        assert_eq!(
            Frame::parse(b"x ab12 s1:7"),
            Some(Frame::Superseded {
                peer: "ab12",
                conn: "s1:7"
            })
        );
        for junk in [
            &b""[..],
            b"d nolinebreak",
            b"x nospace",
            b"q a b",
            b"\xff\xfe",
        ] {
            assert_eq!(Frame::parse(junk), None, "{junk:?}");
        }
    }
}

//! `tincan://join/CODE` links: opening one starts the app (or wakes the running one) at the
//! pre-join screen for that room.

/// The room code in a link, if `text` is one of ours.
pub fn room_in_link(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("tincan://join/")?;
    let code = rest.trim_end_matches('/');
    let valid = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then(|| code.to_ascii_lowercase())
}

/// The first link among a process's arguments (how Linux and Windows hand links over).
pub fn room_in_args<I: IntoIterator<Item = String>>(args: I) -> Option<String> {
    args.into_iter().find_map(|a| room_in_link(&a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_give_their_room_and_anything_else_is_ignored() {
        assert_eq!(
            room_in_link("tincan://join/k7wq-2m9x-d4tp").as_deref(),
            Some("k7wq-2m9x-d4tp")
        );
        assert_eq!(
            room_in_link("tincan://join/K7WQ-2M9X-D4TP/").as_deref(),
            Some("k7wq-2m9x-d4tp")
        );
        for bad in [
            "tincan://join/",
            "https://join/abc",
            "tincan://join/a b",
            "tincan://join/../x",
            "tincan://leave/abc",
        ] {
            assert_eq!(room_in_link(bad), None, "{bad}");
        }
        let args = ["/usr/bin/tincan", "--flag", "tincan://join/abcd-efgh-ijkl"].map(String::from);
        assert_eq!(room_in_args(args).as_deref(), Some("abcd-efgh-ijkl"));
    }
}

use crate::SignalingError;

/// The WebSocket URL for what a person typed as a server address: `host:port`,
/// `http(s)://host`, or a full `ws(s)://host/ws`. A bare address gets `ws://`, HTTP schemes
/// become their WebSocket twins, and an empty path becomes `/ws`.
pub fn websocket_url(input: &str) -> Result<url::Url, SignalingError> {
    let input = input.trim();
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("ws://{input}")
    };
    let bad = |reason: String| SignalingError::BadUrl {
        url: input.to_owned(),
        reason,
    };
    let mut url = url::Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(bad(format!(
                "use ws://, wss://, http:// or https://, not {other}://"
            )))
        }
    };
    url.set_scheme(scheme)
        .map_err(|_| bad("cannot use that scheme".into()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host".into()));
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/ws");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_addresses_become_websocket_urls() {
        let cases = [
            ("127.0.0.1:8787", "ws://127.0.0.1:8787/ws"),
            ("http://example.org", "ws://example.org/ws"),
            ("https://example.org", "wss://example.org/ws"),
            ("wss://example.org/tincan/ws", "wss://example.org/tincan/ws"),
            (" ws://[::1]:9/ws ", "ws://[::1]:9/ws"),
        ];
        for (typed, want) in cases {
            assert_eq!(websocket_url(typed).unwrap().as_str(), want, "{typed}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for typed in ["ftp://example.org", "ws://", "http://:80"] {
            let e = websocket_url(typed).unwrap_err();
            assert!(matches!(e, SignalingError::BadUrl { .. }), "{typed}: {e}");
        }
    }
}

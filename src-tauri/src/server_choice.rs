//! Which signaling server a call goes through, and the links that bring others to it: the
//! configured server; a server a `tincan://` link named (once the person agreed); or, with
//! no server configured, the built-in one for a new call or a code it hosts, and for any
//! other code the LAN server that proves it has the room (tincan-discovery).

use tincan_discovery::{find_room, DiscoveryError, Reach, SEARCH_TIME};

use crate::builtin_server::BuiltInServer;
use crate::error::AppError;
use crate::state::AppState;

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// What the call engine connects to.
    pub url: String,
    /// The address others use to reach that server: what links carry. None when only this
    /// computer can (the built-in server with LAN hosting off).
    pub shared: Option<String>,
}

impl Chosen {
    /// The browser link (the server's guest page at /r/CODE) and the app's
    /// `tincan://join/CODE?server=…` link, for people on other computers; None as for
    /// [`Chosen::shared`], with the local guest link instead.
    pub fn links(&self, room: &str) -> (String, Option<String>) {
        match &self.shared {
            Some(server) => (
                guest_link(server, room),
                Some(crate::links::app_link(room, server)),
            ),
            None => (guest_link(&self.url, room), None),
        }
    }
}

/// The reach the person chose for the built-in server.
pub fn wanted_reach(state: &AppState) -> Reach {
    if state.settings().lan_hosting == Some(true) {
        Reach::Lan
    } else {
        Reach::ThisComputer
    }
}

/// The built-in server, started (or restarted with another reach, when `may_restart`: no
/// call is using it) as the settings want it. Returns what Settings shows about it.
pub async fn builtin(state: &AppState, may_restart: bool) -> Result<String, AppError> {
    let mut builtin = state.builtin.lock().await;
    ensure(&mut builtin, wanted_reach(state), may_restart).await?;
    Ok(builtin
        .as_ref()
        .map(BuiltInServer::describe)
        .unwrap_or_default())
}

async fn ensure(
    builtin: &mut Option<BuiltInServer>,
    reach: Reach,
    may_restart: bool,
) -> Result<(), AppError> {
    if may_restart && builtin.as_ref().is_some_and(|b| b.reach() != reach) {
        if let Some(old) = builtin.take() {
            old.stop().await;
        }
    }
    if builtin.is_none() {
        *builtin = Some(BuiltInServer::start(reach).await?);
    }
    Ok(())
}

/// The server this computer's calls and rings use: the configured one, or the built-in one
/// (started if it is not running; restarted when LAN hosting changed and no call uses it).
pub async fn in_use(state: &AppState) -> Result<String, AppError> {
    let configured = state.settings().server.trim().to_owned();
    if !configured.is_empty() {
        return Ok(configured);
    }
    let idle = state.call.lock().await.is_none();
    builtin(state, idle).await?;
    Ok(state
        .builtin
        .lock()
        .await
        .as_ref()
        .map(|b| b.local_url())
        .unwrap_or_default())
}

/// Chooses the server for joining `room` (None: a new call), with `link_server` from a link
/// the person agreed to. Called with no call in progress.
pub async fn choose(
    state: &AppState,
    room: Option<&str>,
    link_server: Option<&str>,
) -> Result<Chosen, AppError> {
    if let Some(server) = link_server {
        return Ok(Chosen {
            url: server.to_owned(),
            shared: Some(server.to_owned()),
        });
    }
    let configured = state.settings().server.trim().to_owned();
    if !configured.is_empty() {
        return Ok(Chosen {
            url: configured.clone(),
            shared: Some(configured),
        });
    }
    {
        let mut builtin = state.builtin.lock().await;
        ensure(&mut builtin, wanted_reach(state), true).await?;
        if let Some(b) = builtin.as_ref() {
            if room.is_none_or(|code| b.hosts(code)) {
                return Ok(Chosen {
                    url: b.local_url(),
                    shared: b.lan_url(),
                });
            }
        }
    }
    let code = room.unwrap_or_default();
    match find_room(code, SEARCH_TIME).await {
        Ok(found) => Ok(Chosen {
            url: found.server.clone(),
            shared: Some(found.server),
        }),
        Err(DiscoveryError::NotFound | DiscoveryError::BadCode(_)) => {
            Err(AppError::NotOnNetwork(code.to_owned()))
        }
        Err(e) => Err(AppError::ServerUnreachable(e.to_string())),
    }
}

/// The browser link for `room` on `server` (tincan-server serves the guest page at /r/CODE).
pub fn guest_link(server: &str, room: &str) -> String {
    let base = server
        .trim_end_matches('/')
        .trim_end_matches("/ws")
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    let base = if base.contains("://") {
        base
    } else {
        format!("http://{base}")
    };
    format!("{base}/r/{room}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_links_point_at_the_servers_guest_page() {
        assert_eq!(
            guest_link("127.0.0.1:8787", "abc"),
            "http://127.0.0.1:8787/r/abc"
        );
        assert_eq!(
            guest_link("wss://call.example.org/ws", "abc"),
            "https://call.example.org/r/abc"
        );
    }

    #[test]
    fn a_server_others_reach_gets_both_links_and_a_private_one_the_local_link_only() {
        let lan = Chosen {
            url: "ws://127.0.0.1:4000/ws".into(),
            shared: Some("ws://192.168.1.20:4000/ws".into()),
        };
        let (guest, app) = lan.links("k7wq-2m9x-d4tp");
        assert_eq!(guest, "http://192.168.1.20:4000/r/k7wq-2m9x-d4tp");
        assert_eq!(
            app.as_deref(),
            Some("tincan://join/k7wq-2m9x-d4tp?server=ws%3A%2F%2F192.168.1.20%3A4000%2Fws")
        );
        let private = Chosen {
            url: "ws://127.0.0.1:4000/ws".into(),
            shared: None,
        };
        assert_eq!(
            private.links("k7wq-2m9x-d4tp"),
            ("http://127.0.0.1:4000/r/k7wq-2m9x-d4tp".to_owned(), None)
        );
    }
}

//! A desktop notification server (`org.freedesktop.Notifications`, the Desktop Notifications
//! Specification) on a test's private D-Bus session: what the app shows as OS notifications
//! lands here, where the test reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::OwnedValue;

/// One notification as shown: its title and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub app_name: String,
    pub summary: String,
    pub body: String,
}

struct Server {
    shown: Arc<Mutex<Vec<Shown>>>,
    next_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        self.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Shown {
                app_name,
                summary,
                body,
            });
        if replaces_id != 0 {
            return replaces_id;
        }
        self.next_id += 1;
        self.next_id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "actions".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "tincan-test".into(),
            "tincan".into(),
            "0.1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// The notification server, serving until dropped.
pub struct Notifications {
    _connection: zbus::Connection,
    shown: Arc<Mutex<Vec<Shown>>>,
}

impl Notifications {
    /// Serves notifications on the session bus at `address` (a [`crate::Desktop`]'s).
    pub async fn serve(address: &str) -> Self {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let server = Server {
            shown: Arc::clone(&shown),
            next_id: 0,
        };
        let connection = zbus::connection::Builder::address(address)
            .and_then(|b| b.name("org.freedesktop.Notifications"))
            .and_then(|b| b.serve_at("/org/freedesktop/Notifications", server))
            .expect("a notification server description");
        let connection = connection
            .build()
            .await
            .expect("the notification server on the test's D-Bus session");
        Self {
            _connection: connection,
            shown,
        }
    }

    /// Everything shown so far.
    pub fn shown(&self) -> Vec<Shown> {
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `timeout` for a notification whose title contains `text`.
    pub async fn wait_for(&self, text: &str, timeout: Duration) -> Option<Shown> {
        let start = Instant::now();
        loop {
            if let Some(found) = self.shown().into_iter().find(|s| s.summary.contains(text)) {
                return Some(found);
            }
            if start.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

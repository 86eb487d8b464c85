//! The hub's people messages: registering a personal code, watching others', and ringing
//! (docs/protocol.md, "Ringing people"). Kept per server, also with a shared room store.

use std::net::IpAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use tincan_protocol::{ErrorCode, PersonalCode, RingAnswer, RingId, RoomCode, ServerMessage};

use super::{valid_name, Hub, Refusal, Rooms};
use crate::directory::Directory;
use crate::rooms::{ConnId, Outbox};

impl Hub {
    /// Rings to `code` reach `conn` (whose key was checked) from now on.
    pub fn register(
        &self,
        conn: ConnId,
        outbox: &Outbox,
        code: PersonalCode,
    ) -> Result<(), Refusal> {
        self.directory().register(conn, outbox, code)?;
        self.refresh_directory_gauges();
        Ok(())
    }

    pub fn watch(
        &self,
        conn: ConnId,
        outbox: &Outbox,
        codes: Vec<PersonalCode>,
    ) -> Result<(), Refusal> {
        self.directory().watch(conn, outbox, codes)
    }

    /// `conn` rings `to` to join `room`; the ring ends by itself at the ring timeout.
    pub async fn ring(
        self: &Arc<Self>,
        ip: IpAddr,
        conn: ConnId,
        to: PersonalCode,
        name: &str,
        room: &RoomCode,
    ) -> Result<ServerMessage, Refusal> {
        let name = valid_name(name)?;
        let exists = match &self.rooms {
            Rooms::Memory(_) => self.hosts_room(room),
            Rooms::Shared(shared) => shared.has_room(room).await,
        };
        if !exists {
            return Err(Refusal::new(
                ErrorCode::RoomNotFound,
                format!("no room has the code {room}: create and join it before ringing"),
            ));
        }
        let allowed = self
            .rings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(ip, Instant::now());
        if !allowed {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "too many rings from your address (limit {} a minute); wait a minute",
                    self.limits.rings_per_minute
                ),
            ));
        }
        let (ring, at) = self
            .directory()
            .ring(conn, to, &name, room, Instant::now())?;
        self.metrics.rings.inc();
        self.refresh_directory_gauges();
        let hub = Arc::clone(self);
        let expiring = ring.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            hub.directory().expire(&expiring, Instant::now());
            hub.refresh_directory_gauges();
        });
        Ok(ServerMessage::RingSent { ring, to })
    }

    pub fn answer_ring(
        &self,
        conn: ConnId,
        ring: &RingId,
        answer: RingAnswer,
    ) -> Result<(), Refusal> {
        self.directory().answer(conn, ring, answer)?;
        self.refresh_directory_gauges();
        Ok(())
    }

    pub fn cancel_ring(&self, conn: ConnId, ring: &RingId) -> Result<(), Refusal> {
        self.directory().cancel(conn, ring)?;
        self.refresh_directory_gauges();
        Ok(())
    }

    /// `conn` closed: its registration, watches and rings end.
    pub fn directory_gone(&self, conn: ConnId) {
        let known = self.directory().disconnect(conn);
        if known {
            self.refresh_directory_gauges();
        }
    }

    fn refresh_directory_gauges(&self) {
        let (registered, ringing) = self.directory().counts();
        self.metrics.registered.set(registered as i64);
        self.metrics.ringing.set(ringing as i64);
    }

    fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

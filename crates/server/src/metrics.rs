//! Prometheus metrics served at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tincan_protocol::ErrorCode;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

/// The server's counters and gauges.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub connections_total: Counter,
    pub rooms: Gauge,
    pub peers: Gauge,
    pub relayed: Counter,
    pub registered: Gauge,
    pub ringing: Gauge,
    pub rings: Counter,
    pub errors: Family<CodeLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tincan");
        let connections = Gauge::default();
        let connections_total = Counter::default();
        let rooms = Gauge::default();
        let peers = Gauge::default();
        let relayed = Counter::default();
        let registered = Gauge::default();
        let ringing = Gauge::default();
        let rings = Counter::default();
        let errors = Family::<CodeLabel, Counter>::default();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "connections_accepted",
            "WebSocket connections accepted since start",
            connections_total.clone(),
        );
        registry.register(
            "rooms",
            "Rooms that exist, empty ones included",
            rooms.clone(),
        );
        registry.register(
            "peers",
            "Peers in rooms, reconnecting ones included",
            peers.clone(),
        );
        registry.register(
            "messages_relayed",
            "Signals relayed from one peer to another",
            relayed.clone(),
        );
        registry.register(
            "registered_codes",
            "Personal codes registered by open connections",
            registered.clone(),
        );
        registry.register(
            "rings_waiting",
            "Rings waiting for an answer",
            ringing.clone(),
        );
        registry.register("rings", "Rings sent since start", rings.clone());
        registry.register("errors", "Errors sent to clients, by code", errors.clone());
        // Every code shows from the start, at zero, so dashboards need no special cases.
        for code in ErrorCode::ALL {
            let _ = errors.get_or_create(&CodeLabel {
                code: code.as_str(),
            });
        }
        Self {
            registry,
            connections,
            connections_total,
            rooms,
            peers,
            relayed,
            registered,
            ringing,
            rings,
            errors,
        }
    }

    /// The shared room store's figures, for servers that use one.
    pub fn register_store(&mut self, store: &crate::shared::StoreMetrics) {
        self.registry.register(
            "redis_up",
            "1 while the room store (Redis) answers, else 0",
            store.up.clone(),
        );
        self.registry.register(
            "redis_errors",
            "Room store (Redis) commands that failed or timed out",
            store.errors.clone(),
        );
        self.registry.register(
            "relayed_locally",
            "Signals relayed within this server while Redis was unreachable",
            store.relayed_locally.clone(),
        );
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

//! Counters for `GET /_sandbox/stats`: `/v1` requests in total and by
//! route, answers by HTTP status and faults by kind. Lock-free atomics, so
//! counting never contends with serving.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A fault the simulator injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    ServerError = 0,
    Drop = 1,
    LostResponse = 2,
    Slow = 3,
}

impl FaultKind {
    const NAMES: [&'static str; 4] = ["server_error", "drop", "lost_response", "slow"];
}

/// The route a `/v1` request asked for (`other`: no such route, a 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Create = 0,
    Get = 1,
    List = 2,
    Other = 3,
}

impl RouteKind {
    const NAMES: [&'static str; 4] = ["create", "get", "list", "other"];
}

/// What the server has done so far.
#[derive(Debug)]
pub(crate) struct Stats {
    requests: AtomicU64,
    answers: Box<[AtomicU64; 600]>,
    faults: [AtomicU64; 4],
    routes: [AtomicU64; 4],
    replays: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: AtomicU64::new(0),
            answers: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            faults: std::array::from_fn(|_| AtomicU64::new(0)),
            routes: std::array::from_fn(|_| AtomicU64::new(0)),
            replays: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// Counts a `/v1` request and returns its arrival number (from 0).
    pub(crate) fn request(&self) -> u64 {
        self.requests.fetch_add(1, Relaxed)
    }

    pub(crate) fn answer(&self, status: u16) {
        if let Some(c) = self.answers.get(usize::from(status)) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Counts a `/v1` request by its route (every request, whatever its
    /// answer: a 401 or 429 spent a request all the same).
    pub(crate) fn route(&self, kind: RouteKind) {
        self.routes[kind as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        self.faults[kind as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn replay(&self) {
        self.replays.fetch_add(1, Relaxed);
    }

    /// `{"requests": n, "by_route": {"create": n, "get": n, "list": n,
    /// "other": n}, "answers": {"201": n, ...}, "faults": {...},
    /// "idempotent_replays": n}` without the call counts, which the caller
    /// adds. Every request has a route, so `by_route` sums to `requests`.
    pub(crate) fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::{Map, Value};
        let mut answers = Map::new();
        for (code, c) in self.answers.iter().enumerate() {
            let n = c.load(Relaxed);
            if n > 0 {
                answers.insert(code.to_string(), Value::from(n));
            }
        }
        let mut faults = Map::new();
        for (name, c) in FaultKind::NAMES.iter().zip(&self.faults) {
            faults.insert((*name).to_string(), Value::from(c.load(Relaxed)));
        }
        let mut by_route = Map::new();
        for (name, c) in RouteKind::NAMES.iter().zip(&self.routes) {
            by_route.insert((*name).to_string(), Value::from(c.load(Relaxed)));
        }
        let mut m = Map::new();
        m.insert("requests".into(), Value::from(self.requests.load(Relaxed)));
        m.insert("by_route".into(), Value::Object(by_route));
        m.insert("answers".into(), Value::Object(answers));
        m.insert("faults".into(), Value::Object(faults));
        m.insert(
            "idempotent_replays".into(),
            Value::from(self.replays.load(Relaxed)),
        );
        m
    }
}

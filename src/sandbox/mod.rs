//! The DialNexa simulator (DESIGN.md, "Simulator"): the calls API served on
//! loopback with the real service's contract and failures, for tests,
//! benchmarks and `run --sandbox` rehearsals. It shares only [`crate::wire`]
//! with the runner.
//!
//! Modules: [`config`] (what it can be told), `workspace` (403 rules),
//! `request` (400 checks), `ledger` (every call, indexed), `lifecycle`
//! (how a call lives on the scaled `clock`), `postcall` (what an answered
//! call learned, drawn from the seed), `ratelimit`, `faults`, `ids`,
//! `rng`, `json`, `stats`, `answer` (a response before hyper sees it),
//! `list` (`GET /v1/calls`), `routes` (the rest of the HTTP API) and
//! `server` (hyper and connection resets).

mod answer;
mod clock;
pub mod config;
mod faults;
mod ids;
mod json;
mod ledger;
mod lifecycle;
mod list;
mod postcall;
mod ratelimit;
mod request;
mod rng;
mod routes;
mod server;
mod state;
mod stats;
mod workspace;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{
    AnalysisFields, Config, ConfigError, Faults, ListShape, Outcomes, Range, RateLimit,
    VersionState,
};
pub use routes::MAX_BODY;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running simulator. Dropping it stops the server too (without waiting);
/// [`Sandbox::shutdown`] stops it and waits for open connections to close.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free one) and serves on the current
    /// tokio runtime. When it returns the socket is bound and listening, so a
    /// client may connect at once. An invalid `config` is an `InvalidInput`
    /// error naming every problem.
    pub async fn start(config: Config, addr: SocketAddr) -> std::io::Result<Sandbox> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state::State::new(config));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(server::run(listener, state, cancel.clone()));
        Ok(Sandbox {
            addr,
            cancel,
            task: Some(task),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the API is under `/v1`, the control
    /// endpoints under `/_sandbox`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: what a client uses as `api.base_url`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// Stops accepting, lets open connections finish (at most about two
    /// seconds; a delayed answer is cut short), and returns when all is closed.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

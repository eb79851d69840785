//! The calls the engine makes, as a trait: create a call, list calls to a
//! number, list calls from a caller ID, read one call.
//!
//! The engine (dial loop, reconciliation, poller) reaches the API only
//! through [`CallsApi`], so its branches can be tested with canned answers
//! and tokio's paused clock, without a server, as `reconcile::lookup` is
//! tested through its fetch closure. [`crate::api::Client`] is the real
//! implementation; the trait lives here, not in `api`, because it is the
//! engine's view of the API (what it needs), not the API's shape. Generic
//! rather than `dyn`: one implementation per run, so no boxed future per
//! request.

use std::future::Future;

use crate::api::{Answer, CallRequest, Client, LookupError};
use crate::wire::{Call, CallList};

/// The API as the engine uses it. Every future is `Send`: the engine runs
/// them on spawned tasks.
pub trait CallsApi: Send + Sync + 'static {
    /// `POST /v1/calls`, classified: every way a create can end.
    fn create(&self, request: &CallRequest) -> impl Future<Output = Answer> + Send;

    /// One page (from 1) of the calls to `to` since `start_date` (RFC 3339),
    /// newest first.
    fn list(
        &self,
        to: &str,
        start_date: &str,
        page: u32,
    ) -> impl Future<Output = Result<CallList, LookupError>> + Send;

    /// One page (from 1) of the calls placed from the caller ID `from`
    /// since `start_date` (RFC 3339), newest first: the outcome sync.
    fn list_from(
        &self,
        from: &str,
        start_date: &str,
        page: u32,
    ) -> impl Future<Output = Result<CallList, LookupError>> + Send;

    /// A call's current state, for outcome polling.
    fn get(&self, call_id: &str) -> impl Future<Output = Result<Call, LookupError>> + Send;
}

impl CallsApi for Client {
    async fn create(&self, request: &CallRequest) -> Answer {
        self.create_call(request).await
    }

    async fn list(&self, to: &str, start_date: &str, page: u32) -> Result<CallList, LookupError> {
        self.list_calls(to, start_date, page).await
    }

    async fn list_from(
        &self,
        from: &str,
        start_date: &str,
        page: u32,
    ) -> Result<CallList, LookupError> {
        self.list_calls_from(from, start_date, page).await
    }

    async fn get(&self, call_id: &str) -> Result<Call, LookupError> {
        self.get_call(call_id).await
    }
}

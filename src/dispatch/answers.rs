//! What a row does with each classified answer to its create request: one
//! handler per [`Answer`](crate::api::Answer) kind (the lost answer's is in
//! [`super::doubt`]), each recording what it must and saying what comes
//! next ([`Next`]).

use std::time::Duration;

use tokio::time::Instant;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::dial::{Next, RowDial};
use super::state::{StopReason, lock};
use crate::api::RETRY_AFTER_CAP;
use crate::results::Status;
use crate::wire::CallStatus;

/// 409/429 answers in a row after which a row gives up as `error` (nothing
/// was created; a rerun dials it again).
pub const MAX_WAITS: u32 = 100;

impl<A: CallsApi> RowDial<'_, A> {
    /// 2xx with a call: record it and hand it to the poller.
    pub(super) fn on_created(
        &mut self,
        http_status: u16,
        call_id: String,
        status: CallStatus,
    ) -> Next {
        let shared = self.shared;
        drop(self.permit.take());
        let cap = shared.limiter.on_success();
        Stats::set(&shared.stats.cap, u64::from(cap));
        lock(&shared.breaker).observe(None);
        self.row.last_http = Some(http_status);
        self.row.last_error.clear();
        Stats::add(&shared.stats.created, 1);
        let target = self.target;
        if let Some(first) =
            shared.claim(&call_id, self.job.target, target, self.job.round, &self.row)
        {
            shared.dispute(&call_id, target, self.job.round, &self.row, &first);
            return Next::Done;
        }
        let mut rec = self.record(Status::Call(status));
        rec.call_id = call_id.into();
        shared.watch(&rec, self.live_place.take());
        shared.appender.append(rec);
        Stats::add(&shared.stats.done, 1);
        Next::Done
    }

    /// Refused for good: recorded `rejected`, unless the breaker decides
    /// the same refusal of every row is the plan's fault and stops the run
    /// (then the row, and the rejections it counted, go back to `pending`).
    pub(super) fn on_rejected(&mut self, http_status: u16, message: String) -> Next {
        let shared = self.shared;
        self.row.last_http = Some(http_status);
        // Observed and recorded under the breaker's lock, so that the
        // window's lines are rewritten after all of them.
        let mut breaker = lock(&shared.breaker);
        let tripped = breaker.observe(Some(&message));
        self.row.last_error = message;
        if breaker.tripped() {
            // The plan's fault, not the row's (the run stops for the user
            // to fix it): `pending`, so a rerun dials it.
            self.settle(Status::Pending);
            if tripped.is_some() {
                let window = std::mem::take(&mut *lock(&shared.breaker_window));
                for mut rec in window {
                    rec.status = Status::Pending;
                    rec.updated_at = crate::text::now_rfc3339().into();
                    shared.appender.append(rec);
                    Stats::sub(&shared.stats.rejected, 1);
                }
            }
        } else {
            let rec = self.record(Status::Rejected);
            if breaker.deciding() {
                lock(&shared.breaker_window).push(rec.clone());
            } else {
                lock(&shared.breaker_window).clear();
            }
            shared.appender.append(rec);
            Stats::add(&shared.stats.done, 1);
            Stats::add(&shared.stats.rejected, 1);
        }
        drop(breaker);
        if let Some(message) = tripped {
            shared.stop_with(StopReason::Breaker { message });
        }
        // The in-flight permit goes back only now: a row waiting for it
        // must see the stop the breaker just decided, not send one more
        // request the same rejection would answer.
        drop(self.permit.take());
        Next::Done
    }

    /// Workspace-wide: the row goes back to `pending` and the run stops.
    pub(super) fn on_fatal(&mut self, http_status: u16, message: String, fix: String) -> Next {
        self.row.last_http = Some(http_status);
        self.row.last_error = message.clone();
        self.shared.appender.append(self.record(Status::Pending));
        self.shared.stop_with(StopReason::Fatal {
            http_status: Some(http_status),
            message,
            fix,
        });
        Next::Done
    }

    /// 409/429, nothing created: wait (the server's `Retry-After`, else
    /// backoff) and send again without counting an attempt; a 409 lowers
    /// the in-flight cap, a 429 pauses every send.
    pub(super) fn on_wait(
        &mut self,
        http_status: u16,
        retry_after: Option<Duration>,
        message: String,
    ) -> Next {
        let shared = self.shared;
        self.row.waits = self.row.waits.saturating_add(1);
        self.row.last_http = Some(http_status);
        self.row.last_error = message;
        if http_status == 409 {
            Stats::add(&shared.stats.answers_409, 1);
            let (cap, cut) = shared.limiter.on_conflict();
            Stats::set(&shared.stats.cap, u64::from(cap));
            if cut {
                tracing::info!("409s keep coming: in-flight cap lowered to {cap}");
            }
        } else {
            Stats::add(&shared.stats.answers_429, 1);
        }
        if self.row.waits > MAX_WAITS {
            self.row.last_error = format!(
                "still refused after {MAX_WAITS} waits: {}",
                self.row.last_error
            );
            return self.give_up();
        }
        if let Some(asked) = retry_after
            && !self.count_retry_after(http_status, asked)
        {
            return Next::Done;
        }
        let delay = retry_after.unwrap_or_else(|| shared.backoff.delay(self.row.waits));
        if http_status == 429 {
            shared.pacer.pause_until(Instant::now() + delay);
        }
        Next::RetryAfter {
            delay,
            counted: false,
        }
    }

    /// Counts a `Retry-After` wait against the run's budget; false: the
    /// budget is spent, the row is back to `pending` and the run stops. A
    /// wait cut to the cap starts with a warning saying so.
    pub(super) fn count_retry_after(&mut self, http_status: u16, asked: Duration) -> bool {
        let shared = self.shared;
        match shared.count_retry_after(http_status, asked) {
            Ok(added) => {
                // Once per stretch of waiting, not once per row told at once.
                if asked >= RETRY_AFTER_CAP && added * 2 > asked {
                    tracing::warn!(
                        "HTTP {http_status}: the API asked to wait {} s or longer (Retry-After); \
                         waiting {} s, the longest callplan waits at once, then sending again \
                         ({:.0} of the run's {:.0} min for such waits used)",
                        RETRY_AFTER_CAP.as_secs(),
                        asked.as_secs(),
                        shared.retry_after_waited().as_secs_f64() / 60.0,
                        shared.settings.retry_after_budget.as_secs_f64() / 60.0
                    );
                }
                true
            }
            Err(reason) => {
                self.shared.appender.append(self.record(Status::Pending));
                shared.stop_with(reason);
                false
            }
        }
    }

    /// 5xx or no connection, nothing created: retry with backoff, up to
    /// `max_attempts` sends.
    pub(super) fn on_transient(&mut self, http_status: Option<u16>, message: String) -> Next {
        let shared = self.shared;
        Stats::add(&shared.stats.transient, 1);
        self.row.last_http = http_status;
        self.row.last_error = message;
        if self.row.sends >= shared.settings.max_attempts {
            self.row.last_error = format!(
                "gave up after {} attempts: {}",
                self.row.sends, self.row.last_error
            );
            return self.give_up();
        }
        Next::RetryAfter {
            delay: shared.backoff.delay(self.row.sends),
            counted: true,
        }
    }

    /// Waits `delay` and a pacing slot before a resend (counted as
    /// retrying meanwhile); false if the run stopped.
    pub(super) async fn wait_to_resend(&self, delay: Duration) -> bool {
        let shared = self.shared;
        Stats::add(&shared.stats.retrying, 1);
        let resume = shared.sleep(delay).await && shared.paced().await;
        Stats::sub(&shared.stats.retrying, 1);
        resume
    }
}

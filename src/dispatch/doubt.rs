//! A row whose answer was lost: recorded `in_doubt`, then looked up outside
//! the dispatch slots.
//!
//! The row gives back its in-flight permit and its pipeline place as soon
//! as the answer is lost, so the rows behind it keep dialling while it
//! waits (a request timeout, and more for a list that lags) for its lookup;
//! the lookup's page requests take a permit and a pacing slot like any
//! request. A found call is adopted. "Not found" is believed only from a
//! lookup that started `list_lag` after the request could last have reached
//! the server (its timeout): an earlier empty list cannot tell yet, and the
//! row looks once more then. A row the API answered 2xx without a readable
//! call_id was created, whatever the list says: it stays `in_doubt` and is
//! never sent again on its own (only `--redial-in-doubt` on a later run
//! sends it). Only a call confirmed absent after an answer that said
//! nothing is sent again, after taking a pipeline place again.
//!
//! Why not a separate lookup queue: the dial task already holds everything
//! the lookup needs (the row's progress, its live-call place), and once it
//! has let go of its place and permit it costs a parked future, no more.

use tokio::time::Instant;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::dial::{Next, RowDial, Sent};
use super::reconcile::{self, Lookup};
use super::state::StopReason;
use crate::results::Status;

impl<A: CallsApi> RowDial<'_, A> {
    /// The request left and its answer was lost: recorded `in_doubt`
    /// (stamped with its intent's time); its permit and pipeline place are
    /// given back, and it is looked up.
    pub(super) fn on_in_doubt(&mut self, http_status: Option<u16>, message: String) -> Next {
        let shared = self.shared;
        drop(self.permit.take());
        drop(self.slot.take());
        Stats::add(&shared.stats.lost, 1);
        Stats::add(&shared.stats.in_doubt, 1);
        self.row.last_http = http_status;
        self.row.last_error = message;
        self.row.open_intent = false;
        shared.appender.append(self.record(Status::InDoubt));
        let target = self.target;
        tracing::info!(key = %target.key, row = target.row, "in doubt: {}", self.row.last_error);
        Next::LookUp
    }

    /// Looks a lost request's call up once it can no longer be in flight
    /// (`sent`: when it left), and once more after the list's lag if the
    /// first look found nothing: a found call is adopted, a call confirmed
    /// absent is sent again, an unknown stays `in_doubt`.
    pub(super) async fn look_up(&mut self, sent: Sent) -> Next {
        let shared = self.shared;
        let settings = &shared.settings;
        let in_flight_until = sent.at + settings.lookup_after;
        let listed_by = in_flight_until + settings.list_lag;
        if !shared
            .sleep(in_flight_until.saturating_duration_since(Instant::now()))
            .await
        {
            return Next::Done;
        }
        let (target, round) = (self.target, self.job.round);
        let asked_at = Instant::now();
        let mut found = shared.lookup(target, round, sent.at_utc).await;
        if found == Lookup::Absent && asked_at < listed_by {
            // Cannot tell yet: the list may not show the call so soon.
            tracing::debug!(key = %target.key, "not in the call list yet; looking again after its lag");
            if !shared
                .sleep(listed_by.saturating_duration_since(Instant::now()))
                .await
            {
                return Next::Done;
            }
            found = shared.lookup(target, round, sent.at_utc).await;
        }
        if found == Lookup::Absent
            && let Some(why) = reconcile::said_created(self.row.last_http)
        {
            found = Lookup::Unknown(why);
        }
        match found {
            Lookup::Found(call) => {
                Stats::sub(&shared.stats.in_doubt, 1);
                shared.adopt(
                    self.job.target,
                    target,
                    round,
                    &self.row,
                    &call,
                    self.live_place.take(),
                );
                Next::Done
            }
            Lookup::Absent => {
                Stats::sub(&shared.stats.in_doubt, 1);
                self.row.open_intent = true;
                if self.row.sends >= settings.max_attempts {
                    self.row.last_error = format!(
                        "gave up after {} attempts (the last one confirmed not created): {}",
                        self.row.sends, self.row.last_error
                    );
                    return self.give_up();
                }
                Next::Resend
            }
            Lookup::Unknown(_) if shared.stop.is_cancelled() => Next::Done,
            Lookup::Unknown(why) => {
                self.row.last_error = format!("{}; {why}", self.row.last_error);
                self.settle(Status::InDoubt);
                Next::Done
            }
            Lookup::Fatal(e) => {
                shared.stop_with(StopReason::list_refused(e));
                Next::Done
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    use super::super::fake_api::{FakeApi, Rig, job, last, ours, page, settings, unavailable};
    use crate::api::Answer;
    use crate::results::Status;
    use crate::wire::CallStatus;

    fn lost() -> Answer {
        Answer::InDoubt {
            http_status: None,
            message: "connection closed before the answer".into(),
        }
    }

    fn created(call_id: &str) -> Answer {
        Answer::Created {
            http_status: 201,
            call_id: call_id.into(),
            status: CallStatus::Queued,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_2xx_without_a_call_id_stays_in_doubt_and_is_never_sent_again() {
        let no_id = Answer::InDoubt {
            http_status: Some(201),
            message: "HTTP 201 without a readable call_id".into(),
        };
        let api = FakeApi::default()
            .creating(vec![no_id, created("never")])
            .listing(vec![Ok(page(vec![])), Ok(page(vec![]))]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 1, "a 2xx is a created call");
        assert_eq!(rig.api().lists_asked.load(Relaxed), 2);
        assert_eq!(rig.stat(|s| &s.in_doubt), 1);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::InDoubt);
        assert_eq!(rec.http_status, Some(201));
        assert!(rec.error.contains("(created)"), "{}", rec.error);
        assert!(rec.error.contains("--redial-in-doubt"), "{}", rec.error);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_that_fails_is_asked_again_and_finds_the_call() {
        let api = FakeApi::default()
            .creating(vec![lost(), created("never")])
            .listing(vec![
                Err(unavailable()),
                Ok(page(vec![ours("call_7", "k1")])),
            ]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 1, "nobody is called twice");
        assert_eq!(rig.api().lists_asked.load(Relaxed), 2);
        assert_eq!(rig.stat(|s| &s.adopted), 1);
        assert_eq!(rig.stat(|s| &s.in_doubt), 0);
        assert_eq!(last(&rig.finish().await, "k1").call_id, "call_7");
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_list_before_the_lag_has_passed_is_looked_at_again_not_believed() {
        let mut lagging = settings();
        lagging.list_lag = Duration::from_secs(45);
        // Longer than the request timeout (10 s): the first look cannot see it.
        let api = FakeApi::default()
            .creating(vec![lost(), created("never")])
            .listing(vec![Ok(page(vec![])), Ok(page(vec![ours("call_9", "k1")]))]);
        let rig = Rig::new(api, lagging);
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 1, "nobody is called twice");
        assert_eq!(rig.api().lists_asked.load(Relaxed), 2);
        assert_eq!(rig.stat(|s| &s.adopted), 1);
        assert_eq!(rig.stat(|s| &s.in_doubt), 0);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.call_id, "call_9");
        assert_eq!(rec.status, Status::Call(CallStatus::Ringing));
    }

    #[tokio::test(start_paused = true)]
    async fn with_one_slot_a_lost_answer_does_not_stop_the_next_row_from_being_sent() {
        let mut one = settings();
        one.concurrency = 1;
        let api = FakeApi::default()
            .creating(vec![lost(), created("call_2")])
            .listing(vec![Ok(page(vec![ours("call_1", "k1")]))]);
        let rig = Rig::new(api, one);
        // One place in the pipeline in all (the in-flight cap is one too).
        let spare = rig.shared.ahead.available_permits() - 1;
        rig.shared.ahead.forget_permits(spare);
        let first_slot = rig.shared.slot().await.expect("a place");
        let first = tokio::spawn(super::super::dial::dial(
            rig.shared.clone(),
            job("k1"),
            first_slot,
        ));
        while rig.api().sent().is_empty() {
            tokio::task::yield_now().await;
        }
        // k1 is in doubt and waits for its lookup; k2 gets the place now.
        // The paused clock moves only when every task is idle, as while k2
        // waits for its intent's fsync (a real thread): a task that keeps
        // yielding holds the clock still, so k1's lookup cannot come first
        // (for 30 real seconds at most: a row that never gets the place
        // fails the count below instead of hanging the test).
        let hold_the_clock = tokio::spawn(async {
            let real = std::time::Instant::now();
            while real.elapsed() < Duration::from_secs(30) {
                tokio::task::yield_now().await;
            }
        });
        rig.dial(job("k2")).await;
        hold_the_clock.abort();
        assert_eq!(rig.api().sent().len(), 2);
        assert_eq!(
            rig.api().lists_asked.load(Relaxed),
            0,
            "k2 was sent before k1's lookup"
        );
        first.await.expect("k1's task");
        assert_eq!(rig.api().lists_asked.load(Relaxed), 1);
        let table = rig.finish().await;
        assert_eq!(last(&table, "k1").call_id, "call_1");
        assert_eq!(last(&table, "k2").call_id, "call_2");
    }
}

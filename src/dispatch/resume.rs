//! The resume lookup: what became of a row an earlier run left
//! `dispatching` or `in_doubt`.
//!
//! Its request may still have been in flight when that run ended, so the
//! call is looked up only once the request can no longer be (its intent's
//! time plus the request timeout plus the intent's greatest age). A found
//! call is adopted; a row confirmed absent is dialled again under the same
//! round; a row nobody can vouch for stays `in_doubt` (or, with
//! `--redial-in-doubt`, is dialled anyway). A row whose intent carries no
//! readable time is never guessed at: a guessed window too late would miss
//! the call and ring the person a second time.
//!
//! A time in the future (a clock moved back, a file from another machine)
//! is taken as now, with a warning: the row is looked up once a request
//! sent now could no longer be in flight, not at that future time. If it
//! was further ahead than [`CLOCK_SKEW`], when the request really left is
//! unknown, so a lookup that finds nothing leaves the row `in_doubt`. As
//! within a run, "not found" is believed only once the list's lag has
//! passed, and never for a row the API answered 2xx.

use std::sync::Arc;
use std::time::Duration;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Resume, SentAs, Target};
use super::reconcile::{self, Lookup};
use super::settings::CLOCK_SKEW;
use super::state::{RowState, Shared, StopReason};
use crate::results::{Record, Status};

/// The send time recorded in an intent.
pub(super) fn sent_at(rec: &Record) -> Option<jiff::Timestamp> {
    rec.updated_at.parse().ok()
}

/// When a row's request is taken to have left: its intent's time, or now
/// for a time in the future (a clock moved back, a results file from
/// another machine), which would otherwise hold the lookup off until then.
/// Some((sent, ahead)): `ahead` is how far in the future the time was.
pub(super) fn taken_sent_at(
    rec: &Record,
    now: jiff::Timestamp,
) -> Option<(jiff::Timestamp, Duration)> {
    let written = sent_at(rec)?;
    match Duration::try_from(written.duration_since(now)) {
        Ok(ahead) if !ahead.is_zero() => Some((now, ahead)),
        _ => Some((written, Duration::ZERO)),
    }
}

/// Settles one row left open; Some: the row is to be dialled again.
pub(super) async fn resume_one<A: CallsApi>(shared: Arc<Shared<A>>, open: Resume) -> Option<Job> {
    let Some(in_csv) = shared.settings.targets.get(open.target) else {
        tracing::error!(
            "a row to resume names target {}, which this run does not have",
            open.target
        );
        return None;
    };
    let taken = taken_sent_at(&open.last, jiff::Timestamp::now());
    if let Some((_, ahead)) = taken
        && !ahead.is_zero()
    {
        tracing::warn!(
            "row {} (key {}): its last line's time {} is {} s in the future (a clock moved \
             back, or a results file from another machine): taken as now, so it is looked up \
             once a request sent now could no longer be in flight",
            in_csv.row,
            in_csv.key,
            open.last.updated_at,
            ahead.as_secs()
        );
    }
    let sent = taken.map(|(t, _)| t);
    if let Some(sent) = sent
        && !wait_until_settled(&shared, sent).await
    {
        return None;
    }
    let row = RowState {
        attempts: open.last.attempts,
        last_http: open.last.http_status,
        last_error: open.last.error.to_string(),
        // An intent's time, or an in-doubt record's (which is its intent's).
        intent_at: open.last.updated_at.to_string(),
        ..RowState::default()
    };
    // The request went to the number its intent was written for, which the
    // CSV may have changed since: look that number up, and record what is
    // found (or stays in doubt) under it.
    let logged = open.last.to_number.trim();
    let moved = !logged.is_empty() && logged != in_csv.to_number;
    let mut sent_to = if moved {
        Target {
            to_number: logged.into(),
            ..in_csv.clone()
        }
    } else {
        in_csv.clone()
    };
    // And from the caller ID and agent version it recorded, if it did.
    for (sent, logged) in [
        (&mut sent_to.from_number, &open.last.from_number),
        (&mut sent_to.agent_version_id, &open.last.agent_version_id),
    ] {
        if !logged.trim().is_empty() {
            *sent = logged.trim().into();
        }
    }
    let round = open.last.round;
    let mut found = match sent {
        Some(sent) => look_up_after_lag(&shared, &sent_to, round, sent).await?,
        None => Lookup::Unknown(format!(
            "its last line's updated_at {:?} is not a time, so the call cannot be \
             looked up; fix it to when the request was sent",
            open.last.updated_at
        )),
    };
    if found == Lookup::Absent
        && let Some((_, ahead)) = taken
        && ahead > CLOCK_SKEW
    {
        found = Lookup::Unknown(format!(
            "its last line's time was {} s in the future, so when its request left is not \
             known: no call found since {} s before now, but an earlier one cannot be ruled out",
            ahead.as_secs(),
            shared.settings.lookup_margin.as_secs()
        ));
    }
    if found == Lookup::Absent
        && let Some(why) = reconcile::said_created(open.last.http_status)
    {
        found = Lookup::Unknown(why);
    }
    if moved && found == Lookup::Absent {
        found = Lookup::Unknown(format!(
            "no call to {} found, but the CSV now has {} for this key; \
             check which number was meant",
            sent_to.to_number, in_csv.to_number
        ));
    }
    match found {
        Lookup::Found(call) => {
            shared.adopt(open.target, &sent_to, round, &row, &call, None);
            None
        }
        Lookup::Absent => {
            // Sent again as it was sent (the number is the CSV's: a moved
            // one is never confirmed absent).
            let same_caller = sent_to.from_number == in_csv.from_number
                && sent_to.agent_version_id == in_csv.agent_version_id;
            Some(Job {
                open_intent: true,
                sent_as: (!same_caller).then(|| {
                    Box::new(SentAs {
                        from_number: sent_to.from_number.clone(),
                        agent_version_id: sent_to.agent_version_id.clone(),
                    })
                }),
                ..Job::new(open.target, round, row.attempts)
            })
        }
        Lookup::Unknown(why) if shared.settings.redial_in_doubt => {
            tracing::warn!(key = %in_csv.key, "dialling again although in doubt (--redial-in-doubt): {why}");
            Some(Job::new(open.target, round, row.attempts))
        }
        Lookup::Unknown(_) if shared.stop.is_cancelled() => None,
        Lookup::Unknown(why) => {
            let mut rec = shared.record(&sent_to, round, Status::InDoubt, &row);
            rec.error = crate::text::clean_message(&why).into();
            shared.appender.append(rec);
            Stats::add(&shared.stats.in_doubt, 1);
            Stats::add(&shared.stats.done, 1);
            None
        }
        Lookup::Fatal(e) => {
            shared.stop_with(StopReason::list_refused(e));
            None
        }
    }
}

/// Looks `target`'s call up; a lookup that finds nothing before the
/// list's lag has passed (from when the request could last have reached
/// the server) cannot tell yet, and is asked once more after it. None: the
/// run stopped meanwhile.
async fn look_up_after_lag<A: CallsApi>(
    shared: &Shared<A>,
    target: &Target,
    round: u32,
    sent: jiff::Timestamp,
) -> Option<Lookup> {
    let settings = &shared.settings;
    let listed_by = sent
        .checked_add(span(
            settings.lookup_after + settings.max_intent_age + settings.list_lag,
        ))
        .unwrap_or(sent);
    let found = shared.lookup(target, round, sent).await;
    let early = Duration::try_from(listed_by.duration_since(jiff::Timestamp::now()));
    match early {
        Ok(wait) if found == Lookup::Absent && !wait.is_zero() => {
            shared.sleep(wait).await.then_some(())?;
            Some(shared.lookup(target, round, sent).await)
        }
        _ => Some(found),
    }
}

fn span(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or_default()
}

/// Waits until a request sent under an intent stamped `sent` can no longer
/// be in flight; false if the run stopped meanwhile.
async fn wait_until_settled<A: CallsApi>(shared: &Shared<A>, sent: jiff::Timestamp) -> bool {
    // The request left at most max_intent_age after its intent was stamped.
    let settle = shared.settings.lookup_after + shared.settings.max_intent_age;
    let ready = sent.checked_add(span(settle)).unwrap_or(sent);
    match Duration::try_from(ready.duration_since(jiff::Timestamp::now())) {
        Ok(wait) => shared.sleep(wait).await,
        // Already settled.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::fake_api::{FakeApi, Rig, last, page, settings, target};
    use super::super::job::Resume;
    use super::*;

    fn left_dispatching(at: jiff::Timestamp) -> Resume {
        let t = target("k1");
        let mut last = Record::new(&t.key, t.row, &t.to_number, 1, Status::Dispatching);
        last.attempts = 1;
        last.updated_at = crate::text::format_ts(at).into();
        Resume { target: 0, last }
    }

    #[test]
    fn a_future_intent_time_is_taken_as_now() {
        let now: jiff::Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let ahead = left_dispatching(now + jiff::SignedDuration::from_hours(3));
        assert_eq!(
            taken_sent_at(&ahead.last, now),
            Some((now, Duration::from_secs(3 * 3600)))
        );
        let before = now - jiff::SignedDuration::from_secs(5);
        assert_eq!(
            taken_sent_at(&left_dispatching(before).last, now),
            Some((before, Duration::ZERO))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_intent_time_within_the_clock_skew_is_looked_up_and_resent_if_absent() {
        // Found nowhere at the first look nor after the list's lag.
        let api = FakeApi::default().listing(vec![Ok(page(vec![])), Ok(page(vec![]))]);
        let rig = Rig::new(api, settings());
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
        let job = resume_one(rig.shared.clone(), left_dispatching(soon)).await;

        assert!(job.is_some(), "confirmed absent: dialled again");
        assert_eq!(
            rig.api()
                .lists_asked
                .load(std::sync::atomic::Ordering::SeqCst),
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_intent_time_beyond_the_clock_skew_stays_in_doubt_if_nothing_is_found() {
        let api = FakeApi::default().listing(vec![Ok(page(vec![])), Ok(page(vec![]))]);
        let rig = Rig::new(api, settings());
        let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
        let shared = Arc::clone(&rig.shared);
        assert!(
            resume_one(shared, left_dispatching(tomorrow))
                .await
                .is_none()
        );

        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::InDoubt);
        assert!(rec.error.contains("in the future"), "{}", rec.error);
    }

    #[tokio::test(start_paused = true)]
    async fn a_2xx_row_left_in_doubt_is_not_resent_when_the_list_shows_nothing() {
        let api = FakeApi::default().listing(vec![Ok(page(vec![]))]);
        let rig = Rig::new(api, settings());
        let mut open =
            left_dispatching(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2));
        open.last.status = Status::InDoubt;
        open.last.http_status = Some(204);
        assert!(resume_one(rig.shared.clone(), open).await.is_none());

        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::InDoubt);
        assert!(rec.error.contains("HTTP 204 (created)"), "{}", rec.error);
    }
}

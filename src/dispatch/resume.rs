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

use std::sync::Arc;
use std::time::Duration;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Resume, Target};
use super::reconcile::Lookup;
use super::state::{RowState, Shared, StopReason};
use crate::results::{Record, Status};

/// The send time recorded in an intent.
pub(super) fn sent_at(rec: &Record) -> Option<jiff::Timestamp> {
    rec.updated_at.parse().ok()
}

/// Settles one row left open; Some: the row is to be dialled again.
pub(super) async fn resume_one<A: CallsApi>(shared: Arc<Shared<A>>, open: Resume) -> Option<Job> {
    let sent = sent_at(&open.last);
    if let Some(sent) = sent
        && !wait_until_settled(&shared, sent).await
    {
        return None;
    }
    let row = RowState {
        attempts: open.last.attempts,
        last_http: open.last.http_status,
        last_error: open.last.error.clone(),
        // An intent's time, or an in-doubt record's (which is its intent's).
        intent_at: open.last.updated_at.clone(),
        ..RowState::default()
    };
    // The request went to the number its intent was written for, which the
    // CSV may have changed since: look that number up, and record what is
    // found (or stays in doubt) under it.
    let in_csv = open.target;
    let logged = open.last.to_number.trim();
    let moved = !logged.is_empty() && logged != in_csv.to_number;
    let mut sent_to = if moved {
        Target {
            to_number: logged.to_string(),
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
            *sent = logged.trim().to_string();
        }
    }
    let round = open.last.round;
    let mut found = match sent {
        Some(sent) => shared.lookup(&sent_to, round, sent).await,
        None => Lookup::Unknown(format!(
            "its last line's updated_at {:?} is not a time, so the call cannot be \
             looked up; fix it to when the request was sent",
            open.last.updated_at
        )),
    };
    if moved && found == Lookup::Absent {
        found = Lookup::Unknown(format!(
            "no call to {} found, but the CSV now has {} for this key; \
             check which number was meant",
            sent_to.to_number, in_csv.to_number
        ));
    }
    match found {
        Lookup::Found(call) => {
            shared.adopt(&sent_to, round, &row, &call, None);
            None
        }
        Lookup::Absent => Some(Job {
            target: sent_to,
            round,
            attempts: row.attempts,
            open_intent: true,
        }),
        Lookup::Unknown(why) if shared.settings.redial_in_doubt => {
            tracing::warn!(key = %in_csv.key, "dialling again although in doubt (--redial-in-doubt): {why}");
            Some(Job {
                target: in_csv,
                round,
                attempts: row.attempts,
                open_intent: false,
            })
        }
        Lookup::Unknown(_) if shared.stop.is_cancelled() => None,
        Lookup::Unknown(why) => {
            let mut rec = shared.record(&sent_to, round, Status::InDoubt, &row);
            rec.error = crate::text::clean_message(&why);
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

/// Waits until a request sent under an intent stamped `sent` can no longer
/// be in flight; false if the run stopped meanwhile.
async fn wait_until_settled<A: CallsApi>(shared: &Shared<A>, sent: jiff::Timestamp) -> bool {
    // The request left at most max_intent_age after its intent was stamped.
    let settle = shared.settings.lookup_after + shared.settings.max_intent_age;
    let ready = sent
        .checked_add(jiff::SignedDuration::try_from(settle).unwrap_or_default())
        .unwrap_or(sent);
    match Duration::try_from(ready.duration_since(jiff::Timestamp::now())) {
        Ok(wait) => shared.sleep(wait).await,
        // Already settled.
        Err(_) => true,
    }
}

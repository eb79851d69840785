//! Outcome sync by list pages: every `--poll-every`, one `GET /v1/calls`
//! per caller ID in use (`from`, `start_date` a margin before the oldest
//! call not yet ended, `limit=200`, newest first, paged until past that
//! window), matched to the watched calls by call_id. A page settles every
//! call it shows, so watching a campaign costs a few requests per cycle
//! instead of one per live call (API-NOTES.md: reads and dials share the
//! key's rate limit).
//!
//! `GET /v1/calls/{id}` remains for what a list cannot settle: a call
//! missing from its window for [`MISSING_CYCLES`] cycles (another caller
//! ID, a clock that disagrees, a list index that lags), or the calls of a
//! list that failed (at once; after [`MISSING_CYCLES`] when it was refused
//! for the rate limit, since single reads would spend the same budget).
//! What a single read tells (the call's own caller ID and creation time)
//! corrects the list it is looked for in; a call the list still cannot see
//! after that is read singly each cycle.
//!
//! With `max_active_calls`, while every place is taken (dials wait for an
//! end to be seen) and while the run waits for its last calls, the next
//! cycle comes when about [`forecast::ENDS_PER_LIST`] new ends are
//! expected ([`forecast`]): at the rate of ends seen while places are all
//! taken, from the last calls' ages and the lifetimes seen when closing;
//! never sooner than [`LIST_FLOOR`] nor later than `--poll-every`, and
//! every second ([`MIN_INTERVAL`]) while places are all taken before any
//! call has been seen ended. So a list shows about four ends and costs
//! about a quarter of a request per call, however long calls last (a
//! fixed one-second cycle cost a request per second of the run). A call
//! not yet seen in a list is looked for from a few seconds before its
//! creation by the API's clock, once a sighting has told how that clock
//! and ours differ ([`LEARNT_MARGIN`]), so the window stays one page.
//! A call whose ending the post-call store already holds (a run killed
//! after fetching it) is settled from the store, with no request.
//!
//! Every request takes an in-flight permit and a pacing slot from the
//! run's limiter and pacer, as the dials do. What becomes of a sighting
//! (a status change recorded, an ending recorded with its redial, a
//! live-call place given back) is the per-call poller's: [`super::poll`].
//! Why not webhooks: they need a public URL, which a command line run on a
//! laptop does not have.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::Tracked;
use super::poll::{Entry, MIN_INTERVAL, Watch, on_answer, sleep_until};
use super::state::{Shared, StopReason, stopped};
use crate::api::LookupError;
use crate::wire::{Call, CallStatus};

mod forecast;

use forecast::{Forecast, Live};

/// Cycles a call may be missing from its list's window before it is read
/// on its own.
pub const MISSING_CYCLES: u32 = 3;

/// How far before a call's first local sighting its list window starts
/// (the API's clock may disagree with ours; a call whose creation time the
/// API gave needs only a second, for the truncation of `start_date`).
pub const WINDOW_MARGIN: Duration = Duration::from_secs(60);

/// How far before its creation by the API's clock (our time for it plus
/// the offset sightings taught) the window of a call not yet seen starts:
/// room for a slow answer to its create and for the clocks' jitter.
pub const LEARNT_MARGIN: Duration = Duration::from_secs(10);

/// Cycles steered by the forecast come at most this often.
pub const LIST_FLOOR: Duration = Duration::from_millis(250);

/// Pages read at most per caller ID per cycle (200 calls a page): calls
/// past them are read singly, and a server that always says `has_more`
/// cannot keep a cycle going.
pub const MAX_PAGES: u32 = 25;

/// A watched call and what the sync knows of where to find it.
#[derive(Debug)]
struct Watched {
    entry: Entry,
    /// The caller ID whose list should show it.
    from: String,
    /// Its window starts here at the latest.
    since: jiff::Timestamp,
    /// `from` and `since` come from the API (a sighting or a single read).
    learned: bool,
    /// Cycles in a row its list did not show it.
    missing: u32,
    /// When it was handed to the sync (a list begun before cannot show it).
    added: Instant,
    /// When it was created, by our clock (as near as known).
    born: Instant,
    /// When a sighting last showed it not ended.
    alive_at: Instant,
}

type Book = FxHashMap<u64, Watched>;

/// Syncs until every call is terminal and `closed` is cancelled, or the
/// run stops.
pub(super) async fn run<A: CallsApi>(
    shared: Arc<Shared<A>>,
    mut rx: mpsc::UnboundedReceiver<Tracked>,
    closed: CancellationToken,
    every: Duration,
) {
    let mut book = Book::default();
    let mut forecast = Forecast::default();
    let mut next_id = 0u64;
    let mut next_cycle = Instant::now() + every;
    let mut last_cycle: Option<Instant> = None;
    let mut add =
        |book: &mut Book, call: Tracked, next_cycle: &mut Instant, offset: Option<f64>| {
            let Some(call) = unless_stored(&shared, call) else {
                return;
            };
            if book.is_empty() {
                // The first call of a quiet spell is looked for `every` after it came.
                *next_cycle = (*next_cycle).max(Instant::now() + every);
            }
            book.insert(next_id, watched(&shared, call, offset));
            next_id += 1;
        };
    loop {
        if shared.stop.is_cancelled() || (closed.is_cancelled() && !shared.settings.wait) {
            break;
        }
        if book.is_empty() && closed.is_cancelled() {
            // Anything sent before `closed` is in the channel already.
            match rx.try_recv() {
                Ok(call) => {
                    add(&mut book, call, &mut next_cycle, forecast.offset());
                    continue;
                }
                Err(_) => break,
            }
        }
        let due = (!book.is_empty()).then_some(next_cycle);
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            Some(call) = rx.recv() => add(&mut book, call, &mut next_cycle, forecast.offset()),
            _ = sleep_until(due) => {
                let started = Instant::now();
                while let Ok(call) = rx.try_recv() {
                    add(&mut book, call, &mut next_cycle, forecast.offset());
                }
                let ends_before = forecast.ends_seen();
                let go_on = tokio::select! {
                    biased;
                    _ = shared.stop.cancelled() => false,
                    go_on = cycle(&shared, &mut book, &mut forecast, started) => go_on,
                };
                if !go_on {
                    break;
                }
                if let Some(last) = last_cycle {
                    let gap = started.saturating_duration_since(last).as_secs_f64();
                    forecast.cycled(forecast.ends_seen() - ends_before, gap);
                }
                last_cycle = Some(started);
                let closing = closed.is_cancelled();
                next_cycle = next_cycle_at(&shared, &book, &mut forecast, started, every, closing);
            }
            _ = closed.cancelled(), if !closed.is_cancelled() => {}
        }
    }
}

/// When the next cycle starts: `every` after this one began, unless a
/// live-call cap is set and its places are what dials wait for (all taken)
/// or the run waits for its last calls (`closing`). Then when the
/// forecast expects enough ends (evenly spaced at the rate of ends while
/// places are all taken; by the last calls' lifetimes when closing),
/// between [`LIST_FLOOR`] and `every` after this one began (`every` once
/// lists have outrun the ends they showed); before it can tell,
/// [`MIN_INTERVAL`] while the places are all taken (a list costs the same
/// however many calls it settles).
fn next_cycle_at<A>(
    shared: &Shared<A>,
    book: &Book,
    forecast: &mut Forecast,
    started: Instant,
    every: Duration,
    closing: bool,
) -> Instant {
    let Some(places) = &shared.active else {
        return started + every;
    };
    let saturated = places.available_permits() == 0;
    if !saturated && !closing {
        return started + every;
    }
    let now = Instant::now();
    let earliest = (started + LIST_FLOOR.min(every)).saturating_duration_since(now);
    let latest = (started + every).saturating_duration_since(now);
    let after = if saturated {
        forecast.steady(earliest, latest)
    } else {
        let secs = |t: Instant, born: Instant| t.saturating_duration_since(born).as_secs_f64();
        let calls: Vec<Live> = book
            .values()
            .map(|w| Live {
                age: secs(now, w.born),
                alive_at_age: secs(w.alive_at, w.born),
            })
            .collect();
        forecast.next_list(&calls, earliest, latest)
    };
    let at = match after {
        Some(after) => now + after,
        None if saturated => started + MIN_INTERVAL.min(every),
        None => started + every,
    };
    tracing::debug!(
        watched = book.len(),
        saturated,
        closing,
        in_ms = at.saturating_duration_since(now).as_millis() as u64,
        "next list"
    );
    at
}

/// A call as the sync first watches it. `offset`: how far the API's
/// creation times lie from ours, once a sighting told.
fn watched<A>(shared: &Shared<A>, call: Tracked, offset: Option<f64>) -> Watched {
    let from = if call.from_number.is_empty() {
        shared.campaign.from_number.clone()
    } else {
        call.from_number.clone()
    };
    let now_utc = jiff::Timestamp::now();
    let first_seen = call.seen_at.unwrap_or(now_utc).min(now_utc);
    let since = offset
        .and_then(|o| jiff::SignedDuration::try_from_secs_f64(o).ok())
        .and_then(|o| first_seen.checked_add(o).ok())
        .map_or_else(
            || before(first_seen, WINDOW_MARGIN),
            |t| before(t, LEARNT_MARGIN),
        );
    let now = Instant::now();
    let age = Duration::try_from(now_utc.duration_since(first_seen)).unwrap_or_default();
    let born = now.checked_sub(age).unwrap_or(now);
    Watched {
        from,
        since,
        learned: false,
        missing: 0,
        added: now,
        born,
        alive_at: born,
        entry: Entry::new(call),
    }
}

/// A call whose ending the post-call store holds already (fetched by a run
/// that stopped before it recorded the ending: a crash, `kill -9`) is
/// settled from there, with no request: None. Else the call, to watch.
/// Only a line of the same row and round, read after the call's record
/// was written, is trusted: a store left from another campaign's calls
/// (a sandbox restarted gives out the same call_ids) settles nothing.
fn unless_stored<A: CallsApi>(shared: &Arc<Shared<A>>, call: Tracked) -> Option<Tracked> {
    let Some(store) = &shared.settings.outcomes else {
        return Some(call);
    };
    let Some(seen) = call.seen_at else {
        return Some(call);
    };
    let after_seen = |fetched: &str| {
        fetched
            .parse::<jiff::Timestamp>()
            .is_ok_and(|t| t >= before(seen, Duration::from_secs(1)))
    };
    let kept = match store.get(&call.call_id) {
        Ok(Some(kept))
            if CallStatus::parse(&kept.status).is_terminal()
                && kept.key == call.key
                && kept.round == call.round
                && after_seen(&kept.fetched_at) =>
        {
            kept
        }
        Ok(_) => return Some(call),
        Err(e) => {
            tracing::warn!(call_id = %call.call_id, "{e}; reading the call from the API");
            return Some(call);
        }
    };
    tracing::debug!(call_id = %call.call_id, status = %kept.status, "ended as the post-call store holds it");
    let ended = Call {
        call_id: call.call_id.clone(),
        status: kept.status,
        end_reason: kept.end_reason,
        duration_s: kept.duration_s,
        // When it was read, ended: the latest its end can be.
        ended_at: Some(kept.fetched_at).filter(|t| !t.is_empty()),
        ..Call::default()
    };
    match on_answer(shared, Entry::new(call), Ok(ended)) {
        Watch::Again(entry) => Some(entry.call),
        Watch::LetGo | Watch::Stop => None,
    }
}

/// `t` less `margin` (`t` itself when that is out of range).
fn before(t: jiff::Timestamp, margin: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(margin)
        .ok()
        .and_then(|m| t.checked_sub(m).ok())
        .unwrap_or(t)
}

/// What a list said of one caller ID's window.
enum Listing {
    /// Every call the window showed, by call_id.
    Seen(FxHashMap<String, Call>),
    /// The list failed; `rate_limited` when refused for the rate limit.
    Failed { rate_limited: bool },
}

/// One cycle: a list per caller ID, then single reads of what the lists
/// could not settle. False when the run stops.
async fn cycle<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    book: &mut Book,
    forecast: &mut Forecast,
    started: Instant,
) -> bool {
    let mut windows: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    for w in book.values() {
        windows
            .entry(w.from.clone())
            .and_modify(|s| *s = (*s).min(w.since))
            .or_insert(w.since);
    }
    let mut listings = FxHashMap::default();
    for (from, since) in windows {
        match list_window(shared, forecast, &from, since).await {
            Ok(listing) => listings.insert(from, listing),
            Err(err) => {
                stop_fatal(shared, err);
                return false;
            }
        };
    }
    let mut singles = Vec::new();
    let ids: Vec<u64> = book.keys().copied().collect();
    for id in ids {
        let Some(w) = book.get_mut(&id) else { continue };
        let read_singly = match listings.get(&w.from) {
            Some(Listing::Seen(seen)) => match seen.get(w.entry.call.call_id.as_str()) {
                Some(call) => {
                    w.missing = 0;
                    learn(w, forecast, call);
                    let Some(w) = book.remove(&id) else { continue };
                    if !settle(shared, book, forecast, id, w, Ok(call.clone()), started) {
                        return false;
                    }
                    continue;
                }
                None => missed(w, started),
            },
            Some(Listing::Failed { rate_limited: true }) => missed(w, started),
            Some(Listing::Failed {
                rate_limited: false,
            }) => true,
            None => false,
        };
        if read_singly {
            singles.push((id, w.entry.call.call_id.clone()));
        }
    }
    read_singly(shared, book, forecast, singles).await
}

/// A cycle whose list did not show `w`: true when it is read singly now.
fn missed(w: &mut Watched, started: Instant) -> bool {
    if w.added < started {
        w.missing = w.missing.saturating_add(1);
    }
    w.missing >= MISSING_CYCLES
}

/// What the API said of a call's caller ID and creation corrects where
/// the sync looks for it, and tells how its clock and ours differ.
fn learn(w: &mut Watched, forecast: &mut Forecast, call: &Call) {
    if !call.from_number.trim().is_empty() {
        w.from = call.from_number.trim().to_string();
    }
    if let Ok(created) = call.created_at.trim().parse::<jiff::Timestamp>() {
        w.since = before(created, Duration::from_secs(1));
        if !w.learned
            && let Some(ours) = w.entry.call.seen_at
        {
            forecast.clock_offset(created.duration_since(ours).as_secs_f64());
        }
    }
    w.learned = true;
}

/// How long a call seen ended lived: by the API's own times when it gave
/// them, else from our time for its creation to `seen`.
fn lifetime(w: &Watched, call: &Call, seen: Instant) -> f64 {
    let at = |t: Option<&str>| t.and_then(|t| t.trim().parse::<jiff::Timestamp>().ok());
    match (at(Some(&call.created_at)), at(call.ended_at.as_deref())) {
        (Some(created), Some(ended)) => ended.duration_since(created).as_secs_f64(),
        _ => seen.saturating_duration_since(w.born).as_secs_f64(),
    }
}

/// Acts on what was learnt of one call (seen at `seen`); false when the
/// run stops.
fn settle<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    book: &mut Book,
    forecast: &mut Forecast,
    id: u64,
    mut w: Watched,
    answer: Result<Call, LookupError>,
    seen: Instant,
) -> bool {
    if let Ok(call) = &answer {
        if CallStatus::parse(&call.status).is_terminal() {
            forecast.ended(lifetime(&w, call, seen));
        } else {
            w.alive_at = seen;
        }
    }
    let Watched { entry, .. } = w;
    match on_answer(shared, entry, answer) {
        Watch::Again(entry) => {
            w.entry = entry;
            book.insert(id, w);
            true
        }
        Watch::LetGo => true,
        Watch::Stop => false,
    }
}

/// Reads `singles` one by one (as many at once as the run's concurrency);
/// false when the run stops.
async fn read_singly<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    book: &mut Book,
    forecast: &mut Forecast,
    singles: Vec<(u64, String)>,
) -> bool {
    let mut reads = JoinSet::new();
    let max_parallel = shared.settings.concurrency.max(1) as usize;
    let mut queue = singles.into_iter();
    loop {
        while reads.len() < max_parallel
            && let Some((id, call_id)) = queue.next()
        {
            let shared = shared.clone();
            reads.spawn(async move {
                let Some(_permit) = shared.gate().await else {
                    return (id, Err(stopped()));
                };
                Stats::add(&shared.stats.in_flight, 1);
                let answer = shared.api.get(&call_id).await;
                Stats::sub(&shared.stats.in_flight, 1);
                (id, answer)
            });
        }
        let Some(res) = reads.join_next().await else {
            return true;
        };
        let Ok((id, answer)) = res else { continue };
        let Some(mut w) = book.remove(&id) else {
            continue;
        };
        if let Ok(call) = &answer
            && !w.learned
        {
            // Now the list knows where to look: give it its chances again.
            learn(&mut w, forecast, call);
            w.missing = 0;
        }
        if !settle(shared, book, forecast, id, w, answer, Instant::now()) {
            reads.abort_all();
            return false;
        }
    }
}

/// The calls of one caller ID created since `since`, page by page until
/// past the window: a record older than it, a page that says it is the
/// last (or comes back short), or [`MAX_PAGES`]. Err only when fatal.
async fn list_window<A: CallsApi>(
    shared: &Shared<A>,
    forecast: &mut Forecast,
    from: &str,
    since: jiff::Timestamp,
) -> Result<Listing, LookupError> {
    // Whole seconds, rounded down: the window only grows.
    let since = jiff::Timestamp::from_second(since.as_second()).unwrap_or(since);
    let start_date = since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut seen = FxHashMap::default();
    for page in 1..=MAX_PAGES {
        let Some(_permit) = shared.gate().await else {
            return Err(stopped());
        };
        Stats::add(&shared.stats.in_flight, 1);
        forecast.listed();
        let answer = shared.api.list_from(from, &start_date, page).await;
        Stats::sub(&shared.stats.in_flight, 1);
        let list = match answer {
            Ok(list) => list,
            Err(err) if err.fatal => return Err(err),
            Err(err) => {
                tracing::debug!(
                    from,
                    page,
                    "the call list failed ({err}); reading its calls singly"
                );
                return Ok(Listing::Failed {
                    rate_limited: err.http_status == Some(429),
                });
            }
        };
        let records = list.data.len() + list.unreadable as usize;
        let mut past_window = false;
        for call in list.data {
            past_window |= call
                .created_at
                .trim()
                .parse::<jiff::Timestamp>()
                .is_ok_and(|t| t < since);
            // A later page was read later: its word on a call is the newer.
            seen.insert(call.call_id.trim().to_string(), call);
        }
        if past_window || !list.has_more || records == 0 {
            tracing::debug!(from, %start_date, pages = page, calls = seen.len(), "listed");
            break;
        }
    }
    Ok(Listing::Seen(seen))
}

/// Stops the run on a refused list (a stop while waiting is no refusal).
fn stop_fatal<A: CallsApi>(shared: &Shared<A>, err: LookupError) {
    if err.fatal {
        shared.stop_with(StopReason::Fatal {
            http_status: err.http_status,
            message: err.message,
            fix: "check the API key and the workspace (the call list was refused)".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::super::fake_api::{FROM, FakeApi, Rig, call, last, page, settings};
    use super::*;
    use crate::results::Status;
    use crate::wire::{CallList, CallStatus};

    fn watching() -> super::super::Settings {
        let mut s = settings();
        s.poll_every = Some(Duration::from_secs(5));
        s.wait = true;
        s.poll_by = super::super::poll::PollBy::List;
        s
    }

    fn ringing(key: &str, call_id: &str) -> Tracked {
        Tracked {
            key: key.into(),
            row: 2,
            to_number: "+16505550199".into(),
            round: 1,
            call_id: call_id.into(),
            attempts: 1,
            http_status: Some(201),
            status: CallStatus::Ringing,
            holds_slot: false,
            from_number: String::new(),
            agent_version_id: String::new(),
            seen_at: None,
        }
    }

    fn ended(id: &str, status: &str) -> Call {
        Call {
            end_reason: Some("hung up".into()),
            duration_s: Some(12.0),
            ..call(id, status)
        }
    }

    /// A bare-array page: no paging fields (what `parse_call_list` makes
    /// of one: has_more only when full).
    fn bare(calls: Vec<Call>) -> CallList {
        let body = serde_json::to_vec(&calls).expect("JSON");
        crate::api::parse_call_list(&body).expect("a list")
    }

    /// Hands `calls` over and syncs until every one is let go.
    async fn sync_to_the_end(rig: &mut Rig, calls: Vec<Tracked>) {
        for call in calls {
            rig.shared.track(call);
        }
        let rx = rig.poll_rx.take().expect("a polling run");
        let closed = CancellationToken::new();
        closed.cancel();
        super::super::poll::run(rig.shared.clone(), rx, closed, Duration::from_secs(5)).await;
    }

    fn lists(rig: &Rig) -> Vec<(String, String, u32)> {
        rig.api().listed_from.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn one_list_page_settles_several_calls_in_one_request() {
        let api = FakeApi::default().listing_from(vec![Ok(page(vec![
            ended("c3", "busy"),
            ended("c2", "no_answer"),
            ended("c1", "completed"),
        ]))]);
        let mut rig = Rig::new(api, watching());
        let calls = vec![
            ringing("k1", "c1"),
            ringing("k2", "c2"),
            ringing("k3", "c3"),
        ];
        sync_to_the_end(&mut rig, calls).await;

        let asked = lists(&rig);
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked[0].0, FROM, "listed by the plan's caller ID");
        assert_eq!(asked[0].2, 1);
        assert!(asked[0].1.ends_with('Z'), "{asked:?}");
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
        assert_eq!(rig.stat(|s| &s.ended), 3);
        let table = rig.finish().await;
        assert_eq!(
            last(&table, "k1").status,
            Status::Call(CallStatus::Completed)
        );
        assert_eq!(
            last(&table, "k2").status,
            Status::Call(CallStatus::NoAnswer)
        );
        let k3 = last(&table, "k3");
        assert_eq!(k3.status, Status::Call(CallStatus::Busy));
        assert_eq!(
            (k3.end_reason.as_str(), k3.duration_s.as_str()),
            ("hung up", "12")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_missing_from_the_window_for_three_cycles_is_read_on_its_own() {
        // c1 ends on the first page; c2 never shows in the list.
        let api = FakeApi::default()
            .listing_from(vec![
                Ok(page(vec![ended("c1", "completed")])),
                Ok(page(vec![])),
                Ok(page(vec![])),
            ])
            .getting_id("c2", vec![Ok(ended("c2", "voicemail"))]);
        let mut rig = Rig::new(api, watching());
        sync_to_the_end(&mut rig, vec![ringing("k1", "c1"), ringing("k2", "c2")]).await;

        assert_eq!(lists(&rig).len(), MISSING_CYCLES as usize);
        assert_eq!(*rig.api().got.lock().unwrap(), vec!["c2".to_string()]);
        let table = rig.finish().await;
        assert_eq!(
            last(&table, "k1").status,
            Status::Call(CallStatus::Completed)
        );
        assert_eq!(
            last(&table, "k2").status,
            Status::Call(CallStatus::Voicemail)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_read_moves_a_call_to_the_list_of_its_own_caller_id() {
        // c1 left from another caller ID than the plan's: the single read
        // says which, and its list settles it from then on.
        let other = "+14155550111";
        let api = FakeApi::default()
            .listing_from(vec![
                Ok(page(vec![])),
                Ok(page(vec![])),
                Ok(page(vec![])),
                Ok(page(vec![ended("c1", "completed")])),
            ])
            .getting_id(
                "c1",
                vec![Ok(Call {
                    from_number: other.into(),
                    created_at: "2026-06-01T14:59:30Z".into(),
                    ..call("c1", "in_progress")
                })],
            );
        let mut rig = Rig::new(api, watching());
        sync_to_the_end(&mut rig, vec![ringing("k1", "c1")]).await;

        let asked = lists(&rig);
        assert_eq!(asked.len(), 4, "{asked:?}");
        assert_eq!(asked[3].0, other);
        assert_eq!(asked[3].1, "2026-06-01T14:59:29Z", "from its own creation");
        assert_eq!(rig.api().gets_asked.load(Relaxed), 1);
        let table = rig.finish().await;
        assert_eq!(
            last(&table, "k1").status,
            Status::Call(CallStatus::Completed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_list_falls_back_to_single_reads() {
        let down = LookupError {
            http_status: Some(503),
            message: "unavailable".into(),
            fatal: false,
        };
        let api = FakeApi::default()
            .listing_from(vec![Err(down)])
            .getting_id("c1", vec![Ok(ended("c1", "completed"))])
            .getting_id("c2", vec![Ok(ended("c2", "failed"))]);
        let mut rig = Rig::new(api, watching());
        sync_to_the_end(&mut rig, vec![ringing("k1", "c1"), ringing("k2", "c2")]).await;

        assert_eq!(lists(&rig).len(), 1);
        let mut got = rig.api().got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, vec!["c1".to_string(), "c2".to_string()]);
        let table = rig.finish().await;
        assert_eq!(last(&table, "k2").status, Status::Call(CallStatus::Failed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_list_stops_the_run() {
        let refused = LookupError {
            http_status: Some(401),
            message: "invalid API key".into(),
            fatal: true,
        };
        let api = FakeApi::default().listing_from(vec![Err(refused)]);
        let mut rig = Rig::new(api, watching());
        sync_to_the_end(&mut rig, vec![ringing("k1", "c1")]).await;
        assert!(rig.shared.stop.is_cancelled());
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn bare_array_pages_are_read_until_one_comes_back_short() {
        // 200 calls still ringing fill page 1; page 2 is short and holds
        // the call that ended. The next cycle finds every call ended.
        let live: Vec<Call> = (0..200)
            .map(|i| call(&format!("x{i}"), "ringing"))
            .collect();
        let all_done: Vec<Call> = (0..200)
            .map(|i| ended(&format!("x{i}"), "completed"))
            .collect();
        let api = FakeApi::default().listing_from(vec![
            Ok(bare(live)),
            Ok(bare(vec![ended("c1", "completed")])),
            Ok(bare(all_done)),
            Ok(bare(vec![])),
        ]);
        let mut rig = Rig::new(api, watching());
        let mut calls = vec![ringing("k1", "c1")];
        calls.extend((0..200).map(|i| ringing(&format!("kx{i}"), &format!("x{i}"))));
        sync_to_the_end(&mut rig, calls).await;

        let pages: Vec<u32> = lists(&rig).iter().map(|l| l.2).collect();
        assert_eq!(pages, vec![1, 2, 1, 2]);
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
        assert_eq!(rig.stat(|s| &s.ended), 201);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_sighting_of_an_end_frees_the_live_call_place() {
        let mut s = watching();
        s.max_active = Some(1);
        let api = FakeApi::default().listing_from(vec![
            Ok(page(vec![call("c1", "in_progress")])),
            Ok(page(vec![ended("c1", "completed")])),
        ]);
        let mut rig = Rig::new(api, s);
        let places = rig.shared.active.clone().expect("a live-call cap");
        let place = places.clone().try_acquire_owned().expect("the one place");
        place.forget();
        let mut held = ringing("k1", "c1");
        held.holds_slot = true;
        assert_eq!(places.available_permits(), 0);
        sync_to_the_end(&mut rig, vec![held]).await;

        assert_eq!(lists(&rig).len(), 2);
        assert_eq!(places.available_permits(), 1, "given back on the sighting");
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
        let table = rig.finish().await;
        assert_eq!(
            last(&table, "k1").status,
            Status::Call(CallStatus::Completed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ending_seen_on_a_page_is_kept_in_the_post_call_store_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("june.outcomes.jsonl");
        let mut s = watching();
        let store = Arc::new(crate::outcomes::Store::open(&path).expect("a store"));
        s.outcomes = Some(store.clone());
        let answered = Call {
            summary: Some("Confirmed for Tuesday.".into()),
            post_call_analysis: Some(crate::wire::Analysis::from([(
                "appointment_confirmed".to_string(),
                serde_json::Value::from("yes"),
            )])),
            ..ended("c1", "completed")
        };
        let api = FakeApi::default().listing_from(vec![Ok(page(vec![answered]))]);
        let mut rig = Rig::new(api, s);
        sync_to_the_end(&mut rig, vec![ringing("k1", "c1")]).await;
        // The same ending seen again (a later run, `track`) is not kept twice.
        let mut tracked = ringing("k1", "c1");
        tracked.status = CallStatus::Completed;
        super::super::poll::keep_outcome(&rig.shared, &tracked, &ended("c1", "completed"));

        assert!(store.has("c1"));
        let kept = crate::outcomes::read(&path).expect("the store reads back");
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].key.as_str(), kept[0].round), ("k1", 1));
        assert_eq!(kept[0].summary.as_deref(), Some("Confirmed for Tuesday."));
        assert_eq!(kept[0].field("appointment_confirmed"), Some("yes"));
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("the file")
                .lines()
                .count(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn once_a_sighting_tells_the_apis_clock_a_new_call_is_looked_for_from_seconds_before_it()
    {
        // c1's record is ours at `now`; the API says it was created 2 s
        // earlier. c2, handed over after that sighting, is looked for from
        // 2 + 10 s before our time for it, not a minute before.
        let now = jiff::Timestamp::now();
        let created = now - jiff::SignedDuration::from_secs(2);
        let api = FakeApi::default().listing_from(vec![
            Ok(page(vec![Call {
                created_at: created.to_string(),
                ..ended("c1", "completed")
            }])),
            Ok(page(vec![ended("c2", "completed")])),
        ]);
        let mut rig = Rig::new(api, watching());
        let mut first = ringing("k1", "c1");
        first.seen_at = Some(now);
        rig.shared.track(first);
        let rx = rig.poll_rx.take().expect("a polling run");
        let closed = CancellationToken::new();
        let every = Duration::from_secs(5);
        let task = tokio::spawn(super::super::poll::run(
            rig.shared.clone(),
            rx,
            closed.clone(),
            every,
        ));
        tokio::time::sleep(every + Duration::from_secs(1)).await;
        assert_eq!(lists(&rig).len(), 1, "c1 was seen");
        rig.shared.track(ringing("k2", "c2"));
        closed.cancel();
        task.await.expect("the sync ends");

        let asked = lists(&rig);
        assert_eq!(asked.len(), 2, "{asked:?}");
        let first_since: jiff::Timestamp = asked[0].1.parse().expect("a start_date");
        assert!(now.duration_since(first_since) >= jiff::SignedDuration::from_secs(60));
        let since: jiff::Timestamp = asked[1].1.parse().expect("a start_date");
        let lead = jiff::Timestamp::now().duration_since(since).as_secs();
        assert!((12..=14).contains(&lead), "{lead} s: {asked:?}");
        assert_eq!(rig.stat(|s| &s.ended), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_ending_the_store_holds_is_settled_without_a_request() {
        // A run killed after it kept c1's ending, before it recorded it:
        // the rerun hands c1 over still `ringing`.
        let written = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("june.results.calls.jsonl");
        let store = Arc::new(crate::outcomes::Store::open(&path).expect("a store"));
        let kept = Call {
            summary: Some("Confirmed.".into()),
            ..ended("c1", "completed")
        };
        assert!(store.keep("k1", 1, "c1", &kept).expect("kept"));
        let mut s = watching();
        s.outcomes = Some(store);
        let api = FakeApi::default().listing_from(vec![Ok(page(vec![ended("c2", "busy")]))]);
        let mut rig = Rig::new(api, s);
        let mut k1 = ringing("k1", "c1");
        k1.seen_at = Some(written);
        sync_to_the_end(&mut rig, vec![k1, ringing("k2", "c2")]).await;

        // One list, for c2 only; c1 was not read again.
        assert_eq!(lists(&rig).len(), 1);
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
        assert_eq!(rig.stat(|s| &s.ended), 2);
        let table = rig.finish().await;
        let k1 = last(&table, "k1");
        assert_eq!(k1.status, Status::Call(CallStatus::Completed));
        assert_eq!(
            (k1.end_reason.as_str(), k1.duration_s.as_str()),
            ("hung up", "12")
        );
        assert_eq!(last(&table, "k2").status, Status::Call(CallStatus::Busy));
        let lines = std::fs::read_to_string(&path).expect("the store");
        assert_eq!(lines.lines().count(), 2, "c1 once, c2 once: {lines}");
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_store_holds_every_call_nothing_is_listed() {
        let written = jiff::Timestamp::now();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            crate::outcomes::Store::open(&dir.path().join("s.calls.jsonl")).expect("a store"),
        );
        assert!(
            store
                .keep("k1", 1, "c1", &ended("c1", "no_answer"))
                .expect("kept")
        );
        let mut s = watching();
        s.outcomes = Some(store);
        let mut rig = Rig::new(FakeApi::default(), s);
        let mut k1 = ringing("k1", "c1");
        k1.seen_at = Some(written);
        sync_to_the_end(&mut rig, vec![k1]).await;
        assert!(lists(&rig).is_empty());
        assert_eq!(rig.api().gets_asked.load(Relaxed), 0);
        let table = rig.finish().await;
        assert_eq!(
            last(&table, "k1").status,
            Status::Call(CallStatus::NoAnswer)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_line_older_than_the_call_or_of_another_row_settles_nothing() {
        // A store left from a sandbox that gave out the same call_ids.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            crate::outcomes::Store::open(&dir.path().join("s.calls.jsonl")).expect("a store"),
        );
        store
            .keep("k1", 1, "c1", &ended("c1", "no_answer"))
            .expect("kept");
        store
            .keep("other", 1, "c2", &ended("c2", "no_answer"))
            .expect("kept");
        let mut s = watching();
        s.outcomes = Some(store);
        let api = FakeApi::default().listing_from(vec![Ok(page(vec![
            ended("c1", "completed"),
            ended("c2", "completed"),
        ]))]);
        let mut rig = Rig::new(api, s);
        let mut k1 = ringing("k1", "c1");
        k1.seen_at = Some(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60));
        let mut k2 = ringing("k2", "c2");
        k2.seen_at = Some(jiff::Timestamp::now());
        sync_to_the_end(&mut rig, vec![k1, k2]).await;
        assert_eq!(lists(&rig).len(), 1, "both were read from the API");
        let table = rig.finish().await;
        let completed = Status::Call(CallStatus::Completed);
        assert_eq!(last(&table, "k1").status, completed);
        assert_eq!(last(&table, "k2").status, completed);
    }

    #[tokio::test(start_paused = true)]
    async fn cycles_come_every_second_while_every_live_call_place_is_taken() {
        let mut s = watching();
        s.max_active = Some(1);
        let api = FakeApi::default().listing_from(vec![
            Ok(page(vec![call("c1", "in_progress")])),
            Ok(page(vec![ended("c1", "completed")])),
        ]);
        let mut rig = Rig::new(api, s);
        let places = rig.shared.active.clone().expect("a live-call cap");
        places
            .clone()
            .try_acquire_owned()
            .expect("the place")
            .forget();
        let mut held = ringing("k1", "c1");
        held.holds_slot = true;
        let t0 = Instant::now();
        sync_to_the_end(&mut rig, vec![held]).await;
        // First cycle at 5 s (--poll-every), the second one second later.
        assert_eq!(lists(&rig).len(), 2);
        assert_eq!(Instant::now() - t0, Duration::from_secs(6));
        assert_eq!(places.available_permits(), 1);
    }
}

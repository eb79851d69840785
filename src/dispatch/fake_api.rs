//! A canned [`CallsApi`] and a test rig, for the unit tests of the dial
//! loop and the poller.
//!
//! [`FakeApi`] answers each kind of call from its own queue, in order, and
//! records what it was asked; at every create it reads the results file, so
//! a test can check that the row's intent was on disk before the request
//! left. [`Rig`] builds a run's shared state around it with a real results
//! writer on a temp file, so what a test asserts is what a rerun would
//! read. With tokio's clock paused, every wait (Retry-After, backoff, the
//! lookup delay, poll intervals, redials) passes at once: no server, no real
//! sleeping.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Target, Tracked};
use super::settings::Settings;
use super::state::Shared;
use super::targets::Targets;
use crate::api::{Answer, CallRequest, Campaign, LookupError};
use crate::results::{self, Header, Identity, Record, Status, Table};
use crate::wire::{Call, CallList};

pub(super) const CAMPAIGN: &str = "june";
pub(super) const FROM: &str = "+14155550100";
pub(super) const AGENT: &str = "av_1";

/// Answers from queues; an empty queue answers with an error that makes a
/// test fail loudly (a fatal answer, which stops the run).
#[derive(Default)]
pub(super) struct FakeApi {
    creates: Mutex<VecDeque<Answer>>,
    lists: Mutex<VecDeque<Result<CallList, LookupError>>>,
    gets: Mutex<VecDeque<Result<Call, LookupError>>>,
    /// Pages of `list_from`, in order (the outcome sync's lists).
    pages_from: Mutex<VecDeque<Result<CallList, LookupError>>>,
    /// Answers of `get` for one call_id, before the shared queue.
    gets_by_id: Mutex<rustc_hash::FxHashMap<String, VecDeque<Result<Call, LookupError>>>>,
    /// Every `list_from` asked: caller ID, start_date, page.
    pub(super) listed_from: Mutex<Vec<(String, String, u32)>>,
    /// Every call_id `get` was asked for.
    pub(super) got: Mutex<Vec<String>>,
    /// Every create request, with the status its row had on disk then.
    pub(super) sent: Mutex<Vec<(CallRequest, Option<Status>)>>,
    pub(super) lists_asked: AtomicU32,
    pub(super) gets_asked: AtomicU32,
    results: Option<PathBuf>,
}

impl FakeApi {
    pub(super) fn creating(self, answers: Vec<Answer>) -> FakeApi {
        *self.creates.lock().unwrap() = answers.into();
        self
    }

    pub(super) fn listing(self, pages: Vec<Result<CallList, LookupError>>) -> FakeApi {
        *self.lists.lock().unwrap() = pages.into();
        self
    }

    pub(super) fn listing_from(self, pages: Vec<Result<CallList, LookupError>>) -> FakeApi {
        *self.pages_from.lock().unwrap() = pages.into();
        self
    }

    /// `get(call_id)` answers these, in order, before the shared queue.
    pub(super) fn getting_id(
        self,
        call_id: &str,
        calls: Vec<Result<Call, LookupError>>,
    ) -> FakeApi {
        self.gets_by_id
            .lock()
            .unwrap()
            .insert(call_id.into(), calls.into());
        self
    }

    pub(super) fn getting(self, calls: Vec<Result<Call, LookupError>>) -> FakeApi {
        *self.gets.lock().unwrap() = calls.into();
        self
    }

    /// The create requests sent so far.
    pub(super) fn sent(&self) -> Vec<(CallRequest, Option<Status>)> {
        self.sent.lock().unwrap().clone()
    }

    /// The status the results file holds for `key` now.
    fn on_disk(&self, key: &str) -> Option<Status> {
        let path = self.results.as_ref()?;
        let log = results::read(path).ok()??;
        log.table.get(key).map(|r| r.status.clone())
    }
}

fn none_left(what: &str) -> LookupError {
    LookupError {
        http_status: Some(599),
        message: format!("the fake API has no {what} left"),
        fatal: true,
    }
}

impl CallsApi for FakeApi {
    async fn create(&self, request: &CallRequest) -> Answer {
        let key = request
            .body
            .metadata
            .get(crate::api::META_KEY)
            .cloned()
            .unwrap_or_default();
        let on_disk = self.on_disk(&key);
        self.sent.lock().unwrap().push((request.clone(), on_disk));
        let next = self.creates.lock().unwrap().pop_front();
        next.unwrap_or(Answer::Fatal {
            http_status: 599,
            message: "the fake API has no create answer left".into(),
            fix: "give the test more answers",
        })
    }

    async fn list(&self, _to: &str, _since: &str, _page: u32) -> Result<CallList, LookupError> {
        self.lists_asked.fetch_add(1, Ordering::SeqCst);
        let next = self.lists.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Err(none_left("call list")))
    }

    async fn list_from(&self, from: &str, since: &str, page: u32) -> Result<CallList, LookupError> {
        self.listed_from
            .lock()
            .unwrap()
            .push((from.into(), since.into(), page));
        let next = self.pages_from.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Err(none_left("call list from a caller ID")))
    }

    async fn get(&self, call_id: &str) -> Result<Call, LookupError> {
        self.gets_asked.fetch_add(1, Ordering::SeqCst);
        self.got.lock().unwrap().push(call_id.into());
        let by_id = self
            .gets_by_id
            .lock()
            .unwrap()
            .get_mut(call_id)
            .and_then(VecDeque::pop_front);
        if let Some(answer) = by_id {
            return answer;
        }
        let next = self.gets.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Err(none_left("call")))
    }
}

/// Settings for a test run: unpaced, 3 attempts, a 10 s request timeout.
pub(super) fn settings() -> Settings {
    Settings::new(4, 0.0, 3, Duration::from_secs(10))
}

pub(super) fn target(key: &str) -> Target {
    Target::new(key, 2, "+16505550199")
}

/// The targets of a test run unless its settings name others: `k1` to
/// `k9`, each [`target`], in that order.
pub(super) fn targets() -> Targets {
    let mut targets = Targets::default();
    for i in 1..=9 {
        targets.push(target(&format!("k{i}")), None);
    }
    targets.index_keys();
    targets
}

/// Round 1 of `kN`: the Nth target (of [`targets`], or of settings whose
/// targets start with `k1`).
pub(super) fn job(key: &str) -> Job {
    let n: u32 = key.trim_start_matches('k').parse().expect("a key kN");
    Job::new(n - 1, 1, 0)
}

/// A call record as the API gives it.
pub(super) fn call(id: &str, status: &str) -> Call {
    Call {
        call_id: id.into(),
        status: status.into(),
        from_number: FROM.into(),
        to_number: "+16505550199".into(),
        agent_version_id: AGENT.into(),
        created_at: String::new(),
        started_at: None,
        ended_at: None,
        duration_s: None,
        end_reason: None,
        variables: None,
        metadata: None,
        ..Call::default()
    }
}

/// A list request the API could not answer (a 503): the lookup may ask
/// again.
pub(super) fn unavailable() -> LookupError {
    LookupError {
        http_status: Some(503),
        message: "list unavailable".into(),
        fatal: false,
    }
}

/// A call this campaign placed for `key`'s round 1, as a lookup lists it.
pub(super) fn ours(id: &str, key: &str) -> Call {
    let meta = [
        (crate::api::META_CAMPAIGN, CAMPAIGN),
        (crate::api::META_KEY, key),
        (crate::api::META_ROUND, "1"),
    ];
    Call {
        metadata: Some(
            meta.iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect(),
        ),
        ..call(id, "ringing")
    }
}

/// One page of a call list, the last.
pub(super) fn page(calls: Vec<Call>) -> CallList {
    CallList {
        data: calls,
        page: 1,
        limit: 200,
        total: 0,
        has_more: false,
        unreadable: 0,
    }
}

/// A run's shared state around a [`FakeApi`], writing a real results file.
pub(super) struct Rig {
    pub(super) shared: Arc<Shared<FakeApi>>,
    writer: results::Writer,
    /// Calls handed to the poller (when the settings poll).
    pub(super) poll_rx: Option<mpsc::UnboundedReceiver<Tracked>>,
    /// Redials that came due.
    pub(super) redial_rx: mpsc::UnboundedReceiver<Job>,
    _dir: tempfile::TempDir,
}

impl Rig {
    pub(super) fn new(api: FakeApi, mut settings: Settings) -> Rig {
        if settings.targets.is_empty() {
            settings.targets = Arc::new(targets());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("june.results.csv");
        let header = Header {
            identity: Identity {
                campaign: CAMPAIGN.into(),
                from_number: FROM.into(),
                agent_version_id: AGENT.into(),
                sandbox: false,
            },
            plan: "plan.yaml".into(),
            recipients: None,
            results: None,
            rows: None,
            skip_invalid: false,
        };
        let halt = tokio_util::sync::CancellationToken::new();
        let (appender, writer) = results::open(&path, &header, None, halt).expect("results file");
        let campaign = Campaign {
            name: CAMPAIGN.into(),
            from_number: FROM.into(),
            agent_version_id: AGENT.into(),
            metadata: Default::default(),
        };
        let (poll_tx, poll_rx) = match settings.poll_every {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let (redial_tx, redial_rx) = mpsc::unbounded_channel();
        let api = FakeApi {
            results: Some(path),
            ..api
        };
        let stats = Arc::new(Stats::default());
        let shared = Shared::new(api, campaign, appender, settings, stats, poll_tx, redial_tx);
        Rig {
            shared: Arc::new(shared),
            writer,
            poll_rx,
            redial_rx,
            _dir: dir,
        }
    }

    /// Dials `job` to its end, as the producer would (with a pipeline place).
    pub(super) async fn dial(&self, job: Job) {
        let slot = self.shared.slot().await.expect("a pipeline place");
        super::dial::dial(self.shared.clone(), job, slot).await;
    }

    pub(super) fn api(&self) -> &FakeApi {
        &self.shared.api
    }

    pub(super) fn stat(&self, counter: impl Fn(&Stats) -> &std::sync::atomic::AtomicU64) -> u64 {
        Stats::get(counter(&self.shared.stats))
    }

    /// Ends the run: once no task holds the state, waits for the writer and
    /// returns what reached the disk (the last record per key).
    pub(super) async fn finish(self) -> Table {
        let Rig {
            mut shared, writer, ..
        } = self;
        // Tasks the run spawned (a redial that came due) let go of it soon.
        let mut yields = 0;
        let state = loop {
            match Arc::try_unwrap(shared) {
                Ok(state) => break state,
                Err(still_shared) => shared = still_shared,
            }
            yields += 1;
            assert!(yields < 10_000, "a task still holds the run's state");
            tokio::task::yield_now().await;
        };
        drop(state);
        let (table, failed) = writer.finish();
        assert!(failed.is_none(), "the results writer failed: {failed:?}");
        table
    }
}

/// The record `table` holds for `key`.
pub(super) fn last(table: &Table, key: &str) -> Record {
    table
        .get(key)
        .unwrap_or_else(|| panic!("no record for {key}"))
        .clone()
}

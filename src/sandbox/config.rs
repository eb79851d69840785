//! The simulator's configuration: the workspace it pretends to be (keys,
//! numbers, agent versions, blocked prefixes), its limits, its clock, how
//! calls end, and which faults it injects. Loaded from YAML (unknown keys are
//! errors, as in a plan: a typo must not silently change a rehearsal),
//! checked once, then frozen for the life of the server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub use super::postcall::AnalysisFields;

/// Everything the simulator can be told. Every field has a default (see
/// [`Config::default`]), so a YAML file names only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Accepted Bearer keys; empty accepts any non-empty key.
    pub api_keys: Vec<String>,
    /// Caller IDs of the workspace (E.164): any other `from_number` is a 403.
    pub numbers: Vec<String>,
    /// Agent versions of the workspace: only published ones may place calls.
    pub agent_versions: BTreeMap<String, VersionState>,
    /// Destination prefixes (`+44`, `+1900`) not enabled for the workspace: 403.
    pub blocked_prefixes: Vec<String>,
    /// Live calls (queued, ringing, in progress) at most; 0 = no limit.
    pub concurrency_limit: u32,
    /// Per-key token bucket on `POST /v1/calls`.
    pub rate_limit: RateLimit,
    /// Reads (`GET /v1/calls`, `GET /v1/calls/{id}`) take tokens from the
    /// same bucket, as the real API's shared budget does (off: only creates).
    pub rate_limit_reads: bool,
    /// Honour `Idempotency-Key` (`on`) or ignore it as the documented API does (`off`).
    pub idempotency: bool,
    /// Seed of every random choice: one seed and one request order give one ledger.
    pub seed: u64,
    /// Simulated seconds per real second (60: a two-minute call lasts two seconds).
    pub time_scale: f64,
    /// Relative weights of the ways a call ends. A mapping in YAML replaces
    /// the default mix: a way it leaves out has weight 0.
    pub outcomes: Outcomes,
    /// Seconds a call rings before it is answered, `[min, max]`.
    pub ring_seconds: Range,
    /// Seconds an answered call lasts, `[min, max]`.
    pub talk_seconds: Range,
    /// Failures injected on `POST /v1/calls`.
    pub faults: Faults,
    /// Post-call analysis fields of answered calls, each with its choices.
    pub post_call_analysis: AnalysisFields,
    /// The shape of a `GET /v1/calls` answer.
    pub list_shape: ListShape,
    /// Real milliseconds after its creation before a call shows in
    /// `GET /v1/calls` (a search index that lags); `GET /v1/calls/{id}`
    /// sees it at once. 0: at once.
    pub list_lag_ms: u64,
}

/// The two shapes of a `GET /v1/calls` answer that DialNexa's docs show
/// (API-NOTES.md): a client must read both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListShape {
    /// `{"data": [...], "page", "limit", "total", "has_more"}`.
    #[default]
    Object,
    /// A bare JSON array of calls, no paging fields: a client pages until a
    /// page comes back shorter than its limit.
    Array,
}

/// Whether an agent version may place calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionState {
    Published,
    Draft,
}

/// A token bucket per API key: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Requests per second per key; 0 = unlimited (no 429, no X-RateLimit headers).
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell; 0 = one second's worth.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 50.0,
            burst: 50,
        }
    }
}

impl RateLimit {
    /// True when no request is ever refused for its rate.
    pub fn is_unlimited(&self) -> bool {
        self.per_second <= 0.0
    }

    /// The bucket's capacity, resolving `burst: 0`.
    pub fn capacity(&self) -> f64 {
        if self.burst == 0 {
            self.per_second.ceil().max(1.0)
        } else {
            f64::from(self.burst)
        }
    }
}

/// Relative weights of call outcomes (they need not sum to 100). Written
/// in YAML, the mapping is the whole mix: an outcome it leaves out has
/// weight 0, so `outcomes: {no_answer: 1}` means every call ends
/// `no_answer` (the defaults apply only when the key is absent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    #[serde(default)]
    pub completed: f64,
    #[serde(default)]
    pub no_answer: f64,
    #[serde(default)]
    pub busy: f64,
    #[serde(default)]
    pub voicemail: f64,
    #[serde(default)]
    pub failed: f64,
}

impl Default for Outcomes {
    fn default() -> Self {
        Outcomes {
            completed: 60.0,
            no_answer: 20.0,
            busy: 5.0,
            voicemail: 10.0,
            failed: 5.0,
        }
    }
}

impl Outcomes {
    /// The weights in the order [`crate::sandbox`] samples them.
    pub(crate) fn weights(&self) -> [f64; 5] {
        [
            self.completed,
            self.no_answer,
            self.busy,
            self.voicemail,
            self.failed,
        ]
    }
}

/// A closed interval `[min, max]`, written in YAML as `[3, 25]` (or one
/// number for a fixed value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RangeRepr", into = "[f64; 2]")]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    /// A range from `min` to `max`.
    pub const fn new(min: f64, max: f64) -> Range {
        Range { min, max }
    }

    fn check(&self, name: &str, ceiling: f64, problems: &mut Vec<String>) {
        if !(self.min.is_finite() && self.max.is_finite())
            || self.min < 0.0
            || self.min > self.max
            || self.max > ceiling
        {
            problems.push(format!(
                "{name}: [{}, {}] is not a range; write [min, max] with 0 <= min <= max <= {ceiling}",
                self.min, self.max
            ));
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RangeRepr {
    Pair(Vec<f64>),
    One(f64),
}

impl TryFrom<RangeRepr> for Range {
    type Error = String;
    fn try_from(r: RangeRepr) -> Result<Range, String> {
        match r {
            RangeRepr::One(v) => Ok(Range::new(v, v)),
            RangeRepr::Pair(v) => match v.as_slice() {
                [a, b] => Ok(Range::new(*a, *b)),
                [a] => Ok(Range::new(*a, *a)),
                _ => Err(format!(
                    "a range is [min, max] (two numbers), not {} numbers",
                    v.len()
                )),
            },
        }
    }
}

impl From<Range> for [f64; 2] {
    fn from(r: Range) -> [f64; 2] {
        [r.min, r.max]
    }
}

/// Failures injected on `POST /v1/calls`. Rates are probabilities per
/// request (0 to 1, summing to at most 1); one request suffers one fault at
/// most. `read_error_rate` alone applies to reads instead, drawn apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Answer 500, 502 or 503 with an error body; nothing is created.
    pub server_error_rate: f64,
    /// Reset the connection before anything is created.
    pub drop_rate: f64,
    /// Create the call, then reset the connection with no answer.
    pub lost_response_rate: f64,
    /// Create the call and answer only after `slow_ms`.
    pub slow_rate: f64,
    /// Delay of a slow answer, in milliseconds (default: past a 30 s client timeout).
    pub slow_ms: u64,
    /// Milliseconds added to every `/v1` answer, drawn from `[min, max]`.
    pub latency_ms: Range,
    /// Answer a read (`GET /v1/calls`, `GET /v1/calls/{id}`) 500, 502 or
    /// 503 with an error body instead of the list or the call. Drawn apart
    /// from the create faults above.
    pub read_error_rate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            server_error_rate: 0.0,
            drop_rate: 0.0,
            lost_response_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 35_000,
            latency_ms: Range::new(0.0, 0.0),
            read_error_rate: 0.0,
        }
    }
}

impl Faults {
    /// True when no request is ever faulted or delayed.
    pub fn is_none(&self) -> bool {
        self.server_error_rate == 0.0
            && self.drop_rate == 0.0
            && self.lost_response_rate == 0.0
            && self.slow_rate == 0.0
            && self.latency_ms.max == 0.0
            && self.read_error_rate == 0.0
    }
}

impl Default for Config {
    /// The issue's defaults: one workspace number, a published and a draft
    /// agent version, any key, 25 live calls, 50 requests/s per key,
    /// realistic outcomes, a minute of simulated time per real second.
    fn default() -> Self {
        Config {
            api_keys: Vec::new(),
            numbers: vec!["+14155550100".to_string()],
            agent_versions: BTreeMap::from([
                ("av_draft".to_string(), VersionState::Draft),
                ("av_sandbox".to_string(), VersionState::Published),
            ]),
            blocked_prefixes: Vec::new(),
            concurrency_limit: 25,
            rate_limit: RateLimit::default(),
            rate_limit_reads: false,
            idempotency: true,
            seed: 1,
            time_scale: 60.0,
            outcomes: Outcomes::default(),
            ring_seconds: Range::new(3.0, 25.0),
            talk_seconds: Range::new(20.0, 180.0),
            faults: Faults::default(),
            post_call_analysis: AnalysisFields::default(),
            list_shape: ListShape::Object,
            list_lag_ms: 0,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read sandbox config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "sandbox config is not valid YAML for this schema (see `callplan sandbox --print-config`): {0}"
    )]
    Parse(String),
    #[error("sandbox config has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Reads, parses and checks a YAML file; unknown keys are errors.
    pub fn from_yaml_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_yaml_str(&text)
            .with_context(|| format!("in sandbox config {}", path.display()))
    }

    /// Parses and checks YAML text.
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// This configuration as YAML that [`Config::from_yaml_str`] reads back
    /// unchanged (without the comments of [`Config::default_yaml`]).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }

    /// The defaults as a commented YAML file to start from (`--print-config`).
    pub fn default_yaml() -> String {
        DEFAULT_YAML.to_string()
    }

    /// No concurrency limit, no rate limit, no faults: for benchmarks, where
    /// the simulator must never be what limits the measurement.
    pub fn unlimited() -> Config {
        Config {
            concurrency_limit: 0,
            rate_limit: RateLimit {
                per_second: 0.0,
                burst: 0,
            },
            faults: Faults::default(),
            ..Config::default()
        }
    }

    /// Every problem of the configuration at once, each with its fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        for key in &self.api_keys {
            if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
                problems.push(
                    "api_keys: keys must be non-empty and contain no spaces; leave the list empty to accept any key".to_string(),
                );
            }
        }
        for n in &self.numbers {
            if !is_e164(n) {
                problems.push(format!(
                    "numbers: {n:?} is not an E.164 number; write it as + and 7 to 15 digits, e.g. +14155550100"
                ));
            }
        }
        if self.numbers.len() > usize::from(u16::MAX) {
            problems.push("numbers: at most 65535 numbers".to_string());
        }
        if self.agent_versions.len() > usize::from(u16::MAX) {
            problems.push("agent_versions: at most 65535 versions".to_string());
        }
        for id in self.agent_versions.keys() {
            if id.trim().is_empty() {
                problems.push(
                    "agent_versions: an id is empty; name each version, e.g. av_sandbox: published"
                        .to_string(),
                );
            }
        }
        for p in &self.blocked_prefixes {
            let digits = p.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                problems.push(format!(
                    "blocked_prefixes: {p:?} is not a prefix; write + and 1 to 15 digits, e.g. \"+44\" or \"+1900\""
                ));
            }
        }
        let rl = &self.rate_limit;
        if !rl.per_second.is_finite() || rl.per_second < 0.0 {
            problems.push(format!(
                "rate_limit.per_second: {} must be a number >= 0 (0 = unlimited)",
                rl.per_second
            ));
        }
        if !(1e-6..=1e9).contains(&self.time_scale) {
            problems.push(format!(
                "time_scale: {} must be from 0.000001 to 1e9 (simulated seconds per real second; 1 = real time)",
                self.time_scale
            ));
        }
        let w = self.outcomes.weights();
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
            problems.push(
                "outcomes: weights must be numbers >= 0 and at least one must be > 0".to_string(),
            );
        }
        const DAY: f64 = 86_400.0;
        self.ring_seconds.check("ring_seconds", DAY, &mut problems);
        self.talk_seconds.check("talk_seconds", DAY, &mut problems);
        let f = &self.faults;
        let rates = [
            ("faults.server_error_rate", f.server_error_rate),
            ("faults.drop_rate", f.drop_rate),
            ("faults.lost_response_rate", f.lost_response_rate),
            ("faults.slow_rate", f.slow_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                problems.push(format!("{name}: {r} must be a probability from 0 to 1"));
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        if sum > 1.0 + 1e-9 {
            problems.push(format!(
                "faults: the rates sum to {sum}; one request suffers one fault at most, so they must sum to 1 or less"
            ));
        }
        if !(0.0..=1.0).contains(&f.read_error_rate) {
            problems.push(format!(
                "faults.read_error_rate: {} must be a probability from 0 to 1",
                f.read_error_rate
            ));
        }
        if f.slow_ms > 3_600_000 {
            problems.push(format!(
                "faults.slow_ms: {} is more than an hour",
                f.slow_ms
            ));
        }
        f.latency_ms
            .check("faults.latency_ms", 600_000.0, &mut problems);
        self.post_call_analysis.check(&mut problems);
        if self.list_lag_ms > 3_600_000 {
            problems.push(format!(
                "list_lag_ms: {} is more than an hour; write milliseconds from 0 to 3600000",
                self.list_lag_ms
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// `+` and 7 to 15 digits, the first not 0: the E.164 shape (the sandbox
/// checks the shape only, not whether a country assigns the number).
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

const DEFAULT_YAML: &str = r#"# callplan sandbox configuration: a simulated DialNexa workspace.
# Every key is optional; a missing key keeps the default shown here.
# Unknown keys are errors. Start the sandbox with:
#   callplan sandbox --listen 127.0.0.1:8787 --config sandbox.yaml

# Accepted Bearer keys. Empty: any non-empty key is accepted.
api_keys: []

# Caller IDs of the workspace (E.164). Any other from_number: 403.
numbers:
  - "+14155550100"

# Agent versions: published ones place calls; draft or unknown ones: 403.
agent_versions:
  av_sandbox: published
  av_draft: draft

# Destination prefixes not enabled for the workspace: 403. Example: ["+44", "+1900"]
blocked_prefixes: []

# Live calls (queued, ringing, in progress) at most; beyond it POST answers 409.
# 0 = no limit.
concurrency_limit: 25

# Token bucket per API key on POST /v1/calls; beyond it 429 with Retry-After.
# per_second: 0 = unlimited. burst: 0 = one second's worth.
rate_limit:
  per_second: 50
  burst: 50

# on: GET /v1/calls and GET /v1/calls/{id} spend the same bucket as creates
# (the real API's budget is shared); off: only creates are limited.
rate_limit_reads: off

# on: the same Idempotency-Key with the same body returns the original call
# (201, header Idempotent-Replayed: true); with another body, 422.
# off: the header is ignored, as the documented API does.
idempotency: on

# Seed of every random choice: one seed and one request order give one ledger.
seed: 1

# Simulated seconds per real second: at 60 a two-minute call lasts two seconds.
time_scale: 60

# Relative weights of the ways a call ends. A mapping given here is the whole
# mix: an outcome it leaves out has weight 0 ({no_answer: 1}: every call
# ends no_answer).
outcomes:
  completed: 60
  no_answer: 20
  busy: 5
  voicemail: 10
  failed: 5

# Simulated seconds a call rings before it is answered, and an answered call lasts.
ring_seconds: [3, 25]
talk_seconds: [20, 180]

# Failures injected on POST /v1/calls: probabilities per request, summing to 1 at most
# (read_error_rate: per GET, apart).
faults:
  server_error_rate: 0    # 500/502/503 with an error body; nothing created
  drop_rate: 0            # connection reset before anything is created
  lost_response_rate: 0   # call created, then connection reset with no answer
  slow_rate: 0            # call created, answer delayed by slow_ms
  slow_ms: 35000
  latency_ms: [0, 0]      # added to every /v1 answer
  read_error_rate: 0      # GET /v1/calls and /v1/calls/{id}: 500/502/503 instead

# What answered (completed) calls learned: each has a summary naming its
# variables, a sentiment, a transcript, a recording_url, and one value per
# field below, drawn from the seed. The first field is the main outcome.
post_call_analysis:
  appointment_confirmed: [yes, no, reschedule]

# GET /v1/calls answers an object {data, page, limit, total, has_more}
# (object) or a bare array of calls with no paging fields (array).
list_shape: object

# Real milliseconds after creation before a call shows in GET /v1/calls
# (GET /v1/calls/{id} sees it at once). 0: at once.
list_lag_ms: 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_yaml_round_trips_to_default() {
        let parsed = Config::from_yaml_str(&Config::default_yaml()).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn to_yaml_round_trips() {
        let mut c = Config::unlimited();
        c.blocked_prefixes = vec!["+44".into()];
        c.faults.latency_ms = Range::new(1.0, 5.0);
        c.idempotency = false;
        c.api_keys = vec!["k1".into()];
        c.rate_limit_reads = true;
        c.list_shape = ListShape::Array;
        c.list_lag_ms = 7;
        c.post_call_analysis = AnalysisFields::new([("b", vec!["x"]), ("a", vec!["y", "z"])]);
        c.outcomes = Outcomes {
            completed: 0.0,
            no_answer: 2.0,
            busy: 0.0,
            voicemail: 0.0,
            failed: 0.0,
        };
        let back = Config::from_yaml_str(&c.to_yaml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn partial_yaml_keeps_defaults_and_on_off_are_booleans() {
        let c = Config::from_yaml_str("idempotency: off\nseed: 7\nring_seconds: 5\n").unwrap();
        assert!(!c.idempotency);
        assert_eq!(c.seed, 7);
        assert_eq!(c.ring_seconds, Range::new(5.0, 5.0));
        assert_eq!(c.numbers, Config::default().numbers);
        let c = Config::from_yaml_str("idempotency: on\n").unwrap();
        assert!(c.idempotency);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_yaml_str("concurrency_limt: 3\n").unwrap_err();
        assert!(err.to_string().contains("concurrency_limt"), "{err}");
        let err = Config::from_yaml_str("faults:\n  drop: 0.1\n").unwrap_err();
        assert!(err.to_string().contains("drop"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let yaml = "numbers: [\"4155550100\"]\ntime_scale: 0\nfaults:\n  drop_rate: 0.8\n  server_error_rate: 0.5\nring_seconds: [9, 3]\nblocked_prefixes: [\"44\"]\n";
        let err = Config::from_yaml_str(yaml).unwrap_err();
        let ConfigError::Invalid(problems) = &err else {
            panic!("expected Invalid, got {err}");
        };
        let text = problems.join("\n");
        for word in [
            "numbers",
            "time_scale",
            "faults:",
            "ring_seconds",
            "blocked_prefixes",
        ] {
            assert!(text.contains(word), "{word} missing from {text}");
        }
    }

    #[test]
    fn hostile_yaml_is_an_error_not_a_panic() {
        for text in [
            "",
            "[",
            "- a\n- b\n",
            "numbers: 5\n",
            "ring_seconds: [1, 2, 3]\n",
            "agent_versions:\n  av: maybe\n",
            "seed: -1\n",
            "time_scale: .nan\n",
            "\u{0}\u{1}",
            "a: &x [*x]\n",
        ] {
            // An empty document is the defaults; everything else must fail cleanly.
            let r = Config::from_yaml_str(text);
            if !text.is_empty() {
                assert!(r.is_err(), "{text:?} was accepted");
            }
        }
    }

    #[test]
    fn a_partial_outcomes_mapping_replaces_the_default_mix() {
        let c = Config::from_yaml_str("outcomes: {no_answer: 1}\n").unwrap();
        assert_eq!(c.outcomes.weights(), [0.0, 1.0, 0.0, 0.0, 0.0]);
        // No key at all: the default mix.
        let c = Config::from_yaml_str("seed: 3\n").unwrap();
        assert_eq!(c.outcomes, Outcomes::default());
        // An empty mapping leaves no way to end: refused.
        let err = Config::from_yaml_str("outcomes: {}\n").unwrap_err();
        assert!(err.to_string().contains("outcomes"), "{err}");
    }

    #[test]
    fn new_keys_parse_and_round_trip() {
        let yaml = "list_shape: array\nlist_lag_ms: 2500\npost_call_analysis:\n  callback_requested: [true, false]\n  appointment_confirmed: [yes, no]\n  score: [1, 2.5]\n";
        let c = Config::from_yaml_str(yaml).unwrap();
        assert_eq!(c.list_shape, ListShape::Array);
        assert_eq!(c.list_lag_ms, 2500);
        // Config order is kept; scalars are read as the words written.
        assert_eq!(
            c.post_call_analysis,
            AnalysisFields::new([
                ("callback_requested", vec!["true", "false"]),
                ("appointment_confirmed", vec!["yes", "no"]),
                ("score", vec!["1", "2.5"]),
            ])
        );
        assert_eq!(Config::from_yaml_str(&c.to_yaml()).unwrap(), c);
        let empty = Config::from_yaml_str("post_call_analysis: {}\n").unwrap();
        assert!(empty.post_call_analysis.fields().is_empty());
        assert_eq!(Config::from_yaml_str(&empty.to_yaml()).unwrap(), empty);
    }

    #[test]
    fn hostile_new_values_are_errors_naming_the_key() {
        for (yaml, word) in [
            ("list_shape: table\n", "list_shape"),
            ("list_shape: 1\n", "list_shape"),
            ("list_lag_ms: -1\n", "list_lag_ms"),
            ("list_lag_ms: 1e30\n", "list_lag_ms"),
            ("list_lag_ms: 99999999999\n", "list_lag_ms"),
            ("post_call_analysis: 5\n", "post_call_analysis"),
            ("post_call_analysis: [a, b]\n", "post_call_analysis"),
            ("post_call_analysis: {x: []}\n", "post_call_analysis"),
            ("post_call_analysis: {x: [{a: 1}]}\n", "post_call_analysis"),
            ("post_call_analysis: {x: yes}\n", "post_call_analysis"),
            ("post_call_analysis: {\"\": [a]}\n", "post_call_analysis"),
            ("post_call_analysis: {x: [a], x: [b]}\n", "x"),
            ("post_call_analysis: {x: [\"\"]}\n", "post_call_analysis"),
            ("outcomes: {no_answer: 1, ringing: 2}\n", "ringing"),
        ] {
            let err = Config::from_yaml_str(yaml).expect_err(yaml);
            assert!(err.to_string().contains(word), "{yaml}: {err}");
        }
    }

    #[test]
    fn e164_shape() {
        assert!(is_e164("+14155550100"));
        assert!(is_e164("+4930123456"));
        assert!(!is_e164("14155550100"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1415555010012345"));
        assert!(!is_e164("+1 415 555 0100"));
        assert!(!is_e164("+123"));
        assert!(!is_e164("+"));
    }
}

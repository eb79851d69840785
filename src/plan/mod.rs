//! The plan file (YAML): its types, defaults and loading. Data only: this
//! module judges nothing and imports nothing of `validate`.
//!
//! A plan is parsed once ([`load`]), its relative paths resolved against the
//! plan's folder, checked by `validate` (its plan-level checks), and then
//! frozen: nothing downstream re-checks it. What makes a plan unusable as a
//! file (unreadable, not YAML, an unknown key, a wrong type, a `name` that
//! cannot name a file) is a [`PlanError`] with line, column and a "did you
//! mean", found here while loading; what is wrong with its values (an
//! invalid from_number, a zero concurrency) is a finding of `validate`, so
//! that one run reports all of them together with the recipients' findings.

mod yaml_error;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::phone;
use crate::redial::Redial;
use crate::schedule::Schedule;

pub use yaml_error::YamlProblem;

/// Largest plan file read, in bytes: plans are a screen or two of YAML.
pub const MAX_PLAN_BYTES: u64 = 1 << 20;

/// The plan file cannot be used at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Missing, unreadable, a directory.
    #[error("cannot read plan {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`MAX_PLAN_BYTES`].
    #[error("plan {} is larger than 1 MiB: is it really a plan?", .path.display())]
    TooLarge { path: PathBuf },
    /// Not UTF-8 text.
    #[error("plan {} is not UTF-8 text: save it as UTF-8", .path.display())]
    NotUtf8 { path: PathBuf },
    /// Not YAML, an unknown key, a wrong type, a missing key.
    #[error("plan {}:{}:{}: {}", .path.display(), .problem.line, .problem.column, .problem)]
    Yaml { path: PathBuf, problem: YamlProblem },
    /// `name` cannot name a results file.
    #[error("plan {}: `name: {name}` {reason}", .path.display())]
    BadName {
        path: PathBuf,
        name: String,
        reason: &'static str,
    },
}

/// A campaign plan, as written in YAML (keys per DESIGN.md "Plan file").
///
/// After [`load`], `recipients` and `results` are absolute and `results` is
/// filled in (default `<name>.results.csv` beside the plan).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan file itself, absolute (set by [`load`]).
    #[serde(skip)]
    pub path: PathBuf,
    /// Campaign name: results file name, call metadata, idempotency keys.
    pub name: String,
    /// Caller number, E.164, a number of the workspace.
    pub from_number: String,
    /// A published agent version.
    pub agent_version_id: String,
    /// Recipients CSV (relative paths resolve against the plan's folder).
    pub recipients: PathBuf,
    /// The sheet to read when `recipients` is a workbook (`.xlsx`, `.xlsm`,
    /// `.xls`, `.ods`); `None`: its first visible worksheet. Unused for CSV.
    #[serde(default)]
    pub recipients_sheet: Option<String>,
    /// Results CSV; default `<name>.results.csv` beside the plan. Always
    /// set and absolute after [`load`]; see [`Plan::results_path`].
    #[serde(default)]
    pub results: PathBuf,
    /// Region (ISO 3166 alpha-2, e.g. `US`) used to read nationally written numbers.
    #[serde(default)]
    pub default_region: Option<String>,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub columns: Columns,
    /// Variable defaults; a non-empty cell of the same header overrides.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Variables every call must carry (from a cell or a default).
    #[serde(default)]
    pub required_variables: Vec<String>,
    /// Metadata sent with every call.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub dispatch: Dispatch,
    /// Calling windows in each recipient's own time (`schedule:`), checked
    /// while the plan is read; `None`: any time. With a schedule, every
    /// dialable row must resolve to a time zone (the validated row's
    /// `timezone`).
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Redials of calls that reached nobody (`redial:`), checked while the
    /// plan is read; `None`: every row is dialled once.
    #[serde(default)]
    pub redial: Option<Redial>,
    /// Do-not-call CSV files (`suppress:`); absolute after [`load`]
    /// (relative paths resolve against the plan's folder, like
    /// `recipients`). Read by `validate`'s `load_suppressions`, again on
    /// every run.
    #[serde(default)]
    pub suppress: Vec<PathBuf>,
    /// Local caller IDs (`local_caller_ids:`): the numbers besides
    /// `from_number` a call may leave from, each with the recipients it
    /// suits. Empty: every call leaves from `from_number` (unless a row
    /// names its own). `crate::callerid` chooses; `validate` judges.
    #[serde(default)]
    pub local_caller_ids: Vec<LocalCallerId>,
    /// A row that no `local_caller_ids` entry matches (by prefix or
    /// country) is an error, instead of falling back to `from_number`.
    #[serde(default)]
    pub require_local_caller_id: bool,
}

/// One `local_caller_ids:` entry: a caller ID of the workspace and the
/// recipients it is the local number for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalCallerId {
    /// The caller ID, E.164.
    pub number: String,
    /// Regions (ISO 3166 alpha-2, e.g. `GB`) of the recipients it suits.
    #[serde(default)]
    pub countries: Vec<String>,
    /// E.164 prefixes (`+1212`) of the recipients it suits; the longest
    /// matching prefix of any entry wins over a country.
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// `api:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Name of the environment variable holding the key (never the key itself).
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    /// Connect timeout in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// Whole-request timeout in seconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: f64,
    /// Seconds a created call may take to show in `GET /v1/calls` (a list
    /// that lags behind creation): a lost answer's call is taken as absent
    /// (and the row dialled again) only when lookups that late still do not
    /// show it. From 0 to [`MAX_LIST_LAG_S`]; default [`DEFAULT_LIST_LAG_S`].
    #[serde(default = "default_list_lag")]
    pub list_lag_s: f64,
}

/// Default of `api.list_lag_s`: lists served from a search index or a read
/// replica typically trail creation by a second or a few; a minute covers
/// that many times over, and only rows whose answer was lost and whose call
/// was not found at the first look wait for it (outside the dispatch slots).
pub const DEFAULT_LIST_LAG_S: f64 = 60.0;

/// Largest `api.list_lag_s`: a list ten minutes behind is not a lag but an
/// outage, and a larger value would hold rows in doubt for most of a run.
pub const MAX_LIST_LAG_S: f64 = 600.0;

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            base_url: default_base_url(),
            api_key_env: default_api_key_env(),
            connect_timeout_s: default_connect_timeout(),
            request_timeout_s: default_request_timeout(),
            list_lag_s: default_list_lag(),
        }
    }
}

fn default_base_url() -> String {
    "https://api.dialnexa.com/v1".to_string()
}
fn default_api_key_env() -> String {
    "DIALNEXA_API_KEY".to_string()
}
fn default_connect_timeout() -> f64 {
    5.0
}
fn default_request_timeout() -> f64 {
    30.0
}
fn default_list_lag() -> f64 {
    DEFAULT_LIST_LAG_S
}

impl ApiSection {
    /// `list_lag_s` as a duration, held within its bounds (a value outside
    /// them is a finding of `validate`; this never panics on one).
    pub fn list_lag(&self) -> std::time::Duration {
        let s = if self.list_lag_s.is_finite() {
            self.list_lag_s.clamp(0.0, MAX_LIST_LAG_S)
        } else {
            DEFAULT_LIST_LAG_S
        };
        std::time::Duration::from_secs_f64(s)
    }
}

/// `columns:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// Header of the destination column.
    #[serde(default = "default_to_number")]
    pub to_number: String,
    /// Optional stable row key column (default: the normalized number).
    #[serde(default)]
    pub key: Option<String>,
    /// Columns sent as metadata, not as variables.
    #[serde(default)]
    pub metadata: Vec<String>,
    /// Header of the per-row time zone column (IANA names). `None` means
    /// the default, `timezone`, which is optional; a name set here must be
    /// in the header. Either way the zone column is never a variable. See
    /// [`Columns::timezone_column`].
    #[serde(default)]
    pub timezone: Option<String>,
    /// Header of a column naming each row's own caller ID (one of the
    /// plan's numbers); an empty cell falls back to the local caller ID
    /// rules. Never a variable.
    #[serde(default)]
    pub from_number: Option<String>,
    /// Header of a column naming each row's own agent version; an empty
    /// cell uses the plan's `agent_version_id`. Never a variable.
    #[serde(default)]
    pub agent_version_id: Option<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            to_number: default_to_number(),
            key: None,
            metadata: Vec::new(),
            timezone: None,
            from_number: None,
            agent_version_id: None,
        }
    }
}

/// Header of the time zone column when the plan does not name one.
pub const DEFAULT_TIMEZONE_COLUMN: &str = "timezone";

impl Columns {
    /// The header of the time zone column: `columns.timezone`, else
    /// [`DEFAULT_TIMEZONE_COLUMN`]. A column of that header, when present,
    /// holds each row's zone and is not sent as a variable.
    pub fn timezone_column(&self) -> &str {
        self.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE_COLUMN)
    }
}

fn default_to_number() -> String {
    "to_number".to_string()
}

/// `dispatch:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    /// Create requests in flight at most.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Client-side pacing, requests per second.
    #[serde(default = "default_rate")]
    pub rate_per_second: f64,
    /// Attempts per row for transient errors.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Calls ringing or in progress at most (known from polling), so a
    /// campaign leaves room for inbound calls and stays under the
    /// workspace's limit; `None`: no cap. `Some(0)` is a `not_positive`
    /// finding, so a plan that validated never carries it.
    #[serde(default)]
    pub max_active_calls: Option<u32>,
}

impl Default for Dispatch {
    fn default() -> Self {
        Dispatch {
            concurrency: default_concurrency(),
            rate_per_second: default_rate(),
            max_attempts: default_attempts(),
            max_active_calls: None,
        }
    }
}

fn default_concurrency() -> u32 {
    8
}
fn default_rate() -> f64 {
    5.0
}
fn default_attempts() -> u32 {
    5
}

impl Plan {
    /// The phone rules of this plan (its `default_region`; international
    /// only when that is missing or unknown, which `validate`'s plan checks
    /// report). Recipients and do-not-call lists are read with the same
    /// rules, so their normalized numbers compare equal.
    pub fn phone_rules(&self) -> phone::Rules {
        phone::Rules::new(self.default_region.as_deref()).unwrap_or_default()
    }

    /// Where results are written: `results` from the plan (resolved against
    /// the plan's folder) or `<name>.results.csv` beside the plan.
    pub fn results_path(&self) -> &Path {
        &self.results
    }
}

/// Loads a plan: reads the file, parses it, checks its name, resolves
/// relative paths against the plan's folder and fills in the results
/// default. Values are not checked here: `validate` judges them.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    let read_err = |source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if meta.len() > MAX_PLAN_BYTES {
        return Err(PlanError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| PlanError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    from_yaml(&text, path)
}

/// Parses plan text as if it were read from `path` (which anchors relative
/// paths). [`load`] without the file system; tests and fuzzing use it.
pub fn from_yaml(text: &str, path: &Path) -> Result<Plan, PlanError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut plan: Plan = serde_saphyr::from_str(text).map_err(|e| PlanError::Yaml {
        path: path.to_path_buf(),
        problem: YamlProblem::new(&e, text),
    })?;
    if let Some(reason) = bad_name(&plan.name) {
        return Err(PlanError::BadName {
            path: path.to_path_buf(),
            name: escaped_name(&plan.name),
            reason,
        });
    }
    let abs = absolute(path);
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    plan.recipients = clean(&dir.join(&plan.recipients));
    for p in &mut plan.suppress {
        *p = clean(&dir.join(&*p));
    }
    plan.results = if plan.results.as_os_str().is_empty() {
        dir.join(format!("{}.results.csv", plan.name))
    } else {
        clean(&dir.join(&plan.results))
    };
    plan.path = abs;
    Ok(plan)
}

/// Why `name` cannot be a campaign name, if it cannot: it names the results
/// file and goes into idempotency keys, so it must be a plain file name of
/// printable characters (no control, bidirectional-override or zero-width
/// character, which would make two names that look alike differ).
fn bad_name(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty: name the campaign, e.g. name: june-reminders")
    } else if name.trim() != name {
        Some("has spaces around it: remove them")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator, but it names the results file: use letters, digits and -")
    } else if name == "." || name == ".." {
        Some("is not a usable file name: use letters, digits and -")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters: use letters, digits and -")
    } else if name.chars().any(is_invisible) {
        Some(
            "contains an invisible or direction-changing character (a zero-width space, a \
             right-to-left override...): retype it with letters, digits and -",
        )
    } else if name.chars().count() > 100 {
        Some("is longer than 100 characters: shorten it")
    } else {
        None
    }
}

/// `name` as the refusal shows it: every control or invisible character
/// written as `\u{...}`, so a right-to-left override cannot reorder the
/// message around it and a zero-width space can be seen.
fn escaped_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || is_invisible(c) {
                format!("\\u{{{:04X}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Characters that print as nothing or reorder what follows: Unicode's
/// format characters (bidirectional controls, zero-width spaces and
/// joiners, the BOM, tags), line and paragraph separators, and the Hangul
/// fillers that render blank.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// `path` made absolute against the current folder, with `.` and `..`
/// removed lexically (for stable, readable paths in messages).
pub fn absolute(path: &Path) -> PathBuf {
    clean(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) || !out.pop()
                {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A path as the user would write it: relative to the current folder when
/// it is inside it, else absolute.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
        && !rel.as_os_str().is_empty()
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINIMAL: &str = "name: june\nfrom_number: \"+14155550100\"\nagent_version_id: av_1\nrecipients: ../lists/june.csv\n";

    fn yaml_err(text: &str) -> YamlProblem {
        match from_yaml(text, Path::new("/plans/p.yaml")) {
            Err(PlanError::Yaml { problem, .. }) => problem,
            other => panic!("expected a YAML problem, got {other:?}"),
        }
    }

    #[test]
    fn paths_resolve_against_the_plan_folder() {
        let p = from_yaml(MINIMAL, Path::new("/srv/plans/june.yaml")).unwrap();
        assert_eq!(p.path, Path::new("/srv/plans/june.yaml"));
        assert_eq!(p.recipients, Path::new("/srv/lists/june.csv"));
        assert_eq!(p.results_path(), Path::new("/srv/plans/june.results.csv"));
        let text = format!("{MINIMAL}results: out/r.csv\n");
        let p = from_yaml(&text, Path::new("/srv/plans/june.yaml")).unwrap();
        assert_eq!(p.results_path(), Path::new("/srv/plans/out/r.csv"));
        let text = MINIMAL.replace("../lists/june.csv", "/abs/x.csv");
        let p = from_yaml(&text, Path::new("/srv/plans/june.yaml")).unwrap();
        assert_eq!(p.recipients, Path::new("/abs/x.csv"));
    }

    #[test]
    fn defaults_are_filled_in() {
        let p = from_yaml(MINIMAL, Path::new("/p/x.yaml")).unwrap();
        assert_eq!(p.columns.to_number, "to_number");
        assert_eq!(p.dispatch.concurrency, 8);
        assert_eq!(p.api.api_key_env, "DIALNEXA_API_KEY");
    }

    #[test]
    fn a_bom_and_an_unquoted_plus_number_are_fine() {
        let text = format!(
            "\u{feff}{}",
            MINIMAL.replace("\"+14155550100\"", "+14155550100")
        );
        let p = from_yaml(&text, Path::new("/p/x.yaml")).unwrap();
        assert_eq!(p.from_number, "+14155550100");
    }

    #[test]
    fn typos_get_a_did_you_mean_with_line_and_column() {
        let e = yaml_err(&format!("{MINIMAL}dispatch:\n  rate_per_secnd: 3\n"));
        assert_eq!((e.line, e.column), (6, 3));
        assert!(
            e.message.contains("did you mean `rate_per_second`?"),
            "{}",
            e.message
        );
        assert!(e.message.contains("in `dispatch`"), "{}", e.message);
        let e = yaml_err(&format!("{MINIMAL}zzz: 1\n"));
        assert!(!e.message.contains("did you mean"), "{}", e.message);
    }

    #[test]
    fn wrong_types_name_the_key_and_the_type() {
        let e = yaml_err(&format!(
            "{MINIMAL}dispatch:\n  max_attempts: lots # comment\n"
        ));
        assert_eq!(
            e.message,
            "`dispatch.max_attempts` must be a whole number of at least 1, not `lots`"
        );
        let e = yaml_err(&format!("{MINIMAL}columns:\n  metadata: crm\n"));
        assert!(
            e.message.starts_with("`columns.metadata` must be a list"),
            "{}",
            e.message
        );
    }

    const WINDOWS: &str = "schedule:\n  timezone: America/New_York\n  hours: \"09:00-20:00\"\n  days: [mon, tue, wed, thu, fri]\n  start_at: 2026-06-01T09:00\n  end_at: 2026-06-30T20:00-04:00\nredial:\n  on: [no_answer, busy, voicemail]\n  max: 2\n  after: 2h\nsuppress: [dnc.csv, ../shared/unsubscribed.csv]\ncolumns:\n  timezone: tz\ndispatch:\n  max_active_calls: 20\n";

    #[test]
    fn schedule_redial_suppress_and_the_live_call_cap_load() {
        let p = from_yaml(
            &format!("{MINIMAL}{WINDOWS}"),
            Path::new("/srv/plans/june.yaml"),
        )
        .unwrap();
        let s = p.schedule.as_ref().expect("schedule");
        assert_eq!(
            s.timezone().and_then(|z| z.iana_name()),
            Some("America/New_York")
        );
        assert_eq!(s.hours().to_string(), "09:00-20:00");
        assert!(s.start_at().is_some() && s.end_at().is_some());
        let r = p.redial.as_ref().expect("redial");
        assert_eq!(r.max(), 2);
        assert_eq!(r.after(), std::time::Duration::from_secs(7200));
        assert_eq!(
            p.suppress,
            [
                PathBuf::from("/srv/plans/dnc.csv"),
                PathBuf::from("/srv/shared/unsubscribed.csv")
            ]
        );
        assert_eq!(p.columns.timezone_column(), "tz");
        assert_eq!(p.dispatch.max_active_calls, Some(20));
    }

    #[test]
    fn the_new_keys_default_to_off() {
        let p = from_yaml(MINIMAL, Path::new("/p/x.yaml")).unwrap();
        assert!(p.schedule.is_none() && p.redial.is_none() && p.suppress.is_empty());
        assert_eq!(p.dispatch.max_active_calls, None);
        assert_eq!(p.columns.timezone_column(), DEFAULT_TIMEZONE_COLUMN);
        assert_eq!(p.recipients_sheet, None);
        let text = format!("{MINIMAL}recipients_sheet: June calls\n");
        let p = from_yaml(&text, Path::new("/p/x.yaml")).unwrap();
        assert_eq!(p.recipients_sheet.as_deref(), Some("June calls"));
    }

    const CALLER_IDS: &str = "local_caller_ids:\n  - number: \"+442079460000\"\n    countries: [GB]\n  - number: \"+12125550100\"\n    prefixes: [\"+1212\", \"+1646\"]\nrequire_local_caller_id: true\ncolumns:\n  from_number: caller_id\n  agent_version_id: agent\n";

    #[test]
    fn local_caller_ids_and_per_row_columns_load() {
        let p = from_yaml(&format!("{MINIMAL}{CALLER_IDS}"), Path::new("/p/x.yaml")).unwrap();
        assert_eq!(p.local_caller_ids.len(), 2);
        assert_eq!(p.local_caller_ids[0].number, "+442079460000");
        assert_eq!(p.local_caller_ids[0].countries, ["GB"]);
        assert!(p.local_caller_ids[0].prefixes.is_empty());
        assert_eq!(p.local_caller_ids[1].prefixes, ["+1212", "+1646"]);
        assert!(p.require_local_caller_id);
        assert_eq!(p.columns.from_number.as_deref(), Some("caller_id"));
        assert_eq!(p.columns.agent_version_id.as_deref(), Some("agent"));
        let p = from_yaml(MINIMAL, Path::new("/p/x.yaml")).unwrap();
        assert!(p.local_caller_ids.is_empty() && !p.require_local_caller_id);
        assert_eq!(p.columns.from_number, None);
    }

    #[test]
    fn caller_id_typos_are_errors_with_line_and_column() {
        let e = yaml_err(&format!(
            "{MINIMAL}local_caller_ids:\n  - number: \"+442079460000\"\n    country: [GB]\n"
        ));
        assert_eq!((e.line, e.column), (7, 5), "{}", e.message);
        assert!(
            e.message.contains("did you mean `countries`?"),
            "{}",
            e.message
        );
        let e = yaml_err(&format!("{MINIMAL}require_local_callerid: true\n"));
        assert_eq!((e.line, e.column), (5, 1), "{}", e.message);
        assert!(
            e.message
                .contains("did you mean `require_local_caller_id`?"),
            "{}",
            e.message
        );
        let e = yaml_err(&format!("{MINIMAL}columns:\n  from_numbr: c\n"));
        assert!(
            e.message.contains("did you mean `from_number`?"),
            "{}",
            e.message
        );
        let e = yaml_err(&format!("{MINIMAL}local_caller_ids: \"+44\"\n"));
        assert!(
            e.message.contains("`local_caller_ids` must be a list"),
            "{}",
            e.message
        );
    }

    /// Bad values under the newer keys: (extra YAML after MINIMAL's 4
    /// lines, line, column, words in the message).
    const BAD_VALUES: &[(&str, u32, u32, &str)] = &[
        (
            "schedule:\n  timezone: America/New_York\n  hours: \"9-17\"\n",
            7,
            10,
            "schedule.hours `9-17`",
        ),
        (
            "schedule:\n  hours: 09:00-17:00\n  timezone: Mars/Base\n",
            7,
            13,
            "schedule.timezone `Mars/Base` is not an IANA time zone name",
        ),
        (
            "schedule:\n  days: [mon, funday]\n",
            6,
            9,
            "`funday` is not a day of the week",
        ),
        (
            "schedule:\n  timezone: UTC\n  start_at: 2026-06-02T09:00Z\n  end_at: 2026-06-01T09:00Z\n",
            8,
            11,
            "schedule.end_at (2026-06-01T09:00:00Z) is not after",
        ),
        (
            "schedule:\n  hours: 09:00-17:00\n  dayz: [mon]\n",
            7,
            3,
            "unknown key `dayz` in `schedule`: did you mean `days`?",
        ),
        (
            "schedule: 12\n",
            5,
            11,
            "`schedule` must be a mapping of keys, not `12`",
        ),
        (
            "redial:\n  max: 2\n  on: [completed]\n  after: 2h\n",
            7,
            7,
            "`completed` is never redialled: the call reached the person",
        ),
        (
            "redial:\n  max: 2\n  after: soon\n",
            7,
            10,
            "redial.after `soon`",
        ),
        (
            "redial:\n  max: -1\n  after: 2h\n",
            6,
            8,
            "`redial.max` must be a whole number from 0 to 10, not `-1`",
        ),
        (
            "redial:\n  max: 11\n  after: 2h\n",
            6,
            8,
            "redial.max 11 is more than 10",
        ),
        (
            "redial:\n  after: 2h\n",
            6,
            3,
            "missing required key `max`: redial.max, the extra rounds",
        ),
        (
            "redial:\n  max: 1\n  after: 2h\n  of: [busy]\n",
            8,
            3,
            "unknown key `of` in `redial`: did you mean `on`?",
        ),
        (
            "suppress: dnc.csv\n",
            5,
            11,
            "`suppress` must be a list of file paths, e.g. [dnc.csv], not `dnc.csv`",
        ),
        (
            "supress: [dnc.csv]\n",
            5,
            1,
            "unknown key `supress`: did you mean `suppress`?",
        ),
        (
            "dispatch:\n  max_active_calls: -3\n",
            6,
            21,
            "`dispatch.max_active_calls` must be a whole number of at least 1, not `-3`",
        ),
        (
            "dispatch:\n  max_active_call: 3\n",
            6,
            3,
            "did you mean `max_active_calls`?",
        ),
        (
            "columns:\n  timezone: [a]\n",
            6,
            13,
            "`columns.timezone` must be text, not `[a]`",
        ),
        (
            "columns:\n  time_zone: tz\n",
            6,
            3,
            "did you mean `timezone`?",
        ),
    ];

    #[test]
    fn bad_schedule_and_redial_values_point_at_their_key() {
        for (extra, line, column, words) in BAD_VALUES {
            let e = yaml_err(&format!("{MINIMAL}{extra}"));
            assert!(e.message.contains(words), "{extra:?}: {}", e.message);
            assert_eq!(
                (e.line, e.column),
                (*line, *column),
                "{extra:?}: {}",
                e.message
            );
            assert!(!e.snippet.is_empty(), "{extra:?}");
        }
    }

    #[test]
    fn a_flow_style_section_keeps_the_library_location() {
        let e = yaml_err(&format!(
            "{MINIMAL}redial: {{on: [busy], max: 1, after: x}}\n"
        ));
        assert!(e.message.starts_with("redial.after `x`"), "{}", e.message);
        assert_eq!(e.line, 5);
    }

    #[test]
    fn campaign_names_must_be_printable() {
        for name in [
            "june\u{202E}gpj",
            "ju\u{200B}ne",
            "june\u{2066}x\u{2069}",
            "\u{FEFF}june",
            "ju\u{200D}ne",
            "june\u{00AD}",
            "ju\u{0007}ne",
            "ju\u{2028}ne",
            "june\u{E0041}",
        ] {
            assert!(bad_name(name).is_some(), "{name:?}");
        }
        assert_eq!(
            escaped_name("june\u{202E}gpj\u{7}"),
            "june\\u{202E}gpj\\u{0007}"
        );
        let r = bad_name("ju\u{200B}ne").unwrap();
        assert!(r.contains("invisible or direction-changing"), "{r}");
        for name in [
            "june-reminders",
            "Réunion_2026",
            "日本語キャンペーン",
            "a b",
        ] {
            assert_eq!(bad_name(name), None, "{name:?}");
        }
        // Through the loader, as YAML escapes.
        let text = MINIMAL.replace("name: june", "name: \"june\\u202Egpj\"");
        assert!(matches!(
            from_yaml(&text, Path::new("/p/x.yaml")),
            Err(PlanError::BadName { .. })
        ));
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["\"\"", "a/b", "..", "\" x\""] {
            let text = MINIMAL.replace("name: june", &format!("name: {name}"));
            assert!(
                matches!(
                    from_yaml(&text, Path::new("/p/x.yaml")),
                    Err(PlanError::BadName { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn unreadable_plan_files_are_plan_errors() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_PLAN_BYTES + 1) as usize]).unwrap();
        assert!(matches!(load(&big), Err(PlanError::TooLarge { .. })));
        let latin1 = dir.path().join("latin1.yaml");
        std::fs::write(&latin1, b"name: caf\xe9\n").unwrap();
        assert!(matches!(load(&latin1), Err(PlanError::NotUtf8 { .. })));
        assert!(matches!(load(dir.path()), Err(PlanError::Read { .. })));
        assert!(matches!(
            load(&dir.path().join("missing.yaml")),
            Err(PlanError::Read { .. })
        ));
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, MINIMAL).unwrap();
        let p = load(&ok).unwrap();
        assert_eq!(p.path, absolute(&ok));
        assert_eq!(p.recipients, clean(&dir.path().join("../lists/june.csv")));
    }

    #[test]
    fn clean_removes_dots_lexically() {
        assert_eq!(clean(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(clean(Path::new("/../a")), Path::new("/../a"));
        assert_eq!(clean(Path::new("../a")), Path::new("../a"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_never_panics_the_loader(text in "\\PC{0,200}") {
            match from_yaml(&text, Path::new("/p/x.yaml")) {
                Ok(p) => prop_assert_eq!(&p.path, Path::new("/p/x.yaml")),
                Err(e) => { let _ = e.to_string(); }
            }
        }

        #[test]
        fn yaml_shaped_text_never_panics_the_loader(
            lines in proptest::collection::vec(
                "( {0,4})(name|from_number|dispatch|concurrency|max_active_calls|variables|columns|timezone|metadata|schedule|hours|days|start_at|end_at|redial|on|max|after|suppress|x|-)(: ?)([\\[\\]{}\"'a-zA-Z0-9+.,:/ -]{0,16})",
                0..12)
        ) {
            let text = lines.join("\n");
            match from_yaml(&text, Path::new("/p/x.yaml")) {
                Ok(p) => prop_assert!(p.results_path().is_absolute()),
                Err(e) => { let _ = e.to_string(); }
            }
        }
    }
}

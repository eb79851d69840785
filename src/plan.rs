//! The plan file (YAML): types, defaults, loading and plan-level checks.
//!
//! A plan is parsed once ([`load`]), its relative paths resolved against the
//! plan's folder, checked ([`Plan::check`]), and then frozen: nothing
//! downstream re-checks it. What makes a plan unusable as a file (unreadable,
//! not YAML, an unknown key, a wrong type) is a [`PlanError`] with line,
//! column and a "did you mean"; what is wrong with its values (an invalid
//! from_number, a zero concurrency) is a [`Finding`], so that one run of
//! `validate` reports all of them together with the recipients' findings.

mod yaml_error;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::phone;
use crate::validate::{Finding, Kind};

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
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            base_url: default_base_url(),
            api_key_env: default_api_key_env(),
            connect_timeout_s: default_connect_timeout(),
            request_timeout_s: default_request_timeout(),
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
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            to_number: default_to_number(),
            key: None,
            metadata: Vec::new(),
        }
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
}

impl Default for Dispatch {
    fn default() -> Self {
        Dispatch {
            concurrency: default_concurrency(),
            rate_per_second: default_rate(),
            max_attempts: default_attempts(),
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
    /// Where results are written: `results` from the plan (resolved against
    /// the plan's folder) or `<name>.results.csv` beside the plan.
    pub fn results_path(&self) -> &Path {
        &self.results
    }

    /// The plan-level checks: values that parse but cannot work. Returned
    /// as findings (row none, column the plan key) so they are reported
    /// together with the recipients' findings.
    pub fn check(&self) -> Vec<Finding> {
        let file = display_path(&self.path);
        let mut out = Vec::new();
        let f = |kind, problem: String, fix: &str| Finding::new(kind, &file, problem, fix);

        let from = phone::Rules::default().check(&self.from_number);
        match &from.outcome {
            Ok(n) if !from.trimmed && n.e164 == self.from_number => {}
            outcome => {
                let why = match outcome {
                    Ok(n) => format!("has spaces around it (write `{}`)", n.e164),
                    Err(p) => describe_phone_problem(p),
                };
                out.push(
                    f(
                        Kind::FromNumberInvalid,
                        format!("from_number {why}"),
                        "write the workspace's caller number in E.164, in quotes: \
                         from_number: \"+14155550100\"",
                    )
                    .column("from_number")
                    .value(&self.from_number),
                );
            }
        }

        let agent = self.agent_version_id.trim();
        if agent.is_empty() {
            out.push(
                f(
                    Kind::AgentVersionMissing,
                    "agent_version_id is empty: the API needs a published agent version to \
                     place a call"
                        .into(),
                    "copy the id of a published agent version (av_...) from the DialNexa \
                     dashboard into agent_version_id",
                )
                .column("agent_version_id"),
            );
        } else if !agent.starts_with("av_") {
            out.push(
                f(
                    Kind::AgentVersionPrefix,
                    "agent_version_id does not start with `av_`, as DialNexa agent version \
                     ids do: is it an agent id (ag_...) or a draft?"
                        .into(),
                    "use the id of a published agent version (av_...)",
                )
                .column("agent_version_id")
                .value(&self.agent_version_id),
            );
        }

        let positive_ints = [
            ("dispatch.concurrency", self.dispatch.concurrency),
            ("dispatch.max_attempts", self.dispatch.max_attempts),
        ];
        for (key, v) in positive_ints {
            if v == 0 {
                out.push(
                    f(
                        Kind::NotPositive,
                        format!("{key} is 0: nothing would ever be sent"),
                        "use a whole number of at least 1",
                    )
                    .column(key)
                    .value("0"),
                );
            }
        }
        let positive_floats = [
            ("dispatch.rate_per_second", self.dispatch.rate_per_second),
            ("api.connect_timeout_s", self.api.connect_timeout_s),
            ("api.request_timeout_s", self.api.request_timeout_s),
        ];
        for (key, v) in positive_floats {
            if !(v.is_finite() && v > 0.0) {
                out.push(
                    f(
                        Kind::NotPositive,
                        format!("{key} must be a positive number, not {v}"),
                        "use a number greater than 0 (fractions are fine: 0.5)",
                    )
                    .column(key)
                    .value(&v.to_string()),
                );
            }
        }

        let names = self
            .required_variables
            .iter()
            .map(|n| ("required_variables", n))
            .chain(self.variables.keys().map(|n| ("variables", n)));
        for (key, name) in names {
            let problem = if name.trim().is_empty() {
                format!("{key} has an empty variable name")
            } else if name.trim() != name {
                format!(
                    "{key} has `{name}` with spaces around it: variable names are matched \
                     exactly, so it would never match the `{}` column",
                    name.trim()
                )
            } else {
                continue;
            };
            out.push(
                f(
                    Kind::BadVariableName,
                    problem,
                    "write the variable name exactly as the agent's {{placeholder}}, without \
                     spaces around it",
                )
                .column(key)
                .value(name),
            );
        }

        for name in self.variables.keys() {
            if self.columns.metadata.iter().any(|m| m == name) {
                out.push(
                    f(
                        Kind::DefaultIsMetadata,
                        format!(
                            "`{name}` is both a default variable and a metadata column: the \
                             column's cells go to metadata, so the agent would always get the \
                             default"
                        ),
                        "remove it from `variables` or from `columns.metadata`",
                    )
                    .column(format!("variables.{name}")),
                );
            }
        }

        if let Some(region) = &self.default_region
            && let Err(e) = phone::parse_region(region)
        {
            out.push(
                f(
                    Kind::BadDefaultRegion,
                    format!("default_region {e}"),
                    "use a two-letter ISO 3166 code such as US, GB, DE, FR, AU, IN or BR, or \
                     remove default_region to accept international (+...) numbers only",
                )
                .column("default_region")
                .value(region),
            );
        }

        let url = self.api.base_url.as_str();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_whitespace)
        {
            out.push(
                f(
                    Kind::BadBaseUrl,
                    "api.base_url is not an http:// or https:// URL".into(),
                    "use https://api.dialnexa.com/v1, or remove api.base_url for that default",
                )
                .column("api.base_url")
                .value(url),
            );
        }
        out
    }
}

/// Loads a plan: reads the file, parses it, checks its name, resolves
/// relative paths against the plan's folder and fills in the results
/// default. Values are not checked here: see [`Plan::check`].
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
            name: plan.name.clone(),
            reason,
        });
    }
    let abs = absolute(path);
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    plan.recipients = clean(&dir.join(&plan.recipients));
    plan.results = if plan.results.as_os_str().is_empty() {
        dir.join(format!("{}.results.csv", plan.name))
    } else {
        clean(&dir.join(&plan.results))
    };
    plan.path = abs;
    Ok(plan)
}

/// Why `name` cannot be a campaign name, if it cannot: it names the results
/// file and goes into idempotency keys, so it must be a plain file name.
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
    } else if name.chars().count() > 100 {
        Some("is longer than 100 characters: shorten it")
    } else {
        None
    }
}

/// One line for a number the phone rules refuse (used for from_number).
fn describe_phone_problem(p: &phone::Problem) -> String {
    use phone::Problem as P;
    match p {
        P::Missing => "is empty".into(),
        P::Scientific { .. } => "is in scientific notation".into(),
        P::Formula { .. } | P::TextPrefix { .. } => "starts with = or '".into(),
        P::LostPlus { e164, .. } => format!("has no leading + (write `{e164}`)"),
        P::National => "is written nationally, without + and country code".into(),
        P::NotE164 {
            reason,
            suggestion: Some(s),
        } => format!("{reason} (write `{s}`)"),
        P::NotE164 { reason, .. } => (*reason).into(),
        P::Invalid { reason } => format!("is not a valid number: {reason}"),
    }
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
        assert!(p.check().is_empty(), "{:?}", p.check());
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
            if let Ok(p) = from_yaml(&text, Path::new("/p/x.yaml")) {
                let _ = p.check();
            }
        }

        #[test]
        fn yaml_shaped_text_never_panics_the_loader(
            lines in proptest::collection::vec(
                "( {0,4})(name|from_number|dispatch|concurrency|variables|columns|metadata|x|-)(: ?)([\\[\\]{}\"'a-z0-9+., -]{0,12})",
                0..12)
        ) {
            let text = lines.join("\n");
            match from_yaml(&text, Path::new("/p/x.yaml")) {
                Ok(p) => { let _ = p.check(); }
                Err(e) => { let _ = e.to_string(); }
            }
        }

        #[test]
        fn any_plan_values_never_panic_the_checks(
            from in "\\PC{0,20}", agent in "\\PC{0,10}", region in "\\PC{0,4}",
            conc in 0u32..3, rate in proptest::num::f64::ANY
        ) {
            let mut p = from_yaml(MINIMAL, Path::new("/p/x.yaml")).unwrap();
            p.from_number = from;
            p.agent_version_id = agent;
            p.default_region = Some(region);
            p.dispatch.concurrency = conc;
            p.dispatch.rate_per_second = rate;
            let _ = p.check();
        }
    }
}

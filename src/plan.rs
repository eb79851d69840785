//! The plan file (YAML): types, defaults, loading and plan-level checks.
//!
//! A plan is parsed once, its relative paths resolved against the plan's
//! folder, checked, and then frozen: nothing downstream re-checks it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A campaign plan, as written in YAML (keys per DESIGN.md "Plan file").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Campaign name: results file name, call metadata, idempotency keys.
    pub name: String,
    /// Caller number, E.164, a number of the workspace.
    pub from_number: String,
    /// A published agent version.
    pub agent_version_id: String,
    /// Recipients CSV (relative paths resolve against the plan's folder).
    pub recipients: PathBuf,
    /// Results CSV; default `<name>.results.csv` beside the plan.
    #[serde(default)]
    pub results: Option<PathBuf>,
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

//! The plan-level checks: values of a loaded plan that parse but cannot
//! work (a from_number that is not E.164, a zero concurrency, an unknown
//! default_region...). Each rule is one function returning its findings
//! (row none, column the plan key), so that `validate` reports them together
//! with the recipients' findings. They live here rather than in `plan`
//! because `plan` only holds and loads the data; judging it is this
//! module's job, and `plan` must not import `validate`.
//!
//! What makes a plan unusable as a file (not YAML, an unknown key, a bad
//! `name`) is found while loading and is a `PlanError`, not a finding.

use super::{Finding, Kind};
use crate::bounds;
use crate::phone;
use crate::plan::{Plan, display_path};

/// Every plan-level finding, in a fixed order: from_number, local caller
/// IDs, agent version,
/// positive numbers, variable names, defaults that are metadata,
/// default_region, base URL.
pub fn check_plan(plan: &Plan) -> Vec<Finding> {
    let file = display_path(&plan.path);
    let mut out = Vec::new();
    out.extend(check_from_number(plan, &file));
    out.extend(check_local_caller_ids(plan, &file));
    out.extend(check_agent_version(plan, &file));
    out.extend(check_positive_counts(plan, &file));
    out.extend(check_positive_numbers(plan, &file));
    out.extend(check_list_lag(plan, &file));
    out.extend(check_variable_names(plan, &file));
    out.extend(check_defaults_are_not_metadata(plan, &file));
    out.extend(check_default_region(plan, &file));
    out.extend(check_base_url(plan, &file));
    out
}

/// `from_number` must be E.164 exactly as the API takes it: no spaces
/// around it, read without a default region.
fn check_from_number(plan: &Plan, file: &str) -> Option<Finding> {
    let from = phone::Rules::default().check(&plan.from_number);
    let why = match &from.outcome {
        Ok(n) if !from.trimmed && n.e164 == plan.from_number => return None,
        Ok(n) => format!("has spaces around it (write `{}`)", n.e164),
        Err(p) => describe_phone_problem(p),
    };
    Some(
        Finding::new(
            Kind::FromNumberInvalid,
            file,
            format!("from_number {why}"),
            "write the workspace's caller number in E.164, in quotes: \
             from_number: \"+14155550100\"",
        )
        .column("from_number")
        .value(&plan.from_number),
    )
}

/// Each `local_caller_ids` entry: its number E.164 exactly (as
/// from_number), its prefixes `+` and digits, its countries regions with
/// telephone numbering. A bad rule would silently never match.
fn check_local_caller_ids(plan: &Plan, file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, entry) in plan.local_caller_ids.iter().enumerate() {
        let key = format!("local_caller_ids[{i}]");
        let checked = phone::Rules::default().check(&entry.number);
        let why = match &checked.outcome {
            Ok(n) if !checked.trimmed && n.e164 == entry.number => None,
            Ok(n) => Some(format!("has spaces around it (write `{}`)", n.e164)),
            Err(p) => Some(describe_phone_problem(p)),
        };
        if let Some(why) = why {
            out.push(
                Finding::new(
                    Kind::CallerIdInvalid,
                    file,
                    format!("{key}.number {why}"),
                    "write the workspace's number in E.164, in quotes: - number: \"+442079460000\"",
                )
                .column(format!("{key}.number"))
                .value(&entry.number),
            );
        }
        for prefix in &entry.prefixes {
            if crate::callerid::is_prefix(prefix) {
                continue;
            }
            out.push(
                Finding::new(
                    Kind::CallerIdRuleInvalid,
                    file,
                    format!(
                        "{key}.prefixes has `{prefix}`, which no E.164 number starts with: it would never match"
                    ),
                    "write a prefix as + and digits, with its country code: \"+1212\", \"+4420\"",
                )
                .column(format!("{key}.prefixes"))
                .value(prefix),
            );
        }
        for country in &entry.countries {
            let Err(e) = phone::parse_region(country) else {
                continue;
            };
            out.push(
                Finding::new(
                    Kind::CallerIdRuleInvalid,
                    file,
                    format!("{key}.countries: {e}"),
                    "use two-letter ISO 3166 codes such as US, GB, DE, FR, AU, IN or BR",
                )
                .column(format!("{key}.countries"))
                .value(country),
            );
        }
    }
    out
}

/// `agent_version_id` must be set, and look like a published version
/// (`av_...`) rather than an agent or a draft.
fn check_agent_version(plan: &Plan, file: &str) -> Option<Finding> {
    let agent = plan.agent_version_id.trim();
    if agent.is_empty() {
        Some(
            Finding::new(
                Kind::AgentVersionMissing,
                file,
                "agent_version_id is empty: the API needs a published agent version to \
                 place a call",
                "copy the id of a published agent version (av_...) from the DialNexa \
                 dashboard into agent_version_id",
            )
            .column("agent_version_id"),
        )
    } else if !agent.starts_with("av_") {
        Some(
            Finding::new(
                Kind::AgentVersionPrefix,
                file,
                "agent_version_id does not start with `av_`, as DialNexa agent version \
                 ids do: is it an agent id (ag_...) or a draft?",
                "use the id of a published agent version (av_...)",
            )
            .column("agent_version_id")
            .value(&plan.agent_version_id),
        )
    } else {
        None
    }
}

/// Whole-number settings: 0 would send nothing, and above their bound
/// ([`crate::bounds`]) they are a typo, not a plan.
fn check_positive_counts(plan: &Plan, file: &str) -> Vec<Finding> {
    let counts = [
        (
            "dispatch.concurrency",
            Some(plan.dispatch.concurrency),
            bounds::MAX_CONCURRENCY,
            "",
        ),
        (
            "dispatch.max_attempts",
            Some(plan.dispatch.max_attempts),
            bounds::MAX_ATTEMPTS,
            "",
        ),
        (
            "dispatch.max_active_calls",
            plan.dispatch.max_active_calls,
            bounds::MAX_ACTIVE_CALLS,
            ", or remove the key for no cap on live calls",
        ),
    ];
    let mut out = Vec::new();
    for (key, value, max, or_else) in counts {
        let Some(v) = value else { continue };
        let (kind, problem) = if v == 0 {
            (
                Kind::NotPositive,
                format!("{key} is 0: nothing would ever be sent"),
            )
        } else if v > max {
            (
                Kind::OutOfBounds,
                format!("{key} is {v}, above its bound of {max}"),
            )
        } else {
            continue;
        };
        out.push(
            Finding::new(
                kind,
                file,
                problem,
                format!("use a whole number from 1 to {max}{or_else}"),
            )
            .column(key)
            .value(&v.to_string()),
        );
    }
    out
}

/// Rates and timeouts must be finite and within their bounds
/// ([`crate::bounds`]): a rate below one call a day, or a timeout over 10
/// minutes, would make a run wait without end.
fn check_positive_numbers(plan: &Plan, file: &str) -> Vec<Finding> {
    let rate_fix = format!(
        "use a rate from one call a day ({:.7}) to {} per second (fractions are fine: 0.5)",
        bounds::MIN_RATE,
        bounds::MAX_RATE
    );
    let timeout_fix = format!(
        "use a number of seconds from {} to {} (10 minutes); fractions are fine: 0.5",
        bounds::MIN_TIMEOUT_S,
        bounds::MAX_TIMEOUT_S
    );
    let numbers = [
        (
            "dispatch.rate_per_second",
            plan.dispatch.rate_per_second,
            (bounds::MIN_RATE, bounds::MAX_RATE),
            &rate_fix,
        ),
        (
            "api.connect_timeout_s",
            plan.api.connect_timeout_s,
            (bounds::MIN_TIMEOUT_S, bounds::MAX_TIMEOUT_S),
            &timeout_fix,
        ),
        (
            "api.request_timeout_s",
            plan.api.request_timeout_s,
            (bounds::MIN_TIMEOUT_S, bounds::MAX_TIMEOUT_S),
            &timeout_fix,
        ),
    ];
    numbers
        .into_iter()
        .filter(|(_, v, (min, max), _)| !bounds::within(*v, *min, *max))
        .map(|(key, v, (min, max), fix)| {
            let (kind, problem) = if v.is_finite() && v > 0.0 {
                let problem = format!(
                    "{key} is {}, outside its bounds ({})",
                    bounds::show_f64(v),
                    bounds::describe_f64(min, max)
                );
                (Kind::OutOfBounds, problem)
            } else {
                (
                    Kind::NotPositive,
                    format!("{key} must be a positive number, not {v}"),
                )
            };
            Finding::new(kind, file, problem, fix.as_str())
                .column(key)
                .value(&bounds::show_f64(v))
        })
        .collect()
}

/// `api.list_lag_s` within its bounds (0 to 600 s).
fn check_list_lag(plan: &Plan, file: &str) -> Option<Finding> {
    let v = plan.api.list_lag_s;
    if v.is_finite() && (0.0..=crate::plan::MAX_LIST_LAG_S).contains(&v) {
        return None;
    }
    let kind = if v.is_nan() || v < 0.0 {
        Kind::NotPositive
    } else {
        Kind::OutOfBounds
    };
    Some(
        Finding::new(
            kind,
            file,
            format!("api.list_lag_s must be from 0 to 600 seconds, not {v}"),
            "write how long a created call may take to show in the call list, in seconds \
             from 0 to 600 (default 60), or remove the key",
        )
        .column("api.list_lag_s")
        .value(&v.to_string()),
    )
}

/// Names in `required_variables` and `variables` are matched exactly
/// against headers, so an empty one or one with spaces around it never
/// matches.
fn check_variable_names(plan: &Plan, file: &str) -> Vec<Finding> {
    let names = plan
        .required_variables
        .iter()
        .map(|n| ("required_variables", n))
        .chain(plan.variables.keys().map(|n| ("variables", n)));
    let mut out = Vec::new();
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
            Finding::new(
                Kind::BadVariableName,
                file,
                problem,
                "write the variable name exactly as the agent's {{placeholder}}, without \
                 spaces around it",
            )
            .column(key)
            .value(name),
        );
    }
    out
}

/// A default variable that is also a metadata column would always reach
/// the agent as the default.
fn check_defaults_are_not_metadata(plan: &Plan, file: &str) -> Vec<Finding> {
    plan.variables
        .keys()
        .filter(|name| plan.columns.metadata.iter().any(|m| m == *name))
        .map(|name| {
            Finding::new(
                Kind::DefaultIsMetadata,
                file,
                format!(
                    "`{name}` is both a default variable and a metadata column: the \
                     column's cells go to metadata, so the agent would always get the \
                     default"
                ),
                "remove it from `variables` or from `columns.metadata`",
            )
            .column(format!("variables.{name}"))
        })
        .collect()
}

/// `default_region` must be a region the phone rules know (else numbers
/// are read as international only, see [`Plan::phone_rules`]).
fn check_default_region(plan: &Plan, file: &str) -> Option<Finding> {
    let region = plan.default_region.as_ref()?;
    let e = phone::parse_region(region).err()?;
    Some(
        Finding::new(
            Kind::BadDefaultRegion,
            file,
            format!("default_region {e}"),
            "use a two-letter ISO 3166 code such as US, GB, DE, FR, AU, IN or BR, or \
             remove default_region to accept international (+...) numbers only",
        )
        .column("default_region")
        .value(region),
    )
}

/// `api.base_url` must be a URL `run` would send the key to (the same
/// check, [`crate::api::calls_url`]: https, or plain http to this machine
/// only; a host; no credentials), without white space. The value is shown
/// masked, as every URL is ([`crate::api::shown_url`]): a key may have
/// been pasted into it.
fn check_base_url(plan: &Plan, file: &str) -> Option<Finding> {
    use crate::api::ApiError;
    let url = plan.api.base_url.as_str();
    let problem = if url.chars().any(char::is_whitespace) {
        "api.base_url holds white space: it is not a URL".to_string()
    } else {
        match crate::api::calls_url(url) {
            Ok(_) => return None,
            Err(ApiError::Insecure { .. }) => "api.base_url is plain http:// to another \
                                               machine: the API key would travel in clear text"
                .to_string(),
            Err(ApiError::BadUrl { reason, .. }) => {
                format!("api.base_url is not an http:// or https:// URL ({reason})")
            }
            Err(other) => other.to_string(),
        }
    };
    Some(
        Finding::new(
            Kind::BadBaseUrl,
            file,
            problem,
            "use https://api.dialnexa.com/v1, or remove api.base_url for that default \
             (plain http:// only for 127.0.0.1, ::1 or localhost)",
        )
        .column("api.base_url")
        .value(&crate::api::shown_url(url)),
    )
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::from_yaml;
    use proptest::prelude::*;

    const MINIMAL: &str = "name: june\nfrom_number: \"+14155550100\"\nagent_version_id: av_1\nrecipients: ../lists/june.csv\n";

    const WINDOWS: &str = "schedule:\n  timezone: America/New_York\n  hours: \"09:00-20:00\"\n  days: [mon, tue, wed, thu, fri]\n  start_at: 2026-06-01T09:00\n  end_at: 2026-06-30T20:00-04:00\nredial:\n  on: [no_answer, busy, voicemail]\n  max: 2\n  after: 2h\nsuppress: [dnc.csv, ../shared/unsubscribed.csv]\ncolumns:\n  timezone: tz\ndispatch:\n  max_active_calls: 20\n";

    fn minimal() -> Plan {
        from_yaml(MINIMAL, Path::new("/p/x.yaml")).unwrap()
    }

    /// The kinds and columns of what `check_plan` finds.
    fn found(plan: &Plan) -> Vec<(Kind, Option<String>)> {
        check_plan(plan)
            .into_iter()
            .map(|f| (f.kind, f.column))
            .collect()
    }

    #[test]
    fn the_defaults_and_the_windows_keys_have_no_findings() {
        let p = minimal();
        assert!(check_plan(&p).is_empty(), "{:?}", check_plan(&p));
        let p = from_yaml(
            &format!("{MINIMAL}{WINDOWS}"),
            Path::new("/srv/plans/june.yaml"),
        )
        .unwrap();
        assert!(check_plan(&p).is_empty(), "{:?}", check_plan(&p));
    }

    #[test]
    fn a_zero_live_call_cap_is_a_finding() {
        let p = from_yaml(
            &format!("{MINIMAL}dispatch:\n  max_active_calls: 0\n"),
            Path::new("/p/x.yaml"),
        )
        .unwrap();
        let found = check_plan(&p);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, Kind::NotPositive);
        assert_eq!(
            found[0].column.as_deref(),
            Some("dispatch.max_active_calls")
        );
        assert!(found[0].fix.contains("no cap"), "{}", found[0].fix);
    }

    #[test]
    fn a_from_number_must_be_exact_e164() {
        for (from, words) in [
            (
                " +14155550100",
                "has spaces around it (write `+14155550100`)",
            ),
            ("14155550100", "has no leading + (write `+14155550100`)"),
            ("", "is empty"),
            ("=1+2", "starts with = or '"),
        ] {
            let mut p = minimal();
            p.from_number = from.into();
            let f = check_from_number(&p, "x.yaml").expect(from);
            assert_eq!(f.kind, Kind::FromNumberInvalid);
            assert!(f.problem.contains(words), "{from:?}: {}", f.problem);
            assert_eq!(f.column.as_deref(), Some("from_number"));
        }
        assert!(check_from_number(&minimal(), "x.yaml").is_none());
    }

    #[test]
    fn an_agent_version_must_be_set_and_published() {
        let mut p = minimal();
        p.agent_version_id = "  ".into();
        assert_eq!(
            check_agent_version(&p, "x.yaml").map(|f| f.kind),
            Some(Kind::AgentVersionMissing)
        );
        p.agent_version_id = "ag_1".into();
        let f = check_agent_version(&p, "x.yaml").unwrap();
        assert_eq!(f.kind, Kind::AgentVersionPrefix);
        assert_eq!(f.value.as_deref(), Some("ag_1"));
    }

    #[test]
    fn zero_counts_and_non_positive_rates_are_findings() {
        let mut p = minimal();
        p.dispatch.concurrency = 0;
        p.dispatch.max_attempts = 0;
        p.dispatch.rate_per_second = f64::NAN;
        p.api.connect_timeout_s = -1.0;
        p.api.request_timeout_s = 0.0;
        let columns: Vec<_> = found(&p).into_iter().map(|(_, c)| c.unwrap()).collect();
        assert_eq!(
            columns,
            [
                "dispatch.concurrency",
                "dispatch.max_attempts",
                "dispatch.rate_per_second",
                "api.connect_timeout_s",
                "api.request_timeout_s"
            ]
        );
        assert!(found(&p).iter().all(|(k, _)| *k == Kind::NotPositive));
    }

    #[test]
    fn numbers_outside_their_bounds_are_findings_with_the_bounds_in_the_fix() {
        let mut p = minimal();
        p.dispatch.concurrency = bounds::MAX_CONCURRENCY + 1;
        p.dispatch.max_attempts = u32::MAX;
        p.dispatch.max_active_calls = Some(bounds::MAX_ACTIVE_CALLS + 1);
        p.dispatch.rate_per_second = 1e-320;
        p.api.connect_timeout_s = 601.0;
        p.api.request_timeout_s = 1e20;
        let found = check_plan(&p);
        let columns: Vec<_> = found.iter().map(|f| f.column.clone().unwrap()).collect();
        assert_eq!(
            columns,
            [
                "dispatch.concurrency",
                "dispatch.max_attempts",
                "dispatch.max_active_calls",
                "dispatch.rate_per_second",
                "api.connect_timeout_s",
                "api.request_timeout_s"
            ]
        );
        let kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Kind::OutOfBounds; 6], "{found:?}");
        assert!(
            found[0].problem.contains("above its bound of 10000"),
            "{}",
            found[0].problem
        );
        assert!(found[3].fix.contains("one call a day"), "{}", found[3].fix);
        assert!(
            found[5].problem.contains("outside its bounds"),
            "{}",
            found[5].problem
        );
        assert!(found[5].fix.contains("10 minutes"), "{}", found[5].fix);
        // The bounds themselves are accepted.
        p.dispatch.concurrency = bounds::MAX_CONCURRENCY;
        p.dispatch.max_attempts = bounds::MAX_ATTEMPTS;
        p.dispatch.max_active_calls = Some(bounds::MAX_ACTIVE_CALLS);
        p.dispatch.rate_per_second = bounds::MIN_RATE;
        p.api.connect_timeout_s = bounds::MIN_TIMEOUT_S;
        p.api.request_timeout_s = bounds::MAX_TIMEOUT_S;
        assert!(check_plan(&p).is_empty(), "{:?}", check_plan(&p));
        p.dispatch.rate_per_second = bounds::MAX_RATE;
        assert!(check_plan(&p).is_empty());
    }

    #[test]
    fn variable_names_defaults_region_and_url_each_point_at_their_key() {
        let mut p = minimal();
        p.required_variables = vec![" name".into(), String::new()];
        p.variables.insert("clinic".into(), "Sunrise".into());
        p.columns.metadata = vec!["clinic".into()];
        p.default_region = Some("ZZ".into());
        p.api.base_url = "ftp://x".into();
        assert_eq!(
            found(&p),
            [
                (Kind::BadVariableName, Some("required_variables".into())),
                (Kind::BadVariableName, Some("required_variables".into())),
                (Kind::DefaultIsMetadata, Some("variables.clinic".into())),
                (Kind::BadDefaultRegion, Some("default_region".into())),
                (Kind::BadBaseUrl, Some("api.base_url".into())),
            ]
        );
        p.api.base_url = "https://api.example.com/v1 ".into();
        assert!(check_base_url(&p, "x.yaml").is_some());
    }

    #[test]
    fn a_base_url_is_refused_in_validation_exactly_when_run_would_refuse_it() {
        let mut p = minimal();
        let problem = |p: &Plan| check_base_url(p, "x.yaml").map(|f| f.problem);
        for ok in [
            "https://api.dialnexa.com/v1",
            "https://api.dialnexa.com",
            "http://127.0.0.1:8080/v1",
            "http://localhost:9/v1",
            "http://[::1]:9",
        ] {
            p.api.base_url = ok.into();
            assert_eq!(problem(&p), None, "{ok}");
        }
        p.api.base_url = "http://api.dialnexa.com/v1".into();
        assert!(problem(&p).is_some_and(|m| m.contains("clear text")));
        p.api.base_url = "https://user:sk_live_secret@api.dialnexa.com/v1".into();
        let f = check_base_url(&p, "x.yaml").expect("credentials are refused");
        assert!(f.problem.contains("credentials"), "{}", f.problem);
        assert!(!format!("{f:?}").contains("sk_live_secret"), "{f:?}");
        p.api.base_url = "https://".into();
        assert!(problem(&p).is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_loaded_text_never_panics_the_checks(text in "\\PC{0,200}") {
            if let Ok(p) = from_yaml(&text, Path::new("/p/x.yaml")) {
                let _ = check_plan(&p);
            }
        }

        #[test]
        fn any_loaded_yaml_shaped_text_never_panics_the_checks(
            lines in proptest::collection::vec(
                "( {0,4})(name|from_number|dispatch|concurrency|max_active_calls|variables|columns|timezone|metadata|schedule|hours|days|start_at|end_at|redial|on|max|after|suppress|x|-)(: ?)([\\[\\]{}\"'a-zA-Z0-9+.,:/ -]{0,16})",
                0..12)
        ) {
            if let Ok(p) = from_yaml(&lines.join("\n"), Path::new("/p/x.yaml")) {
                let _ = check_plan(&p);
            }
        }

        #[test]
        fn any_plan_values_never_panic_the_checks(
            from in "\\PC{0,20}", agent in "\\PC{0,10}", region in "\\PC{0,4}",
            conc in 0u32..3, rate in proptest::num::f64::ANY
        ) {
            let mut p = minimal();
            p.from_number = from;
            p.agent_version_id = agent;
            p.default_region = Some(region);
            p.dispatch.concurrency = conc;
            p.dispatch.rate_per_second = rate;
            let _ = check_plan(&p);
        }
    }
}

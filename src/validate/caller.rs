//! A row's caller ID and agent version, judged against the plan: the
//! row's own caller ID (`columns.from_number`) must be valid E.164 and one
//! of the plan's numbers (the plan is where the workspace's numbers are
//! declared); with `require_local_caller_id`, a row that names none and
//! that no local caller ID matches is an error; a recipient that is one of
//! the numbers it would be called from is an error; the row's own agent
//! version (`columns.agent_version_id`) is checked as the plan's is.
//!
//! Apart from `rows` (which calls [`CallerChecks::check`] once per row) so
//! that file keeps to the number, key and zone rules. Which caller ID a row
//! finally gets (sticky, least used) is `crate::callerid`'s, at run time;
//! this module only uses its pool and matching rules, so both agree.

use super::layout::{Layout, column_letters};
use super::{Finding, Kind, Sink};
use crate::callerid::Pool;
use crate::phone::{RegionCode, Rules};
use crate::plan::Plan;
use crate::recipients::Record;

/// Where a row's findings point: file, row, its number as written.
pub(crate) struct At<'a> {
    pub(crate) file: &'a str,
    pub(crate) row: u64,
    pub(crate) shown_number: &'a str,
}

impl At<'_> {
    fn finding(&self, kind: Kind, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
        let mut f = Finding::new(kind, self.file, problem, fix).row(self.row);
        if !self.shown_number.is_empty() {
            f.to_number = Some(self.shown_number.to_string());
        }
        f
    }
}

/// What the row itself says about how it is called.
#[derive(Debug, Default)]
pub(crate) struct RowCaller {
    /// Its own caller ID, valid and of the plan's; empty otherwise.
    pub(crate) from_number: String,
    /// Its own agent version, trimmed; empty: the plan's.
    pub(crate) agent_version_id: String,
}

/// The plan's caller IDs and the row columns that name their own.
pub(crate) struct CallerChecks {
    pool: Pool,
    /// The local caller IDs (not `from_number`, which has its own finding).
    locals: Vec<String>,
    require_local: bool,
    /// (index, header) of `columns.from_number`.
    from_column: Option<(usize, String)>,
    /// (index, header) of `columns.agent_version_id`.
    agent_column: Option<(usize, String)>,
}

fn named(layout: &Layout, i: Option<usize>) -> Option<(usize, String)> {
    let i = i?;
    let header = match layout.header.get(i) {
        Some(h) if !h.trim().is_empty() => h.clone(),
        _ => column_letters(i),
    };
    Some((i, header))
}

impl CallerChecks {
    pub(crate) fn new(plan: &Plan, layout: &Layout) -> CallerChecks {
        let pool = Pool::of(plan);
        CallerChecks {
            locals: pool.numbers().skip(1).map(str::to_string).collect(),
            pool,
            require_local: plan.require_local_caller_id,
            from_column: named(layout, layout.from_number),
            agent_column: named(layout, layout.agent_version),
        }
    }

    /// The row's caller ID and agent version findings; `recipient` is its
    /// number (E.164, region) when it has a valid one.
    pub(crate) fn check(
        &self,
        at: &At,
        rec: &Record,
        recipient: Option<(&str, Option<RegionCode>)>,
        sink: &mut Sink,
    ) -> RowCaller {
        let mut out = RowCaller::default();
        let mut names_one = false;
        if let Some((i, column)) = &self.from_column {
            let cell = rec.text(*i);
            names_one = !cell.trim().is_empty();
            out.from_number = self.own_caller_id(at, column, cell.trim(), sink);
        }
        if let Some((to, region)) = recipient {
            self.check_recipient(at, to, region, names_one, &out.from_number, sink);
        }
        if let Some((i, column)) = &self.agent_column {
            let cell = rec.text(*i);
            let agent = cell.trim();
            if !agent.is_empty() && !agent.starts_with("av_") {
                sink.push(
                    at.finding(
                        Kind::AgentVersionPrefix,
                        format!(
                            "the row's agent version `{agent}` does not start with `av_`, as \
                             DialNexa agent version ids do: is it an agent id (ag_...) or a draft?"
                        ),
                        "use the id of a published agent version (av_...), or leave the cell \
                         empty for the plan's agent_version_id",
                    )
                    .column(column.clone())
                    .value(agent),
                );
            }
            out.agent_version_id = agent.to_string();
        }
        out
    }

    /// The row's own caller ID cell (trimmed): empty, or valid E.164 and
    /// one of the plan's numbers; returns it when usable.
    fn own_caller_id(&self, at: &At, column: &str, cell: &str, sink: &mut Sink) -> String {
        if cell.is_empty() {
            return String::new();
        }
        let e164 = match Rules::default().check(cell).outcome {
            Ok(n) if n.e164 == cell => n.e164,
            _ => {
                sink.push(
                    at.finding(
                        Kind::CallerIdInvalid,
                        format!("the row's caller ID `{cell}` is not a valid E.164 number"),
                        "write it in E.164 (+, country code, number), as the plan's from_number, \
                         or leave the cell empty to choose by the plan's rules",
                    )
                    .column(column)
                    .value(cell),
                );
                return String::new();
            }
        };
        if self.pool.contains(&e164) {
            return e164;
        }
        sink.push(
            at.finding(
                Kind::CallerIdNotInPlan,
                format!(
                    "the row's caller ID {e164} is not the plan's from_number nor one of its \
                     local_caller_ids: the plan is where the workspace's numbers are declared"
                ),
                format!(
                    "add it to local_caller_ids (as `- number: \"{e164}\"`) if it is a number of \
                     the workspace, or correct the cell, or leave it empty"
                ),
            )
            .column(column)
            .value(cell),
        );
        String::new()
    }

    /// The recipient is not one of the numbers it would be called from,
    /// and, when the plan requires one and the row names none (`names_one`),
    /// has a local caller ID.
    fn check_recipient(
        &self,
        at: &At,
        to: &str,
        region: Option<RegionCode>,
        names_one: bool,
        own: &str,
        sink: &mut Sink,
    ) {
        if to == own || self.locals.iter().any(|n| n == to) {
            sink.push(at.finding(
                Kind::SameAsCallerId,
                format!(
                    "the recipient {to} is one of the plan's caller IDs: the campaign would \
                     call itself"
                ),
                "delete the row, or correct the number",
            ));
        }
        // A row that names a caller ID is judged on that one alone.
        if self.require_local && !names_one && self.pool.local_matches(to, region).0.is_empty() {
            let region = region.map_or_else(|| "no region".to_string(), |r| r.to_string());
            sink.push(at.finding(
                Kind::NoLocalCallerId,
                format!(
                    "no local_caller_ids entry matches {to} ({region}) by prefix or country, and \
                     the plan sets require_local_caller_id"
                ),
                format!(
                    "add a local caller ID for {region} (countries) or this number's prefix to \
                     local_caller_ids, or remove the row, or set require_local_caller_id: false \
                     to call it from from_number"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::validate::{Finding, Kind, Row, Severity, validate_with};

    const POOL: &str = "local_caller_ids:\n  - number: \"+442079460000\"\n    countries: [GB]\n  - number: \"+12125550100\"\n    prefixes: [\"+1212\"]\ncolumns:\n  from_number: caller\n  agent_version_id: agent\n";

    fn check(extra: &str, csv: &str) -> (Vec<Finding>, Vec<Row>) {
        let text = format!(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\nrecipients: r.csv\n{extra}"
        );
        let plan = crate::plan::from_yaml(&text, Path::new("/t/p.yaml")).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, csv.as_bytes()).unwrap();
        let mut rows = Vec::new();
        let report = validate_with(&plan, file.path(), &mut |_| {}, |r| rows.push(r)).unwrap();
        (report.findings, rows)
    }

    fn kinds(findings: &[Finding]) -> Vec<(Kind, Option<u64>, Option<String>)> {
        findings
            .iter()
            .map(|f| (f.kind, f.row, f.column.clone()))
            .collect()
    }

    #[test]
    fn a_rows_own_caller_id_and_agent_version_are_judged_and_carried() {
        let csv = "to_number,caller,agent,name\n\
                   +442079460123,,,a\n\
                   +16502530001,+12125550100,av_es,b\n\
                   +16502530002,+13105550100,,c\n\
                   +16502530003,4155550100,ag_x,d\n\
                   +12125550100,,,e\n\
                   +16502530004,+16502530004,,f\n";
        let (findings, rows) = check(POOL, csv);
        assert_eq!(
            kinds(&findings),
            [
                (Kind::CallerIdNotInPlan, Some(4), Some("caller".into())),
                (Kind::CallerIdInvalid, Some(5), Some("caller".into())),
                (Kind::AgentVersionPrefix, Some(5), Some("agent".into())),
                (Kind::SameAsCallerId, Some(6), None),
                (Kind::CallerIdNotInPlan, Some(7), Some("caller".into())),
            ],
            "{findings:#?}"
        );
        assert!(findings.iter().all(|f| !f.fix.is_empty()));
        assert_eq!(findings[2].severity, Severity::Warning);
        assert_eq!(rows[1].from_number, "+12125550100");
        assert_eq!(rows[1].agent_version_id, "av_es");
        assert_eq!(rows[0].from_number, "");
        assert!(rows[1].errors == 0 && rows[0].errors == 0);
        assert!(
            !rows[1].variables.contains_key("caller"),
            "never a variable"
        );
        assert!(!rows[1].variables.contains_key("agent"));
    }

    #[test]
    fn require_local_caller_id_blocks_rows_nothing_local_matches() {
        let extra = format!("{POOL}require_local_caller_id: true\n");
        let csv = "to_number,caller,agent\n+442079460123,,\n+12125550142,,\n+16502530001,,\n\
                   +16502530002,+14155550100,\n";
        let (findings, _) = check(&extra, csv);
        assert_eq!(
            kinds(&findings),
            [(Kind::NoLocalCallerId, Some(4), None)],
            "{findings:#?}"
        );
        assert!(
            findings[0].problem.contains("+16502530001 (US)"),
            "{}",
            findings[0].problem
        );
    }

    #[test]
    fn the_plans_caller_ids_and_rules_are_checked() {
        let extra = "local_caller_ids:\n  - number: \"+44 20 7946 0000\"\n    countries: [Britain]\n    prefixes: [\"1212\"]\n";
        let (findings, _) = check(extra, "to_number\n+16502530001\n");
        assert_eq!(
            kinds(&findings),
            [
                (
                    Kind::CallerIdInvalid,
                    None,
                    Some("local_caller_ids[0].number".into())
                ),
                (
                    Kind::CallerIdRuleInvalid,
                    None,
                    Some("local_caller_ids[0].prefixes".into())
                ),
                (
                    Kind::CallerIdRuleInvalid,
                    None,
                    Some("local_caller_ids[0].countries".into())
                ),
            ],
            "{findings:#?}"
        );
    }

    #[test]
    fn a_column_the_plan_names_must_exist() {
        let (findings, _) = check(POOL, "to_number,caller\n+16502530001,\n");
        assert_eq!(
            kinds(&findings),
            [(Kind::MissingColumn, Some(1), Some("agent".into()))],
            "{findings:#?}"
        );
    }
}

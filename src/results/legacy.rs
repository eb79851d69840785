//! The first layout of the results file, still read so that a campaign
//! started by an earlier callplan resumes: line 1 a comment record naming
//! the campaign (`#callplan results v1,campaign=...,from_number=...,
//! agent_version_id=...,plan=...`), line 2 the [`LEGACY_COLUMNS`] header,
//! and a `#callplan run,...` comment record at each run start. The next run
//! rewrites such a file in the current layout before it appends (see
//! `writer`), and compaction always writes the current one; nothing writes
//! this layout any more, except tests.
//!
//! [`LEGACY_COLUMNS`]: super::record::LEGACY_COLUMNS

use super::header::{Header, Identity};

/// First field of the identity line of the first layout.
pub(super) const MAGIC: &str = "#callplan results v1";
/// First field of the comment record appended at each run start.
pub(super) const RUN_MAGIC: &str = "#callplan run";
/// Any first field starting so is a comment record, not a recipient.
pub(super) const COMMENT_PREFIX: &str = "#callplan";

/// Why line 1 is not an identity line a run can use. The reader turns it
/// into a [`ResultsError`](super::ResultsError) naming the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadIdentity {
    /// A callplan comment record of another layout version (its first field).
    Version(String),
    /// Ours, but `campaign=`, `from_number=` or `agent_version_id=` is missing.
    Incomplete,
}

/// The `name=value` fields of a comment record, after its magic.
fn key_values(rec: &csv::ByteRecord) -> impl Iterator<Item = (&str, &str)> {
    rec.iter().skip(1).filter_map(|f| {
        let s = std::str::from_utf8(f).ok()?;
        s.split_once('=')
    })
}

/// Reads the identity line (line 1, already split as CSV, its first field
/// starting with [`COMMENT_PREFIX`]): the magic and version first, then the
/// identity's fields.
pub(super) fn parse_identity(rec: &csv::ByteRecord) -> Result<Header, BadIdentity> {
    let first = rec.get(0).unwrap_or_default();
    if first != MAGIC.as_bytes() {
        return Err(BadIdentity::Version(
            String::from_utf8_lossy(first).into_owned(),
        ));
    }
    let mut campaign = None;
    let mut from_number = None;
    let mut agent = None;
    let mut h = Header {
        identity: Identity {
            campaign: String::new(),
            from_number: String::new(),
            agent_version_id: String::new(),
            sandbox: false,
        },
        plan: String::new(),
        recipients: None,
        results: None,
        rows: None,
        skip_invalid: false,
    };
    for (k, v) in key_values(rec) {
        match k {
            "campaign" => campaign = Some(v.to_string()),
            "from_number" => from_number = Some(v.to_string()),
            "agent_version_id" => agent = Some(v.to_string()),
            "target" => h.identity.sandbox = v == "sandbox",
            "plan" => h.plan = v.to_string(),
            "recipients" => h.recipients = Some(v.to_string()),
            "results" => h.results = Some(v.to_string()),
            "rows" => h.rows = v.parse().ok(),
            "skip_invalid" => h.skip_invalid = v == "1",
            _ => {} // written by a later callplan: not needed to resume
        }
    }
    match (campaign, from_number, agent) {
        (Some(c), Some(f), Some(a)) => {
            h.identity.campaign = c;
            h.identity.from_number = f;
            h.identity.agent_version_id = a;
            Ok(h)
        }
        _ => Err(BadIdentity::Incomplete),
    }
}

/// Takes a run line's details as the header's (a detail the run line
/// does not give is cleared: that run did not have it).
pub(super) fn apply_run_line(h: &mut Header, rec: &csv::ByteRecord) {
    h.recipients = None;
    h.results = None;
    h.skip_invalid = false;
    for (k, v) in key_values(rec) {
        match k {
            "plan" => h.plan = v.to_string(),
            "recipients" => h.recipients = Some(v.to_string()),
            "results" => h.results = Some(v.to_string()),
            "rows" => h.rows = v.parse().ok(),
            "skip_invalid" => h.skip_invalid = v == "1",
            _ => {}
        }
    }
}

/// A file of the first layout, as callplan 0.x wrote it: identity line,
/// column header, `records` (13 fields each), then a run line. For the
/// migration tests.
#[cfg(test)]
pub(super) fn legacy_file(h: &Header, records: &[&str]) -> Vec<u8> {
    use super::line::push_line;
    use super::record::LEGACY_COLUMNS;
    let mut identity = vec![
        MAGIC.to_string(),
        format!("campaign={}", h.identity.campaign),
        format!("from_number={}", h.identity.from_number),
        format!("agent_version_id={}", h.identity.agent_version_id),
    ];
    if h.identity.sandbox {
        identity.push("target=sandbox".into());
    }
    identity.push(format!("plan={}", h.plan));
    let mut buf = Vec::new();
    push_line(&mut buf, identity.iter().map(String::as_str), false);
    push_line(&mut buf, LEGACY_COLUMNS, false);
    for r in records {
        buf.extend_from_slice(r.as_bytes());
        buf.push(b'\n');
    }
    let mut run = vec![RUN_MAGIC.to_string(), format!("plan={}", h.plan)];
    if let Some(r) = &h.results {
        run.push(format!("results={r}"));
    }
    if let Some(n) = h.rows {
        run.push(format!("rows={n}"));
    }
    push_line(&mut buf, run.iter().map(String::as_str), false);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::line::csv_line;
    use crate::results::test_support::header;

    fn parse(line: &[u8]) -> Result<Header, BadIdentity> {
        let mut rec = csv::ByteRecord::new();
        csv_line(line, &mut rec).unwrap();
        parse_identity(&rec)
    }

    #[test]
    fn identity_line_reads_back_and_a_bad_one_says_why() {
        let mut h = header();
        h.identity.sandbox = true;
        let file = legacy_file(&h, &[]);
        let first = file.split(|&b| b == b'\n').next().unwrap();
        let back = parse(first).unwrap();
        assert_eq!(back.identity, h.identity);
        assert_eq!(back.plan, h.plan);
        assert_eq!(
            parse(b"#callplan results v9,campaign=x"),
            Err(BadIdentity::Version("#callplan results v9".into()))
        );
        assert_eq!(
            parse(b"#callplan results v1,campaign=x,from_number=+1"),
            Err(BadIdentity::Incomplete)
        );
    }
}

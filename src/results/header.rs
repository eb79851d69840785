//! Who a results file belongs to, and how its last run was started: the
//! [`Identity`] a file written for another campaign is refused by, and the
//! [`Header`] that adds what `callplan status` needs to print the command
//! that resumes the campaign.
//!
//! Both are comment records, so that a CSV tool told to skip `#` lines sees
//! only the columns and records: line 1 is the identity line
//! (`#callplan results v1,campaign=...`), written once; each run start
//! appends a run line (`#callplan run,started_at=...`) whose details replace
//! the previous run's. Fields are `name=value`, and a name this version does
//! not know is skipped, so a later callplan may add some.

use std::fmt;

use crate::text::{now_rfc3339, shell_quote};

use super::line::push_line;

/// First field of the identity line; the version is bumped if the layout changes.
pub(super) const MAGIC: &str = "#callplan results v1";
/// First field of the comment record appended at each run start.
pub(super) const RUN_MAGIC: &str = "#callplan run";
/// Any first field starting so is a comment record, not a recipient.
pub(super) const COMMENT_PREFIX: &str = "#callplan";

/// What makes two results files the same campaign: a file written for
/// another campaign is refused, never mixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub campaign: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// Written by a `--sandbox` rehearsal: its call_ids are not real calls,
    /// so a real run must never take its rows as settled.
    pub sandbox: bool,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign `{}`, from_number {}, agent version {}",
            self.campaign, self.from_number, self.agent_version_id
        )?;
        if self.sandbox {
            f.write_str(", a --sandbox rehearsal")?;
        }
        Ok(())
    }
}

/// The identity line plus what `callplan status` needs to print the exact
/// command that resumes the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub identity: Identity,
    /// The plan file of the last run.
    pub plan: String,
    /// `--recipients` of the last run, when it was given.
    pub recipients: Option<String>,
    /// `--results` of the last run, when it was given.
    pub results: Option<String>,
    /// Recipient rows in the input of the last run (valid and invalid).
    pub rows: Option<u64>,
    /// The last run had `--skip-invalid`: its resume command must too (else
    /// the rerun refuses to dial anything over the invalid rows).
    pub skip_invalid: bool,
}

impl Header {
    /// The command that resumes this campaign, quoted for a POSIX shell.
    pub fn resume_command(&self) -> String {
        let mut cmd = format!("callplan run {}", shell_quote(&self.plan));
        if let Some(r) = &self.recipients {
            cmd.push_str(" --recipients ");
            cmd.push_str(&shell_quote(r));
        }
        if let Some(r) = &self.results {
            cmd.push_str(" --results ");
            cmd.push_str(&shell_quote(r));
        }
        if self.skip_invalid {
            cmd.push_str(" --skip-invalid");
        }
        if self.identity.sandbox {
            cmd.push_str(" --sandbox");
        }
        cmd
    }

    /// The fields of the identity line (`magic` is [`MAGIC`]) or of a run
    /// line ([`RUN_MAGIC`]).
    fn fields(&self, magic: &str) -> Vec<String> {
        let mut f = vec![magic.to_string()];
        if magic == MAGIC {
            f.push(format!("campaign={}", self.identity.campaign));
            f.push(format!("from_number={}", self.identity.from_number));
            f.push(format!(
                "agent_version_id={}",
                self.identity.agent_version_id
            ));
            if self.identity.sandbox {
                f.push("target=sandbox".into());
            }
        } else {
            f.push(format!("started_at={}", now_rfc3339()));
        }
        f.push(format!("plan={}", self.plan));
        if let Some(r) = &self.recipients {
            f.push(format!("recipients={r}"));
        }
        if let Some(r) = &self.results {
            f.push(format!("results={r}"));
        }
        if let Some(n) = self.rows {
            f.push(format!("rows={n}"));
        }
        if self.skip_invalid {
            f.push("skip_invalid=1".into());
        }
        f
    }

    /// The identity line or a run line, encoded, with its newline.
    pub(super) fn line(&self, magic: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        let fields = self.fields(magic);
        push_line(&mut buf, fields.iter().map(String::as_str), false);
        buf
    }
}

/// Why line 1 is not an identity line a run can use. The reader turns it
/// into a [`ResultsError`](super::ResultsError) naming the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadIdentity {
    /// Not a callplan comment record: some other file.
    NotResults,
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

/// Reads the identity line (line 1, already split as CSV): the magic and
/// version first, then the identity's fields.
pub(super) fn parse_identity(rec: &csv::ByteRecord) -> Result<Header, BadIdentity> {
    let first = rec.get(0).unwrap_or_default();
    if first != MAGIC.as_bytes() {
        if first.starts_with(COMMENT_PREFIX.as_bytes()) {
            return Err(BadIdentity::Version(
                String::from_utf8_lossy(first).into_owned(),
            ));
        }
        return Err(BadIdentity::NotResults);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::line::csv_line;
    use crate::results::test_support::{header, write_log};
    use crate::results::{open, read};
    use tokio_util::sync::CancellationToken;

    fn parse(line: &[u8]) -> Result<Header, BadIdentity> {
        let mut rec = csv::ByteRecord::new();
        csv_line(line.strip_suffix(b"\n").unwrap_or(line), &mut rec).unwrap();
        parse_identity(&rec)
    }

    #[test]
    fn identity_line_reads_back_and_a_bad_one_says_why() {
        let mut h = header();
        h.recipients = Some("/data/june, final.csv".into());
        h.skip_invalid = true;
        h.identity.sandbox = true;
        assert_eq!(parse(&h.line(MAGIC)), Ok(h));
        assert_eq!(
            parse(b"#callplan results v9,campaign=x"),
            Err(BadIdentity::Version("#callplan results v9".into()))
        );
        assert_eq!(parse(b"to_number,name"), Err(BadIdentity::NotResults));
        assert_eq!(
            parse(b"#callplan results v1,campaign=x,from_number=+1"),
            Err(BadIdentity::Incomplete)
        );
    }

    #[test]
    fn resume_command_quotes_paths() {
        let h = header();
        assert_eq!(
            h.resume_command(),
            "callplan run '/plans/june plan.yaml' --results /tmp/r.csv"
        );
    }

    #[test]
    fn run_line_updates_header_details() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![]);
        let mut h = header();
        h.plan = "/other/plan.yaml".into();
        h.results = None;
        h.rows = Some(9);
        let log = read(&path).unwrap();
        let (app, w) = open(&path, &h, log, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.header.plan, "/other/plan.yaml");
        assert_eq!(log.header.results, None);
        assert_eq!(log.header.rows, Some(9));
    }

    #[test]
    fn skip_invalid_is_kept_in_the_resume_command() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![]);
        let mut h = header();
        h.skip_invalid = true;
        let log = read(&path).unwrap();
        let (app, w) = open(&path, &h, log, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert!(log.header.skip_invalid);
        assert_eq!(
            log.header.resume_command(),
            "callplan run '/plans/june plan.yaml' --results /tmp/r.csv --skip-invalid"
        );
        // A later run without it: the resume command drops it.
        let (app, w) = open(&path, &header(), Some(log), CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert!(!log.header.skip_invalid);
    }

    #[test]
    fn sandbox_identity_is_written_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let mut h = header();
        h.identity.sandbox = true;
        let (app, w) = open(&path, &h, None, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#callplan results v1,campaign=june,from_number=+14155550100,agent_version_id=av_1,target=sandbox,"), "{text}");
        let log = read(&path).unwrap().unwrap();
        assert!(log.header.identity.sandbox);
        assert!(log.header.resume_command().ends_with(" --sandbox"));
        // A real run of the same campaign refuses it.
        let err = open(&path, &header(), Some(log), CancellationToken::new()).unwrap_err();
        assert!(err.to_string().contains("a --sandbox rehearsal"), "{err}");
    }
}

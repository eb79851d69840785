//! Who a results file belongs to, and how its last run was started: the
//! [`Identity`] a file written for another campaign is refused by, and the
//! [`Header`] that adds what `callplan status` needs to print the command
//! that resumes the campaign.
//!
//! Neither is a line of the CSV any more (a comment line first broke every
//! CSV reader): the whole header lives in the state file beside the results
//! file (`state`), and the part that must survive a lone copy of the CSV,
//! the campaign and whether it is a rehearsal, is the `campaign` cell of
//! every row ([`campaign_cell`]). The caller ID and agent version each call
//! used are columns of their rows.

use std::fmt;

use crate::text::shell_quote;

/// Prefix of a rehearsal's campaign cell. A campaign name never holds a
/// `/` (it names a file; the plan refuses it), so `sandbox/june` can never
/// be a real campaign's cell, and a real run refuses it even when the file
/// has lost its state file.
const SANDBOX_CELL_PREFIX: &str = "sandbox/";

/// What makes two results files the same campaign: a file written for
/// another campaign is refused, never mixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub campaign: String,
    /// The plan's caller ID. Empty when unknown: a results file read
    /// without its state file says only its campaign and target.
    pub from_number: String,
    /// The plan's agent version; empty when unknown, as `from_number`.
    pub agent_version_id: String,
    /// Written by a `--sandbox` rehearsal: its call_ids are not real calls,
    /// so a real run must never take its rows as settled.
    pub sandbox: bool,
}

impl Identity {
    /// Whether a file of this identity may be used by a run of `expected`:
    /// same campaign and target, and the same caller ID and agent version
    /// where this file says them (a file without its state file does not).
    pub fn admits(&self, expected: &Identity) -> bool {
        let known_same = |mine: &str, theirs: &str| mine.is_empty() || mine == theirs;
        self.campaign == expected.campaign
            && self.sandbox == expected.sandbox
            && known_same(&self.from_number, &expected.from_number)
            && known_same(&self.agent_version_id, &expected.agent_version_id)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "campaign `{}`", self.campaign)?;
        if !self.from_number.is_empty() {
            write!(f, ", from_number {}", self.from_number)?;
        }
        if !self.agent_version_id.is_empty() {
            write!(f, ", agent version {}", self.agent_version_id)?;
        }
        if self.sandbox {
            f.write_str(", a --sandbox rehearsal")?;
        }
        Ok(())
    }
}

/// The `campaign` cell of every row of a file of this identity: the name,
/// behind `sandbox/` for a rehearsal.
pub(super) fn campaign_cell(identity: &Identity) -> String {
    if identity.sandbox {
        format!("{SANDBOX_CELL_PREFIX}{}", identity.campaign)
    } else {
        identity.campaign.clone()
    }
}

/// The campaign and target a `campaign` cell names (the reverse of
/// [`campaign_cell`]).
pub(super) fn parse_campaign_cell(cell: &str) -> (String, bool) {
    match cell.strip_prefix(SANDBOX_CELL_PREFIX) {
        Some(name) => (name.to_string(), true),
        None => (cell.to_string(), false),
    }
}

/// The identity plus what `callplan status` needs to print the exact
/// command that resumes the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub identity: Identity,
    /// The plan file of the last run; empty when unknown (a file read
    /// without its state file).
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
    /// What a file read without its state file says of itself: its
    /// campaign and target (from the rows) and its own path.
    pub(super) fn from_rows(identity: Identity, results: String) -> Header {
        Header {
            identity,
            plan: String::new(),
            recipients: None,
            results: Some(results),
            rows: None,
            skip_invalid: false,
        }
    }

    /// The command that resumes this campaign, quoted for a POSIX shell
    /// (`PLAN` stands for the plan when the file does not say it).
    pub fn resume_command(&self) -> String {
        let plan = if self.plan.is_empty() {
            "PLAN".to_string()
        } else {
            shell_quote(&self.plan)
        };
        let mut cmd = format!("callplan run {plan}");
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::test_support::{header, ident};

    #[test]
    fn resume_command_quotes_paths() {
        let h = header();
        assert_eq!(
            h.resume_command(),
            "callplan run '/plans/june plan.yaml' --results /tmp/r.csv"
        );
        let lone = Header::from_rows(ident(), "/data/r.csv".into());
        assert_eq!(
            lone.resume_command(),
            "callplan run PLAN --results /data/r.csv"
        );
    }

    #[test]
    fn campaign_cell_marks_a_rehearsal_unambiguously() {
        let mut id = ident();
        assert_eq!(campaign_cell(&id), "june");
        assert_eq!(parse_campaign_cell("june"), ("june".into(), false));
        id.sandbox = true;
        assert_eq!(campaign_cell(&id), "sandbox/june");
        assert_eq!(parse_campaign_cell("sandbox/june"), ("june".into(), true));
        // A real campaign merely named so (no `/`) stays real.
        assert_eq!(
            parse_campaign_cell("sandbox-june"),
            ("sandbox-june".into(), false)
        );
    }

    #[test]
    fn an_identity_without_caller_id_admits_only_its_campaign_and_target() {
        let lone = Identity {
            from_number: String::new(),
            agent_version_id: String::new(),
            ..ident()
        };
        assert!(lone.admits(&ident()));
        assert!(ident().admits(&ident()));
        let mut other = ident();
        other.campaign = "july".into();
        assert!(!lone.admits(&other));
        other = ident();
        other.sandbox = true;
        assert!(!lone.admits(&other));
        other = ident();
        other.agent_version_id = "av_2".into();
        assert!(!ident().admits(&other) && lone.admits(&other));
        assert_eq!(lone.to_string(), "campaign `june`");
    }
}

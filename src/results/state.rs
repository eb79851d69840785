//! The state file beside a results file: `.<results file name>.state`, a
//! small JSON object holding the whole [`Header`] (campaign, rehearsal or
//! real, the plan's caller ID and agent version, and the plan path,
//! `--recipients`, `--results`, `--skip-invalid` and row count of the last
//! run, for the resume command).
//!
//! Beside the CSV rather than in it, so that line 1 of the CSV stays its
//! column header for every CSV reader. It is written atomically (temp file,
//! fsync, rename, fsync of the folder) at each run start and at
//! compaction, next to the `.lock` file. The CSV stays the authority on
//! whose file it is: each row's `campaign` cell says it, and a state file
//! that disagrees with the rows (a CSV copied over another) is ignored, as
//! is one that cannot be read; then the file says only its campaign.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::replace;
use super::header::{Header, Identity};

/// The `format` of the state file this version writes and reads.
const FORMAT: &str = "callplan results state v1";

/// The state file as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: String,
    campaign: String,
    /// `sandbox` for a `--sandbox` rehearsal, else `api`.
    target: String,
    from_number: String,
    agent_version_id: String,
    plan: String,
    recipients: Option<String>,
    results: Option<String>,
    rows: Option<u64>,
    skip_invalid: bool,
    written_at: String,
}

/// Where the state file of the results file at `path` lives.
pub(super) fn state_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.state", file_name_of(path)))
}

/// The results file's name (`results` when it has none).
fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into())
}

/// The validation seal beside the results file at `path`
/// (`crate::triage::seal`): `.NAME.validated`.
pub fn seal_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.validated", file_name_of(path)))
}

/// Writes the state file of the results file at `path`, atomically.
pub(super) fn write_state(path: &Path, header: &Header) -> io::Result<()> {
    let state = StateFile {
        format: FORMAT.into(),
        campaign: header.identity.campaign.clone(),
        target: if header.identity.sandbox {
            "sandbox"
        } else {
            "api"
        }
        .into(),
        from_number: header.identity.from_number.clone(),
        agent_version_id: header.identity.agent_version_id.clone(),
        plan: header.plan.clone(),
        recipients: header.recipients.clone(),
        results: header.results.clone(),
        rows: header.rows,
        skip_invalid: header.skip_invalid,
        written_at: crate::text::now_rfc3339(),
    };
    let mut text = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
    text.push(b'\n');
    replace(&state_path(path), |out| out.write_all(&text))
}

/// Reads the state file of the results file at `path`: `Ok(None)` when
/// there is none, `Err` (why) when it cannot be used.
pub(super) fn read_state(path: &Path) -> Result<Option<Header>, String> {
    let target = state_path(path);
    let text = match std::fs::read(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
    };
    let state: StateFile = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a callplan state file: {e}", target.display()))?;
    if state.format != FORMAT {
        return Err(format!(
            "{} is of another version of callplan (`{}`)",
            target.display(),
            state.format
        ));
    }
    Ok(Some(Header {
        identity: Identity {
            campaign: state.campaign,
            from_number: state.from_number,
            agent_version_id: state.agent_version_id,
            sandbox: state.target == "sandbox",
        },
        plan: state.plan,
        recipients: state.recipients,
        results: state.results,
        rows: state.rows,
        skip_invalid: state.skip_invalid,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::test_support::header;

    #[test]
    fn state_reads_back_and_a_bad_one_says_why() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        assert_eq!(read_state(&path), Ok(None));
        let mut h = header();
        h.recipients = Some("/data/june, final.csv".into());
        h.skip_invalid = true;
        h.identity.sandbox = true;
        write_state(&path, &h).unwrap();
        assert!(d.path().join(".r.csv.state").exists());
        assert_eq!(read_state(&path), Ok(Some(h)));
        // Only the state file is left: no temp file.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        std::fs::write(
            state_path(&path),
            "{\"format\":\"callplan results state v9\"}",
        )
        .unwrap();
        assert!(
            read_state(&path)
                .unwrap_err()
                .contains("is not a callplan state file")
        );
        std::fs::write(state_path(&path), b"\x00garbage").unwrap();
        assert!(read_state(&path).is_err());
    }
}

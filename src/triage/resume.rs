//! The command that resumes a campaign, printed by `run`'s summary and by
//! `status`: one type, so the two print the same text for the same run.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::plan::absolute;
use crate::results::Header;
use crate::text::shell_quote;

/// `callplan run PLAN [--recipients F] [--results F] [--skip-invalid]
/// [--sandbox]`, quoted for a POSIX shell.
///
/// Paths are always absolute (made so against the current directory of the
/// command that took them, `.` and `..` removed): the command works pasted
/// into any directory, and `status`, which may run anywhere, prints exactly
/// what `run` printed. `--recipients` and `--results` appear only when the
/// run was given them; otherwise the plan's own paths are meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeCommand {
    plan: PathBuf,
    recipients: Option<PathBuf>,
    results: Option<PathBuf>,
    skip_invalid: bool,
    sandbox: bool,
}

impl ResumeCommand {
    /// The command for a run of `plan` with these options (relative paths
    /// are made absolute now).
    pub fn new(
        plan: &Path,
        recipients: Option<&Path>,
        results: Option<&Path>,
        skip_invalid: bool,
        sandbox: bool,
    ) -> ResumeCommand {
        ResumeCommand {
            plan: absolute(plan),
            recipients: recipients.map(absolute),
            results: results.map(absolute),
            skip_invalid,
            sandbox,
        }
    }

    /// The command for the last run a results file's header records.
    pub fn from_header(header: &Header) -> ResumeCommand {
        ResumeCommand::new(
            Path::new(&header.plan),
            header.recipients.as_deref().map(Path::new),
            header.results.as_deref().map(Path::new),
            header.skip_invalid,
            header.identity.sandbox,
        )
    }
}

impl fmt::Display for ResumeCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |p: &Path| shell_quote(&p.display().to_string());
        write!(f, "callplan run {}", quoted(&self.plan))?;
        if let Some(r) = &self.recipients {
            write!(f, " --recipients {}", quoted(r))?;
        }
        if let Some(r) = &self.results {
            write!(f, " --results {}", quoted(r))?;
        }
        if self.skip_invalid {
            f.write_str(" --skip-invalid")?;
        }
        if self.sandbox {
            f.write_str(" --sandbox")?;
        }
        Ok(())
    }
}

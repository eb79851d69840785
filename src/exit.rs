//! Exit codes: the contract scripts and CI jobs read (DESIGN.md, "Exit codes").

/// What a callplan process tells its caller. Two variants may share a code
/// when their sentences differ ([`Exit::Unwritable`] is a `2` that says
/// what happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: everything asked for was done (warnings allowed).
    Ok,
    /// Validation found errors; nothing was dialled.
    Invalid,
    /// Usage error or unreadable input (missing file, not YAML, not CSV, not UTF-8, no API key).
    Usage,
    /// Exit 2 too: the results file cannot be written (a full disk, a file
    /// size limit); every line written so far is safe, a rerun resumes.
    Unwritable,
    /// The run stopped on a workspace-wide API error; results saved, a rerun resumes.
    Stopped,
    /// The run finished but some rows were rejected, errored or are still in doubt.
    Partial,
    /// Interrupted by Ctrl-C or SIGTERM; results saved, a rerun resumes.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Invalid => 1,
            Exit::Usage | Exit::Unwritable => 2,
            Exit::Stopped => 3,
            Exit::Partial => 4,
            Exit::Interrupted => 130,
        }
    }

    /// One sentence for the end of a summary.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "done",
            Exit::Invalid => "validation found errors; nothing was dialled",
            Exit::Usage => "usage error or unreadable input",
            Exit::Unwritable => {
                "the results file cannot be written (disk full?); what was written is safe: \
                 free space, then rerun to resume"
            }
            Exit::Stopped => {
                "stopped on a workspace-wide API error; results saved, rerun to resume"
            }
            Exit::Partial => "finished, but some rows were rejected, errored or are in doubt",
            Exit::Interrupted => "interrupted; results saved, rerun to resume",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones_and_unwritable_says_what_happened() {
        let codes: Vec<u8> = [
            Exit::Ok,
            Exit::Invalid,
            Exit::Usage,
            Exit::Unwritable,
            Exit::Stopped,
            Exit::Partial,
            Exit::Interrupted,
        ]
        .map(Exit::code)
        .into();
        assert_eq!(codes, [0, 1, 2, 2, 3, 4, 130]);
        assert!(
            Exit::Unwritable
                .meaning()
                .starts_with("the results file cannot be written")
        );
        assert!(!Exit::Unwritable.meaning().contains("usage"));
    }
}

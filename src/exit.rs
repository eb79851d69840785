//! Exit codes: the contract scripts and CI jobs read (DESIGN.md, "Exit codes").

/// What a callplan process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done: everything asked for was done (warnings allowed).
    Ok = 0,
    /// Validation found errors; nothing was dialled.
    Invalid = 1,
    /// Usage error or unreadable input (missing file, not YAML, not CSV, not UTF-8, no API key).
    Usage = 2,
    /// The run stopped on a workspace-wide API error; results saved, a rerun resumes.
    Stopped = 3,
    /// The run finished but some rows were rejected, errored or are still in doubt.
    Partial = 4,
    /// Interrupted by Ctrl-C or SIGTERM; results saved, a rerun resumes.
    Interrupted = 130,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// One sentence for the end of a summary.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "done",
            Exit::Invalid => "validation found errors; nothing was dialled",
            Exit::Usage => "usage error or unreadable input",
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

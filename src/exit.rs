//! Exit codes: the contract scripts and CI jobs read (DESIGN.md, "Exit codes").
//!
//! One table ([`exits!`](self)) holds each variant, its code, its doc comment
//! (the long text, which `callplan man` prints as EXIT STATUS through
//! [`Exit::description`]) and its one-sentence meaning (the end of a
//! summary), so the man page, the docs and the summaries cannot drift apart.
//! Two variants may share a code when their sentences differ
//! ([`Exit::Unwritable`] is a `2` that says what happened).

macro_rules! exits {
    ($( $(#[doc = $doc:literal])+ $name:ident = $code:literal, $meaning:literal; )+) => {
        /// What a callplan process tells its caller.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Exit {
            $( $(#[doc = $doc])+ $name, )+
        }

        impl Exit {
            /// Every exit, in increasing order of code.
            pub const ALL: &'static [Exit] = &[$(Exit::$name),+];

            /// The process exit code.
            pub fn code(self) -> u8 {
                match self {
                    $( Exit::$name => $code, )+
                }
            }

            /// One sentence for the end of a summary.
            pub fn meaning(self) -> &'static str {
                match self {
                    $( Exit::$name => $meaning, )+
                }
            }

            /// The code's doc comment: the full text, for the man page.
            pub fn description(self) -> &'static str {
                match self {
                    $( Exit::$name => concat!($($doc),+).trim_ascii(), )+
                }
            }
        }
    };
}

exits! {
    /// Done: everything asked for was done (warnings allowed).
    Ok = 0, "done";
    /// Validation found errors; nothing was dialled.
    Invalid = 1, "validation found errors; nothing was dialled";
    /// Usage error or unreadable input (missing file, not YAML, not CSV, not UTF-8, no API key).
    Usage = 2, "usage error or unreadable input";
    /// Exit 2 too: the results file cannot be written (a full disk, a file
    /// size limit); every line written so far is safe, a rerun resumes.
    Unwritable = 2, "the results file cannot be written (disk full?); what was written is safe: free space, then rerun to resume";
    /// Exit 2 too: the recipients file changed after it was validated (a row
    /// edited, rows added or removed) or cannot be read again; no request
    /// for a row that is not what was checked leaves, what was dialled is
    /// recorded, and a rerun validates the file as it is now.
    RecipientsChanged = 2, "the recipients file changed after it was validated; what was dialled is saved: run again to validate it as it is now";
    /// The run stopped on a workspace-wide API error; results saved, a rerun resumes.
    Stopped = 3, "stopped on a workspace-wide API error; results saved, rerun to resume";
    /// The run finished but some rows were rejected, errored or are still in doubt.
    Partial = 4, "finished, but some rows were rejected, errored or are in doubt";
    /// Interrupted by Ctrl-C or SIGTERM; results saved, a rerun resumes.
    Interrupted = 130, "interrupted; results saved, rerun to resume";
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
    fn the_table_lists_each_code_in_order_with_its_doc() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 2, 2, 3, 4, 130]);
        assert_eq!(
            Exit::Usage.description(),
            "Usage error or unreadable input (missing file, not YAML, not CSV, not UTF-8, no API key)."
        );
        assert!(Exit::ALL.iter().all(|e| !e.meaning().is_empty()));
    }

    #[test]
    fn codes_are_the_documented_ones_and_unwritable_says_what_happened() {
        assert_eq!(Exit::Unwritable.code(), 2);
        assert!(
            Exit::Unwritable
                .meaning()
                .starts_with("the results file cannot be written")
        );
        assert!(!Exit::Unwritable.meaning().contains("usage"));
    }
}

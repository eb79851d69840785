//! The results file: callplan's durable memory of a campaign.
//!
//! While a run goes on the file is an append-only log. One writer thread owns
//! it ([`open`] returns the [`Appender`] handle workers use and the [`Writer`]
//! that joins the thread): it gathers the records workers send, writes them
//! in one go, fsyncs once per batch (group commit) and only then answers each
//! waiter. A worker sends a request only after the `dispatching` record of
//! its intent has been acknowledged, so no call ever leaves without its
//! intent on disk. A failed write or fsync poisons the writer: every later
//! append fails at once and the halt token is cancelled, so dialling stops.
//!
//! Reading ([`read`]) keeps the last record of each key; a torn last line (a
//! crash mid-write) is ignored and cut off before the next append; any other
//! malformed line is an error naming its line. When a run ends, [`compact`]
//! rewrites the file atomically (temp file in the same folder, fsync, rename,
//! fsync of the folder) as one line per recipient in input order.
//!
//! Layout (see the README, "Results file"): line 1 is a comment record that
//! names the campaign (`#callplan results v1,campaign=...,from_number=...,
//! agent_version_id=...,plan=...`), line 2 the column header, then one record
//! per line. Every record is one physical line: free text has its line breaks
//! replaced by spaces, so "the bytes after the last newline" is exactly the
//! torn part. While the file is a log, each run start appends a
//! `#callplan run,...` comment record; compaction drops those.
//!
//! One concept per file, arrows pointing down the list: `record` (a line's
//! record, its status and the columns) and `line` (a line's CSV encoding)
//! at the bottom; `header` (identity and run lines) and `error`; `read` (the
//! log read back); `writer` (the append thread); `compact` (the final
//! rewrite and the counts); `lock` (one run at a time) on the side. Status
//! words come from [`crate::wire::own_status`]; nothing below imports
//! `results`.

mod compact;
mod error;
mod header;
mod line;
mod lock;
mod read;
mod record;
#[cfg(test)]
mod test_support;
mod writer;

pub use compact::{RowRef, compact, counts, remove_stale_temp_files, tally};
pub use error::ResultsError;
pub use header::{Header, Identity};
pub use lock::{RunLock, lock};
pub use read::{Log, Table, read};
pub use record::{COLUMNS, Disposition, Record, Status};
pub use writer::{Appender, WriteFailed, Writer, open};

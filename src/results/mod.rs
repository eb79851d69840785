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
//! Layout (see the README, "Results file"): a plain CSV whose line 1 is
//! always the column header ([`COLUMNS`]), with no comment line anywhere,
//! so every CSV reader opens it as it is. Each row carries the caller ID
//! and agent version its call used, and the file's campaign (`sandbox/`
//! first for a rehearsal). What resuming needs beyond that (the plan path,
//! flags, row count, the plan's caller ID and agent version) is in the
//! state file `.<name>.state` beside it. Every record is one physical line:
//! free text has its line breaks replaced by spaces, so "the bytes after
//! the last newline" is exactly the torn part. A file of the first layout
//! (a `#callplan results v1` comment line first) is still read, and the
//! next run rewrites it in this one.
//!
//! One concept per file, arrows pointing down the list: `record` (a line's
//! record, its status and the columns) and `line` (a line's CSV encoding)
//! at the bottom; `atomic` (replacing a file); `header` (identity) and
//! `error`; `state` (the state file) and `legacy` (the first layout);
//! `read` (the log read back); `compact` (the final rewrite and the
//! counts); `writer` (the append thread); `lock` (one run at a time) on the
//! side. Status words come from [`crate::wire::own_status`]; nothing below
//! imports `results`.

mod atomic;
mod compact;
mod error;
mod header;
mod legacy;
mod line;
mod lock;
mod read;
mod record;
mod slim;
mod state;
mod table;
#[cfg(test)]
mod test_support;
mod writer;

pub use compact::{RowRef, compact, counts, remove_stale_temp_files, tally};
pub use error::ResultsError;
pub use header::{Header, Identity};
pub use lock::{RunLock, lock};
pub use read::{Log, read, read_beside_other_work};
pub use record::{COLUMNS, Disposition, Record, Status};
pub use slim::Pool;
pub use state::seal_path;

/// A cache beside the results file, replaced whole (see `atomic`).
pub(crate) use atomic::replace_unsynced;
pub use table::Table;
pub use writer::{Appender, WriteFailed, Writer, open};

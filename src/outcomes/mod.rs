//! What each call learned once it ended, kept and given back: the durable
//! post-call [`store`] beside the results file (summary, sentiment,
//! recording URL, transcript, post-call analysis), the [`export`] that
//! joins it back to the recipients for a CRM, and the [`tally`] of
//! analysis values that `callplan status` shows.
//!
//! It sits beside `results` (below the commands and the dispatch engine,
//! above [`crate::wire`]): the results CSV stays narrow, one line per
//! recipient, and this module keeps the wide, per-call data in its own
//! JSON-lines file, joined back by call_id. One concept per file: `store`
//! (the file, its types, reading and appending), `index` (where each
//! call's line is, so big stores are read lazily), `export` (the join and
//! its two formats), `tally` (the counts).

pub mod export;
mod index;
mod store;
pub mod tally;

pub use export::{ExportError, Options as ExportOptions, Summary as ExportSummary, export};
pub use index::StoreIndex;
pub use store::{Fields, Outcome, Store, StoreError, read, store_path};
pub use tally::{FieldTally, Tally, tally};

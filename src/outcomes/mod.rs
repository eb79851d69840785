//! What each call learned once it ended, kept and given back: the durable
//! post-call [`store`] beside the results file (summary, sentiment,
//! recording URL, transcript, post-call analysis), and the views built on
//! it for the commands.
//!
//! It sits beside `results` (below the commands and the dispatch engine,
//! above [`crate::wire`]): the results CSV stays narrow, one line per
//! recipient, and this module keeps the wide, per-call data in its own
//! JSON-lines file, joined back by call_id.

mod store;

pub use store::{Fields, Outcome, Store, StoreError, read, store_path};

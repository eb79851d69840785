//! callplan's integration tests: one binary, one module per area. They run
//! the real `callplan` binary against the real simulator on 127.0.0.1:0.

mod callerid;
mod campaign;
mod changed;
mod common;
mod ecosys;
mod export;
mod hardening;
mod json;
mod run;
mod sandbox;
mod secrets;
mod store_kill;
mod sync;
mod triage;
mod validate;
mod wide;
mod workbook;

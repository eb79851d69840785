//! callplan: a declarative campaign runner for the DialNexa outbound-call API.
//!
//! The binary is thin; everything lives here so tests can call it directly.
//! Modules, top to bottom (arrows point down: `dispatch` uses `api` and
//! `results`, never the reverse; `sandbox` uses nothing of the runner but
//! [`wire`]):
//!
//! - [`cli`], [`commands`], [`exit`]: the command line and its exit codes;
//! - [`plan`]: the plan file's types and loading, data only (it imports
//!   nothing of `validate`); [`recipients`]: the CSV, streamed;
//!   [`phone`]: E.164 rules; [`validate`]: judges the plan and every row
//!   into findings, and writes the report (its [`validate::Format`] is the
//!   one `cli` offers; `validate` does not import `cli`);
//! - [`callerid`]: which caller ID each recipient is called from;
//! - [`api`]: the DialNexa client; [`results`]: the durable results log;
//!   [`outcomes`]: what ended calls learned (the post-call store);
//!   [`dispatch`]: the engine; [`progress`]: what the user sees;
//! - [`sandbox`]: the simulator; [`wire`]: the API's bodies.

pub mod api;
pub mod bounds;
pub mod callerid;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod dispatch;
pub mod exit;
pub mod outcomes;
pub mod phone;
pub mod plan;
pub mod progress;
pub mod recipients;
pub mod redact;
pub mod redial;
pub mod results;
pub mod sandbox;
pub mod schedule;
pub mod suppress;
pub mod text;
pub mod triage;
pub mod validate;
pub mod wire;

//! Call records as JSON, written by hand into one buffer: the answer to a
//! create is on the hot path, and records keep their variables and metadata
//! as ready-made JSON. The shapes are those of [`crate::wire::Call`] (tests
//! parse every answer back with it), plus `idempotency_key` in the ledger.

use super::clock::{Clock, format_ts};
use super::config::AnalysisFields;
use super::ledger::CallRec;
use super::lifecycle::{Outcome, Phase};
use super::postcall;
use super::workspace::Workspace;

/// How much of a record to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// The 201 answer: the seed page's six fields, status `queued`.
    Created,
    /// `GET /v1/calls/{id}` and list items: timestamps, duration,
    /// end_reason, variables, metadata, and once a call is `completed` its
    /// post-call data.
    Record,
    /// `GET /_sandbox/ledger`: the record plus `idempotency_key`.
    Ledger,
}

/// What the writer needs besides the record.
pub(crate) struct Ctx<'a> {
    pub(crate) clock: &'a Clock,
    pub(crate) workspace: &'a Workspace,
    pub(crate) id_key: u64,
    pub(crate) now_us: u64,
    /// The seed, and the analysis fields, of post-call data.
    pub(crate) seed: u64,
    pub(crate) post_call: &'a AnalysisFields,
}

/// A JSON string literal.
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn field_str(out: &mut String, name: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    string(out, value);
}

fn field_ts(out: &mut String, name: &str, unix_us: i64) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":\"");
    format_ts(unix_us, out);
    out.push('"');
}

fn field_obj(out: &mut String, name: &str, json: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    out.push_str(if json.is_empty() { "{}" } else { json });
}

/// Writes call number `index` as one JSON object.
pub(crate) fn call(out: &mut String, ctx: &Ctx<'_>, index: u32, rec: &CallRec, detail: Detail) {
    let phase = if detail == Detail::Created {
        Phase::Queued
    } else {
        rec.phase(ctx.clock, ctx.now_us)
    };
    let created = ctx.clock.wall_us(rec.created_us);
    out.push_str("{\"call_id\":\"");
    // Where the id is in `out`: post-call data names the call by it.
    let id_at = out.len();
    super::ids::write(ctx.id_key, index, created, out);
    let id_end = out.len();
    out.push('"');
    field_str(out, "status", phase.as_str());
    field_str(out, "from_number", ctx.workspace.number(rec.from));
    out.push_str(",\"to_number\":\"+");
    out.push_str(&rec.to.to_string());
    out.push('"');
    field_str(out, "agent_version_id", ctx.workspace.version(rec.agent));
    field_ts(out, "created_at", created);
    if detail == Detail::Created {
        out.push('}');
        return;
    }
    let s = &rec.script;
    let at = |sim_ms: u64| {
        created.saturating_add(i64::try_from(ctx.clock.real_us(sim_ms)).unwrap_or(i64::MAX))
    };
    let answered =
        matches!(phase, Phase::InProgress) || (matches!(phase, Phase::Ended(_)) && s.answered());
    if answered {
        field_ts(out, "started_at", at(s.answer_ms()));
    }
    if let Phase::Ended(_) = phase {
        field_ts(out, "ended_at", at(s.end_ms()));
        out.push_str(",\"duration_s\":");
        let secs = f64::from(s.talk_ms) / 1000.0;
        out.push_str(&secs.to_string());
        field_str(out, "end_reason", s.end_reason());
    }
    field_obj(out, "variables", rec.variables());
    field_obj(out, "metadata", rec.metadata());
    if detail == Detail::Record && phase == Phase::Ended(Outcome::Completed) {
        let id = out.get(id_at..id_end).unwrap_or_default();
        let data = postcall::draw(ctx.post_call, ctx.seed, index, id, rec.variables());
        postcall::write(out, &data);
    }
    if detail == Detail::Ledger {
        out.push_str(",\"idempotency_key\":");
        match rec.idempotency_key() {
            Some(k) => string(out, k),
            None => out.push_str("null"),
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\n\t\r",
            "\u{1}\u{1f}",
            "é ☎",
            "",
        ] {
            let mut out = String::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}

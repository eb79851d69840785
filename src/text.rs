//! Small text helpers shared by storage, the API client and the commands:
//! a message made safe to store, a word quoted for a shell, the two
//! timestamp formats the results file writes, and a value cut to fit one
//! line of a message (findings, plan errors). Depends on nothing of the
//! crate, so any module may use it without an import loop.

/// `1234567` -> `1,234,567`: counts and row numbers as people read them.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Makes a message from the API safe to store: one line, at most 300
/// characters, and never read by a spreadsheet as a formula.
pub fn clean_message(msg: &str) -> String {
    let one_line: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    let trimmed = one_line.trim();
    if trimmed.starts_with(['=', '+', '-', '@']) {
        format!("'{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// Now, as RFC 3339 UTC with milliseconds (the `updated_at` format).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An instant as the results file writes `next_at`: RFC 3339, UTC, whole
/// seconds.
pub fn format_ts(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Longest offending value shown, in characters.
pub const VALUE_CHARS: usize = 40;

/// Cuts `s` to [`VALUE_CHARS`] characters, marking the cut with `…`, and
/// shows line breaks and tabs as escapes so that one finding stays one line.
pub fn truncate(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == VALUE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

//! One line of the results file: the [`Record`] of a recipient, its
//! [`Status`] and what a run does with it ([`Disposition`]), and the
//! [`COLUMNS`] a record fills.
//!
//! callplan's own statuses are one table (`statuses!` below): each row names
//! a variant, its word and its disposition, so the word written, the word
//! read back and the decision it leads to cannot drift apart. The words
//! themselves live in [`crate::wire::own_status`], below both this module
//! and the sandbox, because the API's status parser must also know them (to
//! keep an API word from passing for one of ours); `results` imports `wire`,
//! never the other way round.

use std::fmt;

use crate::text::now_rfc3339;
use crate::wire::{CallStatus, own_status};

use super::line::push_line;

/// The columns of the results file, in order (DESIGN.md, "Results file").
pub const COLUMNS: [&str; 13] = [
    "key",
    "row",
    "to_number",
    "round",
    "status",
    "call_id",
    "attempts",
    "http_status",
    "error",
    "end_reason",
    "duration_s",
    "next_at",
    "updated_at",
];

/// What a run does with a row, given its last status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing to do: a call exists, or the row was refused for good.
    Settled,
    /// Dial it: no call was created for it.
    Dial,
    /// A call may exist: look for it before anything else.
    Reconcile,
}

/// Builds [`Status`] from the table of callplan's own statuses: each row is
/// `Variant => WORD (a constant of wire::own_status), Disposition`. The
/// API's statuses come after, as `Status::Call`, always `Settled`.
macro_rules! statuses {
    ($( $(#[$doc:meta])* $variant:ident => $word:ident, $disposition:ident; )*) => {
        /// A row's status: one of the API's call statuses or one of callplan's own.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Status {
            $( $(#[$doc])* $variant, )*
            /// The API's status of the call that was created.
            Call(CallStatus),
        }

        impl Status {
            /// The words of callplan's own statuses, in the table's order.
            #[cfg(test)]
            const OWN_WORDS: &'static [&'static str] = &[$(own_status::$word),*];

            /// callplan's own status of this word, if it is one.
            fn own(word: &str) -> Option<Status> {
                match word {
                    $( own_status::$word => Some(Status::$variant), )*
                    _ => None,
                }
            }

            /// The word written in the results file.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Status::$variant => own_status::$word, )*
                    Status::Call(c) => c.as_str(),
                }
            }

            /// What a run does with a row in this state.
            pub fn disposition(&self) -> Disposition {
                match self {
                    $( Status::$variant => Disposition::$disposition, )*
                    Status::Call(_) => Disposition::Settled,
                }
            }
        }
    };
}

statuses! {
    /// Not dialled yet, or answered "nothing created" and not sent again.
    Pending => PENDING, Dial;
    /// Intent recorded, answer not yet recorded.
    Dispatching => DISPATCHING, Reconcile;
    /// Sent, answer lost, not reconciled: never dialled again unless asked.
    InDoubt => IN_DOUBT, Reconcile;
    /// The API refused this row for good (400, 403 blocked destination).
    Rejected => REJECTED, Settled;
    /// Failed validation (with `--skip-invalid`).
    Invalid => INVALID, Dial;
    /// Transient errors outlasted `max_attempts`; nothing was created.
    Error => ERROR, Dial;
    /// On a do-not-call list.
    Suppressed => SUPPRESSED, Settled;
}

impl Status {
    /// Reads a status word: the API's canonical words, then callplan's own,
    /// then any other API spelling (normalized; an unknown word is kept as
    /// it came).
    pub fn parse(word: &str) -> Status {
        match word {
            // The canonical words first: a long log is mostly these.
            "queued" => Status::Call(CallStatus::Queued),
            "ringing" => Status::Call(CallStatus::Ringing),
            "in_progress" => Status::Call(CallStatus::InProgress),
            "completed" => Status::Call(CallStatus::Completed),
            "failed" => Status::Call(CallStatus::Failed),
            "no_answer" => Status::Call(CallStatus::NoAnswer),
            "busy" => Status::Call(CallStatus::Busy),
            "voicemail" => Status::Call(CallStatus::Voicemail),
            other => Status::own(other).unwrap_or_else(|| Status::Call(CallStatus::parse(other))),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the results file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    /// The row number a spreadsheet shows for this recipient (header = 1).
    pub row: u64,
    pub to_number: String,
    /// The caller ID the row's call left from (empty: none sent yet).
    pub from_number: String,
    /// The agent version the row's call used (empty: none sent yet).
    pub agent_version_id: String,
    pub round: u32,
    pub status: Status,
    pub call_id: String,
    /// Sends that count against `max_attempts` (409/429 resends do not).
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: String,
    pub end_reason: String,
    pub duration_s: String,
    pub next_at: String,
    pub updated_at: String,
}

impl Record {
    /// A fresh record for a recipient, stamped now.
    pub fn new(key: &str, row: u64, to_number: &str, round: u32, status: Status) -> Record {
        Record {
            key: key.to_string(),
            row,
            to_number: to_number.to_string(),
            from_number: String::new(),
            agent_version_id: String::new(),
            round,
            status,
            call_id: String::new(),
            attempts: 0,
            http_status: None,
            error: String::new(),
            end_reason: String::new(),
            duration_s: String::new(),
            next_at: String::new(),
            updated_at: now_rfc3339(),
        }
    }

    /// Appends this record as one CSV line.
    pub(super) fn write_to(&self, buf: &mut Vec<u8>) {
        let row = self.row.to_string();
        let round = self.round.to_string();
        let attempts = self.attempts.to_string();
        let http = self.http_status.map(|s| s.to_string()).unwrap_or_default();
        push_line(
            buf,
            [
                self.key.as_str(),
                &row,
                &self.to_number,
                &round,
                self.status.as_str(),
                &self.call_id,
                &attempts,
                &http,
                &self.error,
                &self.end_reason,
                &self.duration_s,
                &self.next_at,
                &self.updated_at,
            ],
            true,
        );
    }

    pub(super) fn from_fields(rec: &csv::ByteRecord) -> Result<Record, String> {
        if rec.len() != COLUMNS.len() {
            return Err(format!(
                "expected {} fields, found {}",
                COLUMNS.len(),
                rec.len()
            ));
        }
        let mut fields = [""; COLUMNS.len()];
        for (i, (f, raw)) in fields.iter_mut().zip(rec.iter()).enumerate() {
            *f = std::str::from_utf8(raw)
                .map_err(|_| format!("column `{}` is not UTF-8", COLUMNS[i]))?;
        }
        Record::from_strs(&fields)
    }

    pub(super) fn from_strs(fields: &[&str; COLUMNS.len()]) -> Result<Record, String> {
        let mut r = Record {
            key: String::new(),
            row: 0,
            to_number: String::new(),
            from_number: String::new(),
            agent_version_id: String::new(),
            round: 0,
            status: Status::Pending,
            call_id: String::new(),
            attempts: 0,
            http_status: None,
            error: String::new(),
            end_reason: String::new(),
            duration_s: String::new(),
            next_at: String::new(),
            updated_at: String::new(),
        };
        r.assign(fields)?;
        Ok(r)
    }

    /// Overwrites this record with a line's fields, reusing its buffers (a
    /// long log mostly replaces records of keys already seen).
    pub(super) fn assign(&mut self, fields: &[&str; COLUMNS.len()]) -> Result<(), String> {
        let number = |i: usize| -> Result<u64, String> {
            let t = fields[i];
            t.parse::<u64>()
                .map_err(|_| format!("column `{}` must be a number, found `{t}`", COLUMNS[i]))
        };
        let small = |i: usize| -> Result<u32, String> {
            number(i)?
                .try_into()
                .map_err(|_| format!("column `{}` is out of range", COLUMNS[i]))
        };
        let set = |dst: &mut String, src: &str| {
            dst.clear();
            dst.push_str(src);
        };
        if fields[0].is_empty() {
            return Err("column `key` is empty".into());
        }
        if fields[4].is_empty() {
            return Err("column `status` is empty".into());
        }
        let http = fields[7];
        self.http_status =
            if http.is_empty() {
                None
            } else {
                Some(http.parse::<u16>().map_err(|_| {
                    format!("column `http_status` must be a number, found `{http}`")
                })?)
            };
        self.row = number(1)?;
        self.round = small(3)?;
        self.attempts = if fields[6].is_empty() { 0 } else { small(6)? };
        self.status = Status::parse(fields[4]);
        set(&mut self.key, fields[0]);
        set(&mut self.to_number, fields[2]);
        set(&mut self.call_id, fields[5]);
        set(&mut self.error, fields[8]);
        set(&mut self.end_reason, fields[9]);
        set(&mut self.duration_s, fields[10]);
        set(&mut self.next_at, fields[11]);
        set(&mut self.updated_at, fields[12]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::test_support::rec;

    #[test]
    fn own_words_are_wires_table_and_read_back_as_themselves() {
        assert_eq!(Status::OWN_WORDS, &own_status::ALL[..]);
        for word in own_status::ALL {
            let st = Status::parse(word);
            assert!(!matches!(st, Status::Call(_)), "{word}");
            assert_eq!(st.as_str(), word);
            assert_eq!(st.to_string(), word);
        }
    }

    #[test]
    fn api_status_words_never_read_back_as_callplans_own() {
        for word in [
            "invalid",
            "in_doubt",
            "pending",
            "dispatching",
            "rejected",
            "error",
            "suppressed",
            "",
        ] {
            let st = Status::Call(CallStatus::parse(word));
            let back = Status::parse(st.as_str());
            assert!(!st.as_str().is_empty(), "{word:?}");
            assert!(
                matches!(back, Status::Call(_)),
                "{word:?} read back as {back:?}"
            );
            assert_eq!(back.disposition(), Disposition::Settled, "{word:?}");
        }
    }

    #[test]
    fn unknown_status_word_is_kept() {
        assert_eq!(Status::parse("teleported").as_str(), "teleported");
        assert_eq!(Status::parse("in_doubt"), Status::InDoubt);
        assert_eq!(
            Status::parse("in-progress"),
            Status::Call(CallStatus::InProgress)
        );
        assert_eq!(Status::parse("queued").disposition(), Disposition::Settled);
        assert_eq!(
            Status::parse("dispatching").disposition(),
            Disposition::Reconcile
        );
        assert_eq!(Status::parse("error").disposition(), Disposition::Dial);
    }

    proptest::proptest! {
        #[test]
        fn any_field_text_roundtrips(key in "[^\r\n]{1,20}", err in "\\PC{0,40}") {
            // Not at the start of a stream, where a reader drops a BOM.
            let mut buf = b"x\n".to_vec();
            let mut r = rec(&key, Status::Error);
            r.error = err.clone();
            r.write_to(&mut buf);
            proptest::prop_assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 2);
            let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&buf[..]);
            let mut br = csv::ByteRecord::new();
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            let back = Record::from_fields(&br).unwrap();
            proptest::prop_assert_eq!(back.key, key);
            proptest::prop_assert_eq!(back.error, err.replace(['\r', '\n'], " "));
        }
    }
}

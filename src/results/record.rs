//! One line of the results file: the [`Record`] of a recipient, its
//! [`Status`] and what a run does with it ([`Disposition`]), the
//! [`COLUMNS`] a record fills, and the [`LEGACY_COLUMNS`] of the layout
//! before them (still read, and rewritten in the new one).
//!
//! callplan's own statuses are one table (`statuses!` below): each row names
//! a variant, its word and its disposition, so the word written, the word
//! read back and the decision it leads to cannot drift apart. The words
//! themselves live in [`crate::wire::own_status`], below both this module
//! and the sandbox, because the API's status parser must also know them (to
//! keep an API word from passing for one of ours); `results` imports `wire`,
//! never the other way round.

use std::fmt;

use compact_str::CompactString;

use crate::text::now_rfc3339;
use crate::wire::{CallStatus, own_status};

use super::line::push_line;

/// The columns of the results file, in order (DESIGN.md, "Results file"):
/// line 1 of every results file, exactly. The last, `campaign`, is the
/// file's owner on every row (see [`super::header::campaign_cell`]), so a
/// lone copy of the file still says whose it is.
pub const COLUMNS: [&str; 16] = [
    "key",
    "row",
    "to_number",
    "from_number",
    "agent_version_id",
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
    "campaign",
];

/// The columns of the first layout (line 2 of a file whose line 1 is the
/// `#callplan results v1` comment record): [`COLUMNS`] without the caller
/// ID, the agent version and the campaign, which that layout kept once, in
/// the comment record.
pub(super) const LEGACY_COLUMNS: [&str; 13] = [
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

/// Index of the `campaign` column.
pub(super) const CAMPAIGN: usize = COLUMNS.len() - 1;

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

/// One line of the results file. Its text is [`CompactString`]: the
/// values callplan writes (keys, E.164 numbers, call ids, timestamps) are
/// at most 24 bytes and need no heap, so a record read back from a
/// [`Table`](super::Table) costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: CompactString,
    /// The row number a spreadsheet shows for this recipient (header = 1).
    pub row: u64,
    pub to_number: CompactString,
    /// The caller ID this row's call used (empty: not dialled yet).
    pub from_number: CompactString,
    /// The agent version this row's call used (empty: not dialled yet).
    pub agent_version_id: CompactString,
    pub round: u32,
    pub status: Status,
    pub call_id: CompactString,
    /// Sends that count against `max_attempts` (409/429 resends do not).
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: CompactString,
    pub end_reason: CompactString,
    pub duration_s: CompactString,
    pub next_at: CompactString,
    pub updated_at: CompactString,
}

impl Record {
    /// A fresh record for a recipient, stamped now. Its `from_number` and
    /// `agent_version_id` are empty: whoever creates it for a call sets
    /// the ones that call uses.
    pub fn new(key: &str, row: u64, to_number: &str, round: u32, status: Status) -> Record {
        Record {
            updated_at: now_rfc3339().into(),
            ..Record::unstamped(key, row, to_number, round, status)
        }
    }

    /// [`Record::new`] with no `updated_at` (a row compaction writes
    /// `pending`, never dialled).
    pub(super) fn unstamped(
        key: &str,
        row: u64,
        to_number: &str,
        round: u32,
        status: Status,
    ) -> Record {
        Record {
            key: key.into(),
            row,
            to_number: to_number.into(),
            from_number: CompactString::default(),
            agent_version_id: CompactString::default(),
            round,
            status,
            call_id: CompactString::default(),
            attempts: 0,
            http_status: None,
            error: CompactString::default(),
            end_reason: CompactString::default(),
            duration_s: CompactString::default(),
            next_at: CompactString::default(),
            updated_at: CompactString::default(),
        }
    }

    /// Appends this record as one CSV line, `campaign` (the file's
    /// [`campaign_cell`](super::header::campaign_cell)) in the last column.
    pub(super) fn write_to(&self, campaign: &str, buf: &mut Vec<u8>) {
        // Numbers as text on the stack.
        let (mut row, mut round, mut attempts, mut http) = Default::default();
        let row = itoa::Buffer::format(&mut row, self.row);
        let round = itoa::Buffer::format(&mut round, self.round);
        let attempts = itoa::Buffer::format(&mut attempts, self.attempts);
        let http = match self.http_status {
            Some(s) => itoa::Buffer::format(&mut http, s),
            None => "",
        };
        push_line(
            buf,
            [
                self.key.as_str(),
                row,
                &self.to_number,
                &self.from_number,
                &self.agent_version_id,
                round,
                self.status.as_str(),
                &self.call_id,
                attempts,
                http,
                &self.error,
                &self.end_reason,
                &self.duration_s,
                &self.next_at,
                &self.updated_at,
                campaign,
            ],
            true,
        );
    }

    #[cfg(test)]
    pub(super) fn from_fields(rec: &csv::ByteRecord) -> Result<Record, String> {
        let fields = utf8_fields(rec, &COLUMNS)?;
        Ok(LineValues::of(&fields)?.with(&fields).to_record())
    }

    /// The record's values, borrowed, as a [`Table`](super::Table) takes them.
    pub(super) fn parsed(&self) -> Parsed<'_> {
        Parsed {
            key: &self.key,
            row: self.row,
            to_number: &self.to_number,
            from_number: &self.from_number,
            agent_version_id: &self.agent_version_id,
            round: self.round,
            status: &self.status,
            call_id: &self.call_id,
            attempts: self.attempts,
            http_status: self.http_status,
            error: &self.error,
            end_reason: &self.end_reason,
            duration_s: &self.duration_s,
            next_at: &self.next_at,
            updated_at: &self.updated_at,
        }
    }
}

/// A record's values borrowed from a line's fields or from a [`Record`]:
/// text as written, numbers read and checked. The status is owned when it
/// comes from a line (read from its word).
#[derive(Debug)]
pub(super) struct Parsed<'a> {
    pub key: &'a str,
    pub row: u64,
    pub to_number: &'a str,
    pub from_number: &'a str,
    pub agent_version_id: &'a str,
    pub round: u32,
    pub status: &'a Status,
    pub call_id: &'a str,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: &'a str,
    pub end_reason: &'a str,
    pub duration_s: &'a str,
    pub next_at: &'a str,
    pub updated_at: &'a str,
}

/// A line's numbers and status, read and checked: the part of a record
/// that is not its fields' text as written.
#[derive(Debug)]
pub(super) struct LineValues {
    row: u64,
    round: u32,
    attempts: u32,
    http_status: Option<u16>,
    status: Status,
}

impl LineValues {
    /// Reads a line's numbers and status; the error says which column is
    /// wrong. The `campaign` field is the reader's to check, not the
    /// record's.
    pub(super) fn of(fields: &[&str; COLUMNS.len()]) -> Result<LineValues, String> {
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
        if fields[0].is_empty() {
            return Err("column `key` is empty".into());
        }
        if fields[6].is_empty() {
            return Err("column `status` is empty".into());
        }
        let http = fields[9];
        let http_status =
            if http.is_empty() {
                None
            } else {
                Some(http.parse::<u16>().map_err(|_| {
                    format!("column `http_status` must be a number, found `{http}`")
                })?)
            };
        Ok(LineValues {
            row: number(1)?,
            round: small(5)?,
            attempts: if fields[8].is_empty() { 0 } else { small(8)? },
            http_status,
            status: Status::parse(fields[6]),
        })
    }

    /// The record of the line these values were read from.
    pub(super) fn with<'a>(&'a self, fields: &[&'a str; COLUMNS.len()]) -> Parsed<'a> {
        Parsed {
            key: fields[0],
            row: self.row,
            to_number: fields[2],
            from_number: fields[3],
            agent_version_id: fields[4],
            round: self.round,
            status: &self.status,
            call_id: fields[7],
            attempts: self.attempts,
            http_status: self.http_status,
            error: fields[10],
            end_reason: fields[11],
            duration_s: fields[12],
            next_at: fields[13],
            updated_at: fields[14],
        }
    }
}

impl Parsed<'_> {
    /// An owned record of these values.
    #[cfg(test)]
    pub(super) fn to_record(&self) -> Record {
        Record {
            key: self.key.into(),
            row: self.row,
            to_number: self.to_number.into(),
            from_number: self.from_number.into(),
            agent_version_id: self.agent_version_id.into(),
            round: self.round,
            status: self.status.clone(),
            call_id: self.call_id.into(),
            attempts: self.attempts,
            http_status: self.http_status,
            error: self.error.into(),
            end_reason: self.end_reason.into(),
            duration_s: self.duration_s.into(),
            next_at: self.next_at.into(),
            updated_at: self.updated_at.into(),
        }
    }
}

/// A line's fields as text, when it has exactly the fields of `names`.
pub(super) fn utf8_fields<'a, const N: usize>(
    rec: &'a csv::ByteRecord,
    names: &[&str; N],
) -> Result<[&'a str; N], String> {
    if rec.len() != N {
        return Err(format!("expected {N} fields, found {}", rec.len()));
    }
    let mut fields = [""; N];
    for (i, (f, raw)) in fields.iter_mut().zip(rec.iter()).enumerate() {
        *f = std::str::from_utf8(raw).map_err(|_| format!("column `{}` is not UTF-8", names[i]))?;
    }
    Ok(fields)
}

/// A line of the first layout ([`LEGACY_COLUMNS`]) as the fields of
/// [`COLUMNS`]: that layout's one caller ID, agent version and campaign
/// (from its comment record) on every row.
pub(super) fn widen_legacy<'a>(
    old: &[&'a str; LEGACY_COLUMNS.len()],
    from_number: &'a str,
    agent_version_id: &'a str,
    campaign: &'a str,
) -> [&'a str; COLUMNS.len()] {
    [
        old[0],
        old[1],
        old[2],
        from_number,
        agent_version_id,
        old[3],
        old[4],
        old[5],
        old[6],
        old[7],
        old[8],
        old[9],
        old[10],
        old[11],
        old[12],
        campaign,
    ]
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
            r.error = err.as_str().into();
            r.from_number = "+14155550100".into();
            r.write_to("june", &mut buf);
            proptest::prop_assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 2);
            let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&buf[..]);
            let mut br = csv::ByteRecord::new();
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            let back = Record::from_fields(&br).unwrap();
            proptest::prop_assert_eq!(back.key, key);
            proptest::prop_assert_eq!(back.from_number, "+14155550100");
            proptest::prop_assert_eq!(back.error, err.replace(['\r', '\n'], " "));
        }
    }
}

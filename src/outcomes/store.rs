//! The post-call store: what each ended call learned (summary, sentiment,
//! recording URL, transcript, post-call analysis), kept durably beside the
//! results file so the results CSV stays narrow.
//!
//! The file is JSON Lines, one [`Outcome`] per line, appended and fsynced
//! one line at a time like the results log, so a crash loses nothing that
//! was already fetched. JSON rather than CSV because a transcript is a list
//! of turns with line breaks, and the analysis fields differ per agent: a
//! line holds what its call had, no fixed columns. Reading keeps the last
//! line of each call_id; a torn last line (a crash mid-write: the bytes
//! after the last newline) is ignored, and [`Store::open`] cuts it off
//! before the next append; any other line that does not read as an
//! outcome is an error naming its line.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::wire::{Call, Transcript};

/// The store beside a results file: the same folder, the results file's
/// name with a trailing `.csv` replaced by `.calls.jsonl`
/// (`june.results.csv` -> `june.results.calls.jsonl`; a name without
/// `.csv` gets `.calls.jsonl` appended).
pub fn store_path(results: &Path) -> PathBuf {
    let name = results
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".csv").unwrap_or(&name);
    results.with_file_name(format!("{stem}.calls.jsonl"))
}

/// What one ended call learned, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The recipient's key in the results file.
    pub key: String,
    /// The campaign round the call belongs to.
    pub round: u32,
    pub call_id: String,
    /// The call's status word, normalized ([`crate::wire::CallStatus`]).
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Transcript>,
    /// The post-call analysis, field -> value as text, in the order the
    /// line holds them.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub analysis: Fields,
    /// When callplan read the call (RFC 3339 UTC).
    #[serde(default)]
    pub fetched_at: String,
}

impl Outcome {
    /// The outcome of an ended call as the API returned it. Analysis values
    /// that are not strings are kept as their JSON text (`true`, `3`); a
    /// null value is kept as an empty text, so the field still shows.
    pub fn from_call(key: &str, round: u32, call: &Call) -> Outcome {
        let analysis = call
            .analysis()
            .map(|a| {
                a.iter()
                    .map(|(field, v)| (field.clone(), value_text(v)))
                    .collect()
            })
            .unwrap_or_default();
        Outcome {
            key: key.to_string(),
            round,
            call_id: call.call_id.clone(),
            status: crate::wire::CallStatus::parse(&call.status)
                .as_str()
                .to_string(),
            end_reason: call.end_reason.clone(),
            duration_s: call.duration_s.filter(|d| d.is_finite()),
            summary: call.summary.clone(),
            sentiment: call.sentiment.clone(),
            recording_url: call.recording_url.clone(),
            transcript: call.transcript.clone(),
            analysis: Fields(analysis),
            fetched_at: crate::text::now_rfc3339(),
        }
    }

    /// The value of one analysis field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.analysis
            .0
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON value as text: a string as it is, null as empty, anything else as
/// its compact JSON.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Analysis fields in order, field -> value as text. Written as a JSON
/// object (keys in this order); read from one leniently: a value that is
/// not a string is kept as its JSON text. A field named twice keeps its
/// last value, at its first place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, v)| (f.as_str(), v.as_str()))
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (f, v) in &self.0 {
            map.serialize_entry(f, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of analysis fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Fields, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some((field, v)) = m.next_entry::<String, serde_json::Value>()? {
                    let v = value_text(&v);
                    match out.iter_mut().find(|(f, _)| *f == field) {
                        Some(slot) => slot.1 = v,
                        None => out.push((field, v)),
                    }
                }
                Ok(Fields(out))
            }
            fn visit_unit<E>(self) -> Result<Fields, E> {
                Ok(Fields::default())
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The store could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read post-call store {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "post-call store {path}, line {line}: {reason} (the file is damaged: move it aside, \
         and a rerun or `callplan track` fetches the outcomes again)"
    )]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

impl From<StoreError> for io::Error {
    fn from(e: StoreError) -> io::Error {
        match e {
            StoreError::Read { source, .. } => source,
            e @ StoreError::Malformed { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Reads every complete line of the store at `path`, handing each outcome,
/// the byte offset its line starts at and the line's length to `each`. Returns the length up
/// to the end of the last complete line (0 when the file does not exist).
pub(super) fn scan(
    path: &Path,
    mut each: impl FnMut(u64, u64, Outcome),
) -> Result<u64, StoreError> {
    let rd = |source| StoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(rd(e)),
    };
    let len = file.metadata().map_err(rd)?.len();
    let valid_len = last_line_end(&mut file, len).map_err(rd)?;
    file.seek(SeekFrom::Start(0)).map_err(rd)?;
    let mut reader = BufReader::with_capacity(1 << 16, file.take(valid_len));
    let mut buf = Vec::with_capacity(1024);
    let (mut offset, mut line) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(rd)?;
        if n == 0 {
            break;
        }
        line += 1;
        let start = offset;
        offset += n as u64;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let outcome = parse_line(&buf).map_err(|reason| StoreError::Malformed {
            path: path.to_path_buf(),
            line,
            reason,
        })?;
        each(start, n as u64, outcome);
    }
    Ok(valid_len)
}

/// The outcome on the line at `offset` (`len` bytes) of a store file, which
/// an index found there for `call_id`: read without moving the file's
/// position, and checked to be that call's (a file changed since it was
/// indexed reads as damaged, never as another call's data).
pub(super) fn read_outcome_at(
    file: &File,
    offset: u64,
    len: u64,
    call_id: &str,
) -> io::Result<Outcome> {
    use std::os::unix::fs::FileExt;
    let mut line = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    file.read_exact_at(&mut line, offset)?;
    match parse_line(&line) {
        Ok(o) if o.call_id == call_id => Ok(o),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the file changed while it was read",
        )),
        Err(reason) => Err(io::Error::new(io::ErrorKind::InvalidData, reason)),
    }
}

/// One line as an outcome; the reason when it is not one.
pub(super) fn parse_line(bytes: &[u8]) -> Result<Outcome, String> {
    let outcome: Outcome = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if outcome.call_id.is_empty() {
        return Err("the line has no call_id".into());
    }
    Ok(outcome)
}

/// Length of `file` up to and including its last newline.
fn last_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = memchr::memrchr(b'\n', part) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Every outcome in the store at `path`, one per call_id (its last line
/// wins), in the order call_ids first appeared. A store that does not
/// exist holds nothing: no call has ended with data yet.
pub fn read(path: &Path) -> Result<Vec<Outcome>, StoreError> {
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut out: Vec<Outcome> = Vec::new();
    scan(path, |_, _, o| match index.get(&o.call_id) {
        Some(&i) => out[i] = o,
        None => {
            index.insert(o.call_id.clone(), out.len());
            out.push(o);
        }
    })?;
    Ok(out)
}

/// The store, open for appending. Shared by the poller's tasks (it is
/// `Send + Sync`; one internal lock orders the appends). It remembers
/// where the line of each call_id it holds is (a few bytes per call), so
/// a rerun or `track` neither fetches nor appends again what it already
/// has ([`Store::get`]).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// The same file, for reading lines back.
    reader: File,
    /// Length of the file up to its last complete line.
    len: u64,
    /// call_id -> (offset, length) of its last line.
    ids: HashMap<String, (u64, u64)>,
    /// Set when a failed append could not be undone: the file may end in a
    /// partial line, so nothing more is appended after it.
    poisoned: bool,
}

impl Store {
    /// Opens (or creates) the store at `path`. A torn last line is cut off;
    /// a damaged line elsewhere is an error (kind `InvalidData`) naming it.
    pub fn open(path: &Path) -> io::Result<Store> {
        let mut ids = HashMap::new();
        let existed = path.exists();
        let valid_len = scan(path, |offset, len, o| {
            ids.insert(o.call_id, (offset, len));
        })?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::End(0))?;
        if !existed {
            file.sync_all()?;
            sync_dir(path)?;
        }
        let reader = File::open(path)?;
        Ok(Store {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                reader,
                len: valid_len,
                ids,
                poisoned: false,
            }),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one outcome and returns once it is on disk (written and
    /// fsynced).
    pub fn append(&self, outcome: &Outcome) -> io::Result<()> {
        let mut line = serde_json::to_vec(outcome).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.poisoned {
            return Err(io::Error::other(format!(
                "post-call store {} stopped after a failed write",
                self.path.display()
            )));
        }
        let written = inner
            .file
            .write_all(&line)
            .and_then(|()| inner.file.sync_data());
        if let Err(e) = written {
            // Undo the partial line so the next append starts clean.
            let len = inner.len;
            let undone = inner
                .file
                .set_len(len)
                .and_then(|()| inner.file.seek(SeekFrom::Start(len)).map(drop));
            inner.poisoned = undone.is_err();
            return Err(e);
        }
        let at = inner.len;
        inner.len += line.len() as u64;
        inner
            .ids
            .insert(outcome.call_id.clone(), (at, line.len() as u64));
        Ok(())
    }

    /// Keeps what the ended call `call_id` (the row `key`'s, of `round`)
    /// learned, unless the store holds it already: true when a line was
    /// appended (and is on disk).
    pub fn keep(&self, key: &str, round: u32, call_id: &str, call: &Call) -> io::Result<bool> {
        if self.has(call_id) {
            return Ok(false);
        }
        let mut outcome = Outcome::from_call(key, round, call);
        outcome.call_id = call_id.to_string();
        self.append(&outcome).map(|()| true)
    }

    /// True when the store already holds an outcome for this call.
    pub fn has(&self, call_id: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.ids.contains_key(call_id)
    }

    /// The outcome the store holds for this call (its last line), read
    /// back from the file. Err when the line cannot be read or no longer
    /// reads as an outcome (the file was changed under the run).
    pub fn get(&self, call_id: &str) -> io::Result<Option<Outcome>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&(offset, len)) = inner.ids.get(call_id) else {
            return Ok(None);
        };
        read_outcome_at(&inner.reader, offset, len, call_id)
            .map(Some)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("post-call store {}: {e}", self.path.display()),
                )
            })
    }

    /// Call_ids held.
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.ids.len()
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fsyncs the folder holding `path`, so a new file's name is durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Turn;

    fn sample(call_id: &str, confirmed: &str) -> Outcome {
        Outcome {
            key: format!("k-{call_id}"),
            round: 1,
            call_id: call_id.into(),
            status: "completed".into(),
            end_reason: Some("hangup".into()),
            duration_s: Some(42.5),
            summary: Some("Asked about\nthe date — ok".into()),
            sentiment: Some("positive".into()),
            recording_url: Some("https://r.invalid/1".into()),
            transcript: Some(Transcript::Turns(vec![Turn {
                role: "agent".into(),
                content: "Hi".into(),
            }])),
            analysis: Fields(vec![
                ("zeta".into(), confirmed.into()),
                ("alpha".into(), "1".into()),
            ]),
            fetched_at: "2025-06-01T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn store_path_replaces_a_trailing_csv() {
        let p = |s: &str| store_path(Path::new(s));
        assert_eq!(
            p("/a/june.results.csv"),
            Path::new("/a/june.results.calls.jsonl")
        );
        assert_eq!(
            p("x.results.sandbox.csv"),
            Path::new("x.results.sandbox.calls.jsonl")
        );
        assert_eq!(p("/a/b/results"), Path::new("/a/b/results.calls.jsonl"));
        assert_eq!(p("r.csv.bak"), Path::new("r.csv.bak.calls.jsonl"));
    }

    #[test]
    fn appended_outcomes_read_back_and_the_last_line_of_a_call_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        assert!(read(&path).unwrap().is_empty());
        let store = Store::open(&path).unwrap();
        assert!(!store.has("c1"));
        store.append(&sample("c1", "no")).unwrap();
        store.append(&sample("c2", "yes")).unwrap();
        store.append(&sample("c1", "yes")).unwrap();
        assert!(store.has("c1") && store.has("c2") && !store.has("c3"));
        assert_eq!(store.len(), 2);
        drop(store);
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], sample("c1", "yes"));
        assert_eq!(back[1], sample("c2", "yes"));
        // Field order is the line's, not sorted.
        let fields: Vec<&str> = back[0].analysis.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["zeta", "alpha"]);
        // Reopened, it knows what it has.
        assert!(Store::open(&path).unwrap().has("c2"));
    }

    #[test]
    fn keep_appends_an_ended_call_once_under_the_call_id_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        let store = Store::open(&path).unwrap();
        let call: Call = serde_json::from_str(
            r#"{"call_id":" c1 ","status":"completed","summary":"Confirmed.",
                "post_call_analysis":{"appointment_confirmed":"yes"}}"#,
        )
        .unwrap();
        assert!(store.keep("k1", 2, "c1", &call).unwrap());
        assert!(!store.keep("k1", 2, "c1", &call).unwrap(), "held already");
        drop(store);
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].call_id.as_str(), back[0].round), ("c1", 2));
        assert_eq!(back[0].summary.as_deref(), Some("Confirmed."));
        assert_eq!(back[0].field("appointment_confirmed"), Some("yes"));
    }

    #[test]
    fn get_reads_back_the_last_line_of_a_call_before_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("c1").unwrap(), None);
        store.append(&sample("c1", "no")).unwrap();
        store.append(&sample("c2", "yes")).unwrap();
        store.append(&sample("c1", "yes")).unwrap();
        assert_eq!(store.get("c1").unwrap(), Some(sample("c1", "yes")));
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("c2").unwrap(), Some(sample("c2", "yes")));
        assert_eq!(store.get("c1").unwrap(), Some(sample("c1", "yes")));
        assert_eq!(store.get("c3").unwrap(), None);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        Store::open(&path)
            .unwrap()
            .append(&sample("c1", "yes"))
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"key":"k","round":1,"call_id":"c9","summ"#)
            .unwrap();
        drop(f);
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 1);
        let store = Store::open(&path).unwrap();
        assert!(!store.has("c9"));
        store.append(&sample("c2", "no")).unwrap();
        drop(store);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("c9"));
        let ids: Vec<String> = read(&path)
            .unwrap()
            .into_iter()
            .map(|o| o.call_id)
            .collect();
        assert_eq!(ids, ["c1", "c2"]);
    }

    #[test]
    fn a_damaged_line_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        let good = serde_json::to_string(&sample("c1", "yes")).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::Malformed { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"));
        let err = Store::open(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");
        // A line without a call_id is damaged too.
        std::fs::write(&path, "{\"key\":\"k\",\"round\":1,\"call_id\":\"\"}\n").unwrap();
        assert!(matches!(
            read(&path),
            Err(StoreError::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn from_call_keeps_post_call_data_and_non_string_values_as_json_text() {
        let call: Call = serde_json::from_str(
            r#"{"call_id":"c1","status":"Completed","duration_s":12.0,"end_reason":"hangup",
                "summary":"Confirmed.","sentiment":"positive","recording_url":"https://r.invalid/c1",
                "transcript":"agent: hi","json_output":{"confirmed":true,"n":3,"none":null,"s":"yes"}}"#,
        )
        .unwrap();
        let o = Outcome::from_call("p-1", 2, &call);
        assert_eq!(
            (o.key.as_str(), o.round, o.status.as_str()),
            ("p-1", 2, "completed")
        );
        assert_eq!(o.summary.as_deref(), Some("Confirmed."));
        assert_eq!(o.transcript, Some(Transcript::Text("agent: hi".into())));
        assert_eq!(o.field("confirmed"), Some("true"));
        assert_eq!(o.field("n"), Some("3"));
        assert_eq!(o.field("none"), Some(""));
        assert_eq!(o.field("s"), Some("yes"));
        assert!(!o.fetched_at.is_empty());
        // An unanswered call: nothing learned, and the line stays small.
        let bare: Call = serde_json::from_str(r#"{"call_id":"c2","status":"no-answer"}"#).unwrap();
        let o = Outcome::from_call("p-2", 1, &bare);
        assert_eq!(o.status, "no_answer");
        let line = serde_json::to_string(&o).unwrap();
        assert!(
            !line.contains("analysis") && !line.contains("summary"),
            "{line}"
        );
    }

    #[test]
    fn analysis_values_of_other_types_read_as_text() {
        let o = parse_line(
            br#"{"key":"k","round":1,"call_id":"c","analysis":{"a":{"x":[1]},"b":false,"a":"again"}}"#,
        )
        .unwrap();
        assert_eq!(
            o.analysis.0,
            vec![("a".into(), "again".into()), ("b".into(), "false".into())]
        );
        assert!(parse_line(br#"{"key":"k","round":1,"call_id":"c","analysis":null}"#).is_ok());
        assert!(parse_line(br#"{"key":"k","round":1,"call_id":"c","analysis":[1]}"#).is_err());
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }

    proptest::proptest! {
        #[test]
        fn hostile_store_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.calls.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            let read_ok = read(&path).is_ok();
            let opened = Store::open(&path);
            proptest::prop_assert_eq!(read_ok, opened.is_ok());
            if let Ok(store) = opened {
                store.append(&sample("fresh", "yes")).unwrap();
                drop(store);
                let back = read(&path).unwrap();
                proptest::prop_assert!(back.iter().any(|o| o.call_id == "fresh"));
            }
        }

        #[test]
        fn json_shaped_lines_never_panic(
            key in ".{0,8}", call_id in "[a-z0-9]{0,6}", v in ".{0,12}",
            n in proptest::prelude::any::<i64>(),
        ) {
            let line = serde_json::json!({
                "key": key, "round": 1, "call_id": call_id,
                "analysis": {v.clone(): n, "s": v.clone()},
                "transcript": [{"role": v.clone(), "content": v.clone()}],
                "summary": v,
            });
            let parsed = parse_line(line.to_string().as_bytes());
            proptest::prop_assert_eq!(parsed.is_ok(), !call_id.is_empty());
        }
    }
}

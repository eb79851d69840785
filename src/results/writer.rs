//! The writer thread that owns a results file while a run goes on.
//!
//! [`open`] returns the [`Appender`] handle workers use and the [`Writer`]
//! that joins the thread. The thread gathers the records workers send,
//! writes them in one go, fsyncs once per batch (group commit) and only then
//! answers each waiter, so one fsync serves many calls. A worker sends a
//! request only after the `dispatching` record of its intent has been
//! acknowledged, so no call ever leaves without its intent on disk. A failed
//! write or fsync poisons the writer: every later append fails at once and
//! the halt token is cancelled, so dialling stops. It is a plain thread, not
//! a tokio task, because its writes and fsyncs block.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::atomic::sync_dir;
use super::compact::rewrite;
use super::error::ResultsError;
use super::header::{Header, campaign_cell};
use super::line::push_line;
use super::read::{Log, Table};
use super::record::{COLUMNS, Record};
use super::state::{state_path, write_state};

/// Records gathered into one write + fsync at most.
const MAX_BATCH: usize = 8192;

/// The writer thread failed: the error is shared by every later append.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write results file {path}: {source}")]
pub struct WriteFailed {
    pub path: PathBuf,
    pub source: Arc<io::Error>,
}

type AckTx = oneshot::Sender<Result<(), WriteFailed>>;

/// The workers' handle on the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    tx: mpsc::UnboundedSender<(Record, Option<AckTx>)>,
    path: Arc<PathBuf>,
}

impl Appender {
    /// Appends a record and resolves once it is on disk (written and
    /// fsynced), or with the error that stopped the writer.
    pub async fn append_durable(&self, rec: Record) -> Result<(), WriteFailed> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((rec, Some(tx))).is_err() {
            return Err(self.closed());
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.closed()),
        }
    }

    /// Appends a record without waiting for the fsync. It is written in the
    /// next batch; if writing fails, the writer halts the run instead.
    pub fn append(&self, rec: Record) {
        let _ = self.tx.send((rec, None));
    }

    fn closed(&self) -> WriteFailed {
        WriteFailed {
            path: self.path.to_path_buf(),
            source: Arc::new(io::Error::other("the results writer has stopped")),
        }
    }
}

/// The writer thread; [`Writer::finish`] waits for everything sent so far.
#[derive(Debug)]
pub struct Writer {
    thread: std::thread::JoinHandle<(Table, Option<WriteFailed>)>,
}

impl Writer {
    /// Waits for every record sent before all [`Appender`]s were dropped to
    /// be written, and returns the durable table (every record that reached
    /// the disk, last per key) and the write error, if one stopped it.
    pub fn finish(self) -> (Table, Option<WriteFailed>) {
        self.thread.join().unwrap_or_else(|_| {
            (
                Table::default(),
                Some(WriteFailed {
                    path: PathBuf::new(),
                    source: Arc::new(io::Error::other("the results writer panicked")),
                }),
            )
        })
    }
}

/// Opens the results file for appending and starts the writer thread.
///
/// `existing` is what [`read`](super::read) returned for `path`. None: the
/// state file is written, then a new results file is created with its
/// column header, fsynced, and its folder fsynced. An existing file of
/// another campaign is refused ([`Identity::admits`]); a file of the first
/// layout is rewritten in the current one first; a torn last line is cut
/// off; the state file takes `header`'s details. `halt` is cancelled if a
/// write ever fails.
///
/// [`Identity::admits`]: super::Identity::admits
pub fn open(
    path: &Path,
    header: &Header,
    existing: Option<Log>,
    halt: CancellationToken,
) -> Result<(Appender, Writer), ResultsError> {
    let wr = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(log) = &existing
        && !log.header.identity.admits(&header.identity)
    {
        return Err(ResultsError::OtherCampaign {
            path: path.to_path_buf(),
            found: Box::new(log.header.identity.clone()),
            expected: Box::new(header.identity.clone()),
        });
    }
    // The state first: a results file never exists without its state for
    // longer than a crash between the two writes (then it has no row yet).
    write_state(path, header).map_err(|source| ResultsError::Write {
        path: state_path(path),
        source,
    })?;
    let (file, table) = match existing {
        None => {
            let mut file = File::create(path).map_err(wr)?;
            let mut buf = Vec::new();
            push_line(&mut buf, COLUMNS, false);
            file.write_all(&buf).map_err(wr)?;
            file.sync_all().map_err(wr)?;
            sync_dir(path).map_err(wr)?;
            (file, Table::default())
        }
        Some(log) if log.legacy => {
            rewrite(path, header, &log.table).map_err(wr)?;
            let mut file = OpenOptions::new().append(true).open(path).map_err(wr)?;
            file.seek(SeekFrom::End(0)).map_err(wr)?;
            (file, log.table)
        }
        Some(log) => {
            let mut file = OpenOptions::new().write(true).open(path).map_err(wr)?;
            file.set_len(log.valid_len).map_err(wr)?;
            file.seek(SeekFrom::End(0)).map_err(wr)?;
            file.sync_data().map_err(wr)?;
            (file, log.table)
        }
    };
    let campaign = campaign_cell(&header.identity);
    Ok(spawn_writer(
        path.to_path_buf(),
        file,
        table,
        campaign,
        halt,
    ))
}

/// Starts the writer thread on a file opened for appending, whose durable
/// records so far are `table`.
fn spawn_writer(
    path: PathBuf,
    file: File,
    table: Table,
    campaign: String,
    halt: CancellationToken,
) -> (Appender, Writer) {
    let (tx, rx) = mpsc::unbounded_channel();
    let path = Arc::new(path);
    let p = path.clone();
    let thread = std::thread::Builder::new()
        .name("results-writer".into())
        .spawn(move || writer_loop(&p, file, table, &campaign, rx, halt))
        .expect("spawning the results writer thread");
    (Appender { tx, path }, Writer { thread })
}

/// The writer thread: gathers what is waiting (up to [`MAX_BATCH`]),
/// writes and fsyncs it in one go, then answers each waiter.
fn writer_loop(
    path: &Path,
    mut file: File,
    mut table: Table,
    campaign: &str,
    mut rx: mpsc::UnboundedReceiver<(Record, Option<AckTx>)>,
    halt: CancellationToken,
) -> (Table, Option<WriteFailed>) {
    let mut failed: Option<WriteFailed> = None;
    let mut batch: Vec<(Record, Option<AckTx>)> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if failed.is_none() {
            buf.clear();
            for (rec, _) in &batch {
                rec.write_to(campaign, &mut buf);
            }
            if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
                // Said once, by the run's `error:` line (the error reaches
                // it through every waiter and `Writer::finish`).
                tracing::debug!("cannot write results file {}: {e}", path.display());
                failed = Some(WriteFailed {
                    path: path.to_path_buf(),
                    source: Arc::new(e),
                });
                halt.cancel();
            }
        }
        for (rec, ack) in batch.drain(..) {
            let res = match &failed {
                Some(f) => Err(f.clone()),
                None => {
                    table.upsert(rec);
                    Ok(())
                }
            };
            if let Some(ack) = ack {
                let _ = ack.send(res);
            }
        }
    }
    (table, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::legacy::legacy_file;
    use crate::results::read::read;
    use crate::results::record::Status;
    use crate::results::test_support::{header, rec, write_log};

    #[test]
    fn file_of_another_campaign_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        for change in 0..4 {
            let mut h = header();
            match change {
                0 => h.identity.campaign = "july".into(),
                1 => h.identity.from_number = "+14155550101".into(),
                2 => h.identity.agent_version_id = "av_2".into(),
                _ => h.identity.sandbox = true,
            }
            let log = read(&path).unwrap();
            let err = open(&path, &h, log, CancellationToken::new()).unwrap_err();
            assert!(matches!(err, ResultsError::OtherCampaign { .. }), "{err}");
            assert!(err.to_string().contains("never mixed"));
        }
        // The file was left untouched.
        assert_eq!(read(&path).unwrap().unwrap().lines, 1);
    }

    #[test]
    fn write_failure_fails_every_append_and_halts() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let halt = CancellationToken::new();
        let (app, w) = spawn_writer(
            "/dev/full".into(),
            file,
            Table::default(),
            "june".into(),
            halt.clone(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let e = app.append_durable(rec("a", Status::Dispatching)).await;
            assert!(e.is_err());
            assert!(halt.is_cancelled());
            let e = app
                .append_durable(rec("b", Status::Dispatching))
                .await
                .unwrap_err();
            assert!(e.to_string().contains("/dev/full"), "{e}");
        });
        drop(app);
        let (table, failed) = w.finish();
        assert!(failed.is_some());
        assert!(table.is_empty(), "nothing reached the disk");
    }

    #[test]
    fn group_commit_acks_many_concurrent_appends() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let (app, w) = open(&path, &header(), None, CancellationToken::new()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..500 {
                let app = app.clone();
                set.spawn(async move {
                    app.append_durable(rec(&format!("k{i}"), Status::Dispatching))
                        .await
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap().unwrap();
            }
        });
        drop(app);
        let (table, failed) = w.finish();
        assert!(failed.is_none());
        assert_eq!(table.len(), 500);
        assert_eq!(read(&path).unwrap().unwrap().lines, 500);
    }

    /// Appends `recs` through a real writer opened with `h`.
    fn append_with(path: &Path, h: &Header, recs: Vec<Record>) {
        let log = read(path).unwrap();
        let (app, w) = open(path, h, log, CancellationToken::new()).unwrap();
        for r in recs {
            app.append(r);
        }
        drop(app);
        assert!(w.finish().1.is_none());
    }

    #[test]
    fn a_first_layout_file_is_rewritten_before_the_run_appends() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let h = header();
        let old = legacy_file(
            &h,
            &["a,2,+16505550199,1,in_doubt,,1,,lost,,,,2020-01-01T00:00:00.000Z"],
        );
        std::fs::write(&path, old).unwrap();
        append_with(&path, &h, vec![rec("b", Status::Dispatching)]);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","), "{text}");
        assert_eq!(
            lines[1],
            "a,2,+16505550199,+14155550100,av_1,1,in_doubt,,1,,lost,,,,2020-01-01T00:00:00.000Z,june"
        );
        assert!(
            lines[2].starts_with("b,") && lines[2].ends_with(",june"),
            "{text}"
        );
        assert_eq!(lines.len(), 3);
        let log = read(&path).unwrap().unwrap();
        assert!(!log.legacy);
        assert_eq!(log.header, h);
        assert_eq!(log.table.get("a").unwrap().status, Status::InDoubt);
    }

    #[test]
    fn each_run_start_writes_its_details_to_the_state_file() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let mut h = header();
        h.plan = "/other/plan.yaml".into();
        h.results = None;
        h.rows = Some(9);
        h.skip_invalid = true;
        append_with(&path, &h, vec![]);
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.header, h);
        assert_eq!(
            log.header.resume_command(),
            "callplan run /other/plan.yaml --skip-invalid"
        );
        // A later run without --skip-invalid: the resume command drops it.
        append_with(&path, &header(), vec![]);
        assert!(!read(&path).unwrap().unwrap().header.skip_invalid);
        assert_eq!(read(&path).unwrap().unwrap().lines, 1);
    }

    #[test]
    fn a_rehearsal_file_is_refused_by_a_real_run_even_without_its_state() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let mut rehearsal = header();
        rehearsal.identity.sandbox = true;
        append_with(&path, &rehearsal, vec![rec("a", Status::Dispatching)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().nth(1).unwrap().ends_with(",sandbox/june"),
            "{text}"
        );
        let log = read(&path).unwrap().unwrap();
        assert!(log.header.resume_command().ends_with(" --sandbox"));
        for state in [true, false] {
            if !state {
                std::fs::remove_file(state_path(&path)).unwrap();
            }
            let log = read(&path).unwrap();
            let err = open(&path, &header(), log, CancellationToken::new()).unwrap_err();
            assert!(err.to_string().contains("a --sandbox rehearsal"), "{err}");
        }
        // And the reverse: a real file, without its state, refuses a rehearsal.
        let real = d.path().join("real.csv");
        append_with(&real, &header(), vec![rec("a", Status::Dispatching)]);
        std::fs::remove_file(state_path(&real)).unwrap();
        let log = read(&real).unwrap();
        let err = open(&real, &rehearsal, log, CancellationToken::new()).unwrap_err();
        assert!(matches!(err, ResultsError::OtherCampaign { .. }), "{err}");
        // The same campaign takes its lone file back and writes the state.
        let log = read(&real).unwrap();
        let (app, w) = open(&real, &header(), log, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        assert_eq!(read(&real).unwrap().unwrap().header, header());
    }
}

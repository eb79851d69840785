//! Tests of the writer thread: group commit, order, failures, and the
//! file it opens.

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
        Timing::RUN,
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

/// A file that counts its writes and fsyncs; its fsyncs fail when
/// `fail_at` says, and its first fsync waits for `gate` when given. The
/// bytes it was given are kept, in order.
#[derive(Clone, Default)]
struct Probe {
    bytes: Arc<Mutex<Vec<u8>>>,
    writes: Arc<AtomicUsize>,
    syncs: Arc<AtomicUsize>,
    /// The fsync (counted from 1) that fails, and every one after it.
    fail_at: Option<usize>,
    gate: Option<Arc<Mutex<std::sync::mpsc::Receiver<()>>>>,
}

impl Write for Probe {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.bytes.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Probe {
    fn sync(&mut self) -> io::Result<()> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.lock().unwrap().recv();
        }
        let n = self.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at.is_some_and(|at| n >= at) {
            return Err(io::Error::other("fsync failed (test)"));
        }
        Ok(())
    }
}

use std::sync::atomic::{AtomicUsize, Ordering};

fn probe_writer(probe: &Probe, halt: &CancellationToken) -> (Appender, Writer) {
    timed_probe_writer(probe, halt, Timing::RUN)
}

/// A probe writer whose lines nobody waits for wait `lazy_for`.
fn lazy_probe_writer(
    probe: &Probe,
    halt: &CancellationToken,
    lazy_for: Duration,
) -> (Appender, Writer) {
    let timing = Timing {
        lazy_for,
        ..Timing::RUN
    };
    timed_probe_writer(probe, halt, timing)
}

fn timed_probe_writer(
    probe: &Probe,
    halt: &CancellationToken,
    timing: Timing,
) -> (Appender, Writer) {
    spawn_writer(
        "probe.csv".into(),
        probe.clone(),
        Table::default(),
        "june".into(),
        halt.clone(),
        timing,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn after_a_batch_of_several_intents_the_next_is_held_open_to_gather_more() {
    let (probe, open_gate) = gated();
    let timing = Timing {
        gather_for: Duration::from_millis(200),
        ..Timing::RUN
    };
    let (app, w) = timed_probe_writer(&probe, &CancellationToken::new(), timing);
    let writes = || probe.writes.load(Ordering::SeqCst);
    // A lone intent: written at once (its fsync held at the gate).
    let first = durable(&app, "k0".into());
    while writes() == 0 {
        tokio::task::yield_now().await;
    }
    // Three queue behind it: one batch of three.
    let three: Vec<_> = (1..=3).map(|i| durable(&app, format!("k{i}"))).collect();
    until_queued(&app, 3).await;
    open_gate.send(()).unwrap();
    assert!(first.await.unwrap());
    for t in three {
        assert!(t.await.unwrap());
    }
    assert_eq!(writes(), 2);
    // The last batch held three: the next is held open, and five intents
    // sent one after another (as answers come) make one batch.
    let mut five = Vec::new();
    for i in 4..=8 {
        five.push(durable(&app, format!("k{i}")));
        tokio::task::yield_now().await;
    }
    for t in five {
        assert!(t.await.unwrap());
    }
    assert_eq!(writes(), 3, "the five in one write");
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 3);
    drop(app);
    assert_eq!(w.finish().0.len(), 9);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lone_intent_after_a_lone_intent_never_waits_to_gather() {
    let probe = Probe::default();
    let timing = Timing {
        gather_for: AN_HOUR,
        ..Timing::RUN
    };
    let (app, w) = timed_probe_writer(&probe, &CancellationToken::new(), timing);
    // One request at a time (concurrency 1): each intent is written alone,
    // at once; an hour's gathering would hang this test.
    for i in 0..5 {
        assert!(durable(&app, format!("k{i}")).await.unwrap());
    }
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 5);
    drop(app);
    assert_eq!(w.finish().0.len(), 5);
}

const AN_HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "current_thread")]
async fn lines_nobody_waits_for_ride_with_the_next_intents_fsync() {
    let probe = Probe::default();
    let (app, w) = lazy_probe_writer(&probe, &CancellationToken::new(), AN_HOUR);
    for i in 0..20 {
        app.append(rec(
            &format!("a{i}"),
            Status::Call(crate::wire::CallStatus::Queued),
        ));
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        probe.writes.load(Ordering::SeqCst),
        0,
        "the writer was woken"
    );
    assert!(durable(&app, "k".into()).await.unwrap());
    // The 20 answers and the intent: one write, one fsync.
    assert_eq!(probe.writes.load(Ordering::SeqCst), 1);
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 1);
    let text = String::from_utf8(probe.bytes.lock().unwrap().clone()).unwrap();
    let keys: Vec<_> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
    let mut want: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
    want.push("k".into());
    assert_eq!(keys, want, "in the order of the appends");
    drop(app);
    assert_eq!(w.finish().0.len(), 21);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lone_line_nobody_waits_for_is_written_after_the_lazy_wait() {
    let probe = Probe::default();
    let lazy = Duration::from_millis(10);
    let (app, w) = lazy_probe_writer(&probe, &CancellationToken::new(), lazy);
    app.append(rec("a", Status::Call(crate::wire::CallStatus::Queued)));
    // No other append comes: the writer's wait times out and takes it.
    for _ in 0..1000 {
        if probe.syncs.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 1, "never written");
    assert!(app.inner.lock().recs.is_empty());
    drop(app);
    assert_eq!(w.finish().0.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn many_lines_nobody_waits_for_are_written_without_waiting() {
    let probe = Probe::default();
    let (app, w) = lazy_probe_writer(&probe, &CancellationToken::new(), AN_HOUR);
    // More than LAZY_BYTES of answers wake the writer on their own.
    let mut i = 0;
    while app.inner.lock().buf.len() < LAZY_BYTES {
        app.append(rec(
            &format!("a{i}"),
            Status::Call(crate::wire::CallStatus::Queued),
        ));
        i += 1;
    }
    app.append(rec("last", Status::Call(crate::wire::CallStatus::Queued)));
    for _ in 0..1000 {
        if probe.syncs.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(probe.syncs.load(Ordering::SeqCst) > 0, "never written");
    drop(app);
    assert_eq!(w.finish().0.len(), i + 1);
}

/// A probe whose first fsync waits until the sender is used.
fn gated() -> (Probe, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = Probe {
        gate: Some(Arc::new(Mutex::new(rx))),
        ..Probe::default()
    };
    (probe, tx)
}

fn durable(app: &Appender, key: String) -> tokio::task::JoinHandle<bool> {
    let app = app.clone();
    tokio::spawn(async move {
        app.append_durable(rec(&key, Status::Dispatching))
            .await
            .is_ok()
    })
}

/// Yields until `n` records are queued behind the batch being synced.
async fn until_queued(app: &Appender, n: usize) {
    while app.inner.lock().recs.len() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiter_is_released_only_after_the_fsync_covering_its_line() {
    let (probe, open_gate) = gated();
    let (app, w) = probe_writer(&probe, &CancellationToken::new());
    let first = durable(&app, "k0".into());
    // Its line is written, its fsync is held: it is not released.
    while probe.writes.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!first.is_finished(), "released before its fsync");
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 0);
    open_gate.send(()).unwrap();
    assert!(first.await.unwrap());
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 1);
    drop(app);
    assert!(w.finish().1.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn one_write_and_one_fsync_release_every_waiter_of_a_batch() {
    let (probe, open_gate) = gated();
    let (app, w) = probe_writer(&probe, &CancellationToken::new());
    let first = durable(&app, "k0".into());
    while probe.writes.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // While the first batch's fsync is held, 50 intents queue behind it.
    let waiters: Vec<_> = (1..=50).map(|i| durable(&app, format!("k{i}"))).collect();
    until_queued(&app, 50).await;
    assert!(waiters.iter().all(|t| !t.is_finished()));
    open_gate.send(()).unwrap();
    assert!(first.await.unwrap());
    for t in waiters {
        assert!(t.await.unwrap(), "released with success");
    }
    // The 50 took one write and one fsync after the first batch's.
    assert_eq!(probe.writes.load(Ordering::SeqCst), 2);
    assert_eq!(probe.syncs.load(Ordering::SeqCst), 2);
    drop(app);
    let (table, failed) = w.finish();
    assert!(failed.is_none());
    assert_eq!(table.len(), 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_keep_the_order_of_the_appends() {
    let probe = Probe::default();
    let (app, w) = probe_writer(&probe, &CancellationToken::new());
    // Interleaved durable and plain appends from one task: the file
    // holds them in that order, whatever the batches were.
    for i in 0..300 {
        let r = rec(&format!("k{i:03}"), Status::Dispatching);
        if i % 3 == 0 {
            app.append_durable(r).await.unwrap();
        } else {
            app.append(r);
        }
    }
    drop(app);
    let (table, failed) = w.finish();
    assert!(failed.is_none());
    assert_eq!(table.len(), 300);
    let text = String::from_utf8(probe.bytes.lock().unwrap().clone()).unwrap();
    let keys: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
    let want: Vec<String> = (0..300).map(|i| format!("k{i:03}")).collect();
    assert_eq!(keys, want);
    assert!(
        probe.syncs.load(Ordering::SeqCst) >= 100,
        "one per durable append at least"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_fsync_releases_every_waiter_with_the_error_and_none_sends() {
    let (mut probe, open_gate) = gated();
    probe.fail_at = Some(2);
    let halt = CancellationToken::new();
    let (app, w) = probe_writer(&probe, &halt);
    let sent = Arc::new(AtomicUsize::new(0));
    // As a dial task does: send only once its intent is released Ok.
    let dial = |key: String| {
        let (app, sent) = (app.clone(), sent.clone());
        tokio::spawn(async move {
            match app.append_durable(rec(&key, Status::Dispatching)).await {
                Ok(()) => {
                    sent.fetch_add(1, Ordering::SeqCst);
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        })
    };
    let first = dial("k0".into());
    while probe.writes.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // 39 intents in the batch behind the first: its fsync fails.
    let batch: Vec<_> = (1..40).map(|i| dial(format!("k{i}"))).collect();
    until_queued(&app, 39).await;
    open_gate.send(()).unwrap();
    assert_eq!(first.await.unwrap(), None, "the first batch was synced");
    for t in batch {
        let e = t.await.unwrap().expect("released with the error");
        assert!(e.contains("fsync failed (test)"), "{e}");
    }
    assert_eq!(
        sent.load(Ordering::SeqCst),
        1,
        "none of the failed batch sent"
    );
    assert!(halt.is_cancelled());
    assert_eq!(
        probe.syncs.load(Ordering::SeqCst),
        2,
        "one fsync for the 39"
    );
    // Later appends fail at once, and nothing more is written.
    let e = app.append_durable(rec("late", Status::Dispatching)).await;
    assert!(e.unwrap_err().to_string().contains("probe.csv"));
    app.append(rec("later", Status::Pending));
    drop(app);
    let (table, failed) = w.finish();
    assert!(failed.is_some());
    assert_eq!(
        table.len(),
        1,
        "only the synced record is in the durable table"
    );
    assert!(table.get("k0").is_some());
    assert_eq!(probe.writes.load(Ordering::SeqCst), 2);
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

/// A sink whose fsync panics: the writer thread dies mid-batch.
struct PanicsOnSync;

impl Write for PanicsOnSync {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for PanicsOnSync {
    fn sync(&mut self) -> io::Result<()> {
        panic!("fsync panicked (test)")
    }
}

#[tokio::test]
async fn a_writer_that_dies_fails_every_append_and_halts_instead_of_hanging() {
    let halt = CancellationToken::new();
    let (app, w) = spawn_writer(
        "dies.csv".into(),
        PanicsOnSync,
        Table::default(),
        "june".into(),
        halt.clone(),
        Timing::RUN,
    );
    // A guard against a hang, not a timing: either answer comes at once.
    let guard = std::time::Duration::from_secs(60);
    let first = tokio::time::timeout(guard, app.append_durable(rec("a", Status::Dispatching)));
    assert!(first.await.expect("the first waiter is released").is_err());
    // The thread is gone: a later append fails too, and does not wait.
    let later = tokio::time::timeout(guard, app.append_durable(rec("b", Status::Dispatching)));
    assert!(later.await.expect("a later append is answered").is_err());
    assert!(halt.is_cancelled(), "the run is halted");
    drop(app);
    let (_, failed) = w.finish();
    assert!(failed.is_some());
}

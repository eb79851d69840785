//! The writer thread that owns a results file while a run goes on.
//!
//! [`open`] returns the [`Appender`] handle workers use and the [`Writer`]
//! that joins the thread. Group commit: an append encodes its line into the
//! shared queue at once (so lines keep the order of the appends); the
//! thread takes everything queued in one go, writes it with one `write`,
//! fsyncs once, and only then releases the waiters whose lines that batch
//! held, all of them with one wake-up (of a relay task on their runtime,
//! which wakes them there). A worker sends a request only after
//! the `dispatching` record of its intent has been released, so no call
//! ever leaves without its intent on disk. A failed write or fsync poisons
//! the writer: the waiters of that batch and of the lines queued behind it
//! get the error, every later append fails at once, and the halt token is
//! cancelled, so dialling stops. It is a plain thread, not a tokio task,
//! because its writes and fsyncs block; it sleeps on a condition variable
//! and is woken only when work arrives while it is idle.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::atomic::sync_dir;
use super::compact::rewrite;
use super::error::ResultsError;
use super::header::{Header, campaign_cell};
use super::line::push_line;
use super::read::{Log, Table};
use super::record::{COLUMNS, Record};
use super::state::{state_path, write_state};

/// Buffer sizes the writer keeps between batches; larger ones are freed.
const KEEP_BYTES: usize = 1 << 20;
const KEEP_RECORDS: usize = 4096;

/// How long the writer lets lines wait before it takes them.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Lines nobody waits for (a call's answer, an outcome) may sit queued
    /// this long before the writer takes them anyway ([`LAZY_BYTES`] of
    /// them make it take them at once). In a busy run they go sooner, with
    /// the next intent's batch: one fsync serves both.
    lazy_for: Duration,
    /// When the last batch held two intents or more (requests are running
    /// side by side), the writer holds the next one open this long, so
    /// that the intents of requests whose answers are coming join it:
    /// fewer, larger fsyncs. A lone request's intent never waits (one
    /// request at a time). Beside an API's round trip (tens of ms) the
    /// wait is nothing; against the loopback sandbox it saved a fifth of
    /// the CPU a call at 1,000,000 rows (BENCHMARKS.md, "run at scale").
    gather_for: Duration,
}

impl Timing {
    const RUN: Timing = Timing {
        lazy_for: Duration::from_millis(10),
        gather_for: Duration::from_millis(1),
    };
}

/// Bytes of lines nobody waits for that make the writer take them at once.
const LAZY_BYTES: usize = 1 << 16;

/// The writer thread failed: the error is shared by every later append.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write results file {path}: {source}")]
pub struct WriteFailed {
    pub path: PathBuf,
    pub source: Arc<io::Error>,
}

/// The outcome of one write + fsync, shared by the waiters whose lines it
/// holds.
#[derive(Debug, Default)]
struct Batch {
    done: OnceLock<Result<(), WriteFailed>>,
    notify: Notify,
}

impl Batch {
    /// Waits until the writer has released this batch.
    async fn wait(&self) -> Result<(), WriteFailed> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check: a release between the two wakes it.
            notified.as_mut().enable();
            if let Some(r) = self.done.get() {
                return r.clone();
            }
            notified.await;
        }
    }

    /// Sets the batch's result (the first release wins) and wakes its
    /// waiters: through `relay` when there is one, else from this thread.
    fn release(self: Arc<Self>, res: Result<(), WriteFailed>, relay: Option<&Relay>) {
        let _ = self.done.set(res);
        match relay {
            Some(relay) => relay.hand(self),
            None => self.notify.notify_waiters(),
        }
    }
}

/// Wakes a released batch's waiters from a task on their runtime. A task
/// woken from another thread costs that runtime a wake-up of its own (a
/// system call each: one per call, measured); the writer thread wakes the
/// relay once per batch instead, and the relay wakes the batch's tasks
/// where they run, which costs none.
#[derive(Debug, Default)]
struct Relay {
    /// Batches released and not yet relayed; true once the writer ended.
    ready: Mutex<(Vec<Arc<Batch>>, bool)>,
    wake: Notify,
}

impl Relay {
    /// Starts the relay on the current tokio runtime, if there is one.
    fn start() -> Option<Arc<Relay>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let relay = Arc::new(Relay::default());
        runtime.spawn(relay.clone().run());
        Some(relay)
    }

    fn hand(&self, batch: Arc<Batch>) {
        lock(&self.ready).0.push(batch);
        self.wake.notify_one();
    }

    /// The writer has ended: the relay wakes what is left, then stops.
    fn close(&self) {
        lock(&self.ready).1 = true;
        self.wake.notify_one();
    }

    async fn run(self: Arc<Self>) {
        let mut taken = Vec::new();
        loop {
            self.wake.notified().await;
            let closed = {
                let mut ready = lock(&self.ready);
                std::mem::swap(&mut ready.0, &mut taken);
                ready.1
            };
            for batch in taken.drain(..) {
                batch.notify.notify_waiters();
            }
            if closed {
                return;
            }
        }
    }
}

/// Locks `m`, past a panic of another holder (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the appenders hand the writer thread, under one lock.
#[derive(Debug, Default)]
struct Queue {
    /// The encoded lines not yet taken by the writer, in append order.
    buf: Vec<u8>,
    /// Their records, in the same order (the durable table takes them once
    /// they are on disk).
    recs: Vec<Record>,
    /// The batch the queued lines belong to, once a durable append waits.
    batch: Option<Arc<Batch>>,
    /// Every [`Appender`] is gone: write what is queued and stop.
    closed: bool,
    /// The writer thread sleeps on [`Inner::work`].
    idle: bool,
    /// ... with nothing queued, and no time-out: the first line of any
    /// kind must wake it.
    empty: bool,
    /// Set once a write or fsync failed.
    failed: Option<WriteFailed>,
    /// Lines queued that a waiter waits for.
    durable: usize,
}

/// State shared by the appenders and the writer thread.
#[derive(Debug)]
struct Inner {
    queue: Mutex<Queue>,
    work: Condvar,
    campaign: String,
    path: PathBuf,
    /// Wakes the waiters of released batches on their runtime.
    relay: Option<Arc<Relay>>,
    /// [`Timing::RUN`], or a test's.
    timing: Timing,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// Releases `batch`'s waiters with `res`.
    fn release(&self, batch: Arc<Batch>, res: Result<(), WriteFailed>) {
        batch.release(res, self.relay.as_deref());
    }

    /// Queues `rec`'s line; returns the batch to wait for when `durable`.
    fn push(&self, rec: Record, durable: bool) -> Result<Option<Arc<Batch>>, WriteFailed> {
        let mut q = self.lock();
        if let Some(f) = &q.failed {
            return Err(f.clone());
        }
        rec.write_to(&self.campaign, &mut q.buf);
        q.recs.push(rec);
        let batch = durable.then(|| q.batch.get_or_insert_with(Default::default).clone());
        q.durable += usize::from(durable);
        // A line nobody waits for does not wake the writer: it goes with
        // the next durable one's fsync, or when the writer's wait times out
        // (`Timing::lazy_for`), or once enough of them are queued.
        let wake = q.idle && (durable || q.empty || q.buf.len() >= LAZY_BYTES);
        if wake {
            q.idle = false;
            q.empty = false;
        }
        drop(q);
        if wake {
            self.work.notify_one();
        }
        Ok(batch)
    }

    /// The writer stops for good with `failed`: lines queued and not yet
    /// taken are never written, their waiters get the error, so does every
    /// later append, and the run is halted.
    fn fail(&self, failed: WriteFailed, halt: &CancellationToken) {
        let behind = {
            let mut q = self.lock();
            q.failed.get_or_insert(failed.clone());
            q.buf = Vec::new();
            q.recs = Vec::new();
            q.batch.take()
        };
        halt.cancel();
        if let Some(b) = behind {
            self.release(b, Err(failed));
        }
    }

    fn stopped(&self) -> WriteFailed {
        WriteFailed {
            path: self.path.clone(),
            source: Arc::new(io::Error::other("the results writer has stopped")),
        }
    }
}

/// Closes the queue when the last [`Appender`] clone is dropped.
#[derive(Debug)]
struct Alive(Arc<Inner>);

impl Drop for Alive {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.closed = true;
        drop(q);
        self.0.work.notify_one();
    }
}

/// The workers' handle on the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    inner: Arc<Inner>,
    _alive: Arc<Alive>,
}

impl Appender {
    /// Appends a record and resolves once it is on disk (written and
    /// fsynced), or with the error that stopped the writer.
    pub async fn append_durable(&self, rec: Record) -> Result<(), WriteFailed> {
        match self.inner.push(rec, true)? {
            Some(batch) => batch.wait().await,
            None => Err(self.inner.stopped()),
        }
    }

    /// Appends a record without waiting for the fsync. It is written in the
    /// next batch; if writing fails, the writer halts the run instead.
    pub fn append(&self, rec: Record) {
        let _ = self.inner.push(rec, false);
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

/// The most rows a fresh table is sized for up front (beyond, it grows).
const MAX_PRESIZE: u64 = 20_000_000;

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
            // Sized for every row of the input at once: a table that grows
            // by doubling holds its old and new arrays at its peak.
            let rows = header.rows.unwrap_or(0).min(MAX_PRESIZE);
            (file, Table::with_capacity(rows as usize))
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
        Timing::RUN,
    ))
}

/// Where the writer thread puts its batches: the results file, or in
/// tests a file whose fsync fails.
trait Sink: Write + Send + 'static {
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Starts the writer thread on a file opened for appending, whose durable
/// records so far are `table`.
fn spawn_writer<F: Sink>(
    path: PathBuf,
    file: F,
    table: Table,
    campaign: String,
    halt: CancellationToken,
    timing: Timing,
) -> (Appender, Writer) {
    let inner = Arc::new(Inner {
        queue: Mutex::new(Queue::default()),
        work: Condvar::new(),
        campaign,
        path,
        relay: Relay::start(),
        timing,
    });
    let shared = inner.clone();
    let thread = std::thread::Builder::new()
        .name("results-writer".into())
        .spawn(move || {
            // If the loop unwinds (a panic), the queue fails with it: no
            // append waits for a writer that is gone.
            // Dropped last, on the way out or in an unwind: the relay
            // wakes what the writer released and stops.
            let _relay = CloseRelay(&shared);
            let guard = FailOnUnwind(&shared, &halt);
            let out = writer_loop(&shared, file, table, &halt);
            std::mem::forget(guard);
            out
        })
        .expect("spawning the results writer thread");
    let alive = Arc::new(Alive(inner.clone()));
    (
        Appender {
            inner,
            _alive: alive,
        },
        Writer { thread },
    )
}

/// Fails the queue ([`Inner::fail`]) when dropped: forgotten when the
/// writer loop returns, so it acts only when the loop unwinds.
struct FailOnUnwind<'a>(&'a Inner, &'a CancellationToken);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.fail(self.0.stopped(), self.1);
    }
}

/// Closes the writer's relay, if it has one, when dropped.
struct CloseRelay<'a>(&'a Inner);

impl Drop for CloseRelay<'_> {
    fn drop(&mut self) {
        if let Some(relay) = &self.0.relay {
            relay.close();
        }
    }
}

/// Releases a taken batch's waiters with an error if the writer thread
/// leaves without releasing them (it panicked): nobody waits forever.
struct Release<'a>(Option<Arc<Batch>>, &'a Inner);

impl Release<'_> {
    fn with(mut self, res: Result<(), WriteFailed>) {
        if let Some(b) = self.0.take() {
            self.1.release(b, res);
        }
    }
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            self.1.release(b, Err(self.1.stopped()));
        }
    }
}

/// The writer thread: takes everything queued, writes it with one write,
/// fsyncs once, then releases the batch's waiters; sleeps while nothing is
/// queued; ends once every appender is gone and the queue is empty, or at
/// the first failure.
fn writer_loop<F: Sink>(
    inner: &Inner,
    mut file: F,
    mut table: Table,
    halt: &CancellationToken,
) -> (Table, Option<WriteFailed>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut recs: Vec<Record> = Vec::new();
    // Intents in the last batch.
    let mut last_waiters = 0;
    loop {
        let batch = {
            let mut q = inner.lock();
            while !q.closed && q.batch.is_none() && q.buf.len() < LAZY_BYTES {
                q.idle = true;
                if q.buf.is_empty() {
                    q.empty = true;
                    q = inner.work.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.empty = false;
                    continue;
                }
                let (back, waited) = inner
                    .work
                    .wait_timeout(q, inner.timing.lazy_for)
                    .unwrap_or_else(|e| e.into_inner());
                q = back;
                if waited.timed_out() {
                    break;
                }
            }
            q.idle = false;
            if q.batch.is_some() && last_waiters >= 2 {
                q = gather(inner, q);
            }
            if q.buf.is_empty() {
                return (table, None);
            }
            std::mem::swap(&mut q.buf, &mut buf);
            std::mem::swap(&mut q.recs, &mut recs);
            last_waiters = std::mem::take(&mut q.durable);
            q.batch.take()
        };
        let release = Release(batch, inner);
        let written = file.write_all(&buf).and_then(|()| file.sync());
        buf.clear();
        if let Err(e) = written {
            // Said once, by the run's `error:` line (the error reaches it
            // through every waiter and `Writer::finish`).
            tracing::debug!("cannot write results file {}: {e}", inner.path.display());
            let failed = WriteFailed {
                path: inner.path.clone(),
                source: Arc::new(e),
            };
            // The run is halted before any waiter hears of the failure.
            inner.fail(failed.clone(), halt);
            release.with(Err(failed.clone()));
            return (table, Some(failed));
        }
        for rec in recs.drain(..) {
            table.upsert(rec);
        }
        release.with(Ok(()));
        // A burst (the records triage decided, queued at once) must not
        // keep its buffers for the rest of the run.
        if buf.capacity() > KEEP_BYTES {
            buf = Vec::with_capacity(1 << 16);
        }
        if recs.capacity() > KEEP_RECORDS {
            recs = Vec::new();
        }
    }
}

/// Holds the queued batch open for [`Timing::gather_for`], or until the
/// queue closes (appends go on meanwhile; none wakes the writer).
fn gather<'a>(inner: &'a Inner, mut q: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
    let deadline = Instant::now() + inner.timing.gather_for;
    while !q.closed {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        q = inner
            .work
            .wait_timeout(q, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    q
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

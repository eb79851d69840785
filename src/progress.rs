//! Progress on stderr: the bar, the plain periodic log line, the summary.
//!
//! The engine counts into [`Stats`] (owned by [`crate::dispatch`]: atomics,
//! no locks on the hot path); this module only reads them. A
//! [`Reporter`] samples them a few times a second and draws an indicatif
//! bar when stderr is a terminal, or prints a plain line every few seconds
//! when it is not (or with `--quiet`). Log lines must not tear the bar:
//! [`LogWriter`] routes tracing output through the active bar, if any, so
//! that it prints above it.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The engine's counters, read here (re-exported so `progress::Stats` keeps
/// naming them).
pub use crate::dispatch::Stats;

/// The bar tracing prints through while one is shown.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// tracing's writer: stderr, printed above the progress bar when one is shown.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

/// tracing hands over each event whole (one `write`), so masking each
/// buffer masks every secret in it ([`crate::redact`]).
impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let masked = crate::redact::mask_bytes(buf);
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) if !bar.is_hidden() => {
                bar.suspend(|| std::io::stderr().write_all(&masked))?;
            }
            _ => std::io::stderr().write_all(&masked)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints a line on stderr, above the progress bar when one is shown.
pub fn eprintln(line: &str) {
    let mut w = LogWriter;
    let _ = w.write_all(format!("{line}\n").as_bytes());
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An indicatif bar redrawn in place.
    Bar,
    /// A plain line every few seconds (not a terminal, or `--quiet`).
    Lines,
}

impl Mode {
    /// A bar when stderr is a terminal and not `--quiet`.
    pub fn detect(quiet: bool) -> Mode {
        if !quiet && std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Draws progress until [`Reporter::finish`].
pub struct Reporter {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// Starts drawing `stats` (call inside the runtime). `every` is the
    /// plain-line interval.
    pub fn start(stats: Arc<Stats>, mode: Mode, every: Duration) -> Reporter {
        let stop = Arc::new(tokio::sync::Notify::new());
        let bar = match mode {
            Mode::Bar => {
                let bar = ProgressBar::with_draw_target(
                    Some(Stats::get(&stats.total)),
                    ProgressDrawTarget::stderr_with_hz(8),
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                if let Ok(mut b) = BAR.lock() {
                    *b = Some(bar.clone());
                }
                Some(bar)
            }
            Mode::Lines => None,
        };
        let s = stop.clone();
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let tick = if b.is_some() {
                Duration::from_millis(125)
            } else {
                every
            };
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
            loop {
                tokio::select! {
                    _ = s.notified() => break,
                    _ = interval.tick() => {}
                }
                let line = line(&stats, started.elapsed());
                match &b {
                    Some(bar) => {
                        bar.set_length(Stats::get(&stats.total));
                        bar.set_position(Stats::get(&stats.done));
                        bar.set_message(line.counts);
                    }
                    None => {
                        let _ = writeln!(LogWriter, "{}", line.full);
                    }
                }
            }
        });
        Reporter { stop, task, bar }
    }

    /// Stops drawing and clears the bar.
    pub async fn finish(self) {
        self.stop.notify_one();
        let _ = self.task.await;
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        if let Ok(mut b) = BAR.lock() {
            *b = None;
        }
    }
}

struct Line {
    counts: String,
    full: String,
}

fn line(s: &Stats, elapsed: Duration) -> Line {
    let done = Stats::get(&s.done);
    let total = Stats::get(&s.total);
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    let counts = format!(
        "{:.0} calls/s | queued {} rejected {} retrying {} in doubt {} in flight {}",
        rate,
        Stats::get(&s.created) + Stats::get(&s.adopted),
        Stats::get(&s.rejected),
        Stats::get(&s.retrying),
        Stats::get(&s.in_doubt),
        Stats::get(&s.in_flight),
    );
    let awaiting = Stats::get(&s.awaiting);
    let counts = if awaiting > 0 || Stats::get(&s.ended) > 0 || Stats::get(&s.redials_waiting) > 0 {
        format!(
            "{counts} | awaiting outcome {awaiting} ended {} redials waiting {}",
            Stats::get(&s.ended),
            Stats::get(&s.redials_waiting)
        )
    } else {
        counts
    };
    let eta = if rate > 0.0 && total > done {
        format!(
            ", ETA {}",
            humantime::format_duration(Duration::from_secs(((total - done) as f64 / rate) as u64))
        )
    } else {
        String::new()
    };
    let pct = if total > 0 {
        100.0 * done as f64 / total as f64
    } else {
        100.0
    };
    Line {
        full: format!("progress: {done}/{total} ({pct:.1}%){eta}, {counts}"),
        counts,
    }
}

/// The end-of-run summary: counts per status over the whole results file.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Latest status of every recipient (and of any key no longer in the input).
    pub counts: BTreeMap<String, u64>,
    /// Rows handled this run.
    pub handled: u64,
    pub wall: Duration,
    pub answers_409: u64,
    pub answers_429: u64,
    pub results_path: String,
    pub exit_code: u8,
    pub exit_meaning: String,
    /// Lines printed after the table (why it stopped, how to resume).
    pub notes: Vec<String>,
}

impl Summary {
    /// Writes the summary table.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let secs = self.wall.as_secs_f64();
        let rate = if secs > 0.0 {
            self.handled as f64 / secs
        } else {
            0.0
        };
        writeln!(out, "summary")?;
        write_counts(&self.counts, out)?;
        writeln!(
            out,
            "this run: {} rows in {:.1} s ({rate:.1} calls/s); 409 answers {}, 429 answers {}",
            self.handled, secs, self.answers_409, self.answers_429
        )?;
        writeln!(out, "results: {}", self.results_path)?;
        for n in &self.notes {
            writeln!(out, "{n}")?;
        }
        writeln!(out, "exit {}: {}", self.exit_code, self.exit_meaning)
    }
}

/// The table of counts per status and their total, as `run`'s summary and
/// `status` print it.
pub fn write_counts(counts: &BTreeMap<String, u64>, out: &mut dyn Write) -> std::io::Result<()> {
    let width = counts.keys().map(String::len).max().unwrap_or(6).max(6);
    let mut total = 0;
    for (status, n) in counts {
        writeln!(out, "  {status:<width$}  {n:>8}")?;
        total += n;
    }
    writeln!(out, "  {:<width$}  {total:>8}", "total")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_counts_and_total() {
        let s = Summary {
            counts: BTreeMap::from([("queued".into(), 7), ("rejected".into(), 2)]),
            handled: 9,
            wall: Duration::from_secs(3),
            answers_409: 1,
            answers_429: 0,
            results_path: "r.csv".into(),
            exit_code: 4,
            exit_meaning: "finished, but".into(),
            notes: vec!["resume: callplan run p.yaml".into()],
        };
        let mut out = Vec::new();
        s.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("  queued           7\n"), "{text}");
        assert!(text.contains("  total            9\n"), "{text}");
        assert!(text.contains("(3.0 calls/s)"), "{text}");
        assert!(text.contains("resume: callplan run p.yaml\nexit 4: finished, but"));
    }

    #[test]
    fn progress_line_reads_counts() {
        let s = Stats::default();
        Stats::add(&s.total, 10);
        Stats::add(&s.done, 5);
        Stats::add(&s.created, 4);
        Stats::add(&s.rejected, 1);
        let l = line(&s, Duration::from_secs(5));
        assert!(
            l.full
                .starts_with("progress: 5/10 (50.0%), ETA 5s, 1 calls/s"),
            "{}",
            l.full
        );
        assert!(l.full.contains("queued 4 rejected 1"));
    }
}

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
            let mut drawn_for = None;
            if let Some(bar) = &b {
                drawn_for = Some(draw(bar, &stats, None));
            }
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
            loop {
                tokio::select! {
                    _ = s.notified() => break,
                    _ = interval.tick() => {}
                }
                match &b {
                    Some(bar) => drawn_for = Some(draw(bar, &stats, drawn_for)),
                    None => {
                        let _ = writeln!(LogWriter, "{}", line(&stats, started.elapsed()));
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

/// One redraw of the bar at the terminal's width now; the template is
/// chosen again only when the width changed (`styled_for`: the width the
/// current one was chosen for). Returns the width drawn for.
fn draw(bar: &ProgressBar, stats: &Stats, styled_for: Option<usize>) -> usize {
    let width = terminal_width().unwrap_or(80);
    if styled_for != Some(width) {
        bar.set_style(bar_style(width));
    }
    bar.set_length(Stats::get(&stats.total));
    bar.set_position(Stats::get(&stats.done));
    bar.set_message(counts_line(&LiveCounts::read(stats), width));
    bar.tick();
    width
}

/// The bar's style for a terminal `width` columns wide: [`bar_template`],
/// then its second line, the counts.
fn bar_style(width: usize) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{}\n{{msg}}", bar_template(width)))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bar's first line for a terminal `width` columns wide. Each template
/// fits its narrowest width with a 9,999,999-row campaign, a rate of
/// 12,345.6/s and a six-character ETA (the test renders them): what does
/// not fit goes, the elapsed time and the rate first, then the thousands
/// separators and the ETA. Wide terminals get a bar of fixed length
/// rather than 150 columns of blocks.
pub fn bar_template(width: usize) -> &'static str {
    match width {
        120.. => {
            "{spinner} [{elapsed_precise}] {bar:50} {human_pos}/{human_len} {percent:>3}% {per_sec:1} ETA {eta}"
        }
        72.. => {
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {percent:>3}% {per_sec:1} ETA {eta}"
        }
        40.. => "{spinner} {wide_bar} {pos}/{len} {percent:>3}% ETA {eta}",
        _ => "{wide_bar} {percent:>3}%",
    }
}

/// The width of the terminal stderr is, if it is one.
fn terminal_width() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut size = std::mem::MaybeUninit::<libc::winsize>::zeroed();
        // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer given,
        // which points to one; fd 2 is only read.
        let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, size.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: zeroed, then filled by a successful ioctl.
        let cols = unsafe { size.assume_init() }.ws_col;
        (cols > 0).then_some(usize::from(cols))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// What the bar's second line says: the engine's counts now, read once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub in_flight: u64,
    /// The in-flight cap now (AIMD); 0 when not known yet.
    pub cap: u64,
    pub in_doubt: u64,
    pub retrying: u64,
    pub redials_waiting: u64,
    pub rejected: u64,
    pub errors: u64,
    pub awaiting: u64,
    pub ended: u64,
    /// Calls created or adopted this run.
    pub created: u64,
    pub answers_429: u64,
    pub answers_409: u64,
}

impl LiveCounts {
    /// Reads the engine's counters.
    pub fn read(s: &Stats) -> LiveCounts {
        LiveCounts {
            in_flight: Stats::get(&s.in_flight),
            cap: Stats::get(&s.cap),
            in_doubt: Stats::get(&s.in_doubt),
            retrying: Stats::get(&s.retrying),
            redials_waiting: Stats::get(&s.redials_waiting),
            rejected: Stats::get(&s.rejected),
            errors: Stats::get(&s.errors),
            awaiting: Stats::get(&s.awaiting),
            ended: Stats::get(&s.ended),
            created: Stats::get(&s.created) + Stats::get(&s.adopted),
            answers_429: Stats::get(&s.answers_429),
            answers_409: Stats::get(&s.answers_409),
        }
    }

    /// The items of the counts line, most important first: what is
    /// happening now and what needs a person (in flight, in doubt,
    /// retrying always show; the rest when not zero), then the tallies.
    fn items(&self) -> Vec<String> {
        let in_flight = if self.cap > 0 {
            format!("in flight {}/{}", self.in_flight, self.cap)
        } else {
            format!("in flight {}", self.in_flight)
        };
        let mut items = vec![
            in_flight,
            format!("in doubt {}", self.in_doubt),
            format!("retrying {}", self.retrying),
        ];
        let optional = [
            ("redials waiting", self.redials_waiting),
            ("rejected", self.rejected),
            ("errors", self.errors),
            ("awaiting outcome", self.awaiting),
            ("ended", self.ended),
            ("created", self.created),
            ("429 answers", self.answers_429),
            ("409 answers", self.answers_409),
        ];
        items.extend(
            optional
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(label, n)| format!("{label} {n}")),
        );
        items
    }
}

/// Separates the items of the counts line.
const SEPARATOR: &str = ", ";

/// The bar's counts line for a terminal `width` columns wide: as many
/// items as fit, the least important dropped first, never longer than
/// `width` (every character of it is one column wide). Empty when not
/// even the first fits.
pub fn counts_line(counts: &LiveCounts, width: usize) -> String {
    let mut line = String::new();
    for item in counts.items() {
        let sep = if line.is_empty() { "" } else { SEPARATOR };
        if line.chars().count() + sep.len() + item.chars().count() > width {
            break;
        }
        line.push_str(sep);
        line.push_str(&item);
    }
    line
}

/// The plain progress line (not a terminal, or `--quiet`).
fn line(s: &Stats, elapsed: Duration) -> String {
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
    format!("progress: {done}/{total} ({pct:.1}%){eta}, {counts}")
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
            l.starts_with("progress: 5/10 (50.0%), ETA 5s, 1 calls/s"),
            "{l}"
        );
        assert!(l.contains("queued 4 rejected 1"));
    }

    /// Counts with every item present and large values.
    fn busy() -> LiveCounts {
        LiveCounts {
            in_flight: 128,
            cap: 256,
            in_doubt: 12,
            retrying: 34,
            redials_waiting: 5_000,
            rejected: 1_234,
            errors: 56,
            awaiting: 4_321,
            ended: 987_654,
            created: 1_234_567,
            answers_429: 77,
            answers_409: 88,
        }
    }

    fn columns(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn counts_line_keeps_everything_at_200_columns() {
        let line = counts_line(&busy(), 200);
        assert!(columns(&line) <= 200, "{line}");
        assert_eq!(
            line,
            "in flight 128/256, in doubt 12, retrying 34, redials waiting 5000, rejected 1234, \
             errors 56, awaiting outcome 4321, ended 987654, created 1234567, 429 answers 77, \
             409 answers 88"
        );
    }

    #[test]
    fn counts_line_drops_the_least_important_first_at_80_and_40_columns() {
        let all = counts_line(&busy(), usize::MAX);
        for width in [80, 40] {
            let line = counts_line(&busy(), width);
            assert!(columns(&line) <= width, "{width}: {line}");
            assert!(line.starts_with("in flight 128/256, in doubt 12"), "{line}");
            assert!(all.starts_with(&line), "a prefix of the whole line: {line}");
            assert!(line.len() < all.len(), "something was dropped at {width}");
        }
        assert_eq!(
            counts_line(&busy(), 80),
            "in flight 128/256, in doubt 12, retrying 34, redials waiting 5000, rejected 1234"
        );
        assert_eq!(counts_line(&busy(), 40), "in flight 128/256, in doubt 12");
        assert_eq!(counts_line(&busy(), 5), "");
    }

    #[test]
    fn counts_line_shows_zero_tallies_only_for_what_matters_now() {
        let line = counts_line(&LiveCounts::default(), 200);
        assert_eq!(line, "in flight 0, in doubt 0, retrying 0");
    }

    /// A terminal that keeps what indicatif writes since it last cleared
    /// a line: the last draw, each line written then padded with spaces to
    /// the width (indicatif relies on the terminal wrapping the padding).
    #[derive(Debug)]
    struct Screen {
        width: u16,
        writes: Arc<Mutex<Vec<String>>>,
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.writes.lock().unwrap().push(format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.writes.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.writes.lock().unwrap().clear();
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The bar as drawn on a terminal `term` columns wide with the style
    /// chosen for `styled` columns: a 9,999,999-row campaign at about 12,345
    /// calls/s, every count shown; its lines, without their padding.
    fn render(styled: usize, term: u16) -> Vec<String> {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let screen = Screen {
            width: term,
            writes: writes.clone(),
        };
        let bar = ProgressBar::with_draw_target(
            Some(9_999_999),
            ProgressDrawTarget::term_like(Box::new(screen)),
        )
        .with_elapsed(Duration::from_secs(100));
        bar.set_style(bar_style(styled));
        bar.set_position(1_234_567);
        bar.set_message(counts_line(&busy(), usize::from(term)));
        bar.abandon();
        let writes = writes.lock().unwrap().clone();
        // Each line is followed by its padding: the pair fills whole lines
        // of the terminal, exactly one when the line fits.
        writes
            .chunks(2)
            .map(|pair| {
                let filled: usize = pair.iter().map(|w| columns(w)).sum();
                assert_eq!(filled, usize::from(term), "a line wrapped: {pair:?}");
                pair[0].clone()
            })
            .collect()
    }

    #[test]
    fn the_bar_fits_80_and_200_columns_and_40_with_room_for_a_long_eta() {
        for width in [20, 40, 60, 72, 80, 100, 120, 200] {
            let lines = render(width, width as u16);
            assert_eq!(lines.len(), 2, "{width}: {lines:?}");
            for l in &lines {
                assert!(columns(l) <= width, "{width}: {l:?}");
            }
            assert!(
                lines[0].contains('█') || lines[0].contains('░'),
                "{lines:?}"
            );
            assert!(lines[0].contains(" 12%"), "{lines:?}");
            assert!(lines[1].starts_with("in flight 128/256"), "{lines:?}");
            // The ETA drawn here is `0s`: four more characters still fit.
            let narrower = render(width, width as u16 - 4);
            assert!(columns(&narrower[0]) <= width - 4, "{width}: {narrower:?}");
        }
        let wide = render(200, 200);
        assert!(wide[0].contains("[00:01:40]"), "{wide:?}");
        assert!(wide[0].contains("1,234,567/9,999,999"), "{wide:?}");
        assert!(wide[0].contains("/s ETA"), "{wide:?}");
        assert!(wide[0].contains("ETA"), "{wide:?}");
        let at_80 = render(80, 80);
        assert!(at_80[0].contains("1,234,567/9,999,999"), "{at_80:?}");
        assert!(at_80[0].contains("/s ETA"), "{at_80:?}");
    }
}

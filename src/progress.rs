//! Progress on stderr: the bar, the plain periodic log line, the summary.
//!
//! Log lines must not tear the bar: [`LogWriter`] routes tracing output
//! through the active bar (if any) so that it prints above it.

use std::io::Write;

/// tracing's writer: stderr, printed above the progress bar when one is shown.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

//! One function per subcommand. Each turns its arguments into work for the
//! library and answers with an [`Exit`]; an `Err` is a usage or input error
//! (exit 2), printed once, its whole chain on one line ([`error_line`]),
//! through [`crate::redact`].

pub mod completions;
pub mod export;
pub mod init;
pub mod man;
pub mod run;
pub mod sandbox;
pub mod status;
pub mod track;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs the parsed command line and returns the exit code.
pub fn main(cli: Cli) -> Exit {
    // The default key variable is masked whatever the plan says; the
    // plan's own variable is registered once the plan is loaded.
    crate::redact::register_env("DIALNEXA_API_KEY");
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Validate(a) => validate::main(a),
        Command::Run(a) => run::main(a),
        Command::Status(a) => status::main(a),
        Command::Track(a) => track::main(a),
        Command::Sandbox(a) => sandbox::main(a),
        Command::Init(a) => init::main(a),
        Command::Completions(a) => completions::main(a),
        Command::Man(a) => man::main(a),
        Command::Export(a) => export::main(a),
    };
    match result {
        Ok(exit) => exit,
        Err(err) => {
            if is_broken_pipe(&err) {
                return Exit::Ok;
            }
            eprintln!("{}", crate::redact::mask(&error_line(&err)));
            if is_unwritable_results(&err) {
                Exit::Unwritable
            } else {
                Exit::Usage
            }
        }
    }
}

/// `error: context: cause: ...`, each message once: a cause that the
/// message before it already ends with (`cannot write results file x: No
/// space left on device (os error 28)` then `No space left on device (os
/// error 28)`) is not repeated.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::from("error: ");
    let start = line.len();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.len() > start && line.ends_with(&text) {
            continue;
        }
        if line.len() > start {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The results file could not be written (the writer's error, anywhere in
/// the chain): exit 2 that says so, not "usage".
fn is_unwritable_results(err: &anyhow::Error) -> bool {
    use crate::results::{ResultsError, WriteFailed};
    err.chain().any(|e| {
        e.downcast_ref::<WriteFailed>().is_some()
            || matches!(
                e.downcast_ref::<ResultsError>(),
                Some(ResultsError::Write { .. })
            )
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `RUST_LOG` wins; otherwise `-v` raises the level from `warn`.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_full_error_prints_its_cause_once_and_exits_unwritable() {
        let io = std::io::Error::from_raw_os_error(28);
        let failed = crate::results::WriteFailed {
            path: "r.csv".into(),
            source: std::sync::Arc::new(io),
        };
        let err = anyhow::Error::new(failed).context("dialling stopped");
        let line = error_line(&err);
        assert_eq!(line.matches("os error 28").count(), 1, "{line}");
        assert!(
            line.starts_with("error: dialling stopped: cannot write results file r.csv: "),
            "{line}"
        );
        assert!(is_unwritable_results(&err));
        let other = anyhow::anyhow!("a").context("b");
        assert_eq!(error_line(&other), "error: b: a");
        assert!(!is_unwritable_results(&other));
    }
}

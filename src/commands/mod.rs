//! One function per subcommand. Each turns its arguments into work for the
//! library and answers with an [`Exit`]; an `Err` is a usage or input error
//! (exit 2), printed once as `error: {err:#}` so the whole chain shows.

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
    };
    match result {
        Ok(exit) => exit,
        Err(err) => {
            if is_broken_pipe(&err) {
                return Exit::Ok;
            }
            eprintln!("error: {}", crate::redact::mask(&format!("{err:#}")));
            Exit::Usage
        }
    }
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

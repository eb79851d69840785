//! callplan's binary: parse the arguments, hand them to the library, exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = callplan::cli::Cli::parse();
    callplan::commands::main(cli).into()
}

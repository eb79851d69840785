//! callplan's binary: parse the arguments, hand them to the library, exit.

use clap::Parser;

/// mimalloc rather than the system allocator: a call's many small, short
/// allocations (its request, its answer, its results line) were an eighth
/// of the engine thread's time with glibc's (BENCHMARKS.md, issue 11).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = callplan::cli::Cli::parse();
    callplan::commands::main(cli).into()
}

//! `callplan sandbox`: serve the DialNexa simulator until Ctrl-C or SIGTERM.
//! Its only stdout line, `listening on http://ADDR`, is printed (and
//! flushed) once the socket accepts connections, so a script or test that
//! asked for port 0 can read the real one.

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::Context as _;

use crate::cli::SandboxArgs;
use crate::exit::Exit;
use crate::sandbox::{Config, Sandbox};

pub fn main(args: SandboxArgs) -> anyhow::Result<Exit> {
    if args.print_config {
        let mut out = std::io::stdout().lock();
        out.write_all(Config::default_yaml().as_bytes())?;
        out.flush()?;
        return Ok(Exit::Ok);
    }
    let config = match &args.config {
        Some(path) => Config::from_yaml_file(path)?,
        None => Config::default(),
    };
    let addr = resolve(&args.listen)?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        anyhow::bail!(
            "refusing to listen on {addr}: it is not a loopback address, and the sandbox accepts \
             any API key. Use 127.0.0.1:PORT, or pass --allow-remote if other machines must reach it"
        );
    }
    let workers = args.workers.map_or_else(default_workers, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, addr))
}

/// Half the CPU cores, at least one. The sandbox always shares the machine
/// with its client (a runner, a test, a load generator). Measured on two
/// busy cores under wrk, two workers roughly doubled the p99 of one
/// (BENCHMARKS.md), because the sandbox then fights its client for both
/// cores.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// `127.0.0.1:8787`, `[::1]:0` or `localhost:8787`.
fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let mut addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .with_context(|| {
            format!("--listen {listen:?} is not an address; write HOST:PORT, e.g. 127.0.0.1:8787")
        })?
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs
        .into_iter()
        .next()
        .with_context(|| format!("--listen {listen:?} resolves to no address"))
}

async fn serve(config: Config, addr: SocketAddr) -> anyhow::Result<Exit> {
    // Watch the signals before announcing the address: a SIGTERM sent as
    // soon as the line is read must stop the server cleanly, not kill it.
    let stop = StopSignals::install()?;
    let sandbox = Sandbox::start(config, addr)
        .await
        .with_context(|| format!("cannot serve the sandbox on {addr}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sandbox.url())?;
        out.flush()?;
    }
    tracing::info!(
        "sandbox: serving on {} until Ctrl-C or SIGTERM",
        sandbox.url()
    );
    stop.wait().await;
    tracing::info!("sandbox: stopping");
    sandbox.shutdown().await;
    Ok(Exit::Ok)
}

/// Ctrl-C and (on Unix) SIGTERM, watched from the moment of creation.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt()).context("cannot watch Ctrl-C")?,
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_addresses() {
        assert_eq!(resolve("127.0.0.1:0").unwrap().port(), 0);
        assert!(resolve("[::1]:80").unwrap().ip().is_loopback());
        assert!(resolve("localhost:8787").unwrap().ip().is_loopback());
        assert!(resolve("not an address").is_err());
    }
}

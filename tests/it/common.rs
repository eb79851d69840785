//! Shared test helpers: the binary under test and the sandbox on loopback,
//! three ways:
//!
//! - [`start_sandbox`]: in-process on the test's own tokio runtime, for
//!   `#[tokio::test]`s (fetch with [`ledger`] / [`stats`], async);
//! - [`TestSandbox`]: in-process on a runtime thread of its own, for plain
//!   `#[test]`s that run the `callplan` binary (fetch with
//!   [`TestSandbox::ledger`] / [`TestSandbox::stats`], blocking);
//! - [`SandboxProcess`]: the real `callplan sandbox --listen 127.0.0.1:0`
//!   as a child process, killed on drop.
//!
//! Everything talks to 127.0.0.1 only, with no proxy.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use callplan::sandbox::{Config, Sandbox};
use serde_json::Value;

/// Path of the `callplan` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_callplan"))
}

/// Folder of the test fixtures.
/// `callplan` in `dir` with nothing of the caller's environment that could
/// reach a real API or change what it prints: no key, no base URL, no
/// `RUST_LOG`, no stdin.
pub fn offline(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(dir)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("DIALNEXA_API_KEY")
        .env_remove("DIALNEXA_BASE_URL")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    cmd
}

/// [`offline`], with the API key `key` and the base URL `base_url` (a
/// sandbox on loopback) in the environment.
pub fn online(dir: &std::path::Path, base_url: &str, key: &str) -> std::process::Command {
    let mut cmd = offline(dir);
    cmd.env("DIALNEXA_API_KEY", key)
        .env("DIALNEXA_BASE_URL", base_url);
    cmd
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `127.0.0.1:0`: loopback, any free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A sandbox serving `config` on this test's runtime, on 127.0.0.1.
pub async fn start_sandbox(config: Config) -> Sandbox {
    Sandbox::start(config, loopback())
        .await
        .expect("sandbox starts on 127.0.0.1:0")
}

/// An HTTP client for loopback tests: no proxy from the environment, a
/// generous timeout so a hung server fails the test instead of hanging it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// `GET {url}/_sandbox/ledger` (async): `{"calls": [...]}`.
pub async fn ledger(url: &str) -> Value {
    get_json_async(&format!("{url}/_sandbox/ledger")).await
}

/// `GET {url}/_sandbox/stats` (async).
pub async fn stats(url: &str) -> Value {
    get_json_async(&format!("{url}/_sandbox/stats")).await
}

/// The ledger's calls (async).
pub async fn ledger_calls(url: &str) -> Vec<Value> {
    match ledger(url).await.get("calls") {
        Some(Value::Array(calls)) => calls.clone(),
        other => panic!("ledger without calls: {other:?}"),
    }
}

async fn get_json_async(url: &str) -> Value {
    let resp = client().get(url).send().await.expect("GET on the sandbox");
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json().await.expect("JSON from the sandbox")
}

/// `GET` of a JSON document on loopback with a plain blocking socket (no
/// client crate, no runtime): for sync tests. Panics on anything but 200.
pub fn get_json_blocking(url: &str) -> Value {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "GET {url}: {}",
        head.lines().next().unwrap_or("")
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON from {url}: {e}: {body}"))
}

/// `GET {url}/_sandbox/ledger`, blocking.
pub fn ledger_blocking(url: &str) -> Value {
    get_json_blocking(&format!("{url}/_sandbox/ledger"))
}

/// `GET {url}/_sandbox/stats`, blocking.
pub fn stats_blocking(url: &str) -> Value {
    get_json_blocking(&format!("{url}/_sandbox/stats"))
}

/// An in-process sandbox on a runtime thread of its own, usable from plain
/// `#[test]`s: start it, point the binary at [`TestSandbox::base_url`],
/// then read its ledger. Stopped on drop.
pub struct TestSandbox {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestSandbox {
    pub fn start(config: Config) -> TestSandbox {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let sandbox = match Sandbox::start(config, loopback()).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(sandbox.url()));
                let _ = stop_rx.await;
                sandbox.shutdown().await;
            });
        });
        let url = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("sandbox thread answers")
            .expect("sandbox starts");
        TestSandbox {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/v1`: the plan's `api.base_url` / `DIALNEXA_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    pub fn ledger(&self) -> Value {
        ledger_blocking(&self.url)
    }

    pub fn ledger_calls(&self) -> Vec<Value> {
        match self.ledger().get("calls") {
            Some(Value::Array(calls)) => calls.clone(),
            other => panic!("ledger without calls: {other:?}"),
        }
    }

    pub fn stats(&self) -> Value {
        stats_blocking(&self.url)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The real `callplan sandbox` as a child process, killed on drop.
pub struct SandboxProcess {
    pub child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl SandboxProcess {
    /// `callplan sandbox --listen 127.0.0.1:0 [--config F]` with `config`
    /// written to a temporary YAML file; waits for the `listening on` line.
    pub fn spawn(config: Option<&Config>) -> SandboxProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin());
        cmd.args(["sandbox", "--listen", "127.0.0.1:0"]);
        if let Some(c) = config {
            let path = dir.path().join("sandbox.yaml");
            std::fs::write(&path, c.to_yaml()).expect("write sandbox.yaml");
            cmd.arg("--config").arg(path);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn callplan sandbox");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if !l.is_empty() => l,
            _ => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("callplan sandbox printed no `listening on` line; stderr: {err}");
            }
        };
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        SandboxProcess {
            child,
            url,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    pub fn ledger(&self) -> Value {
        ledger_blocking(&self.url)
    }

    pub fn stats(&self) -> Value {
        stats_blocking(&self.url)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An exit code, stdout and stderr, for assertion messages.
pub fn show(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The records of a results file (log or compacted) as maps, read as any
/// CSV tool reads it: line 1 must be the header, exactly the documented
/// columns (written out here, not taken from the crate), with no comment
/// line anywhere, and every row must have them all. A torn last line (a
/// run killed mid-write) is left out, as the README says readers do.
pub fn records(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    const COLUMNS: &str = "key,row,to_number,from_number,agent_version_id,round,status,call_id,\
                           attempts,http_status,error,end_reason,duration_s,next_at,updated_at,campaign";
    let text = std::fs::read_to_string(path).expect("results file");
    let text = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let first = text.lines().next().expect("header line");
    assert_eq!(first, COLUMNS, "line 1 of {}", path.display());
    assert!(
        !text.lines().any(|l| l.starts_with('#')),
        "no comment line: {text}"
    );
    assert_eq!(callplan::results::COLUMNS.join(","), COLUMNS);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers = rd.headers().expect("column header").clone();
    rd.records()
        .map(|r| {
            let r = r.expect("CSV record");
            assert_eq!(r.len(), headers.len(), "{r:?}");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Last record per key (the log's rule).
pub fn latest(
    path: &std::path::Path,
) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
    records(path)
        .into_iter()
        .map(|r| (r["key"].clone(), r))
        .collect()
}

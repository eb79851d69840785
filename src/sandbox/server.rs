//! The listener and its connections, on hyper's HTTP/1.1 server directly
//! (not a framework): a handler that returns an error makes hyper close the
//! connection without writing anything, and [`ResetOnClose`] then sets
//! `SO_LINGER` to zero so the close is a TCP reset. That is how the sandbox
//! drops a connection or loses a response after creating a call, exactly as
//! a client would see it from a failing proxy.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::routes;
use super::state::State;

/// A connection's socket that resets (rather than closes) when dropped, if
/// its request asked for a hangup.
struct ResetOnClose {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResetOnClose {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // Zero linger: close() sends RST and discards unsent data.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResetOnClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetOnClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts until cancelled, then lets open connections finish (briefly).
pub(crate) async fn run(listener: TcpListener, state: Arc<State>, cancel: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, state.clone(), cancel.clone()));
                    while conns.try_join_next().is_some() {}
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("sandbox: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    conns.abort_all();
}

async fn connection(stream: TcpStream, state: Arc<State>, cancel: CancellationToken) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResetOnClose {
        stream,
        reset: reset.clone(),
    });
    let service = service_fn(move |req| {
        let state = state.clone();
        let reset = reset.clone();
        async move {
            let answer = routes::serve(state, req).await;
            if answer.is_err() {
                reset.store(true, Ordering::Relaxed);
            }
            answer
        }
    });
    // No timer, so no header-read timeout: an idle keep-alive connection
    // stays open until the client closes it. A server-side idle close
    // could race with a client reusing the connection and look like a lost
    // answer, which would muddle the fault tests. Loopback only, so slow
    // clients are not a threat.
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

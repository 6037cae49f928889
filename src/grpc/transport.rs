//! Connections: how many, how long a silent or idle one may stay, and an
//! accept loop that survives running out of file descriptors.
//!
//! - At most `max_connections` are open; one more is closed as soon as it is
//!   accepted (the client sees UNAVAILABLE at once and may try another
//!   instance) instead of waiting in the kernel's queue.
//! - A connection that sends nothing within `silent_timeout` is closed.
//! - A connection with no call in flight for `idle_timeout` is closed (a
//!   Watch in flight keeps it open; HTTP/2 pings do not).
//! - When `accept` fails for want of descriptors or memory, the loop waits
//!   (5 ms, doubling up to 1 s) instead of spinning; open connections keep
//!   being served meanwhile.
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub silent_timeout: Duration,
    pub idle_timeout: Duration,
}

/// What every request of a connection can reach (tonic puts it in the
/// request's extensions): the calls in flight, for the idle timeout.
#[derive(Debug)]
pub struct ConnState {
    opened: Instant,
    /// Bytes have arrived.
    heard: AtomicBool,
    /// Calls in flight (a streaming call until its reply ends).
    active: AtomicUsize,
    /// When the last call ended, in milliseconds after `opened`.
    idle_since_ms: AtomicU64,
    open: Arc<AtomicUsize>,
}

impl ConnState {
    /// A call begins; it ends when the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> CallGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.clone())
    }

    /// When to look again, or None: close it now.
    fn next_check(&self, limits: &ConnLimits, now: Instant) -> Option<Instant> {
        if !self.heard.load(Ordering::SeqCst) {
            let until = self.opened + limits.silent_timeout;
            return (now < until).then_some(until);
        }
        if self.active.load(Ordering::SeqCst) > 0 {
            return Some(now + limits.idle_timeout);
        }
        let since = self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        let until = since + limits.idle_timeout;
        (now < until).then_some(until)
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks a call in flight on its connection.
pub struct CallGuard(Arc<ConnState>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let s = &self.0;
        let ms = s.opened.elapsed().as_millis() as u64;
        s.idle_since_ms.store(ms, Ordering::SeqCst);
        s.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connect info tonic hands to every request of a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    pub state: Arc<ConnState>,
}

/// An accepted connection that closes itself when silent or idle too long.
pub struct Conn {
    io: TcpStream,
    info: ConnInfo,
    limits: ConnLimits,
    timer: Pin<Box<Sleep>>,
}

impl Conn {
    fn new(io: TcpStream, remote: SocketAddr, limits: ConnLimits, open: Arc<AtomicUsize>) -> Conn {
        let opened = Instant::now();
        Conn {
            io,
            info: ConnInfo {
                remote: Some(remote),
                state: Arc::new(ConnState {
                    opened,
                    heard: AtomicBool::new(false),
                    active: AtomicUsize::new(0),
                    idle_since_ms: AtomicU64::new(0),
                    open,
                }),
            },
            limits,
            timer: Box::pin(tokio::time::sleep_until(opened + limits.silent_timeout)),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Poll::Ready(r) = Pin::new(&mut this.io).poll_read(cx, buf) {
            if buf.filled().len() > before {
                this.info.state.heard.store(true, Ordering::SeqCst);
            }
            return Poll::Ready(r);
        }
        // Nothing to read now: has the connection been silent or idle too long?
        while this.timer.as_mut().poll(cx).is_ready() {
            match this.info.state.next_check(&this.limits, Instant::now()) {
                // End of stream: the HTTP/2 server closes the connection.
                None => return Poll::Ready(Ok(())),
                Some(at) => this.timer.as_mut().reset(at),
            }
        }
        Poll::Pending
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Accept failures that mean "out of a resource": wait before trying again.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The connections `listener` accepts, under `limits`. The accept loop ends
/// when the stream is dropped (the server stops accepting at shutdown).
pub fn incoming(listener: TcpListener, limits: ConnLimits) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let open = Arc::new(AtomicUsize::new(0));
        let mut backoff = Duration::from_millis(5);
        let mut refused = 0u64;
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = tx.closed() => return,
            };
            match accepted {
                Ok((io, remote)) => {
                    backoff = Duration::from_millis(5);
                    if open.load(Ordering::SeqCst) >= limits.max_connections {
                        // Refused at once rather than left waiting.
                        drop(io);
                        refused += 1;
                        if refused.is_power_of_two() {
                            tracing::warn!(
                                refused,
                                max = limits.max_connections,
                                "connection limit reached: new connections are closed"
                            );
                        }
                        continue;
                    }
                    let _ = io.set_nodelay(true);
                    open.fetch_add(1, Ordering::SeqCst);
                    let conn = Conn::new(io, remote, limits, open.clone());
                    if tx.send(Ok(conn)).await.is_err() {
                        return;
                    }
                }
                Err(e) if out_of_resources(&e) => {
                    tracing::warn!(error = %e, wait = ?backoff, "cannot accept connections: out of resources");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = tx.closed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                // The peer gave up before the accept; nothing to do.
                Err(_) => {}
            }
        }
    });
    ReceiverStream::new(rx)
}

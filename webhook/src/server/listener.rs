//! The accept loop and one task per connection, with the limits that keep a hostile client
//! from holding the server: a cap on open connections, a handshake timeout, and a watchdog per
//! connection that closes it when a request head is not complete in time (slowloris) or when
//! it has been idle too long.
//!
//! hyper's own `header_read_timeout` starts when hyper waits for a head, which on a
//! keep-alive connection is also the idle time between requests: it cannot tell a slow head
//! from a quiet client. The watchdog can, because it sees the raw bytes: the header clock
//! starts at the first byte after the connection became idle.
//!
//! The watchdog is not woken per request (that was a task wake-up and a new timer for every
//! review): it looks at the connection at least once per header timeout, which still closes
//! a slow head exactly at its deadline (a head that starts after one look ends no earlier
//! than the next look).
//!
//! The HTTP version is the one TLS negotiated by ALPN; only a client that sent no ALPN gets
//! hyper-util's sniffing of the first bytes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use super::App;
use crate::metrics::{Closed, Metrics};

/// How long shutdown waits for in-flight requests: under Kubernetes' default 30 s grace
/// period, so the process exits by itself before it is killed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// After a failed accept (usually out of file descriptors), wait before the next one instead
/// of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// hyper's read buffer per HTTP/1 connection: a request head larger than this is refused,
/// and a body is read in pieces of at most this size.
const HTTP1_MAX_BUF: usize = 64 * 1024;

/// HTTP/2 flow-control windows: what one connection can have in flight unread.
const HTTP2_WINDOW: u32 = 256 * 1024;

/// The connection limits (`serve` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accept to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// From the first byte of a request to the end of its head.
    pub header_read_timeout: Duration,
    /// From the end of the head to the end of the body (the handler enforces it).
    pub body_read_timeout: Duration,
    /// A connection with no request and no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; the next ones wait in the listen backlog.
    pub max_connections: usize,
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then stops accepting and
/// waits (bounded) for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App>,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: at the cap, new connections wait in the kernel's backlog while the
        // open ones keep being served.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (tcp, peer) = tokio::select! {
            biased;
            // Checked first so a busy listener cannot postpone shutdown; a pinned future that
            // is polled again after losing the race keeps its progress (cancel-safe).
            () = &mut shutdown => break,
            // `TcpListener::accept` is documented cancel-safe: losing the race loses nothing.
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "failed to accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        // The watcher is taken here, before the task starts, so a shutdown signalled while
        // the handshake runs still reaches the connection.
        let watcher = graceful.watcher();
        tokio::spawn(connection(
            Connection {
                acceptor: acceptor.clone(),
                app: app.clone(),
                limits,
                metrics: metrics.clone(),
                _slot: slot,
            },
            tcp,
            peer,
            watcher,
        ));
    }
    drop(listener);
    info!(
        connections = graceful.count(),
        "stopped accepting; finishing in-flight requests"
    );
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(timeout = ?DRAIN_TIMEOUT, "gave up waiting for in-flight requests");
    }
}

/// What one connection task owns; the slot is given back when it ends.
struct Connection {
    acceptor: TlsAcceptor,
    app: Arc<App>,
    limits: Limits,
    metrics: Arc<Metrics>,
    _slot: OwnedSemaphorePermit,
}

async fn connection(conn: Connection, tcp: TcpStream, peer: SocketAddr, watcher: Watcher) {
    let open = conn.metrics.connection();
    let activity = Arc::new(Activity::new());
    let watched = Watched {
        inner: tcp,
        activity: activity.clone(),
    };
    let handshake =
        tokio::time::timeout(conn.limits.handshake_timeout, conn.acceptor.accept(watched));
    let stream = match handshake.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            debug!(%peer, %error, "TLS handshake failed");
            return open.close(Closed::HandshakeFailed);
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return open.close(Closed::HandshakeTimeout);
        }
    };
    // Handshake bytes are not a request: the connection starts idle.
    activity.became_idle();

    let app = conn.app;
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let busy = Busy::start(service_activity.clone());
        let app = app.clone();
        async move {
            let response = app.handle(request).await;
            drop(busy);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    tokio::select! {
        result = serve_http(stream, service, watcher) => {
            if let Err(error) = result {
                debug!(%peer, %error, "connection closed with an error");
            }
            open.close(Closed::Done);
        }
        expired = watchdog(&activity, &conn.limits) => {
            debug!(%peer, ?expired, "closing the connection");
            open.close(expired);
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves HTTP on `stream` in the version ALPN chose, until the client is done or a graceful
/// shutdown ends the connection.
async fn serve_http<S>(
    stream: TlsStream<Watched>,
    service: S,
    watcher: Watcher,
) -> Result<(), BoxError>
where
    S: hyper::service::Service<
            Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(stream);
    match alpn.as_deref() {
        Some(b"http/1.1") => {
            let connection = http1_builder().serve_connection(io, service);
            watcher.watch(connection).await?;
        }
        Some(b"h2") => {
            let connection = http2_builder().serve_connection(io, service);
            watcher.watch(connection).await?;
        }
        _ => {
            // No ALPN: sniff the HTTP/2 preface, with the settings of the builders below.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                .max_buf_size(HTTP1_MAX_BUF);
            builder
                .http2()
                .timer(TokioTimer::new())
                .initial_connection_window_size(HTTP2_WINDOW)
                .initial_stream_window_size(HTTP2_WINDOW);
            watcher.watch(builder.serve_connection(io, service)).await?;
        }
    }
    Ok(())
}

fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog times heads (see the module doc); hyper's timer would also cut idle
        // keep-alive connections.
        .header_read_timeout(None)
        .max_buf_size(HTTP1_MAX_BUF);
    builder
}

fn http2_builder() -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_connection_window_size(HTTP2_WINDOW)
        .initial_stream_window_size(HTTP2_WINDOW);
    builder
}

/// What a connection is doing, shared by its socket, its service and its watchdog. Times are
/// milliseconds since `origin`; [`NONE`] means unset.
struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    head_started: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn became_idle(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.head_started.store(NONE, Ordering::Relaxed);
    }

    /// Bytes arrived: if the connection was idle, a request head has started.
    fn received(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NONE
        {
            // The watchdog sees it at its next look (see the module doc).
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }
}

/// Marks a request in flight on its connection until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head_started.store(NONE, Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.became_idle();
        }
    }
}

/// Completes when the connection has overstayed: a head not finished within the header
/// timeout, or no request for the idle timeout. A request in flight is the handler's to time.
async fn watchdog(activity: &Activity, limits: &Limits) -> Closed {
    let ms = |d: Duration| d.as_millis() as u64;
    let header_timeout = ms(limits.header_read_timeout);
    // One timer for the connection's life, moved instead of made anew.
    let mut sleep = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        let now = activity.now();
        let (deadline, reason) = if activity.in_flight.load(Ordering::Relaxed) > 0 {
            // Look again later: the request may end and the connection go idle.
            (now + header_timeout, None)
        } else {
            let head = activity.head_started.load(Ordering::Relaxed);
            if head != NONE {
                (head + header_timeout, Some(Closed::HeaderTimeout))
            } else {
                let idle = activity.idle_since.load(Ordering::Relaxed);
                (idle + ms(limits.idle_timeout), Some(Closed::IdleTimeout))
            }
        };
        if let Some(reason) = reason
            && now >= deadline
        {
            return reason;
        }
        // By the deadline, and within a header timeout so a head that starts meanwhile is
        // closed on time.
        let look = deadline.min(now + header_timeout).max(now + 1);
        let at = activity.origin + Duration::from_millis(look);
        sleep.as_mut().reset(tokio::time::Instant::from_std(at));
        sleep.as_mut().await;
    }
}

/// The TCP stream under TLS, reporting every read to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

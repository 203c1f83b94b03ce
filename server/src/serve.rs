//! The HTTP server loop: the router on hyper, as `axum::serve` runs it, plus the connection
//! timers `axum::serve` lacks, so a slow or silent client cannot hold a connection.
//!
//! Each connection has a watchdog fed by its socket (bytes in, bytes out, writes blocked)
//! and by its requests (how many are in flight). It closes the connection when
//! - a request's headers take longer than `header` to arrive (from the connection's start
//!   for the first request, from the first byte of each later one);
//! - no request is in flight and nothing has moved for `idle` (an idle keep-alive);
//! - the client has not read any of an answer for `idle` (a write blocked that long).
//!
//! A request's body must arrive within `request` of its first byte: after that its body
//! reads fail, so the handler answers 400 (or 413 / 408-like errors from its extractor)
//! and the connection is not kept. A handler that has authenticated its caller may relax
//! that to `request` between two pieces of the body (`BodyPace`): an import's file takes
//! minutes to arrive, because it is read only as fast as its rows are stored, but keeps
//! moving. A handler's own run time is not limited: bulk actions on
//! large fleets legitimately take minutes, and a client waiting for them moves no bytes.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::{Service, ServiceExt};

/// The connection timers (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub request: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            request: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

const NONE: u64 = u64::MAX;

/// What a connection's watchdog reads: times in milliseconds since the connection opened.
struct Activity {
    opened: Instant,
    last_io: AtomicU64,
    /// When the head of the next request began (`NONE`: no request is arriving).
    head_since: AtomicU64,
    /// Since when a write has been waiting for the client to read (`NONE`: none is).
    write_blocked_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_io: AtomicU64::new(0),
            // The first request's headers are due from the connection's start.
            head_since: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(NONE),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn read_some(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote_some(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
        self.write_blocked_since.store(NONE, Ordering::Relaxed);
    }

    fn write_blocked(&self) {
        let now = self.now();
        let _ = self.write_blocked_since.compare_exchange(
            NONE,
            now,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// A request's head has arrived; returns when its first byte did.
    fn request_started(self: &Arc<Self>) -> (InFlight, u64) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let head = self.head_since.swap(NONE, Ordering::AcqRel);
        let now = self.now();
        (
            InFlight(self.clone()),
            if head == NONE { now } else { head },
        )
    }

    /// Why the connection must close now, if it must.
    fn expired(&self, t: &Timeouts) -> Option<&'static str> {
        let now = self.now();
        let over = |since: u64, limit: Duration| {
            since != NONE && now.saturating_sub(since) > limit.as_millis() as u64
        };
        if over(self.write_blocked_since.load(Ordering::Relaxed), t.idle) {
            return Some("the client stopped reading");
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if over(self.head_since.load(Ordering::Relaxed), t.header) {
            return Some("request headers timed out");
        }
        if over(self.last_io.load(Ordering::Relaxed), t.idle) {
            return Some("idle");
        }
        None
    }
}

/// Counts a request as in flight until it is dropped: with its response body once that is
/// sent, or with the handler's future if the connection goes first.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.last_io.store(self.0.now(), Ordering::Relaxed);
    }
}

/// The socket, reporting its traffic to the watchdog.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn track_write(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) if *n > 0 => self.activity.wrote_some(),
            Poll::Pending => self.activity.write_blocked(),
            _ => {}
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.track_write(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.track_write(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Put into every request with a body: lets its handler, once it knows who calls, give the
/// body `request` between two pieces instead of `request` in all.
#[derive(Debug, Clone)]
pub struct BodyPace(Arc<std::sync::atomic::AtomicBool>);

impl BodyPace {
    /// From now on the body's deadline restarts with every piece that arrives.
    pub fn per_piece(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A request body that fails once its deadline passes before it has all arrived.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The whole-request time, and whether it now applies per piece.
    request: Duration,
    per_piece: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if this.per_piece.load(Ordering::SeqCst) {
                    let next = tokio::time::Instant::now() + this.request;
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err("the request body did not arrive in time".into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What `serve` runs: the router, with whatever rewrites the request before routing.
pub trait App:
    Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
}

impl<S> App for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (as `axum::serve(..).with_graceful_shutdown(..)` does).
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        // No Nagle delay: a streamed page's later chunks would otherwise wait for the
        // client's delayed ACK (about 40 ms per page).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, peer, app, timeouts, signal_tx).await;
            drop(close_rx);
        });
    }
    drop(listener);
    drop(close_rx);
    close_tx.closed().await;
    Ok(())
}

/// Errors of `accept` are about one connection or a passing shortage (file descriptors):
/// never a reason to stop serving.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: impl App,
    timeouts: Timeouts,
    signal_tx: watch::Sender<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let watch = activity.clone();
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let (in_flight, head_started) = watch.request_started();
        let deadline = timeouts.request.saturating_sub(Duration::from_millis(
            watch.now().saturating_sub(head_started),
        ));
        let app = app.clone();
        async move {
            let per_piece = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let pace = BodyPace(per_piece.clone());
            let mut req = req.map(|body| {
                if body.is_end_stream() {
                    Body::new(body)
                } else {
                    Body::new(DeadlineBody {
                        inner: body,
                        deadline: Box::pin(tokio::time::sleep(deadline)),
                        request: timeouts.request,
                        per_piece,
                    })
                }
            });
            req.extensions_mut().insert(pace);
            req.extensions_mut().insert(ConnectInfo(peer));
            let response = app
                .oneshot(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {});
            // The request stays in flight while its answer is sent.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _keep = &in_flight;
                    frame
                }))
            }))
        }
    });
    let builder = Builder::new(TokioExecutor::new());
    let mut conn = std::pin::pin!(
        builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service))
    );
    let tick = (timeouts.header.min(timeouts.idle) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(tick);
    let mut signal_closed = std::pin::pin!(signal_tx.closed());
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = &mut signal_closed, if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = ticks.tick() => {
                if let Some(why) = activity.expired(&timeouts) {
                    tracing::debug!(%peer, why, "closing the connection");
                    return;
                }
            }
        }
    }
}

//! The HTTP/1.1 server: an accept loop with a cap on open connections,
//! hyper with a header-read timeout (axum::serve has none, crates.md), an
//! idle timeout per connection, and graceful shutdown: stop accepting,
//! finish the requests in flight, close idle connections.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::app::Remote;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most open connections; more wait in the kernel's backlog.
    pub(crate) max_connections: usize,
    /// Longest a client may take to send a request's headers.
    pub(crate) header_timeout: Duration,
    /// Longest a connection may sit with no request in flight.
    pub(crate) idle_timeout: Duration,
}

/// How long a connection with nothing in flight may stay when slots run short.
const PRESSED_IDLE: Duration = Duration::from_secs(1);

/// Largest request head (request line and headers) accepted.
pub(crate) const MAX_HEAD: usize = 32 * 1024;

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// requests in flight finish (each one's own deadline bounds that).
pub(crate) async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (router, closing, open, slots) =
            (router.clone(), closing_rx.clone(), Arc::clone(&open), Arc::clone(&slots));
        open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            connection(stream, remote, router, limits, closing, &slots).await;
            open.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Requests in flight end by their own deadlines; wait for them, bounded.
    let until = Instant::now() + Duration::from_secs(5);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
    slots: &Semaphore,
) {
    let epoch = Instant::now();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let last_done_ms = Arc::new(AtomicU64::new(0));
    let (flight, done) = (Arc::clone(&in_flight), Arc::clone(&last_done_ms));
    let svc = router.map_request(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(Remote(remote));
        req
    });
    let svc = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (svc, flight, done) = (svc.clone(), Arc::clone(&flight), Arc::clone(&done));
        flight.fetch_add(1, Ordering::SeqCst);
        async move {
            let res = svc.oneshot(req).await;
            done.store(epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
            flight.fetch_sub(1, Ordering::SeqCst);
            res
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(64)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut shutting = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            changed = closing.changed(), if !shutting => {
                if changed.is_err() || *closing.borrow() {
                    shutting = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = tick.tick(), if !shutting => {
                let idle_for = epoch.elapsed().saturating_sub(Duration::from_millis(last_done_ms.load(Ordering::SeqCst)));
                // Under pressure (under a tenth of the slots free), a connection
                // with no request in flight gets one second, not the idle timeout.
                let pressed = slots.available_permits() < limits.max_connections / 10;
                let allowed = if pressed { PRESSED_IDLE } else { limits.idle_timeout };
                if in_flight.load(Ordering::SeqCst) == 0 && idle_for >= allowed {
                    shutting = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

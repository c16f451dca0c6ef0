//! The HTTP/1.1 server loop: accepting, timeouts, a cap per client address, and a shutdown
//! that ends.
//!
//! axum's `serve` sets no header timeout and waits for every connection at shutdown, so a
//! client that sent half a request head held its connection for ever, and kept a stopping
//! node from exiting. Here:
//!
//! - a request head must arrive whole within the header timeout, and a kept-alive
//!   connection that starts no new request within it is closed (hyper runs one timer for
//!   both: it starts when hyper waits for a head);
//! - one address may hold at most so many connections at once, counted from accept until
//!   the socket closes, upgraded WebSockets included; the addresses of trusted proxies
//!   (`--trusted-proxies`) are not capped, since every client behind them shares theirs;
//! - at shutdown the node stops accepting, asks every connection to finish its request,
//!   and closes those still open after the grace period;
//! - a socket the server closes is shut down for writing and then read and discarded for
//!   a moment before it is closed ([`Counted`]'s drop): closing a socket whose client was
//!   still sending (a frame over the size limit) made the kernel send a reset, and the
//!   reset destroyed the close frame (1009, 1008, ...) the client had not read yet.
//!
//! What a connection carries is the router's business; this module only moves bytes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use super::client_address::ProxyRange;

/// How the loop treats connections, from the configuration.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// A request head must arrive within this; an idle kept-alive connection is closed
    /// after it.
    pub header_timeout: Duration,
    /// Connections one address may hold open at once.
    pub max_connections_per_address: usize,
    /// How long shutdown waits for connections to finish before closing them.
    pub shutdown_grace: Duration,
    /// Addresses exempt from the per-address cap (reverse proxies).
    pub trusted_proxies: Arc<[ProxyRange]>,
}

/// Serves `router` on `listener` until `stop` resolves; then stops accepting, lets open
/// connections finish within the grace period, closes the rest, and returns.
///
/// # Errors
/// Never at present: failed accepts (out of file descriptors, a reset before accept) are
/// logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    // Finalised once, as `axum::serve` does: a router called as it is re-applies its layers
    // on every request, and socketioxide's layer then made a new Engine.IO engine for each
    // (a long-polling session was unknown to the next request).
    let router = router.with_state(());
    let counts = AddressCounts::default();
    let connections = TaskTracker::new();
    let finishing = CancellationToken::new();
    let closing = CancellationToken::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let exempt = settings
            .trusted_proxies
            .iter()
            .any(|proxy| proxy.contains(peer.ip()));
        let slot = if exempt {
            None
        } else {
            match counts.take(peer.ip(), settings.max_connections_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "too many connections from this address; closed");
                    continue;
                }
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            // No Nagle delay: the writers batch frames per flush themselves.
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        connections.spawn(serve_connection(
            Counted::new(stream, slot),
            peer,
            router.clone(),
            settings.header_timeout,
            finishing.clone(),
            closing.clone(),
        ));
    }
    drop(listener);
    finishing.cancel();
    connections.close();
    if tokio::time::timeout(settings.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        closing.cancel();
        connections.wait().await;
    }
    Ok(())
}

async fn serve_connection(
    stream: Counted,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    finishing: CancellationToken,
    closing: CancellationToken,
) {
    let service = router
        .map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            },
        )
        .map_err(|never: Infallible| match never {});
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    let mut asked_to_finish = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
                }
                return;
            }
            () = finishing.cancelled(), if !asked_to_finish => {
                asked_to_finish = true;
                connection.as_mut().graceful_shutdown();
            }
            // Dropping the connection closes its socket.
            () = closing.cancelled() => return,
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Clone, Default)]
struct AddressCounts {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl AddressCounts {
    /// A place for one more connection from `address`, if it holds fewer than `max`.
    fn take(&self, address: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            address,
        })
    }
}

/// One connection's place in its address's count, given back when dropped.
#[derive(Debug)]
struct AddressSlot {
    counts: AddressCounts,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// How long a closed socket is drained before it is closed for good.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while draining.
const LINGER_BYTES: usize = 1 << 20;

/// A socket that holds its address's slot for as long as it is open: through hyper, and
/// inside an upgraded WebSocket after it. Dropped, it drains before closing (see
/// [`linger`]).
struct Counted {
    /// `Some` until dropped.
    stream: Option<TcpStream>,
    slot: Option<AddressSlot>,
}

impl Counted {
    fn new(stream: TcpStream, slot: Option<AddressSlot>) -> Self {
        Self {
            stream: Some(stream),
            slot,
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("BUG: a Counted socket is used only before it is dropped"),
        )
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let (Some(stream), Ok(runtime)) =
            (self.stream.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(linger(stream, self.slot.take()));
    }
}

/// Shuts the socket down for writing (what was written still goes out, then a FIN), then
/// reads and discards what the client still sends until it closes too, for at most
/// [`LINGER`] and [`LINGER_BYTES`]. The address keeps the socket's slot meanwhile.
async fn linger(mut stream: TcpStream, slot: Option<AddressSlot>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buffer = [0u8; 4096];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    drop(slot);
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_places_back() {
        let counts = AddressCounts::default();
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        let first = counts.take(a, 2).unwrap();
        let _second = counts.take(a, 2).unwrap();
        assert!(counts.take(a, 2).is_none());
        assert!(counts.take(b, 2).is_some(), "per address");
        drop(first);
        assert!(
            counts.take(a, 2).is_some(),
            "a closed connection gives its place back"
        );
    }
}

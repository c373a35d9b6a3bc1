//! Opens a new connection to storage only when a request would otherwise be left without one.
//!
//! hyper's pooled client starts a new connection for every request that finds no idle one, and
//! races it against a pooled connection coming back; when the pooled one wins, the new connection
//! is still finished in the background and kept. Under a burst, while storage is slow to accept
//! (TLS handshakes queue on a busy endpoint), every request that arrives during the handshakes
//! starts one more, which makes the handshakes slower still: 16 concurrent calls opened 127
//! connections within 200 ms against Azurite. The gate counts, per destination (scheme, host and
//! port: what hyper pools by), the storage requests in flight, the open connections and the connects
//! under way, and lets a connect start only while requests outnumber the connections open or
//! coming. A connect that is not needed waits until it is (a connection closed, or more requests
//! arrived), or gives up after the connect timeout; by then its request has long been served by a
//! pooled connection, or the call budget has run out.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::sync::Notify;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Storage requests sent and not yet finished (response body read or dropped).
    in_flight: usize,
    /// Connections established and not yet closed, busy or idle in the pool.
    open: usize,
    /// Connects allowed to start and not yet finished.
    connecting: usize,
}

impl Counts {
    fn connect_needed(&self) -> bool {
        self.in_flight > self.open + self.connecting
    }
}

/// Where a connection goes: blob and queue endpoints are pooled, and so counted, apart.
type Destination = String;

fn destination(uri: &Uri) -> Destination {
    let scheme = uri.scheme_str().unwrap_or("");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    format!("{scheme}://{authority}")
}

/// The shared counts, and a signal for the connects waiting on them.
#[derive(Debug, Default)]
pub struct ConnectGate {
    counts: Mutex<HashMap<Destination, Counts>>,
    changed: Notify,
}

#[derive(Debug, thiserror::Error)]
#[error("no new storage connection was needed within {0:?}")]
pub struct NotNeeded(Duration);

impl ConnectGate {
    #[cfg(test)]
    fn counts(&self, to: &Uri) -> Counts {
        self.lock()
            .get(&destination(to))
            .copied()
            .unwrap_or_default()
    }

    /// Counts one storage request to `to` as in flight until the returned guard is dropped.
    pub fn request(self: &Arc<Self>, to: &Uri) -> InFlight {
        let to = destination(to);
        self.change(&to, |c| c.in_flight += 1);
        InFlight(Tally::new(self, to))
    }

    /// Waits until a new connection to `to` is needed, then counts it as under way.
    async fn admit(self: &Arc<Self>, to: &Uri, within: Duration) -> Result<Connecting, NotNeeded> {
        let to = destination(to);
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                // Registered before the check, so a change between the check and the wait wakes it.
                changed.as_mut().enable();
                {
                    let mut all = self.lock();
                    let counts = all.entry(to.clone()).or_default();
                    if counts.connect_needed() {
                        counts.connecting += 1;
                        return Connecting(Some(Tally::new(self, to.clone())));
                    }
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .map_err(|_| NotNeeded(within))
    }

    fn change(&self, to: &Destination, f: impl FnOnce(&mut Counts)) {
        {
            let mut all = self.lock();
            let counts = all.entry(to.clone()).or_default();
            f(counts);
            if *counts == Counts::default() {
                all.remove(to);
            }
        }
        self.changed.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Destination, Counts>> {
        // The counts stay consistent under a panic elsewhere: every change is one statement.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A gate and the destination a guard counts for.
#[derive(Debug)]
struct Tally {
    gate: Arc<ConnectGate>,
    to: Destination,
}

impl Tally {
    fn new(gate: &Arc<ConnectGate>, to: Destination) -> Self {
        Tally {
            gate: gate.clone(),
            to,
        }
    }

    fn change(&self, f: impl FnOnce(&mut Counts)) {
        self.gate.change(&self.to, f);
    }
}

/// One storage request in flight.
#[derive(Debug)]
pub struct InFlight(Tally);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.change(|c| c.in_flight -= 1);
    }
}

/// One connect under way; becomes an `Open` when it succeeds.
#[derive(Debug)]
struct Connecting(Option<Tally>);

impl Connecting {
    fn opened(mut self) -> Open {
        let tally = self.0.take().expect("a connect is counted once");
        tally.change(|c| {
            c.connecting -= 1;
            c.open += 1;
        });
        Open(tally)
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if let Some(tally) = self.0.take() {
            tally.change(|c| c.connecting -= 1);
        }
    }
}

/// One open connection, counted until its stream is dropped (closed by either side).
#[derive(Debug)]
struct Open(Tally);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.change(|c| c.open -= 1);
    }
}

/// A connector that asks the gate before it connects.
#[derive(Debug, Clone)]
pub struct GatedConnector<C> {
    inner: C,
    gate: Arc<ConnectGate>,
    wait_at_most: Duration,
}

impl<C> GatedConnector<C> {
    pub fn new(inner: C, gate: Arc<ConnectGate>, wait_at_most: Duration) -> Self {
        GatedConnector {
            inner,
            gate,
            wait_at_most,
        }
    }
}

impl<C> Service<Uri> for GatedConnector<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
    C::Response: Send,
{
    type Response = Counted<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // The ready inner connector is the one to call (tower's contract); a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let within = self.wait_at_most;
        Box::pin(async move {
            let connecting = gate.admit(&uri, within).await?;
            let stream = inner.call(uri).await.map_err(Into::into)?;
            Ok(Counted {
                inner: stream,
                _open: connecting.opened(),
            })
        })
    }
}

/// A connection's stream, counted as open while it lives.
#[derive(Debug)]
pub struct Counted<T> {
    inner: T,
    _open: Open,
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn blob() -> Uri {
        Uri::from_static("https://acct.blob.core.windows.net/c/b")
    }

    fn gate() -> Arc<ConnectGate> {
        Arc::new(ConnectGate::default())
    }

    fn waiting_admit(gate: &Arc<ConnectGate>, to: Uri) -> tokio::task::JoinHandle<bool> {
        let gate = gate.clone();
        tokio::spawn(async move { gate.admit(&to, SECOND * 10).await.is_ok() })
    }

    #[tokio::test]
    async fn a_connect_is_admitted_for_each_request_without_a_connection() {
        let gate = gate();
        let _a = gate.request(&blob());
        let _b = gate.request(&blob());
        let first = gate.admit(&blob(), SECOND).await.unwrap();
        let _second = gate.admit(&blob(), SECOND).await.unwrap();
        assert_eq!(gate.counts(&blob()).connecting, 2);
        let _open = first.opened();
        assert_eq!(
            gate.counts(&blob()),
            Counts {
                in_flight: 2,
                open: 1,
                connecting: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_surplus_connect_waits_and_gives_up() {
        let gate = gate();
        let _request = gate.request(&blob());
        let _connecting = gate.admit(&blob(), SECOND).await.unwrap();
        // One request, one connect under way: a second connect is not needed.
        let err = gate.admit(&blob(), SECOND * 2).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no new storage connection was needed")
        );
        assert_eq!(gate.counts(&blob()).connecting, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_connect_goes_ahead_when_a_connection_closes() {
        let gate = gate();
        let _request = gate.request(&blob());
        let open = gate.admit(&blob(), SECOND).await.unwrap().opened();
        let waiter = waiting_admit(&gate, blob());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(open); // storage closed the only connection while the request still needs one
        assert!(
            waiter.await.unwrap(),
            "admitted once the connection is gone"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_connect_goes_ahead_when_more_requests_arrive() {
        let gate = gate();
        let _first = gate.request(&blob());
        let _connecting = gate.admit(&blob(), SECOND).await.unwrap();
        let waiter = waiting_admit(&gate, blob());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let _second = gate.request(&blob());
        assert!(waiter.await.unwrap(), "admitted for the second request");
    }

    #[tokio::test(start_paused = true)]
    async fn connections_to_one_endpoint_do_not_count_for_another() {
        // The blob and queue endpoints of one account are pooled apart, as are two ports of a host.
        let gate = gate();
        let blob_request = gate.request(&blob());
        let _blob_idle = gate.admit(&blob(), SECOND).await.unwrap().opened();
        drop(blob_request); // its connection stays open, idle in the blob endpoint's pool
        for other in [
            "https://acct.queue.core.windows.net/q/messages",
            "https://acct.blob.core.windows.net:8443/c/b",
            "http://acct.blob.core.windows.net/c/b",
        ] {
            let other = Uri::from_static(other);
            let _request = gate.request(&other);
            let admitted = gate.admit(&other, SECOND).await;
            assert!(
                admitted.is_ok(),
                "{other} waited on the blob endpoint's connection"
            );
        }
        assert_eq!(gate.counts(&blob()).open, 1);
    }

    #[tokio::test]
    async fn a_failed_connect_and_a_finished_request_are_uncounted() {
        let gate = gate();
        let request = gate.request(&blob());
        drop(gate.admit(&blob(), SECOND).await.unwrap());
        drop(request);
        assert_eq!(gate.counts(&blob()), Counts::default());
        assert!(
            gate.lock().is_empty(),
            "no entry is kept for an idle endpoint"
        );
    }
}

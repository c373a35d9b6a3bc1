//! Opens a new connection to storage only when a request would otherwise be left without one.
//!
//! hyper's pooled client starts a new connection for every request that finds no idle one, and
//! races it against a pooled connection coming back; when the pooled one wins, the new connection
//! is still finished in the background and kept. Under a burst, while storage is slow to accept
//! (TLS handshakes queue on a busy endpoint), every request that arrives during the handshakes
//! starts one more, which makes the handshakes slower still: 16 concurrent calls opened 127
//! connections within 200 ms against Azurite. The gate counts the storage requests in flight, the
//! open connections and the connects under way, and lets a connect start only while requests
//! outnumber the connections open or coming. A connect that is not needed waits until it is (a
//! connection closed, or more requests arrived), or gives up after the connect timeout; by then
//! its request has long been served by a pooled connection, or the call budget has run out.

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

/// The shared counts, and a signal for the connects waiting on them.
#[derive(Debug, Default)]
pub struct ConnectGate {
    counts: Mutex<Counts>,
    changed: Notify,
}

#[derive(Debug, thiserror::Error)]
#[error("no new storage connection was needed within {0:?}")]
pub struct NotNeeded(Duration);

impl ConnectGate {
    #[cfg(test)]
    fn counts(&self) -> Counts {
        *self.lock()
    }

    /// Counts one storage request as in flight until the returned guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.change(|c| c.in_flight += 1);
        InFlight(self.clone())
    }

    /// Waits until a new connection is needed, then counts it as under way.
    async fn admit(self: &Arc<Self>, within: Duration) -> Result<Connecting, NotNeeded> {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                // Registered before the check, so a change between the check and the wait wakes it.
                changed.as_mut().enable();
                {
                    let mut counts = self.lock();
                    if counts.connect_needed() {
                        counts.connecting += 1;
                        return Connecting(Some(self.clone()));
                    }
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .map_err(|_| NotNeeded(within))
    }

    fn change(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.lock());
        self.changed.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent under a panic elsewhere: every change is one statement.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One storage request in flight.
#[derive(Debug)]
pub struct InFlight(Arc<ConnectGate>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.change(|c| c.in_flight -= 1);
    }
}

/// One connect under way; becomes an `Open` when it succeeds.
#[derive(Debug)]
struct Connecting(Option<Arc<ConnectGate>>);

impl Connecting {
    fn opened(mut self) -> Open {
        let gate = self.0.take().expect("a connect is counted once");
        gate.change(|c| {
            c.connecting -= 1;
            c.open += 1;
        });
        Open(gate)
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if let Some(gate) = self.0.take() {
            gate.change(|c| c.connecting -= 1);
        }
    }
}

/// One open connection, counted until its stream is dropped (closed by either side).
#[derive(Debug)]
struct Open(Arc<ConnectGate>);

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
            let connecting = gate.admit(within).await?;
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

    fn gate() -> Arc<ConnectGate> {
        Arc::new(ConnectGate::default())
    }

    #[tokio::test]
    async fn a_connect_is_admitted_for_each_request_without_a_connection() {
        let gate = gate();
        let _a = gate.request();
        let _b = gate.request();
        let first = gate.admit(Duration::from_secs(1)).await.unwrap();
        let _second = gate.admit(Duration::from_secs(1)).await.unwrap();
        assert_eq!(gate.counts().connecting, 2);
        let _open = first.opened();
        assert_eq!(
            gate.counts(),
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
        let _request = gate.request();
        let _connecting = gate.admit(Duration::from_secs(1)).await.unwrap();
        // One request, one connect under way: a second connect is not needed.
        let err = gate.admit(Duration::from_secs(2)).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no new storage connection was needed")
        );
        assert_eq!(gate.counts().connecting, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_connect_goes_ahead_when_a_connection_closes() {
        let gate = gate();
        let _request = gate.request();
        let open = gate.admit(Duration::from_secs(1)).await.unwrap().opened();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit(Duration::from_secs(10)).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(open); // storage closed the only connection while the request still needs one
        waiter
            .await
            .unwrap()
            .expect("admitted once the connection is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_connect_goes_ahead_when_more_requests_arrive() {
        let gate = gate();
        let _first = gate.request();
        let _connecting = gate.admit(Duration::from_secs(1)).await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit(Duration::from_secs(10)).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let _second = gate.request();
        waiter
            .await
            .unwrap()
            .expect("admitted for the second request");
    }

    #[tokio::test]
    async fn a_failed_connect_and_a_finished_request_are_uncounted() {
        let gate = gate();
        let request = gate.request();
        drop(gate.admit(Duration::from_secs(1)).await.unwrap());
        drop(request);
        assert_eq!(gate.counts(), Counts::default());
    }
}

//! The accept loop: serves each TCP connection with hyper's HTTP/1.1 server, and on shutdown stops
//! accepting, asks every connection to finish its current exchange, and waits for all of them.
//!
//! This replaces `axum::serve` because of what each idle connection (an open SSE stream above all)
//! holds there: `axum::serve` rebuilds the router for every connection (`Router::with_state` makes new
//! route maps, ~7 KiB each), and its HTTP-version sniffing hands hyper the first 24 bytes
//! separately, so hyper's read buffer grows from 8 to 16 KiB. Here the router is built once and shared,
//! and connections are HTTP/1.1 only: the Functions host, APIM and every MCP client speak HTTP/1.1 to
//! the handler, and `axum::serve` without axum's `http2` feature offered nothing else either.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pause after an accept error that is not about one connection (e.g. out of file descriptors),
/// so the loop does not spin while the process is at its limit.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` resolves, then waits until every connection has ended.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(serve_connection(stream, app.clone(), closing.clone()));
            }
            Err(e) => pause_after_accept_error(e).await,
        }
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// One connection: requests in order, until the client closes it or shutdown ends it between requests.
async fn serve_connection(stream: TcpStream, app: Router, closing: CancellationToken) {
    let service = TowerToHyperService::new(app);
    let mut connection =
        pin!(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = closing.cancelled() => {
            // Lets the exchange in progress finish (an SSE stream ends when the server's stop
            // token is cancelled), then closes instead of waiting for another request.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

async fn pause_after_accept_error(e: io::Error) {
    let one_connection = matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    );
    if !one_connection {
        tracing::error!(error = %e, "accept failed");
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }
}

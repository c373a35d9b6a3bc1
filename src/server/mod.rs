//! The accept loop: serves each TCP connection with hyper's HTTP/1.1 server, and on shutdown stops
//! accepting, asks every connection to finish its current exchange, and waits for all of them.
//!
//! This replaces `axum::serve` because of what each idle connection (an open SSE stream above all)
//! holds there: `axum::serve` rebuilds the router for every connection (`Router::with_state` makes new
//! route maps, ~7 KiB each), and its HTTP-version sniffing hands hyper the first 24 bytes
//! separately, so hyper's read buffer grows from 8 to 16 KiB. Here the router is built once and shared,
//! and connections are HTTP/1.1 only: the Functions host, APIM and every MCP client speak HTTP/1.1 to
//! the handler, and `axum::serve` without axum's `http2` feature offered nothing else either.
//! A long-lived response (an SSE stream) leaves hyper altogether once its head is out (`handover`).
//!
//! - `handover`: how a handler detaches its response body from hyper's connection;
//! - `chunked`: writes a detached body on the bare socket.

mod chunked;
mod handover;

pub use handover::Handover;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Version;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

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

/// One connection: requests in order, until the client closes it, shutdown ends it between requests,
/// or a handler detaches its response body (then the body is written here, without hyper).
async fn serve_connection(stream: TcpStream, app: Router, closing: CancellationToken) {
    let handover = Handover::new();
    let io = TokioIo::new(handover::HandoverIo::new(stream, handover.clone()));
    let offer = handover.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // The detached body is written chunked, which only HTTP/1.1 clients accept.
        if request.version() == Version::HTTP_11 {
            request.extensions_mut().insert(offer.clone());
        }
        app.clone().call(request)
    });
    // Boxed so that dropping it at a handover frees hyper's state while the body is still written.
    let mut connection = Box::pin(http1::Builder::new().serve_connection(io, service));
    let result = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = handover.detached() => None,
        () = closing.cancelled() => {
            // Lets the exchange in progress finish (an SSE stream ends when the server's stop
            // token is cancelled), then closes instead of waiting for another request.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => Some(result),
                () = handover.detached() => None,
            }
        }
    };
    drop(connection);
    if let Some(Err(e)) = result {
        tracing::trace!(error = %e, "connection ended with an error");
    }
    if let Some((stream, body)) = handover.take() {
        chunked::write_body(stream, body).await;
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

//! The request checks every MCP request passes before a transport sees it: `Host` (DNS rebinding),
//! `Origin` (cross-site browsers), the session token (a second line of defence behind the gateway),
//! and the in-flight count that lets a graceful shutdown wait for POSTs already accepted.
//!
//! - `host`: the allowed `Host` names;
//! - `origin`: the allowed `Origin` values;
//! - `session`: the `Authorization: Bearer <session token>` check;
//! - `scope`: per-tool authorization, from the scopes that token grants;
//! - this module: the one layer that runs the host and origin checks, holds the in-flight token and
//!   records the request (with telemetry).

pub mod host;
pub mod origin;
pub mod scope;
pub mod session;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;

use crate::telemetry::Telemetry;
use host::AllowedHosts;
use origin::AllowedOrigins;

/// What every MCP request passes first. One layer rather than one per check: each axum
/// `from_fn` layer clones the whole service stack below it on every request, which the profile
/// showed as a sixth of `hello_mcp`'s instructions when these were four layers.
pub struct Edge {
    pub hosts: AllowedHosts,
    pub origins: AllowedOrigins,
    /// Counts POSTs being handled and tool calls running, so shutdown can wait for them.
    pub inflight: TaskTracker,
    /// Records each request (refused ones too) when telemetry is on.
    pub telemetry: Telemetry,
}

/// `Host` check (DNS rebinding), then `Origin` check (cross-site browsers), then the request runs,
/// holding an in-flight token while a POST is handled so a drain cannot finish before its body is in.
pub async fn edge_checks(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let telemetry = edge.telemetry.clone();
    telemetry
        .around_request(request, |request| checked(edge, request, next))
        .await
}

async fn checked(edge: Arc<Edge>, request: Request, next: Next) -> Response {
    let checked = edge.hosts.check(request.headers());
    let checked = checked.and_then(|()| edge.origins.check(request.headers()));
    let mut response = match checked {
        Err(refusal) => (StatusCode::FORBIDDEN, refusal).into_response(),
        Ok(()) if request.method() == Method::POST => {
            let _token = edge.inflight.token();
            next.run(request).await
        }
        Ok(()) => next.run(request).await,
    };
    close_after_rejection(&mut response);
    response
}

/// A request refused before its body was read leaves unread bytes on the connection; saying
/// `Connection: close` lets the client know not to reuse it instead of meeting a reset.
fn close_after_rejection(response: &mut Response) {
    let early = [
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::PAYLOAD_TOO_LARGE,
    ];
    if early.contains(&response.status()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

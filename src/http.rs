//! The HTTP surface: readiness probe at `/`, SSE at `/sse` + `/message`, Streamable HTTP at `/mcp`.
//! Body limits and the Host and Origin checks apply to every MCP route.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::auth::{SessionAuth, require_session};
use crate::config::Config;
use crate::tools::SnippetTools;
use crate::transport::host_guard::{AllowedHosts, host_guard};
use crate::transport::origin_guard::{AllowedOrigins, origin_guard};
use crate::transport::sse_relay::Relay;
use crate::transport::{sse, streamable};
use std::sync::Arc;

/// Everything the HTTP surface is built from.
#[derive(Clone)]
pub struct AppState {
    pub config: Config,
    pub tools: SnippetTools,
    /// Counts POSTs being handled and tool calls running, so shutdown can wait for them.
    pub inflight: TaskTracker,
    /// Ends SSE streams once they have drained.
    pub stop: CancellationToken,
    /// Carries SSE requests between instances, when a queue service is configured.
    pub relay: Option<Arc<Relay>>,
}

pub fn router(state: AppState) -> Router {
    let AppState {
        config,
        tools,
        inflight,
        stop,
        relay,
    } = state;
    let sessions = sse::SseSessions::new(tools.clone(), stop, relay);
    let limit = config.max_body_bytes;
    let streamable = Router::new()
        .route("/mcp", any(streamable::endpoint))
        .with_state(streamable::Endpoint::new(tools, limit));
    let mut mcp = Router::new()
        .route("/sse", get(sse::open_stream))
        .route("/message", post(sse::post_message))
        .with_state(sessions)
        .merge(streamable);
    if let Some(keys) = &config.session_keys {
        let auth = SessionAuth::new(keys.clone(), config.resource_url.clone(), limit);
        mcp = mcp.layer(middleware::from_fn_with_state(auth, require_session));
    }
    let mcp = mcp
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(inflight, track_posts))
        .layer(middleware::from_fn_with_state(
            AllowedOrigins::new(config.allowed_origins.clone()),
            origin_guard,
        ))
        .layer(middleware::from_fn_with_state(
            AllowedHosts::new(config.allowed_hosts.clone()),
            host_guard,
        ))
        .layer(middleware::from_fn(close_after_rejection));
    Router::new()
        .route("/", get(ready).head(ready))
        .merge(mcp)
        .layer(TraceLayer::new_for_http())
}

/// Holds an in-flight token while a POST is handled, so a drain cannot finish before its body is in.
async fn track_posts(
    State(inflight): State<TaskTracker>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let _token = inflight.token();
    next.run(request).await
}

/// A request refused before its body was read leaves unread bytes on the connection; saying
/// `Connection: close` lets the client know not to reuse it instead of meeting a reset.
async fn close_after_rejection(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
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
    response
}

/// The Functions host probes this before routing traffic; it must answer at once, storage or not.
async fn ready() -> &'static str {
    "ok"
}

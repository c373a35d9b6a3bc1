//! The HTTP surface: readiness probe at `/`, SSE at `/sse` + `/message`, Streamable HTTP at `/mcp`.
//! Body limits and the Host check apply to every MCP route.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::auth::{SessionAuth, require_session};
use crate::config::Config;
use crate::tools::SnippetTools;
use crate::transport::host_guard::{AllowedHosts, host_guard};
use crate::transport::sse_relay::Relay;
use crate::transport::{jsonrpc, sse, streamable};
use std::sync::Arc;

/// `relay` carries SSE requests between instances (None: one instance only).
/// `stop` ends SSE streams and rmcp services; cancel it once in-flight tool calls have drained.
pub fn router(
    tools: SnippetTools,
    config: &Config,
    stop: CancellationToken,
    relay: Option<Arc<Relay>>,
) -> Router {
    let sessions = sse::SseSessions::new(tools.clone(), stop.clone(), relay);
    let limit = config.max_body_bytes;
    let streamable = Router::new()
        .route_service("/mcp", streamable::service(tools, limit, stop))
        .route_layer(middleware::from_fn(move |req, next| {
            jsonrpc::validate_post(limit, req, next)
        }));
    let mut mcp = Router::new()
        .route("/sse", get(sse::open_stream))
        .route("/message", post(sse::post_message))
        .with_state(sessions)
        .merge(streamable);
    if let Some(keys) = &config.session_keys {
        let auth = SessionAuth::new(keys.clone(), config.resource_url.clone());
        mcp = mcp.layer(middleware::from_fn_with_state(auth, require_session));
    }
    let mcp = mcp
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            AllowedHosts::new(config.allowed_hosts.clone()),
            host_guard,
        ));
    Router::new()
        .route("/", get(ready).head(ready))
        .merge(mcp)
        .layer(TraceLayer::new_for_http())
}

/// The Functions host probes this before routing traffic; it must answer at once, storage or not.
async fn ready() -> &'static str {
    "ok"
}

//! The HTTP surface: readiness probe at `/`, SSE at `/sse` + `/message`, Streamable HTTP at `/mcp`.
//! Body limits and the Host and Origin checks apply to every MCP route.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::auth::{SessionAuth, require_session};
use crate::config::Config;
use crate::tools::SnippetTools;
use crate::transport::host_guard::AllowedHosts;
use crate::transport::origin_guard::AllowedOrigins;
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
        .with_state(Arc::new(streamable::Endpoint::new(tools, limit)));
    let mut mcp = Router::new()
        .route("/sse", get(sse::open_stream))
        .route("/message", post(sse::post_message))
        .with_state(sessions)
        .merge(streamable);
    if let Some(keys) = &config.session_keys {
        let auth = SessionAuth::new(keys.clone(), config.resource_url.clone(), limit);
        mcp = mcp.layer(middleware::from_fn_with_state(auth, require_session));
    }
    let edge = Edge {
        hosts: AllowedHosts::new(config.allowed_hosts.clone()),
        origins: AllowedOrigins::new(config.allowed_origins.clone()),
        inflight,
    };
    let mcp = mcp
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(Arc::new(edge), edge_checks));
    Router::new()
        .route("/", get(ready).head(ready))
        .merge(mcp)
        .layer(TraceLayer::new_for_http())
}

/// What every MCP request passes first. One layer rather than one per check: each axum
/// `from_fn` layer clones the whole service stack below it on every request, which the profile
/// showed as a sixth of `hello_mcp`'s instructions when these were four layers.
struct Edge {
    hosts: AllowedHosts,
    origins: AllowedOrigins,
    /// Counts POSTs being handled and tool calls running, so shutdown can wait for them.
    inflight: TaskTracker,
}

/// `Host` check (DNS rebinding), then `Origin` check (cross-site browsers), then the request runs,
/// holding an in-flight token while a POST is handled so a drain cannot finish before its body is in.
async fn edge_checks(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
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

/// The Functions host probes this before routing traffic; it must answer at once, storage or not.
async fn ready() -> &'static str {
    "ok"
}

//! Streamable HTTP at `/mcp`, served by rmcp in stateless mode: any instance can answer any request.
//! JSON responses are preferred, so simple calls need no event stream through APIM. Each POST body
//! is read and parsed once here: stateless tool requests are answered directly (`direct`), the rest
//! go to rmcp, and a body rmcp refuses as undeserialisable gets a precise JSON-RPC 400.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::tools::SnippetTools;
use crate::transport::direct::{self, DirectTools};
use crate::transport::jsonrpc;

pub type Service = StreamableHttpService<SnippetTools, LocalSessionManager>;

/// No shutdown token is given to rmcp on purpose: cancelling it answers in-flight requests with 500,
/// while axum's graceful shutdown already waits for every open request to finish.
pub fn service(tools: SnippetTools, max_body_bytes: usize) -> Service {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .disable_allowed_hosts()
        .with_max_request_body_bytes(max_body_bytes);
    StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// What the `/mcp` POST middleware needs: the direct path and the body limit.
#[derive(Clone)]
pub struct PostState {
    pub direct: Arc<DirectTools>,
    pub max_body_bytes: usize,
}

/// Middleware for `/mcp`: reads the body once; answers stateless tool requests directly; hands
/// everything else (bytes unchanged) to rmcp, and turns rmcp's 415 for an undeserialisable body
/// into the JSON-RPC 400 clients expect.
pub async fn post(State(state): State<PostState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let message = match direct::parse_tools_request(&bytes) {
        Some(message) => Ok(message),
        None => jsonrpc::parse(&bytes),
    };
    let parts = match message {
        Ok(message) => match state.direct.answer(parts, message).await {
            Ok(response) => return response,
            Err((parts, _message)) => parts,
        },
        Err(_) => parts,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && let Err(rejected) = jsonrpc::parse(&bytes)
    {
        return rejected.into_response();
    }
    response
}

//! Streamable HTTP at `/mcp`, served by rmcp in stateless mode: any instance can answer any request.
//! JSON responses are preferred, so simple calls need no event stream through APIM. Each POST body
//! is read and parsed once here: a tool call the caller's scopes do not allow is refused
//! (`guard::scope`), stateless tool requests are answered on the fast path (`fast_path`), the rest
//! go to rmcp, and a body rmcp refuses as undeserialisable gets a precise JSON-RPC 400.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::guard::scope;
use crate::mcp::fast_path::{self, FastPath};
use crate::mcp::jsonrpc;
use crate::telemetry::{Telemetry, TraceContext};
use crate::tools::SnippetTools;

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

/// The `/mcp` endpoint: the fast path for stateless tool requests, rmcp for everything else.
/// A handler rather than a layer over rmcp's service, so a fast-path answer never clones that service
/// (its clone copies a cancellation token, which takes a lock); the router holds it in an `Arc`.
pub struct Endpoint {
    fast_path: Arc<FastPath>,
    rmcp: Service,
    max_body_bytes: usize,
    /// Where a call refused for its scope is audited.
    telemetry: Telemetry,
}

impl Endpoint {
    pub fn new(tools: SnippetTools, max_body_bytes: usize, telemetry: Telemetry) -> Self {
        Endpoint {
            fast_path: Arc::new(FastPath::new(tools.clone())),
            rmcp: service(tools, max_body_bytes),
            max_body_bytes,
            telemetry,
        }
    }

    async fn to_rmcp(&self, request: Request) -> Response {
        self.rmcp.handle(request).await.map(Body::new)
    }
}

/// Every method on `/mcp`. A POST body is read once: stateless tool requests are answered
/// directly; everything else goes to rmcp with the bytes unchanged, and rmcp's 415 for an
/// undeserialisable body becomes the JSON-RPC 400 clients expect.
pub async fn endpoint(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    if request.method() != Method::POST {
        return endpoint.to_rmcp(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, endpoint.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let message = match fast_path::parse_tools_request(&bytes) {
        Some(message) => Ok(message),
        None => jsonrpc::parse(&bytes),
    };
    // The body is parsed once: a body that is no JSON-RPC message keeps its rejection for the
    // case rmcp refuses it as undeserialisable (its 415).
    let (parts, rejected) = match message {
        Ok(message) => {
            let audit = scope::Audit {
                telemetry: &endpoint.telemetry,
                request_span: parts.extensions.get::<TraceContext>(),
            };
            if let Some(refused) = scope::refusal(parts.extensions.get(), &message, audit) {
                return refused;
            }
            match endpoint.fast_path.answer(parts, message).await {
                Ok(response) => return response,
                Err((parts, _message)) => (parts, None),
            }
        }
        Err(rejected) => (parts, Some(rejected)),
    };
    let response = endpoint
        .to_rmcp(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match rejected {
        Some(rejected) if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            rejected.into_response()
        }
        _ => response,
    }
}

//! Streamable HTTP at `/mcp`, served by rmcp in stateless mode: any instance can answer any request.
//! JSON responses are preferred, so simple calls need no event stream through APIM.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

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

//! The composition root: builds the whole server from a `Config`, in one place, for `main` and for
//! every test that needs a real server. It creates the storage clients once (the snippet store and the
//! SSE relay share their connection pool and token cache), the tools, the transports and the request
//! checks, and hands back the router plus what the caller must own: the in-flight tracker and stop
//! token for a graceful shutdown, and the relay to close at the end.
//!
//! Routes: the readiness probe at `/`, SSE at `/sse` + `/message`, Streamable HTTP at `/mcp`. Body
//! limits, the `Host` and `Origin` checks and (with keys) the session-token check apply to every
//! MCP route.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{any, get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::guard::host::AllowedHosts;
use crate::guard::origin::AllowedOrigins;
use crate::guard::session::{SessionAuth, require_session};
use crate::guard::{Edge, edge_checks};
use crate::mcp::sse::relay::Relay;
use crate::mcp::sse::{self, SseTransport};
use crate::mcp::streamable;
use crate::snippets::{BlobStore, NamespaceMode, StoreLimits};
use crate::storage::{ClientError, StorageClients};
use crate::telemetry::{ExporterError, Telemetry};
use crate::tools::SnippetTools;

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("storage client: {0}")]
    Storage(#[from] ClientError),
    #[error(transparent)]
    Telemetry(#[from] ExporterError),
}

/// A built server: serve `router`, then on shutdown drain `inflight`, cancel `stop` and close the relay.
pub struct App {
    pub router: Router,
    /// Counts POSTs being handled and tool calls running, so shutdown can wait for them.
    pub inflight: TaskTracker,
    /// Ends SSE streams once they have drained.
    pub stop: CancellationToken,
    /// Carries SSE requests between instances, when a queue service is configured.
    pub relay: Option<Arc<Relay>>,
    /// Flushed at shutdown.
    pub telemetry: Telemetry,
}

impl App {
    /// Must run inside the tokio runtime (the transports spawn their background tasks here).
    pub fn build(config: &Config) -> Result<App, AppError> {
        let telemetry = Telemetry::start(config.telemetry.as_ref())?;
        let clients = config
            .storage
            .as_ref()
            .map(|storage| StorageClients::with_telemetry(storage, telemetry.clone()))
            .transpose()?;
        let store = match &clients {
            Some(clients) => Some(Arc::new(snippet_store(config, clients)?)),
            None => {
                tracing::warn!(
                    "no storage configured (AzureWebJobsStorage): snippet tools will report an error"
                );
                None
            }
        };
        let relay = match &clients {
            Some(clients) if config.relay.enabled => {
                Relay::new(clients, config.relay.stale_after).map(Arc::new)
            }
            _ => None,
        };
        if relay.is_none() {
            tracing::info!(
                "SSE relay off: an SSE session is reachable only on the instance that holds its stream"
            );
        }
        log_namespace(config);
        let inflight = TaskTracker::new();
        let stop = CancellationToken::new();
        let tools = SnippetTools::new(store, inflight.clone(), config.namespace)
            .with_telemetry(telemetry.clone());
        let sse = SseTransport::new(
            tools.clone(),
            stop.clone(),
            config.sse,
            relay.clone(),
            telemetry.clone(),
        );
        let router = router(config, tools, sse, inflight.clone(), telemetry.clone());
        Ok(App {
            router,
            inflight,
            stop,
            relay,
            telemetry,
        })
    }
}

fn snippet_store(config: &Config, clients: &StorageClients) -> Result<BlobStore, ClientError> {
    let container = clients.container(&config.container)?;
    tracing::info!(endpoint = %clients.blob_endpoint(), container = %config.container, "blob storage configured");
    let limits = StoreLimits {
        max_snippet_bytes: config.limits.max_snippet_bytes,
        call_budget: clients.budget(),
    };
    Ok(BlobStore::new(container, limits))
}

fn log_namespace(config: &Config) {
    match config.namespace {
        NamespaceMode::User => tracing::info!(
            "SNIPPETS_NAMESPACE=user: each signed-in user sees only their own snippets"
        ),
        NamespaceMode::Shared if config.session_keys.is_none() => tracing::warn!(
            "SNIPPETS_NAMESPACE=shared: no session-token keys (SESSION_TOKEN_ENC_KEY/SESSION_TOKEN_MAC_KEY), so callers cannot be told apart and share one snippet store"
        ),
        NamespaceMode::Shared => tracing::info!(
            "SNIPPETS_NAMESPACE=shared: every signed-in user shares one snippet store"
        ),
    }
}

fn router(
    config: &Config,
    tools: SnippetTools,
    sse: SseTransport,
    inflight: TaskTracker,
    telemetry: Telemetry,
) -> Router {
    let body_limit = config.limits.max_body_bytes;
    let streamable = Router::new()
        .route("/mcp", any(streamable::endpoint))
        .with_state(Arc::new(streamable::Endpoint::new(
            tools,
            body_limit,
            telemetry.clone(),
        )));
    let mut mcp = Router::new()
        .route("/sse", get(sse::open_stream))
        .route("/message", post(sse::post_message))
        .with_state(sse)
        .merge(streamable);
    if let Some(keys) = &config.session_keys {
        let auth = SessionAuth::new(keys.clone(), config.resource_url.clone(), body_limit);
        mcp = mcp.layer(middleware::from_fn_with_state(auth, require_session));
    }
    let edge = Edge {
        hosts: AllowedHosts::new(config.allowed_hosts.clone()),
        origins: AllowedOrigins::new(config.allowed_origins.clone()),
        inflight,
        telemetry,
    };
    let mcp = mcp
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(Arc::new(edge), edge_checks));
    Router::new()
        .route("/", get(ready).head(ready))
        .merge(mcp)
        .layer(TraceLayer::new_for_http())
}

/// The Functions host probes this before routing traffic; it must answer at once, storage or not.
async fn ready() -> &'static str {
    "ok"
}

//! Entry point of `snippets-mcp`: configuration, storage client, HTTP server, graceful shutdown.
//! Exit codes: 0 after a clean shutdown, 2 for configuration errors, 1 for other start-up failures.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use snippets_mcp::config::Config;
use snippets_mcp::snippets::BlobStore;
use snippets_mcp::storage::container_client;
use snippets_mcp::tools::SnippetTools;
use snippets_mcp::transport::sse_relay::Relay;
use snippets_mcp::{http, shutdown, telemetry};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_process() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("snippets-mcp: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snippets-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let store = match &config.storage {
        Some(storage) => {
            let client = container_client(storage, &config.container).context("storage client")?;
            tracing::info!(endpoint = %storage.blob_endpoint, container = %config.container, "blob storage configured");
            Some(Arc::new(BlobStore::new(
                client,
                config.max_snippet_bytes,
                storage.budget,
            )))
        }
        None => {
            tracing::warn!(
                "no storage configured (AzureWebJobsStorage): snippet tools will report an error"
            );
            None
        }
    };
    let inflight = TaskTracker::new();
    let stop = CancellationToken::new();
    let relay = match (&config.storage, config.sse_relay) {
        (Some(storage), true) => Relay::new(storage, config.sse_relay_stale_after).map(Arc::new),
        _ => None,
    };
    if relay.is_none() {
        tracing::info!(
            "SSE relay off: an SSE session is reachable only on the instance that holds its stream"
        );
    }
    let tools = SnippetTools::new(store, inflight.clone());
    let app = http::router(
        tools,
        &config,
        inflight.clone(),
        stop.clone(),
        relay.clone(),
    );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
    tracing::info!(
        port = config.port,
        "listening on http://127.0.0.1:{}",
        config.port
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown::on_signal(inflight, stop))
        .await
        .context("server error")?;
    if let Some(relay) = relay {
        relay.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

//! Entry point of `snippets-mcp`: configuration, the app (see `app`), the socket server, graceful shutdown.
//! Exit codes: 0 after a clean shutdown, 2 for configuration errors, 1 for other start-up failures.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use anyhow::Context;
use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use snippets_mcp::{server, shutdown, telemetry};

/// mimalloc instead of the system allocator: a storage call makes a few hundred small allocations
/// (the SDK's headers, URLs and pipeline futures), and glibc's malloc and free were a quarter of
/// its instructions in the profile; mimalloc cuts a call's instructions by about a fifth. Built
/// without transparent huge pages (`no_thp`): with them its arenas added ~8 MB to the idle RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What shutdown gives the last telemetry batch; the Functions host waits longer than the drain
/// and this together.
const TELEMETRY_FLUSH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_process() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("snippets-mcp: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snippets-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = App::build(&config)?;
    let port = config.port;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    tracing::info!(port, "listening on http://127.0.0.1:{port}");
    let shutdown = shutdown::on_signal(app.inflight.clone(), app.stop.clone());
    server::serve(listener, app.router, shutdown).await;
    if let Some(relay) = app.relay {
        relay.close().await;
    }
    app.telemetry.flush(TELEMETRY_FLUSH_DEADLINE).await;
    tracing::info!("stopped");
    Ok(())
}

//! Graceful shutdown: stop accepting, let in-flight tool calls finish, then close SSE streams.
//! Streams never end on their own, so they are closed last, after the drain or a deadline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long in-flight calls may take once shutdown starts; the Functions host allows more.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// Resolves on SIGTERM or SIGINT, then drains `inflight` and cancels `stop`.
pub async fn on_signal(inflight: TaskTracker, stop: CancellationToken) {
    wait_for_signal().await;
    tracing::info!("shutdown requested: draining in-flight calls");
    drain(inflight, stop).await;
}

pub async fn drain(inflight: TaskTracker, stop: CancellationToken) {
    inflight.close();
    if tokio::time::timeout(DRAIN_DEADLINE, inflight.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            pending = inflight.len(),
            "drain deadline passed; closing anyway"
        );
    }
    stop.cancel();
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

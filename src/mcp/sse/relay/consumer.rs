//! Feeds requests relayed from other instances into this process's sessions while any stream is open.
//! It idles (no queue polling) until a stream opens and while none is open, and backs off when the
//! queue stays empty. The first opened stream also creates this instance's queue and starts the
//! relay's housekeeping.

use std::sync::Arc;
use std::time::Duration;

use super::{Relay, housekeeping};
use crate::mcp::sse::sessions::{SseSessions, Undelivered};
use crate::telemetry::Telemetry;

/// Poll interval bounds: quick after traffic, slower when the queue stays empty.
pub const POLL_MIN: Duration = Duration::from_millis(25);
pub const POLL_MAX: Duration = Duration::from_millis(500);

/// Runs until the sessions' stop token is cancelled.
pub async fn run(sessions: SseSessions, relay: Arc<Relay>, telemetry: Telemetry) {
    let stop = sessions.stop().clone();
    tokio::select! {
        () = sessions.opened() => {}
        () = stop.cancelled() => return,
    }
    if let Err(e) = relay.ensure_queue().await {
        tracing::warn!(error = %e, "SSE relay queue unavailable; sessions work on this instance only");
        return;
    }
    let upkeep = Arc::clone(&relay);
    let upkeep_stop = stop.clone();
    tokio::spawn(async move { housekeeping::run(&upkeep, upkeep_stop).await });
    let mut pause = POLL_MIN;
    while !stop.is_cancelled() {
        if sessions.is_empty() {
            tokio::select! { () = sessions.opened() => {}, () = stop.cancelled() => break }
            continue;
        }
        let received = tokio::select! {
            r = relay.receive() => r,
            () = stop.cancelled() => break,
        };
        match received {
            Ok(batch) if !batch.is_empty() => {
                pause = POLL_MIN;
                telemetry.relayed_messages(batch.len());
                for relayed in batch {
                    // Only the subject that opened the session may feed it, exactly as for a local
                    // `POST /message`.
                    let message = Box::new(relayed.message);
                    let caller = relayed.caller.as_deref();
                    if let Err(Undelivered::NotYours | Undelivered::NotHere(_)) =
                        sessions.deliver(&relayed.session, caller, message).await
                    {
                        tracing::debug!(session = %relayed.session, "relayed request for a closed or foreign session dropped");
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SSE relay receive failed"),
        }
        tokio::select! { () = tokio::time::sleep(pause) => {}, () = stop.cancelled() => break }
        pause = (pause * 2).min(POLL_MAX);
    }
}

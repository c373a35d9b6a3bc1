//! Feeds requests relayed from other instances into this process's sessions, while any stream is open.
//! It idles (no queue polling) while no stream is open, and backs off when the queue stays empty.

use std::sync::atomic::Ordering;

use rmcp::model::ClientJsonRpcMessage;

use super::registry::{Lookup, SseSessions};
use crate::transport::sse_relay::{self, Relay};

impl SseSessions {
    /// Starts the consumer once, on the first stream opened while a relay is configured.
    pub(super) fn start_relay_consumer(&self) {
        let Some(relay) = self.inner.relay.clone() else {
            return;
        };
        if self.inner.consumer_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let sessions = self.clone();
        tokio::spawn(async move {
            if let Err(e) = relay.ensure_queue().await {
                tracing::warn!(error = %e, "SSE relay queue unavailable; sessions work on this instance only");
                return;
            }
            sessions.consume(&relay).await;
        });
    }

    async fn consume(&self, relay: &Relay) {
        let stop = &self.inner.stop;
        let mut pause = sse_relay::POLL_MIN;
        while !stop.is_cancelled() {
            if self.is_empty() {
                tokio::select! { _ = self.inner.opened.notified() => {}, _ = stop.cancelled() => break }
                continue;
            }
            let received = tokio::select! {
                r = relay.receive() => r,
                _ = stop.cancelled() => break,
            };
            match received {
                Ok(batch) if !batch.is_empty() => {
                    pause = sse_relay::POLL_MIN;
                    for (envelope, message) in batch {
                        self.deliver(envelope, message).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SSE relay receive failed"),
            }
            tokio::select! { _ = tokio::time::sleep(pause) => {}, _ = stop.cancelled() => break }
            pause = (pause * 2).min(sse_relay::POLL_MAX);
        }
    }

    /// Only the subject that opened the session may feed it, exactly as for a local `POST /message`.
    async fn deliver(&self, envelope: sse_relay::Envelope, message: ClientJsonRpcMessage) {
        match self.lookup(&envelope.session, envelope.caller.as_deref()) {
            Lookup::Here(sender) => {
                let _ = sender.send(Box::new(message)).await;
            }
            _ => {
                tracing::debug!(session = %envelope.session, "relayed request for a closed or foreign session dropped")
            }
        }
    }
}

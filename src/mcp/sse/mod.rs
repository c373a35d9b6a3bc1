//! The legacy HTTP+SSE transport (MCP 2024-11-05): `GET /sse` streams replies, `POST /message` takes requests.
//! Current rmcp ships no SSE server, so each stream is bridged to an rmcp service over two channels.
//!
//! - `session_id`: the session ids, which name the instance holding each stream;
//! - `sessions`: the open sessions of this process and who opened each;
//! - `bridge`: runs one session's rmcp service over its channels;
//! - `relay`: carries requests to the instance that holds their stream, through Storage queues;
//! - `handlers`: the two HTTP endpoints.

mod bridge;
mod handlers;
pub mod relay;
pub mod session_id;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use handlers::{open_stream, post_message};
use relay::Relay;
use session_id::InstanceId;
use sessions::SseSessions;

use crate::config::SseLimits;
use crate::telemetry::Telemetry;
use crate::tools::SnippetTools;

/// Keep-alive comments keep idle streams open through APIM and load balancers (at most 15 s apart).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the two endpoints share: the tools, this process's sessions and the relay, when configured.
#[derive(Clone)]
pub struct SseTransport {
    tools: SnippetTools,
    sessions: SseSessions,
    relay: Option<Arc<Relay>>,
    telemetry: Telemetry,
}

impl SseTransport {
    /// With a relay, the relay's consumer is started too (it idles until the first stream opens);
    /// must run inside the tokio runtime.
    pub fn new(
        tools: SnippetTools,
        stop: CancellationToken,
        limits: SseLimits,
        relay: Option<Arc<Relay>>,
        telemetry: Telemetry,
    ) -> Self {
        let instance = relay
            .as_ref()
            .map_or_else(InstanceId::new, |r| r.instance().clone());
        let sessions = SseSessions::new(instance, stop, limits, telemetry.clone());
        if let Some(relay) = &relay {
            let consumer =
                relay::consumer::run(sessions.clone(), Arc::clone(relay), telemetry.clone());
            tokio::spawn(consumer);
        }
        SseTransport {
            tools,
            sessions,
            relay,
            telemetry,
        }
    }

    pub fn sessions(&self) -> &SseSessions {
        &self.sessions
    }
}

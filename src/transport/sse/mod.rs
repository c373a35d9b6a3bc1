//! The legacy HTTP+SSE transport (MCP 2024-11-05): `GET /sse` streams replies, `POST /message` takes requests.
//! Current rmcp ships no SSE server, so each stream is bridged to an rmcp service over two channels.
//!
//! - `registry`: the open sessions of this process and who opened each;
//! - `bridge`: runs one session's rmcp service over its channels;
//! - `relay_consumer`: feeds requests relayed from other instances into local sessions;
//! - `handlers`: the two HTTP endpoints.

mod bridge;
mod handlers;
mod registry;
mod relay_consumer;

use std::time::Duration;

pub use handlers::{open_stream, post_message};
pub use registry::SseSessions;

/// Keep-alive comments keep idle streams open through APIM and load balancers (at most 15 s apart).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

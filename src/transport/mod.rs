//! The HTTP transports that carry MCP: legacy HTTP+SSE (`/sse` + `/message`) and Streamable HTTP (`/mcp`).
//! Both serve the same `SnippetTools`; `host_guard` and `origin_guard` protect both against DNS
//! rebinding and cross-site requests from browsers.

pub mod direct;
pub mod host_guard;
pub mod jsonrpc;
pub mod origin_guard;
pub mod sse;
pub mod sse_relay;
pub mod streamable;

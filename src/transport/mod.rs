//! The HTTP transports that carry MCP: legacy HTTP+SSE (`/sse` + `/message`) and Streamable HTTP (`/mcp`).
//! Both serve the same `SnippetTools`; `host_guard` protects both against DNS rebinding.

pub mod host_guard;
pub mod jsonrpc;
pub mod sse;
pub mod sse_relay;
pub mod streamable;

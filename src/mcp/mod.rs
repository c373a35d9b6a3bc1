//! The MCP endpoints, as thin shells over the tools: Streamable HTTP at `/mcp` (with its fast path for
//! stateless tool requests) and the legacy HTTP+SSE transport at `/sse` + `/message`.
//!
//! - `jsonrpc`: one parser of request bodies for both transports, with precise 400s;
//! - `streamable`: `/mcp`, served by rmcp in stateless mode;
//! - `fast_path`: stateless `tools/list` and `tools/call` answered in the request's own task;
//! - `sse`: the SSE transport, its sessions and the relay between instances.

pub mod fast_path;
pub mod jsonrpc;
pub mod sse;
pub mod streamable;

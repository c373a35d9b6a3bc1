//! snippets-mcp: a remote MCP server that keeps code snippets in Azure Blob Storage.
//! Runs as an Azure Functions custom handler behind API Management; see README.md.
//!
//! Where things live, from the outside in:
//!
//! - `app`: the composition root; builds the router and what shutdown needs from a `Config`;
//! - `server`: the socket server (accept loop, graceful close, SSE bodies written off hyper);
//! - `guard`: the request checks every MCP request passes (host, origin, session token, in-flight);
//! - `mcp`: the MCP endpoints (Streamable HTTP with its fast path, JSON-RPC parsing, SSE and its
//!   relay between instances);
//! - `tools`: the MCP tools themselves;
//! - `snippets`: the snippet store (names, namespaces, blobs, errors);
//! - `storage`: storage settings, the SDK clients and their HTTP client, the bounded storage call;
//! - `config` and `settings`: the process configuration, read once, and its typed reader;
//! - `telemetry`: logging; `shutdown`: the signal and the drain.

pub mod app;
pub mod config;
pub mod guard;
pub mod mcp;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod snippets;
pub mod storage;
pub mod telemetry;
pub mod tools;

//! snippets-mcp: a remote MCP server that keeps code snippets in Azure Blob Storage.
//! Runs as an Azure Functions custom handler behind API Management; see README.md.

pub mod auth;
pub mod config;
pub mod http;
pub mod serve;
pub mod shutdown;
pub mod snippets;
pub mod storage;
pub mod telemetry;
pub mod tools;
pub mod transport;

//! Names of the gateway's audit record: after the session token is verified, the MCP API policy
//! writes a `trace` naming the caller (the token's subject and client id, never the token), which
//! API Management puts in its gateway log (`TraceRecords` of `ApiManagementGatewayLogs`) and, with
//! Application Insights, in `AppTraces`. The Bicep's diagnostics and the KQL in docs/operations.md
//! read these names.

/// The trace's `source`.
pub const TRACE_SOURCE: &str = "mcp-audit";
/// Metadata property holding the verified subject (the user's Entra object id).
pub const METADATA_SUBJECT: &str = "mcp-subject";
/// Metadata property holding the verified OAuth client id.
pub const METADATA_CLIENT_ID: &str = "mcp-client-id";

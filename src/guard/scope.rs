//! Per-tool authorization: a tool call needs the scope its tool requires (`session_token::scope`)
//! in the verified token's `scp`, or it is refused before any tool runs with MCP's runtime
//! insufficient-scope answer: HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//! scope="...", resource_metadata="..."`, so a client can ask for more (step up). The gateway
//! checks the same where it can; this check holds for every path, whatever the gateway did.
//! Without session-token keys (no claims) nothing is checked, as no token is. A refused call is
//! in the audit trail as any refused tool call: outcome `refused`, prefix `insufficient scope`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcRequest, RequestId};
use session_token::Claims;
use session_token::scope::{
    JSONRPC_INSUFFICIENT_SCOPE_CODE, challenge_scope, grants, required_for_tool,
};

use crate::guard::session::resource_metadata_url;
use crate::telemetry::{Outcome, Telemetry, ToolCall, TraceContext, tool_name};

/// Where a refusal is recorded: the telemetry handle and the HTTP request's span, if any.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    pub telemetry: &'a Telemetry,
    pub request_span: Option<&'a TraceContext>,
}

/// The 403 for a tool call the caller's token does not allow, or `None` when it may go on.
pub fn refusal(
    claims: Option<&Claims>,
    message: &ClientJsonRpcMessage,
    audit: Audit<'_>,
) -> Option<Response> {
    let claims = claims?;
    let call = tool_call(message)?;
    let required = required_for_tool(call.tool);
    if grants(&claims.scp, required) {
        return None;
    }
    tracing::info!(
        tool = call.tool,
        required,
        "tool call refused: insufficient scope"
    );
    let text = format!("insufficient scope: {} needs {required}", call.tool);
    record(audit, claims, &call, &text);
    Some(insufficient_scope(claims, call.id, &text, required))
}

/// A `tools/call` request: its id, tool and arguments.
struct Call<'a> {
    id: &'a RequestId,
    tool: &'a str,
    arguments: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

fn tool_call(message: &ClientJsonRpcMessage) -> Option<Call<'_>> {
    match message {
        ClientJsonRpcMessage::Request(JsonRpcRequest {
            id,
            request: ClientRequest::CallToolRequest(call),
            ..
        }) => Some(Call {
            id,
            tool: call.params.name.as_ref(),
            arguments: call.params.arguments.as_ref(),
        }),
        _ => None,
    }
}

/// The refused call in the audit trail, under the request's span; an unknown tool (no tool ran,
/// nothing to audit) or telemetry off records nothing.
fn record(audit: Audit<'_>, claims: &Claims, call: &Call<'_>, text: &str) {
    let (Some(tool), Some(parent)) = (tool_name(call.tool), audit.request_span) else {
        return;
    };
    audit.telemetry.tool_call(ToolCall {
        tool,
        snippet: call
            .arguments
            .and_then(|a| a.get("snippetname"))
            .and_then(|v| v.as_str()),
        outcome: Outcome::Refused,
        error: Some(text),
        user: Some(&claims.sub),
        client: Some(&claims.cid),
        span: &parent.child(),
        start: std::time::SystemTime::now(),
        duration: std::time::Duration::ZERO,
    });
}

fn insufficient_scope(claims: &Claims, id: &RequestId, text: &str, required: &str) -> Response {
    let mut value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
        challenge_scope(&claims.scp, required)
    );
    if let Some(metadata) = resource_metadata_url(&claims.aud) {
        value.push_str(&format!(", resource_metadata=\"{metadata}\""));
    }
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": JSONRPC_INSUFFICIENT_SCOPE_CODE,
            "message": text,
            "data": { "requiredScope": required },
        },
    });
    let mut response = (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    // The scope and audience come from a token sealed by the gateway, but a header value is
    // checked anyway: an unrepresentable one loses its challenge rather than the response.
    if let Ok(challenge) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_with(scp: Option<&str>) -> Option<Claims> {
        scp.map(|scp| Claims {
            sid: Claims::new_session_id(),
            sub: "user-1".into(),
            cid: "client-1".into(),
            scp: scp.into(),
            aud: "https://gw.example/mcp".into(),
            iat: 0,
            exp: i64::MAX,
        })
    }

    /// The check with telemetry off (the audit record is tested end to end, with a receiver).
    fn check(claims: Option<&Claims>, message: &ClientJsonRpcMessage) -> Option<Response> {
        let telemetry = Telemetry::default();
        let audit = Audit {
            telemetry: &telemetry,
            request_span: None,
        };
        refusal(claims, message, audit)
    }

    fn call(tool: &str) -> ClientJsonRpcMessage {
        serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": tool, "arguments": {}},
        }))
        .unwrap()
    }

    #[test]
    fn a_reader_may_read_but_not_write() {
        let reader = claims_with(Some("snippets.read"));
        for tool in ["hello_mcp", "list_snippets", "get_snippet"] {
            assert!(check(reader.as_ref(), &call(tool)).is_none(), "{tool}");
        }
        for tool in ["save_snippet", "delete_snippet"] {
            let response = check(reader.as_ref(), &call(tool)).expect(tool);
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert_eq!(
                response.headers()[header::WWW_AUTHENTICATE],
                "Bearer error=\"insufficient_scope\", scope=\"snippets.read snippets.write\", \
                 resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\""
            );
        }
    }

    #[test]
    fn a_writer_may_do_everything_and_no_token_is_not_checked() {
        let writer = claims_with(Some("snippets.read snippets.write"));
        let unchecked = claims_with(None);
        for tool in ["hello_mcp", "save_snippet", "delete_snippet", "get_snippet"] {
            assert!(check(writer.as_ref(), &call(tool)).is_none(), "{tool}");
            assert!(check(unchecked.as_ref(), &call(tool)).is_none(), "{tool}");
        }
    }

    #[test]
    fn other_methods_need_no_scope_and_a_legacy_scope_grants_nothing() {
        let list: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .unwrap();
        assert!(check(claims_with(Some("")).as_ref(), &list).is_none());
        let legacy = claims_with(Some("mcp.tools"));
        assert!(check(legacy.as_ref(), &call("hello_mcp")).is_some());
    }

    #[tokio::test]
    async fn the_refusal_is_a_json_rpc_error_for_the_request() {
        let response = check(
            claims_with(Some("snippets.read")).as_ref(),
            &call("save_snippet"),
        )
        .unwrap();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], JSONRPC_INSUFFICIENT_SCOPE_CODE);
        assert_eq!(body["error"]["data"]["requiredScope"], "snippets.write");
    }
}

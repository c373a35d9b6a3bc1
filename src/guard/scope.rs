//! Per-tool authorization: a tool call needs the scope its tool requires (`session_token::scope`)
//! in the verified token's `scp`, or it is refused before any tool runs with MCP's runtime
//! insufficient-scope answer: HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//! scope="...", resource_metadata="..."`, so a client can ask for more (step up). The gateway
//! checks the same where it can; this check holds for every path, whatever the gateway did.
//! Without session-token keys (no claims) nothing is checked, as no token is.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcRequest, RequestId};
use session_token::Claims;
use session_token::scope::{
    JSONRPC_INSUFFICIENT_SCOPE_CODE, challenge_scope, grants, required_for_tool,
};

use crate::guard::session::resource_metadata_url;

/// The 403 for a tool call the caller's token does not allow, or `None` when it may go on.
pub fn refusal(claims: Option<&Claims>, message: &ClientJsonRpcMessage) -> Option<Response> {
    let claims = claims?;
    let (id, tool) = tool_call(message)?;
    let required = required_for_tool(tool);
    if grants(&claims.scp, required) {
        return None;
    }
    tracing::info!(tool, required, "tool call refused: insufficient scope");
    Some(insufficient_scope(claims, id, tool, required))
}

/// The id and tool name of a `tools/call` request.
fn tool_call(message: &ClientJsonRpcMessage) -> Option<(&RequestId, &str)> {
    match message {
        ClientJsonRpcMessage::Request(JsonRpcRequest {
            id,
            request: ClientRequest::CallToolRequest(call),
            ..
        }) => Some((id, call.params.name.as_ref())),
        _ => None,
    }
}

fn insufficient_scope(claims: &Claims, id: &RequestId, tool: &str, required: &str) -> Response {
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
            "message": format!("insufficient scope: {tool} needs {required}"),
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
            assert!(refusal(reader.as_ref(), &call(tool)).is_none(), "{tool}");
        }
        for tool in ["save_snippet", "delete_snippet"] {
            let response = refusal(reader.as_ref(), &call(tool)).expect(tool);
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
            assert!(refusal(writer.as_ref(), &call(tool)).is_none(), "{tool}");
            assert!(refusal(unchecked.as_ref(), &call(tool)).is_none(), "{tool}");
        }
    }

    #[test]
    fn other_methods_need_no_scope_and_a_legacy_scope_grants_nothing() {
        let list: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .unwrap();
        assert!(refusal(claims_with(Some("")).as_ref(), &list).is_none());
        let legacy = claims_with(Some("mcp.tools"));
        assert!(refusal(legacy.as_ref(), &call("hello_mcp")).is_some());
    }

    #[tokio::test]
    async fn the_refusal_is_a_json_rpc_error_for_the_request() {
        let response = refusal(
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

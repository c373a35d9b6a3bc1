//! One place that turns a request body into a JSON-RPC message or a precise 400, for both transports.
//! rmcp alone answers malformed bodies on `/mcp` with 415 and plain text; clients expect a JSON-RPC 400.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::json;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// A body that is not a JSON-RPC message; answered with HTTP 400 and a JSON-RPC error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub code: i64,
    pub message: &'static str,
}

/// Parses one JSON-RPC 2.0 message; the rejection says which of the two JSON-RPC codes applies.
pub fn parse(body: &[u8]) -> Result<ClientJsonRpcMessage, Rejected> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Rejected {
                code: PARSE_ERROR,
                message: "Parse error: body is not valid JSON",
            }
        } else {
            Rejected {
                code: INVALID_REQUEST,
                message: "Invalid Request: body is not a JSON-RPC 2.0 message",
            }
        }
    })
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": self.code, "message": self.message}});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn code_of(body: &[u8]) -> i64 {
        let response = parse(body).unwrap_err().into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["error"]["code"].as_i64().unwrap()
    }

    #[tokio::test]
    async fn distinguishes_parse_errors_from_invalid_requests() {
        assert_eq!(code_of(b"not json").await, PARSE_ERROR);
        assert_eq!(code_of(b"{\"jsonrpc\":\"2.0\",").await, PARSE_ERROR);
        assert_eq!(code_of(b"").await, PARSE_ERROR);
        assert_eq!(code_of(b"{\"foo\":1}").await, INVALID_REQUEST);
        assert_eq!(code_of(b"[1,2]").await, INVALID_REQUEST);
    }

    #[test]
    fn accepts_requests_and_notifications() {
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_ok());
    }
}

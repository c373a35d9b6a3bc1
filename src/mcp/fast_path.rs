//! The fast path of `/mcp`: stateless `tools/list` and `tools/call` answered in the request's own task.
//!
//! rmcp serves every stateless request by starting a whole duplex session for it: a spawned serve
//! loop, a one-shot transport, three channels and a peer. The profile of `hello_mcp` showed that
//! machinery as about half of the server's CPU per call, and a tool call that never talks back to
//! the client needs none of it. So requests this module is sure about go straight to rmcp's own
//! dispatcher (`Service::handle_request`, the function the serve loop would call, with the request
//! context built the same way), and their reply is serialised exactly as rmcp's JSON response mode
//! does. Everything else (initialize, server/discover, the 2026-07-28 per-request metadata, the
//! `Mcp-Method`/`Mcp-Name` header era, notifications, responses, unusual `Accept` headers, a
//! session id) goes on to rmcp unchanged, so rmcp's validation stays the only validation.
//!
//! The limit of this path: a handler here cannot send anything to the client before its reply
//! (progress, logging, sampling); its peer is a detached one whose messages go nowhere. None of
//! the snippet tools does; a tool that needs to talk back must be served by rmcp.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rmcp::model::{
    CallToolRequest, ClientJsonRpcMessage, ClientRequest, GetExtensions, GetMeta, JsonRpcRequest,
    JsonRpcVersion2_0, ListToolsRequest, ProtocolVersion, RequestId, RequestMetaObject,
    ServerJsonRpcMessage,
};
use rmcp::service::{RequestContext, RunningService, serve_directly};
use rmcp::{RoleServer, Service};
use serde::Deserialize;

use crate::tools::SnippetTools;

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Answers eligible requests with `SnippetTools` directly; see the module comment.
pub struct FastPath {
    tools: SnippetTools,
    /// Keeps the detached peer's (idle) serve loop alive, so a stray message from a handler is
    /// drained instead of failing.
    detached: RunningService<RoleServer, SnippetTools>,
}

impl FastPath {
    /// Must run inside the tokio runtime: the detached peer's loop is spawned here, once.
    pub fn new(tools: SnippetTools) -> Self {
        let transport = (
            futures::sink::drain(),
            futures::stream::pending::<ClientJsonRpcMessage>(),
        );
        let detached = serve_directly(tools.clone(), transport, None);
        FastPath { tools, detached }
    }

    /// `Ok(response)` when the request was answered here; `Err(message)` hands it back for rmcp.
    pub async fn answer(
        &self,
        parts: Parts,
        message: ClientJsonRpcMessage,
    ) -> Result<Response, (Parts, ClientJsonRpcMessage)> {
        if !eligible(&parts.headers, &message) {
            return Err((parts, message));
        }
        let ClientJsonRpcMessage::Request(JsonRpcRequest {
            id, mut request, ..
        }) = message
        else {
            unreachable!("eligible() admits requests only");
        };
        // As rmcp's stateless path: the HTTP request parts ride in the request's extensions
        // (the tools read the verified token's claims there); then, as its serve loop, the
        // `_meta` object and the extensions move into the handler's context.
        request.extensions_mut().insert(parts);
        let meta: RequestMetaObject = std::mem::take(request.get_meta_mut());
        let extensions = std::mem::take(request.extensions_mut());
        let mut context = RequestContext::new(id.clone(), self.detached.peer().clone());
        context.meta = meta;
        context.extensions = extensions;
        let reply = match self.tools.handle_request(request, context).await {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        Ok(json_response(&reply))
    }
}

/// A body that is one `tools/call` or `tools/list` request, read without rmcp's general
/// message parser. That parser buffers the body and tries each of some twenty request types in
/// turn, building an error for every miss: a third of `hello_mcp`'s CPU in the profile. Here the
/// envelope is read into a small struct and the params into the one request type the method
/// names, with rmcp's own deserialisers. Anything else is `None`, and the general parser (rmcp's
/// rules) decides; the differential test holds both to the same result.
pub fn parse_tools_request(body: &[u8]) -> Option<ClientJsonRpcMessage> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    if envelope.result.0 || envelope.error.0 {
        return None; // not a request: rmcp refuses a request shape with a result or error
    }
    let request = match envelope.method.as_ref() {
        "tools/call" => {
            ClientRequest::CallToolRequest(serde_json::from_slice::<CallToolRequest>(body).ok()?)
        }
        "tools/list" => {
            ClientRequest::ListToolsRequest(serde_json::from_slice::<ListToolsRequest>(body).ok()?)
        }
        _ => return None,
    };
    Some(ClientJsonRpcMessage::Request(JsonRpcRequest {
        jsonrpc: envelope.jsonrpc,
        id: envelope.id,
        request,
    }))
}

/// The JSON-RPC members of a request; `params` is read by the request type itself.
#[derive(Deserialize)]
struct Envelope<'a> {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(default)]
    result: Present,
    #[serde(default)]
    error: Present,
}

/// Whether a member is there at all, whatever its value (`null` included), as rmcp's shape check sees it.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// True only when rmcp's stateless path would accept the request without a word and dispatch it
/// to the handler as it stands: any doubt sends it to rmcp, which answers it (or refuses it) itself.
fn eligible(headers: &HeaderMap, message: &ClientJsonRpcMessage) -> bool {
    let ClientJsonRpcMessage::Request(request) = message else {
        return false;
    };
    let tools_request = matches!(
        request.request,
        ClientRequest::CallToolRequest(_) | ClientRequest::ListToolsRequest(_)
    );
    tools_request
        && request.request.get_meta().protocol_version().is_none()
        && !headers.contains_key(SESSION_ID)
        && header_era_version(headers)
        && accepts_json_and_event_stream(headers)
        && content_type_is_json(headers)
}

/// No `MCP-Protocol-Version` (rmcp assumes 2025-03-26), or one known version from before the
/// 2026-07-28 era, whose per-request metadata and `Mcp-*` header rules rmcp alone applies.
fn header_era_version(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(PROTOCOL_VERSION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return !headers.contains_key(PROTOCOL_VERSION);
    };
    let Ok(version) = value.to_str() else {
        return false;
    };
    version < ProtocolVersion::V_2026_07_28.as_str()
        && ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|known| known.as_str() == version)
}

/// A plain list naming both types, without parameters or quoting (those are rmcp's to weigh).
fn accepts_json_and_event_stream(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains([';', '"']) {
            return false;
        }
        for entry in value.split(',').map(str::trim) {
            json |= entry.eq_ignore_ascii_case("application/json");
            sse |= entry.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

fn content_type_is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    value.to_str().is_ok_and(|v| {
        let essence = v.split_once(';').map_or(v, |(essence, _)| essence);
        essence.trim().eq_ignore_ascii_case("application/json")
    })
}

/// rmcp's JSON response mode: status 200 and `Content-Type: application/json`, results and
/// JSON-RPC errors alike.
fn json_response(reply: &ServerJsonRpcMessage) -> Response {
    // serde_json starts at 128 bytes and doubles; a snippet reply is a KiB or more.
    let mut body = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut body, reply) {
        Ok(()) => {
            let mut response = Response::new(Body::from(Bytes::from(body)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a tool reply");
            let mut response = Response::new(Body::from("Internal Server Error"));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const BASE: [(&str, &str); 3] = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ];

    fn message(body: &str) -> ClientJsonRpcMessage {
        serde_json::from_str(body).unwrap()
    }

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","arguments":{}}}"#;

    #[test]
    fn tools_requests_of_the_header_era_are_eligible() {
        assert!(eligible(&headers(&BASE), &message(CALL)));
        let list = r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#;
        assert!(eligible(&headers(&BASE), &message(list)));
        let no_version = headers(&BASE[..2]);
        assert!(eligible(&no_version, &message(CALL)));
        for version in ["2024-11-05", "2025-03-26", "2025-11-25"] {
            let mut h = headers(&BASE[..2]);
            h.insert(PROTOCOL_VERSION, HeaderValue::from_static(version));
            assert!(eligible(&h, &message(CALL)), "{version}");
        }
    }

    #[test]
    fn everything_rmcp_must_judge_is_handed_on() {
        let other_methods = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        ];
        for body in other_methods {
            assert!(!eligible(&headers(&BASE), &message(body)), "{body}");
        }
        let header_cases: [&[(&str, &str)]; 7] = [
            &[("mcp-protocol-version", "2026-07-28")],
            &[("mcp-protocol-version", "1999-01-01")],
            &[("mcp-protocol-version", "2025-06-18")], // a second value
            &[("mcp-session-id", "abc")],
            &[("content-type", "text/plain")],
            &[("accept", "application/json;q=0")],
            &[("content-type", "application/json")], // a second value
        ];
        for extra in header_cases {
            let mut h = headers(&BASE);
            for (name, value) in extra {
                h.append(*name, HeaderValue::from_static(value));
            }
            assert!(!eligible(&h, &message(CALL)), "{extra:?}");
        }
        let accept_only_json = headers(&[BASE[0], ("accept", "application/json"), BASE[2]]);
        assert!(!eligible(&accept_only_json, &message(CALL)));
        let any_type = headers(&[BASE[0], ("accept", "*/*"), BASE[2]]);
        assert!(!eligible(&any_type, &message(CALL)));
        let no_content_type = headers(&BASE[1..]);
        assert!(!eligible(&no_content_type, &message(CALL)));
    }

    #[test]
    fn the_fast_parser_reads_what_rmcps_parser_reads_or_nothing() {
        let must_parse = [
            CALL,
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_snippet","arguments":{"snippetname":"n","snippet":"\u00e9\n"}},"extra":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","_meta":{"progressToken":7}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"c","_meta":{"k":"v"}}}"#,
        ];
        for body in must_parse {
            let fast = parse_tools_request(body.as_bytes()).expect(body);
            let general = crate::mcp::jsonrpc::parse(body.as_bytes()).expect(body);
            // rmcp's messages have no PartialEq: compare what each serialises to, and their Debug
            // form (which shows the `_meta` moved into the extensions).
            assert_eq!(
                serde_json::to_value(&fast).unwrap(),
                serde_json::to_value(&general).unwrap(),
                "{body}"
            );
            assert_eq!(format!("{fast:?}"), format!("{general:?}"), "{body}");
        }
        let left_to_rmcp = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","result":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","error":1}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
            "not json",
        ];
        for body in left_to_rmcp {
            assert!(parse_tools_request(body.as_bytes()).is_none(), "{body}");
        }
    }
}

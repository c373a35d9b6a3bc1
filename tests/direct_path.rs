//! The direct path for stateless tool requests must answer exactly as rmcp does. Every request
//! here goes through the whole router twice against a real Azurite: once as clients send it
//! (answered by `mcp::fast_path`), once with an `Accept` header that only rmcp may weigh
//! (`;q=1` parameters), which sends it through rmcp's stateless service. Status, content type and
//! the JSON body must be the same, for results and for every kind of error.

mod support;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use session_token::Keys;
use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use support::azurite::Azurite;
use tower::ServiceExt;

const RESOURCE: &str = "https://gw.example/mcp";
const DIRECT_ACCEPT: &str = "application/json, text/event-stream";
const RMCP_ACCEPT: &str = "application/json;q=1, text/event-stream;q=1";

struct Stack {
    app: axum::Router,
    token: Option<String>,
}

fn stack(azurite: &Azurite, keys: Option<&Keys>) -> Stack {
    let mut env: HashMap<String, String> = [
        ("AzureWebJobsStorage".into(), azurite.connection_string()),
        ("MCP_RESOURCE_URL".into(), RESOURCE.into()),
    ]
    .into();
    if let Some(keys) = keys {
        let (enc, mac) = keys.to_base64();
        env.insert("SESSION_TOKEN_ENC_KEY".into(), enc);
        env.insert("SESSION_TOKEN_MAC_KEY".into(), mac);
    }
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    let app = App::build(&config).expect("app builds").router;
    let token = keys.map(|keys| support::session::alice_token(keys, RESOURCE));
    Stack { app, token }
}

#[derive(Debug, PartialEq)]
struct Reply {
    status: StatusCode,
    content_type: Option<String>,
    body: Value,
}

async fn post(stack: &Stack, accept: &str, version: Option<&str>, body: &Value) -> Reply {
    post_raw(stack, accept, version, &body.to_string()).await
}

async fn post_raw(stack: &Stack, accept: &str, version: Option<&str>, body: &str) -> Reply {
    let mut req = Request::post("/mcp")
        .header("host", "localhost:7071")
        .header("content-type", "application/json")
        .header("accept", accept);
    if let Some(v) = version {
        req = req.header("mcp-protocol-version", v);
    }
    if let Some(token) = &stack.token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req.body(Body::from(body.to_string())).unwrap();
    let response = stack.app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        content_type,
        body,
    }
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

/// Each case: requests to run first (so both paths see the same stored state), then the request.
fn cases() -> Vec<(&'static str, Vec<Value>, Value)> {
    let save = |name: &str, text: &str| {
        call(
            9,
            "save_snippet",
            json!({"snippetname": name, "snippet": text}),
        )
    };
    vec![
        (
            "tools/list",
            vec![],
            json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}),
        ),
        ("hello", vec![], call(1, "hello_mcp", json!({}))),
        (
            "hello without arguments",
            vec![],
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "hello_mcp"}}),
        ),
        ("save", vec![], save("notes", "fn main() {}\n")),
        (
            "save unicode",
            vec![],
            save("ünï cödé", "λ → ∀\u{0}\u{1f980}"),
        ),
        (
            "get",
            vec![save("kept", "exact text\r\n")],
            call(3, "get_snippet", json!({"snippetname": "kept"})),
        ),
        (
            "get missing",
            vec![],
            call(4, "get_snippet", json!({"snippetname": "never-saved"})),
        ),
        (
            "list",
            vec![save("a1", "x"), save("a2", "yy")],
            call(5, "list_snippets", json!({"prefix": "a", "limit": 1})),
        ),
        (
            "list bad limit",
            vec![],
            call(6, "list_snippets", json!({"limit": 0})),
        ),
        (
            "delete",
            vec![save("gone", "x")],
            call(7, "delete_snippet", json!({"snippetname": "gone"})),
        ),
        (
            "delete missing",
            vec![],
            call(8, "delete_snippet", json!({"snippetname": "gone-twice"})),
        ),
        ("invalid name", vec![], save("../etc/passwd", "x")),
        (
            "missing argument",
            vec![],
            call(10, "save_snippet", json!({"snippetname": "n"})),
        ),
        (
            "wrong argument type",
            vec![],
            call(11, "get_snippet", json!({"snippetname": 42})),
        ),
        ("unknown tool", vec![], call(12, "no_such_tool", json!({}))),
        (
            "string id",
            vec![],
            json!({"jsonrpc": "2.0", "id": "abc", "method": "tools/call", "params": {"name": "hello_mcp", "arguments": {}}}),
        ),
    ]
}

async fn assert_same_answers(stack: &Stack) {
    for version in [Some("2025-06-18"), Some("2025-11-25"), None] {
        for (what, setup, request) in cases() {
            let mut replies = Vec::new();
            // A delete uses up what its set-up saved, so that runs before each path; any other set-up
            // runs once (saving again would move `lastModified`, which listings show, by a second).
            let consumes = request["params"]["name"] == "delete_snippet";
            for (i, accept) in [RMCP_ACCEPT, DIRECT_ACCEPT].into_iter().enumerate() {
                for s in setup.iter().filter(|_| i == 0 || consumes) {
                    let r = post(stack, accept, version, s).await;
                    assert_eq!(r.status, StatusCode::OK, "{what}: setup {s}: {r:?}");
                }
                replies.push(post(stack, accept, version, &request).await);
            }
            assert_eq!(
                replies[0], replies[1],
                "{what} ({version:?}): rmcp vs direct"
            );
            assert_eq!(
                replies[1].status,
                StatusCode::OK,
                "{what}: {:?}",
                replies[1]
            );
        }
    }
}

#[tokio::test]
async fn direct_answers_match_rmcp_in_shared_mode() {
    let azurite = Azurite::start();
    assert_same_answers(&stack(&azurite, None)).await;
}

#[tokio::test]
async fn direct_answers_match_rmcp_for_a_signed_in_user() {
    let azurite = Azurite::start();
    let keys = Keys::generate().unwrap();
    let stack = stack(&azurite, Some(&keys));
    assert_same_answers(&stack).await;
    // And the user's namespace is the one both paths wrote to: a save on the direct path is read
    // back by rmcp's path and the other way round.
    let saved = post(
        &stack,
        DIRECT_ACCEPT,
        None,
        &call(
            1,
            "save_snippet",
            json!({"snippetname": "mine", "snippet": "direct"}),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    let read = post(
        &stack,
        RMCP_ACCEPT,
        None,
        &call(2, "get_snippet", json!({"snippetname": "mine"})),
    )
    .await;
    assert_eq!(
        read.body["result"]["content"][0]["text"], "direct",
        "{read:?}"
    );
}

/// Bodies at the edges of the JSON-RPC rules: the direct path's own parser must accept exactly
/// what rmcp's accepts, read it the same way, and leave the rest to rmcp.
const ODD_BODIES: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","arguments":{}},"extra":1}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp"},"result":null}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp"},"error":{}}"#,
    r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","id":-7,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"id":1,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_snippet","arguments":"snippetname"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","_meta":{"progressToken":"p1"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"hello\u005fmcp"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"TOOLS/CALL","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"hello_mcp"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":null}"#,
    r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{}}"#,
    r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"cursor":"abc"}}"#,
    r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"_meta":{"k":1}}}"#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp"}} trailing"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp"}}"#,
];

#[tokio::test]
async fn odd_bodies_get_the_same_answer_on_both_paths() {
    let azurite = Azurite::start();
    let stack = stack(&azurite, None);
    for body in ODD_BODIES {
        let rmcp = post_raw(&stack, RMCP_ACCEPT, Some("2025-06-18"), body).await;
        let direct = post_raw(&stack, DIRECT_ACCEPT, Some("2025-06-18"), body).await;
        assert_eq!(rmcp, direct, "{body}");
    }
}

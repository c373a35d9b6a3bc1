//! The app's router (`App::build`) in process, driven with `tower::ServiceExt::oneshot` as axum's own examples do:
//! the readiness probe, the session-token check's scheme parsing, the Origin check on every MCP
//! route, and the tool schemas clients receive. No storage is needed for any of these.

mod support;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use session_token::Keys;
use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use tower::ServiceExt;

const RESOURCE: &str = "https://gw.example/mcp";
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

fn app(env: &[(&str, &str)]) -> axum::Router {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    App::build(&config).expect("app builds").router
}

fn keyed_app(keys: &Keys) -> axum::Router {
    let (enc, mac) = keys.to_base64();
    app(&[
        ("SESSION_TOKEN_ENC_KEY", &enc),
        ("SESSION_TOKEN_MAC_KEY", &mac),
        ("MCP_RESOURCE_URL", RESOURCE),
    ])
}

fn token(keys: &Keys) -> String {
    support::session::alice_token(keys, RESOURCE)
}

fn mcp_post(headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::post("/mcp")
        .header("host", "localhost:7071")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::from(TOOLS_LIST)).unwrap()
}

async fn send(app: axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let response: Response<Body> = app.oneshot(req).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn readiness_probe_answers_without_storage_or_token() {
    let (status, body) = send(
        keyed_app(&Keys::generate().unwrap()),
        Request::get("/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let keys = Keys::generate().unwrap();
    let t = token(&keys);
    for scheme in ["Bearer", "BEARER", "bearer", "BeArEr"] {
        let auth = format!("{scheme} {t}");
        let (status, body) = send(keyed_app(&keys), mcp_post(&[("authorization", &auth)])).await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
        assert!(body.contains("save_snippet"), "{scheme}: {body}");
    }
    for bad in [format!("Basic {t}"), format!("Bearer{t}"), t.clone()] {
        let (status, _) = send(keyed_app(&keys), mcp_post(&[("authorization", &bad)])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

#[tokio::test]
async fn foreign_origins_are_refused_on_every_mcp_route() {
    let env = [("MCP_ALLOWED_ORIGINS", "http://localhost:6274")];
    let evil = "https://evil.example";
    let requests = [
        mcp_post(&[("origin", evil)]),
        Request::get("/sse")
            .header("host", "localhost")
            .header("origin", evil)
            .body(Body::empty())
            .unwrap(),
        Request::post("/message?sessionId=0123456789ab-ff")
            .header("host", "localhost")
            .header("origin", evil)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#))
            .unwrap(),
        Request::get("/mcp")
            .header("host", "localhost")
            .header("origin", "null")
            .body(Body::empty())
            .unwrap(),
    ];
    for req in requests {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, body) = send(app(&env), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body.starts_with("Origin not allowed"), "{what}: {body}");
    }
    for ok in [
        vec![("origin", "http://localhost:6274")],
        vec![("origin", "HTTP://LOCALHOST:6274")],
        vec![],
    ] {
        let (status, body) = send(app(&env), mcp_post(&ok)).await;
        assert_eq!(status, StatusCode::OK, "{ok:?}: {body}");
    }
}

/// Every schema the tools publish, as clients receive it from `tools/list`.
async fn tool_schemas() -> Vec<(String, serde_json::Value)> {
    let (status, body) = send(app(&[]), mcp_post(&[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = vec![];
    for tool in reply["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap().to_string();
        out.push((format!("{name} input"), tool["inputSchema"].clone()));
        if !tool["outputSchema"].is_null() {
            out.push((format!("{name} output"), tool["outputSchema"].clone()));
        }
    }
    out
}

/// Walks a schema and reports what the Inspector's portability check and strict SDK validators
/// warn about: union `type` arrays, non-standard `format`s (`uint64`, `uint32`, ...), `nullable`.
fn portability_problems(path: &str, schema: &serde_json::Value, out: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.get("type").is_some_and(|t| t.is_array()) {
                out.push(format!("{path}: type union {}", map["type"]));
            }
            if let Some(f) = map.get("format").and_then(|f| f.as_str())
                && !["date-time", "uri", "email"].contains(&f)
            {
                out.push(format!("{path}: format {f}"));
            }
            if map.contains_key("nullable") {
                out.push(format!("{path}: nullable"));
            }
            for (k, v) in map {
                portability_problems(&format!("{path}/{k}"), v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                portability_problems(&format!("{path}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn tool_schemas_are_portable() {
    let mut problems = vec![];
    for (name, schema) in tool_schemas().await {
        portability_problems(&name, &schema, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn tool_schemas_stay_exact() {
    let schemas: HashMap<String, serde_json::Value> = tool_schemas().await.into_iter().collect();
    let list = &schemas["list_snippets input"]["properties"];
    assert_eq!(list["limit"]["type"], "integer");
    assert_eq!(list["limit"]["minimum"], 1);
    assert_eq!(list["limit"]["maximum"], 1000);
    assert_eq!(list["prefix"]["type"], "string");
    assert_eq!(list["prefix"]["maxLength"], 128);
    assert_eq!(list["cursor"]["type"], "string");
    assert!(
        schemas["list_snippets input"]["required"].is_null()
            || schemas["list_snippets input"]["required"] == serde_json::json!([])
    );
    let saved = &schemas["save_snippet output"]["properties"];
    assert_eq!(saved["bytes"]["type"], "integer");
    assert_eq!(saved["bytes"]["minimum"], 0);
    let listed = &schemas["list_snippets output"];
    // Absent on the last page, a string otherwise: optional, not a union with null.
    assert_eq!(
        listed["properties"]["nextCursor"],
        serde_json::json!({"type": "string", "description": "Pass as `cursor` to get the next page; absent on the last page."})
    );
    assert_eq!(listed["required"], serde_json::json!(["snippets"]));
    let entry = &listed["$defs"]["ListedSnippet"];
    assert_eq!(entry["properties"]["lastModified"]["format"], "date-time");
    assert_eq!(entry["required"], serde_json::json!(["name", "bytes"]));
}

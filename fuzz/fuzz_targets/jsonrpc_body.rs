//! Request bodies of both transports: `jsonrpc::parse` directly, then the real router with the body
//! POSTed to `/mcp` (Streamable HTTP) and `/message` (SSE). No panic, no 5xx, and every 400 is a
//! JSON-RPC error object.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use snippets_mcp::mcp::jsonrpc;
use tower::ServiceExt;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn router() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            // No storage: tool calls answer `storage not configured:`, so nothing leaves the process.
            let config = Config::from_sources(&[], &HashMap::new()).expect("default config");
            let _guard = runtime().enter();
            App::build(&config).expect("app builds").router
        })
        .clone()
}

fn post(uri: &str, body: &[u8]) -> Request<Body> {
    Request::post(uri)
        .header("host", "127.0.0.1:7071")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(body.to_vec()))
        .expect("request")
}

fuzz_target!(|data: &[u8]| {
    if let Err(rejected) = jsonrpc::parse(data) {
        assert!([jsonrpc::PARSE_ERROR, jsonrpc::INVALID_REQUEST].contains(&rejected.code));
    }
    runtime().block_on(async {
        for uri in ["/mcp", "/message?sessionId=0123456789ab-00ff"] {
            let response = router().oneshot(post(uri, data)).await.expect("infallible");
            let status = response.status();
            assert!(!status.is_server_error(), "{uri}: {status}");
            if status == StatusCode::BAD_REQUEST && uri == "/mcp" {
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let text = String::from_utf8_lossy(&body);
                assert!(text.contains("\"jsonrpc\":\"2.0\""), "{uri}: {text}");
            }
        }
    });
});

//! Minimal axum JSON-RPC echo: parse the body, answer a hello_mcp-shaped result with the same id.
//! Usage: bench-echo --port N
use axum::{Json, Router, routing::{get, post}};
use serde_json::{Value, json};

async fn mcp(Json(req): Json<Value>) -> Json<Value> {
    Json(json!({
        "jsonrpc": "2.0",
        "id": req.get("id").cloned().unwrap_or(Value::Null),
        "result": {"content": [{"type": "text", "text": "Hello I am MCPTool!"}], "isError": false}
    }))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .expect("--port N");
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/mcp", post(mcp));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

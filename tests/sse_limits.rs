//! What one signed-in user's SSE sessions may hold: at most `MCP_SSE_MAX_SESSIONS_PER_USER` open at
//! once (the next gets a 429 that says why, other users are unaffected), and a session that receives
//! no request for `MCP_SSE_IDLE_TIMEOUT_SECS` is closed, which also frees its place. A real server on
//! loopback sockets, on tokio's paused clock, so the idle limit passes in no time.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use session_token::Keys;
use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use snippets_mcp::server::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESOURCE: &str = "https://gw.example/mcp";
const MAX_PER_USER: usize = 2;
const IDLE_SECS: u64 = 60;

async fn start_server(keys: &Keys) -> std::net::SocketAddr {
    let (enc, mac) = keys.to_base64();
    let env: HashMap<String, String> = [
        ("SESSION_TOKEN_ENC_KEY", enc.as_str()),
        ("SESSION_TOKEN_MAC_KEY", mac.as_str()),
        ("MCP_RESOURCE_URL", RESOURCE),
        ("MCP_SSE_MAX_SESSIONS_PER_USER", &MAX_PER_USER.to_string()),
        ("MCP_SSE_IDLE_TIMEOUT_SECS", &IDLE_SECS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    let app = App::build(&config).expect("app builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app.router, std::future::pending()));
    addr
}

/// Sends `GET /sse` with `token`; returns the stream and what it read: the whole response when the
/// server refused, or up to the `endpoint` event.
async fn open_sse(addr: std::net::SocketAddr, token: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 2048];
    while !(seen.contains("sessionId=") && seen.ends_with("\n\n\r\n")) {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if seen.starts_with("HTTP/1.1 429") && seen.contains("too many open SSE sessions") {
            break;
        }
    }
    (stream, seen)
}

fn session_id(opened: &str) -> &str {
    let start = opened.find("sessionId=").expect("an endpoint event") + "sessionId=".len();
    opened[start..].split_whitespace().next().unwrap()
}

/// True when the server ends the chunked stream (its last chunk) within `secs` of (paused-clock)
/// time; false at EOF without it, or when it is still open then. The bound matters: the paused clock
/// runs ahead whenever nothing else is due, so an unbounded wait would see any stream end.
async fn ends_within(stream: &mut TcpStream, secs: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(secs), read_until_ended(stream))
        .await
        .unwrap_or(false)
}

async fn read_until_ended(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return seen.ends_with(b"0\r\n\r\n"),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if seen.ends_with(b"0\r\n\r\n") {
            return true;
        }
    }
}

async fn post_ping(addr: std::net::SocketAddr, token: &str, session: &str) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /message?sessionId={session} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(start_paused = true)]
async fn each_user_holds_a_bounded_number_of_sessions_and_idle_ones_close() {
    let keys = Keys::generate().unwrap();
    let alice = support::session::token_for(&keys, RESOURCE, "alice");
    let bob = support::session::token_for(&keys, RESOURCE, "bob");
    let addr = start_server(&keys).await;

    let (mut busy, first) = open_sse(addr, &alice).await;
    let (mut idle, second) = open_sse(addr, &alice).await;
    assert!(first.starts_with("HTTP/1.1 200") && second.starts_with("HTTP/1.1 200"));
    let (_, refused) = open_sse(addr, &alice).await;
    assert!(
        refused.starts_with("HTTP/1.1 429"),
        "a third session for alice must be refused: {refused}"
    );
    assert!(refused.contains("too many open SSE sessions"), "{refused}");
    let (_bobs, others) = open_sse(addr, &bob).await;
    assert!(
        others.starts_with("HTTP/1.1 200"),
        "bob is not limited by alice's sessions: {others}"
    );

    // Two thirds of the idle limit later, a request keeps the busy session alive.
    tokio::time::sleep(Duration::from_secs(IDLE_SECS * 2 / 3)).await;
    let accepted = post_ping(addr, &alice, session_id(&first)).await;
    assert!(accepted.starts_with("HTTP/1.1 202"), "{accepted}");

    // Past the limit, the idle session's stream ends; the busy one's does not.
    assert!(
        ends_within(&mut idle, IDLE_SECS).await,
        "the idle session's stream must end"
    );
    let still = post_ping(addr, &alice, session_id(&first)).await;
    assert!(
        still.starts_with("HTTP/1.1 202"),
        "the busy session stays open: {still}"
    );
    // Its place is free again.
    let (_again, reopened) = open_sse(addr, &alice).await;
    assert!(reopened.starts_with("HTTP/1.1 200"), "{reopened}");

    // The busy session idles out in its turn: the limit after its last request, plus at most a
    // quarter of it until the next check.
    assert!(ends_within(&mut busy, IDLE_SECS * 5 / 4 + 1).await);
}

//! The server's own session-token check, driven over real HTTP against the real binary:
//! 401s carry the RFC 9728 challenge, valid tokens pass, and an SSE session only accepts its opener.

mod support;

use std::time::Duration;

use futures::StreamExt;
use session_token::{Claims, Keys};
use support::binary::{self, Server};

const RESOURCE: &str = "https://gw.example/mcp";

async fn start(keys: &Keys) -> Server {
    let (enc, mac) = keys.to_base64();
    let mut cmd = binary::command();
    cmd.env("SESSION_TOKEN_ENC_KEY", enc)
        .env("SESSION_TOKEN_MAC_KEY", mac)
        .env("MCP_RESOURCE_URL", RESOURCE);
    binary::start(cmd).await
}

fn token(keys: &Keys, sub: &str, aud: &str, exp_in: i64) -> String {
    let now = session_token::unix_now();
    let claims = Claims {
        sid: Claims::new_session_id(),
        sub: sub.into(),
        cid: "client".into(),
        scp: "snippets.read snippets.write".into(),
        aud: aud.into(),
        iat: now,
        exp: now + exp_in,
    };
    session_token::seal(keys, &claims)
}

async fn list_tools(base: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn streamable_http_requires_a_valid_token() {
    let keys = Keys::generate().unwrap();
    let server = start(&keys).await;
    let good = token(&keys, "alice", RESOURCE, 300);
    let ok = list_tools(&server.base, Some(&good)).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("save_snippet"));

    let other_keys = Keys::generate().unwrap();
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let rejected = [
        None,
        Some(token(&keys, "alice", RESOURCE, -1)),
        Some(token(&keys, "alice", "https://other.example/mcp", 300)),
        Some(token(&other_keys, "alice", RESOURCE, 300)),
        Some(String::from_utf8(tampered).unwrap()),
        Some(good[..good.len() - 4].to_string()),
    ];
    for bearer in rejected {
        let r = list_tools(&server.base, bearer.as_deref()).await;
        assert_eq!(r.status(), 401, "{bearer:?}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            challenge,
            "Bearer error=\"invalid_token\", resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\""
        );
    }
    // The readiness probe stays open: the Functions host calls it without a token.
    assert_eq!(
        reqwest::get(format!("{}/", server.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn an_sse_session_accepts_only_its_opener() {
    let keys = Keys::generate().unwrap();
    let server = start(&keys).await;
    let alice = token(&keys, "alice", RESOURCE, 300);
    let mallory = token(&keys, "mallory", RESOURCE, 300);
    let client = reqwest::Client::new();

    let no_token = client
        .get(format!("{}/sse", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    let stream = client
        .get(format!("{}/sse", server.base))
        .header("authorization", format!("Bearer {alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .to_string();
    assert!(endpoint.starts_with("message?sessionId="), "{endpoint}");

    let post = |bearer: String| {
        client
            .post(format!("{}/{endpoint}", server.base))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {bearer}"))
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
    };
    assert_eq!(
        post(mallory).await.unwrap().status(),
        404,
        "another user's token must not reach the session"
    );
    assert_eq!(post(alice).await.unwrap().status(), 202);
}

/// The gateway accepts any case of the scheme (RFC 9110 §11.1), so the server must too.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_over_http() {
    let keys = Keys::generate().unwrap();
    let server = start(&keys).await;
    let good = token(&keys, "alice", RESOURCE, 300);
    for scheme in ["BEARER", "bearer", "bEARER"] {
        let r = reqwest::Client::new()
            .post(format!("{}/mcp", server.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("{scheme} {good}"))
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
        assert!(r.text().await.unwrap().contains("save_snippet"), "{scheme}");
    }
}

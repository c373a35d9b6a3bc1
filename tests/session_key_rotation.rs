//! Session-key rotation as the real binary sees it: started with the previous pair and a deadline
//! (`SESSION_TOKEN_PREVIOUS_*`), it accepts tokens of the previous pair until then, refuses them
//! after, refuses keys it never had, and refuses to start with a half-configured previous pair.

mod support;

use std::process::Command;

use session_token::{Claims, Keys};
use support::binary::{self, Server, free_port};

const RESOURCE: &str = "https://gw.example/mcp";

fn command(current: &Keys, previous: &[(&str, String)]) -> Command {
    let (enc, mac) = current.to_base64();
    let mut cmd = binary::command();
    cmd.env("SESSION_TOKEN_ENC_KEY", enc)
        .env("SESSION_TOKEN_MAC_KEY", mac)
        .env("MCP_RESOURCE_URL", RESOURCE);
    for (name, value) in previous {
        cmd.env(name, value);
    }
    cmd
}

fn previous(keys: &Keys, until: i64) -> Vec<(&'static str, String)> {
    let (enc, mac) = keys.to_base64();
    vec![
        ("SESSION_TOKEN_PREVIOUS_ENC_KEY", enc),
        ("SESSION_TOKEN_PREVIOUS_MAC_KEY", mac),
        ("SESSION_TOKEN_PREVIOUS_UNTIL", until.to_string()),
    ]
}

async fn start(current: &Keys, previous: &[(&str, String)]) -> Server {
    binary::start(command(current, previous)).await
}

fn token(keys: &Keys) -> String {
    let now = session_token::unix_now();
    session_token::seal(
        keys,
        &Claims {
            sid: Claims::new_session_id(),
            sub: "alice".into(),
            cid: "client".into(),
            scp: "snippets.read snippets.write".into(),
            aud: RESOURCE.into(),
            iat: now,
            exp: now + 300,
        },
    )
}

async fn list_tools(base: &str, bearer: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {bearer}"))
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn previous_keys_work_inside_the_window_and_not_after() {
    let old = Keys::generate().unwrap();
    let new = Keys::generate().unwrap();
    let never = Keys::generate().unwrap();
    let issued_before = token(&old);
    let now = session_token::unix_now();

    let open = start(&new, &previous(&old, now + 3600)).await;
    assert_eq!(list_tools(&open.base, &issued_before).await, 200);
    assert_eq!(list_tools(&open.base, &token(&new)).await, 200);
    assert_eq!(list_tools(&open.base, &token(&never)).await, 401);
    drop(open);

    let closed = start(&new, &previous(&old, now - 1)).await;
    assert_eq!(list_tools(&closed.base, &issued_before).await, 401);
    assert_eq!(list_tools(&closed.base, &token(&new)).await, 200);
    drop(closed);

    // `none` / `0`: what the vault holds when no rotation is in progress.
    let idle = [
        ("SESSION_TOKEN_PREVIOUS_ENC_KEY", "none".to_string()),
        ("SESSION_TOKEN_PREVIOUS_MAC_KEY", "none".to_string()),
        ("SESSION_TOKEN_PREVIOUS_UNTIL", "0".to_string()),
    ];
    let idle = start(&new, &idle).await;
    assert_eq!(list_tools(&idle.base, &issued_before).await, 401);
    assert_eq!(list_tools(&idle.base, &token(&new)).await, 200);
}

#[test]
fn a_half_configured_previous_pair_stops_the_start_naming_the_setting() {
    let old = Keys::generate().unwrap();
    let (old_enc, old_mac) = old.to_base64();
    let mut half = previous(&old, session_token::unix_now() + 3600);
    half.retain(|(name, _)| *name != "SESSION_TOKEN_PREVIOUS_MAC_KEY");
    let out = command(&Keys::generate().unwrap(), &half)
        .args(["--port", &free_port().to_string()])
        .output()
        .expect("server binary runs");
    assert!(!out.status.success(), "started with a half-configured pair");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SESSION_TOKEN_PREVIOUS_MAC_KEY"), "{text}");
    assert!(
        !text.contains(&old_enc) && !text.contains(&old_mac),
        "a key reached the output"
    );
}

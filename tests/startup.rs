//! Start-up of the real binary: namespace-mode errors name their setting (exit code 2), the mode
//! actually chosen is logged, and logs written to a file carry no ANSI colour codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn server(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snippets-mcp"));
    cmd.env_clear()
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn keys() -> (String, String) {
    session_token::Keys::generate().unwrap().to_base64()
}

/// Runs a server that must refuse to start; returns its stderr.
fn refused(env: &[(&str, &str)]) -> String {
    let out = server(env).output().expect("binary runs");
    assert_eq!(out.status.code(), Some(2), "exit status {:?}", out.status);
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_namespace_mode_is_a_configuration_error() {
    let (enc, mac) = keys();
    let err = refused(&[
        ("SNIPPETS_NAMESPACE", "everyone"),
        ("SESSION_TOKEN_ENC_KEY", &enc),
        ("SESSION_TOKEN_MAC_KEY", &mac),
    ]);
    assert!(
        err.contains(
            "configuration error: SNIPPETS_NAMESPACE: expected `user` or `shared`, got `everyone`"
        ),
        "{err}"
    );
}

#[test]
fn user_mode_without_session_keys_is_a_configuration_error() {
    let err = refused(&[("SNIPPETS_NAMESPACE", "user")]);
    assert!(
        err.contains(
            "configuration error: SNIPPETS_NAMESPACE: `user` needs verified session tokens"
        ),
        "{err}"
    );
}

/// Reads stderr lines until one contains `needle` (the server keeps running, so no EOF comes).
fn log_until(cmd: &mut Command, needle: &str) -> Vec<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cmd
        .args(["--port", &port.to_string()])
        .spawn()
        .expect("binary runs");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = vec![];
    while !lines.iter().any(|l: &String| l.contains(needle)) {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn without_keys_the_server_runs_shared_and_says_so_in_plain_text() {
    let lines = log_until(&mut server(&[]), "listening on");
    let log = lines.join("\n");
    assert!(log.contains("listening on"), "{log}");
    assert!(
        log.contains("SNIPPETS_NAMESPACE=shared: no session-token keys"),
        "{log}"
    );
    // stderr is a pipe here, as when the Functions host captures it: no colour escapes.
    assert!(!log.contains('\u{1b}'), "ANSI escape in {log:?}");
}

#[test]
fn with_keys_the_default_is_user() {
    let (enc, mac) = keys();
    let lines = log_until(
        &mut server(&[
            ("SESSION_TOKEN_ENC_KEY", &enc),
            ("SESSION_TOKEN_MAC_KEY", &mac),
        ]),
        "listening on",
    );
    let log = lines.join("\n");
    assert!(log.contains("SNIPPETS_NAMESPACE=user"), "{log}");
}

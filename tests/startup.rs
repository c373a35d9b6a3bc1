//! Start-up of the real binary: namespace-mode errors name their setting (exit code 2), the mode
//! actually chosen is logged, logs written to a pipe carry no ANSI colour codes, and every line lands
//! at its true level under the Functions host's rule for a custom handler's output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn server(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snippets-mcp"));
    cmd.env_clear()
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// The level the Functions host gives a line of a custom handler's output
/// (azure-functions-host `src/WebJobs.Script/Workers/ProcessManagement/WorkerProcess.cs`:
/// `OnOutputDataReceived` logs every stdout line as Information; `ParseErrorMessageAndLog` logs a
/// stderr line as Warning when it contains "warn" (any case), and otherwise as Error when
/// `UseStdErrorStreamForErrorsOnly` is set, which `HttpWorkerDescription` defaults to true).
fn host_level(stream: Stream, line: &str) -> &'static str {
    match stream {
        Stream::Stdout => "Information",
        Stream::Stderr if line.to_ascii_lowercase().contains("warn") => "Warning",
        Stream::Stderr => "Error",
    }
}

/// Runs the server and reads its output lines (tagged by stream) until one contains `needle` (the
/// server keeps running, so no EOF comes); `then` runs against its port before it is stopped, and
/// the lines it caused are collected until a quiet moment.
fn log_until(cmd: &mut Command, needle: &str) -> Vec<(Stream, String)> {
    log_with(cmd, needle, |_| {})
}

fn log_with(cmd: &mut Command, needle: &str, then: impl FnOnce(u16)) -> Vec<(Stream, String)> {
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
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for (stream, pipe) in [
        (
            Stream::Stdout,
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
        ),
        (Stream::Stderr, Box::new(stderr)),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send((stream, line)).is_err() {
                    break;
                }
            }
        });
    }
    let mut lines: Vec<(Stream, String)> = vec![];
    while !lines.iter().any(|(_, l)| l.contains(needle)) {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    then(port);
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

fn text(lines: &[(Stream, String)]) -> String {
    lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `get_snippet` with a name the rule refuses: logged at info ("tool refused input").
fn refused_tool_call(port: u16) {
    use std::io::{Read, Write};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_snippet","arguments":{"snippetname":"../x"}}}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.contains("invalid snippet name"), "{response}");
}

#[test]
fn every_line_lands_at_its_true_level_in_the_functions_host() {
    for format in ["text", "json"] {
        let lines = log_with(
            &mut server(&[("LOG_FORMAT", format)]),
            "listening on",
            refused_tool_call,
        );
        let level_of = |needle: &str| {
            let (stream, line) = lines
                .iter()
                .find(|(_, l)| l.contains(needle))
                .unwrap_or_else(|| panic!("no line with {needle:?} in {lines:?}"));
            host_level(*stream, line)
        };
        // Informational lines, a refused input among them, are Information, not errors.
        assert_eq!(level_of("listening on"), "Information", "{format}");
        assert_eq!(level_of("tool refused input"), "Information", "{format}");
        // Warnings stay warnings.
        assert_eq!(level_of("no storage configured"), "Warning", "{format}");
        assert_eq!(level_of("no session-token keys"), "Warning", "{format}");
        // A healthy start and a refused input produce no Error at all.
        let errors: Vec<_> = lines
            .iter()
            .filter(|(stream, line)| host_level(*stream, line) == "Error")
            .collect();
        assert!(errors.is_empty(), "{format}: {errors:?}");
    }
}

#[test]
fn without_keys_the_server_runs_shared_and_says_so_in_plain_text() {
    let lines = log_until(&mut server(&[]), "listening on");
    let log = text(&lines);
    assert!(log.contains("listening on"), "{log}");
    assert!(
        log.contains("SNIPPETS_NAMESPACE=shared: no session-token keys"),
        "{log}"
    );
    // stdout and stderr are pipes here, as when the Functions host captures them: no colour escapes.
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
    let log = text(&lines);
    assert!(log.contains("SNIPPETS_NAMESPACE=user"), "{log}");
}

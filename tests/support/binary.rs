//! The real `snippets-mcp` binary on a free loopback port, killed when dropped: for the tests that
//! must see what the process does with its environment (settings read at start, refusals).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with an empty environment but `RUST_LOG=error`; the caller adds its settings.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snippets-mcp"));
    cmd.env_clear().env("RUST_LOG", "error");
    cmd
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` on a free port and waits (at most 10 s) until it answers `GET /`.
pub async fn start(mut cmd: Command) -> Server {
    let port = free_port();
    let child = cmd
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("server binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/", server.base)).await {
            assert!(r.status().is_success());
            return server;
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

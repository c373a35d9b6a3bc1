//! What an open, idle SSE session costs, measured on the heap of a server running in this process
//! (a counting global allocator, so the figure does not depend on timing or on the OS), and what
//! a session still does after its stream has left hyper (`server::Handover`).
//!
//! Each client sends `GET /sse` on its own TCP connection and reads up to its `endpoint` event; body
//! bytes are written only after hyper's connection has been dropped, so by then every session is in
//! its idle state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use snippets_mcp::app::App;
use snippets_mcp::config::Config;
use snippets_mcp::server::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Bytes currently allocated by the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Sessions opened for the measurement: enough that per-process constants vanish in the average.
const SESSIONS: usize = 300;
/// Heap per idle session allowed (debug build, client side included). Today it is about 4 KiB; a stream that stays in
/// hyper costs over 16 KiB (its read and write buffers), a router rebuilt per connection ~7 KiB more.
const MAX_BYTES_PER_SESSION: isize = 6 * 1024;

/// The server's stop token ends its streams and its accept loop.
async fn start_server() -> (std::net::SocketAddr, CancellationToken) {
    let env: HashMap<String, String> = HashMap::new();
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    let app = App::build(&config).expect("app builds");
    let stop = app.stop.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app.router, stop.clone().cancelled_owned()));
    (addr, stop)
}

/// Opens `GET /sse` and reads until the `endpoint` event is complete; returns the stream and what it
/// read. On HTTP/1.1 the event is a chunk, so it ends with the chunk's CRLF.
async fn open_sse(addr: std::net::SocketAddr, version: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /sse {version}\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
        addr.port()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let end: &[u8] = if version == "HTTP/1.1" {
        b"\n\n\r\n"
    } else {
        b"\n\n"
    };
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !(String::from_utf8_lossy(&seen).contains("sessionId=") && seen.ends_with(end)) {
        let n = stream.read(&mut buf).await.unwrap();
        let so_far = String::from_utf8_lossy(&seen);
        assert!(n > 0, "closed before the endpoint event: {so_far:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    (stream, String::from_utf8(seen).unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_sse_session_costs_little_heap() {
    let (addr, stop) = start_server().await;
    // One session first, so lazily built per-process state (the first relay-less registry use,
    // tracing callsites, ...) is not counted against the sessions measured.
    let warm = open_sse(addr, "HTTP/1.1").await;
    let before = LIVE.load(Ordering::Relaxed);
    let mut open = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        open.push(open_sse(addr, "HTTP/1.1").await);
    }
    let after = LIVE.load(Ordering::Relaxed);
    // The client side's own allocations (the streams and their read buffers) are counted too;
    // they are part of `open`, a few hundred bytes each, and stay well inside the bound.
    let per_session = (after - before) / SESSIONS as isize;
    eprintln!("heap per idle SSE session: {per_session} bytes");
    assert!(
        per_session <= MAX_BYTES_PER_SESSION,
        "an idle SSE session holds {per_session} bytes of heap (at most {MAX_BYTES_PER_SESSION})"
    );
    drop((warm, open));
    stop.cancel();
}

#[tokio::test]
async fn a_handed_over_stream_is_chunked_and_ends_with_the_last_chunk_at_shutdown() {
    let (addr, stop) = start_server().await;
    let (mut stream, head) = open_sse(addr, "HTTP/1.1").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(lower.contains("transfer-encoding: chunked\r\n"), "{head}");
    let body = &head[head.find("\r\n\r\n").unwrap() + 4..];
    let (size, event) = body.split_once("\r\n").unwrap();
    let event = event.strip_suffix("\r\n").unwrap();
    assert_eq!(
        usize::from_str_radix(size, 16).unwrap(),
        event.len(),
        "{body:?}"
    );
    assert!(
        event.starts_with("event: endpoint\ndata: message?sessionId="),
        "{event:?}"
    );
    // Shutdown ends the stream properly: the last chunk, then the server closes the connection.
    stop.cancel();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"0\r\n\r\n");
}

#[tokio::test]
async fn an_http_1_0_client_gets_its_stream_from_hyper_without_chunks() {
    let (addr, stop) = start_server().await;
    let (_stream, head) = open_sse(addr, "HTTP/1.0").await;
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    let body = &head[head.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.starts_with("event: endpoint\ndata: message?sessionId="),
        "{body:?}"
    );
    stop.cancel();
}

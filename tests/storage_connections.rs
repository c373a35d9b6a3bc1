//! How many connections the server opens to storage under a burst. Azurite serves HTTPS behind a
//! proxy that holds back each new connection's first bytes, so every TLS handshake takes a while,
//! as with a busy storage endpoint. Sixteen callers in a closed loop must then open at most sixteen
//! connections: hyper's pool alone starts one more for every call that arrives while the others
//! are still being set up. And when every connection is cut, the next calls connect again and
//! succeed, without a connect per call.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use snippets_mcp::snippets::{BlobStore, Namespace, SnippetName};
use support::azurite::{Azurite, blob_store};
use support::proxy::SlowStartProxy;
use support::tls::{ip_127, server_cert, trusted_ca};

const CALLERS: usize = 16;
/// Long against a call to Azurite (a few ms), short against the call budget.
const HANDSHAKE: Duration = Duration::from_millis(300);

/// `CALLERS` tasks, each saving and reading back its own snippet in a loop until `until`.
async fn burst(store: &Arc<BlobStore>, until: Instant) -> usize {
    let callers = (0..CALLERS).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let ns = Namespace::shared();
            let name = SnippetName::parse(&format!("caller-{i}")).unwrap();
            let mut calls = 0;
            loop {
                let text = format!("fn caller_{i}_{calls}() {{}}");
                store.save(&ns, &name, &text).await.expect("save succeeds");
                assert_eq!(store.get(&ns, &name).await.expect("get succeeds"), text);
                calls += 2;
                if Instant::now() >= until {
                    return calls;
                }
            }
        })
    });
    let mut total = 0;
    for caller in callers.collect::<Vec<_>>() {
        total += caller.await.expect("caller finished");
    }
    total
}

/// One test: the trust store is process-wide (`SSL_CERT_FILE`), so it is set once, first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_opens_no_more_connections_than_calls_in_flight() {
    let (dir, ca) = trusted_ca("storage-connections");
    let (cert, key) = server_cert(&dir, "azurite", &ca, vec![ip_127()]);
    let azurite = Azurite::start_https(&cert, &key);
    let proxy = SlowStartProxy::start(azurite.port, HANDSHAKE).await;
    let store = Arc::new(blob_store(azurite.connection_string_at_port(proxy.port)));

    // One call first: it creates the container and leaves one connection in the pool.
    let ns = Namespace::shared();
    let seed = SnippetName::parse("seed").unwrap();
    store.save(&ns, &seed, "fn seed() {}").await.unwrap();
    let before = proxy.accepted();

    let calls = burst(&store, Instant::now() + HANDSHAKE * 5).await;
    let opened = proxy.accepted() - before;
    assert!(
        calls > CALLERS * 4,
        "the burst kept every caller busy: {calls} calls"
    );
    assert!(
        opened <= CALLERS,
        "{opened} connections opened for {CALLERS} callers ({calls} calls)"
    );

    // Every connection cut at once (storage restarted, a network blip): the next calls find them
    // closed, connect again, and succeed; the count of open connections went down with them.
    proxy.cut_all();
    let before = proxy.accepted();
    let calls = burst(&store, Instant::now() + HANDSHAKE * 3).await;
    let opened = proxy.accepted() - before;
    assert!(calls >= CALLERS * 2, "{calls} calls after the cut");
    // Here a connect can be given up half-way: the dead connections are found dead one by one,
    // and a connect hyper drops mid-handshake frees its place for another (seen under CPU load:
    // 17 for 16 callers, one run in eight). What must not come back is a connect per call, which
    // is what hyper's pool does alone (dozens within these three handshakes).
    assert!(
        (1..=CALLERS + CALLERS / 4).contains(&opened),
        "{opened} connections opened again after the cut ({calls} calls)"
    );

    let _ = std::fs::remove_dir_all(&dir);
}

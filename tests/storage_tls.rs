//! Storage over HTTPS through the server's own transport: a certificate from a trusted CA is
//! accepted, and one from an unknown CA or for another host name is refused before any request is
//! sent, with the `storage unavailable:` error, and nothing is stored. Azurite serves HTTPS with
//! certificates made here; the CA is trusted through `SSL_CERT_FILE`, as on a real machine.

mod support;

use rcgen::SanType;
use snippets_mcp::snippets::{BlobStore, Namespace, SnippetError, SnippetName};
use support::azurite::{Azurite, blob_store};
use support::tls::{ca, ip_127, server_cert, trusted_ca};

fn store(azurite: &Azurite, host: &str) -> BlobStore {
    blob_store(azurite.connection_string_via(host))
}

/// The handshake fails, so the tool says what any unreachable storage gets.
fn refused(result: Result<u64, SnippetError>) {
    let message = result.expect_err("the TLS handshake must fail").to_string();
    assert_eq!(message, "storage unavailable: cannot connect to storage");
}

/// One test: the trust store is process-wide (`SSL_CERT_FILE`), so it is set once, first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_checked_against_the_trusted_roots_and_the_host_name() {
    let (dir, trusted) = trusted_ca("storage-tls");

    let ns = Namespace::shared();
    let name = SnippetName::parse("tls-check").unwrap();

    // Trusted CA, certificate for 127.0.0.1: a save and a get round-trip.
    let (cert, key) = server_cert(&dir, "good", &trusted, vec![ip_127()]);
    let good = Azurite::start_https(&cert, &key);
    let ok = store(&good, "127.0.0.1");
    assert_eq!(ok.save(&ns, &name, "fn main() {}").await.unwrap(), 12);
    assert_eq!(ok.get(&ns, &name).await.unwrap(), "fn main() {}");

    // Trusted CA, certificate for another name only: refused, and nothing was stored.
    let (cert, key) = server_cert(
        &dir,
        "other-host",
        &trusted,
        vec![SanType::DnsName("localhost".try_into().unwrap())],
    );
    let wrong_host = Azurite::start_https(&cert, &key);
    refused(store(&wrong_host, "127.0.0.1").save(&ns, &name, "x").await);
    let by_its_name = store(&wrong_host, "localhost");
    let listed = by_its_name.list(&ns, "", 10, None).await.unwrap();
    assert!(listed.snippets.is_empty(), "{listed:?}");

    // A certificate for 127.0.0.1 from a CA nobody trusts: refused.
    let stranger = ca("unknown CA");
    let (cert, key) = server_cert(&dir, "stranger", &stranger, vec![ip_127()]);
    let untrusted = Azurite::start_https(&cert, &key);
    refused(store(&untrusted, "127.0.0.1").save(&ns, &name, "x").await);

    let _ = std::fs::remove_dir_all(&dir);
}

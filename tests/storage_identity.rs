//! The managed identity path to storage, as Azure Functions provides it: an App Service identity
//! endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) hands out bearer tokens, and Azurite over
//! HTTPS with `--oauth basic` takes them. Every client built from one `StorageClients` shares one
//! token cache: however many containers and calls, the endpoint is asked once; a client built on
//! its own asks again (which is what the SSE relay used to do for every relayed message).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use base64::Engine;
use snippets_mcp::config::Config;
use snippets_mcp::snippets::{BlobStore, Namespace, SnippetName, StoreLimits};
use snippets_mcp::storage::StorageClients;
use support::azurite::Azurite;
use support::tls::{ip_127, server_cert, trusted_ca};

const SECRET: &str = "identity-header-secret-for-this-test";

/// A JWT with the claims Azurite's basic OAuth check reads (issuer prefix, audience, lifetime).
fn storage_jwt(audience: &str) -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = now + 3600;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let head = b64(serde_json::json!({"alg": "RS256", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "aud": audience, "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now - 60, "nbf": now - 60, "exp": exp,
        "oid": "00000000-0000-0000-0000-0000000000aa", "sub": "test",
    }));
    (format!("{head}.{claims}.c2lnbmF0dXJl"), exp)
}

/// The identity endpoint: checks the secret header and the protocol version, counts what it issues.
async fn token(
    State(issued): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<serde_json::Value>, StatusCode> {
    let secret = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    if secret != Some(SECRET) || q.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let resource = q.get("resource").cloned().unwrap_or_default();
    let (token, exp) = storage_jwt(resource.trim_end_matches('/'));
    issued.fetch_add(1, Ordering::SeqCst);
    Ok(axum::Json(serde_json::json!({
        "access_token": token, "expires_on": exp.to_string(), "resource": resource, "token_type": "Bearer",
    })))
}

async fn identity_endpoint() -> (String, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/msi/token", get(token))
        .with_state(issued.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/msi/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, issued)
}

/// One test: the trust store and the identity endpoint are process-wide settings, so they are set
/// once, first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_serves_every_client_built_from_the_shared_clients() {
    let (dir, trusted) = trusted_ca("storage-identity");
    let (endpoint, issued) = identity_endpoint().await;
    // SAFETY: the only test in this binary; the spawned endpoint task does not read the environment.
    unsafe {
        std::env::set_var("IDENTITY_ENDPOINT", &endpoint);
        std::env::set_var("IDENTITY_HEADER", SECRET);
    }
    let (cert, key) = server_cert(&dir, "azurite", &trusted, vec![ip_127()]);
    let azurite = Azurite::start_https_oauth(&cert, &key);
    let env: HashMap<String, String> = [
        (
            "AzureWebJobsStorage__blobServiceUri",
            azurite.blob_endpoint(),
        ),
        ("AzureWebJobsStorage__credential", "managedidentity".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    let storage = config.storage.as_ref().unwrap();
    let limits = StoreLimits {
        max_snippet_bytes: config.limits.max_snippet_bytes,
        call_budget: Duration::from_secs(10),
    };
    let ns = Namespace::shared();
    let name = SnippetName::parse("identity-check").unwrap();

    // Two containers and several calls from one StorageClients: one token.
    let clients = StorageClients::new(storage).expect("clients build");
    for container in ["snippets", "other"] {
        let client = clients.container(container).unwrap();
        let store = BlobStore::new(client, limits);
        assert_eq!(
            store.save(&ns, &name, container).await.unwrap(),
            container.len() as u64
        );
        assert_eq!(store.get(&ns, &name).await.unwrap(), container);
    }
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "one token for every shared client"
    );

    // A client built on its own has a token cache of its own: it asks again.
    let alone = BlobStore::new(
        StorageClients::new(storage)
            .unwrap()
            .container("snippets")
            .unwrap(),
        limits,
    );
    assert_eq!(alone.get(&ns, &name).await.unwrap(), "snippets");
    assert_eq!(issued.load(Ordering::SeqCst), 2);

    let _ = std::fs::remove_dir_all(&dir);
}

//! The tools in process, as rmcp's own examples drive them: an rmcp client talks to `SnippetTools`
//! over an in-memory duplex, against a real Azurite. Covers the namespace a session is bound to:
//! Alice's and Bob's sessions are isolated, and `shared` keeps the reference layout exactly.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use azure_core::http::RequestContent;
use azure_storage_blob::BlobContainerClient;
use futures::TryStreamExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use snippets_mcp::config::Config;
use snippets_mcp::snippets::{BlobStore, Namespace, NamespaceMode, SnippetName, StoreLimits};
use snippets_mcp::storage::StorageClients;
use snippets_mcp::tools::SnippetTools;
use support::azurite::Azurite;
use tokio_util::task::TaskTracker;

const LIMITS: StoreLimits = StoreLimits {
    max_snippet_bytes: 1 << 20,
    call_budget: snippets_mcp::storage::DEFAULT_CALL_BUDGET,
};

fn container(azurite: &Azurite, name: &str) -> BlobContainerClient {
    let env: HashMap<String, String> = [(
        "AzureWebJobsStorage".to_string(),
        azurite.connection_string(),
    )]
    .into();
    let config = Config::from_sources(&[], &env).unwrap();
    StorageClients::new(config.storage.as_ref().unwrap())
        .unwrap()
        .container(name)
        .unwrap()
}

async fn session(tools: SnippetTools) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = tools.serve(server_io).await.expect("server starts");
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("client initialises")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .expect("call answered")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// Every blob name in the container, read with the storage SDK, not through the tools.
async fn blob_names(container: &BlobContainerClient) -> Vec<String> {
    let mut pages = container.list_blobs(None).unwrap().into_pages();
    let mut names = vec![];
    while let Some(page) = pages.try_next().await.unwrap() {
        names.extend(
            page.into_model()
                .unwrap()
                .blob_items
                .into_iter()
                .filter_map(|b| b.name),
        );
    }
    names.sort();
    names
}

async fn read_blob(container: &BlobContainerClient, name: &str) -> Vec<u8> {
    let response = container.blob_client(name).download(None).await.unwrap();
    response.body.collect().await.unwrap().to_vec()
}

#[tokio::test]
async fn sessions_are_bound_to_their_users_namespace() {
    let azurite = Azurite::start();
    let blobs = container(&azurite, "snippets");
    let store = Arc::new(BlobStore::new(container(&azurite, "snippets"), LIMITS));
    let tools = SnippetTools::new(Some(store), TaskTracker::new(), NamespaceMode::User);
    let alice = session(tools.for_session(Some("alice-oid"), None).unwrap()).await;
    let bob = session(tools.for_session(Some("bob-oid"), None).unwrap()).await;

    let saved = call(
        &alice,
        "save_snippet",
        json!({"snippetname": "notes", "snippet": "alice"}),
    )
    .await;
    assert_eq!(saved.is_error, Some(false), "{}", text(&saved));

    let got = call(&bob, "get_snippet", json!({"snippetname": "notes"})).await;
    assert_eq!(
        (got.is_error, text(&got)),
        (Some(true), "snippet not found: notes".into())
    );
    let listed = call(&bob, "list_snippets", json!({})).await;
    assert_eq!(listed.structured_content, Some(json!({"snippets": []})));
    let deleted = call(&bob, "delete_snippet", json!({"snippetname": "notes"})).await;
    assert_eq!(text(&deleted), "snippet not found: notes");
    let own = call(
        &bob,
        "save_snippet",
        json!({"snippetname": "notes", "snippet": "bob"}),
    )
    .await;
    assert_eq!(own.is_error, Some(false));
    assert_eq!(
        text(&call(&alice, "get_snippet", json!({"snippetname": "notes"})).await),
        "alice"
    );

    let name = SnippetName::parse("notes").unwrap();
    let alice_blob = Namespace::for_subject("alice-oid")
        .unwrap()
        .blob_name(&name);
    let bob_blob = Namespace::for_subject("bob-oid").unwrap().blob_name(&name);
    let mut expected = vec![alice_blob.clone(), bob_blob.clone()];
    expected.sort();
    assert_eq!(blob_names(&blobs).await, expected);
    assert_eq!(read_blob(&blobs, &alice_blob).await, b"alice");
    assert_eq!(read_blob(&blobs, &bob_blob).await, b"bob");
    assert!(alice_blob.starts_with("u/") && !alice_blob.contains("alice"));

    // A user-mode session without a verified user is never opened.
    assert!(tools.for_session(None, None).is_err());
}

#[tokio::test]
async fn shared_mode_reads_and_writes_the_reference_layout_byte_for_byte() {
    let azurite = Azurite::start();
    let blobs = container(&azurite, "snippets");
    blobs.create(None).await.unwrap();
    // Written as the reference sample writes it: `<name>.json`, body = the text.
    let body = "def hello():\r\n    print('ünïcode ✓')\n".as_bytes();
    blobs
        .blob_client("legacy.json")
        .upload(RequestContent::from(body.to_vec()), None)
        .await
        .unwrap();
    // A per-user snippet left by a `user`-mode deployment stays out of shared listings.
    let private = Namespace::for_subject("someone")
        .unwrap()
        .blob_name(&SnippetName::parse("private").unwrap());
    blobs
        .blob_client(&private)
        .upload(RequestContent::from(b"private".to_vec()), None)
        .await
        .unwrap();
    let store = Arc::new(BlobStore::new(container(&azurite, "snippets"), LIMITS));
    let tools = SnippetTools::new(Some(store), TaskTracker::new(), NamespaceMode::Shared);
    // Any caller, signed in or not, sees the same store.
    let client = session(tools.for_session(Some("anyone"), None).unwrap()).await;

    let got = call(&client, "get_snippet", json!({"snippetname": "legacy"})).await;
    assert_eq!(text(&got).as_bytes(), body);
    let listed = call(&client, "list_snippets", json!({})).await;
    let names: Vec<&str> = listed.structured_content.as_ref().unwrap()["snippets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["legacy"]);
    call(
        &client,
        "save_snippet",
        json!({"snippetname": "new one", "snippet": "x\ty"}),
    )
    .await;
    let mut expected = vec!["legacy.json".to_string(), "new one.json".into(), private];
    expected.sort();
    assert_eq!(blob_names(&blobs).await, expected);
    assert_eq!(read_blob(&blobs, "new one.json").await, b"x\ty");
}

//! The MCP tools: `hello_mcp` and the snippet operations, with schemas, annotations and structured output.
//! One `SnippetTools` value is shared by every session and transport; it holds no per-session state.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Json, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::task::TaskTracker;

use crate::snippets::{BlobStore, SnippetError, SnippetName};

/// The greeting the reference sample's `hello_mcp` returns; clients may compare it.
pub const HELLO: &str = "Hello I am MCPTool!";
const DEFAULT_PAGE: u32 = 100;

#[derive(Clone)]
pub struct SnippetTools {
    store: Option<Arc<BlobStore>>,
    /// Tracks tool calls so graceful shutdown can wait for them.
    inflight: TaskTracker,
    tool_router: Arc<ToolRouter<SnippetTools>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveArgs {
    /// Snippet name: 1-128 characters; no `/`, `\`, `..` or control characters; no leading or trailing whitespace.
    pub snippetname: String,
    /// The snippet text, stored exactly as given (UTF-8; at most 1 MiB unless the server is configured otherwise).
    pub snippet: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NameArgs {
    /// Snippet name, as given to save_snippet.
    pub snippetname: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only names starting with this text.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page, to continue a listing.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Saved {
    /// Name the snippet was saved under.
    pub name: String,
    /// Size of the stored text in UTF-8 bytes.
    pub bytes: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub snippets: Vec<ListedSnippet>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedSnippet {
    pub name: String,
    pub bytes: u64,
    /// RFC 3339 time of the last save.
    pub last_modified: Option<String>,
}

// Return types are written out as `Result<Json<T>, String>`: rmcp's macro looks for `Json<T>`
// in the signature to publish an output schema, and a type alias would hide it.
#[tool_router(router = tool_router_impl)]
impl SnippetTools {
    pub fn new(store: Option<Arc<BlobStore>>, inflight: TaskTracker) -> Self {
        SnippetTools {
            store,
            inflight,
            tool_router: Arc::new(Self::tool_router_impl()),
        }
    }

    /// Say hello: a quick check that the server is reachable and the session works.
    #[tool(annotations(
        title = "Hello",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn hello_mcp(&self) -> String {
        HELLO.to_string()
    }

    /// Save a code snippet under a name, replacing any snippet of that name.
    #[tool(annotations(
        title = "Save snippet",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn save_snippet(
        &self,
        Parameters(args): Parameters<SaveArgs>,
    ) -> Result<Json<Saved>, String> {
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            let bytes = self.store()?.save(&name, &args.snippet).await?;
            Ok(Saved {
                name: name.to_string(),
                bytes,
            })
        };
        self.run("save_snippet", run).await.map(Json)
    }

    /// Get the text of a saved snippet, exactly as it was saved.
    #[tool(annotations(
        title = "Get snippet",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_snippet(&self, Parameters(args): Parameters<NameArgs>) -> Result<String, String> {
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            self.store()?.get(&name).await
        };
        self.run("get_snippet", run).await
    }

    /// List saved snippets in name order, optionally by name prefix, one page at a time.
    #[tool(annotations(
        title = "List snippets",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_snippets(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<Json<Listed>, String> {
        let run = async {
            let prefix = args.prefix.unwrap_or_default();
            if prefix.chars().any(char::is_control)
                || prefix.chars().count() > crate::snippets::MAX_NAME_CHARS
            {
                return Err(SnippetError::InvalidPrefix(
                    "at most 128 characters, no control characters".into(),
                ));
            }
            let limit = args.limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=crate::snippets::MAX_PAGE).contains(&limit) {
                return Err(SnippetError::InvalidLimit(limit));
            }
            let page = self.store()?.list(&prefix, limit, args.cursor).await?;
            Ok(Listed {
                snippets: page
                    .snippets
                    .into_iter()
                    .map(|s| ListedSnippet {
                        name: s.name,
                        bytes: s.bytes,
                        last_modified: s.last_modified,
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
        };
        self.run("list_snippets", run).await.map(Json)
    }

    /// Delete a saved snippet.
    #[tool(annotations(
        title = "Delete snippet",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn delete_snippet(
        &self,
        Parameters(args): Parameters<NameArgs>,
    ) -> Result<Json<Deleted>, String> {
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            self.store()?.delete(&name).await?;
            Ok(Deleted {
                name: name.to_string(),
                deleted: true,
            })
        };
        self.run("delete_snippet", run).await.map(Json)
    }
}

impl SnippetTools {
    fn store(&self) -> Result<&BlobStore, SnippetError> {
        self.store.as_deref().ok_or(SnippetError::NotConfigured)
    }

    /// Runs one tool call as in-flight work (shutdown waits for it); its error goes back to the
    /// client as an `isError` result, and storage failures are also logged.
    async fn run<T>(
        &self,
        tool: &'static str,
        work: impl Future<Output = Result<T, SnippetError>>,
    ) -> Result<T, String> {
        self.inflight.track_future(work).await.map_err(|e| {
            match &e {
                SnippetError::Storage(_)
                | SnippetError::Unavailable(_)
                | SnippetError::NotConfigured => {
                    tracing::warn!(tool, error = %e, "tool failed")
                }
                _ => tracing::info!(tool, error = %e, "tool refused input"),
            }
            e.to_string()
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SnippetTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                    .with_title("Code snippets on Azure Blob Storage"),
            )
            .with_instructions(
                "Save, get, list and delete named code snippets. Names are 1-128 characters without `/`, `\\`, `..` or control characters.",
            )
    }
}

//! The MCP tools: `hello_mcp` and the snippet operations, with schemas, annotations and structured output.
//! One `SnippetTools` value serves every Streamable HTTP request, whose namespace comes from the
//! verified token in the request; each SSE session gets a copy bound to its opener's namespace.

use std::sync::Arc;

use axum::http::request::Parts;
use futures::FutureExt;
use futures::future::Either;
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CompleteRequestMethod, CompleteRequestParams, CompleteResult, Implementation,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult, MetaObject,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData as McpError, Json, RoleServer, ServerHandler, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::task::TaskTracker;

use session_token::Claims;
use session_token::scope::required_for_tool;

use crate::snippets::{BlobStore, Namespace, NamespaceMode, NoIdentity, SnippetError, SnippetName};
use crate::telemetry::{Outcome, Telemetry, ToolCall, TraceContext};

/// The `_meta` member of each tool in `tools/list` naming the scope a call needs, so a client can
/// tell before calling which tools its token allows (all tools are listed to every caller: a
/// reader's client sees what a writer role would add, and a call it may not make gets the 403
/// `insufficient_scope` answer that lets it step up).
pub const REQUIRED_SCOPE_META: &str = "requiredScope";

/// `tool`'s `_meta`, from the one table the server's check also reads (`required_for_tool`).
fn required_scope(tool: &str) -> MetaObject {
    let mut meta = MetaObject::default();
    meta.0
        .insert(REQUIRED_SCOPE_META.into(), required_for_tool(tool).into());
    meta
}

/// The greeting the reference sample's `hello_mcp` returns; clients may compare it.
pub const HELLO: &str = "Hello I am MCPTool!";
const DEFAULT_PAGE: u32 = 100;

#[derive(Clone)]
pub struct SnippetTools {
    store: Option<Arc<BlobStore>>,
    /// Tracks tool calls so graceful shutdown can wait for them.
    inflight: TaskTracker,
    tool_router: Arc<ToolRouter<SnippetTools>>,
    mode: NamespaceMode,
    /// Set for an SSE session: its opener, whose namespace every call on the session uses
    /// (including calls relayed from other instances, which carry no request of their own).
    session: Option<Arc<SessionOwner>>,
    /// Spans, the audit event and metrics of each call (empty without telemetry).
    telemetry: Telemetry,
}

/// Who opened an SSE session.
struct SessionOwner {
    namespace: Namespace,
    user: Option<String>,
    client: Option<String>,
}

/// What the audit trail says of one call, gathered before it runs.
struct CallInfo<'a> {
    tool: &'static str,
    snippet: Option<&'a str>,
    caller: &'a Caller,
}

/// Who calls a tool and under which span, read from the request's context without copying it
/// (taking the whole `Extensions` clones the HTTP request's parts, headers included).
pub struct Caller {
    /// The verified token's subject and OAuth client id (Streamable HTTP; an SSE session keeps its
    /// opener's in the tools themselves).
    subject: Option<String>,
    client: Option<String>,
    /// The span in the request's `_meta.traceparent` (MCP 2026-07-28; an SSE request carries its
    /// HTTP request's there), else the HTTP request's own span.
    meta_span: Option<TraceContext>,
    http_span: Option<TraceContext>,
}

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, McpError> {
        let context = context.as_request_context();
        let parts = context.extensions.get::<Parts>();
        let claims = parts.and_then(|p| p.extensions.get::<Claims>());
        Ok(Caller {
            subject: claims.map(|c| c.sub.clone()),
            client: claims.map(|c| c.cid.clone()),
            meta_span: context
                .meta
                .get_traceparent()
                .and_then(TraceContext::child_of_header),
            http_span: parts.and_then(|p| p.extensions.get::<TraceContext>().copied()),
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveArgs {
    /// Snippet name: 1-128 characters; no `/`, `\`, `..`, control characters or invisible format characters (bidi overrides, zero-width); no leading or trailing whitespace.
    pub snippetname: String,
    /// The snippet text, stored exactly as given (UTF-8; at most 1 MiB unless the server is configured otherwise).
    pub snippet: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NameArgs {
    /// Snippet name, as given to save_snippet.
    pub snippetname: String,
}

// Schemas are written for portability: optional members instead of `["T", "null"]` unions, and
// integer bounds as minimum/maximum instead of Rust-specific formats (`uint32`, `uint64`), which
// the Inspector flags and strict validators reject.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only names starting with this text.
    #[serde(default)]
    #[schemars(schema_with = "schema::name_prefix")]
    pub prefix: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[serde(default)]
    #[schemars(schema_with = "schema::page_size")]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page, to continue a listing.
    #[serde(default)]
    #[schemars(schema_with = "schema::string")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Saved {
    /// Name the snippet was saved under.
    pub name: String,
    /// Size of the stored text in UTF-8 bytes.
    #[schemars(schema_with = "schema::byte_count")]
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
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::string")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedSnippet {
    pub name: String,
    #[schemars(schema_with = "schema::byte_count")]
    pub bytes: u64,
    /// RFC 3339 time of the last save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::date_time")]
    pub last_modified: Option<String>,
}

/// Member schemas in portable JSON Schema (see the note above `ListArgs`).
mod schema {
    use schemars::{Schema, SchemaGenerator, json_schema};

    pub fn string(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string"})
    }

    pub fn name_prefix(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": crate::snippets::MAX_NAME_CHARS})
    }

    pub fn page_size(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": crate::snippets::MAX_PAGE})
    }

    pub fn byte_count(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0})
    }

    pub fn date_time(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time"})
    }
}

// Return types are written out as `Result<Json<T>, String>`: rmcp's macro looks for `Json<T>`
// in the signature to publish an output schema, and a type alias would hide it.
#[tool_router(router = tool_router_impl)]
impl SnippetTools {
    pub fn new(store: Option<Arc<BlobStore>>, inflight: TaskTracker, mode: NamespaceMode) -> Self {
        SnippetTools {
            store,
            inflight,
            tool_router: Arc::new(Self::tool_router_impl()),
            mode,
            session: None,
            telemetry: Telemetry::default(),
        }
    }

    /// The same tools, recording spans, an audit event and metrics for each call.
    pub fn with_telemetry(self, telemetry: Telemetry) -> Self {
        SnippetTools { telemetry, ..self }
    }

    /// Say hello: a quick check that the server is reachable and the session works.
    #[tool(
        meta = required_scope("hello_mcp"),
        annotations(
        title = "Hello",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn hello_mcp(&self, caller: Caller) -> String {
        let call = CallInfo {
            tool: "hello_mcp",
            snippet: None,
            caller: &caller,
        };
        let hello = async { Ok::<_, SnippetError>(HELLO.to_string()) };
        self.observe(call, hello).await.unwrap_or_default()
    }

    /// Save a code snippet under a name, replacing any snippet of that name.
    #[tool(
        meta = required_scope("save_snippet"),
        annotations(
        title = "Save snippet",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn save_snippet(
        &self,
        Parameters(args): Parameters<SaveArgs>,
        caller: Caller,
    ) -> Result<Json<Saved>, String> {
        let call = CallInfo {
            tool: "save_snippet",
            snippet: Some(&args.snippetname),
            caller: &caller,
        };
        let ns = self.namespace(&caller)?;
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            let bytes = self.store()?.save(&ns, &name, &args.snippet).await?;
            Ok(Saved {
                name: name.to_string(),
                bytes,
            })
        };
        self.run(call, run).await.map(Json)
    }

    /// Get the text of a saved snippet, exactly as it was saved.
    #[tool(
        meta = required_scope("get_snippet"),
        annotations(
        title = "Get snippet",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_snippet(
        &self,
        Parameters(args): Parameters<NameArgs>,
        caller: Caller,
    ) -> Result<String, String> {
        let call = CallInfo {
            tool: "get_snippet",
            snippet: Some(&args.snippetname),
            caller: &caller,
        };
        let ns = self.namespace(&caller)?;
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            self.store()?.get(&ns, &name).await
        };
        self.run(call, run).await
    }

    /// List saved snippets in name order, optionally by name prefix, one page at a time.
    #[tool(
        meta = required_scope("list_snippets"),
        annotations(
        title = "List snippets",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_snippets(
        &self,
        Parameters(args): Parameters<ListArgs>,
        caller: Caller,
    ) -> Result<Json<Listed>, String> {
        let call = CallInfo {
            tool: "list_snippets",
            snippet: None,
            caller: &caller,
        };
        let ns = self.namespace(&caller)?;
        let run = async {
            let prefix = args.prefix.unwrap_or_default();
            if prefix
                .chars()
                .any(|c| c.is_control() || crate::snippets::is_invisible_format(c))
                || prefix.chars().count() > crate::snippets::MAX_NAME_CHARS
            {
                return Err(SnippetError::InvalidPrefix(
                    "at most 128 characters, no control or invisible format characters".into(),
                ));
            }
            let limit = args.limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=crate::snippets::MAX_PAGE).contains(&limit) {
                return Err(SnippetError::InvalidLimit(limit));
            }
            let page = self.store()?.list(&ns, &prefix, limit, args.cursor).await?;
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
        self.run(call, run).await.map(Json)
    }

    /// Delete a saved snippet.
    #[tool(
        meta = required_scope("delete_snippet"),
        annotations(
        title = "Delete snippet",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn delete_snippet(
        &self,
        Parameters(args): Parameters<NameArgs>,
        caller: Caller,
    ) -> Result<Json<Deleted>, String> {
        let call = CallInfo {
            tool: "delete_snippet",
            snippet: Some(&args.snippetname),
            caller: &caller,
        };
        let ns = self.namespace(&caller)?;
        let run = async {
            let name = SnippetName::parse(&args.snippetname)?;
            self.store()?.delete(&ns, &name).await?;
            Ok(Deleted {
                name: name.to_string(),
                deleted: true,
            })
        };
        self.run(call, run).await.map(Json)
    }
}

impl SnippetTools {
    /// A copy for one SSE session, bound to the namespace of `subject` (the opener's token subject);
    /// `client` (the token's OAuth client id) goes into the session's audit events.
    pub fn for_session(
        &self,
        subject: Option<&str>,
        client: Option<&str>,
    ) -> Result<Self, NoIdentity> {
        let owner = SessionOwner {
            namespace: Namespace::resolve(self.mode, subject)?,
            user: subject.map(String::from),
            client: client.map(String::from),
        };
        Ok(SnippetTools {
            session: Some(Arc::new(owner)),
            ..self.clone()
        })
    }

    /// The caller's namespace: the session's, or the one of the verified token on this HTTP request
    /// (rmcp hands the request's `Parts` to the handler; `require_session` put the claims there).
    fn namespace(&self, caller: &Caller) -> Result<Namespace, String> {
        if let Some(owner) = &self.session {
            return Ok(owner.namespace.clone());
        }
        Namespace::resolve(self.mode, caller.subject.as_deref()).map_err(|e| {
            tracing::warn!("snippet call without a verified user refused");
            e.to_string()
        })
    }

    fn store(&self) -> Result<&BlobStore, SnippetError> {
        self.store.as_deref().ok_or(SnippetError::NotConfigured)
    }

    /// Runs one snippet tool call as in-flight work (shutdown waits for it); its error goes back
    /// to the client as an `isError` result, and storage failures are also logged.
    ///
    /// This and `observe` are combinators, not `async fn`s: an `async fn` keeps its future argument
    /// and the future it awaits side by side, so each layer doubled the call's future (a save's was
    /// 36 KiB), and the future is copied whole each time it moves (docs/performance.md).
    fn run<T>(
        &self,
        call: CallInfo<'_>,
        work: impl Future<Output = Result<T, SnippetError>>,
    ) -> impl Future<Output = Result<T, String>> {
        let tool = call.tool;
        self.observe(call, self.inflight.track_future(work))
            .map(move |result| {
                result.map_err(|e| {
                    match &e {
                        SnippetError::Storage(_) | SnippetError::NotConfigured => {
                            tracing::warn!(tool, error = %e, "tool failed")
                        }
                        _ => tracing::info!(tool, error = %e, "tool refused input"),
                    }
                    e.to_string()
                })
            })
    }

    /// Runs `work` under the call's span and records the call (span, audit event, metrics); with
    /// telemetry off it only runs `work`.
    fn observe<T>(
        &self,
        call: CallInfo<'_>,
        work: impl Future<Output = Result<T, SnippetError>>,
    ) -> impl Future<Output = Result<T, SnippetError>> {
        if !self.telemetry.is_enabled() {
            return Either::Left(work);
        }
        let span = call.caller.span();
        let (start, clock) = (std::time::SystemTime::now(), std::time::Instant::now());
        Either::Right(span.scope(work).map(move |result| {
            self.record(&call, &span, start, clock.elapsed(), &result);
            result
        }))
    }

    /// The call's span, audit event and metrics.
    fn record<T>(
        &self,
        call: &CallInfo<'_>,
        span: &TraceContext,
        start: std::time::SystemTime,
        duration: std::time::Duration,
        result: &Result<T, SnippetError>,
    ) {
        let (outcome, error) = match result {
            Ok(_) => (Outcome::Ok, None),
            Err(e @ (SnippetError::Storage(_) | SnippetError::NotConfigured)) => {
                (Outcome::Failed, Some(e.to_string()))
            }
            Err(e) => (Outcome::Refused, Some(e.to_string())),
        };
        let (user, client) = self.identity(call.caller);
        self.telemetry.tool_call(ToolCall {
            tool: call.tool,
            snippet: call.snippet,
            outcome,
            error: error.as_deref(),
            user,
            client,
            span,
            start,
            duration,
        });
    }

    /// The caller's user (token subject) and client id: the session opener's, or the request token's.
    fn identity<'a>(&'a self, caller: &'a Caller) -> (Option<&'a str>, Option<&'a str>) {
        match &self.session {
            Some(owner) => (owner.user.as_deref(), owner.client.as_deref()),
            None => (caller.subject.as_deref(), caller.client.as_deref()),
        }
    }
}

impl Caller {
    /// The tool call's span: under the `_meta.traceparent` span when the client sent one, else under
    /// the span the task runs in or the HTTP request's.
    fn span(&self) -> TraceContext {
        if let Some(span) = self.meta_span {
            return span;
        }
        match (TraceContext::current(), self.http_span) {
            (Some(current), _) => current.child(),
            (None, Some(http)) => http.child(),
            (None, None) => TraceContext::root(),
        }
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
                "Save, get, list and delete named code snippets. Names are 1-128 characters without `/`, `\\`, `..`, control characters or invisible format characters.",
            )
    }

    // Only tools are declared, so nothing else may be served: rmcp's defaults answer these
    // listings with empty results, which would contradict the capabilities in `initialize`
    // and `server/discover`. Undeclared methods are "method not found" (-32601) on both eras.
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Err(McpError::method_not_found::<ListPromptsRequestMethod>())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Err(McpError::method_not_found::<ListResourcesRequestMethod>())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Err(McpError::method_not_found::<
            ListResourceTemplatesRequestMethod,
        >())
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        Err(McpError::method_not_found::<CompleteRequestMethod>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each tool's `_meta.requiredScope` is what the server's check requires of its name, so a tool
    /// whose meta names another tool (or a misspelt one) fails here.
    #[test]
    fn every_tool_lists_the_scope_the_check_requires() {
        let tools = SnippetTools::tool_router_impl().list_all();
        assert_eq!(tools.len(), 5);
        for tool in tools {
            let meta = tool.meta.as_ref().expect("every tool has _meta");
            assert_eq!(
                meta.0.get(REQUIRED_SCOPE_META).and_then(|v| v.as_str()),
                Some(required_for_tool(&tool.name)),
                "{}",
                tool.name
            );
        }
    }

    /// A tool call's future is boxed by rmcp and moved whole before it is polled, so its size is
    /// work per call: each `async fn` layer that takes a future and awaits it doubles it (a save's
    /// was 36 KiB, a third of its instructions in memcpy). Today: save 1,264 bytes, get 1,728,
    /// delete 864; one wrapper written as an `async fn` again (e.g. the span's scope) fails.
    const TOOL_FUTURE_BOUND: usize = 2048;

    #[test]
    fn tool_call_futures_stay_small() {
        let tools = SnippetTools::new(None, TaskTracker::new(), NamespaceMode::Shared);
        let caller = || Caller {
            subject: None,
            client: None,
            meta_span: None,
            http_span: None,
        };
        let name = || NameArgs {
            snippetname: "n".into(),
        };
        let save = SaveArgs {
            snippetname: "n".into(),
            snippet: "x".into(),
        };
        let sizes = [
            (
                "save",
                std::mem::size_of_val(&*tools.save_snippet(Parameters(save), caller())),
            ),
            (
                "get",
                std::mem::size_of_val(&*tools.get_snippet(Parameters(name()), caller())),
            ),
            (
                "delete",
                std::mem::size_of_val(&*tools.delete_snippet(Parameters(name()), caller())),
            ),
        ];
        let too_big: Vec<_> = sizes
            .iter()
            .filter(|(_, bytes)| *bytes > TOOL_FUTURE_BOUND)
            .collect();
        assert!(
            too_big.is_empty(),
            "futures over {TOOL_FUTURE_BOUND} bytes: {too_big:?}"
        );
    }
}

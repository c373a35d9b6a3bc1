//! What the server tells its operator: logs on stdout and stderr at their true level (`logging`), and,
//! with `APPLICATIONINSIGHTS_CONNECTION_STRING`, traces, metrics and an audit event per tool call sent
//! straight to Application Insights (a Flex Consumption instance runs no collector).
//!
//! - `logging`: `tracing` to stdout (info and below) and stderr (warnings and errors);
//! - `settings`: the connection and authentication strings;
//! - `trace_context`: W3C `traceparent`, and the span the running task works under;
//! - `envelope`: the ingestion protocol's items;
//! - `metrics`: pre-aggregated series;
//! - `exporter`: the bounded queue and the task that posts batches;
//! - this module: the handle the rest of the server records through.
//!
//! Recording never waits and never fails a request: a full queue drops the item (counted). Without a
//! connection string the handle is empty and every method returns at once.
//! Why no OpenTelemetry pipeline: no Rust exporter sends to Application Insights with an Entra token
//! (what a resource with local authentication disabled requires), and the envelopes are a small,
//! stable JSON schema; items are built directly, so a recorded call costs a few allocations.

mod envelope;
mod exporter;
mod logging;
pub mod metrics;
pub mod settings;
pub mod trace_context;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Request;
use axum::response::Response;

pub use envelope::{Item, tool_name};
pub use exporter::{ExporterError, QUEUE_CAPACITY};
pub use logging::init as init_logging;
pub use settings::TelemetrySettings;
pub use trace_context::TraceContext;

use exporter::Exporter;

/// How a tool call ended, for the audit event and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The input was refused or the snippet does not exist: the caller's to fix.
    Refused,
    /// Storage failed or is not configured: the operator's to fix.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// One finished tool call, as the audit trail records it. Never the snippet's content or a token.
pub struct ToolCall<'a> {
    pub tool: &'static str,
    pub snippet: Option<&'a str>,
    pub outcome: Outcome,
    /// The error's text; only its stable prefix (up to the first `:`) is recorded.
    pub error: Option<&'a str>,
    /// The verified token's subject (the user's Entra object id) and OAuth client id.
    pub user: Option<&'a str>,
    pub client: Option<&'a str>,
    pub span: &'a TraceContext,
    pub start: SystemTime,
    pub duration: Duration,
}

/// The handle every part of the server records through; cheap to clone, empty when disabled.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<Exporter>>);

impl Telemetry {
    /// Starts exporting to `settings`' endpoint, or an empty handle without settings; must run inside
    /// the tokio runtime.
    pub fn start(settings: Option<&TelemetrySettings>) -> Result<Self, ExporterError> {
        match settings {
            None => Ok(Telemetry(None)),
            Some(settings) => {
                tracing::info!(endpoint = %settings.track_url, "telemetry to Application Insights");
                Exporter::start(settings).map(|e| Telemetry(Some(e)))
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Items dropped because the queue was full (an endpoint too slow or gone).
    pub fn dropped(&self) -> u64 {
        self.0.as_ref().map_or(0, |e| e.dropped())
    }

    /// A call to a dependency (storage) made under the current span, if the task has one.
    pub fn dependency(&self, call: Dependency) {
        let (Some(exporter), Some(parent)) = (&self.0, TraceContext::current()) else {
            return;
        };
        exporter.send(Item::Dependency {
            span: parent.child(),
            kind: call.kind,
            name: call.name,
            target: call.target,
            data: call.data,
            code: call.code,
            success: call.success,
            start: call.start,
            duration: call.duration,
        });
    }

    /// The tool call's span, its audit event and its metrics.
    pub fn tool_call(&self, call: ToolCall) {
        let Some(exporter) = &self.0 else {
            return;
        };
        let prefix = call.error.map(|e| {
            e.split_once(':')
                .map_or(e, |(prefix, _)| prefix)
                .to_string()
        });
        let outcome = call.outcome.as_str();
        exporter.metrics.record(
            metrics::TOOL_CALL_MS,
            [Some(("tool", call.tool)), Some(("outcome", outcome))],
            call.duration.as_secs_f64() * 1000.0,
        );
        if let (Outcome::Failed, Some(error)) = (call.outcome, call.error) {
            let kind = if error.contains("no answer within") {
                "budget_expired"
            } else if error.starts_with("storage unavailable") {
                "unavailable"
            } else {
                "refused"
            };
            exporter
                .metrics
                .record(metrics::STORAGE_FAILURES, [Some(("kind", kind)), None], 1.0);
        }
        exporter.send(Item::ToolCall {
            span: *call.span,
            tool: call.tool,
            snippet: call.snippet.map(String::from),
            outcome: call.outcome,
            error_prefix: prefix,
            user: call.user.map(String::from),
            client: call.client.map(String::from),
            start: call.start,
            duration: call.duration,
        });
    }

    pub fn sse_session_opened(&self) {
        if let Some(e) = &self.0 {
            e.metrics.sse_session_opened();
        }
    }

    pub fn sse_session_closed(&self) {
        if let Some(e) = &self.0 {
            e.metrics.sse_session_closed();
        }
    }

    pub fn relayed_messages(&self, count: usize) {
        if let Some(e) = &self.0 {
            e.metrics
                .record(metrics::RELAYED_MESSAGES, [None, None], count as f64);
        }
    }

    /// Sends what is queued, within `deadline` (the host's shutdown grace period is longer).
    pub async fn flush(&self, deadline: Duration) {
        if let Some(e) = &self.0 {
            e.flush(deadline).await;
        }
    }
}

/// A finished call to a dependency, as `Telemetry::dependency` records it.
pub struct Dependency {
    /// Application Insights' dependency type, e.g. `Azure blob`.
    pub kind: &'static str,
    pub name: String,
    pub target: String,
    /// The call's URL without its query (which may hold a SAS signature).
    pub data: String,
    pub code: String,
    pub success: bool,
    pub start: SystemTime,
    pub duration: Duration,
}

impl Telemetry {
    /// Runs `handle` on the request as a span continuing the caller's `traceparent`, everything the
    /// request does under it, and records a request item when the response is ready (the URL
    /// without its query: an SSE session id is there). Without telemetry, only runs `handle`. Called
    /// from the request checks' layer rather than a layer of its own: each axum layer clones the
    /// service stack below it on every request.
    pub async fn around_request<F, Fut>(&self, mut request: Request, handle: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let Some(exporter) = &self.0 else {
            return handle(request).await;
        };
        let span = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::child_of_header)
            .unwrap_or_else(TraceContext::root);
        let name = request_name(request.method(), request.uri().path());
        request.extensions_mut().insert(span);
        let (start, clock) = (SystemTime::now(), Instant::now());
        let response = span.scope(handle(request)).await;
        exporter.send(Item::Request {
            span,
            name,
            code: response.status().as_u16(),
            start,
            duration: clock.elapsed(),
        });
        response
    }
}

/// `<METHOD> <path>`, without allocating for the routes the server has.
fn request_name(method: &axum::http::Method, path: &str) -> Cow<'static, str> {
    use axum::http::Method;
    let known = match (method, path) {
        (&Method::POST, "/mcp") => "POST /mcp",
        (&Method::GET, "/mcp") => "GET /mcp",
        (&Method::DELETE, "/mcp") => "DELETE /mcp",
        (&Method::GET, "/sse") => "GET /sse",
        (&Method::POST, "/message") => "POST /message",
        _ => return Cow::Owned(format!("{method} {path}")),
    };
    Cow::Borrowed(known)
}

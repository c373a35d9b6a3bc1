//! The Application Insights envelopes the exporter sends (the ingestion endpoint's JSON schema,
//! version 2): requests, dependencies, custom events and metrics, each tagged with its operation
//! (the W3C trace id) and its parent span. Items are recorded as plain data on the request path and
//! written as JSON only in the exporter's task, straight into the batch's buffer.

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, SystemTime};

use super::Outcome;
use super::trace_context::TraceContext;

/// The service's name in Application Insights (`cloud_RoleName`, `AppRoleName`).
const ROLE: &str = "snippets-mcp";
/// The audit event's name.
pub const TOOL_CALL_EVENT: &str = "McpToolCall";
/// A tool call's span name, `tool <name>`, written out for each tool so no call formats it.
const TOOL_SPAN_NAMES: [(&str, &str); 5] = [
    ("hello_mcp", "tool hello_mcp"),
    ("save_snippet", "tool save_snippet"),
    ("get_snippet", "tool get_snippet"),
    ("list_snippets", "tool list_snippets"),
    ("delete_snippet", "tool delete_snippet"),
];

/// The tool's name as a `'static` string (what the audit records), if it is one of ours.
pub fn tool_name(name: &str) -> Option<&'static str> {
    TOOL_SPAN_NAMES
        .iter()
        .find(|(tool, _)| *tool == name)
        .map(|(tool, _)| *tool)
}

/// One telemetry item, as recorded on the request path.
#[derive(Debug)]
pub enum Item {
    Request {
        span: TraceContext,
        /// `POST /mcp`, `GET /sse`, ...: the path without its query.
        name: Cow<'static, str>,
        code: u16,
        start: SystemTime,
        duration: Duration,
    },
    Dependency {
        span: TraceContext,
        kind: &'static str,
        name: String,
        target: String,
        data: String,
        code: String,
        success: bool,
        start: SystemTime,
        duration: Duration,
    },
    /// A tool call: written as its span (an `InProc` dependency) and its audit event.
    ToolCall {
        span: TraceContext,
        tool: &'static str,
        snippet: Option<String>,
        outcome: Outcome,
        error_prefix: Option<String>,
        user: Option<String>,
        client: Option<String>,
        start: SystemTime,
        duration: Duration,
    },
    Metric {
        name: &'static str,
        sum: f64,
        count: u64,
        min: f64,
        max: f64,
        dimensions: Vec<(&'static str, &'static str)>,
        time: SystemTime,
    },
}

impl Item {
    /// Appends the item's envelope lines (one per envelope) to `out`.
    pub fn write(&self, key: &str, out: &mut Vec<u8>) {
        match self {
            Item::Request {
                span,
                name,
                code,
                start,
                duration,
            } => {
                head(out, "Request", *start, key, Some(span), Some(name));
                out.extend_from_slice(b"\"id\":");
                hex16(out, span.span_id);
                out.extend_from_slice(b",\"name\":");
                string(out, name);
                out.extend_from_slice(b",\"url\":");
                string(out, name.split_once(' ').map_or(name, |(_, path)| path));
                let _ = write!(
                    out,
                    ",\"responseCode\":\"{code}\",\"success\":{},\"duration\":\"",
                    *code < 500
                );
                timespan(out, *duration);
                out.extend_from_slice(b"\"");
                tail(out);
            }
            Item::Dependency {
                span,
                kind,
                name,
                target,
                data,
                code,
                success,
                start,
                duration,
            } => {
                let fields = DependencyFields {
                    kind,
                    name,
                    target,
                    data,
                    code,
                    success: *success,
                };
                dependency(out, key, span, &fields, *start, *duration);
            }
            Item::ToolCall {
                span,
                tool,
                snippet,
                outcome,
                error_prefix,
                user,
                client,
                start,
                duration,
            } => {
                let name = TOOL_SPAN_NAMES
                    .iter()
                    .find(|(t, _)| t == tool)
                    .map_or("tool", |(_, n)| n);
                let fields = DependencyFields {
                    kind: "InProc",
                    name,
                    target: ROLE,
                    data: snippet.as_deref().unwrap_or_default(),
                    code: outcome.as_str(),
                    success: *outcome != Outcome::Failed,
                };
                dependency(out, key, span, &fields, *start, *duration);
                let millis = format!("{:.3}", duration.as_secs_f64() * 1000.0);
                let properties = [
                    ("tool", Some(*tool)),
                    ("outcome", Some(outcome.as_str())),
                    ("durationMs", Some(millis.as_str())),
                    ("snippet", snippet.as_deref()),
                    ("errorPrefix", error_prefix.as_deref()),
                    ("userId", user.as_deref()),
                    ("clientId", client.as_deref()),
                ];
                // The event's parent is the tool call's span.
                let under_call = TraceContext {
                    parent_id: span.span_id,
                    ..*span
                };
                head(out, "Event", *start, key, Some(&under_call), None);
                out.extend_from_slice(b"\"name\":");
                string(out, TOOL_CALL_EVENT);
                out.extend_from_slice(b",\"properties\":");
                object(
                    out,
                    properties.iter().filter_map(|(k, v)| Some((*k, (*v)?))),
                );
                tail(out);
            }
            Item::Metric {
                name,
                sum,
                count,
                min,
                max,
                dimensions,
                time,
            } => {
                head(out, "Metric", *time, key, None, None);
                out.extend_from_slice(b"\"metrics\":[{\"name\":");
                string(out, name);
                let _ = write!(
                    out,
                    ",\"value\":{sum},\"count\":{count},\"min\":{min},\"max\":{max}}}],\"properties\":"
                );
                object(out, dimensions.iter().copied());
                tail(out);
            }
        }
    }
}

struct DependencyFields<'a> {
    kind: &'a str,
    name: &'a str,
    target: &'a str,
    data: &'a str,
    code: &'a str,
    success: bool,
}

fn dependency(
    out: &mut Vec<u8>,
    key: &str,
    span: &TraceContext,
    f: &DependencyFields,
    start: SystemTime,
    duration: Duration,
) {
    head(out, "RemoteDependency", start, key, Some(span), None);
    out.extend_from_slice(b"\"id\":");
    hex16(out, span.span_id);
    for (name, value) in [
        ("name", f.name),
        ("type", f.kind),
        ("target", f.target),
        ("data", f.data),
        ("resultCode", f.code),
    ] {
        let _ = write!(out, ",\"{name}\":");
        string(out, value);
    }
    let _ = write!(out, ",\"success\":{},\"duration\":\"", f.success);
    timespan(out, duration);
    out.extend_from_slice(b"\"");
    tail(out);
}

/// `{"name":"Microsoft.ApplicationInsights.<kind>","time":...,"iKey":...,"tags":{...},"data":{"baseType":"<kind>Data","baseData":{"ver":2,`
fn head(
    out: &mut Vec<u8>,
    kind: &str,
    time: SystemTime,
    key: &str,
    span: Option<&TraceContext>,
    operation_name: Option<&str>,
) {
    let _ = write!(
        out,
        "{{\"name\":\"Microsoft.ApplicationInsights.{kind}\",\"time\":\""
    );
    timestamp(out, time);
    out.extend_from_slice(b"\",\"iKey\":");
    string(out, key);
    let _ = write!(out, ",\"tags\":{{\"ai.cloud.role\":\"{ROLE}\"");
    if let Some(span) = span {
        let _ = write!(out, ",\"ai.operation.id\":\"{:032x}\"", span.trace_id);
        if span.parent_id != 0 {
            let _ = write!(
                out,
                ",\"ai.operation.parentId\":\"{:016x}\"",
                span.parent_id
            );
        }
    }
    if let Some(name) = operation_name {
        out.extend_from_slice(b",\"ai.operation.name\":");
        string(out, name);
    }
    let _ = write!(
        out,
        "}},\"data\":{{\"baseType\":\"{kind}Data\",\"baseData\":{{\"ver\":2,"
    );
}

fn tail(out: &mut Vec<u8>) {
    out.extend_from_slice(b"}}}\n");
}

fn hex16(out: &mut Vec<u8>, id: u64) {
    let _ = write!(out, "\"{id:016x}\"");
}

/// A JSON string, escaped as JSON requires (values may come from clients: snippet names).
fn string(out: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(&mut *out, value);
}

fn object<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        string(out, v);
    }
    out.push(b'}');
}

/// RFC 3339 in UTC with microseconds, written directly (a general formatter cost several times more,
/// three times per tool call).
fn timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    );
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Application Insights' duration format, `[d.]hh:mm:ss.ffffff`.
fn timespan(out: &mut Vec<u8>, d: Duration) {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    if days > 0 {
        let _ = write!(out, "{days}.");
    }
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:06}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        d.subsec_micros()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lines(item: &Item) -> Vec<Value> {
        let mut out = Vec::new();
        item.write("key", &mut out);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON"))
            .collect()
    }

    fn span() -> TraceContext {
        TraceContext::child_of_header("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let text = |secs: u64, micros: u64| {
            let mut out = Vec::new();
            let t =
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            timestamp(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(text(1_796_428_799, 999_999), "2026-12-04T23:59:59.999999Z");
        assert_eq!(text(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn durations_use_the_timespan_format() {
        let text = |d| {
            let mut out = Vec::new();
            timespan(&mut out, d);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(Duration::from_micros(1_500)), "00:00:00.001500");
        assert_eq!(text(Duration::from_secs(3_725)), "01:02:05.000000");
        assert_eq!(text(Duration::from_secs(90_000)), "1.01:00:00.000000");
    }

    #[test]
    fn a_request_names_its_operation_and_parent() {
        let span = span();
        let [e] = &lines(&Item::Request {
            span,
            name: "POST /mcp".into(),
            code: 200,
            start: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(3),
        })[..] else {
            panic!("one envelope")
        };
        assert_eq!(e["name"], "Microsoft.ApplicationInsights.Request");
        assert_eq!(e["iKey"], "key");
        assert_eq!(e["time"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            e["tags"]["ai.operation.id"],
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(e["tags"]["ai.operation.parentId"], "b7ad6b7169203331");
        assert_eq!(e["data"]["baseType"], "RequestData");
        let base = &e["data"]["baseData"];
        assert_eq!(base["id"], span.span_hex());
        assert_eq!(
            (base["name"].as_str(), base["url"].as_str()),
            (Some("POST /mcp"), Some("/mcp"))
        );
        assert_eq!(base["success"], true);
        assert_eq!(base["duration"], "00:00:00.003000");
    }

    #[test]
    fn a_tool_call_is_a_span_and_an_audit_event_with_escaped_values() {
        let span = span();
        let envelopes = lines(&Item::ToolCall {
            span,
            tool: "save_snippet",
            snippet: Some("quote\" and \\ and \u{1}".into()),
            outcome: Outcome::Failed,
            error_prefix: Some("storage unavailable".into()),
            user: Some("oid".into()),
            client: None,
            start: SystemTime::UNIX_EPOCH,
            duration: Duration::from_micros(2500),
        });
        let [dependency, event] = &envelopes[..] else {
            panic!("two envelopes")
        };
        assert_eq!(dependency["data"]["baseData"]["name"], "tool save_snippet");
        assert_eq!(dependency["data"]["baseData"]["success"], false);
        assert_eq!(
            dependency["data"]["baseData"]["data"],
            "quote\" and \\ and \u{1}"
        );
        assert_eq!(event["data"]["baseType"], "EventData");
        let props = &event["data"]["baseData"]["properties"];
        assert_eq!(props["outcome"], "failed");
        assert_eq!(props["durationMs"], "2.500");
        assert_eq!(props["errorPrefix"], "storage unavailable");
        assert_eq!(props["userId"], "oid");
        assert!(props.get("clientId").is_none());
        assert_eq!(
            event["tags"]["ai.operation.id"],
            dependency["tags"]["ai.operation.id"]
        );
    }
}

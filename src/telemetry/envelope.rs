//! The Application Insights envelopes the exporter sends (the ingestion endpoint's JSON schema,
//! version 2): requests, dependencies, custom events and metrics, each tagged with its operation
//! (the W3C trace id) and its parent span.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::trace_context::TraceContext;

/// The service's name in Application Insights (`cloud_RoleName`, `AppRoleName`).
const ROLE: &str = "snippets-mcp";

/// One telemetry item, as recorded on the request path; turned into JSON by the exporter's task.
#[derive(Debug)]
pub enum Item {
    Request {
        span: TraceContext,
        name: String,
        url: String,
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
    Event {
        operation: Option<TraceContext>,
        name: &'static str,
        properties: Vec<(&'static str, String)>,
        time: SystemTime,
    },
    Metric {
        name: &'static str,
        sum: f64,
        count: u64,
        min: f64,
        max: f64,
        properties: Vec<(&'static str, String)>,
        time: SystemTime,
    },
}

impl Item {
    /// The item as one envelope line of the ingestion protocol.
    pub fn envelope(&self, instrumentation_key: &str) -> Value {
        let (kind, time, tags, base_data) = match self {
            Item::Request {
                span,
                name,
                url,
                code,
                start,
                duration,
            } => (
                "Request",
                *start,
                tags(Some(span), Some(name)),
                json!({
                    "ver": 2, "id": span.span_id, "name": name, "url": url,
                    "responseCode": code.to_string(), "success": *code < 500,
                    "duration": timespan(*duration),
                }),
            ),
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
            } => (
                "RemoteDependency",
                *start,
                tags(Some(span), None),
                json!({
                    "ver": 2, "id": span.span_id, "name": name, "type": kind, "target": target,
                    "data": data, "resultCode": code, "success": success,
                    "duration": timespan(*duration),
                }),
            ),
            Item::Event {
                operation,
                name,
                properties,
                time,
            } => (
                "Event",
                *time,
                tags(operation.as_ref(), None),
                json!({"ver": 2, "name": name, "properties": object(properties)}),
            ),
            Item::Metric {
                name,
                sum,
                count,
                min,
                max,
                properties,
                time,
            } => (
                "Metric",
                *time,
                tags(None, None),
                json!({
                    "ver": 2,
                    "metrics": [{"name": name, "value": sum, "count": count, "min": min, "max": max}],
                    "properties": object(properties),
                }),
            ),
        };
        json!({
            "name": format!("Microsoft.ApplicationInsights.{kind}"),
            "time": timestamp(time),
            "iKey": instrumentation_key,
            "tags": tags,
            "data": {"baseType": format!("{kind}Data"), "baseData": base_data},
        })
    }
}

/// The operation id is the trace id; the parent is the span's parent (a request's is the caller's
/// span from `traceparent`, a dependency's the request or tool call it ran under).
fn tags(span: Option<&TraceContext>, operation_name: Option<&String>) -> Value {
    let mut tags = Map::new();
    tags.insert("ai.cloud.role".into(), ROLE.into());
    if let Some(span) = span {
        tags.insert("ai.operation.id".into(), span.trace_id.clone().into());
        if let Some(parent) = &span.parent_id {
            tags.insert("ai.operation.parentId".into(), parent.clone().into());
        }
    }
    if let Some(name) = operation_name {
        tags.insert("ai.operation.name".into(), name.clone().into());
    }
    Value::Object(tags)
}

fn object(properties: &[(&'static str, String)]) -> Value {
    Value::Object(
        properties
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect(),
    )
}

fn timestamp(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Application Insights' duration format, `[d.]hh:mm:ss.ffffff`.
fn timespan(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}.{:06}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        d.subsec_micros()
    );
    if days > 0 {
        format!("{days}.{clock}")
    } else {
        clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_timespan_format() {
        assert_eq!(timespan(Duration::from_micros(1_500)), "00:00:00.001500");
        assert_eq!(timespan(Duration::from_secs(3_725)), "01:02:05.000000");
        assert_eq!(timespan(Duration::from_secs(90_000)), "1.01:00:00.000000");
    }

    #[test]
    fn a_request_names_its_operation_and_parent() {
        let span = TraceContext::child_of_header(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .unwrap();
        let item = Item::Request {
            span: span.clone(),
            name: "POST /mcp".into(),
            url: "/mcp".into(),
            code: 200,
            start: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(3),
        };
        let e = item.envelope("key");
        assert_eq!(e["name"], "Microsoft.ApplicationInsights.Request");
        assert_eq!(e["iKey"], "key");
        assert_eq!(e["time"], "1970-01-01T00:00:00Z");
        assert_eq!(
            e["tags"]["ai.operation.id"],
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(e["tags"]["ai.operation.parentId"], "b7ad6b7169203331");
        assert_eq!(e["data"]["baseType"], "RequestData");
        assert_eq!(e["data"]["baseData"]["id"], span.span_id);
        assert_eq!(e["data"]["baseData"]["success"], true);
        assert_eq!(e["data"]["baseData"]["duration"], "00:00:00.003000");
    }
}

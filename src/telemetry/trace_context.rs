//! W3C Trace Context (`traceparent`): which trace a request belongs to and which span is its parent,
//! read from the incoming header (APIM and the Functions host send one) or from a request's
//! `_meta.traceparent` (MCP 2026-07-28), and carried while the request runs so the tool call and the
//! storage calls under it name their parent.

use std::fmt;

tokio::task_local! {
    /// The span the running task works under; storage calls made inside it are its children.
    static CURRENT: TraceContext;
}

/// A position in a trace: the trace id (the operation id in Application Insights), this span's id,
/// and the id of its parent span, when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: Option<String>,
    /// The sampled flag of the incoming `traceparent` (kept when passing the context on).
    pub sampled: bool,
}

impl TraceContext {
    /// A span whose parent is the one a `traceparent` value names; `None` for anything that is not a
    /// valid version-00 value (an invalid header starts a new trace, as the W3C rules say).
    pub fn child_of_header(traceparent: &str) -> Option<Self> {
        let parent = parse(traceparent.trim())?;
        Some(TraceContext {
            trace_id: parent.0.to_string(),
            span_id: new_span_id(),
            parent_id: Some(parent.1.to_string()),
            sampled: parent.2,
        })
    }

    /// A span that starts a trace of its own.
    pub fn root() -> Self {
        TraceContext {
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            span_id: new_span_id(),
            parent_id: None,
            sampled: true,
        }
    }

    /// A new span under this one.
    pub fn child(&self) -> Self {
        TraceContext {
            trace_id: self.trace_id.clone(),
            span_id: new_span_id(),
            parent_id: Some(self.span_id.clone()),
            sampled: self.sampled,
        }
    }

    /// This span as a `traceparent` value, for what runs under it elsewhere (the SSE relay).
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }

    /// The span the running task works under, if any.
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this span as the current one.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

fn new_span_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase, neither id all zeros.
fn parse(value: &str) -> Option<(&str, &str, bool)> {
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && nonzero(trace)
        && nonzero(parent);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    valid.then_some((trace, parent, sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_header_becomes_the_parent() {
        let ctx = TraceContext::child_of_header(HEADER).unwrap();
        assert_eq!(ctx.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.parent_id.as_deref(), Some("b7ad6b7169203331"));
        assert_eq!(ctx.span_id.len(), 16);
        assert_ne!(ctx.span_id, "b7ad6b7169203331");
        assert!(ctx.sampled);
        let child = ctx.child();
        assert_eq!(child.trace_id, ctx.trace_id);
        assert_eq!(child.parent_id.as_deref(), Some(ctx.span_id.as_str()));
        assert_eq!(
            TraceContext::child_of_header(&child.traceparent())
                .unwrap()
                .parent_id,
            Some(child.span_id)
        );
    }

    #[test]
    fn invalid_headers_are_ignored() {
        for bad in [
            "",
            "garbage",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
        ] {
            assert_eq!(TraceContext::child_of_header(bad), None, "{bad}");
        }
        assert!(
            !TraceContext::child_of_header(&HEADER.replace("-01", "-00"))
                .unwrap()
                .sampled
        );
    }

    #[tokio::test]
    async fn the_current_span_is_scoped_to_its_task() {
        assert_eq!(TraceContext::current(), None);
        let ctx = TraceContext::root();
        let seen = ctx.clone().scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(ctx));
        assert_eq!(TraceContext::current(), None);
    }
}

//! W3C Trace Context (`traceparent`): which trace a request belongs to and which span is its parent,
//! read from the incoming header (APIM and the Functions host send one) or from a request's
//! `_meta.traceparent` (MCP 2026-07-28), and carried while the request runs so the tool call and the
//! storage calls under it name their parent.

use std::cell::Cell;
use std::fmt;

tokio::task_local! {
    /// The span the running task works under; storage calls made inside it are its children.
    static CURRENT: TraceContext;
}

/// A position in a trace: the trace id (the operation id in Application Insights), this span's id,
/// and the id of its parent span, when it has one. Plain numbers, so a context is copied, never
/// allocated; they are written as hex only when an envelope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 for a root span (W3C ids are never all zeros).
    pub parent_id: u64,
    /// The sampled flag of the incoming `traceparent` (kept when passing the context on).
    pub sampled: bool,
}

impl TraceContext {
    /// A span whose parent is the one a `traceparent` value names; `None` for anything that is not a
    /// valid version-00 value (an invalid header starts a new trace, as the W3C rules say).
    pub fn child_of_header(traceparent: &str) -> Option<Self> {
        let (trace_id, parent_id, sampled) = parse(traceparent.trim())?;
        Some(TraceContext {
            trace_id,
            span_id: new_id(),
            parent_id,
            sampled,
        })
    }

    /// A span that starts a trace of its own.
    pub fn root() -> Self {
        TraceContext {
            trace_id: (u128::from(new_id()) << 64) | u128::from(new_id()),
            span_id: new_id(),
            parent_id: 0,
            sampled: true,
        }
    }

    /// A new span under this one.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: new_id(),
            parent_id: self.span_id,
            ..*self
        }
    }

    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    pub fn span_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The parent span's id in hex, `None` for a root span.
    pub fn parent_hex(&self) -> Option<String> {
        (self.parent_id != 0).then(|| format!("{:016x}", self.parent_id))
    }

    /// This span as a `traceparent` value, for what runs under it elsewhere (the SSE relay).
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{:032x}-{:016x}-{flags}", self.trace_id, self.span_id)
    }

    /// The span the running task works under, if any.
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(|c| *c).ok()
    }

    /// Runs `work` with this span as the current one.
    /// Not an `async fn`, which would hold `work` twice (the argument and the future it awaits).
    pub fn scope<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, work)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

thread_local! {
    /// splitmix64 state, seeded once per thread from the OS: span ids must be unique, not secret,
    /// and asking the OS for every id was a system call per span.
    static STATE: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
}

/// A random, non-zero 64-bit id.
fn new_id() -> u64 {
    STATE.with(|state| {
        loop {
            let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    })
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase, neither id all zeros.
fn parse(value: &str) -> Option<(u128, u64, bool)> {
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if version != "00"
        || parts.next().is_some()
        || !hex(trace, 32)
        || !hex(parent, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    let trace = u128::from_str_radix(trace, 16).ok()?;
    let parent = u64::from_str_radix(parent, 16).ok()?;
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    (trace != 0 && parent != 0).then_some((trace, parent, sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_header_becomes_the_parent() {
        let ctx = TraceContext::child_of_header(HEADER).unwrap();
        assert_eq!(ctx.trace_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.parent_hex().as_deref(), Some("b7ad6b7169203331"));
        assert_eq!(ctx.span_hex().len(), 16);
        assert_ne!(ctx.span_hex(), "b7ad6b7169203331");
        assert!(ctx.sampled);
        let child = ctx.child();
        assert_eq!(child.trace_id, ctx.trace_id);
        assert_eq!(child.parent_id, ctx.span_id);
        assert_eq!(
            TraceContext::child_of_header(&child.traceparent())
                .unwrap()
                .parent_id,
            child.span_id
        );
        assert_eq!(TraceContext::root().parent_hex(), None);
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
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
        let seen = ctx.scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(ctx));
        assert_eq!(TraceContext::current(), None);
    }
}

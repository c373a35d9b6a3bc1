//! Rejects MCP requests whose `Origin` is present and not allowed (MCP transports MUST validate it):
//! a page on another site cannot drive the server through a user's browser. Requests without
//! `Origin` (native clients, the gateway's own calls) pass unchanged, and so do same-origin
//! requests: an `Origin` naming the very host the request was sent to (its `Host`, which the host
//! guard has already checked) comes from a page served by this server's own origin, not another site.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

/// Allowed origins in ASCII serialisation (`scheme://host[:port]`, default port omitted).
#[derive(Clone, Debug)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    pub fn new(origins: Vec<String>) -> Self {
        AllowedOrigins(Arc::new(origins))
    }

    /// Compares serialised origins, so `HTTPS://GW.example:443` equals `https://gw.example`;
    /// `null` and anything unparsable never match.
    pub fn allows(&self, origin_header: &str) -> bool {
        match normalise(origin_header) {
            Some(origin) => self.0.contains(&origin),
            None => false,
        }
    }
}

/// The ASCII serialisation of an origin written as a URL without path, query or fragment;
/// `None` for opaque origins (`null`, `file:`) and for anything that is not a bare origin.
pub fn normalise(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let bare = matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    let origin = url.origin();
    (bare && origin.is_tuple()).then(|| origin.ascii_serialization())
}

/// True when `origin` is the origin of the request's own `Host` (either scheme: TLS may end in front
/// of the server, so it cannot tell which one the browser used).
fn same_origin(origin: &str, host: Option<&header::HeaderValue>) -> bool {
    let (Some(origin), Some(host)) = (normalise(origin), host.and_then(|h| h.to_str().ok())) else {
        return false;
    };
    ["http", "https"]
        .iter()
        .any(|scheme| normalise(&format!("{scheme}://{host}")).as_deref() == Some(origin.as_str()))
}

impl AllowedOrigins {
    /// No `Origin`, or one allowed or same-origin `Origin`; the refusal (answered with 403) names the setting.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let allowed = match (origins.next(), origins.next()) {
            (None, _) => true,
            (Some(one), None) => one
                .to_str()
                .is_ok_and(|o| self.allows(o) || same_origin(o, headers.get(header::HOST))),
            // Two Origin headers are never sent by a browser; refuse rather than pick one.
            (Some(_), Some(_)) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err("Origin not allowed (set MCP_ALLOWED_ORIGINS)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_serialised_origins_only() {
        let a = AllowedOrigins::new(vec![
            "https://gw.example".into(),
            "http://localhost:6274".into(),
        ]);
        for ok in [
            "https://gw.example",
            "HTTPS://GW.EXAMPLE",
            "https://gw.example:443",
            "https://gw.example/",
            "http://localhost:6274",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://gw.example",
            "https://gw.example:8443",
            "https://gw.example.evil.example",
            "http://localhost:6275",
            "null",
            "",
            "gw.example",
            "https://gw.example/path",
            "https://user@gw.example",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
    }

    #[test]
    fn same_origin_is_the_requests_own_host_only() {
        let host = |h: &'static str| Some(header::HeaderValue::from_static(h));
        assert!(same_origin(
            "http://localhost:7071",
            host("localhost:7071").as_ref()
        ));
        assert!(same_origin(
            "HTTP://LOCALHOST:7071",
            host("localhost:7071").as_ref()
        ));
        assert!(same_origin(
            "https://gw.example",
            host("gw.example").as_ref()
        ));
        assert!(same_origin(
            "https://gw.example",
            host("gw.example:443").as_ref()
        ));
        for (origin, h) in [
            ("http://localhost:7072", "localhost:7071"),
            ("http://evil.example", "localhost:7071"),
            ("http://localhost:7071.evil.example", "localhost:7071"),
            ("null", "localhost:7071"),
            ("http://localhost:7071/path", "localhost:7071"),
        ] {
            assert!(!same_origin(origin, host(h).as_ref()), "{origin} vs {h}");
        }
        assert!(!same_origin("http://localhost:7071", None));
    }
}

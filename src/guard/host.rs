//! Rejects requests whose `Host` is not an expected name, so a browser page cannot rebind DNS to the server.
//! One check for every MCP route; rmcp's own check is turned off to keep the rule in one place.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

#[derive(Clone)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(hosts: Vec<String>) -> Self {
        AllowedHosts(Arc::new(
            hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        ))
    }

    /// Compares the host part only: ports vary between local runs, the Functions host and APIM.
    pub fn allows(&self, host_header: &str) -> bool {
        let host = strip_port(host_header.trim()).to_ascii_lowercase();
        self.0.contains(&host)
    }
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

impl AllowedHosts {
    /// The request's `Host` must be one of the allowed hosts; the refusal (answered with 403) names the setting to change.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match host {
            Some(h) if self.allows(h) => Ok(()),
            _ => Err("Host not allowed (set MCP_ALLOWED_HOSTS)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_host_without_port_case_insensitively() {
        let a = AllowedHosts::new(vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
            "Func.Example".into(),
        ]);
        for ok in [
            "localhost:7071",
            "127.0.0.1",
            "[::1]:8080",
            "func.example",
            "FUNC.EXAMPLE:443",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.2:7071",
            "localhost.evil.example",
            "",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
    }
}

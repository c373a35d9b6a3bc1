//! The HTTP transport under the storage SDK: hyper's pooled HTTP/1.1 client, with rustls and the
//! platform's trust store (the TLS set-up `reqwest` uses by default), handed to `azure_core` as its
//! `HttpClient`.
//!
//! Why not the SDK's default `reqwest` client: for every request `reqwest` rebuilds the header map,
//! clones the request for its retry layer, and runs its redirect layer, which prints the URI and
//! parses it again as a URL even when redirects are off. That was about a third of the instructions
//! a storage call spends in the HTTP client, and the SDK's own pipeline already does what those
//! layers are for (retries, timeouts through the call budget). What stays the same: TLS (rustls,
//! aws-lc-rs, certificates checked against the platform's roots, `SSL_CERT_FILE` honoured),
//! connection pooling, `TCP_NODELAY`, no redirects, no response decompression. What it adds: a new
//! connection is opened only when a request would otherwise have none (`connect_gate`). What it
//! does not do: HTTP proxies (storage is reached directly or through a private endpoint) and HTTP/2
//! (Blob Storage speaks HTTP/1.1).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, Method, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyDataStream, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::connect_gate::{ConnectGate, GatedConnector};
use crate::telemetry::{Dependency, Telemetry};

/// Idle pooled connections are closed after this; Azure Storage drops idle connections itself
/// after a few minutes, and a connection it has dropped costs a failed write before the retry.
const POOL_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("could not set up TLS for storage: {0}")]
    Tls(String),
}

/// The storage SDK's HTTP client; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<GatedConnector<HttpsConnector<HttpConnector>>, Full<Bytes>>,
    gate: Arc<ConnectGate>,
    /// Records each call as a dependency of the span it runs under (none for the exporter's own).
    telemetry: Telemetry,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HyperTransport")
    }
}

impl HyperTransport {
    /// `connect_timeout` bounds the TCP connect; the whole call is bounded by the caller's budget.
    pub fn new(connect_timeout: Duration) -> Result<Self, TransportError> {
        let tls = tls_config()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false); // the TLS layer above decides the scheme
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1() // and ALPN "http/1.1"
            .wrap_connector(http);
        let gate = Arc::new(ConnectGate::default());
        let connector = GatedConnector::new(connector, gate.clone(), connect_timeout);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(HyperTransport {
            client,
            gate,
            telemetry: Telemetry::default(),
        })
    }

    /// The same transport, recording its calls as dependencies.
    pub fn with_telemetry(self, telemetry: Telemetry) -> Self {
        HyperTransport { telemetry, ..self }
    }
}

/// The TLS set-up every transport shares. Loading the platform's roots takes about 5 ms; the server
/// builds one transport, but tools and tests that build clients on their own get it for free.
fn tls_config() -> Result<rustls::ClientConfig, TransportError> {
    static SHARED: OnceLock<rustls::ClientConfig> = OnceLock::new();
    if let Some(config) = SHARED.get() {
        return Ok(config.clone());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    // "dangerous" is rustls's name for any verifier of one's own; this one is the platform's
    // full certificate and host name check, as reqwest installs it.
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(SHARED.get_or_init(|| config).clone())
}

#[async_trait]
impl HttpClient for HyperTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        if !self.telemetry.is_enabled() {
            return self.send(request).await;
        }
        let (start, clock) = (std::time::SystemTime::now(), std::time::Instant::now());
        let result = self.send(request).await;
        let code = match &result {
            Ok(response) => u16::from(response.status()).to_string(),
            Err(e) => format!("{}", e.kind()),
        };
        // A 409 on a create means another instance created it first: success for the caller.
        let success = result.as_ref().is_ok_and(|r| {
            let status = u16::from(r.status());
            status < 400 || (status == 409 && request.method() == Method::Put)
        });
        self.telemetry
            .dependency(dependency(request, code, success, start, clock.elapsed()));
        result
    }
}

impl HyperTransport {
    async fn send(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let outgoing = to_hyper(request).await?;
        // Counted until the body is read or dropped: the connection is busy until then.
        let in_flight = self.gate.request(outgoing.uri());
        let response = self.client.request(outgoing).await.map_err(|e| {
            let kind = if e.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            Error::with_error(kind, e, "storage request failed")
        })?;
        let (parts, body) = response.into_parts();
        let status = StatusCode::from(parts.status.as_u16());
        let headers = from_hyper(&parts.headers);
        let stream = BodyDataStream::new(body).map(move |chunk| {
            let _counted_while_streaming = &in_flight;
            chunk.map_err(|e| Error::with_error(ErrorKind::Io, e, "storage response body failed"))
        });
        Ok(AsyncRawResponse::new(status, headers, Box::pin(stream)))
    }
}

/// A storage call as a dependency: typed by service, named by method and container (the blob's name
/// stays in `data`), the URL without its query (a SAS signature may be there).
fn dependency(
    request: &Request,
    code: String,
    success: bool,
    start: std::time::SystemTime,
    duration: Duration,
) -> Dependency {
    let url = request.url();
    let host = url.host_str().unwrap_or_default();
    let kind = if host.contains(".queue.") {
        "Azure queue"
    } else if host.contains(".blob.") {
        "Azure blob"
    } else {
        "HTTP"
    };
    let mut segments = url.path_segments().into_iter().flatten();
    // Azurite and other emulators put the account first in the path; Azure puts it in the host.
    if kind == "HTTP" {
        segments.next();
    }
    let container = segments.next().unwrap_or_default();
    let mut data = url.clone();
    data.set_query(None);
    Dependency {
        kind,
        name: format!("{} {container}", request.method().as_str()),
        target: url[url::Position::BeforeHost..url::Position::AfterPort].to_string(),
        data: data.to_string(),
        code,
        success,
        start,
        duration,
    }
}

async fn to_hyper(request: &Request) -> azure_core::Result<http::Request<Full<Bytes>>> {
    let body = match request.body() {
        Body::Bytes(bytes) => bytes.clone(),
        // The SDK streams only what it holds in memory; snippets are small, so one buffer.
        Body::SeekableStream(stream) => {
            let mut stream = stream.clone();
            stream.reset().await?;
            let mut buffer = Vec::new();
            let mut chunks = (stream as Box<dyn azure_core::stream::SeekableStream>).boxed();
            while let Some(chunk) = chunks.next().await {
                buffer.extend_from_slice(&chunk?);
            }
            Bytes::from(buffer)
        }
    };
    let mut builder = http::Request::builder()
        .method(method(request.method())?)
        .uri(request.url().as_str());
    for (name, value) in request.headers().iter() {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(body))
        .map_err(|e| Error::with_error(ErrorKind::DataConversion, e, "invalid storage request"))
}

/// Any method the SDK adds later is passed on by name, never replaced by another.
fn method(m: Method) -> azure_core::Result<http::Method> {
    Ok(match m {
        Method::Delete => http::Method::DELETE,
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Patch => http::Method::PATCH,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        other => http::Method::from_bytes(other.as_str().as_bytes()).map_err(|e| {
            Error::with_error(ErrorKind::DataConversion, e, "invalid storage request")
        })?,
    })
}

/// Headers the SDK cannot read as text are dropped, as its own `reqwest` adapter does.
fn from_hyper(map: &http::HeaderMap) -> Headers {
    // Sized once: growing the SDK's map rehashes every header again each time it doubles.
    let mut headers = HashMap::with_capacity(map.len());
    for (name, value) in map {
        if let Ok(value) = value.to_str() {
            headers.insert(
                header_name(name.as_str()),
                HeaderValue::from(value.to_owned()),
            );
        }
    }
    Headers::from(headers)
}

/// The names Blob Storage answers with, as static strings: an SDK header name made from a
/// `String` is copied and lower-cased again, for every header of every response.
const KNOWN_NAMES: &[&str] = &[
    "accept-ranges",
    "content-length",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "last-modified",
    "server",
    "x-ms-blob-type",
    "x-ms-client-request-id",
    "x-ms-content-crc64",
    "x-ms-creation-time",
    "x-ms-error-code",
    "x-ms-lease-state",
    "x-ms-lease-status",
    "x-ms-request-id",
    "x-ms-request-server-encrypted",
    "x-ms-server-encrypted",
    "x-ms-version",
    "x-ms-version-id",
];

/// `name` is already lower case: hyper's header names are.
fn header_name(name: &str) -> HeaderName {
    match KNOWN_NAMES.iter().find(|known| **known == name) {
        Some(known) => HeaderName::from(*known),
        None => HeaderName::from(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_that_are_not_text_are_dropped_and_the_rest_kept() {
        let mut map = http::HeaderMap::new();
        map.insert("x-ms-meta-a", http::HeaderValue::from_static("one"));
        map.insert(
            "x-ms-meta-b",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let headers = from_hyper(&map);
        assert_eq!(
            headers
                .get_optional_str(&HeaderName::from_static("x-ms-meta-a"))
                .map(str::to_owned),
            Some("one".to_owned())
        );
        assert!(
            headers
                .get_optional_str(&HeaderName::from_static("x-ms-meta-b"))
                .is_none()
        );
    }

    #[test]
    fn known_and_unknown_header_names_read_the_same() {
        for name in ["etag", "x-ms-request-id", "x-ms-meta-colour", "x-custom"] {
            assert_eq!(header_name(name).as_str(), name);
        }
        assert!(
            KNOWN_NAMES
                .iter()
                .all(|n| n.bytes().all(|b| !b.is_ascii_uppercase()))
        );
    }

    #[tokio::test]
    async fn a_streamed_body_is_sent_whole() {
        let url = azure_core::http::Url::parse("https://acct.blob.core.windows.net/c/b").unwrap();
        let mut request = Request::new(url, Method::Put);
        let stream = azure_core::stream::BytesStream::new(Bytes::from_static(b"abc def"));
        request.set_body(Body::from(stream));
        assert_eq!(&body_of(&request).await[..], b"abc def");
        // The request still holds its stream: a retry sends it again from the start.
        assert_eq!(&body_of(&request).await[..], b"abc def");
    }

    async fn body_of(request: &Request) -> Bytes {
        let out = to_hyper(request).await.unwrap();
        http_body_util::BodyExt::collect(out.into_body())
            .await
            .unwrap()
            .to_bytes()
    }

    #[test]
    fn builds_with_the_platform_roots() {
        HyperTransport::new(Duration::from_secs(1)).expect("transport builds");
    }

    #[tokio::test]
    async fn a_request_keeps_method_url_headers_and_body() {
        let url = azure_core::http::Url::parse("https://acct.blob.core.windows.net/c/b?comp=x%20y")
            .unwrap();
        let mut request = Request::new(url, Method::Put);
        request.insert_header("x-ms-version", "2025-01-05");
        request.set_body(Bytes::from_static(b"fn main() {}"));
        let out = to_hyper(&request).await.unwrap();
        assert_eq!(out.method(), http::Method::PUT);
        assert_eq!(
            out.uri().to_string(),
            "https://acct.blob.core.windows.net/c/b?comp=x%20y"
        );
        assert_eq!(out.headers()["x-ms-version"], "2025-01-05");
        assert_eq!(&body_of(&request).await[..], b"fn main() {}");
    }
}

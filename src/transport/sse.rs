//! The legacy HTTP+SSE transport (MCP 2024-11-05): `GET /sse` streams replies, `POST /message` takes requests.
//! Current rmcp ships no SSE server, so this bridges each stream to an rmcp service over two channels.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, stream};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use session_token::Claims;
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, PollSendError, PollSender};

use super::sse_relay::{self, Relay, RelayError};
use crate::tools::SnippetTools;

/// Keep-alive comments keep idle streams open through APIM and load balancers (the issue asks for <= 15 s).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Messages buffered per direction before a sender waits; bounds memory per session.
const CHANNEL_CAPACITY: usize = 32;

/// Channel items are boxed: tokio allocates a channel's first block of 32 slots up front, and at
/// ~370 bytes per message enum that was ~24 KB per idle session; boxed it is 256 bytes a channel.
type ToServer = mpsc::Sender<Box<ClientJsonRpcMessage>>;
type Replies = mpsc::Receiver<Box<ServerJsonRpcMessage>>;

/// One open stream: where its requests go, and who opened it (the token subject, when tokens are checked).
struct Session {
    to_server: ToServer,
    owner: Option<String>,
}

/// The open SSE sessions of this process, by session id.
#[derive(Clone)]
pub struct SseSessions {
    inner: Arc<Inner>,
}

struct Inner {
    tools: SnippetTools,
    open: Mutex<HashMap<String, Session>>,
    /// Cancelled at the end of graceful shutdown: streams end and their services stop.
    stop: CancellationToken,
    /// Cross-instance delivery through Storage queues, when a queue service is configured.
    relay: Option<Arc<Relay>>,
    /// Prefix of this process's session ids (the relay's instance id, or a random one).
    instance: String,
    /// Wakes the relay receiver when a stream opens; it sleeps while none is open.
    opened: Notify,
    receiver_started: AtomicBool,
}

/// Where a `POST /message` for a session id can go.
enum Lookup {
    Here(ToServer),
    /// The session is here but was opened by another token subject.
    NotYours,
    Elsewhere,
}

impl SseSessions {
    pub fn new(tools: SnippetTools, stop: CancellationToken, relay: Option<Arc<Relay>>) -> Self {
        let instance = match &relay {
            Some(r) => r.instance().to_string(),
            None => sse_relay::new_instance_id(),
        };
        SseSessions {
            inner: Arc::new(Inner {
                tools,
                open: Mutex::default(),
                stop,
                relay,
                instance,
                opened: Notify::new(),
                receiver_started: AtomicBool::new(false),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session's request channel when it is open here and `caller` is the subject that opened it.
    fn lookup(&self, id: &str, caller: Option<&str>) -> Lookup {
        match self.lock().get(id) {
            Some(s) if s.owner.as_deref() == caller => Lookup::Here(s.to_server.clone()),
            Some(_) => Lookup::NotYours,
            None => Lookup::Elsewhere,
        }
    }

    /// Delivers relayed requests to local sessions while any stream is open; idles otherwise.
    fn start_relay_receiver(&self) {
        let Some(relay) = self.inner.relay.clone() else {
            return;
        };
        if self.inner.receiver_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let sessions = self.clone();
        tokio::spawn(async move {
            if let Err(e) = relay.ensure_queue().await {
                tracing::warn!(error = %e, "SSE relay queue unavailable; sessions work on this instance only");
                return;
            }
            sessions.receive_loop(&relay).await;
        });
    }

    async fn receive_loop(&self, relay: &Relay) {
        let stop = &self.inner.stop;
        let mut pause = sse_relay::POLL_MIN;
        while !stop.is_cancelled() {
            if self.is_empty() {
                tokio::select! { _ = self.inner.opened.notified() => {}, _ = stop.cancelled() => break }
                continue;
            }
            let received = tokio::select! {
                r = relay.receive() => r,
                _ = stop.cancelled() => break,
            };
            match received {
                Ok(batch) if !batch.is_empty() => {
                    pause = sse_relay::POLL_MIN;
                    for (envelope, message) in batch {
                        self.deliver(envelope, message).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SSE relay receive failed"),
            }
            tokio::select! { _ = tokio::time::sleep(pause) => {}, _ = stop.cancelled() => break }
            pause = (pause * 2).min(sse_relay::POLL_MAX);
        }
    }

    async fn deliver(&self, envelope: sse_relay::Envelope, message: ClientJsonRpcMessage) {
        match self.lookup(&envelope.session, envelope.caller.as_deref()) {
            Lookup::Here(sender) => {
                let _ = sender.send(Box::new(message)).await;
            }
            _ => {
                tracing::debug!(session = %envelope.session, "relayed request for a closed or foreign session dropped")
            }
        }
    }

    /// Registers a session and starts its rmcp service; returns the stream of replies for the client.
    fn open(&self, owner: Option<String>, tools: SnippetTools) -> (String, Replies, SessionGuard) {
        let id = format!("{}-{}", self.inner.instance, uuid::Uuid::new_v4().simple());
        let (to_server, from_client) = mpsc::channel(CHANNEL_CAPACITY);
        let (to_client, replies) = mpsc::channel(CHANNEL_CAPACITY);
        self.lock().insert(id.clone(), Session { to_server, owner });
        self.start_relay_receiver();
        self.inner.opened.notify_one();
        let cancel = self.inner.stop.child_token();
        let service_cancel = cancel.clone();
        let session = id.clone();
        // A small task waits for the session's first request; only then is the (large) rmcp service
        // future spawned, so a stream that is open but idle costs channels, not a whole service.
        tokio::spawn(async move {
            let mut from_client = from_client;
            let first = tokio::select! {
                m = from_client.recv() => m,
                _ = service_cancel.cancelled() => None,
            };
            if let Some(first) = first {
                tokio::spawn(serve_session(
                    tools,
                    session,
                    first,
                    from_client,
                    to_client,
                    service_cancel,
                ));
            }
        });
        let guard = SessionGuard {
            id: id.clone(),
            sessions: self.clone(),
            cancel,
        };
        (id, replies, guard)
    }
}

/// Runs the rmcp service of one SSE session, starting with the request that woke it.
async fn serve_session(
    tools: SnippetTools,
    session: String,
    first: Box<ClientJsonRpcMessage>,
    rest: mpsc::Receiver<Box<ClientJsonRpcMessage>>,
    to_client: mpsc::Sender<Box<ServerJsonRpcMessage>>,
    cancel: CancellationToken,
) {
    let sink = PollSender::new(to_client)
        .with(|m| std::future::ready(Ok::<_, PollSendError<_>>(Box::new(m))));
    let requests = stream::once(std::future::ready(first))
        .chain(ReceiverStream::new(rest))
        .map(|m| *m);
    match tools
        .serve_with_ct((sink, Box::pin(requests)), cancel)
        .await
    {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(e) => tracing::debug!(session, error = %e, "SSE session ended before initialisation"),
    }
}

/// Dropped with the response stream: the client went away or the server is stopping.
struct SessionGuard {
    id: String,
    sessions: SseSessions,
    cancel: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
        self.cancel.cancel();
        tracing::debug!(session = %self.id, "SSE session closed");
    }
}

/// `GET /sse`: the `endpoint` event carries a relative reference, which resolves to `/message`
/// when called directly and to `/mcp/message` behind APIM's `/mcp` prefix.
pub async fn open_stream(
    State(sessions): State<SseSessions>,
    claims: Option<Extension<Claims>>,
) -> Response {
    let owner = claims.map(|Extension(c)| c.sub);
    // The session's tools are bound to the opener's namespace now: every later call on the
    // session, from this instance or relayed, runs there.
    let tools = match sessions.inner.tools.for_session(owner.as_deref()) {
        Ok(tools) => tools,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    let (id, replies, guard) = sessions.open(owner, tools);
    tracing::debug!(session = %id, "SSE session opened");
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("message?sessionId={id}"));
    let messages = ReceiverStream::new(replies).map(move |message| {
        let _keep_session_while_streaming = &guard;
        message_event(&message)
    });
    let stop = sessions.inner.stop.clone().cancelled_owned();
    let events = stream::once(async { endpoint })
        .chain(messages)
        .map(Ok::<_, Infallible>)
        .take_until(stop);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn message_event(message: &ServerJsonRpcMessage) -> Event {
    match serde_json::to_string(message) {
        Ok(json) => Event::default().event("message").data(json),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a server message");
            Event::default().comment("unserialisable message dropped")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /message?sessionId=...`: 202 once the request is queued for the session; the reply goes to the stream.
pub async fn post_message(
    State(sessions): State<SseSessions>,
    Query(query): Query<MessageQuery>,
    claims: Option<Extension<Claims>>,
    body: Bytes,
) -> Response {
    let Some(id) = query.session_id.filter(|s| !s.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing sessionId query parameter").into_response();
    };
    // A session id alone is not a credential: with tokens checked, only its opener may post to it.
    let caller = claims.as_ref().map(|Extension(c)| c.sub.as_str());
    let message = match super::jsonrpc::parse(&body) {
        Ok(m) => m,
        Err(rejected) => return rejected.into_response(),
    };
    let sender = match sessions.lookup(&id, caller) {
        Lookup::Here(sender) => sender,
        Lookup::NotYours => return unknown_session(),
        Lookup::Elsewhere => return sessions.relay_elsewhere(&id, caller, &body).await,
    };
    match sender.send(Box::new(message)).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => unknown_session(),
    }
}

fn unknown_session() -> Response {
    (StatusCode::NOT_FOUND, "unknown or closed session").into_response()
}

impl SseSessions {
    /// A session that is not open here may be open on another instance: queue the request for it.
    async fn relay_elsewhere(&self, id: &str, caller: Option<&str>, body: &[u8]) -> Response {
        let Some(relay) = &self.inner.relay else {
            return unknown_session();
        };
        match relay.forward(id, caller, body).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(RelayError::UnknownSession) => unknown_session(),
            Err(e @ RelayError::Storage(_)) => {
                tracing::warn!(error = %e, "could not relay an SSE request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not reach the session's instance",
                )
                    .into_response()
            }
        }
    }
}

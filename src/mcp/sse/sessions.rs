//! The open SSE sessions of this process: where each one's requests go and which token subject opened
//! it. Opening registers a session and starts its (lazily spawned) rmcp service; dropping its guard
//! closes it. Requests reach a session from its own instance (`POST /message`) or from the relay.
//!
//! Each open stream holds memory here, and behind the gateway a gateway and a backend connection and
//! a billed instance, so a signed-in user may hold only so many at once (`MCP_SSE_MAX_SESSIONS_PER_USER`)
//! and a session that receives no request for a while is closed (`MCP_SSE_IDLE_TIMEOUT_SECS`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::bridge::serve_session;
use super::session_id::{InstanceId, SessionId};
use crate::config::SseLimits;
use crate::telemetry::Telemetry;
use crate::tools::SnippetTools;

/// Messages buffered per direction before a sender waits; bounds memory per session.
const CHANNEL_CAPACITY: usize = 32;

/// Channel items are boxed: tokio allocates a channel's first block of 32 slots up front, and at
/// ~370 bytes per message enum that was ~24 KB per idle session; boxed it is 256 bytes a channel.
type ToServer = mpsc::Sender<Box<ClientJsonRpcMessage>>;
pub type Replies = mpsc::Receiver<Box<ServerJsonRpcMessage>>;

/// One open stream: where its requests go, who opened it (the token subject, when tokens are
/// checked), how to end it, and when it last received a request.
struct Session {
    to_server: ToServer,
    owner: Option<String>,
    cancel: CancellationToken,
    last_request: Instant,
}

/// The subject already holds `SseLimits::max_sessions_per_user` open sessions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "too many open SSE sessions: this user already holds {0}, the most allowed at once; close one (or let it idle out) and try again"
)]
pub struct TooManySessions(pub usize);

#[derive(Default)]
struct Open {
    sessions: HashMap<String, Session>,
    per_owner: HashMap<String, usize>,
}

/// The open SSE sessions of this process, by session id.
#[derive(Clone)]
pub struct SseSessions {
    inner: Arc<Inner>,
}

struct Inner {
    open: Mutex<Open>,
    limits: SseLimits,
    /// Cancelled at the end of graceful shutdown: streams end and their services stop.
    stop: CancellationToken,
    /// Prefix of this process's session ids (the relay's instance id, or a random one).
    instance: InstanceId,
    /// Wakes the relay consumer when a stream opens; it sleeps while none is open.
    opened: Notify,
    /// Counts open sessions for the metrics.
    telemetry: Telemetry,
}

/// Why a request could not be handed to a session.
pub enum Undelivered {
    /// The session is here but was opened by another token subject: a session id alone is not a
    /// credential.
    NotYours,
    /// No such session here (it may be open on another instance), or it closed meanwhile; the
    /// message comes back for the relay.
    NotHere(Box<ClientJsonRpcMessage>),
}

impl SseSessions {
    /// Must run inside the tokio runtime: the idle sweep is spawned here and ends with `stop`.
    pub fn new(
        instance: InstanceId,
        stop: CancellationToken,
        limits: SseLimits,
        telemetry: Telemetry,
    ) -> Self {
        let sessions = SseSessions {
            inner: Arc::new(Inner {
                open: Mutex::default(),
                limits,
                stop,
                instance,
                opened: Notify::new(),
                telemetry,
            }),
        };
        tokio::spawn(sessions.clone().close_idle_sessions());
        sessions
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once a session has been opened since the last wake-up (at once when one already was).
    pub async fn opened(&self) {
        self.inner.opened.notified().await;
    }

    /// The token ending every stream at shutdown.
    pub fn stop(&self) -> &CancellationToken {
        &self.inner.stop
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `message` to session `id` when it is open here and `caller` is the subject that opened it.
    pub async fn deliver(
        &self,
        id: &str,
        caller: Option<&str>,
        message: Box<ClientJsonRpcMessage>,
    ) -> Result<(), Undelivered> {
        let sender = match self.lock().sessions.get_mut(id) {
            Some(s) if s.owner.as_deref() == caller => {
                s.last_request = Instant::now();
                s.to_server.clone()
            }
            Some(_) => return Err(Undelivered::NotYours),
            None => return Err(Undelivered::NotHere(message)),
        };
        sender
            .send(message)
            .await
            .map_err(|closed| Undelivered::NotHere(closed.0))
    }

    /// Registers a session served by `tools` and returns the stream of replies for the client, or
    /// refuses when `owner` already holds the most sessions allowed.
    pub fn open(
        &self,
        owner: Option<String>,
        tools: SnippetTools,
    ) -> Result<(SessionId, Replies, SessionGuard), TooManySessions> {
        let id = SessionId::new(&self.inner.instance);
        let (to_server, from_client) = mpsc::channel(CHANNEL_CAPACITY);
        let (to_client, replies) = mpsc::channel(CHANNEL_CAPACITY);
        let cancel = self.inner.stop.child_token();
        {
            let mut open = self.lock();
            if let Some(owner) = &owner {
                let max = self.inner.limits.max_sessions_per_user;
                let held = open.per_owner.entry(owner.clone()).or_default();
                if *held >= max {
                    return Err(TooManySessions(max));
                }
                *held += 1;
            }
            let session = Session {
                to_server,
                owner,
                cancel: cancel.clone(),
                last_request: Instant::now(),
            };
            open.sessions.insert(id.to_string(), session);
        }
        self.inner.opened.notify_one();
        self.inner.telemetry.sse_session_opened();
        let service_cancel = cancel.clone();
        let session = id.to_string();
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
            id: id.to_string(),
            sessions: self.clone(),
            cancel,
        };
        Ok((id, replies, guard))
    }

    /// Ends sessions that received no request within the idle limit, checking a few times per limit
    /// (so a session lives at most a quarter longer than the limit); runs until `stop`.
    async fn close_idle_sessions(self) {
        let limit = self.inner.limits.idle_timeout;
        let mut every = tokio::time::interval(limit / 4);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = self.inner.stop.cancelled() => return,
            }
            let now = Instant::now();
            let idle: Vec<CancellationToken> = self
                .lock()
                .sessions
                .values()
                .filter(|s| now.duration_since(s.last_request) >= limit)
                .map(|s| s.cancel.clone())
                .collect();
            if !idle.is_empty() {
                tracing::info!(sessions = idle.len(), "closing idle SSE sessions");
            }
            // The streams end on their cancellation; their guards then remove them.
            idle.iter().for_each(CancellationToken::cancel);
        }
    }
}

/// Dropped with the response stream: the client went away or the server is stopping.
pub struct SessionGuard {
    id: String,
    sessions: SseSessions,
    cancel: CancellationToken,
}

impl SessionGuard {
    /// Resolves when the session is ended by the server: at shutdown, or when it idled out.
    pub fn ended(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.cancel.clone().cancelled_owned()
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut open = self.sessions.lock();
        if let Some(Session {
            owner: Some(owner), ..
        }) = open.sessions.remove(&self.id)
            && let Some(held) = open.per_owner.get_mut(&owner)
        {
            *held -= 1;
            if *held == 0 {
                open.per_owner.remove(&owner);
            }
        }
        drop(open);
        self.sessions.inner.telemetry.sse_session_closed();
        self.cancel.cancel();
        tracing::debug!(session = %self.id, "SSE session closed");
    }
}

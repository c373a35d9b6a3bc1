//! The open SSE sessions of this process: where each one's requests go and which token subject opened
//! it. Opening registers a session and starts its (lazily spawned) rmcp service; dropping its guard
//! closes it. Requests reach a session from its own instance (`POST /message`) or from the relay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::bridge::serve_session;
use super::session_id::{InstanceId, SessionId};
use crate::tools::SnippetTools;

/// Messages buffered per direction before a sender waits; bounds memory per session.
const CHANNEL_CAPACITY: usize = 32;

/// Channel items are boxed: tokio allocates a channel's first block of 32 slots up front, and at
/// ~370 bytes per message enum that was ~24 KB per idle session; boxed it is 256 bytes a channel.
type ToServer = mpsc::Sender<Box<ClientJsonRpcMessage>>;
pub type Replies = mpsc::Receiver<Box<ServerJsonRpcMessage>>;

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
    open: Mutex<HashMap<String, Session>>,
    /// Cancelled at the end of graceful shutdown: streams end and their services stop.
    stop: CancellationToken,
    /// Prefix of this process's session ids (the relay's instance id, or a random one).
    instance: InstanceId,
    /// Wakes the relay consumer when a stream opens; it sleeps while none is open.
    opened: Notify,
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
    pub fn new(instance: InstanceId, stop: CancellationToken) -> Self {
        SseSessions {
            inner: Arc::new(Inner {
                open: Mutex::default(),
                stop,
                instance,
                opened: Notify::new(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `message` to session `id` when it is open here and `caller` is the subject that opened it.
    pub async fn deliver(
        &self,
        id: &str,
        caller: Option<&str>,
        message: Box<ClientJsonRpcMessage>,
    ) -> Result<(), Undelivered> {
        let sender = match self.lock().get(id) {
            Some(s) if s.owner.as_deref() == caller => s.to_server.clone(),
            Some(_) => return Err(Undelivered::NotYours),
            None => return Err(Undelivered::NotHere(message)),
        };
        sender
            .send(message)
            .await
            .map_err(|closed| Undelivered::NotHere(closed.0))
    }

    /// Registers a session served by `tools` and returns the stream of replies for the client.
    pub fn open(
        &self,
        owner: Option<String>,
        tools: SnippetTools,
    ) -> (SessionId, Replies, SessionGuard) {
        let id = SessionId::new(&self.inner.instance);
        let (to_server, from_client) = mpsc::channel(CHANNEL_CAPACITY);
        let (to_client, replies) = mpsc::channel(CHANNEL_CAPACITY);
        self.lock()
            .insert(id.to_string(), Session { to_server, owner });
        self.inner.opened.notify_one();
        let cancel = self.inner.stop.child_token();
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
        (id, replies, guard)
    }
}

/// Dropped with the response stream: the client went away or the server is stopping.
pub struct SessionGuard {
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

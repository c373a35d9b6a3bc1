//! The open SSE sessions of this process: where each one's requests go and which token subject opened it.
//! Opening registers a session and starts its (lazily spawned) rmcp service; dropping its guard closes it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::bridge::serve_session;
use crate::tools::SnippetTools;
use crate::transport::sse_relay::{self, Relay};

/// Messages buffered per direction before a sender waits; bounds memory per session.
const CHANNEL_CAPACITY: usize = 32;

/// Channel items are boxed: tokio allocates a channel's first block of 32 slots up front, and at
/// ~370 bytes per message enum that was ~24 KB per idle session; boxed it is 256 bytes a channel.
pub(super) type ToServer = mpsc::Sender<Box<ClientJsonRpcMessage>>;
pub(super) type Replies = mpsc::Receiver<Box<ServerJsonRpcMessage>>;

/// One open stream: where its requests go, and who opened it (the token subject, when tokens are checked).
struct Session {
    to_server: ToServer,
    owner: Option<String>,
}

/// The open SSE sessions of this process, by session id.
#[derive(Clone)]
pub struct SseSessions {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) tools: SnippetTools,
    open: Mutex<HashMap<String, Session>>,
    /// Cancelled at the end of graceful shutdown: streams end and their services stop.
    pub(super) stop: CancellationToken,
    /// Cross-instance delivery through Storage queues, when a queue service is configured.
    pub(super) relay: Option<Arc<Relay>>,
    /// Prefix of this process's session ids (the relay's instance id, or a random one).
    instance: String,
    /// Wakes the relay consumer when a stream opens; it sleeps while none is open.
    pub(super) opened: Notify,
    pub(super) consumer_started: AtomicBool,
}

/// Where a `POST /message` for a session id can go.
pub(super) enum Lookup {
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
                consumer_started: AtomicBool::new(false),
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
    pub(super) fn lookup(&self, id: &str, caller: Option<&str>) -> Lookup {
        match self.lock().get(id) {
            Some(s) if s.owner.as_deref() == caller => Lookup::Here(s.to_server.clone()),
            Some(_) => Lookup::NotYours,
            None => Lookup::Elsewhere,
        }
    }

    /// Registers a session served by `tools` and returns the stream of replies for the client.
    pub(super) fn open(
        &self,
        owner: Option<String>,
        tools: SnippetTools,
    ) -> (String, Replies, SessionGuard) {
        let id = format!("{}-{}", self.inner.instance, uuid::Uuid::new_v4().simple());
        let (to_server, from_client) = mpsc::channel(CHANNEL_CAPACITY);
        let (to_client, replies) = mpsc::channel(CHANNEL_CAPACITY);
        self.lock().insert(id.clone(), Session { to_server, owner });
        self.start_relay_consumer();
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

/// Dropped with the response stream: the client went away or the server is stopping.
pub(super) struct SessionGuard {
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

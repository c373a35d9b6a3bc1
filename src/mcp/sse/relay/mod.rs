//! Carries SSE requests between instances: on Flex Consumption a `POST /message` can land on another
//! instance than its stream, so it is queued to the owner's Storage queue and the owner feeds it in.
//! Every storage call here has the storage budget (`STORAGE_TIMEOUT_MS`).
//! The SDK calls on a request's path are boxed where they are made: each SDK future is KiBs, and
//! inline it would be copied whole with every future around it each time one moves.
//!
//! - `envelope`: the queue message's format;
//! - this module: the queue and overflow-blob I/O (forward, receive, create, delete);
//! - `housekeeping`: the heartbeat on this instance's queue and the sweep of dead instances'
//!   leftovers, on a timer of their own;
//! - `consumer`: the task that feeds received requests into this instance's sessions.

pub mod consumer;
mod envelope;
mod housekeeping;

use std::time::Duration;

use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::BlobContainerClient;
use azure_storage_queue::models::{
    QueueClientCreateOptions, QueueClientReceiveMessagesOptions, QueueClientSendMessageOptions,
    QueueMessage,
};
use azure_storage_queue::{QueueClient, QueueServiceClient};
use rmcp::model::ClientJsonRpcMessage;
use tokio::sync::OnceCell;

use super::session_id::{InstanceId, SessionId};
use crate::storage::call::{self, create_if_missing, is_status};
use crate::storage::{StorageClients, StorageFailure};
use envelope::Envelope;

/// Queue messages are at most 64 KiB once base64-encoded; larger requests travel as a blob.
pub const MAX_INLINE_BYTES: usize = 48 * 1024;
/// Container for requests too large for a queue message; each blob lives until its owner reads it.
pub const OVERFLOW_CONTAINER: &str = "mcp-sse-relay";
/// A relayed request not picked up within this time is dropped by the queue service.
const MESSAGE_TTL_SECS: i32 = 120;
const VISIBILITY_SECS: i32 = 30;
const BATCH: i32 = 32;
const QUEUE_PREFIX: &str = "mcp-sse-";
/// Bound on the queue deletion at shutdown (the host stops the process soon after).
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RelayError {
    #[error("unknown or closed session")]
    UnknownSession,
    #[error("relay storage error: {0}")]
    Storage(#[from] StorageFailure),
}

impl From<azure_core::Error> for RelayError {
    fn from(e: azure_core::Error) -> Self {
        RelayError::Storage(StorageFailure::of(&e))
    }
}

impl From<crate::storage::ClientError> for RelayError {
    fn from(e: crate::storage::ClientError) -> Self {
        RelayError::Storage(StorageFailure::Refused(e.to_string()))
    }
}

/// A request relayed to this instance, decoded.
pub struct Relayed {
    pub session: String,
    pub caller: Option<String>,
    pub message: ClientJsonRpcMessage,
}

pub struct Relay {
    instance: InstanceId,
    /// Shared with the rest of the server: one connection pool and one token cache.
    clients: StorageClients,
    own_queue: QueueClient,
    service: QueueServiceClient,
    overflow: BlobContainerClient,
    created: OnceCell<()>,
    overflow_created: OnceCell<()>,
    /// A queue without heartbeat, or an overflow blob, older than this is a dead instance's leftover.
    stale_after: Duration,
}

impl Relay {
    /// `None` when no queue service is configured: SSE then works within one instance only.
    pub fn new(clients: &StorageClients, stale_after: Duration) -> Option<Relay> {
        let instance = InstanceId::new();
        let built = clients.queue(&queue_name(instance.as_str())).and_then(|q| {
            Ok((
                q,
                clients.queue_service()?,
                clients.container(OVERFLOW_CONTAINER)?,
            ))
        });
        let (own_queue, service, overflow) = built
            .map_err(|e| tracing::warn!(error = %e, "SSE relay disabled"))
            .ok()?;
        Some(Relay {
            instance,
            clients: clients.clone(),
            own_queue,
            service,
            overflow,
            created: OnceCell::new(),
            overflow_created: OnceCell::new(),
            stale_after,
        })
    }

    /// This process's instance id: the prefix of its session ids.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// Queues `message` (already parsed and validated) for the instance that owns `session`.
    pub async fn forward(
        &self,
        session: &SessionId,
        caller: Option<&str>,
        message: ClientJsonRpcMessage,
    ) -> Result<(), RelayError> {
        let owner = session.owner();
        if owner == self.instance.as_str() {
            return Err(RelayError::UnknownSession);
        }
        let mut envelope = Envelope {
            session: session.to_string(),
            caller: caller.map(String::from),
            message: Some(message),
            blob: None,
        };
        let mut text = envelope.encode();
        // The text is base64: 4 characters for every 3 bytes of the envelope's JSON.
        if text.len() / 4 * 3 > MAX_INLINE_BYTES {
            let body = serde_json::to_vec(&envelope.message.take()).expect("a message serialises");
            envelope.blob = Some(self.store_overflow(owner, body).await?);
            text = envelope.encode();
        }
        let sent = self.within_budget(self.send(owner, text)).await;
        if sent.is_err()
            && let Some(blob) = &envelope.blob
        {
            let blob = self.overflow.blob_client(blob);
            let _ = tokio::time::timeout(CLOSE_DEADLINE, blob.delete(None)).await;
        }
        sent
    }

    async fn send(&self, owner: &str, text: String) -> Result<(), RelayError> {
        let queue = self.clients.queue(&queue_name(owner))?;
        let body = QueueMessage {
            message_text: Some(text),
        }
        .try_into()?;
        let options = QueueClientSendMessageOptions {
            message_time_to_live: Some(MESSAGE_TTL_SECS),
            ..Default::default()
        };
        match Box::pin(queue.send_message(body, Some(options))).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, StatusCode::NotFound) => Err(RelayError::UnknownSession),
            Err(e) => Err(e.into()),
        }
    }

    async fn store_overflow(&self, owner: &str, body: Vec<u8>) -> Result<String, RelayError> {
        self.within_budget(async {
            self.overflow_created
                .get_or_try_init(|| create_if_missing(self.overflow.create(None)))
                .await?;
            let name = format!("{owner}/{}.json", uuid::Uuid::new_v4().simple());
            let body = RequestContent::from(body);
            Box::pin(self.overflow.blob_client(&name).upload(body, None)).await?;
            Ok(name)
        })
        .await
    }

    /// Creates this instance's queue once; called when its first SSE stream opens.
    pub async fn ensure_queue(&self) -> Result<(), RelayError> {
        self.created
            .get_or_try_init(|| self.within_budget(self.create_own_queue()))
            .await
            .copied()
    }

    /// Creates this instance's queue stamped with a fresh heartbeat (also after it was lost).
    async fn create_own_queue(&self) -> Result<(), RelayError> {
        let options = QueueClientCreateOptions {
            metadata: Some(housekeeping::heartbeat_now()),
            ..Default::default()
        };
        Ok(create_if_missing(self.own_queue.create(Some(options))).await?)
    }

    /// Takes up to a batch of relayed requests off this instance's queue (deleting them) and decodes them.
    pub async fn receive(&self) -> Result<Vec<Relayed>, RelayError> {
        self.within_budget(self.receive_batch()).await
    }

    async fn receive_batch(&self) -> Result<Vec<Relayed>, RelayError> {
        let options = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(BATCH),
            visibility_timeout: Some(VISIBILITY_SECS),
            ..Default::default()
        };
        let response = match Box::pin(self.own_queue.receive_messages(Some(options))).await {
            Ok(response) => response,
            // The queue went away (storage restored empty, or swept by mistake): recreate it so
            // requests relayed from now on arrive again.
            Err(e) if is_status(&e, StatusCode::NotFound) => {
                tracing::warn!("SSE relay queue was missing; recreating it");
                self.create_own_queue().await?;
                return Ok(vec![]);
            }
            Err(e) => return Err(e.into()),
        };
        let items = response.into_model()?.items.unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let (Some(id), Some(receipt)) = (&item.message_id, &item.pop_receipt)
                && let Err(e) = Box::pin(self.own_queue.delete_message(id, receipt, None)).await
            {
                tracing::warn!(error = %StorageFailure::of(&e), "could not delete a relayed message");
            }
            let text = item.message_text.as_deref().unwrap_or_default();
            let Some(envelope) = Envelope::decode(text) else {
                tracing::warn!("dropped an undecodable relayed message");
                continue;
            };
            let session = envelope.session.clone();
            match self.open_envelope(envelope).await {
                Some(relayed) => out.push(relayed),
                None => {
                    tracing::warn!(session = %session, "dropped a relayed message without a readable body")
                }
            }
        }
        Ok(out)
    }

    /// The inline message, or the overflow blob's content (the blob is deleted once read).
    async fn open_envelope(&self, envelope: Envelope) -> Option<Relayed> {
        let message = match envelope.message {
            Some(message) => message,
            None => {
                let blob = self.overflow.blob_client(envelope.blob.as_deref()?);
                let bytes = Box::pin(blob.download(None))
                    .await
                    .ok()?
                    .body
                    .collect()
                    .await
                    .ok()?;
                if let Err(e) = Box::pin(blob.delete(None)).await {
                    tracing::warn!(error = %StorageFailure::of(&e), "could not delete a relay overflow blob");
                }
                serde_json::from_slice(&bytes).ok()?
            }
        };
        Some(Relayed {
            session: envelope.session,
            caller: envelope.caller,
            message,
        })
    }

    fn within_budget<T>(
        &self,
        work: impl Future<Output = Result<T, RelayError>>,
    ) -> impl Future<Output = Result<T, RelayError>> {
        call::within(self.clients.budget(), work)
    }

    /// Deletes this instance's queue at shutdown; a crashed instance leaves an empty queue behind.
    pub async fn close(&self) {
        if !self.created.initialized() {
            return;
        }
        match tokio::time::timeout(CLOSE_DEADLINE, self.own_queue.delete(None)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %StorageFailure::of(&e), "could not delete the SSE relay queue")
            }
            Err(_) => tracing::warn!("SSE relay queue not deleted: storage did not answer in time"),
        }
    }
}

pub fn queue_name(instance: &str) -> String {
    format!("{QUEUE_PREFIX}{instance}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_keep_status_and_code_but_never_the_message() {
        use azure_core::error::ErrorKind;
        let e = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthorizationFailure".into()),
                raw_response: None,
            },
            "https://acct.queue.core.windows.net/q?sig=SECRET",
        );
        let relay: RelayError = e.into();
        assert_eq!(
            relay.to_string(),
            "relay storage error: storage error: HTTP 403 AuthorizationFailure"
        );
        assert!(!relay.to_string().contains("SECRET"));
    }

    #[test]
    fn queue_names_are_valid_azure_names() {
        let name = queue_name(InstanceId::new().as_str());
        assert!(
            name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
    }
}

//! Carries SSE requests between instances: on Flex Consumption a `POST /message` can land on another
//! instance than its stream, so it is queued to the owner's Storage queue and the owner feeds it in.

use std::time::Duration;

use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::BlobContainerClient;
use azure_storage_queue::QueueClient;
use azure_storage_queue::models::{
    QueueClientReceiveMessagesOptions, QueueClientSendMessageOptions, QueueMessage,
};
use base64::Engine;
use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::storage::{StorageConfig, container_client, queue_client};

/// Queue messages are at most 64 KiB once base64-encoded; larger requests travel as a blob.
pub const MAX_INLINE_BYTES: usize = 48 * 1024;
/// Container for requests too large for a queue message; each blob lives until its owner reads it.
pub const OVERFLOW_CONTAINER: &str = "mcp-sse-relay";
/// A relayed request not picked up within this time is dropped by the queue service.
const MESSAGE_TTL_SECS: i32 = 120;
const VISIBILITY_SECS: i32 = 30;
const BATCH: i32 = 32;
const INSTANCE_LEN: usize = 12;
const QUEUE_PREFIX: &str = "mcp-sse-";
/// Bounds on calls made while a client waits or the process stops: the SDK's retries could take minutes.
const FORWARD_DEADLINE: Duration = Duration::from_secs(10);
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);
/// Poll interval bounds: quick after traffic, slower when the queue stays empty.
pub const POLL_MIN: Duration = Duration::from_millis(25);
pub const POLL_MAX: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RelayError {
    #[error("unknown or closed session")]
    UnknownSession,
    #[error("relay storage error: {0}")]
    Storage(String),
}

/// Storage errors are reduced to status and service code (their messages may embed URLs).
impl From<azure_core::Error> for RelayError {
    fn from(e: azure_core::Error) -> Self {
        RelayError::Storage(status_of(&e))
    }
}

/// What travels through the queue: the session, the caller's token subject, and the JSON-RPC message
/// either inline (`m`) or as the name of an overflow blob (`b`).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    #[serde(rename = "s")]
    pub session: String,
    #[serde(rename = "o")]
    pub caller: Option<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

pub struct Relay {
    instance: String,
    storage: StorageConfig,
    own_queue: QueueClient,
    overflow: BlobContainerClient,
    created: OnceCell<()>,
    overflow_created: OnceCell<()>,
}

impl Relay {
    /// `None` when no queue service is configured: SSE then works within one instance only.
    pub fn new(storage: &StorageConfig) -> Option<Relay> {
        let instance = new_instance_id();
        let clients = queue_client(storage, &queue_name(&instance))
            .and_then(|q| Ok((q, container_client(storage, OVERFLOW_CONTAINER)?)));
        let (own_queue, overflow) = clients
            .map_err(|e| tracing::warn!(error = %e, "SSE relay disabled"))
            .ok()?;
        Some(Relay {
            instance,
            storage: storage.clone(),
            own_queue,
            overflow,
            created: OnceCell::new(),
            overflow_created: OnceCell::new(),
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Session ids are `<instance>-<random>`, so any instance can tell where a stream lives.
    pub fn owner_of(session: &str) -> Option<&str> {
        let (instance, rest) = session.split_once('-')?;
        let hex = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        (instance.len() == INSTANCE_LEN && hex(instance) && hex(rest)).then_some(instance)
    }

    /// Queues `message` (already validated JSON-RPC) for the instance that owns `session`.
    pub async fn forward(
        &self,
        session: &str,
        caller: Option<&str>,
        message: &[u8],
    ) -> Result<(), RelayError> {
        let owner = Self::owner_of(session).ok_or(RelayError::UnknownSession)?;
        if owner == self.instance {
            return Err(RelayError::UnknownSession);
        }
        let mut envelope = Envelope {
            session: session.to_string(),
            caller: caller.map(String::from),
            message: None,
            blob: None,
        };
        if message.len() <= MAX_INLINE_BYTES {
            envelope.message =
                Some(serde_json::from_slice(message).map_err(|_| RelayError::UnknownSession)?);
        } else {
            envelope.blob = Some(self.store_overflow(owner, message).await?);
        }
        let sent = deadline(FORWARD_DEADLINE, self.send(owner, &envelope)).await;
        if sent.is_err()
            && let Some(blob) = &envelope.blob
        {
            let _ =
                tokio::time::timeout(CLOSE_DEADLINE, self.overflow.blob_client(blob).delete(None))
                    .await;
        }
        sent
    }

    async fn send(&self, owner: &str, envelope: &Envelope) -> Result<(), RelayError> {
        let text = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(envelope).expect("JSON"));
        let queue = queue_client(&self.storage, &queue_name(owner))
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        let body = QueueMessage {
            message_text: Some(text),
        }
        .try_into()?;
        let options = QueueClientSendMessageOptions {
            message_time_to_live: Some(MESSAGE_TTL_SECS),
            ..Default::default()
        };
        match queue.send_message(body, Some(options)).await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => {
                Err(RelayError::UnknownSession)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn store_overflow(&self, owner: &str, message: &[u8]) -> Result<String, RelayError> {
        deadline(FORWARD_DEADLINE, async {
            self.overflow_created
                .get_or_try_init(|| create_if_missing(self.overflow.create(None)))
                .await?;
            let name = format!("{owner}/{}.json", uuid::Uuid::new_v4().simple());
            let body = RequestContent::from(message.to_vec());
            self.overflow.blob_client(&name).upload(body, None).await?;
            Ok(name)
        })
        .await
    }

    /// Creates this instance's queue once; called when its first SSE stream opens.
    pub async fn ensure_queue(&self) -> Result<(), RelayError> {
        self.created
            .get_or_try_init(|| create_if_missing(self.own_queue.create(None)))
            .await
            .copied()
    }

    /// Takes up to a batch of relayed requests off this instance's queue (deleting them) and decodes them.
    pub async fn receive(&self) -> Result<Vec<(Envelope, ClientJsonRpcMessage)>, RelayError> {
        let options = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(BATCH),
            visibility_timeout: Some(VISIBILITY_SECS),
            ..Default::default()
        };
        let response = self.own_queue.receive_messages(Some(options)).await?;
        let items = response.into_model()?.items.unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let (Some(id), Some(receipt)) = (&item.message_id, &item.pop_receipt)
                && let Err(e) = self.own_queue.delete_message(id, receipt, None).await
            {
                tracing::warn!(error = %status_of(&e), "could not delete a relayed message");
            }
            let Some(envelope) = decode_envelope(item.message_text.as_deref().unwrap_or_default())
            else {
                tracing::warn!("dropped an undecodable relayed message");
                continue;
            };
            match self.message_of(&envelope).await {
                Some(message) => out.push((envelope, message)),
                None => {
                    tracing::warn!(session = %envelope.session, "dropped a relayed message without a readable body")
                }
            }
        }
        Ok(out)
    }

    /// The inline message, or the overflow blob's content (the blob is deleted once read).
    async fn message_of(&self, envelope: &Envelope) -> Option<ClientJsonRpcMessage> {
        if let Some(message) = &envelope.message {
            return serde_json::from_value(message.clone()).ok();
        }
        let blob = self.overflow.blob_client(envelope.blob.as_deref()?);
        let bytes = blob.download(None).await.ok()?.body.collect().await.ok()?;
        if let Err(e) = blob.delete(None).await {
            tracing::warn!(error = %status_of(&e), "could not delete a relay overflow blob");
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Deletes this instance's queue at shutdown; a crashed instance leaves an empty queue behind.
    pub async fn close(&self) {
        if !self.created.initialized() {
            return;
        }
        match tokio::time::timeout(CLOSE_DEADLINE, self.own_queue.delete(None)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %status_of(&e), "could not delete the SSE relay queue")
            }
            Err(_) => tracing::warn!("SSE relay queue not deleted: storage did not answer in time"),
        }
    }
}

/// A fresh instance id: the prefix of this process's SSE session ids (see `Relay::owner_of`).
pub fn new_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..INSTANCE_LEN].to_string()
}

pub fn queue_name(instance: &str) -> String {
    format!("{QUEUE_PREFIX}{instance}")
}

/// Creating a queue or container that another instance just created is success.
async fn create_if_missing<T>(
    create: impl Future<Output = azure_core::Result<T>>,
) -> Result<(), RelayError> {
    match create.await {
        Ok(_) => Ok(()),
        Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn deadline<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, RelayError>>,
) -> Result<T, RelayError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(RelayError::Storage("storage did not answer in time".into())))
}

fn decode_envelope(text: &str) -> Option<Envelope> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let envelope: Envelope = serde_json::from_slice(&bytes).ok()?;
    (envelope.message.is_some() != envelope.blob.is_some()).then_some(envelope)
}

fn status_of(e: &azure_core::Error) -> String {
    crate::snippets::SnippetError::from_azure(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_read_from_well_formed_session_ids_only() {
        assert_eq!(Relay::owner_of("0123456789ab-ffee00"), Some("0123456789ab"));
        for bad in [
            "",
            "0123456789ab",
            "0123456789ab-",
            "0123456789AB-ff",
            "0123456789a-ff",
            "../../x-ff",
            "0123456789ab-zz",
        ] {
            assert_eq!(Relay::owner_of(bad), None, "{bad}");
        }
    }

    fn encode(envelope: &Envelope) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(envelope).unwrap())
    }

    #[test]
    fn envelopes_round_trip_with_exactly_one_body() {
        let inline = Envelope {
            session: "0123456789ab-ff".into(),
            caller: Some("alice".into()),
            message: Some(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            blob: None,
        };
        assert_eq!(decode_envelope(&encode(&inline)).unwrap(), inline);
        let overflow = Envelope {
            message: None,
            blob: Some("0123456789ab/x.json".into()),
            ..inline
        };
        assert_eq!(decode_envelope(&encode(&overflow)).unwrap(), overflow);
        let neither = Envelope {
            blob: None,
            ..overflow
        };
        assert!(decode_envelope(&encode(&neither)).is_none());
        assert!(decode_envelope("not base64!").is_none());
    }

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
            relay,
            RelayError::Storage("storage error: HTTP 403 AuthorizationFailure".into())
        );
        assert!(!relay.to_string().contains("SECRET"));
    }

    #[test]
    fn queue_names_are_valid_azure_names() {
        let name = queue_name("0123456789ab");
        assert!(
            name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
    }
}

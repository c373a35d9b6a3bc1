//! Carries SSE requests between instances: on Flex Consumption a `POST /message` can land on another
//! instance than its stream, so it is queued to the owner's Storage queue and the owner feeds it in.
//! Every storage call here has the storage budget (`STORAGE_TIMEOUT_MS`). A crashed instance leaves its
//! queue and maybe overflow blobs behind: live instances stamp a heartbeat on their queue, and any
//! instance receiving relayed requests sweeps queues with a stale heartbeat and overflow blobs older
//! than the same bound (`MCP_SSE_RELAY_STALE_SECS`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::time::Duration;

use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::BlobContainerClient;
use azure_storage_queue::models::{
    ListQueuesIncludeType, QueueClientCreateOptions, QueueClientReceiveMessagesOptions,
    QueueClientSendMessageOptions, QueueMessage, QueueServiceClientListQueuesOptions,
};
use azure_storage_queue::{QueueClient, QueueServiceClient};
use base64::Engine;
use futures::TryStreamExt;
use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::storage::StorageClients;

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
/// Bound on the queue deletion at shutdown (the host stops the process soon after).
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);
/// Queue metadata key holding the owner's last sign of life (Unix seconds).
const HEARTBEAT_KEY: &str = "heartbeat";
/// Default for `MCP_SSE_RELAY_STALE_SECS`: a queue without heartbeat for this long belongs to a dead
/// instance, and an overflow blob this old outlived its message (`MESSAGE_TTL_SECS`) long ago.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(600);
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
    /// Shared with the rest of the server: one connection pool and one token cache.
    clients: StorageClients,
    own_queue: QueueClient,
    service: QueueServiceClient,
    overflow: BlobContainerClient,
    created: OnceCell<()>,
    overflow_created: OnceCell<()>,
    stale_after: Duration,
    /// When the heartbeat was last stamped and the last sweep ran (`None`: not yet).
    housekeeping: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Relay {
    /// `None` when no queue service is configured: SSE then works within one instance only.
    /// Every storage call of the relay is bounded by the clients' budget (`STORAGE_TIMEOUT_MS`).
    pub fn new(clients: &StorageClients, stale_after: Duration) -> Option<Relay> {
        let instance = new_instance_id();
        let built = clients.queue(&queue_name(&instance)).and_then(|q| {
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
            housekeeping: Mutex::new((None, None)),
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
        let sent = self.within_budget(self.send(owner, &envelope)).await;
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
        let queue = self
            .clients
            .queue(&queue_name(owner))
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
        self.within_budget(async {
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
            .get_or_try_init(|| self.within_budget(self.create_own_queue()))
            .await
            .copied()
    }

    /// Creates this instance's queue stamped with a fresh heartbeat (also after it was lost).
    async fn create_own_queue(&self) -> Result<(), RelayError> {
        let options = QueueClientCreateOptions {
            metadata: Some(heartbeat_now()),
            ..Default::default()
        };
        create_if_missing(self.own_queue.create(Some(options))).await
    }

    /// Takes up to a batch of relayed requests off this instance's queue (deleting them) and decodes them.
    pub async fn receive(&self) -> Result<Vec<(Envelope, ClientJsonRpcMessage)>, RelayError> {
        self.housekeeping().await;
        self.within_budget(self.receive_batch()).await
    }

    async fn receive_batch(&self) -> Result<Vec<(Envelope, ClientJsonRpcMessage)>, RelayError> {
        let options = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(BATCH),
            visibility_timeout: Some(VISIBILITY_SECS),
            ..Default::default()
        };
        let response = match self.own_queue.receive_messages(Some(options)).await {
            Ok(response) => response,
            // The queue went away (storage restored empty, or swept by mistake): recreate it so
            // requests relayed from now on arrive again.
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => {
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

    /// Stamps this instance's heartbeat and sweeps dead instances' leftovers, each at most every
    /// third of the stale bound, so a live queue is never mistaken for a dead one.
    async fn housekeeping(&self) {
        let every = self.stale_after / 3;
        let now = Instant::now();
        let due = |last: Option<Instant>| last.is_none_or(|t| now.duration_since(t) >= every);
        let (beat, sweep) = {
            let mut guard = self.housekeeping.lock().unwrap_or_else(|p| p.into_inner());
            let (beat, sweep) = (due(guard.0), due(guard.1));
            if beat {
                guard.0 = Some(now);
            }
            if sweep {
                guard.1 = Some(now);
            }
            (beat, sweep)
        };
        if beat {
            let stamped = self.within_budget(async {
                match self.own_queue.set_metadata(&heartbeat_now(), None).await {
                    Ok(_) => Ok(()),
                    // Swept while this instance had no open stream (no heartbeat): take it back.
                    Err(e) if e.http_status() == Some(StatusCode::NotFound) => {
                        self.create_own_queue().await
                    }
                    Err(e) => Err(e.into()),
                }
            });
            if let Err(e) = stamped.await {
                tracing::warn!(error = %e, "could not stamp the SSE relay heartbeat");
            }
        }
        if sweep {
            match self.within_budget(self.sweep()).await {
                Ok((0, 0)) => {}
                Ok((queues, blobs)) => {
                    tracing::info!(queues, blobs, "swept SSE relay leftovers of dead instances")
                }
                Err(e) => tracing::warn!(error = %e, "SSE relay sweep failed"),
            }
        }
    }

    /// Deletes relay queues whose heartbeat is older than the bound (or missing) and overflow blobs
    /// older than the bound. Returns how many of each were deleted.
    async fn sweep(&self) -> Result<(usize, usize), RelayError> {
        let cutoff = unix_now().saturating_sub(self.stale_after.as_secs());
        let own = queue_name(&self.instance);
        let options = QueueServiceClientListQueuesOptions {
            prefix: Some(QUEUE_PREFIX.to_string()),
            include: Some(vec![ListQueuesIncludeType::Metadata]),
            ..Default::default()
        };
        let mut pages = self.service.list_queues(Some(options))?.into_pages();
        let mut stale = Vec::new();
        while let Some(page) = pages.try_next().await? {
            let page = page.into_model()?;
            for item in page.queue_items {
                if let Some(name) = item.name
                    && name != own
                    && is_stale(item.metadata.as_ref(), cutoff)
                {
                    stale.push(name);
                }
            }
        }
        let mut queues = 0;
        for name in stale {
            let queue = self
                .clients
                .queue(&name)
                .map_err(|e| RelayError::Storage(e.to_string()))?;
            match queue.delete(None).await {
                Ok(_) => queues += 1,
                Err(e) if e.http_status() == Some(StatusCode::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((queues, self.sweep_overflow(cutoff).await?))
    }

    async fn sweep_overflow(&self, cutoff: u64) -> Result<usize, RelayError> {
        let mut pages = self.overflow.list_blobs(None)?.into_pages();
        let mut stale = Vec::new();
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    let page = page.into_model()?;
                    for item in page.blob_items {
                        let modified = item
                            .properties
                            .and_then(|p| p.last_modified)
                            .map(|t| t.unix_timestamp().max(0) as u64);
                        if let (Some(name), Some(modified)) = (item.name, modified)
                            && modified < cutoff
                        {
                            stale.push(name);
                        }
                    }
                }
                Ok(None) => break,
                // No overflow container yet: nothing to sweep.
                Err(e) if e.http_status() == Some(StatusCode::NotFound) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
        let mut blobs = 0;
        for name in stale {
            match self.overflow.blob_client(&name).delete(None).await {
                Ok(_) => blobs += 1,
                Err(e) if e.http_status() == Some(StatusCode::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(blobs)
    }

    async fn within_budget<T>(
        &self,
        work: impl Future<Output = Result<T, RelayError>>,
    ) -> Result<T, RelayError> {
        deadline(self.clients.budget(), work).await
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
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(RelayError::Storage(
            crate::snippets::SnippetError::timed_out(limit).to_string(),
        ))
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A queue without a readable heartbeat (a crash before the first stamp, an older version) counts as stale.
fn is_stale(metadata: Option<&HashMap<String, String>>, cutoff: u64) -> bool {
    let beat = metadata
        .and_then(|m| m.get(HEARTBEAT_KEY))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    beat < cutoff
}

fn heartbeat_now() -> HashMap<String, String> {
    HashMap::from([(HEARTBEAT_KEY.to_string(), unix_now().to_string())])
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
    fn queues_are_stale_when_their_heartbeat_is_older_than_the_cutoff() {
        let beat = |v: &str| HashMap::from([(HEARTBEAT_KEY.to_string(), v.to_string())]);
        assert!(!is_stale(Some(&beat("1000")), 1000));
        assert!(!is_stale(Some(&beat("2000")), 1000));
        assert!(is_stale(Some(&beat("999")), 1000));
        assert!(is_stale(Some(&beat("not a number")), 1000));
        assert!(is_stale(Some(&HashMap::new()), 1000));
        assert!(is_stale(None, 1000));
        let fresh = heartbeat_now();
        assert!(!is_stale(Some(&fresh), unix_now().saturating_sub(600)));
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

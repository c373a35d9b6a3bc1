//! Sends telemetry items to the Application Insights ingestion endpoint, off the request path: items
//! go into a bounded buffer (full: the item is dropped and counted, the caller never waits; one
//! short lock, and no wake-up of the sending task unless a batch is full), and one task takes them
//! every flush interval (or at `MAX_BATCH`), writes their JSON and posts the batch with a bounded
//! time. A failed post loses that batch and is logged at most once a minute; it is never
//! retried, so an absent or slow endpoint costs memory up to the queue's bound and nothing else.
//! With `APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD` every post carries an Entra
//! token of the managed identity (cached by `azure_identity`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::request::Request;
use azure_core::http::{HttpClient, Method};
use tokio::sync::Notify;

use super::envelope::Item;
use super::metrics::Metrics;
use super::settings::{IngestionAuth, TelemetrySettings};
use crate::storage::http_client::HyperTransport;

/// Items waiting to be sent; past this the newest are dropped. A few hundred bytes each.
pub const QUEUE_CAPACITY: usize = 4096;
/// Items per post.
const MAX_BATCH: usize = 512;
/// The most one post (token included) may take.
const POST_DEADLINE: Duration = Duration::from_secs(10);
/// The Entra scope of Azure Monitor ingestion.
const INGESTION_SCOPE: &str = "https://monitor.azure.com//.default";
/// How often a failing endpoint is reported in the log.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("telemetry exporter: {0}")]
    Setup(String),
}

/// What the rest of the server holds: the buffer and the counters.
pub struct Exporter {
    buffer: Mutex<Vec<Item>>,
    /// Wakes the sending task early: a full batch, or a flush.
    wake: Notify,
    /// Told after every post, so a flush knows its items went out.
    posted: Notify,
    pub metrics: Metrics,
    dropped: AtomicU64,
}

impl Exporter {
    /// Starts the sending task; must run inside the tokio runtime.
    pub fn start(settings: &TelemetrySettings) -> Result<Arc<Exporter>, ExporterError> {
        let transport =
            HyperTransport::new(POST_DEADLINE).map_err(|e| ExporterError::Setup(e.to_string()))?;
        let credential = match &settings.auth {
            IngestionAuth::InstrumentationKey => None,
            IngestionAuth::ManagedIdentity { client_id } => Some(
                crate::storage::managed_identity(client_id.as_deref())
                    .map_err(|e| ExporterError::Setup(e.to_string()))?,
            ),
        };
        let exporter = Arc::new(Exporter {
            buffer: Mutex::new(Vec::with_capacity(MAX_BATCH)),
            wake: Notify::new(),
            posted: Notify::new(),
            metrics: Metrics::default(),
            dropped: AtomicU64::new(0),
        });
        let sender = Sender {
            transport,
            credential,
            settings: settings.clone(),
            last_failure_log: None,
        };
        tokio::spawn(run(Arc::clone(&exporter), sender));
        Ok(exporter)
    }

    /// Buffers `item`, or drops it when the buffer is full; never waits.
    pub fn send(&self, item: Item) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.len() >= QUEUE_CAPACITY {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buffer.push(item);
        if buffer.len() == MAX_BATCH {
            self.wake.notify_one();
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends everything buffered so far, waiting at most `deadline`.
    pub async fn flush(&self, deadline: Duration) {
        let posted = self.posted.notified();
        tokio::pin!(posted);
        posted.as_mut().enable();
        self.wake.notify_one();
        let _ = tokio::time::timeout(deadline, posted).await;
    }

    fn take(&self) -> Vec<Item> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *buffer, Vec::with_capacity(MAX_BATCH))
    }
}

/// The sending task: every flush interval (or when woken), takes the buffer and the metrics and posts
/// them in batches of at most `MAX_BATCH`.
async fn run(exporter: Arc<Exporter>, mut sender: Sender) {
    let mut tick = tokio::time::interval(sender.settings.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = exporter.wake.notified() => {}
        }
        let mut items = exporter.take();
        items.extend(exporter.metrics.drain());
        for batch in items.chunks(MAX_BATCH) {
            sender.post(batch).await;
        }
        exporter.posted.notify_waiters();
    }
}

struct Sender {
    transport: HyperTransport,
    credential: Option<Arc<dyn TokenCredential>>,
    settings: TelemetrySettings,
    last_failure_log: Option<Instant>,
}

impl Sender {
    async fn post(&mut self, batch: &[Item]) {
        let count = batch.len();
        let mut body = Vec::with_capacity(count * 640);
        for item in batch {
            item.write(&self.settings.instrumentation_key, &mut body);
        }
        let sent = tokio::time::timeout(POST_DEADLINE, self.try_post(body)).await;
        let failure = match sent {
            Ok(Ok(())) => return,
            Ok(Err(reason)) => reason,
            Err(_) => format!("no answer within {} s", POST_DEADLINE.as_secs()),
        };
        let due = self
            .last_failure_log
            .is_none_or(|t| t.elapsed() >= FAILURE_LOG_EVERY);
        if due {
            self.last_failure_log = Some(Instant::now());
            tracing::warn!(items = count, reason = %failure, "telemetry batch not delivered");
        }
    }

    async fn try_post(&self, body: Vec<u8>) -> Result<(), String> {
        let mut request = Request::new(self.settings.track_url.clone(), Method::Post);
        request.insert_header("content-type", "application/x-json-stream");
        if let Some(credential) = &self.credential {
            let token = credential
                .get_token(&[INGESTION_SCOPE], None)
                .await
                .map_err(|e| format!("no Entra token for ingestion: {}", e.kind()))?;
            request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        }
        request.set_body(body);
        let response = self
            .transport
            .execute_request(&request)
            .await
            .map_err(|e| format!("ingestion unreachable: {}", e.kind()))?;
        let status = u16::from(response.status());
        // The body says which items were refused; reading it also frees the connection.
        let _ = response.into_body().collect().await;
        match status {
            200 | 206 => Ok(()),
            other => Err(format!("ingestion answered HTTP {other}")),
        }
    }
}

//! Sends telemetry items to the Application Insights ingestion endpoint, off the request path: items
//! go into a bounded queue (full: the item is dropped and counted, the caller never waits), and one
//! task batches them (at most `MAX_BATCH`, or every flush interval) and posts each batch with a
//! bounded time. A failed post loses that batch and is logged at most once a minute; it is never
//! retried, so an absent or slow endpoint costs memory up to the queue's bound and nothing else.
//! With `APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD` every post carries an Entra
//! token of the managed identity (cached by `azure_identity`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::request::Request;
use azure_core::http::{HttpClient, Method};
use tokio::sync::{mpsc, oneshot};

use super::envelope::Item;
use super::metrics::Metrics;
use super::settings::{IngestionAuth, TelemetrySettings};
use crate::storage::http_client::HyperTransport;

/// Items waiting to be sent; past this the newest are dropped. ~1 KiB each at most.
pub const QUEUE_CAPACITY: usize = 4096;
/// Items per post.
const MAX_BATCH: usize = 512;
/// The most one post (token included) may take.
const POST_DEADLINE: Duration = Duration::from_secs(10);
/// The Entra scope of Azure Monitor ingestion.
const INGESTION_SCOPE: &str = "https://monitor.azure.com//.default";
/// How often a failing endpoint is reported in the log.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

pub enum Command {
    Item(Box<Item>),
    /// Send what is queued now, then answer.
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("telemetry exporter: {0}")]
    Setup(String),
}

/// What the rest of the server holds: the queue's sending end and the counters.
pub struct Exporter {
    queue: mpsc::Sender<Command>,
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
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let exporter = Arc::new(Exporter {
            queue,
            metrics: Metrics::default(),
            dropped: AtomicU64::new(0),
        });
        let sender = Sender {
            transport,
            credential,
            settings: settings.clone(),
            last_failure_log: None,
        };
        tokio::spawn(run(Arc::downgrade(&exporter), receiver, sender));
        Ok(exporter)
    }

    /// Queues `item`, or drops it when the queue is full; never waits.
    pub fn send(&self, item: Item) {
        if self.queue.try_send(Command::Item(Box::new(item))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends everything queued so far, waiting at most `deadline`.
    pub async fn flush(&self, deadline: Duration) {
        let (done, flushed) = oneshot::channel();
        let queued = tokio::time::timeout(deadline, self.queue.send(Command::Flush(done)));
        if matches!(queued.await, Ok(Ok(()))) {
            let _ = tokio::time::timeout(deadline, flushed).await;
        }
    }
}

/// The sending task: batches items and metrics, posts them, until the exporter is dropped.
async fn run(
    exporter: std::sync::Weak<Exporter>,
    mut receiver: mpsc::Receiver<Command>,
    mut sender: Sender,
) {
    let interval = sender.settings.flush_interval;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Item> = Vec::with_capacity(MAX_BATCH);
    loop {
        let flushed = tokio::select! {
            command = receiver.recv() => match command {
                Some(Command::Item(item)) => {
                    batch.push(*item);
                    if batch.len() < MAX_BATCH {
                        continue;
                    }
                    None
                }
                Some(Command::Flush(done)) => Some(done),
                None => return,
            },
            _ = tick.tick() => None,
        };
        if let Some(exporter) = exporter.upgrade() {
            batch.extend(exporter.metrics.drain());
        }
        if !batch.is_empty() {
            sender.post(std::mem::take(&mut batch)).await;
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

struct Sender {
    transport: HyperTransport,
    credential: Option<Arc<dyn TokenCredential>>,
    settings: TelemetrySettings,
    last_failure_log: Option<Instant>,
}

impl Sender {
    async fn post(&mut self, batch: Vec<Item>) {
        let count = batch.len();
        let mut body = Vec::with_capacity(count * 512);
        for item in &batch {
            if serde_json::to_writer(
                &mut body,
                &item.envelope(&self.settings.instrumentation_key),
            )
            .is_ok()
            {
                body.push(b'\n');
            }
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

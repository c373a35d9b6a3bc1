//! Builds the `azure_storage_blob` and `azure_storage_queue` clients for a `StorageConfig`.
//! Authorisation is attached here, once for both: a SAS policy for keys and SAS strings, bearer tokens for identities.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use azure_storage_queue::{
    QueueClient, QueueClientOptions, QueueServiceClient, QueueServiceClientOptions,
};
use url::Url;

use super::http_client::HyperTransport;
use super::sas::{AccountSas, SasPolicy, SasSource};
use super::{SDK_STORAGE_API_VERSION, StorageAuth, StorageConfig};
use crate::telemetry::Telemetry;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not create the managed identity credential: {0}")]
    Credential(String),
    #[error(
        "no queue endpoint is configured (QueueEndpoint= or AzureWebJobsStorage__queueServiceUri)"
    )]
    NoQueueEndpoint,
    #[error(transparent)]
    Transport(#[from] super::http_client::TransportError),
    #[error("could not create the storage client for {url}: {reason}")]
    Client { url: String, reason: String },
}

/// Every storage client of one server, built from one `StorageConfig`: they share one HTTP
/// connection pool, one SAS policy (its encoded query cache) and one managed identity credential
/// (its token cache). Built once per process; the SSE relay makes a queue client per message, which
/// then reuses a pooled connection and a cached token instead of opening a TLS connection and asking
/// the identity endpoint for a new token every time.
#[derive(Clone)]
pub struct StorageClients {
    blob_endpoint: Url,
    queue_endpoint: Option<Url>,
    budget: Duration,
    options: ClientOptions,
    credential: Option<Arc<dyn TokenCredential>>,
}

impl StorageClients {
    pub fn new(config: &StorageConfig) -> Result<Self, ClientError> {
        Self::with_telemetry(config, Telemetry::default())
    }

    /// The same, recording every storage call as a dependency of the span it runs under.
    pub fn with_telemetry(
        config: &StorageConfig,
        telemetry: Telemetry,
    ) -> Result<Self, ClientError> {
        let (options, credential) = authorisation(config, telemetry)?;
        Ok(StorageClients {
            blob_endpoint: config.blob_endpoint.clone(),
            queue_endpoint: config.queue_endpoint.clone(),
            budget: config.budget,
            options,
            credential,
        })
    }

    pub fn blob_endpoint(&self) -> &Url {
        &self.blob_endpoint
    }

    /// The budget of one storage operation (`STORAGE_TIMEOUT_MS`), SDK retries included: the
    /// clients' retries stop within it, and their callers cut each operation off at it.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// A blob container: cheap to clone, and every clone shares the pool.
    pub fn container(&self, container: &str) -> Result<BlobContainerClient, ClientError> {
        let url = child_url(&self.blob_endpoint, container);
        let options = BlobContainerClientOptions {
            client_options: self.options.clone(),
            version: SDK_STORAGE_API_VERSION.to_string(),
        };
        BlobContainerClient::new(url.clone(), self.credential.clone(), Some(options))
            .map_err(|e| client_error(&url, e))
    }

    /// One queue of the configured queue service.
    pub fn queue(&self, queue: &str) -> Result<QueueClient, ClientError> {
        let url = child_url(self.queue_url()?, queue);
        let options = QueueClientOptions {
            client_options: self.options.clone(),
            version: SDK_STORAGE_API_VERSION.to_string(),
        };
        QueueClient::new(url.clone(), self.credential.clone(), Some(options))
            .map_err(|e| client_error(&url, e))
    }

    /// The queue service itself: listing queues (the SSE relay's sweep of dead instances' queues).
    pub fn queue_service(&self) -> Result<QueueServiceClient, ClientError> {
        let url = self.queue_url()?.clone();
        let options = QueueServiceClientOptions {
            client_options: self.options.clone(),
            version: SDK_STORAGE_API_VERSION.to_string(),
        };
        QueueServiceClient::new(url.clone(), self.credential.clone(), Some(options))
            .map_err(|e| client_error(&url, e))
    }

    fn queue_url(&self) -> Result<&Url, ClientError> {
        self.queue_endpoint
            .as_ref()
            .ok_or(ClientError::NoQueueEndpoint)
    }
}

fn client_error(url: &Url, e: azure_core::Error) -> ClientError {
    ClientError::Client {
        url: url.to_string(),
        reason: e.to_string(),
    }
}

type Authorisation = (ClientOptions, Option<Arc<dyn TokenCredential>>);

fn authorisation(
    config: &StorageConfig,
    telemetry: Telemetry,
) -> Result<Authorisation, ClientError> {
    let transport = HyperTransport::new(config.budget)?.with_telemetry(telemetry);
    let mut options = ClientOptions {
        retry: retry_within(config.budget),
        transport: Some(Transport::new(Arc::new(transport))),
        ..Default::default()
    };
    let credential: Option<Arc<dyn TokenCredential>> = match &config.auth {
        StorageAuth::SharedKey { account, key } => {
            let allow_http = config.blob_endpoint.scheme() == "http";
            let sas = AccountSas::new(account.clone(), key.clone(), allow_http);
            options
                .per_call_policies
                .push(SasPolicy::new(SasSource::minted(sas)));
            None
        }
        StorageAuth::Sas(sas) => {
            options
                .per_call_policies
                .push(SasPolicy::new(SasSource::fixed(sas.expose())));
            None
        }
        StorageAuth::ManagedIdentity { client_id } => Some(managed_identity(client_id.as_deref())?),
    };
    Ok((options, credential))
}

/// The SDK's default retries for up to a minute, far past any client's patience. Here retries stop
/// starting once the budget is spent; `BlobStore` and the relay also cut the whole call off at the budget.
fn retry_within(budget: Duration) -> RetryOptions {
    let budget = time::Duration::try_from(budget).unwrap_or(time::Duration::seconds(5));
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: time::Duration::milliseconds(100),
        max_retries: 4,
        max_total_elapsed: budget,
        max_delay: time::Duration::seconds(1),
    })
}

pub(crate) fn managed_identity(
    client_id: Option<&str>,
) -> Result<Arc<dyn TokenCredential>, ClientError> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_string())),
        ..Default::default()
    };
    let credential = ManagedIdentityCredential::new(Some(options))
        .map_err(|e| ClientError::Credential(e.to_string()))?;
    Ok(credential)
}

/// Endpoint path segments are kept (Azurite puts the account name there); the child name is appended.
fn child_url(endpoint: &Url, child: &str) -> Url {
    let mut url = endpoint.clone();
    url.set_query(None);
    url.path_segments_mut()
        .expect("endpoint validated as a base URL")
        .pop_if_empty()
        .push(child);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_url_keeps_account_path() {
        let u = |s: &str| child_url(&Url::parse(s).unwrap(), "snippets").to_string();
        assert_eq!(
            u("http://127.0.0.1:10000/devstoreaccount1"),
            "http://127.0.0.1:10000/devstoreaccount1/snippets"
        );
        assert_eq!(
            u("http://127.0.0.1:10000/devstoreaccount1/"),
            "http://127.0.0.1:10000/devstoreaccount1/snippets"
        );
        assert_eq!(
            u("https://acct.blob.core.windows.net"),
            "https://acct.blob.core.windows.net/snippets"
        );
    }
}

//! Where snippets live: storage settings in the Azure Functions conventions, and the clients built from them.
//! Shared-key strings become short-lived account SAS; identity settings use `azure_identity`.

mod clients;
mod connect_gate;
mod connection_string;
mod identity;
mod sas;
mod secret;
mod transport;

pub use clients::{ClientError, StorageClients, container_client};
pub use sas::AccountSas;
pub use secret::Secret;

use std::time::Duration;

use url::Url;

/// The storage API version sent as `x-ms-version`; Azurite rejects versions it does not know,
/// so this is pinned to one both Azure and the Azurite release in package.json accept.
pub const STORAGE_API_VERSION: &str = "2025-01-05";

/// Default for `STORAGE_TIMEOUT_MS` (see `crate::config`): the most one tool call waits for storage,
/// SDK retries included. A few seconds: long enough for a retry after a blip, short enough that an
/// outage answers `storage unavailable:` before clients give up.
pub const DEFAULT_CALL_BUDGET: Duration = Duration::from_secs(5);

/// Resolved storage settings: the service endpoints and how requests to them are authorised.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    pub blob_endpoint: Url,
    /// The queue service, when known: it carries SSE messages between instances.
    pub queue_endpoint: Option<Url>,
    pub auth: StorageAuth,
    /// The most one storage operation may take, retries included (`STORAGE_TIMEOUT_MS`).
    pub budget: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StorageAuth {
    /// Account name + key: every request carries an account SAS minted locally and renewed before expiry.
    SharedKey {
        account: String,
        key: Secret<Vec<u8>>,
    },
    /// A connection string that already carries a SAS token.
    Sas(Secret<String>),
    /// Entra ID (managed identity) bearer tokens; `client_id` selects a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StorageConfigError {
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> StorageConfigError {
    StorageConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

impl StorageConfig {
    /// Follows the Functions host: `AzureWebJobsStorage` (a connection string) wins,
    /// then the identity-based `AzureWebJobsStorage__*` settings; neither means "not configured".
    pub fn from_env<'a>(
        get: &dyn Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<Self>, StorageConfigError> {
        if let Some(cs) = get(connection_string::SETTING) {
            return connection_string::parse(cs).map(Some);
        }
        identity::from_env(get)
    }
}

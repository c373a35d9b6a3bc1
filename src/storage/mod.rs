//! Where snippets live: storage settings in the Azure Functions conventions, and the clients built from them.
//! Shared-key strings become short-lived account SAS; identity settings use `azure_identity`.

pub mod call;
mod clients;
mod connect_gate;
mod connection_string;
pub(crate) mod http_client;
mod identity;
mod sas;
mod secret;

pub use call::StorageFailure;
pub(crate) use clients::managed_identity;
pub use clients::{ClientError, StorageClients};
pub use sas::AccountSas;
pub use secret::Secret;

use std::time::Duration;

use url::Url;

use crate::settings::{SettingError, Settings};

/// The storage REST version the server's SDK clients send as `x-ms-version`. Azurite rejects
/// versions it does not know, so this is pinned to one both Azure and the Azurite release in
/// package.json accept. (The gateway's own blob calls pin theirs in the policies crate.)
pub const SDK_STORAGE_API_VERSION: &str = "2025-01-05";

/// Default for `STORAGE_TIMEOUT_MS`: the most one tool call waits for storage,
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

impl StorageConfig {
    /// Follows the Functions host: `AzureWebJobsStorage` (a connection string) wins, then the
    /// identity-based `AzureWebJobsStorage__*` settings; neither means "not configured". The call
    /// budget (`STORAGE_TIMEOUT_MS`) is read here too, so the settings come back whole.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingError> {
        let budget = call_budget(settings)?;
        let resolved = match settings.get(connection_string::SETTING) {
            Some(cs) => Some(connection_string::parse(cs)?),
            None => identity::from_env(&|k| settings.get(k))?,
        };
        Ok(resolved.map(|storage| StorageConfig { budget, ..storage }))
    }
}

/// `STORAGE_TIMEOUT_MS`: the budget of one storage operation, SDK retries included (see
/// docs/server.md). Bounded so a typo can neither make every call fail at once nor bring back
/// unbounded waits.
fn call_budget(settings: &Settings) -> Result<Duration, SettingError> {
    let default = DEFAULT_CALL_BUDGET.as_millis() as u64;
    settings
        .number_in(
            "STORAGE_TIMEOUT_MS",
            100..=120_000,
            "milliseconds from 100 to 120000",
            default,
        )
        .map(Duration::from_millis)
}

//! Builds the `azure_storage_blob` container client for a `StorageConfig`.
//! Authorisation is attached here: SAS policy for keys and SAS strings, bearer tokens for identities.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use url::Url;

use super::sas::{AccountSas, SasPolicy, SasSource};
use super::{STORAGE_API_VERSION, StorageConfig};

#[derive(Debug, thiserror::Error)]
pub enum ContainerClientError {
    #[error("could not create the managed identity credential: {0}")]
    Credential(String),
    #[error("could not create the blob client for {url}: {reason}")]
    Client { url: String, reason: String },
}

/// One client per process: it is cheap to clone and pools its connections.
pub fn container_client(
    config: &StorageConfig,
    container: &str,
) -> Result<BlobContainerClient, ContainerClientError> {
    let url = container_url(config.blob_endpoint(), container);
    let mut client_options = ClientOptions::default();
    let credential: Option<Arc<dyn TokenCredential>> = match config {
        StorageConfig::SharedKey {
            account,
            key,
            blob_endpoint,
        } => {
            let sas = AccountSas::new(
                account.clone(),
                key.clone(),
                blob_endpoint.scheme() == "http",
            );
            client_options
                .per_call_policies
                .push(SasPolicy::new(SasSource::minted(sas)));
            None
        }
        StorageConfig::Sas { sas, .. } => {
            client_options
                .per_call_policies
                .push(SasPolicy::new(SasSource::fixed(sas.expose())));
            None
        }
        StorageConfig::Identity { client_id, .. } => Some(managed_identity(client_id.as_deref())?),
    };
    let options = BlobContainerClientOptions {
        client_options,
        version: STORAGE_API_VERSION.to_string(),
    };
    BlobContainerClient::new(url.clone(), credential, Some(options)).map_err(|e| {
        ContainerClientError::Client {
            url: url.to_string(),
            reason: e.to_string(),
        }
    })
}

fn managed_identity(
    client_id: Option<&str>,
) -> Result<Arc<dyn TokenCredential>, ContainerClientError> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_string())),
        ..Default::default()
    };
    let credential = ManagedIdentityCredential::new(Some(options))
        .map_err(|e| ContainerClientError::Credential(e.to_string()))?;
    Ok(credential)
}

/// Endpoint path segments are kept (Azurite puts the account name there); the container is appended.
fn container_url(endpoint: &Url, container: &str) -> Url {
    let mut url = endpoint.clone();
    url.set_query(None);
    url.path_segments_mut()
        .expect("endpoint validated as a base URL")
        .pop_if_empty()
        .push(container);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_url_keeps_account_path() {
        let u = |s: &str| container_url(&Url::parse(s).unwrap(), "snippets").to_string();
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

//! Identity-based storage settings (`AzureWebJobsStorage__*`), as the Functions host reads them.
//! Only managed identity is accepted: it is what a Flex Consumption app with shared keys disabled uses.

use url::Url;

use super::{StorageAuth, StorageConfig};
use crate::settings::SettingError;

const BLOB_URI: &str = "AzureWebJobsStorage__blobServiceUri";
const QUEUE_URI: &str = "AzureWebJobsStorage__queueServiceUri";
const SERVICE_URI: &str = "AzureWebJobsStorage__serviceUri";
const ACCOUNT: &str = "AzureWebJobsStorage__accountName";
const CREDENTIAL: &str = "AzureWebJobsStorage__credential";
const CLIENT_ID: &str = "AzureWebJobsStorage__clientId";

pub fn from_env<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Option<StorageConfig>, SettingError> {
    let account = get(ACCOUNT);
    if let Some(account) = account {
        let valid = (3..=24).contains(&account.len())
            && account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(SettingError::new(
                ACCOUNT,
                format!("`{account}` is not a storage account name"),
            ));
        }
    }
    let derived =
        |service: &str| account.map(|a| format!("https://{a}.{service}.core.windows.net"));
    let blob_endpoint = if let Some(uri) = get(BLOB_URI) {
        parse_https(BLOB_URI, uri)?
    } else if let Some(uri) = get(SERVICE_URI) {
        parse_https(SERVICE_URI, uri)?
    } else if let Some(uri) = derived("blob") {
        parse_https(ACCOUNT, &uri)?
    } else {
        return Ok(None);
    };
    let queue_endpoint = match (get(QUEUE_URI), derived("queue")) {
        (Some(uri), _) => Some(parse_https(QUEUE_URI, uri)?),
        (None, Some(uri)) => Some(parse_https(ACCOUNT, &uri)?),
        (None, None) => None,
    };
    match get(CREDENTIAL) {
        None => {}
        Some(c) if c.eq_ignore_ascii_case("managedidentity") => {}
        Some(other) => {
            return Err(SettingError::new(
                CREDENTIAL,
                format!("only `managedidentity` is supported, got `{other}`"),
            ));
        }
    }
    Ok(Some(StorageConfig {
        blob_endpoint,
        queue_endpoint,
        auth: StorageAuth::ManagedIdentity {
            client_id: get(CLIENT_ID).map(String::from),
        },
        budget: super::DEFAULT_CALL_BUDGET,
    }))
}

/// Bearer tokens must never travel in clear text, and the SDK refuses them over http anyway.
fn parse_https(setting: &'static str, raw: &str) -> Result<Url, SettingError> {
    let url = Url::parse(raw)
        .map_err(|e| SettingError::new(setting, format!("`{raw}` is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(SettingError::new(
            setting,
            format!("`{raw}` must use https"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(pairs: &[(&str, &str)]) -> Result<Option<StorageConfig>, SettingError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        from_env(&|k| map.get(k).copied())
    }

    #[test]
    fn blob_service_uri_with_user_assigned_identity() {
        let c = resolve(&[
            (BLOB_URI, "https://acct.blob.core.windows.net"),
            (QUEUE_URI, "https://acct.queue.core.windows.net"),
            (CREDENTIAL, "managedidentity"),
            (CLIENT_ID, "00000000-0000-0000-0000-000000000001"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            StorageConfig {
                blob_endpoint: Url::parse("https://acct.blob.core.windows.net").unwrap(),
                queue_endpoint: Some(Url::parse("https://acct.queue.core.windows.net").unwrap()),
                auth: StorageAuth::ManagedIdentity {
                    client_id: Some("00000000-0000-0000-0000-000000000001".into()),
                },
                budget: crate::storage::DEFAULT_CALL_BUDGET,
            }
        );
    }

    #[test]
    fn account_name_derives_the_endpoint() {
        let c = resolve(&[(ACCOUNT, "acct123")]).unwrap().unwrap();
        assert_eq!(
            c.blob_endpoint.as_str(),
            "https://acct123.blob.core.windows.net/"
        );
        assert_eq!(
            c.queue_endpoint.unwrap().as_str(),
            "https://acct123.queue.core.windows.net/"
        );
    }

    #[test]
    fn nothing_set_means_not_configured() {
        assert_eq!(resolve(&[]).unwrap(), None);
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (
                vec![(BLOB_URI, "http://acct.blob.core.windows.net")],
                BLOB_URI,
            ),
            (vec![(BLOB_URI, "not a url")], BLOB_URI),
            (vec![(ACCOUNT, "Bad_Name")], ACCOUNT),
            (
                vec![(ACCOUNT, "acct"), (CREDENTIAL, "clientsecret")],
                CREDENTIAL,
            ),
        ];
        for (pairs, setting) in cases {
            let err = resolve(&pairs).unwrap_err().to_string();
            assert!(err.starts_with(setting), "{err}");
        }
    }
}

//! Parses `AzureWebJobsStorage` connection strings, including `UseDevelopmentStorage=true`.
//! Explicit `BlobEndpoint=` wins over account-derived endpoints so Azurite can run on any port.

use std::collections::HashMap;

use base64::Engine;
use url::Url;

use super::{Secret, StorageAuth, StorageConfig};
use crate::settings::SettingError;

pub const SETTING: &str = "AzureWebJobsStorage";

/// Azurite's published development account; not a secret.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
const DEV_QUEUE_ENDPOINT: &str = "http://127.0.0.1:10001/devstoreaccount1";

pub fn parse(cs: &str) -> Result<StorageConfig, SettingError> {
    let pairs = pairs(cs)?;
    let pairs = &pairs;
    let get = |k: &str| pairs.get(&k.to_ascii_lowercase()).map(String::as_str);
    if get("UseDevelopmentStorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return dev_storage();
    }
    let blob_endpoint = endpoint(&get, "BlobEndpoint", "blob")?
        .ok_or_else(|| SettingError::new(SETTING, "needs AccountName or BlobEndpoint"))?;
    let queue_endpoint = endpoint(&get, "QueueEndpoint", "queue")?;
    let auth = if let Some(sas) = get("SharedAccessSignature") {
        StorageAuth::Sas(Secret::new(sas.trim_start_matches('?').to_string()))
    } else {
        let account = get("AccountName")
            .ok_or_else(|| SettingError::new(SETTING, "AccountName is missing"))?;
        let key = get("AccountKey").ok_or_else(|| {
            SettingError::new(
                SETTING,
                "neither AccountKey nor SharedAccessSignature is present",
            )
        })?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| SettingError::new(SETTING, "AccountKey is not valid base64"))?;
        StorageAuth::SharedKey {
            account: account.to_string(),
            key: Secret::new(key),
        }
    };
    Ok(StorageConfig {
        blob_endpoint,
        queue_endpoint,
        auth,
        budget: super::DEFAULT_CALL_BUDGET,
    })
}

fn dev_storage() -> Result<StorageConfig, SettingError> {
    parse(&format!(
        "AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint={DEV_BLOB_ENDPOINT};QueueEndpoint={DEV_QUEUE_ENDPOINT}"
    ))
}

/// Keys are case-insensitive; values keep their case and may contain `=` (base64 keys, SAS).
fn pairs(cs: &str) -> Result<HashMap<String, String>, SettingError> {
    let mut map = HashMap::new();
    for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            SettingError::new(
                SETTING,
                "not a connection string (expected Key=Value pairs separated by `;`)",
            )
        })?;
        map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    if map.is_empty() {
        return Err(SettingError::new(SETTING, "is empty"));
    }
    Ok(map)
}

/// An explicit `<Service>Endpoint=` wins; otherwise the endpoint is derived from the account name.
/// Only an explicitly configured account lets a missing endpoint be derived (Azurite has no DNS names).
fn endpoint<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    key: &str,
    service: &str,
) -> Result<Option<Url>, SettingError> {
    let raw = match (get(key), get("AccountName")) {
        (Some(e), _) => e.to_string(),
        (None, Some(account)) if get("BlobEndpoint").is_none() || service == "blob" => {
            let protocol = get("DefaultEndpointsProtocol").unwrap_or("https");
            let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");
            format!("{protocol}://{account}.{service}.{suffix}")
        }
        _ => return Ok(None),
    };
    let url = Url::parse(&raw)
        .map_err(|e| SettingError::new(SETTING, format!("{key} `{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(SettingError::new(
            SETTING,
            format!("{key} `{raw}` must be an http(s) URL"),
        ));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_points_at_azurite() {
        let c = parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            c.blob_endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(
            c.queue_endpoint.unwrap().as_str(),
            "http://127.0.0.1:10001/devstoreaccount1"
        );
        let StorageAuth::SharedKey { account, key } = c.auth else {
            panic!("expected shared key")
        };
        assert_eq!(account, DEV_ACCOUNT);
        assert_eq!(key.expose().len(), 64);
    }

    #[test]
    fn explicit_endpoints_win() {
        let c = parse(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:41234/devstoreaccount1;QueueEndpoint=http://127.0.0.1:41235/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(
            c.blob_endpoint.as_str(),
            "http://127.0.0.1:41234/devstoreaccount1"
        );
        assert_eq!(
            c.queue_endpoint.unwrap().as_str(),
            "http://127.0.0.1:41235/devstoreaccount1"
        );
    }

    #[test]
    fn account_derived_endpoints() {
        let c = parse("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=AAAA;EndpointSuffix=core.chinacloudapi.cn")
            .unwrap();
        assert_eq!(
            c.blob_endpoint.as_str(),
            "https://acct.blob.core.chinacloudapi.cn/"
        );
        assert_eq!(
            c.queue_endpoint.unwrap().as_str(),
            "https://acct.queue.core.chinacloudapi.cn/"
        );
    }

    #[test]
    fn sas_connection_string() {
        let c = parse("BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=?sv=2022-11-02&sig=abc%3D")
            .unwrap();
        // An explicit blob endpoint without a queue endpoint: no queue service to guess.
        assert_eq!(c.queue_endpoint, None);
        let StorageAuth::Sas(sas) = c.auth else {
            panic!("expected sas")
        };
        assert_eq!(sas.expose(), "sv=2022-11-02&sig=abc%3D");
    }

    #[test]
    fn errors_name_the_setting_and_never_echo_keys() {
        for cs in [
            "garbage",
            ";;",
            "AccountName=acct",
            "AccountName=acct;AccountKey=not*base64",
            "AccountKey=AAAA",
            "BlobEndpoint=ftp://x;AccountName=a;AccountKey=AAAA",
        ] {
            let err = parse(cs).unwrap_err().to_string();
            assert!(err.starts_with("AzureWebJobsStorage: "), "{cs}: {err}");
            assert!(!err.contains("not*base64"), "{err}");
        }
    }
}

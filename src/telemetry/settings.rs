//! Where telemetry goes, configured the standard way: `APPLICATIONINSIGHTS_CONNECTION_STRING` (the
//! instrumentation key and the ingestion endpoint) and `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
//! (`Authorization=AAD;ClientId=<managed identity>` when the resource accepts Entra tokens only).
//! Without a connection string nothing is exported.

use std::time::Duration;

use url::Url;

use crate::settings::{SettingError, Settings};

const CONNECTION_STRING: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
const AUTHENTICATION_STRING: &str = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";
const FLUSH: &str = "TELEMETRY_FLUSH_MS";
/// Application Insights' global ingestion endpoint, used when the connection string names none.
const DEFAULT_INGESTION: &str = "https://dc.services.visualstudio.com/";
/// Default for `TELEMETRY_FLUSH_MS`: items wait at most this long before they are sent.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// How ingestion requests are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestionAuth {
    /// The instrumentation key alone (resources with local authentication enabled).
    InstrumentationKey,
    /// An Entra token of the managed identity (`client_id` selects a user-assigned one).
    ManagedIdentity { client_id: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    pub instrumentation_key: String,
    /// `<IngestionEndpoint>/v2.1/track`.
    pub track_url: Url,
    pub auth: IngestionAuth,
    /// The most an item waits before its batch is sent (`TELEMETRY_FLUSH_MS`).
    pub flush_interval: Duration,
}

impl TelemetrySettings {
    /// `None` without `APPLICATIONINSIGHTS_CONNECTION_STRING`.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingError> {
        let Some(raw) = settings.get(CONNECTION_STRING) else {
            return Ok(None);
        };
        let pairs = pairs(raw);
        let key = pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("InstrumentationKey"))
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| SettingError::new(CONNECTION_STRING, "InstrumentationKey is missing"))?;
        let endpoint = pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("IngestionEndpoint"))
            .map_or(DEFAULT_INGESTION, |(_, v)| v);
        let track_url = track_url(endpoint)?;
        let flush_ms = settings.number_in(
            FLUSH,
            100..=60_000,
            "milliseconds from 100 to 60000",
            DEFAULT_FLUSH_INTERVAL.as_millis() as u64,
        )?;
        Ok(Some(TelemetrySettings {
            instrumentation_key: key,
            track_url,
            auth: auth(settings.get(AUTHENTICATION_STRING))?,
            flush_interval: Duration::from_millis(flush_ms),
        }))
    }
}

fn pairs(raw: &str) -> Vec<(&str, &str)> {
    raw.split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn track_url(endpoint: &str) -> Result<Url, SettingError> {
    let invalid = || {
        SettingError::new(
            CONNECTION_STRING,
            format!("IngestionEndpoint `{endpoint}` is not an http(s) URL"),
        )
    };
    let base = Url::parse(endpoint).map_err(|_| invalid())?;
    if !matches!(base.scheme(), "https" | "http") || base.cannot_be_a_base() {
        return Err(invalid());
    }
    let path = format!("{}/v2.1/track", base.path().trim_end_matches('/'));
    let mut url = base;
    url.set_path(&path);
    url.set_query(None);
    Ok(url)
}

/// `Authorization=AAD` (with an optional `ClientId=`), as the Functions host and Microsoft's SDKs read it.
fn auth(raw: Option<&str>) -> Result<IngestionAuth, SettingError> {
    let Some(raw) = raw else {
        return Ok(IngestionAuth::InstrumentationKey);
    };
    let pairs = pairs(raw);
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    match value("Authorization") {
        Some(a) if a.eq_ignore_ascii_case("AAD") => Ok(IngestionAuth::ManagedIdentity {
            client_id: value("ClientId")
                .filter(|v| !v.is_empty())
                .map(String::from),
        }),
        _ => Err(SettingError::new(
            AUTHENTICATION_STRING,
            "expected `Authorization=AAD` and optionally `ClientId=<client id>`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    fn resolve(pairs: &[(&str, &str)]) -> Result<Option<TelemetrySettings>, SettingError> {
        let e = env(pairs);
        TelemetrySettings::from_settings(&Settings::new(&e))
    }

    #[test]
    fn connection_strings_name_the_key_and_the_track_url() {
        let s = resolve(&[(
            CONNECTION_STRING,
            "InstrumentationKey=1234;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://x/",
        )])
        .unwrap()
        .unwrap();
        assert_eq!(s.instrumentation_key, "1234");
        assert_eq!(
            s.track_url.as_str(),
            "https://westeurope-5.in.applicationinsights.azure.com/v2.1/track"
        );
        assert_eq!(s.auth, IngestionAuth::InstrumentationKey);
        assert_eq!(s.flush_interval, DEFAULT_FLUSH_INTERVAL);
        let local = resolve(&[(
            CONNECTION_STRING,
            "InstrumentationKey=k;IngestionEndpoint=http://127.0.0.1:9000",
        )])
        .unwrap()
        .unwrap();
        assert_eq!(local.track_url.as_str(), "http://127.0.0.1:9000/v2.1/track");
        let default = resolve(&[(CONNECTION_STRING, "InstrumentationKey=k")])
            .unwrap()
            .unwrap();
        assert_eq!(
            default.track_url.as_str(),
            "https://dc.services.visualstudio.com/v2.1/track"
        );
        assert_eq!(resolve(&[]).unwrap(), None);
    }

    #[test]
    fn entra_authentication_follows_the_authentication_string() {
        let s = resolve(&[
            (CONNECTION_STRING, "InstrumentationKey=k"),
            (AUTHENTICATION_STRING, "ClientId=abc;Authorization=AAD"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.auth,
            IngestionAuth::ManagedIdentity {
                client_id: Some("abc".into())
            }
        );
        let system = resolve(&[
            (CONNECTION_STRING, "InstrumentationKey=k"),
            (AUTHENTICATION_STRING, "Authorization=aad"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            system.auth,
            IngestionAuth::ManagedIdentity { client_id: None }
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (pairs, setting) in [
            (
                vec![(CONNECTION_STRING, "IngestionEndpoint=https://x/")],
                CONNECTION_STRING,
            ),
            (
                vec![(
                    CONNECTION_STRING,
                    "InstrumentationKey=k;IngestionEndpoint=ftp://x/",
                )],
                CONNECTION_STRING,
            ),
            (
                vec![
                    (CONNECTION_STRING, "InstrumentationKey=k"),
                    (AUTHENTICATION_STRING, "Authorization=Basic"),
                ],
                AUTHENTICATION_STRING,
            ),
            (
                vec![(CONNECTION_STRING, "InstrumentationKey=k"), (FLUSH, "5")],
                FLUSH,
            ),
        ] {
            let err = resolve(&pairs).unwrap_err();
            assert_eq!(err.setting, setting, "{err}");
        }
    }
}

//! Process configuration: read once at start-up from arguments and environment, in one pass, and
//! validated. Every error names the setting at fault so a misconfigured deployment fails loudly and
//! clearly. The rooms that own settings read their own through `Settings` (storage, the snippet
//! namespace); this module collects them and reads the rest.

use std::collections::HashMap;
use std::time::Duration;

use crate::guard::origin::normalise as normalise_origin;
use crate::settings::{SettingError, Settings, number_in};
use crate::snippets::NamespaceMode;
use crate::storage::StorageConfig;
use crate::telemetry::TelemetrySettings;

/// Default port when neither `--port` nor `FUNCTIONS_CUSTOMHANDLER_PORT` is given: what `func start` users see.
pub const DEFAULT_PORT: u16 = 7071;
/// Default bound on one snippet's UTF-8 size.
pub const DEFAULT_MAX_SNIPPET_BYTES: usize = 1024 * 1024;
/// Default bound on one HTTP request body; JSON escaping can make a 1 MiB snippet several times larger.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Container the reference sample uses; keeping it lets a deployment take over existing data.
pub const DEFAULT_CONTAINER: &str = "snippets";
/// Default for `MCP_SSE_RELAY_STALE_SECS`: a relay queue without heartbeat for this long belongs
/// to a dead instance, and an overflow blob this old outlived its message long ago.
pub const DEFAULT_RELAY_STALE_AFTER: Duration = Duration::from_secs(600);

/// Default for `MCP_SSE_MAX_SESSIONS_PER_USER`: more than any client opens (one per server
/// connection, a few for reconnects and tabs), far fewer than would matter to the server.
pub const DEFAULT_SSE_MAX_SESSIONS_PER_USER: usize = 16;
/// Default for `MCP_SSE_IDLE_TIMEOUT_SECS`: a stream that carried no request for half an hour is
/// closed; an open stream keeps a billed instance busy (docs/deploy.md).
pub const DEFAULT_SSE_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The one error of configuration: a setting (or the arguments) with a value the server cannot use.
pub type ConfigError = SettingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Size bounds of what clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bound on one snippet's UTF-8 size (`SNIPPETS_MAX_BYTES`).
    pub max_snippet_bytes: usize,
    /// Bound on one HTTP request body (`MCP_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
}

/// The SSE relay between instances (see `mcp::sse::relay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySettings {
    /// Relay SSE requests between instances through Storage queues (`MCP_SSE_RELAY=off` disables).
    pub enabled: bool,
    /// A relay queue without heartbeat, or an overflow blob, older than this is a dead instance's
    /// leftover and is swept (`MCP_SSE_RELAY_STALE_SECS`).
    pub stale_after: Duration,
}

/// Bounds on what legacy SSE sessions may hold (see `mcp::sse::sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Open sessions one verified token subject may hold at once (`MCP_SSE_MAX_SESSIONS_PER_USER`);
    /// callers without a verified subject (no session-token keys) are not counted.
    pub max_sessions_per_user: usize,
    /// A session that receives no request for this long is closed (`MCP_SSE_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
}

/// Everything the server needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    /// `None` when no storage setting exists at all: the server still starts and says so per call.
    pub storage: Option<StorageConfig>,
    pub container: String,
    pub limits: Limits,
    pub log_format: LogFormat,
    /// Host headers accepted on the MCP endpoints (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Session-token keys (the current pair, and the previous one during a rotation): when set,
    /// every MCP request must carry a valid token (defence in depth behind APIM).
    pub session_keys: Option<session_token::KeySet>,
    pub relay: RelaySettings,
    pub sse: SseLimits,
    /// The gateway's MCP resource URL (`https://<gateway>/mcp`): the audience tokens must name.
    pub resource_url: Option<String>,
    /// `Origin` values accepted on the MCP endpoints, serialised (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Snippet layout: per user (the default with session-token keys) or shared.
    pub namespace: NamespaceMode,
    /// Where traces, metrics and audit events go (`APPLICATIONINSIGHTS_CONNECTION_STRING`); none without.
    pub telemetry: Option<TelemetrySettings>,
}

impl Config {
    /// Reads the real process arguments and environment.
    pub fn from_process() -> Result<Self, ConfigError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::from_sources(&args, &env)
    }

    /// Pure resolution from explicit sources, so every rule is unit-testable.
    pub fn from_sources(
        args: &[String],
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let settings = Settings::new(env);
        let port = match port_argument(args)? {
            Some(p) => p,
            None => settings
                .get("FUNCTIONS_CUSTOMHANDLER_PORT")
                .map_or(Ok(DEFAULT_PORT), |v| {
                    parse_port("FUNCTIONS_CUSTOMHANDLER_PORT", v)
                })?,
        };
        let resource_url = resource_url(&settings)?;
        let session_keys = session_keys(&settings)?;
        Ok(Config {
            port,
            storage: StorageConfig::from_settings(&settings)?,
            container: container(&settings)?,
            limits: Limits {
                max_snippet_bytes: size(
                    &settings,
                    "SNIPPETS_MAX_BYTES",
                    DEFAULT_MAX_SNIPPET_BYTES,
                )?,
                max_body_bytes: size(&settings, "MCP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            },
            log_format: settings.choice(
                "LOG_FORMAT",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
                LogFormat::Text,
            )?,
            allowed_hosts: allowed_hosts(&settings),
            allowed_origins: allowed_origins(&settings, resource_url.as_deref())?,
            namespace: NamespaceMode::from_settings(&settings, session_keys.is_some())?,
            relay: RelaySettings {
                enabled: settings.choice("MCP_SSE_RELAY", &[("on", true), ("off", false)], true)?,
                stale_after: relay_stale_after(&settings)?,
            },
            sse: sse_limits(&settings)?,
            telemetry: TelemetrySettings::from_settings(&settings)?,
            session_keys,
            resource_url,
        })
    }
}

fn port_argument(args: &[String]) -> Result<Option<u16>, ConfigError> {
    match args {
        [] => Ok(None),
        [flag, value] if flag == "--port" => parse_port("--port", value).map(Some),
        [flag] if flag.starts_with("--port=") => {
            parse_port("--port", &flag["--port=".len()..]).map(Some)
        }
        [flag] if flag == "--port" => Err(SettingError::new("--port", "missing value")),
        _ => Err(SettingError::new(
            "arguments",
            format!(
                "unexpected `{}` (only --port N is accepted)",
                args.join(" ")
            ),
        )),
    }
}

fn parse_port(setting: &'static str, v: &str) -> Result<u16, ConfigError> {
    let port = number_in(setting, v, 1..=u16::MAX as u64, "a TCP port 1-65535")?;
    Ok(port as u16)
}

fn size(settings: &Settings, setting: &'static str, default: usize) -> Result<usize, ConfigError> {
    let bytes = settings.number_in(
        setting,
        1..=usize::MAX as u64,
        "a positive number of bytes",
        default as u64,
    )?;
    Ok(bytes as usize)
}

/// `SNIPPETS_CONTAINER`, by Azure's container naming rule: 3-63 chars, lowercase letters, digits
/// and single hyphens.
fn container(settings: &Settings) -> Result<String, ConfigError> {
    let name = settings
        .get("SNIPPETS_CONTAINER")
        .unwrap_or(DEFAULT_CONTAINER);
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(name.to_string())
    } else {
        Err(SettingError::new(
            "SNIPPETS_CONTAINER",
            format!("`{name}` is not a valid container name"),
        ))
    }
}

/// `MCP_SSE_RELAY_STALE_SECS`: at least a few seconds, so a live instance's heartbeat (stamped every
/// third of the bound) always arrives in time.
fn relay_stale_after(settings: &Settings) -> Result<Duration, ConfigError> {
    let secs = settings.number_in(
        "MCP_SSE_RELAY_STALE_SECS",
        3..=7 * 86_400,
        "seconds from 3 to 604800",
        DEFAULT_RELAY_STALE_AFTER.as_secs(),
    )?;
    Ok(Duration::from_secs(secs))
}

fn sse_limits(settings: &Settings) -> Result<SseLimits, ConfigError> {
    let max = settings.number_in(
        "MCP_SSE_MAX_SESSIONS_PER_USER",
        1..=100_000,
        "a number of sessions from 1 to 100000",
        DEFAULT_SSE_MAX_SESSIONS_PER_USER as u64,
    )?;
    let idle = settings.number_in(
        "MCP_SSE_IDLE_TIMEOUT_SECS",
        1..=7 * 86_400,
        "seconds from 1 to 604800",
        DEFAULT_SSE_IDLE_TIMEOUT.as_secs(),
    )?;
    Ok(SseLimits {
        max_sessions_per_user: max as usize,
        idle_timeout: Duration::from_secs(idle),
    })
}

/// Both keys or neither: one alone is a half-finished deployment, not a choice. The previous pair
/// of a rotation (all three `SESSION_TOKEN_PREVIOUS_*` settings, or none) needs a current pair.
fn session_keys(settings: &Settings) -> Result<Option<session_token::KeySet>, ConfigError> {
    const ENC: &str = session_token::APP_SETTING_ENC_KEY;
    const MAC: &str = session_token::APP_SETTING_MAC_KEY;
    let previous = session_token::PreviousKeys::from_settings(|name| settings.get(name))
        .map_err(|e| SettingError::new(e.setting(), e.to_string()))?;
    match (settings.get(ENC), settings.get(MAC)) {
        (None, None) if previous.is_some() => Err(SettingError::new(
            ENC,
            "is missing while the previous session-token keys (SESSION_TOKEN_PREVIOUS_*) are set",
        )),
        (None, None) => Ok(None),
        (Some(enc), Some(mac)) => session_token::Keys::from_base64(enc, mac)
            .map(|current| Some(session_token::KeySet::with_previous(current, previous)))
            .map_err(|e| {
                SettingError::new("SESSION_TOKEN_ENC_KEY/SESSION_TOKEN_MAC_KEY", e.to_string())
            }),
        (Some(_), None) => Err(SettingError::new(
            MAC,
            "is missing while SESSION_TOKEN_ENC_KEY is set",
        )),
        (None, Some(_)) => Err(SettingError::new(
            ENC,
            "is missing while SESSION_TOKEN_MAC_KEY is set",
        )),
    }
}

fn resource_url(settings: &Settings) -> Result<Option<String>, ConfigError> {
    let Some(raw) = settings.get("MCP_RESOURCE_URL") else {
        return Ok(None);
    };
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => {
            Ok(Some(raw.trim_end_matches('/').to_string()))
        }
        _ => Err(SettingError::new(
            "MCP_RESOURCE_URL",
            format!("expected an http(s) URL, got `{raw}`"),
        )),
    }
}

/// The gateway's public origin (from `MCP_RESOURCE_URL`) and the Function App's own, plus the web
/// origins of browser-based clients listed in `MCP_ALLOWED_ORIGINS` (e.g. the Inspector's
/// `http://localhost:6274`).
fn allowed_origins(
    settings: &Settings,
    resource_url: Option<&str>,
) -> Result<Vec<String>, ConfigError> {
    let mut origins: Vec<String> = resource_url.and_then(url_origin).into_iter().collect();
    if let Some(host) = settings.get("WEBSITE_HOSTNAME") {
        origins.extend(normalise_origin(&format!("https://{host}")));
    }
    for entry in settings.list("MCP_ALLOWED_ORIGINS") {
        match normalise_origin(entry) {
            Some(origin) if origin.starts_with("http://") || origin.starts_with("https://") => {
                origins.push(origin)
            }
            _ => {
                return Err(SettingError::new(
                    "MCP_ALLOWED_ORIGINS",
                    format!(
                        "expected comma-separated origins like `https://host[:port]`, got `{entry}`"
                    ),
                ));
            }
        }
    }
    Ok(origins)
}

fn url_origin(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Loopback always; the Function App's own host name when running in Azure; extras from `MCP_ALLOWED_HOSTS`.
fn allowed_hosts(settings: &Settings) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    hosts.extend(settings.get("WEBSITE_HOSTNAME").map(String::from));
    hosts.extend(settings.list("MCP_ALLOWED_HOSTS").map(String::from));
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn port_precedence_is_flag_then_env_then_default() {
        let e = env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "9000")]);
        assert_eq!(
            Config::from_sources(&args(&["--port", "8080"]), &e)
                .unwrap()
                .port,
            8080
        );
        assert_eq!(
            Config::from_sources(&args(&["--port=8081"]), &e)
                .unwrap()
                .port,
            8081
        );
        assert_eq!(Config::from_sources(&[], &e).unwrap().port, 9000);
        assert_eq!(
            Config::from_sources(&[], &env(&[])).unwrap().port,
            DEFAULT_PORT
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases = [
            (args(&["--port", "0"]), env(&[]), "--port"),
            (args(&["--bogus"]), env(&[]), "arguments"),
            (
                vec![],
                env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "x")]),
                "FUNCTIONS_CUSTOMHANDLER_PORT",
            ),
            (
                vec![],
                env(&[("SNIPPETS_MAX_BYTES", "-1")]),
                "SNIPPETS_MAX_BYTES",
            ),
            (
                vec![],
                env(&[("MCP_MAX_BODY_BYTES", "0")]),
                "MCP_MAX_BODY_BYTES",
            ),
            (vec![], env(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT"),
            (
                vec![],
                env(&[("STORAGE_TIMEOUT_MS", "50")]),
                "STORAGE_TIMEOUT_MS",
            ),
            (
                vec![],
                env(&[("STORAGE_TIMEOUT_MS", "5s")]),
                "STORAGE_TIMEOUT_MS",
            ),
            (
                vec![],
                env(&[("MCP_SSE_RELAY_STALE_SECS", "1")]),
                "MCP_SSE_RELAY_STALE_SECS",
            ),
            (
                vec![],
                env(&[("SNIPPETS_CONTAINER", "Bad_Name")]),
                "SNIPPETS_CONTAINER",
            ),
            (
                vec![],
                env(&[("MCP_SSE_MAX_SESSIONS_PER_USER", "0")]),
                "MCP_SSE_MAX_SESSIONS_PER_USER",
            ),
            (
                vec![],
                env(&[("MCP_SSE_IDLE_TIMEOUT_SECS", "soon")]),
                "MCP_SSE_IDLE_TIMEOUT_SECS",
            ),
            (
                vec![],
                env(&[("AzureWebJobsStorage", "garbage")]),
                "AzureWebJobsStorage",
            ),
        ];
        for (a, e, setting) in cases {
            let err = Config::from_sources(&a, &e).unwrap_err().to_string();
            assert!(err.contains(setting), "`{err}` should name {setting}");
        }
    }

    #[test]
    fn storage_budget_defaults_and_overrides() {
        let dev = ("AzureWebJobsStorage", "UseDevelopmentStorage=true");
        let c = Config::from_sources(&[], &env(&[dev])).unwrap();
        assert_eq!(
            c.storage.unwrap().budget,
            crate::storage::DEFAULT_CALL_BUDGET
        );
        let c = Config::from_sources(&[], &env(&[dev, ("STORAGE_TIMEOUT_MS", "1500")])).unwrap();
        assert_eq!(c.storage.unwrap().budget, Duration::from_millis(1500));
    }

    #[test]
    fn no_storage_setting_is_allowed() {
        let c = Config::from_sources(&[], &env(&[])).unwrap();
        assert!(c.storage.is_none());
        assert_eq!(c.container, "snippets");
        assert_eq!(c.limits.max_snippet_bytes, DEFAULT_MAX_SNIPPET_BYTES);
    }

    #[test]
    fn session_keys_load_when_both_are_set() {
        let (enc, mac) = session_token::Keys::generate().unwrap().to_base64();
        let e = env(&[
            ("SESSION_TOKEN_ENC_KEY", &enc),
            ("SESSION_TOKEN_MAC_KEY", &mac),
        ]);
        assert!(
            Config::from_sources(&[], &e)
                .unwrap()
                .session_keys
                .is_some()
        );
        assert!(
            Config::from_sources(&[], &env(&[]))
                .unwrap()
                .session_keys
                .is_none()
        );
    }

    #[test]
    fn previous_session_keys_load_all_three_or_none() {
        let (enc, mac) = session_token::Keys::generate().unwrap().to_base64();
        let (old_enc, old_mac) = session_token::Keys::generate().unwrap().to_base64();
        let with = |previous: &[(&str, &str)]| {
            let mut pairs = vec![
                ("SESSION_TOKEN_ENC_KEY", enc.as_str()),
                ("SESSION_TOKEN_MAC_KEY", mac.as_str()),
            ];
            pairs.extend_from_slice(previous);
            Config::from_sources(&[], &env(&pairs))
        };
        let rotating = with(&[
            ("SESSION_TOKEN_PREVIOUS_ENC_KEY", &old_enc),
            ("SESSION_TOKEN_PREVIOUS_MAC_KEY", &old_mac),
            ("SESSION_TOKEN_PREVIOUS_UNTIL", "1767229200"),
        ])
        .unwrap();
        let keys = rotating.session_keys.unwrap();
        assert_eq!(keys.previous().unwrap().until(), 1_767_229_200);
        let idle = with(&[
            ("SESSION_TOKEN_PREVIOUS_ENC_KEY", "none"),
            ("SESSION_TOKEN_PREVIOUS_MAC_KEY", "none"),
            ("SESSION_TOKEN_PREVIOUS_UNTIL", "0"),
        ])
        .unwrap();
        assert!(idle.session_keys.unwrap().previous().is_none());

        let half = with(&[
            ("SESSION_TOKEN_PREVIOUS_ENC_KEY", &old_enc),
            ("SESSION_TOKEN_PREVIOUS_MAC_KEY", &old_mac),
        ])
        .unwrap_err();
        assert_eq!(half.setting, "SESSION_TOKEN_PREVIOUS_UNTIL");
        let shown = half.to_string();
        assert!(
            !shown.contains(&old_enc) && !shown.contains(&old_mac),
            "{shown}"
        );

        let without_current = Config::from_sources(
            &[],
            &env(&[
                ("SESSION_TOKEN_PREVIOUS_ENC_KEY", &old_enc),
                ("SESSION_TOKEN_PREVIOUS_MAC_KEY", &old_mac),
                ("SESSION_TOKEN_PREVIOUS_UNTIL", "1767229200"),
            ]),
        )
        .unwrap_err();
        assert_eq!(without_current.setting, "SESSION_TOKEN_ENC_KEY");
    }

    #[test]
    fn namespace_defaults_to_user_with_keys_and_shared_without() {
        let (enc, mac) = session_token::Keys::generate().unwrap().to_base64();
        let keyed = |mode: Option<&str>| {
            let mut pairs = vec![
                ("SESSION_TOKEN_ENC_KEY", enc.as_str()),
                ("SESSION_TOKEN_MAC_KEY", mac.as_str()),
            ];
            pairs.extend(mode.map(|m| ("SNIPPETS_NAMESPACE", m)));
            Config::from_sources(&[], &env(&pairs))
        };
        assert_eq!(keyed(None).unwrap().namespace, NamespaceMode::User);
        assert_eq!(keyed(Some("User")).unwrap().namespace, NamespaceMode::User);
        assert_eq!(
            keyed(Some("shared")).unwrap().namespace,
            NamespaceMode::Shared
        );
        let bare = |pairs: &[(&str, &str)]| Config::from_sources(&[], &env(pairs));
        assert_eq!(bare(&[]).unwrap().namespace, NamespaceMode::Shared);
        assert_eq!(
            bare(&[("SNIPPETS_NAMESPACE", "shared")]).unwrap().namespace,
            NamespaceMode::Shared
        );
        let err = bare(&[("SNIPPETS_NAMESPACE", "user")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("SNIPPETS_NAMESPACE: `user` needs"), "{err}");
        let err = keyed(Some("team")).unwrap_err().to_string();
        assert_eq!(
            err,
            "SNIPPETS_NAMESPACE: expected `user` or `shared`, got `team`"
        );
    }

    #[test]
    fn allowed_origins_come_from_the_resource_url_the_site_and_the_setting() {
        let e = env(&[
            ("MCP_RESOURCE_URL", "https://GW.example/mcp"),
            ("WEBSITE_HOSTNAME", "func.azurewebsites.net"),
            (
                "MCP_ALLOWED_ORIGINS",
                "http://localhost:6274, https://app.example:8443/",
            ),
        ]);
        assert_eq!(
            Config::from_sources(&[], &e).unwrap().allowed_origins,
            [
                "https://gw.example",
                "https://func.azurewebsites.net",
                "http://localhost:6274",
                "https://app.example:8443"
            ]
        );
        assert!(
            Config::from_sources(&[], &env(&[]))
                .unwrap()
                .allowed_origins
                .is_empty()
        );
        for bad in [
            "*",
            "null",
            "localhost:6274",
            "https://a.example/path",
            "ftp://a.example",
        ] {
            let err = Config::from_sources(&[], &env(&[("MCP_ALLOWED_ORIGINS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("MCP_ALLOWED_ORIGINS: "), "{bad}: {err}");
        }
    }

    #[test]
    fn allowed_hosts_include_site_and_extras() {
        let e = env(&[
            ("WEBSITE_HOSTNAME", "func.azurewebsites.net"),
            ("MCP_ALLOWED_HOSTS", "a.example, b.example"),
        ]);
        let c = Config::from_sources(&[], &e).unwrap();
        for h in [
            "127.0.0.1",
            "func.azurewebsites.net",
            "a.example",
            "b.example",
        ] {
            assert!(c.allowed_hosts.iter().any(|x| x == h), "{h} missing");
        }
    }
}

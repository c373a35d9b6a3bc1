//! Process configuration: read once at start-up from arguments and environment, validated.
//! Every error names the setting at fault so a misconfigured deployment fails loudly and clearly.

use std::collections::HashMap;
use std::time::Duration;

use crate::snippets::NamespaceMode;
use crate::snippets::namespace::SETTING as NAMESPACE_SETTING;
use crate::storage::{DEFAULT_CALL_BUDGET, StorageConfig, StorageConfigError};
use crate::transport::sse_relay::DEFAULT_STALE_AFTER;

/// Default port when neither `--port` nor `FUNCTIONS_CUSTOMHANDLER_PORT` is given: what `func start` users see.
pub const DEFAULT_PORT: u16 = 7071;
/// Default bound on one snippet's UTF-8 size.
pub const DEFAULT_MAX_SNIPPET_BYTES: usize = 1024 * 1024;
/// Default bound on one HTTP request body; JSON escaping can make a 1 MiB snippet several times larger.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Container the reference sample uses; keeping it lets a deployment take over existing data.
pub const DEFAULT_CONTAINER: &str = "snippets";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the server needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    /// `None` when no storage setting exists at all: the server still starts and says so per call.
    pub storage: Option<StorageConfig>,
    pub container: String,
    pub max_snippet_bytes: usize,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    /// Host headers accepted on the MCP endpoints (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Session-token keys: when set, every MCP request must carry a valid token (defence in depth behind APIM).
    pub session_keys: Option<session_token::Keys>,
    /// Relay SSE requests between instances through Storage queues (`MCP_SSE_RELAY=off` disables).
    pub sse_relay: bool,
    /// A relay queue without heartbeat, or an overflow blob, older than this is a dead instance's
    /// leftover and is swept (`MCP_SSE_RELAY_STALE_SECS`).
    pub sse_relay_stale_after: Duration,
    /// The gateway's MCP resource URL (`https://<gateway>/mcp`): the audience tokens must name.
    pub resource_url: Option<String>,
    /// `Origin` values accepted on the MCP endpoints, serialised (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Snippet layout: per user (the default with session-token keys) or shared.
    pub namespace: NamespaceMode,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageConfigError),
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
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
        let get = |k: &str| lookup(env, k);
        let port = match port_argument(args)? {
            Some(p) => p,
            None => match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
                Some(v) => parse_port("FUNCTIONS_CUSTOMHANDLER_PORT", v)?,
                None => DEFAULT_PORT,
            },
        };
        let container = get("SNIPPETS_CONTAINER")
            .unwrap_or(DEFAULT_CONTAINER)
            .to_string();
        validate_container(&container)?;
        let max_snippet_bytes = parse_size(
            "SNIPPETS_MAX_BYTES",
            get("SNIPPETS_MAX_BYTES"),
            DEFAULT_MAX_SNIPPET_BYTES,
        )?;
        let max_body_bytes = parse_size(
            "MCP_MAX_BODY_BYTES",
            get("MCP_MAX_BODY_BYTES"),
            DEFAULT_MAX_BODY_BYTES,
        )?;
        let log_format = match get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("expected `text` or `json`, got `{other}`"),
                ));
            }
        };
        let resource_url = resource_url(&get)?;
        let allowed_origins = allowed_origins(&get, resource_url.as_deref())?;
        let session_keys = session_keys(&get)?;
        let namespace = namespace_mode(get(NAMESPACE_SETTING), session_keys.is_some())?;
        Ok(Config {
            namespace,
            port,
            storage: with_budget(StorageConfig::from_env(&get)?, storage_budget(&get)?),
            container,
            max_snippet_bytes,
            max_body_bytes,
            log_format,
            allowed_hosts: allowed_hosts(&get),
            session_keys,
            resource_url,
            allowed_origins,
            sse_relay_stale_after: relay_stale_after(&get)?,
            sse_relay: match get("MCP_SSE_RELAY").map(str::to_ascii_lowercase).as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(invalid(
                        "MCP_SSE_RELAY",
                        format!("expected `on` or `off`, got `{other}`"),
                    ));
                }
            },
        })
    }
}

fn lookup<'a>(env: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn port_argument(args: &[String]) -> Result<Option<u16>, ConfigError> {
    match args {
        [] => Ok(None),
        [flag, value] if flag == "--port" => parse_port("--port", value).map(Some),
        [flag] if flag.starts_with("--port=") => {
            parse_port("--port", &flag["--port=".len()..]).map(Some)
        }
        [flag] if flag == "--port" => Err(invalid("--port", "missing value")),
        _ => Err(invalid(
            "arguments",
            format!(
                "unexpected `{}` (only --port N is accepted)",
                args.join(" ")
            ),
        )),
    }
}

fn parse_port(setting: &'static str, v: &str) -> Result<u16, ConfigError> {
    match v.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(invalid(
            setting,
            format!("expected a TCP port 1-65535, got `{v}`"),
        )),
    }
}

fn parse_size(
    setting: &'static str,
    v: Option<&str>,
    default: usize,
) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(invalid(
                setting,
                format!("expected a positive number of bytes, got `{v}`"),
            )),
        },
    }
}

/// Azure container naming rule: 3-63 chars, lowercase letters, digits and single hyphens.
fn validate_container(name: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "SNIPPETS_CONTAINER",
            format!("`{name}` is not a valid container name"),
        ))
    }
}

/// `STORAGE_TIMEOUT_MS`: the budget of one storage operation, SDK retries included (see docs/server.md).
/// Bounded so a typo can neither make every call fail at once nor bring back unbounded waits.
fn storage_budget<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Result<Duration, ConfigError> {
    const SETTING: &str = "STORAGE_TIMEOUT_MS";
    const RANGE: std::ops::RangeInclusive<u64> = 100..=120_000;
    match get(SETTING) {
        None => Ok(DEFAULT_CALL_BUDGET),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if RANGE.contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => Err(invalid(
                SETTING,
                format!("expected milliseconds from 100 to 120000, got `{v}`"),
            )),
        },
    }
}

/// `MCP_SSE_RELAY_STALE_SECS`: at least a few seconds, so a live instance's heartbeat (stamped every
/// third of the bound) always arrives in time.
fn relay_stale_after<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Result<Duration, ConfigError> {
    const SETTING: &str = "MCP_SSE_RELAY_STALE_SECS";
    match get(SETTING) {
        None => Ok(DEFAULT_STALE_AFTER),
        Some(v) => match v.parse::<u64>() {
            Ok(secs) if (3..=7 * 86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
            _ => Err(invalid(
                SETTING,
                format!("expected seconds from 3 to 604800, got `{v}`"),
            )),
        },
    }
}

fn with_budget(storage: Option<StorageConfig>, budget: Duration) -> Option<StorageConfig> {
    storage.map(|s| StorageConfig { budget, ..s })
}

/// Both keys or neither: one alone is a half-finished deployment, not a choice.
fn session_keys<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Option<session_token::Keys>, ConfigError> {
    const ENC: &str = session_token::APP_SETTING_ENC_KEY;
    const MAC: &str = session_token::APP_SETTING_MAC_KEY;
    match (get(ENC), get(MAC)) {
        (None, None) => Ok(None),
        (Some(enc), Some(mac)) => session_token::Keys::from_base64(enc, mac)
            .map(Some)
            .map_err(|e| invalid("SESSION_TOKEN_ENC_KEY/SESSION_TOKEN_MAC_KEY", e.to_string())),
        (Some(_), None) => Err(invalid(
            MAC,
            "is missing while SESSION_TOKEN_ENC_KEY is set",
        )),
        (None, Some(_)) => Err(invalid(
            ENC,
            "is missing while SESSION_TOKEN_MAC_KEY is set",
        )),
    }
}

/// `user` needs verified identities, so it is the default with keys and an error without them.
fn namespace_mode(raw: Option<&str>, have_keys: bool) -> Result<NamespaceMode, ConfigError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None if have_keys => Ok(NamespaceMode::User),
        None => Ok(NamespaceMode::Shared),
        Some("user") if have_keys => Ok(NamespaceMode::User),
        Some("user") => Err(invalid(
            NAMESPACE_SETTING,
            "`user` needs verified session tokens: set SESSION_TOKEN_ENC_KEY and SESSION_TOKEN_MAC_KEY, or choose `shared`",
        )),
        Some("shared") => Ok(NamespaceMode::Shared),
        Some(other) => Err(invalid(
            NAMESPACE_SETTING,
            format!("expected `user` or `shared`, got `{other}`"),
        )),
    }
}

fn resource_url<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = get("MCP_RESOURCE_URL") else {
        return Ok(None);
    };
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => {
            Ok(Some(raw.trim_end_matches('/').to_string()))
        }
        _ => Err(invalid(
            "MCP_RESOURCE_URL",
            format!("expected an http(s) URL, got `{raw}`"),
        )),
    }
}

/// The gateway's public origin (from `MCP_RESOURCE_URL`) and the Function App's own, plus the web
/// origins of browser-based clients listed in `MCP_ALLOWED_ORIGINS` (e.g. the Inspector's
/// `http://localhost:6274`).
fn allowed_origins<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    resource_url: Option<&str>,
) -> Result<Vec<String>, ConfigError> {
    use crate::transport::origin_guard::normalise;
    let mut origins: Vec<String> = resource_url
        .and_then(normalise_url_origin)
        .into_iter()
        .collect();
    if let Some(host) = get("WEBSITE_HOSTNAME") {
        origins.extend(normalise(&format!("https://{host}")));
    }
    for entry in get("MCP_ALLOWED_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match normalise(entry) {
            Some(origin) if origin.starts_with("http://") || origin.starts_with("https://") => {
                origins.push(origin)
            }
            _ => {
                return Err(invalid(
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

fn normalise_url_origin(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Loopback always; the Function App's own host name when running in Azure; extras from `MCP_ALLOWED_HOSTS`.
fn allowed_hosts<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    if let Some(h) = get("WEBSITE_HOSTNAME") {
        hosts.push(h.to_string());
    }
    if let Some(extra) = get("MCP_ALLOWED_HOSTS") {
        hosts.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
        assert_eq!(c.storage.unwrap().budget, DEFAULT_CALL_BUDGET);
        let c = Config::from_sources(&[], &env(&[dev, ("STORAGE_TIMEOUT_MS", "1500")])).unwrap();
        assert_eq!(c.storage.unwrap().budget, Duration::from_millis(1500));
    }

    #[test]
    fn no_storage_setting_is_allowed() {
        let c = Config::from_sources(&[], &env(&[])).unwrap();
        assert!(c.storage.is_none());
        assert_eq!(c.container, "snippets");
        assert_eq!(c.max_snippet_bytes, DEFAULT_MAX_SNIPPET_BYTES);
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

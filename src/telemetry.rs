//! Logging: `tracing` to stderr, human-readable or JSON (`LOG_FORMAT=json`) for Application Insights.
//! Defaults keep the Azure SDK quiet; `RUST_LOG` overrides everything. Colour codes only on a
//! terminal: log files and the Functions host's log stream get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const DEFAULT_FILTER: &str =
    "info,azure_core=warn,azure_storage_blob=warn,azure_identity=warn,rmcp=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A second init (tests) is harmless; the first subscriber stays.
    drop(result);
}

//! Logging: `tracing` lines, human-readable or JSON (`LOG_FORMAT=json`), at their true level in the
//! Functions host. The host reads a custom handler's output line by line and decides the level from
//! the stream: every stdout line is Information, and a stderr line is Warning when it contains `warn`
//! and Error otherwise (`WorkerProcess.cs` `OnOutputDataReceived` and `ParseErrorMessageAndLog`, with
//! `UseStdErrorStreamForErrorsOnly`, which an HTTP worker's description sets to true). So info, debug
//! and trace lines go to stdout, warnings and errors to stderr (a warning's line carries `WARN`).
//! Defaults keep the Azure SDK quiet; `RUST_LOG` overrides everything. Colour codes only on a
//! terminal: log files and the Functions host's log stream get plain text.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::LogFormat;

const DEFAULT_FILTER: &str =
    "info,azure_core=warn,azure_storage_blob=warn,azure_identity=warn,rmcp=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(
            std::io::stderr
                .with_max_level(Level::WARN)
                .or_else(std::io::stdout),
        )
        .with_ansi(std::io::stderr().is_terminal() && std::io::stdout().is_terminal());
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A second init (tests) is harmless; the first subscriber stays.
    drop(result);
}

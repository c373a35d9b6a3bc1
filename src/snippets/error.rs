//! Errors a snippet operation reports to the MCP client, each with a stable, documented prefix.
//! Storage failures are summarised (status and code only) so no URL or SAS token can leak.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SnippetError {
    #[error("invalid snippet name: {0}")]
    InvalidName(String),
    #[error("invalid prefix: {0}")]
    InvalidPrefix(String),
    #[error("invalid limit: must be 1-1000, got {0}")]
    InvalidLimit(u32),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    #[error("snippet too large: {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("snippet not found: {0}")]
    NotFound(String),
    #[error(
        "storage not configured: set AzureWebJobsStorage (a connection string, or UseDevelopmentStorage=true for Azurite) or AzureWebJobsStorage__blobServiceUri for managed identity"
    )]
    NotConfigured,
    #[error("snippet is not valid UTF-8 text: {0}")]
    NotText(String),
    #[error("storage error: {0}")]
    Storage(String),
}

impl SnippetError {
    /// Reduces an SDK error to its HTTP status and service error code: its message may embed request URLs.
    pub fn from_azure(e: &azure_core::Error) -> Self {
        match e.kind() {
            azure_core::error::ErrorKind::HttpResponse {
                status, error_code, ..
            } => SnippetError::Storage(format!(
                "HTTP {} {}",
                u16::from(*status),
                error_code.as_deref().unwrap_or("(no error code)")
            )),
            kind => SnippetError::Storage(format!("{kind:?} failure talking to storage")),
        }
    }
}

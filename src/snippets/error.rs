//! Errors a snippet operation reports to the MCP client, each with a stable, documented prefix.
//! Storage failures are summarised by `storage::call` (status and code only) so no URL or SAS token can leak.

use crate::storage::StorageFailure;

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
    /// Storage refused the call or was unavailable (`storage error:` / `storage unavailable:`).
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl SnippetError {
    /// Worth retrying later (as opposed to bad input or a missing snippet).
    pub fn is_transient(&self) -> bool {
        matches!(self, SnippetError::Storage(failure) if failure.is_transient())
    }
}

impl From<azure_core::Error> for SnippetError {
    fn from(e: azure_core::Error) -> Self {
        SnippetError::Storage(StorageFailure::of(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::error::{Error, ErrorKind};
    use azure_core::http::StatusCode;

    /// The storage summaries keep their prefixes through a snippet error (the rules themselves are
    /// tested in `storage::call`).
    #[test]
    fn storage_failures_keep_their_prefixes() {
        let busy = Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::ServiceUnavailable,
                error_code: Some("ServerBusy".into()),
                raw_response: None,
            },
            "https://acct.blob.core.windows.net/c/x?sig=SECRET",
        );
        let e = SnippetError::from(busy);
        assert_eq!(e.to_string(), "storage unavailable: HTTP 503 ServerBusy");
        assert!(e.is_transient());
        let late = SnippetError::from(StorageFailure::timed_out(std::time::Duration::from_millis(
            2500,
        )));
        assert_eq!(
            late.to_string(),
            "storage unavailable: no answer within 2500 ms"
        );
        let refused = SnippetError::from(StorageFailure::Refused(
            "HTTP 403 AuthorizationFailure".into(),
        ));
        assert_eq!(
            refused.to_string(),
            "storage error: HTTP 403 AuthorizationFailure"
        );
        assert!(!refused.is_transient());
        assert!(!SnippetError::NotFound("x".into()).is_transient());
    }
}

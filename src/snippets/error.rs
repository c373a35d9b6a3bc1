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
    /// Storage did not answer within the call budget, refused the connection, or answered with a
    /// transient status (5xx, 408, 429) after the SDK's retries: worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl SnippetError {
    /// Reduces an SDK error to its HTTP status and service error code: its message may embed request URLs.
    pub fn from_azure(e: &azure_core::Error) -> Self {
        use azure_core::error::ErrorKind;
        match e.kind() {
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => {
                let code = u16::from(*status);
                let summary = format!(
                    "HTTP {code} {}",
                    error_code.as_deref().unwrap_or("(no error code)")
                );
                if code >= 500 || code == 408 || code == 429 {
                    SnippetError::Unavailable(summary)
                } else {
                    SnippetError::Storage(summary)
                }
            }
            // No answer at all: connection refused or reset, DNS, TLS.
            ErrorKind::Io | ErrorKind::Connection => {
                SnippetError::Unavailable("cannot connect to storage".into())
            }
            kind => SnippetError::Storage(format!("{kind:?} failure talking to storage")),
        }
    }

    /// The budget ran out before storage answered (`STORAGE_TIMEOUT_MS`).
    pub fn timed_out(budget: std::time::Duration) -> Self {
        SnippetError::Unavailable(format!("no answer within {} ms", budget.as_millis()))
    }

    /// Worth retrying later (as opposed to bad input or a missing snippet).
    pub fn is_transient(&self) -> bool {
        matches!(self, SnippetError::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::error::{Error, ErrorKind};
    use azure_core::http::StatusCode;

    fn http(status: StatusCode, code: &str) -> Error {
        Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: Some(code.into()),
                raw_response: None,
            },
            "https://acct.blob.core.windows.net/c/x?sig=SECRET",
        )
    }

    #[test]
    fn transient_statuses_and_io_are_unavailable() {
        for (status, code) in [
            (StatusCode::ServiceUnavailable, "ServerBusy"),
            (StatusCode::InternalServerError, "InternalError"),
            (StatusCode::TooManyRequests, "Throttled"),
            (StatusCode::RequestTimeout, "OperationTimedOut"),
        ] {
            let e = SnippetError::from_azure(&http(status, code));
            assert!(
                e.to_string().starts_with("storage unavailable: HTTP "),
                "{e}"
            );
            assert!(!e.to_string().contains("SECRET"));
        }
        let io = Error::with_message(ErrorKind::Io, "connection refused to http://x?sig=SECRET");
        assert_eq!(
            SnippetError::from_azure(&io).to_string(),
            "storage unavailable: cannot connect to storage"
        );
    }

    #[test]
    fn client_errors_stay_storage_errors() {
        let e = SnippetError::from_azure(&http(StatusCode::Forbidden, "AuthorizationFailure"));
        assert_eq!(
            e.to_string(),
            "storage error: HTTP 403 AuthorizationFailure"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn timeout_names_the_budget() {
        let e = SnippetError::timed_out(std::time::Duration::from_millis(2500));
        assert_eq!(
            e.to_string(),
            "storage unavailable: no answer within 2500 ms"
        );
        assert!(e.is_transient());
    }
}

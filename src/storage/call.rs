//! One storage call as every caller sees it: bounded by the call budget (`STORAGE_TIMEOUT_MS`), its
//! failure summarised to status and service code (an SDK error's message may embed request URLs and
//! SAS tokens), and the answers that mean "already done" treated as success. The snippet store and
//! the SSE relay both call storage through these.

use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;
use futures::FutureExt;

/// A failed storage call, safe to show a client: no URL, no token, no message text from storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageFailure {
    /// Storage answered and refused (a 4xx other than 408 and 429): retrying will not help.
    #[error("storage error: {0}")]
    Refused(String),
    /// Storage did not answer within the call budget, refused the connection, or answered with a
    /// transient status (5xx, 408, 429) after the SDK's retries: worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageFailure {
    /// Reduces an SDK error to its HTTP status and service error code.
    pub fn of(e: &azure_core::Error) -> Self {
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
                    StorageFailure::Unavailable(summary)
                } else {
                    StorageFailure::Refused(summary)
                }
            }
            // No answer at all: connection refused or reset, DNS, TLS.
            ErrorKind::Io | ErrorKind::Connection => {
                StorageFailure::Unavailable("cannot connect to storage".into())
            }
            kind => StorageFailure::Refused(format!("{kind:?} failure talking to storage")),
        }
    }

    /// The budget ran out before storage answered.
    pub fn timed_out(budget: Duration) -> Self {
        StorageFailure::Unavailable(format!("no answer within {} ms", budget.as_millis()))
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StorageFailure::Unavailable(_))
    }
}

impl From<azure_core::Error> for StorageFailure {
    fn from(e: azure_core::Error) -> Self {
        StorageFailure::of(&e)
    }
}

/// Runs `work` within `budget`: the backstop for the SDK's own retry limits, so whatever storage
/// does, the call ends in time with `storage unavailable: no answer within N ms`.
///
/// A combinator, not an `async fn`: an `async fn` keeps its future argument and the future it awaits
/// side by side, so every such layer doubles the size of what it wraps, and a call's future is
/// copied whole each time it moves (docs/performance.md, "Future sizes").
pub fn within<T, E: From<StorageFailure>>(
    budget: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> impl Future<Output = Result<T, E>> {
    tokio::time::timeout(budget, work)
        .map(move |r| r.unwrap_or_else(|_| Err(StorageFailure::timed_out(budget).into())))
}

/// Creating a container or queue that another instance just created (409) is success.
///
/// The SDK's create future (KiBs) is boxed here, where it is made: a create runs once per container
/// or queue, and inline it would enlarge every future of the calls that may need one.
pub fn create_if_missing<T>(
    create: impl Future<Output = azure_core::Result<T>>,
) -> impl Future<Output = azure_core::Result<()>> {
    Box::pin(create).map(|created| match created {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, StatusCode::Conflict) => Ok(()),
        Err(e) => Err(e),
    })
}

pub fn is_status(e: &azure_core::Error, status: StatusCode) -> bool {
    e.http_status() == Some(status)
}

pub fn is_code(e: &azure_core::Error, code: &str) -> bool {
    matches!(
        e.kind(),
        ErrorKind::HttpResponse { error_code: Some(c), .. } if c == code
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::error::Error;

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
            let e = StorageFailure::of(&http(status, code));
            assert!(
                e.to_string().starts_with("storage unavailable: HTTP "),
                "{e}"
            );
            assert!(!e.to_string().contains("SECRET"));
            assert!(e.is_transient());
        }
        let io = Error::with_message(ErrorKind::Io, "connection refused to http://x?sig=SECRET");
        assert_eq!(
            StorageFailure::of(&io).to_string(),
            "storage unavailable: cannot connect to storage"
        );
    }

    #[test]
    fn client_errors_are_refusals_without_the_message() {
        let e = StorageFailure::of(&http(StatusCode::Forbidden, "AuthorizationFailure"));
        assert_eq!(
            e.to_string(),
            "storage error: HTTP 403 AuthorizationFailure"
        );
        assert!(!e.is_transient());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_a_call_that_never_answers() {
        let never = std::future::pending::<Result<(), StorageFailure>>();
        let e = within(Duration::from_millis(2500), never)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "storage unavailable: no answer within 2500 ms"
        );
        let quick = async { Ok::<_, StorageFailure>(7) };
        assert_eq!(within(Duration::from_millis(1), quick).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_conflict_on_create_is_success_and_other_errors_are_not() {
        let conflict = async { Err::<(), _>(http(StatusCode::Conflict, "QueueAlreadyExists")) };
        assert!(create_if_missing(conflict).await.is_ok());
        let denied = async { Err::<(), _>(http(StatusCode::Forbidden, "AuthorizationFailure")) };
        assert!(create_if_missing(denied).await.is_err());
    }

    /// `within` and `create_if_missing` add a timer or a box to what they wrap, never a second
    /// copy of it (an `async fn` wrapper would double it; docs/performance.md, "Future sizes").
    #[tokio::test]
    async fn wrappers_do_not_copy_what_they_wrap() {
        let big = [0u8; 4096];
        let work = async move { Ok::<_, StorageFailure>(big.len()) };
        let wrapped = within(Duration::from_secs(1), work);
        let timer = std::mem::size_of::<tokio::time::Sleep>();
        assert!(
            std::mem::size_of_val(&wrapped) < 4096 + timer + 256,
            "within() is {} bytes around a 4 KiB future",
            std::mem::size_of_val(&wrapped)
        );
        let create = async move { Ok::<_, azure_core::Error>(big.len()) };
        assert!(std::mem::size_of_val(&create_if_missing(create)) <= 64);
    }
}

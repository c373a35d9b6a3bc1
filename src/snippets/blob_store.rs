//! `BlobStore`: the snippet operations on one blob container, through `azure_storage_blob`.
//! Validation happens before any request, so a refused call never touches storage. Every operation
//! runs within the storage budget (`STORAGE_TIMEOUT_MS`), SDK retries included: past it the caller
//! gets `storage unavailable:`. A snippet is one Put Blob, which storage applies whole or not at all,
//! so abandoning a save at the deadline cannot leave a partial blob.

use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::BlobContainerClient;
use std::num::NonZero;
use std::time::Duration;

use crate::storage::call::{self, create_if_missing, is_code, is_status};

use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
};
use futures::TryStreamExt;
use time::format_description::well_known::Rfc3339;

use super::{Namespace, SnippetError, SnippetName};

/// Snippets are at most a few MiB: one transfer each. Leaving the SDK to choose calls
/// `available_parallelism()` (cgroup file reads) on every request, measured at ~10% of a get's CPU.
const ONE_TRANSFER: Option<NonZero<usize>> = Some(NonZero::<usize>::MIN);

/// Upper bound of one listing page; keeps a tool response small enough for any client.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct SnippetInfo {
    pub name: String,
    pub bytes: u64,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub snippets: Vec<SnippetInfo>,
    pub next_cursor: Option<String>,
}

/// The bounds a store works within; named fields, so a caller cannot swap them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bound on one snippet's UTF-8 size (`SNIPPETS_MAX_BYTES`).
    pub max_snippet_bytes: usize,
    /// The most one operation may take, SDK retries included (`STORAGE_TIMEOUT_MS`).
    pub call_budget: Duration,
}

pub struct BlobStore {
    container: BlobContainerClient,
    limits: StoreLimits,
}

impl BlobStore {
    pub fn new(container: BlobContainerClient, limits: StoreLimits) -> Self {
        BlobStore { container, limits }
    }

    /// Overwrites any existing snippet of that name; the body is the text exactly as given.
    pub async fn save(
        &self,
        ns: &Namespace,
        name: &SnippetName,
        content: &str,
    ) -> Result<u64, SnippetError> {
        let limit = self.limits.max_snippet_bytes;
        if content.len() > limit {
            return Err(SnippetError::TooLarge {
                bytes: content.len(),
                limit,
            });
        }
        self.within_budget(async {
            match self.upload(ns, name, content).await {
                // The container is created on demand: on the first save, and again whenever it has
                // gone (storage restored empty, container deleted) so saves recover without a restart.
                // Losing the creation race to another instance (409) is success.
                Err(e) if is_code(&e, "ContainerNotFound") => {
                    match create_if_missing(self.container.create(None)).await {
                        Ok(()) => self.upload(ns, name, content).await,
                        Err(e) => Err(e),
                    }
                }
                other => other,
            }
            .map_err(SnippetError::from)
        })
        .await?;
        Ok(content.len() as u64)
    }

    async fn upload(
        &self,
        ns: &Namespace,
        name: &SnippetName,
        content: &str,
    ) -> azure_core::Result<()> {
        let body = RequestContent::from(content.as_bytes().to_vec());
        let blob = self.container.blob_client(&ns.blob_name(name));
        let options = BlobClientUploadOptions {
            parallel: ONE_TRANSFER,
            ..Default::default()
        };
        // Boxed: the SDK's upload future is several KiB, and every future around it would copy it
        // whole each time it moves (twice per call before it is polled, in the profile).
        Box::pin(blob.upload(body, Some(options))).await.map(drop)
    }

    pub async fn get(&self, ns: &Namespace, name: &SnippetName) -> Result<String, SnippetError> {
        self.within_budget(self.download(ns, name)).await
    }

    async fn download(&self, ns: &Namespace, name: &SnippetName) -> Result<String, SnippetError> {
        let blob = self.container.blob_client(&ns.blob_name(name));
        let options = BlobClientDownloadOptions {
            parallel: ONE_TRANSFER,
            ..Default::default()
        };
        let response = Box::pin(blob.download(Some(options)))
            .await
            .map_err(|e| not_found_or(e, name))?;
        let bytes = response.body.collect().await.map_err(SnippetError::from)?;
        String::from_utf8(Vec::from(bytes)).map_err(|_| SnippetError::NotText(name.to_string()))
    }

    pub async fn delete(&self, ns: &Namespace, name: &SnippetName) -> Result<(), SnippetError> {
        self.within_budget(async {
            let blob = self.container.blob_client(&ns.blob_name(name));
            Box::pin(blob.delete(None))
                .await
                .map_err(|e| not_found_or(e, name))
        })
        .await?;
        Ok(())
    }

    /// One page of snippets in name order; `cursor` is the opaque marker of the previous page.
    pub async fn list(
        &self,
        ns: &Namespace,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ListPage, SnippetError> {
        self.within_budget(self.list_page(ns, prefix, limit, cursor))
            .await
    }

    async fn list_page(
        &self,
        ns: &Namespace,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ListPage, SnippetError> {
        let prefix = ns.list_prefix(prefix);
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then_some(prefix),
            maxresults: Some(limit.clamp(1, MAX_PAGE) as i32),
            marker: cursor,
            ..Default::default()
        };
        let pager = self
            .container
            .list_blobs(Some(options))
            .map_err(SnippetError::from)?;
        let mut pages = pager.into_pages();
        let page = match pages.try_next().await {
            Ok(Some(page)) => page.into_model().map_err(SnippetError::from)?,
            Ok(None) => {
                return Ok(ListPage {
                    snippets: vec![],
                    next_cursor: None,
                });
            }
            Err(e) if is_status(&e, StatusCode::NotFound) => {
                return Ok(ListPage {
                    snippets: vec![],
                    next_cursor: None,
                });
            }
            Err(e) if is_status(&e, StatusCode::BadRequest) => {
                return Err(SnippetError::InvalidCursor(
                    "not a cursor returned by list_snippets".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let snippets = page
            .blob_items
            .into_iter()
            .filter_map(|item| {
                let name = ns.snippet_name_of(item.name.as_deref()?)?.to_string();
                let props = item.properties;
                Some(SnippetInfo {
                    name,
                    bytes: props.as_ref().and_then(|p| p.content_length).unwrap_or(0),
                    last_modified: props
                        .and_then(|p| p.last_modified)
                        .and_then(|t| t.format(&Rfc3339).ok()),
                })
            })
            .collect();
        Ok(ListPage {
            snippets,
            next_cursor: page.next_marker.filter(|m| !m.is_empty()),
        })
    }

    fn within_budget<T>(
        &self,
        work: impl Future<Output = Result<T, SnippetError>>,
    ) -> impl Future<Output = Result<T, SnippetError>> {
        call::within(self.limits.call_budget, work)
    }
}

fn not_found_or(e: azure_core::Error, name: &SnippetName) -> SnippetError {
    if is_status(&e, StatusCode::NotFound) {
        SnippetError::NotFound(name.to_string())
    } else {
        e.into()
    }
}

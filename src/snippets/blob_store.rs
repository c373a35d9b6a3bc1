//! `BlobStore`: the snippet operations on one blob container, through `azure_storage_blob`.
//! Validation happens before any request, so a refused call never touches storage.

use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::BlobContainerClient;
use std::num::NonZero;

use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
};
use futures::TryStreamExt;
use time::format_description::well_known::Rfc3339;
use tokio::sync::OnceCell;

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

pub struct BlobStore {
    container: BlobContainerClient,
    max_bytes: usize,
    created: OnceCell<()>,
}

impl BlobStore {
    pub fn new(container: BlobContainerClient, max_bytes: usize) -> Self {
        BlobStore {
            container,
            max_bytes,
            created: OnceCell::new(),
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Overwrites any existing snippet of that name; the body is the text exactly as given.
    pub async fn save(
        &self,
        ns: &Namespace,
        name: &SnippetName,
        content: &str,
    ) -> Result<u64, SnippetError> {
        if content.len() > self.max_bytes {
            return Err(SnippetError::TooLarge {
                bytes: content.len(),
                limit: self.max_bytes,
            });
        }
        self.ensure_container().await?;
        let body = RequestContent::from(content.as_bytes().to_vec());
        self.container
            .blob_client(&ns.blob_name(name))
            .upload(
                body,
                Some(BlobClientUploadOptions {
                    parallel: ONE_TRANSFER,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| SnippetError::from_azure(&e))?;
        Ok(content.len() as u64)
    }

    pub async fn get(&self, ns: &Namespace, name: &SnippetName) -> Result<String, SnippetError> {
        let blob = self.container.blob_client(&ns.blob_name(name));
        let options = BlobClientDownloadOptions {
            parallel: ONE_TRANSFER,
            ..Default::default()
        };
        let response = blob
            .download(Some(options))
            .await
            .map_err(|e| not_found_or(e, name))?;
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| SnippetError::from_azure(&e))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| SnippetError::NotText(name.to_string()))
    }

    pub async fn delete(&self, ns: &Namespace, name: &SnippetName) -> Result<(), SnippetError> {
        self.container
            .blob_client(&ns.blob_name(name))
            .delete(None)
            .await
            .map_err(|e| not_found_or(e, name))?;
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
            .map_err(|e| SnippetError::from_azure(&e))?;
        let mut pages = pager.into_pages();
        let page = match pages.try_next().await {
            Ok(Some(page)) => page
                .into_model()
                .map_err(|e| SnippetError::from_azure(&e))?,
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
            Err(e) => return Err(SnippetError::from_azure(&e)),
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

    /// Creates the container on first write; losing the race to another instance is fine.
    async fn ensure_container(&self) -> Result<(), SnippetError> {
        self.created
            .get_or_try_init(|| async {
                match self.container.create(None).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_status(&e, StatusCode::Conflict) => Ok(()),
                    Err(e) => Err(SnippetError::from_azure(&e)),
                }
            })
            .await
            .copied()
    }
}

fn is_status(e: &azure_core::Error, status: StatusCode) -> bool {
    e.http_status() == Some(status)
}

fn not_found_or(e: azure_core::Error, name: &SnippetName) -> SnippetError {
    if is_status(&e, StatusCode::NotFound) {
        SnippetError::NotFound(name.to_string())
    } else {
        SnippetError::from_azure(&e)
    }
}

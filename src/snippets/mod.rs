//! The snippet store: validated names and contents, kept as blobs `<name>.json` in one container.
//! The layout matches the reference sample so a deployment can take over its data.

mod blob_store;
mod error;
mod name;

pub use blob_store::{BlobStore, ListPage, MAX_PAGE, SnippetInfo};
pub use error::SnippetError;
pub use name::{MAX_NAME_CHARS, SnippetName};

/// Suffix the reference sample gives every snippet blob.
pub const BLOB_SUFFIX: &str = ".json";

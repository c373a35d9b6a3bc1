//! The snippet store: validated names and contents, kept as blobs `<name>.json` in one container,
//! under a per-user prefix or (shared mode) at the root, the reference sample's layout.

mod blob_store;
mod error;
mod name;
mod namespace;

pub use blob_store::{BlobStore, ListPage, MAX_PAGE, SnippetInfo, StoreLimits};
pub use error::SnippetError;
pub use name::{MAX_NAME_CHARS, SnippetName, is_invisible_format};
pub use namespace::{Namespace, NamespaceMode, NoIdentity};

/// Suffix the reference sample gives every snippet blob.
pub const BLOB_SUFFIX: &str = ".json";

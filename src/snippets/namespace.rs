//! Snippet namespaces: which blob names a caller's snippets live under.
//! `user` mode gives every signed-in user a prefix `u/<key>/` derived from the verified session token,
//! so list/get/save/delete are scoped by construction; `shared` mode keeps the reference layout
//! (`<snippetname>.json` at the container root).

use sha2::{Digest, Sha256};

use super::{BLOB_SUFFIX, SnippetName};
use crate::settings::{SettingError, Settings};

/// Setting that selects the mode (`user` or `shared`).
pub const SETTING: &str = "SNIPPETS_NAMESPACE";
/// Root of every per-user prefix; a shared-mode listing skips it (snippet names cannot contain `/`).
const USER_ROOT: &str = "u/";
/// Domain separation for the key hash: a later scheme gets another label instead of colliding.
const KEY_LABEL: &[u8] = b"snippets-mcp namespace v1\0";
/// Hex characters of the key kept in blob names: 128 bits, far beyond any collision risk.
const KEY_HEX_LEN: usize = 32;

/// How snippets are laid out in the container, chosen once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceMode {
    /// One prefix per signed-in user (requires verified session tokens).
    User,
    /// Everyone shares the container root, as the reference sample did.
    Shared,
}

impl NamespaceMode {
    /// `SNIPPETS_NAMESPACE`: `user` needs verified identities, so it is the default with session-token
    /// keys and an error without them.
    pub fn from_settings(settings: &Settings, have_keys: bool) -> Result<Self, SettingError> {
        let default = if have_keys {
            NamespaceMode::User
        } else {
            NamespaceMode::Shared
        };
        let words = [
            ("user", NamespaceMode::User),
            ("shared", NamespaceMode::Shared),
        ];
        match settings.choice(SETTING, &words, default)? {
            NamespaceMode::User if !have_keys => Err(SettingError::new(
                SETTING,
                "`user` needs verified session tokens: set SESSION_TOKEN_ENC_KEY and SESSION_TOKEN_MAC_KEY, or choose `shared`",
            )),
            mode => Ok(mode),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceMode::User => "user",
            NamespaceMode::Shared => "shared",
        }
    }
}

/// A user-mode call arrived without a verified identity: refused rather than served from the root.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "not signed in: this server keeps snippets per user and the request carries no verified user"
)]
pub struct NoIdentity;

/// The blob-name prefix one caller's snippets live under (`""` in shared mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    /// The reference layout: snippets at the container root.
    pub fn shared() -> Self {
        Namespace {
            prefix: String::new(),
        }
    }

    /// The namespace of the user a session token names. `subject` is the token's `sub`, the
    /// user's Entra object id: stable across sign-ins, clients and renames. The tenant is fixed per
    /// deployment (the gateway accepts tokens of one tenant), so it adds nothing to the key.
    pub fn for_subject(subject: &str) -> Result<Self, NoIdentity> {
        if subject.is_empty() {
            return Err(NoIdentity);
        }
        let digest = Sha256::new()
            .chain_update(KEY_LABEL)
            .chain_update(subject.as_bytes())
            .finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Namespace {
            prefix: format!("{USER_ROOT}{}/", &hex[..KEY_HEX_LEN]),
        })
    }

    /// The namespace for a caller in `mode`; `subject` is the verified token subject, if any.
    pub fn resolve(mode: NamespaceMode, subject: Option<&str>) -> Result<Self, NoIdentity> {
        match mode {
            NamespaceMode::Shared => Ok(Namespace::shared()),
            NamespaceMode::User => Namespace::for_subject(subject.ok_or(NoIdentity)?),
        }
    }

    /// The prefix every blob of this namespace starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Blob name of a snippet; a valid name has no `/` or `..`, so it cannot leave the prefix.
    pub fn blob_name(&self, name: &SnippetName) -> String {
        format!("{}{}", self.prefix, name.blob_name())
    }

    /// Listing prefix for snippet names starting with `name_prefix`.
    pub fn list_prefix(&self, name_prefix: &str) -> String {
        format!("{}{name_prefix}", self.prefix)
    }

    /// The snippet name of a listed blob, or `None` for blobs outside this namespace's own level
    /// (in shared mode: the per-user prefixes and anything else with a `/`).
    pub fn snippet_name_of<'a>(&self, blob_name: &'a str) -> Option<&'a str> {
        let rest = blob_name.strip_prefix(&self.prefix)?;
        let name = rest.strip_suffix(BLOB_SUFFIX)?;
        (!name.contains('/')).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> SnippetName {
        SnippetName::parse(raw).unwrap()
    }

    #[test]
    fn shared_mode_keeps_the_reference_layout() {
        let ns = Namespace::resolve(NamespaceMode::Shared, Some("alice")).unwrap();
        assert_eq!(ns.blob_name(&name("hello")), "hello.json");
        assert_eq!(ns.list_prefix("he"), "he");
        assert_eq!(ns.snippet_name_of("hello.json"), Some("hello"));
        assert_eq!(ns.snippet_name_of("u/0123/hello.json"), None);
        assert_eq!(ns.snippet_name_of("hello.txt"), None);
    }

    #[test]
    fn user_prefix_is_a_stable_hash_of_the_subject() {
        let alice = Namespace::for_subject("alice-oid").unwrap();
        assert_eq!(alice, Namespace::for_subject("alice-oid").unwrap());
        let prefix = alice.prefix();
        assert!(
            prefix.starts_with("u/") && prefix.ends_with('/'),
            "{prefix}"
        );
        let key = &prefix[2..prefix.len() - 1];
        assert_eq!(key.len(), KEY_HEX_LEN);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // The subject itself never appears in storage.
        assert!(!prefix.contains("alice"));
        let bob = Namespace::for_subject("bob-oid").unwrap();
        assert_ne!(alice.prefix(), bob.prefix());
        assert_eq!(
            alice.blob_name(&name("x")),
            format!("{}x.json", alice.prefix())
        );
    }

    #[test]
    fn listed_names_stay_inside_their_namespace() {
        let alice = Namespace::for_subject("alice-oid").unwrap();
        let bob = Namespace::for_subject("bob-oid").unwrap();
        let blob = alice.blob_name(&name("secret"));
        assert_eq!(alice.snippet_name_of(&blob), Some("secret"));
        assert_eq!(bob.snippet_name_of(&blob), None);
        assert_eq!(alice.snippet_name_of("secret.json"), None);
        assert_eq!(
            alice.snippet_name_of(&format!("{}a/b.json", alice.prefix())),
            None
        );
    }

    #[test]
    fn user_mode_without_identity_is_refused() {
        assert_eq!(
            Namespace::resolve(NamespaceMode::User, None),
            Err(NoIdentity)
        );
        assert_eq!(
            Namespace::resolve(NamespaceMode::User, Some("")),
            Err(NoIdentity)
        );
    }
}

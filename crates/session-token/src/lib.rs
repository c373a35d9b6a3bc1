//! Session token v1: the opaque access token APIM hands MCP clients instead of the Entra token.
//! One format for the APIM policies (C#) and the Rust server; spec in `docs/session-token.md`.

mod claims;
mod key_set;
mod keys;
pub mod rotation_vectors;
pub mod scope;
mod token;
pub mod vectors;

pub use claims::Claims;
pub use key_set::{KeySet, PreviousKeys};
pub use keys::{KeyError, KeyName, Keys};
pub use token::{TokenError, open, open_for_audience, seal, seal_with_iv};

/// Version byte at offset 0; it is covered by the MAC so it cannot be swapped.
pub const TOKEN_VERSION: u8 = 1;
/// Tokens longer than this many characters are rejected before decoding.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Length of each key (AES-256 key, HMAC-SHA256 key), in bytes.
pub const KEY_LEN: usize = 32;
/// AES block size, which is also the IV length, in bytes.
pub const BLOCK_LEN: usize = 16;
/// Length of the IV, in bytes.
pub const IV_LEN: usize = 16;
/// Length of the HMAC-SHA256 tag, in bytes (never truncated).
pub const TAG_LEN: usize = 32;
/// Smallest well-formed decoded token: version, IV, one ciphertext block, tag.
pub const MIN_TOKEN_BYTES: usize = 1 + IV_LEN + BLOCK_LEN + TAG_LEN;
/// Largest decoded token that still fits in [`MAX_TOKEN_LEN`] base64url characters.
pub const MAX_TOKEN_BYTES: usize = MAX_TOKEN_LEN / 4 * 3;
/// Largest claims JSON (bytes) whose sealed token stays within [`MAX_TOKEN_LEN`].
/// PKCS#7 always adds 1..=16 bytes, hence the `- 1`.
pub const MAX_PLAINTEXT_LEN: usize =
    (MAX_TOKEN_BYTES - 1 - IV_LEN - TAG_LEN) / BLOCK_LEN * BLOCK_LEN - 1;

/// APIM named value (secret) holding the base64 AES-256 key.
pub const NAMED_VALUE_ENC_KEY: &str = "SessionTokenEncKey";
/// APIM named value (secret) holding the base64 HMAC-SHA256 key.
pub const NAMED_VALUE_MAC_KEY: &str = "SessionTokenMacKey";
/// Function app setting (and azd environment variable) holding the base64 AES-256 key.
pub const APP_SETTING_ENC_KEY: &str = "SESSION_TOKEN_ENC_KEY";
/// Function app setting (and azd environment variable) holding the base64 HMAC-SHA256 key.
pub const APP_SETTING_MAC_KEY: &str = "SESSION_TOKEN_MAC_KEY";

/// APIM named value (secret) holding the previous pair's AES-256 key during a rotation, or
/// [`PREVIOUS_KEY_NONE`].
pub const NAMED_VALUE_PREVIOUS_ENC_KEY: &str = "SessionTokenPreviousEncKey";
/// APIM named value (secret) holding the previous pair's HMAC-SHA256 key during a rotation, or
/// [`PREVIOUS_KEY_NONE`].
pub const NAMED_VALUE_PREVIOUS_MAC_KEY: &str = "SessionTokenPreviousMacKey";
/// APIM named value (secret): Unix seconds until which the previous pair is accepted (while
/// `now < until`), or [`PREVIOUS_UNTIL_NONE`].
pub const NAMED_VALUE_PREVIOUS_UNTIL: &str = "SessionTokenPreviousUntil";
/// Function app setting holding the previous pair's AES-256 key during a rotation.
pub const APP_SETTING_PREVIOUS_ENC_KEY: &str = "SESSION_TOKEN_PREVIOUS_ENC_KEY";
/// Function app setting holding the previous pair's HMAC-SHA256 key during a rotation.
pub const APP_SETTING_PREVIOUS_MAC_KEY: &str = "SESSION_TOKEN_PREVIOUS_MAC_KEY";
/// Function app setting: Unix seconds until which the previous pair is accepted.
pub const APP_SETTING_PREVIOUS_UNTIL: &str = "SESSION_TOKEN_PREVIOUS_UNTIL";
/// The value of a previous key setting that means "no previous key": Key Vault secrets and APIM
/// named values cannot be empty, so the absence of a rotation needs a spelling of its own.
pub const PREVIOUS_KEY_NONE: &str = "none";
/// The value of the previous deadline that means "no previous keys" (same reason).
pub const PREVIOUS_UNTIL_NONE: &str = "0";

/// The current time in Unix seconds, for [`open`]'s `now_unix`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_are_consistent() {
        assert_eq!(MIN_TOKEN_BYTES, 65);
        assert_eq!(MAX_TOKEN_BYTES, 3072);
        assert_eq!(MAX_PLAINTEXT_LEN, 3007);
    }

    #[test]
    fn unix_now_is_after_2025() {
        assert!(unix_now() > 1_735_689_600);
    }
}

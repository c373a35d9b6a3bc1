//! The two independent 32-byte keys (AES-256 and HMAC-SHA256) and how they are loaded.
//! Keys never appear in `Debug` output; loading errors name the key but never echo its value.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::TryRng as _;
use rand::rngs::SysRng;

use crate::{
    APP_SETTING_ENC_KEY, APP_SETTING_MAC_KEY, APP_SETTING_PREVIOUS_ENC_KEY,
    APP_SETTING_PREVIOUS_MAC_KEY, KEY_LEN, NAMED_VALUE_ENC_KEY, NAMED_VALUE_MAC_KEY,
    NAMED_VALUE_PREVIOUS_ENC_KEY, NAMED_VALUE_PREVIOUS_MAC_KEY,
};

/// Which key an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyName {
    /// The AES-256 key (`SESSION_TOKEN_ENC_KEY` / `SessionTokenEncKey`).
    Enc,
    /// The HMAC-SHA256 key (`SESSION_TOKEN_MAC_KEY` / `SessionTokenMacKey`).
    Mac,
    /// The AES-256 key of the previous pair, during a rotation
    /// (`SESSION_TOKEN_PREVIOUS_ENC_KEY` / `SessionTokenPreviousEncKey`).
    PreviousEnc,
    /// The HMAC-SHA256 key of the previous pair, during a rotation
    /// (`SESSION_TOKEN_PREVIOUS_MAC_KEY` / `SessionTokenPreviousMacKey`).
    PreviousMac,
}

impl KeyName {
    /// The app setting / environment variable that holds this key.
    pub fn app_setting(self) -> &'static str {
        match self {
            KeyName::Enc => APP_SETTING_ENC_KEY,
            KeyName::Mac => APP_SETTING_MAC_KEY,
            KeyName::PreviousEnc => APP_SETTING_PREVIOUS_ENC_KEY,
            KeyName::PreviousMac => APP_SETTING_PREVIOUS_MAC_KEY,
        }
    }

    /// The APIM named value that holds this key.
    pub fn named_value(self) -> &'static str {
        match self {
            KeyName::Enc => NAMED_VALUE_ENC_KEY,
            KeyName::Mac => NAMED_VALUE_MAC_KEY,
            KeyName::PreviousEnc => NAMED_VALUE_PREVIOUS_ENC_KEY,
            KeyName::PreviousMac => NAMED_VALUE_PREVIOUS_MAC_KEY,
        }
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self {
            KeyName::Enc => "encryption key",
            KeyName::Mac => "MAC key",
            KeyName::PreviousEnc => "previous encryption key",
            KeyName::PreviousMac => "previous MAC key",
        };
        write!(
            f,
            "session token {role} ({} / {})",
            self.app_setting(),
            self.named_value()
        )
    }
}

/// Why keys could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The environment variable is not set (or not valid Unicode).
    #[error("{0} is not set")]
    Missing(KeyName),
    /// The value is not standard base64 with padding.
    #[error("{0} is not valid standard base64 (with padding)")]
    NotBase64(KeyName),
    /// The value decodes to the wrong number of bytes.
    #[error("{name} must decode to exactly {KEY_LEN} bytes, got {len}")]
    WrongLength {
        /// Which key.
        name: KeyName,
        /// Decoded length.
        len: usize,
    },
    /// Both settings hold the same key, which defeats the point of two independent keys.
    #[error(
        "the session token encryption key and MAC key are identical; generate two independent keys"
    )]
    Identical,
    /// The previous pair holds the same key twice.
    #[error(
        "the previous session token encryption key and MAC key are identical; they must be the two independent keys of the pair they replaced"
    )]
    IdenticalPrevious,
    /// Some but not all of the previous pair and its deadline are set: a rotation half written.
    #[error(
        "{missing} is not set while other previous session token settings are; set all of {}, {} and {} (a rotation) or none of them (`{}` / `{}`)",
        crate::APP_SETTING_PREVIOUS_ENC_KEY,
        crate::APP_SETTING_PREVIOUS_MAC_KEY,
        crate::APP_SETTING_PREVIOUS_UNTIL,
        crate::PREVIOUS_KEY_NONE,
        crate::PREVIOUS_UNTIL_NONE
    )]
    PreviousIncomplete {
        /// The app setting that is missing (unset, empty, `none` or `0`).
        missing: &'static str,
    },
    /// The deadline is not a whole number of Unix seconds (its value is not echoed).
    #[error(
        "{} ({}) must be Unix seconds: a whole number, or `{}` for no previous keys",
        crate::APP_SETTING_PREVIOUS_UNTIL,
        crate::NAMED_VALUE_PREVIOUS_UNTIL,
        crate::PREVIOUS_UNTIL_NONE
    )]
    BadUntil,
    /// The operating system's random generator failed.
    #[error("the operating system random generator failed: {0}")]
    Rng(#[from] rand::rngs::SysError),
}

impl KeyError {
    /// The app setting this error is about, for a configuration error that names its setting.
    pub fn setting(&self) -> &'static str {
        match self {
            KeyError::Missing(name)
            | KeyError::NotBase64(name)
            | KeyError::WrongLength { name, .. } => name.app_setting(),
            KeyError::Identical | KeyError::Rng(_) => APP_SETTING_ENC_KEY,
            KeyError::IdenticalPrevious => APP_SETTING_PREVIOUS_ENC_KEY,
            KeyError::PreviousIncomplete { missing } => missing,
            KeyError::BadUntil => crate::APP_SETTING_PREVIOUS_UNTIL,
        }
    }
}

/// The key pair: `enc` for AES-256-CBC, `mac` for HMAC-SHA256. Independent by construction.
/// No `PartialEq`: comparing secrets with `==` is not constant time and never needed.
#[derive(Clone)]
pub struct Keys {
    pub(crate) enc: [u8; KEY_LEN],
    pub(crate) mac: [u8; KEY_LEN],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("enc", &"<redacted>")
            .field("mac", &"<redacted>")
            .finish()
    }
}

impl Keys {
    /// Keys from raw bytes. Rejects identical keys (see [`KeyError::Identical`]).
    pub fn new(enc: [u8; KEY_LEN], mac: [u8; KEY_LEN]) -> Result<Keys, KeyError> {
        if enc == mac {
            return Err(KeyError::Identical);
        }
        Ok(Keys { enc, mac })
    }

    /// Keys from their standard-base64 (padded) encodings, as stored in named values
    /// and app settings. Surrounding ASCII whitespace (a trailing newline) is ignored.
    pub fn from_base64(enc_b64: &str, mac_b64: &str) -> Result<Keys, KeyError> {
        let enc = decode_key(KeyName::Enc, enc_b64)?;
        let mac = decode_key(KeyName::Mac, mac_b64)?;
        Keys::new(enc, mac)
    }

    /// Keys from the `SESSION_TOKEN_ENC_KEY` and `SESSION_TOKEN_MAC_KEY` environment variables.
    pub fn from_env() -> Result<Keys, KeyError> {
        let read =
            |name: KeyName| std::env::var(name.app_setting()).map_err(|_| KeyError::Missing(name));
        Keys::from_base64(&read(KeyName::Enc)?, &read(KeyName::Mac)?)
    }

    /// Two fresh keys straight from the operating system's random generator.
    pub fn generate() -> Result<Keys, KeyError> {
        let mut enc = [0u8; KEY_LEN];
        let mut mac = [0u8; KEY_LEN];
        SysRng.try_fill_bytes(&mut enc)?;
        SysRng.try_fill_bytes(&mut mac)?;
        Keys::new(enc, mac)
    }

    /// The keys as standard base64 with padding: `(enc, mac)`. Only for the key generator
    /// and test vectors; never log the result.
    pub fn to_base64(&self) -> (String, String) {
        (STANDARD.encode(self.enc), STANDARD.encode(self.mac))
    }
}

pub(crate) fn decode_key(name: KeyName, b64: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let bytes = STANDARD
        .decode(b64.trim_ascii())
        .map_err(|_| KeyError::NotBase64(name))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyError::WrongLength {
        name,
        len: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const MAC: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn from_base64_accepts_32_byte_keys_and_trailing_newline() {
        let keys = Keys::from_base64(ENC, &format!("{MAC}\n")).unwrap();
        assert_eq!(keys.enc[31], 31);
        assert_eq!(keys.mac[0], 32);
        assert_eq!(keys.to_base64(), (ENC.to_owned(), MAC.to_owned()));
    }

    #[test]
    fn from_base64_names_the_bad_key() {
        let err = Keys::from_base64(ENC, "not base64!").unwrap_err();
        assert!(matches!(err, KeyError::NotBase64(KeyName::Mac)), "{err:?}");
        assert!(err.to_string().contains("SESSION_TOKEN_MAC_KEY"), "{err}");

        let err = Keys::from_base64("AAEC", MAC).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::WrongLength {
                    name: KeyName::Enc,
                    len: 3
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("SessionTokenEncKey"), "{err}");

        // Unpadded base64 is rejected: the stored form is standard base64 with padding.
        let err = Keys::from_base64(ENC.trim_end_matches('='), MAC).unwrap_err();
        assert!(matches!(err, KeyError::NotBase64(KeyName::Enc)), "{err:?}");
    }

    #[test]
    fn identical_keys_are_rejected() {
        assert!(matches!(
            Keys::from_base64(ENC, ENC),
            Err(KeyError::Identical)
        ));
    }

    #[test]
    fn debug_output_redacts_key_material() {
        let keys = Keys::from_base64(ENC, MAC).unwrap();
        let shown = format!("{keys:?} {keys:#?}");
        assert!(shown.contains("<redacted>"));
        for b64 in [ENC, MAC] {
            assert!(!shown.contains(b64));
        }
        // Neither the byte values (as Debug prints arrays) appear.
        assert!(!shown.contains("31"), "{shown}");
    }

    #[test]
    fn generated_keys_are_fresh_and_independent() {
        let a = Keys::generate().unwrap();
        let b = Keys::generate().unwrap();
        assert_ne!(a.enc, a.mac);
        assert_ne!(a.to_base64(), b.to_base64());
        let (enc, mac) = a.to_base64();
        assert_eq!(
            Keys::from_base64(&enc, &mac).unwrap().to_base64(),
            (enc, mac)
        );
    }
}

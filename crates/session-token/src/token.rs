//! Sealing and opening v1 session tokens: AES-256-CBC with a fresh IV, then HMAC-SHA256.
//! `open` checks the MAC in constant time before decrypting, so there is no padding oracle.

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::{BLOCK_LEN, IV_LEN, MAX_TOKEN_LEN, MIN_TOKEN_BYTES, TAG_LEN, TOKEN_VERSION};
use crate::{Claims, Keys};

type HmacSha256 = Hmac<Sha256>;

/// Why a token was rejected. Deliberately carries no detail: callers answer 401 either way,
/// and finer distinctions would only help an attacker probe the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed v1 token: bad encoding, bad length, bad padding or bad claims.
    #[error("malformed session token")]
    Malformed,
    /// Well-formed length but a version byte other than 1.
    #[error("unsupported session token version")]
    UnsupportedVersion,
    /// The tag does not match: tampered, truncated on a block boundary, or other keys.
    #[error("session token failed integrity check")]
    BadMac,
    /// `exp <= now`.
    #[error("session token expired")]
    Expired,
    /// `aud` differs from the expected audience.
    #[error("session token issued for another audience")]
    WrongAudience,
}

impl TokenError {
    /// The error's name as used in the test vectors (`"Malformed"`, `"BadMac"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TokenError::Malformed => "Malformed",
            TokenError::UnsupportedVersion => "UnsupportedVersion",
            TokenError::BadMac => "BadMac",
            TokenError::Expired => "Expired",
            TokenError::WrongAudience => "WrongAudience",
        }
    }
}

/// Seal claims into a token with a fresh random IV:
/// `base64url-nopad(0x01 || iv || AES-256-CBC(enc, iv, PKCS#7(json)) || HMAC-SHA256(mac, 0x01 || iv || ct))`.
///
/// Claims whose JSON exceeds [`crate::MAX_PLAINTEXT_LEN`] bytes produce a token that
/// [`open`] rejects as over-long; real claims are a few hundred bytes.
pub fn seal(keys: &Keys, claims: &Claims) -> String {
    let mut iv = [0u8; IV_LEN];
    // CBC needs an unpredictable IV per message; ThreadRng is a CSPRNG seeded from the OS.
    rand::fill(&mut iv);
    seal_with_iv(keys, &claims.to_json(), iv)
}

/// Seal arbitrary plaintext bytes under a caller-chosen IV. Deterministic: only for test
/// vectors. Reusing an IV in production leaks equality of plaintext prefixes.
pub fn seal_with_iv(keys: &Keys, plaintext: &[u8], iv: [u8; IV_LEN]) -> String {
    let ct = cbc::Encryptor::<Aes256>::new(&keys.enc.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut token = Vec::with_capacity(1 + IV_LEN + ct.len() + TAG_LEN);
    token.push(TOKEN_VERSION);
    token.extend_from_slice(&iv);
    token.extend_from_slice(&ct);
    let tag = mac(keys, &token).finalize().into_bytes();
    token.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(token)
}

/// Open a token: verify, decrypt, parse and check expiry against `now_unix` (Unix seconds).
pub fn open(keys: &Keys, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
    open_inner(keys, token, now_unix, None)
}

/// [`open`], then also require `aud == expected_audience` (checked after expiry).
pub fn open_for_audience(
    keys: &Keys,
    token: &str,
    now_unix: i64,
    expected_audience: &str,
) -> Result<Claims, TokenError> {
    open_inner(keys, token, now_unix, Some(expected_audience))
}

fn open_inner(
    keys: &Keys,
    token: &str,
    now_unix: i64,
    expected_audience: Option<&str>,
) -> Result<Claims, TokenError> {
    open_with_candidates(&[keys], token, now_unix, expected_audience)
}

/// Opens a token whose tag may be under any of `candidates` (the current pair first, then,
/// during a rotation window, the previous one): the first pair whose MAC key verifies the tag
/// also decrypts it. Each tag check is constant time; trying a second pair only tells an
/// observer that a token is not under the first, which a token's age tells anyway.
pub(crate) fn open_with_candidates(
    candidates: &[&Keys],
    token: &str,
    now_unix: i64,
    expected_audience: Option<&str>,
) -> Result<Claims, TokenError> {
    // Cap before decoding so a huge header costs nothing.
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    // The URL-safe no-pad engine rejects '=', '+', '/', whitespace and non-zero trailing
    // bits, so every token has exactly one accepted spelling.
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if bytes.len() < MIN_TOKEN_BYTES || !(bytes.len() - MIN_TOKEN_BYTES).is_multiple_of(BLOCK_LEN) {
        return Err(TokenError::Malformed);
    }
    if bytes[0] != TOKEN_VERSION {
        return Err(TokenError::UnsupportedVersion);
    }
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    // Constant-time comparison, and before any decryption: a forged token learns nothing
    // about padding or plaintext.
    let keys = candidates
        .iter()
        .find(|keys| mac(keys, signed).verify_slice(tag).is_ok())
        .ok_or(TokenError::BadMac)?;
    let (iv, ct) = signed[1..].split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| TokenError::Malformed)?;
    let plaintext = cbc::Decryptor::<Aes256>::new(&keys.enc.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ct)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&plaintext).map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now_unix {
        return Err(TokenError::Expired);
    }
    if let Some(expected) = expected_audience
        && claims.aud != expected
    {
        return Err(TokenError::WrongAudience);
    }
    Ok(claims)
}

fn mac(keys: &Keys, data: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail for a 32-byte key.
    let mut mac = HmacSha256::new_from_slice(&keys.mac).expect("HMAC accepts any key length");
    mac.update(data);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;

    fn keys() -> Keys {
        Keys::new([7u8; 32], [9u8; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sid: Claims::new_session_id(),
            sub: "00000000-0000-0000-0000-0000000000aa".into(),
            cid: "client-1".into(),
            scp: "mcp.tools".into(),
            aud: "https://gw.example.net/mcp".into(),
            iat: NOW,
            exp: NOW + 3600,
        }
    }

    fn decode(token: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(token).unwrap()
    }

    #[test]
    fn round_trip() {
        let c = claims();
        let token = seal(&keys(), &c);
        assert_eq!(open(&keys(), &token, NOW).unwrap(), c);
        assert_eq!(open_for_audience(&keys(), &token, NOW, &c.aud).unwrap(), c);
        assert!(token.len() < 400, "typical token is small: {}", token.len());
    }

    #[test]
    fn layout_matches_the_spec() {
        let c = claims();
        let bytes = decode(&seal(&keys(), &c));
        let padded = (c.to_json().len() / BLOCK_LEN + 1) * BLOCK_LEN;
        assert_eq!(bytes.len(), 1 + IV_LEN + padded + TAG_LEN);
        assert_eq!(bytes[0], TOKEN_VERSION);
        let mut mac = HmacSha256::new_from_slice(&[9u8; 32]).unwrap();
        mac.update(&bytes[..bytes.len() - TAG_LEN]);
        assert_eq!(
            &mac.finalize().into_bytes()[..],
            &bytes[bytes.len() - TAG_LEN..]
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_iv() {
        let c = claims();
        let a = decode(&seal(&keys(), &c));
        let b = decode(&seal(&keys(), &c));
        assert_ne!(a[1..1 + IV_LEN], b[1..1 + IV_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let c = claims();
        let bytes = decode(&seal(&keys(), &c));
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.clone();
                tampered[i] ^= 1 << bit;
                let err = open(&keys(), &URL_SAFE_NO_PAD.encode(&tampered), NOW).unwrap_err();
                let expected = if i == 0 {
                    TokenError::UnsupportedVersion
                } else {
                    TokenError::BadMac
                };
                assert_eq!(err, expected, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        // Also covers the text form: no alternative spelling of a token is accepted.
        let token = seal(&keys(), &claims());
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..token.len() {
            let mut t = token.clone().into_bytes();
            t[i] = alphabet[(alphabet.iter().position(|&a| a == t[i]).unwrap() + 1) % 64];
            let t = String::from_utf8(t).unwrap();
            assert!(open(&keys(), &t, NOW).is_err(), "position {i}");
        }
    }

    #[test]
    fn expiry_is_exclusive_and_checked_before_audience() {
        let mut c = claims();
        c.exp = NOW;
        let token = seal(&keys(), &c);
        assert_eq!(open(&keys(), &token, NOW), Err(TokenError::Expired));
        assert_eq!(open(&keys(), &token, NOW - 1).unwrap(), c);
        assert_eq!(
            open_for_audience(&keys(), &token, NOW, "https://other/mcp"),
            Err(TokenError::Expired)
        );
        assert_eq!(
            open_for_audience(&keys(), &token, NOW - 1, "https://other/mcp"),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn mac_is_checked_with_the_mac_key_and_decryption_with_the_enc_key() {
        let token = seal(&keys(), &claims());
        let other_mac = Keys::new([7u8; 32], [8u8; 32]).unwrap();
        assert_eq!(open(&other_mac, &token, NOW), Err(TokenError::BadMac));
        // Right MAC key, wrong encryption key: the MAC passes, the plaintext is garbage.
        let other_enc = Keys::new([6u8; 32], [9u8; 32]).unwrap();
        assert_eq!(open(&other_enc, &token, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn size_cap_applies_before_decoding() {
        let big = Claims {
            scp: "x".repeat(crate::MAX_PLAINTEXT_LEN),
            ..claims()
        };
        let mut json_len = big.to_json().len();
        let mut fitted = big.clone();
        // Shrink until the JSON is exactly the largest plaintext that fits.
        while json_len > crate::MAX_PLAINTEXT_LEN {
            fitted.scp.pop();
            json_len = fitted.to_json().len();
        }
        let token = seal(&keys(), &fitted);
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(open(&keys(), &token, NOW).unwrap(), fitted);
        fitted.scp.push('x');
        let token = seal(&keys(), &fitted);
        assert!(token.len() > MAX_TOKEN_LEN);
        assert_eq!(open(&keys(), &token, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn short_and_odd_lengths_are_malformed() {
        for len in [0, 1, 17, 64, 66, 80] {
            let token = URL_SAFE_NO_PAD.encode(vec![TOKEN_VERSION; len]);
            assert_eq!(
                open(&keys(), &token, NOW),
                Err(TokenError::Malformed),
                "len {len}"
            );
        }
    }
}

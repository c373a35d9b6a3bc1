//! Deterministic test vectors (`vectors/v1.json`) shared with the C# policy implementation.
//! Fixed keys and IVs make the file reproducible; a test fails if it drifts from this code.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut as _, KeyIvInit as _};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use crate::{Claims, Keys, MAX_TOKEN_LEN, TOKEN_VERSION, TokenError, seal_with_iv};

/// The `now` (Unix seconds) every vector is evaluated at: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

/// The fixed, public test keys (bytes 0x00..=0x1f and 0x20..=0x3f). Never deploy them.
pub fn test_keys() -> Keys {
    Keys::new(
        std::array::from_fn(|i| i as u8),
        std::array::from_fn(|i| 0x20 + i as u8),
    )
    .expect("distinct fixed keys")
}

fn other_keys() -> Keys {
    Keys::new(
        std::array::from_fn(|i| 0x40 + i as u8),
        std::array::from_fn(|i| 0x60 + i as u8),
    )
    .expect("distinct fixed keys")
}

/// A distinct fixed IV per vector.
fn iv(n: u8) -> [u8; 16] {
    std::array::from_fn(|i| n.wrapping_mul(16).wrapping_add(i as u8) ^ 0xa5)
}

fn base_claims() -> Claims {
    Claims {
        sid: "0123456789abcdef0123456789abcdef".into(),
        sub: "5f2c8a1e-3b4d-4e6f-9a0b-1c2d3e4f5a6b".into(),
        cid: "8d7e6f5a-4b3c-2d1e-0f9a-8b7c6d5e4f3a".into(),
        scp: "user_impersonation".into(),
        aud: "https://apim-snippets.azure-api.net/mcp".into(),
        iat: NOW - 60,
        exp: NOW + 3600,
    }
}

/// Claims whose JSON is an exact multiple of 16 bytes, so PKCS#7 adds a whole block.
fn block_aligned_claims() -> Claims {
    (0..16)
        .map(|n| Claims {
            aud: format!("https://apim-{}.azure-api.net/mcp", "a".repeat(n)),
            ..base_claims()
        })
        .find(|c| c.to_json().len() % 16 == 0)
        .expect("one of 16 consecutive lengths is a multiple of 16")
}

fn decode(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token).expect("generated token")
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `0x01 || iv || ct || HMAC(mac_key, 0x01 || iv || ct)` for a raw `ct`, to craft tokens
/// whose MAC is valid but whose content is not.
fn with_valid_mac(keys: &Keys, iv: [u8; 16], ct: &[u8]) -> String {
    let mut bytes = vec![TOKEN_VERSION];
    bytes.extend_from_slice(&iv);
    bytes.extend_from_slice(ct);
    let mut mac = Hmac::<Sha256>::new_from_slice(&keys.mac).expect("any key length");
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    encode(&bytes)
}

/// CBC-encrypt whole blocks without adding padding, so the decrypted padding is ours to choose.
fn encrypt_unpadded(keys: &Keys, iv: [u8; 16], blocks: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new(&keys.enc.into(), &iv.into())
        .encrypt_padded_vec_mut::<NoPadding>(blocks)
}

fn flip(token: &str, byte: usize, bit: u8) -> String {
    let mut bytes = decode(token);
    bytes[byte] ^= 1 << bit;
    encode(&bytes)
}

/// The vector file. Field order is the order in the committed JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Token version the vectors are for (1).
    pub version: u8,
    /// The fixed test keys, standard base64 with padding.
    pub keys: VectorKeys,
    /// Unix seconds to evaluate every vector at.
    pub now: i64,
    /// Tokens that open to `claims`.
    pub valid: Vec<ValidVector>,
    /// Tokens that fail with `error`.
    pub invalid: Vec<InvalidVector>,
}

/// Keys in the form stored in named values and app settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorKeys {
    /// AES-256 key.
    pub enc_key: String,
    /// HMAC-SHA256 key.
    pub mac_key: String,
}

/// A token that opens: sealing `plaintext` (UTF-8) under `iv` must give exactly `token`,
/// and opening `token` at `now` must give `claims`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidVector {
    /// What the vector exercises.
    pub name: String,
    /// The IV, standard base64.
    pub iv: String,
    /// The exact plaintext bytes (UTF-8) that were encrypted.
    pub plaintext: String,
    /// The token.
    pub token: String,
    /// The claims `open` must return.
    pub claims: Claims,
}

/// A token that must be rejected with `error` (a [`crate::TokenError`] name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvalidVector {
    /// What the vector exercises.
    pub name: String,
    /// The token (any string, not necessarily base64url).
    pub token: String,
    /// Expected error name.
    pub error: String,
    /// When present, open with this expected audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_audience: Option<String>,
}

fn valid(name: &str, keys: &Keys, plaintext: &str, iv_n: u8) -> ValidVector {
    let iv = iv(iv_n);
    ValidVector {
        name: name.into(),
        iv: STANDARD.encode(iv),
        plaintext: plaintext.into(),
        token: seal_with_iv(keys, plaintext.as_bytes(), iv),
        claims: serde_json::from_str(plaintext).expect("valid vector has claims"),
    }
}

fn invalid(name: &str, token: String, error: TokenError) -> InvalidVector {
    InvalidVector {
        name: name.into(),
        token,
        error: error.name().into(),
        expected_audience: None,
    }
}

/// The complete v1 vector document.
pub fn generate() -> VectorFile {
    let keys = test_keys();
    let (enc_b64, mac_b64) = keys.to_base64();
    let json = |c: &Claims| String::from_utf8(c.to_json()).expect("UTF-8 JSON");

    let ascii = base_claims();
    let unicode = Claims {
        sub: "Zoë ✓".into(),
        scp: "user_impersonation 日本語".into(),
        ..base_claims()
    };
    let aligned = block_aligned_claims();
    // Member order, whitespace, escapes and unknown members must not matter to readers.
    let reordered = format!(
        "{{ \"exp\": {}, \"iat\": {}, \"aud\": \"{}\", \"scp\": \"a\\u0020b\", \"cid\": \"{}\", \"sub\": \"{}\", \"sid\": \"{}\", \"future\": {{\"x\": [1, 2]}} }}",
        ascii.exp, ascii.iat, ascii.aud, ascii.cid, ascii.sub, ascii.sid
    );
    let valid_vectors = vec![
        valid("ascii claims", &keys, &json(&ascii), 1),
        valid("non-ASCII claims", &keys, &json(&unicode), 2),
        valid(
            "plaintext length a multiple of 16 (full padding block)",
            &keys,
            &json(&aligned),
            3,
        ),
        valid(
            "reordered members, whitespace, escapes and an unknown member",
            &keys,
            &reordered,
            4,
        ),
        valid(
            "expires one second after now",
            &keys,
            &json(&Claims {
                exp: NOW + 1,
                ..base_claims()
            }),
            5,
        ),
    ];

    let good = seal_with_iv(&keys, json(&ascii).as_bytes(), iv(1));
    let good_bytes = decode(&good);
    let n = good_bytes.len();
    let tag_start = n - 32;
    let mut v = Vec::new();

    v.push(invalid(
        "empty string",
        String::new(),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "not base64url ('$' in token)",
        format!("{}${}", &good[..10], &good[11..]),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "standard base64 alphabet ('+' and '/')",
        good.replace('-', "+").replace('_', "/") + "+/",
        TokenError::Malformed,
    ));
    v.push(invalid(
        "padded base64",
        format!("{good}="),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "whitespace inside the token",
        format!("{} {}", &good[..20], &good[20..]),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "trailing newline",
        format!("{good}\n"),
        TokenError::Malformed,
    ));
    // The last character carries bits beyond the final byte; they must be zero.
    let last = good.as_bytes()[good.len() - 1];
    assert_eq!(
        n % 3,
        2,
        "good token leaves 2 spare bits in its last character"
    );
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet
        .iter()
        .position(|&a| a == last)
        .expect("base64url char");
    let non_canonical = alphabet[pos | 0b01] as char;
    assert_ne!(non_canonical as u8, last);
    v.push(invalid(
        "non-canonical base64url (non-zero trailing bits)",
        format!("{}{}", &good[..good.len() - 1], non_canonical),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "truncated: version byte only",
        encode(&good_bytes[..1]),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "truncated: header only (version and IV)",
        encode(&good_bytes[..17]),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "truncated: tag removed (32 bytes, so the length still looks well-formed and the MAC decides)",
        encode(&good_bytes[..tag_start]),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "truncated: last tag byte missing",
        encode(&good_bytes[..n - 1]),
        TokenError::Malformed,
    ));
    let mut short_ct = good_bytes[..tag_start - 1].to_vec();
    short_ct.extend_from_slice(&good_bytes[tag_start..]);
    v.push(invalid(
        "ciphertext not a block multiple",
        encode(&short_ct),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "truncated by exactly one block (well-formed length, so the MAC decides)",
        encode(&good_bytes[..n - 16]),
        TokenError::BadMac,
    ));
    let mut v2 = good_bytes.clone();
    v2[0] = 0x02;
    v.push(invalid(
        "version 0x02",
        encode(&v2),
        TokenError::UnsupportedVersion,
    ));
    v2[0] = 0x00;
    v.push(invalid(
        "version 0x00",
        encode(&v2),
        TokenError::UnsupportedVersion,
    ));
    v.push(invalid(
        "flipped bit in IV",
        flip(&good, 1, 0),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "flipped bit in ciphertext",
        flip(&good, 17 + 5, 7),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "flipped bit in last ciphertext byte",
        flip(&good, tag_start - 1, 0),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "flipped bit in tag",
        flip(&good, n - 1, 3),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "sealed with other keys",
        seal_with_iv(&other_keys(), json(&ascii).as_bytes(), iv(1)),
        TokenError::BadMac,
    ));
    v.push(invalid(
        "expired (exp == now)",
        seal_with_iv(
            &keys,
            json(&Claims {
                exp: NOW,
                ..base_claims()
            })
            .as_bytes(),
            iv(6),
        ),
        TokenError::Expired,
    ));
    v.push(invalid(
        "expired (exp < now)",
        seal_with_iv(
            &keys,
            json(&Claims {
                iat: NOW - 7200,
                exp: NOW - 3600,
                ..base_claims()
            })
            .as_bytes(),
            iv(7),
        ),
        TokenError::Expired,
    ));
    let mut wrong_aud = invalid("wrong audience", good.clone(), TokenError::WrongAudience);
    wrong_aud.expected_audience = Some("https://apim-other.azure-api.net/mcp".into());
    v.push(wrong_aud);
    let mut expired_and_wrong_aud = invalid(
        "expired and wrong audience (expiry is checked first)",
        seal_with_iv(
            &keys,
            json(&Claims {
                exp: NOW,
                ..base_claims()
            })
            .as_bytes(),
            iv(6),
        ),
        TokenError::Expired,
    );
    expired_and_wrong_aud.expected_audience = Some("https://apim-other.azure-api.net/mcp".into());
    v.push(expired_and_wrong_aud);
    v.push(invalid(
        "over-long token (4097 characters)",
        "A".repeat(MAX_TOKEN_LEN + 1),
        TokenError::Malformed,
    ));
    let mut long_valid = good.clone();
    long_valid.push_str(&"A".repeat(MAX_TOKEN_LEN + 1 - good.len()));
    v.push(invalid(
        "over-long token starting with a valid token",
        long_valid,
        TokenError::Malformed,
    ));

    // Valid MAC over ciphertext whose decryption has bad PKCS#7 padding. A MAC-first
    // implementation reaches the padding check only with the right MAC key.
    let mut block = *b"garbage garbage\x00";
    v.push(invalid(
        "valid MAC, invalid padding (last byte 0x00)",
        with_valid_mac(&keys, iv(8), &encrypt_unpadded(&keys, iv(8), &block)),
        TokenError::Malformed,
    ));
    block = *b"garbage garbag\x01\x02";
    v.push(invalid(
        "valid MAC, invalid padding (0x02 after 0x01)",
        with_valid_mac(&keys, iv(9), &encrypt_unpadded(&keys, iv(9), &block)),
        TokenError::Malformed,
    ));
    block = [0x11; 16];
    v.push(invalid(
        "valid MAC, invalid padding (0x11 > block size)",
        with_valid_mac(&keys, iv(10), &encrypt_unpadded(&keys, iv(10), &block)),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "valid MAC, non-JSON plaintext",
        seal_with_iv(&keys, b"not json at all", iv(11)),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "valid MAC, invalid UTF-8 plaintext",
        seal_with_iv(&keys, b"{\"sid\":\"\xff\xfe\"}", iv(12)),
        TokenError::Malformed,
    ));
    v.push(invalid(
        "valid MAC, JSON array instead of object",
        seal_with_iv(&keys, b"[1,2,3]", iv(13)),
        TokenError::Malformed,
    ));
    let mut missing = serde_json::to_value(&ascii).expect("claims to JSON");
    missing.as_object_mut().expect("object").remove("exp");
    v.push(invalid(
        "valid MAC, claims missing exp",
        seal_with_iv(&keys, missing.to_string().as_bytes(), iv(14)),
        TokenError::Malformed,
    ));
    let mut wrong_type = serde_json::to_value(&ascii).expect("claims to JSON");
    wrong_type["exp"] = json!(NOW + 3600).to_string().into();
    v.push(invalid(
        "valid MAC, exp is a string",
        seal_with_iv(&keys, wrong_type.to_string().as_bytes(), iv(15)),
        TokenError::Malformed,
    ));
    let mut fractional = serde_json::to_value(&ascii).expect("claims to JSON");
    fractional["exp"] = json!((NOW + 3600) as f64 + 0.5);
    v.push(invalid(
        "valid MAC, exp is not an integer",
        seal_with_iv(&keys, fractional.to_string().as_bytes(), iv(16)),
        TokenError::Malformed,
    ));

    VectorFile {
        version: TOKEN_VERSION,
        keys: VectorKeys {
            enc_key: enc_b64,
            mac_key: mac_b64,
        },
        now: NOW,
        valid: valid_vectors,
        invalid: v,
    }
}

/// The vector document as committed: pretty JSON with a trailing newline.
pub fn generate_pretty() -> String {
    let mut out = serde_json::to_string_pretty(&generate()).expect("JSON value serializes");
    out.push('\n');
    out
}

//! Deterministic test vectors for key rotation (`vectors/rotation.json`), shared with the C#
//! sketch and the policy fragments: tokens under the current pair, the previous pair (inside and
//! after its window) and a pair never configured. The v1 byte layout is unchanged; only which
//! pair a reader tries changes, so these complement `vectors/v1.json`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::vectors::{NOW, VectorKeys, test_keys};
use crate::{Claims, KeySet, Keys, PreviousKeys, TokenError, seal_with_iv};

/// Unix second from which the previous pair is refused: one hour after [`NOW`].
pub const UNTIL: i64 = NOW + 3600;

/// The rotation vector file. Field order is the order in the committed JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationFile {
    /// Token version the vectors are for (1).
    pub version: u8,
    /// The current pair (the v1 vectors' keys).
    pub keys: VectorKeys,
    /// The pair the rotation replaced.
    pub previous_keys: VectorKeys,
    /// Unix seconds: the previous pair is accepted while `now < previousUntil`.
    pub previous_until: i64,
    /// A pair no reader is configured with.
    pub never_configured_keys: VectorKeys,
    /// The cases.
    pub cases: Vec<RotationCase>,
}

/// One token opened at `now` by a reader holding the current pair and, when
/// `previousConfigured`, the previous pair with `previousUntil` (otherwise `none` / `0`).
/// Exactly one of `claims` and `error` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationCase {
    /// What the case exercises.
    pub name: String,
    /// The token.
    pub token: String,
    /// The IV it was sealed with, standard base64.
    pub iv: String,
    /// Unix seconds to open it at.
    pub now: i64,
    /// Whether the reader holds the previous pair (else `none` / `0`).
    pub previous_configured: bool,
    /// The audience to require.
    pub expected_audience: String,
    /// The claims opening must return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Claims>,
    /// The error opening must fail with (a [`TokenError`] name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The fixed, public pair the rotation replaced. Never deploy it.
pub fn previous_keys() -> Keys {
    Keys::new(
        std::array::from_fn(|i| 0x80 + i as u8),
        std::array::from_fn(|i| 0xa0 + i as u8),
    )
    .expect("distinct fixed keys")
}

/// A fixed pair no reader is configured with.
pub fn never_configured_keys() -> Keys {
    Keys::new(
        std::array::from_fn(|i| 0xc0 + i as u8),
        std::array::from_fn(|i| 0xe0 + i as u8),
    )
    .expect("distinct fixed keys")
}

/// The key set of a reader in the middle of a rotation (or without one).
pub fn reader(previous_configured: bool) -> KeySet {
    KeySet::with_previous(
        test_keys(),
        previous_configured.then(|| PreviousKeys::new(previous_keys(), UNTIL)),
    )
}

fn b64(keys: &Keys) -> VectorKeys {
    let (enc_key, mac_key) = keys.to_base64();
    VectorKeys { enc_key, mac_key }
}

fn claims(exp: i64) -> Claims {
    Claims {
        sid: "fedcba9876543210fedcba9876543210".into(),
        sub: "5f2c8a1e-3b4d-4e6f-9a0b-1c2d3e4f5a6b".into(),
        cid: "8d7e6f5a-4b3c-2d1e-0f9a-8b7c6d5e4f3a".into(),
        scp: "snippets.read snippets.write".into(),
        aud: "https://apim-snippets.azure-api.net/mcp".into(),
        iat: NOW - 60,
        exp,
    }
}

struct Case<'a> {
    name: &'a str,
    keys: Keys,
    now: i64,
    previous_configured: bool,
    exp: i64,
    expected_audience: Option<&'a str>,
}

/// Three hours after [`NOW`]: later than every `now` below, so expiry never hides the key choice.
const LATE_EXP: i64 = NOW + 3 * 3600;

fn mixed(enc: &Keys, mac: &Keys) -> Keys {
    Keys::new(enc.enc, mac.mac).expect("distinct fixed keys")
}

/// The complete rotation vector document; every expected result is what [`KeySet`] returns.
pub fn generate() -> RotationFile {
    let current = test_keys();
    let previous = previous_keys();
    let never = never_configured_keys();
    let case = |name, keys: &Keys, now, previous_configured| Case {
        name,
        keys: keys.clone(),
        now,
        previous_configured,
        exp: LATE_EXP,
        expected_audience: None,
    };
    let cases = vec![
        case("current keys, inside the window", &current, NOW, true),
        case("current keys, after the window", &current, UNTIL + 1, true),
        case(
            "current keys, no previous keys configured",
            &current,
            NOW,
            false,
        ),
        case("previous keys, inside the window", &previous, NOW, true),
        case(
            "previous keys, last second of the window",
            &previous,
            UNTIL - 1,
            true,
        ),
        case("previous keys, now == until", &previous, UNTIL, true),
        case(
            "previous keys, after the window",
            &previous,
            UNTIL + 3600,
            true,
        ),
        case(
            "previous keys, no previous keys configured",
            &previous,
            NOW,
            false,
        ),
        case(
            "never-configured keys, inside the window",
            &never,
            NOW,
            true,
        ),
        case(
            "never-configured keys, no previous keys configured",
            &never,
            NOW,
            false,
        ),
        case(
            "previous MAC key with the current encryption key",
            &mixed(&current, &previous),
            NOW,
            true,
        ),
        case(
            "current MAC key with the previous encryption key",
            &mixed(&previous, &current),
            NOW,
            true,
        ),
        case(
            "previous keys swapped (MAC key used for encryption)",
            &Keys::new(previous.mac, previous.enc).expect("distinct"),
            NOW,
            true,
        ),
        Case {
            exp: NOW,
            ..case(
                "previous keys, expired inside the window",
                &previous,
                NOW,
                true,
            )
        },
        Case {
            expected_audience: Some("https://other.example/mcp"),
            ..case(
                "previous keys, wrong audience inside the window",
                &previous,
                NOW,
                true,
            )
        },
    ];
    let cases = cases
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let iv: [u8; 16] = std::array::from_fn(|i| (0x30 + n as u8).wrapping_mul(7) ^ i as u8);
            let claims = claims(c.exp);
            let token = seal_with_iv(&c.keys, &claims.to_json(), iv);
            let audience = c.expected_audience.unwrap_or(&claims.aud).to_owned();
            let result = reader(c.previous_configured).open_for_audience(&token, c.now, &audience);
            RotationCase {
                name: c.name.into(),
                token,
                iv: STANDARD.encode(iv),
                now: c.now,
                previous_configured: c.previous_configured,
                expected_audience: audience,
                error: result.as_ref().err().map(|e| TokenError::name(*e).into()),
                claims: result.ok(),
            }
        })
        .collect();
    RotationFile {
        version: crate::TOKEN_VERSION,
        keys: b64(&current),
        previous_keys: b64(&previous),
        previous_until: UNTIL,
        never_configured_keys: b64(&never),
        cases,
    }
}

/// The rotation vector document as committed: pretty JSON with a trailing newline.
pub fn generate_pretty() -> String {
    let mut out = serde_json::to_string_pretty(&generate()).expect("JSON value serializes");
    out.push('\n');
    out
}

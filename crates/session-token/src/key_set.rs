//! The keys a reader accepts: the current pair, and during a rotation the previous pair until a
//! deadline, so that rotating the keys does not sign everyone out at once.
//!
//! Sealing always uses the current pair. Opening verifies the tag under the current MAC key and,
//! only when that fails and `now < until`, under the previous one; the pair whose MAC key verifies
//! the tag decrypts. The token format does not change (no key id): the 256-bit tag already tells
//! the pairs apart (docs/session-token.md, "Rotation").

use std::fmt;

use crate::keys::decode_key;
use crate::token::open_with_candidates;
use crate::{
    APP_SETTING_PREVIOUS_ENC_KEY, APP_SETTING_PREVIOUS_MAC_KEY, APP_SETTING_PREVIOUS_UNTIL, Claims,
    KeyError, KeyName, Keys, PREVIOUS_KEY_NONE, PREVIOUS_UNTIL_NONE, TokenError,
};

/// The pair a rotation replaced, and the Unix second from which it is no longer accepted.
#[derive(Clone)]
pub struct PreviousKeys {
    keys: Keys,
    until: i64,
}

impl fmt::Debug for PreviousKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreviousKeys")
            .field("keys", &self.keys)
            .field("until", &self.until)
            .finish()
    }
}

impl PreviousKeys {
    /// The previous pair, accepted while `now < until_unix`.
    pub fn new(keys: Keys, until_unix: i64) -> PreviousKeys {
        PreviousKeys {
            keys,
            until: until_unix,
        }
    }

    /// The Unix second from which the previous pair is refused.
    pub fn until(&self) -> i64 {
        self.until
    }

    /// Whether the previous pair is still accepted at `now_unix`.
    pub fn live_at(&self, now_unix: i64) -> bool {
        now_unix < self.until
    }

    /// The previous pair from its three settings, read through `get` (the server's settings
    /// reader, or the environment): `SESSION_TOKEN_PREVIOUS_ENC_KEY`,
    /// `SESSION_TOKEN_PREVIOUS_MAC_KEY` and `SESSION_TOKEN_PREVIOUS_UNTIL`. A setting that is
    /// unset, blank, `none` (keys) or `0` (deadline) is absent, because Key Vault secrets and
    /// APIM named values cannot be empty. All three absent: `None`. All three present: the pair.
    /// Anything in between is [`KeyError::PreviousIncomplete`] naming the first missing setting.
    /// A deadline already past is accepted (the pair is then simply never used).
    pub fn from_settings<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<PreviousKeys>, KeyError> {
        let present = |name: &str, none: &str| {
            get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != none)
        };
        let enc = present(APP_SETTING_PREVIOUS_ENC_KEY, PREVIOUS_KEY_NONE);
        let mac = present(APP_SETTING_PREVIOUS_MAC_KEY, PREVIOUS_KEY_NONE);
        let until = present(APP_SETTING_PREVIOUS_UNTIL, PREVIOUS_UNTIL_NONE);
        let (enc, mac, until) = match (enc, mac, until) {
            (None, None, None) => return Ok(None),
            (Some(enc), Some(mac), Some(until)) => (enc, mac, until),
            (None, _, _) => return Err(incomplete(APP_SETTING_PREVIOUS_ENC_KEY)),
            (_, None, _) => return Err(incomplete(APP_SETTING_PREVIOUS_MAC_KEY)),
            (_, _, None) => return Err(incomplete(APP_SETTING_PREVIOUS_UNTIL)),
        };
        let until = until
            .parse::<i64>()
            .ok()
            .filter(|u| *u > 0)
            .ok_or(KeyError::BadUntil)?;
        let enc = decode_key(KeyName::PreviousEnc, enc)?;
        let mac = decode_key(KeyName::PreviousMac, mac)?;
        let keys = Keys::new(enc, mac).map_err(|_| KeyError::IdenticalPrevious)?;
        Ok(Some(PreviousKeys::new(keys, until)))
    }
}

fn incomplete(missing: &'static str) -> KeyError {
    KeyError::PreviousIncomplete { missing }
}

/// The current pair and, during a rotation, the previous pair with its deadline.
/// `Debug` shows neither key (see [`Keys`]).
#[derive(Clone, Debug)]
pub struct KeySet {
    current: Keys,
    previous: Option<PreviousKeys>,
}

impl From<Keys> for KeySet {
    fn from(current: Keys) -> KeySet {
        KeySet::new(current)
    }
}

impl KeySet {
    /// Only the current pair: no rotation in progress.
    pub fn new(current: Keys) -> KeySet {
        KeySet {
            current,
            previous: None,
        }
    }

    /// The current pair, and the previous one accepted while `now < previous.until()`.
    pub fn with_previous(current: Keys, previous: Option<PreviousKeys>) -> KeySet {
        KeySet { current, previous }
    }

    /// The pair every new token is sealed with.
    pub fn current(&self) -> &Keys {
        &self.current
    }

    /// The previous pair and its deadline, when configured (whether or not it is still live).
    pub fn previous(&self) -> Option<&PreviousKeys> {
        self.previous.as_ref()
    }

    /// The current pair from `SESSION_TOKEN_ENC_KEY`/`SESSION_TOKEN_MAC_KEY` and the previous
    /// one from the `SESSION_TOKEN_PREVIOUS_*` variables (see [`PreviousKeys::from_settings`]).
    pub fn from_env() -> Result<KeySet, KeyError> {
        let current = Keys::from_env()?;
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        let previous = PreviousKeys::from_settings(|name| env.get(name).map(String::as_str))?;
        Ok(KeySet::with_previous(current, previous))
    }

    /// Seals with the current pair (a fresh IV).
    pub fn seal(&self, claims: &Claims) -> String {
        crate::seal(&self.current, claims)
    }

    /// [`crate::open`] under the current pair, or the previous one while it is live.
    pub fn open(&self, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
        open_with_candidates(&self.candidates(now_unix), token, now_unix, None)
    }

    /// [`crate::open_for_audience`] under the current pair, or the previous one while it is live.
    pub fn open_for_audience(
        &self,
        token: &str,
        now_unix: i64,
        expected_audience: &str,
    ) -> Result<Claims, TokenError> {
        open_with_candidates(
            &self.candidates(now_unix),
            token,
            now_unix,
            Some(expected_audience),
        )
    }

    fn candidates(&self, now_unix: i64) -> Vec<&Keys> {
        let mut keys = vec![&self.current];
        if let Some(previous) = self.previous.as_ref().filter(|p| p.live_at(now_unix)) {
            keys.push(&previous.keys);
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{APP_SETTING_ENC_KEY, Claims};

    const NOW: i64 = 1_767_225_600;
    const ENC: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const MAC: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn old() -> Keys {
        Keys::new([1; 32], [2; 32]).unwrap()
    }
    fn new() -> Keys {
        Keys::new([3; 32], [4; 32]).unwrap()
    }
    fn never() -> Keys {
        Keys::new([5; 32], [6; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sid: Claims::new_session_id(),
            sub: "user".into(),
            cid: "client".into(),
            scp: "snippets.read".into(),
            aud: "https://gw.example/mcp".into(),
            iat: NOW,
            exp: NOW + 3600,
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<PreviousKeys>, KeyError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PreviousKeys::from_settings(|k| map.get(k).map(String::as_str))
    }

    #[test]
    fn previous_keys_open_only_inside_the_window() {
        let c = claims();
        let token = crate::seal(&old(), &c);
        let set = KeySet::with_previous(new(), Some(PreviousKeys::new(old(), NOW + 10)));
        assert_eq!(set.open(&token, NOW).unwrap(), c);
        assert_eq!(set.open(&token, NOW + 9).unwrap(), c);
        assert_eq!(
            set.open_for_audience(&token, NOW, &c.aud).unwrap(),
            c,
            "audience checked after the previous pair opened it"
        );
        // `now == until` is past the window, as `exp == now` is expired.
        assert_eq!(set.open(&token, NOW + 10), Err(TokenError::BadMac));
        assert_eq!(set.open(&token, NOW + 11), Err(TokenError::BadMac));
    }

    #[test]
    fn current_keys_open_and_seal_whatever_the_window() {
        let c = claims();
        let set = KeySet::with_previous(new(), Some(PreviousKeys::new(old(), NOW + 10)));
        let sealed = set.seal(&c);
        assert_eq!(crate::open(&new(), &sealed, NOW).unwrap(), c);
        assert_eq!(crate::open(&old(), &sealed, NOW), Err(TokenError::BadMac));
        assert_eq!(set.open(&sealed, NOW + 1000).unwrap(), c);
        assert_eq!(KeySet::new(new()).open(&sealed, NOW).unwrap(), c);
    }

    #[test]
    fn unknown_keys_and_no_previous_pair_are_bad_mac() {
        let c = claims();
        let set = KeySet::with_previous(new(), Some(PreviousKeys::new(old(), NOW + 10)));
        assert_eq!(
            set.open(&crate::seal(&never(), &c), NOW),
            Err(TokenError::BadMac)
        );
        assert_eq!(
            KeySet::new(new()).open(&crate::seal(&old(), &c), NOW),
            Err(TokenError::BadMac)
        );
    }

    #[test]
    fn other_errors_keep_their_names_under_the_previous_pair() {
        let mut c = claims();
        c.exp = NOW;
        let set = KeySet::with_previous(new(), Some(PreviousKeys::new(old(), NOW + 10)));
        assert_eq!(
            set.open(&crate::seal(&old(), &c), NOW),
            Err(TokenError::Expired)
        );
        assert_eq!(
            set.open_for_audience(&crate::seal(&old(), &claims()), NOW, "https://other/mcp"),
            Err(TokenError::WrongAudience)
        );
        // Previous MAC key with another encryption key: the tag passes, the plaintext does not.
        let mixed = Keys::new([9; 32], [2; 32]).unwrap();
        assert_eq!(
            set.open(&crate::seal(&mixed, &claims()), NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn settings_none_zero_and_blank_mean_no_previous_pair() {
        for pairs in [
            vec![],
            vec![
                (APP_SETTING_PREVIOUS_ENC_KEY, "none"),
                (APP_SETTING_PREVIOUS_MAC_KEY, "none"),
                (APP_SETTING_PREVIOUS_UNTIL, "0"),
            ],
            vec![
                (APP_SETTING_PREVIOUS_ENC_KEY, " "),
                (APP_SETTING_PREVIOUS_MAC_KEY, ""),
                (APP_SETTING_PREVIOUS_UNTIL, "0\n"),
            ],
        ] {
            assert!(settings(&pairs).unwrap().is_none(), "{pairs:?}");
        }
    }

    #[test]
    fn settings_with_all_three_load_the_pair() {
        let previous = settings(&[
            (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
            (APP_SETTING_PREVIOUS_MAC_KEY, &format!("{MAC}\n")),
            (APP_SETTING_PREVIOUS_UNTIL, "1767229200"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(previous.until(), 1_767_229_200);
        assert_eq!(previous.keys.to_base64(), (ENC.to_owned(), MAC.to_owned()));
        assert!(previous.live_at(1_767_229_199) && !previous.live_at(1_767_229_200));
        // A deadline in the past is a finished rotation, not an error.
        let past = settings(&[
            (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
            (APP_SETTING_PREVIOUS_MAC_KEY, MAC),
            (APP_SETTING_PREVIOUS_UNTIL, "1"),
        ]);
        assert!(!past.unwrap().unwrap().live_at(NOW));
    }

    #[test]
    fn a_half_configured_previous_pair_names_the_missing_setting() {
        let cases = [
            (
                vec![
                    (APP_SETTING_PREVIOUS_MAC_KEY, MAC),
                    (APP_SETTING_PREVIOUS_UNTIL, "1767229200"),
                ],
                APP_SETTING_PREVIOUS_ENC_KEY,
            ),
            (
                vec![
                    (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
                    (APP_SETTING_PREVIOUS_MAC_KEY, "none"),
                    (APP_SETTING_PREVIOUS_UNTIL, "1767229200"),
                ],
                APP_SETTING_PREVIOUS_MAC_KEY,
            ),
            (
                vec![
                    (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
                    (APP_SETTING_PREVIOUS_MAC_KEY, MAC),
                    (APP_SETTING_PREVIOUS_UNTIL, "0"),
                ],
                APP_SETTING_PREVIOUS_UNTIL,
            ),
            (
                vec![(APP_SETTING_PREVIOUS_UNTIL, "1767229200")],
                APP_SETTING_PREVIOUS_ENC_KEY,
            ),
        ];
        for (pairs, missing) in cases {
            let err = settings(&pairs).unwrap_err();
            assert!(
                matches!(err, KeyError::PreviousIncomplete { missing: m } if m == missing),
                "{pairs:?}: {err:?}"
            );
            assert_eq!(err.setting(), missing);
            let shown = err.to_string();
            assert!(shown.starts_with(missing), "{shown}");
            assert!(!shown.contains(ENC) && !shown.contains(MAC), "{shown}");
        }
    }

    #[test]
    fn bad_previous_values_name_their_setting_and_never_echo_them() {
        let bad_until = settings(&[
            (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
            (APP_SETTING_PREVIOUS_MAC_KEY, MAC),
            (APP_SETTING_PREVIOUS_UNTIL, "tomorrow-ish"),
        ])
        .unwrap_err();
        assert!(matches!(bad_until, KeyError::BadUntil));
        assert_eq!(bad_until.setting(), APP_SETTING_PREVIOUS_UNTIL);
        assert!(!bad_until.to_string().contains("tomorrow-ish"));
        for until in ["-5", "1.5", "99999999999999999999"] {
            let err = settings(&[
                (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
                (APP_SETTING_PREVIOUS_MAC_KEY, MAC),
                (APP_SETTING_PREVIOUS_UNTIL, until),
            ])
            .unwrap_err();
            assert!(matches!(err, KeyError::BadUntil), "{until}: {err:?}");
        }

        let secretish = "c2VjcmV0LWJ1dC13cm9uZy1sZW5ndGg=";
        let bad_key = settings(&[
            (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
            (APP_SETTING_PREVIOUS_MAC_KEY, secretish),
            (APP_SETTING_PREVIOUS_UNTIL, "1767229200"),
        ])
        .unwrap_err();
        assert!(
            matches!(
                bad_key,
                KeyError::WrongLength {
                    name: KeyName::PreviousMac,
                    ..
                }
            ),
            "{bad_key:?}"
        );
        assert_eq!(bad_key.setting(), APP_SETTING_PREVIOUS_MAC_KEY);
        assert!(!bad_key.to_string().contains(secretish));
        assert!(bad_key.to_string().contains("SessionTokenPreviousMacKey"));

        let same = settings(&[
            (APP_SETTING_PREVIOUS_ENC_KEY, ENC),
            (APP_SETTING_PREVIOUS_MAC_KEY, ENC),
            (APP_SETTING_PREVIOUS_UNTIL, "1767229200"),
        ])
        .unwrap_err();
        assert!(matches!(same, KeyError::IdenticalPrevious));
        assert_eq!(same.setting(), APP_SETTING_PREVIOUS_ENC_KEY);
        assert_ne!(same.setting(), APP_SETTING_ENC_KEY);
    }

    #[test]
    fn debug_output_redacts_both_pairs() {
        let set = KeySet::with_previous(
            Keys::from_base64(ENC, MAC).unwrap(),
            Some(PreviousKeys::new(Keys::from_base64(MAC, ENC).unwrap(), 7)),
        );
        let shown = format!("{set:?}");
        assert!(!shown.contains(ENC) && !shown.contains(MAC), "{shown}");
        assert!(shown.contains("until: 7"), "{shown}");
    }
}

//! The one reader of settings (environment variables and app settings) and the one error type for a
//! bad value. Every module that owns settings reads them through `Settings`, in the single pass that
//! `Config::from_sources` makes at start-up, so each error names its setting the same way.

use std::collections::HashMap;
use std::ops::RangeInclusive;

/// A setting with a value the server cannot use; `Display` is `<setting>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct SettingError {
    pub setting: &'static str,
    pub reason: String,
}

impl SettingError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        SettingError {
            setting,
            reason: reason.into(),
        }
    }
}

/// Typed access to a set of settings. A value that is empty or only whitespace counts as absent,
/// as the Functions host and azd leave unset app settings empty rather than missing.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    env: &'a HashMap<String, String>,
}

impl<'a> Settings<'a> {
    pub fn new(env: &'a HashMap<String, String>) -> Self {
        Settings { env }
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.env
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// One of a few words, case-insensitively; `default` when unset.
    pub fn choice<T: Copy>(
        &self,
        setting: &'static str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, SettingError> {
        let Some(raw) = self.get(setting) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(raw))
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let words: Vec<String> = choices.iter().map(|(w, _)| format!("`{w}`")).collect();
                SettingError::new(
                    setting,
                    format!(
                        "expected {}, got `{}`",
                        words.join(" or "),
                        raw.to_ascii_lowercase()
                    ),
                )
            })
    }

    /// A whole number within `range`; `default` when unset. `expected` describes the range in the
    /// error ("milliseconds from 100 to 120000"), in the setting's own unit.
    pub fn number_in(
        &self,
        setting: &'static str,
        range: RangeInclusive<u64>,
        expected: &str,
        default: u64,
    ) -> Result<u64, SettingError> {
        match self.get(setting) {
            None => Ok(default),
            Some(raw) => number_in(setting, raw, range, expected),
        }
    }

    /// The comma-separated entries of a list setting, trimmed, blanks dropped.
    pub fn list(&self, setting: &str) -> impl Iterator<Item = &'a str> {
        self.get(setting)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// `raw` as a whole number within `range`, or an error naming `setting` and what was expected.
pub fn number_in(
    setting: &'static str,
    raw: &str,
    range: RangeInclusive<u64>,
    expected: &str,
) -> Result<u64, SettingError> {
    match raw.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(SettingError::new(
            setting,
            format!("expected {expected}, got `{raw}`"),
        )),
    }
}

/// A settings map from literal pairs, for the unit tests of every module that reads settings.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_are_unset() {
        let e = env(&[("A", "  "), ("B", " x ")]);
        let s = Settings::new(&e);
        assert_eq!(s.get("A"), None);
        assert_eq!(s.get("B"), Some("x"));
        assert_eq!(s.get("C"), None);
    }

    #[test]
    fn choices_are_case_insensitive_and_errors_list_them() {
        let e = env(&[("MODE", "ON"), ("BAD", "Maybe")]);
        let s = Settings::new(&e);
        let words = [("on", true), ("off", false)];
        assert!(s.choice("MODE", &words, false).unwrap());
        assert!(!s.choice("UNSET", &words, false).unwrap());
        assert_eq!(
            s.choice("BAD", &words, false).unwrap_err().to_string(),
            "BAD: expected `on` or `off`, got `maybe`"
        );
    }

    #[test]
    fn numbers_must_be_whole_and_in_range() {
        let e = env(&[("N", "150"), ("LOW", "5"), ("TEXT", "5s"), ("NEG", "-1")]);
        let s = Settings::new(&e);
        assert_eq!(s.number_in("N", 100..=200, "x", 1).unwrap(), 150);
        assert_eq!(s.number_in("UNSET", 100..=200, "x", 7).unwrap(), 7);
        for bad in ["LOW", "TEXT", "NEG"] {
            let err = s
                .number_in(bad, 100..=200, "ms from 100 to 200", 1)
                .unwrap_err();
            assert_eq!(err.setting, bad);
            assert!(
                err.reason.starts_with("expected ms from 100 to 200, got `"),
                "{err}"
            );
        }
    }

    #[test]
    fn lists_drop_blanks() {
        let e = env(&[("L", " a, ,b ,, c")]);
        let s = Settings::new(&e);
        assert_eq!(s.list("L").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(s.list("UNSET").count(), 0);
    }
}

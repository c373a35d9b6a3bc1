//! The snippet name rule: what a user may call a snippet, checked before any storage call.
//! Names become blob names, so anything that could change the path or confuse a reader is refused.

use std::fmt;

use super::SnippetError;

/// Upper bound on a name, in Unicode scalar values; generous for humans, far below blob limits.
pub const MAX_NAME_CHARS: usize = 128;

/// A name that passed the rule; the only way to reach storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetName(String);

impl SnippetName {
    /// Rule: 1-128 characters; no `/` or `\`; no `..`; no control characters; no invisible
    /// format characters (bidi overrides and isolates, zero-width characters) or line and
    /// paragraph separators; no leading or trailing whitespace.
    pub fn parse(raw: &str) -> Result<Self, SnippetError> {
        let reason = if raw.is_empty() {
            Some("must not be empty".to_string())
        } else if raw.chars().count() > MAX_NAME_CHARS {
            Some(format!("must be at most {MAX_NAME_CHARS} characters"))
        } else if raw.contains(['/', '\\']) {
            Some("must not contain `/` or `\\`".to_string())
        } else if raw.contains("..") {
            Some("must not contain `..`".to_string())
        } else if let Some(c) = raw.chars().find(|c| c.is_control()) {
            Some(format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            ))
        } else if let Some(c) = raw.chars().find(|&c| is_invisible_format(c)) {
            Some(format!(
                "must not contain invisible format characters such as bidi overrides (found U+{:04X})",
                c as u32
            ))
        } else if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            Some("must not start or end with whitespace".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => Err(SnippetError::InvalidName(reason)),
            None => Ok(SnippetName(raw.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn blob_name(&self) -> String {
        format!("{}{}", self.0, super::BLOB_SUFFIX)
    }
}

/// Unicode format characters (general category Cf, Unicode 16) and the line and paragraph
/// separators: invisible, yet they reorder or hide what a client's UI shows, so `report\u{202E}fdp.sh`
/// could display as another name. Refused in names and listing prefixes alike.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

impl fmt::Display for SnippetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_are_refused_and_visible_ones_are_not() {
        assert!(is_invisible_format('\u{202E}') && is_invisible_format('\u{200D}'));
        // Joiners inside emoji sequences are format characters too, and so refused; the emoji
        // themselves, accents, scripts and spaces are not.
        for visible in ['a', 'é', '語', '🚀', ' ', '\u{00A0}', '-', '\u{0301}'] {
            assert!(!is_invisible_format(visible), "U+{:04X}", visible as u32);
        }
    }

    #[test]
    fn accepts_ordinary_and_unicode_names() {
        for ok in [
            "hello",
            "my snippet",
            "a.b",
            "x-1_2",
            "日本語",
            "emoji 🚀",
            "é",
            "a?b#c%d",
            &"x".repeat(128),
        ] {
            let n = SnippetName::parse(ok).unwrap();
            assert_eq!(n.blob_name(), format!("{ok}.json"));
        }
    }

    #[test]
    fn refuses_every_documented_case() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("../etc/passwd", "`/`"),
            ("..", "`..`"),
            ("a..b", "`..`"),
            ("a/b", "`/`"),
            ("a\\b", "`/`"),
            ("a\u{0}b", "U+0000"),
            ("line\nbreak", "U+000A"),
            ("tab\tname", "U+0009"),
            ("del\u{7f}", "U+007F"),
            ("\u{85}next", "U+0085"),
            ("report\u{202E}hs.fdp", "U+202E"),
            ("a\u{2066}b\u{2069}", "U+2066"),
            ("zero\u{200B}width", "U+200B"),
            ("bom\u{FEFF}", "U+FEFF"),
            ("soft\u{AD}hyphen", "U+00AD"),
            ("line\u{2028}sep", "U+2028"),
            ("tag\u{E0041}", "U+E0041"),
            (" lead", "whitespace"),
            ("trail ", "whitespace"),
        ];
        for (raw, needle) in cases {
            let err = SnippetName::parse(raw).unwrap_err().to_string();
            assert!(err.starts_with("invalid snippet name: "), "{raw:?}: {err}");
            assert!(
                err.contains(needle),
                "{raw:?}: {err} should mention {needle}"
            );
        }
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(
            SnippetName::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 128")
        );
        // Characters, not bytes: 128 three-byte characters are fine.
        assert!(SnippetName::parse(&"語".repeat(128)).is_ok());
    }
}

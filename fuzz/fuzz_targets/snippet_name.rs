//! Snippet names come straight from tool arguments and become blob names: parsing must never panic,
//! and every accepted name must keep the documented rules (so it cannot escape the container).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snippets_mcp::snippets::{MAX_NAME_CHARS, SnippetName};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = SnippetName::parse(text) {
        let s = name.to_string();
        assert!(!s.is_empty() && s.chars().count() <= MAX_NAME_CHARS);
        assert!(!s.contains('/') && !s.contains('\\') && !s.contains(".."));
        assert!(!s.chars().any(char::is_control));
        assert_eq!(s.trim(), s);
        assert!(name.blob_name().ends_with(".json"));
    }
});

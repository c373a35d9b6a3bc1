//! `AzureWebJobsStorage` is parsed at start-up: a malformed value must give an error naming the
//! setting, never a panic, and never echo the account key.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use snippets_mcp::settings::Settings;
use snippets_mcp::storage::StorageConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = HashMap::from([("AzureWebJobsStorage".to_string(), text.to_string())]);
    if let Err(e) = StorageConfig::from_settings(&Settings::new(&env)) {
        assert!(e.to_string().starts_with("AzureWebJobsStorage: "), "{e}");
    }
});

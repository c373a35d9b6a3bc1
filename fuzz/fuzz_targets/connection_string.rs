//! `AzureWebJobsStorage` is parsed at start-up: a malformed value must give an error naming the
//! setting, never a panic, and never echo the account key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snippets_mcp::storage::StorageConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let get = |k: &str| (k == "AzureWebJobsStorage").then_some(text);
    if let Err(e) = StorageConfig::from_env(&get) {
        assert!(e.to_string().starts_with("AzureWebJobsStorage: "), "{e}");
    }
});

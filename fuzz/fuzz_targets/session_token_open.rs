//! Session tokens arrive in the Authorization header of every MCP request: `open` must refuse any
//! forgery without panicking, whatever the length or bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_token::{Keys, open};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let keys = Keys::new([7; 32], [9; 32]).expect("fixed keys are valid");
    // Random bytes never carry a valid HMAC under these keys.
    assert!(open(&keys, token, 1_700_000_000).is_err());
});

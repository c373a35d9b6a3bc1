//! Checks the committed `vectors/v1.json` against the generator and against `open`/`seal`.
//! These are the same checks the C# policy implementation must pass.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use session_token::vectors::{self, VectorFile};
use session_token::{Keys, open, open_for_audience, seal_with_iv};

const COMMITTED: &str = include_str!("../vectors/v1.json");

fn committed() -> VectorFile {
    serde_json::from_str(COMMITTED).expect("vectors/v1.json parses")
}

#[test]
fn committed_file_matches_the_generator() {
    assert!(
        COMMITTED == vectors::generate_pretty(),
        "vectors/v1.json is stale; regenerate with \
         `cargo run -q -p session-token --bin session-token-vectors > crates/session-token/vectors/v1.json`"
    );
}

#[test]
fn valid_vectors_seal_and_open() {
    let file = committed();
    assert_eq!(file.version, session_token::TOKEN_VERSION);
    let keys = Keys::from_base64(&file.keys.enc_key, &file.keys.mac_key).unwrap();
    assert!(file.valid.len() >= 5);
    for v in &file.valid {
        let iv: [u8; 16] = STANDARD.decode(&v.iv).unwrap().try_into().unwrap();
        assert_eq!(
            seal_with_iv(&keys, v.plaintext.as_bytes(), iv),
            v.token,
            "{}",
            v.name
        );
        assert_eq!(
            open(&keys, &v.token, file.now).as_ref(),
            Ok(&v.claims),
            "{}",
            v.name
        );
        assert_eq!(
            open_for_audience(&keys, &v.token, file.now, &v.claims.aud).as_ref(),
            Ok(&v.claims),
            "{}",
            v.name
        );
    }
}

#[test]
fn invalid_vectors_fail_with_the_named_error() {
    let file = committed();
    let keys = Keys::from_base64(&file.keys.enc_key, &file.keys.mac_key).unwrap();
    assert!(file.invalid.len() >= 20);
    for v in &file.invalid {
        let result = match &v.expected_audience {
            Some(aud) => open_for_audience(&keys, &v.token, file.now, aud),
            None => open(&keys, &v.token, file.now),
        };
        match result {
            Ok(claims) => panic!("{}: opened to {claims:?}, expected {}", v.name, v.error),
            Err(err) => assert_eq!(err.name(), v.error, "{}", v.name),
        }
    }
}

#[test]
fn vectors_cover_the_required_cases() {
    let file = committed();
    let has_plaintext = |pred: &dyn Fn(&str) -> bool| file.valid.iter().any(|v| pred(&v.plaintext));
    assert!(has_plaintext(&|p| p.is_ascii()));
    assert!(has_plaintext(&|p| p.contains("Zoë ✓")));
    assert!(has_plaintext(&|p| p.len() % 16 == 0));
    for error in [
        "Malformed",
        "UnsupportedVersion",
        "BadMac",
        "Expired",
        "WrongAudience",
    ] {
        assert!(
            file.invalid.iter().any(|v| v.error == error),
            "no {error} vector"
        );
    }
    assert!(file.invalid.iter().any(|v| v.token.is_empty()));
    assert!(
        file.invalid
            .iter()
            .any(|v| v.token.len() > session_token::MAX_TOKEN_LEN)
    );
}

/// The C# sketch in docs/session-token.md, compiled with Mono's `mcs` against the APIM context
/// model the local runner executes (`local/runner/Model/`), must pass the same vectors. Mono is part of the project's test environment (the local APIM runner needs it);
/// on a machine without it this test says so on stderr instead of failing.
#[test]
fn csharp_sketch_in_the_doc_passes_the_vectors() {
    let have_mcs = std::process::Command::new("mcs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_mcs {
        eprintln!(
            "SKIPPED: mcs not installed (apt-get install -y mono-mcs libnewtonsoft-json-cil-dev)"
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/csharp/check.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failures"), "{stdout}");
}

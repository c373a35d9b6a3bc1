//! Checks the committed `vectors/rotation.json` against the generator, against [`KeySet`] built
//! from the file's own keys, and against the results the rotation rules demand (written out here,
//! not derived from the code under test). The C# sketch and the policy fragments run the same file.

use session_token::rotation_vectors::{self, RotationFile};
use session_token::{KeySet, Keys, PreviousKeys};

const COMMITTED: &str = include_str!("../vectors/rotation.json");

fn committed() -> RotationFile {
    serde_json::from_str(COMMITTED).expect("vectors/rotation.json parses")
}

#[test]
fn committed_file_matches_the_generator() {
    assert!(
        COMMITTED == rotation_vectors::generate_pretty(),
        "vectors/rotation.json is stale; regenerate with \
         `cargo run -q -p session-token --bin session-token-vectors -- --rotation > crates/session-token/vectors/rotation.json`"
    );
}

#[test]
fn every_case_opens_as_the_file_says() {
    let file = committed();
    let current = Keys::from_base64(&file.keys.enc_key, &file.keys.mac_key).unwrap();
    let previous =
        Keys::from_base64(&file.previous_keys.enc_key, &file.previous_keys.mac_key).unwrap();
    for case in &file.cases {
        let set = KeySet::with_previous(
            current.clone(),
            case.previous_configured
                .then(|| PreviousKeys::new(previous.clone(), file.previous_until)),
        );
        let got = set.open_for_audience(&case.token, case.now, &case.expected_audience);
        match (&got, &case.claims, &case.error) {
            (Ok(claims), Some(want), None) => assert_eq!(claims, want, "{}", case.name),
            (Err(err), None, Some(want)) => assert_eq!(err.name(), want, "{}", case.name),
            _ => panic!("{}: got {got:?}, file says {:?}", case.name, case),
        }
    }
}

#[test]
fn the_rotation_rules_hold_in_the_file() {
    let file = committed();
    let expect = [
        ("current keys, inside the window", "ok"),
        ("current keys, after the window", "ok"),
        ("current keys, no previous keys configured", "ok"),
        ("previous keys, inside the window", "ok"),
        ("previous keys, last second of the window", "ok"),
        ("previous keys, now == until", "BadMac"),
        ("previous keys, after the window", "BadMac"),
        ("previous keys, no previous keys configured", "BadMac"),
        ("never-configured keys, inside the window", "BadMac"),
        (
            "never-configured keys, no previous keys configured",
            "BadMac",
        ),
        (
            "previous MAC key with the current encryption key",
            "Malformed",
        ),
        (
            "current MAC key with the previous encryption key",
            "Malformed",
        ),
        (
            "previous keys swapped (MAC key used for encryption)",
            "BadMac",
        ),
        ("previous keys, expired inside the window", "Expired"),
        (
            "previous keys, wrong audience inside the window",
            "WrongAudience",
        ),
    ];
    assert_eq!(file.cases.len(), expect.len());
    for (case, (name, result)) in file.cases.iter().zip(expect) {
        assert_eq!(case.name, name);
        let got = case.error.as_deref().unwrap_or("ok");
        assert_eq!(got, result, "{name}");
    }
    // The window is strictly after every "inside" case and the previous pair is really other keys.
    assert!(file.cases.iter().any(|c| c.now == file.previous_until - 1));
    assert_ne!(file.previous_keys, file.keys);
    assert_ne!(file.never_configured_keys, file.previous_keys);
}

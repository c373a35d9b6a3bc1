//! Runs the `session-token-keygen` binary as the azd hook does and checks its output format.
//! The hook parses these lines, so their shape is a contract.

use std::process::Command;

use session_token::{APP_SETTING_ENC_KEY, APP_SETTING_MAC_KEY, Keys};

fn keygen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_session-token-keygen"))
        .args(args)
        .output()
        .expect("run session-token-keygen")
}

#[test]
fn env_format_prints_two_loadable_fresh_keys() {
    let parse = |out: std::process::Output| {
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let enc = lines[0]
            .strip_prefix(&format!("{APP_SETTING_ENC_KEY}="))
            .unwrap()
            .to_owned();
        let mac = lines[1]
            .strip_prefix(&format!("{APP_SETTING_MAC_KEY}="))
            .unwrap()
            .to_owned();
        assert_eq!(enc.len(), 44);
        Keys::from_base64(&enc, &mac).expect("generated keys load");
        (enc, mac)
    };
    let first = parse(keygen(&[]));
    let second = parse(keygen(&["--format", "env"]));
    assert_ne!(first.0, second.0);
    assert_ne!(first.1, second.1);
}

#[test]
fn json_format_prints_one_object() {
    let out = keygen(&["--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    Keys::from_base64(v["encKey"].as_str().unwrap(), v["macKey"].as_str().unwrap()).unwrap();
}

#[test]
fn bad_arguments_fail_without_printing_keys() {
    let out = keygen(&["--format", "yaml"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

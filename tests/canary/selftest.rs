//! The detector and the captures can fail: planted leaks are found and named, and
//! logs and panics really are recorded.

use crate::capture::{init, logs, panic_message, panics};
use crate::forms::{
    assert_clean, canary_keys, canary_master_key, canary_passphrase, find_leak, key_forms,
    opaque_forms,
};

/// Surround `needle` with unrelated text, as a log line or a file would.
fn planted(needle: &[u8]) -> Vec<u8> {
    let mut buf = b"2026-01-01T00:00:00Z TRACE request{key=".to_vec();
    buf.extend_from_slice(needle);
    buf.extend_from_slice(b"} done\n");
    buf
}

#[test]
fn every_form_of_every_canary_is_detected() {
    let mut secrets = Vec::new();
    for (provider, kind, raw) in canary_keys(7) {
        secrets.push(key_forms(&format!("{provider} {kind}"), &raw));
    }
    secrets.push(opaque_forms("master", &canary_master_key(2)));
    secrets.push(opaque_forms("passphrase", &canary_passphrase()));
    for forms in secrets {
        assert!(forms.len() > 10, "windows and encodings exist");
        for (name, bytes) in forms {
            let found = find_leak(&planted(&bytes));
            assert!(found.is_some(), "{name} is not detected");
        }
    }
}

#[test]
fn encoded_forms_are_found_inside_larger_encodings() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    for (_, _, raw) in canary_keys(6) {
        for lead in ["", "a", "ab", "abc"] {
            // A key inside a JSON blob that was then base64-encoded, at every alignment.
            let blob = format!("{{\"k\":\"{lead}{raw}\"}}");
            for encoded in [STANDARD.encode(&blob), URL_SAFE.encode(&blob)] {
                let (form, _) = find_leak(encoded.as_bytes()).expect("found in base64");
                assert!(form.contains("base64"), "{form}");
            }
            let hex: String = blob.bytes().map(|b| format!("{b:02X}")).collect();
            assert!(find_leak(hex.as_bytes()).is_some());
        }
        let whole = planted(raw.as_bytes());
        let (form, _) = find_leak(&whole).expect("found");
        assert!(
            form.ends_with("the whole key"),
            "the longest form is named: {form}"
        );
    }
}

#[test]
fn masks_fingerprints_and_unrelated_text_are_clean() {
    for (_, _, raw) in canary_keys(5) {
        let key = byok::keys::ApiKey::parse(&raw).unwrap();
        let text = format!(
            "{} {} {} {key:?}",
            key.masked(),
            key.fingerprint(),
            key.fingerprint().to_hex()
        );
        assert_clean("mask and fingerprint", text.as_bytes());
    }
    assert_clean(
        "prose",
        b"sk-proj-\xE2\x80\xA6Q8xA T3BlbkFJ AIzaSy sk-ant-api03- AQ. uuid 0190e3c0",
    );
}

#[test]
fn assert_clean_panics_and_names_the_form() {
    let (_, _, raw) = &canary_keys(4)[0];
    let message = panic_message(|| assert_clean("a planted log", &planted(raw.as_bytes())));
    assert!(message.contains("LEAK in a planted log"), "{message}");
    assert!(message.contains("the whole key"), "{message}");
    // The report itself does not repeat the secret.
    assert!(!message.contains(raw.as_str()));
}

#[test]
fn logs_and_panics_are_captured() {
    init();
    tracing::trace!(marker = "canary-selftest-trace", "a trace event");
    assert!(
        String::from_utf8_lossy(&logs()).contains("canary-selftest-trace"),
        "TRACE events reach the buffer"
    );
    let message = panic_message(|| panic!("canary-selftest-panic"));
    assert_eq!(message, "canary-selftest-panic");
    assert!(String::from_utf8_lossy(&panics()).contains("canary-selftest-panic"));
}

use std::panic::{AssertUnwindSafe, catch_unwind};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use byok_keys::{ApiKey, KeyKind, Provider, fake};

use super::standard::{self, assert_clean, find_leak};
use super::{Canary, Detector, MIN_WINDOW, WINDOW};

/// Surround `needle` with unrelated text, as a log line or a file would.
fn planted(needle: &[u8]) -> Vec<u8> {
    let mut buf = b"2026-01-01T00:00:00Z TRACE request{key=".to_vec();
    buf.extend_from_slice(needle);
    buf.extend_from_slice(b"} done\n");
    buf
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the closure panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_form_of_every_canary_is_detected() {
    let mut canaries = Vec::new();
    for (provider, kind, raw) in standard::keys(7) {
        canaries.push(Canary::api_key(format!("{provider} {kind}"), &raw));
    }
    canaries.push(Canary::secret("master", &standard::master_key(2)));
    canaries.push(Canary::secret("passphrase", &standard::passphrase()));
    for canary in canaries {
        let forms = canary.forms();
        assert!(forms.len() > 10, "windows and encodings exist");
        for form in forms {
            let leak = find_leak(planted(form.bytes()))
                .unwrap_or_else(|| panic!("{} is not detected", form.name()));
            assert_eq!(leak.at(), 39, "{} is found where it is", form.name());
        }
    }
}

#[test]
fn each_kind_of_form_exists_and_is_named() {
    let raw = standard::key(Provider::OpenAi, KeyKind::Project, 3);
    let names: Vec<String> = Canary::api_key("k", &raw)
        .forms()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let prefix = "sk-proj-".len();
    for expected in [
        "k: the whole key".to_owned(),
        "k: the body".to_owned(),
        format!("k: characters {prefix}..{}", prefix + WINDOW),
        format!("k: hex of characters {prefix}..{}", prefix + WINDOW),
        format!(
            "k: upper-case hex of characters {prefix}..{}",
            prefix + WINDOW
        ),
        format!("k: UTF-16LE of characters {prefix}..{}", prefix + WINDOW),
        format!("k: UTF-16BE of characters {prefix}..{}", prefix + WINDOW),
        format!("k: characters {}..{}", raw.len() - WINDOW, raw.len()),
        "k: base64 of the body (alignment 2)".to_owned(),
        "k: hex of the body".to_owned(),
        "k: UTF-16LE of the body".to_owned(),
        "k: percent-encoded body".to_owned(),
        "k: lower-case percent-encoded body".to_owned(),
        "k: JSON \\u-escaped body".to_owned(),
        "k: lower-case JSON \\u-escaped body".to_owned(),
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("k: base64 of characters")),
        "{names:?}"
    );
    let master = Canary::secret("m", &standard::master_key(0)).forms();
    assert!(master.iter().any(|f| f.name() == "m: the decoded bytes"));
    assert!(
        master
            .iter()
            .any(|f| f.name() == "m: hex of the decoded bytes")
    );
}

#[test]
fn encoded_forms_are_found_inside_larger_encodings() {
    for (_, _, raw) in standard::keys(6) {
        let leak = find_leak(planted(raw.as_bytes())).expect("found");
        assert!(
            leak.form().ends_with("the whole key"),
            "the longest form is named: {leak}"
        );
        let prefix = ApiKey::parse(&raw).unwrap().prefix().len();
        // Any WINDOW characters of the secret part, even the last ones.
        let piece = &raw[raw.len() - WINDOW..];
        let found = find_leak(planted(piece.as_bytes())).expect("a piece is found");
        assert!(found.form().contains("characters"), "{found}");
        // Base64 groups need 2 more characters: one window of them starts on a group.
        let piece = &raw[prefix + 1..prefix + 3 + WINDOW];
        for lead in ["", "a", "ab", "abc"] {
            // A key (or a piece of one) inside a JSON blob that was then encoded.
            for inner in [raw.as_str(), piece] {
                let blob = format!("{{\"k\":\"{lead}{inner}\"}}");
                for encoded in [STANDARD.encode(&blob), URL_SAFE.encode(&blob)] {
                    let leak = find_leak(encoded.as_bytes()).expect("found in base64");
                    assert!(leak.form().contains("base64"), "{leak}");
                }
                let upper = hex(blob.as_bytes()).to_uppercase();
                assert!(find_leak(hex(blob.as_bytes())).is_some());
                assert!(find_leak(upper).is_some());
                let utf16: Vec<u8> = blob.encode_utf16().flat_map(u16::to_le_bytes).collect();
                let leak = find_leak(&utf16).expect("found in UTF-16");
                // (UTF-16LE text holds the UTF-16BE form one byte on: either is a find.)
                assert!(leak.form().contains("UTF-16"), "{leak}");
                let utf16: Vec<u8> = blob.encode_utf16().flat_map(u16::to_be_bytes).collect();
                assert!(find_leak(&utf16).is_some());
            }
        }
        let body = &raw.as_bytes()[prefix..raw.len() - 4];
        let pct: String = body.iter().map(|b| format!("%{b:02x}")).collect();
        let leak = find_leak(planted(pct.as_bytes())).expect("percent-encoded");
        assert!(leak.form().contains("percent-encoded body"), "{leak}");
        let escaped: String = body.iter().map(|b| format!("\\u{b:04X}")).collect();
        let leak = find_leak(planted(escaped.as_bytes())).expect("JSON-escaped");
        assert!(leak.form().contains("JSON \\u-escaped body"), "{leak}");
    }
}

#[test]
fn a_decoded_master_key_is_found() {
    let secret = standard::master_key(1);
    let raw = STANDARD.decode(&secret).unwrap();
    let leak = find_leak(planted(&raw)).expect("raw bytes");
    assert_eq!(leak.form(), "master key #1: the decoded bytes");
    assert!(find_leak(planted(hex(&raw).as_bytes())).is_some());
}

#[test]
fn masks_fingerprints_and_unrelated_text_are_clean() {
    let mut clean = Vec::new();
    for (_, _, raw) in standard::keys(5) {
        let key = ApiKey::parse(&raw).unwrap();
        let prefix = key.prefix().len();
        clean.push(format!(
            "{} {} {} {key:?} {}",
            key.masked(),
            key.fingerprint(),
            key.fingerprint().to_hex(),
            &raw[prefix + 3..prefix + 3 + WINDOW - 1]
        ));
    }
    clean.push("sk-proj-\u{2026}Q8xA T3BlbkFJ AIzaSy sk-ant-api03- AQ. uuid 0190e3c0".into());
    clean.push(fake::key(Provider::OpenAi, KeyKind::Project, 1));
    clean.push(standard::master_key(standard::MASTER_KEYS));
    clean.push(String::new());
    for text in clean {
        assert_clean("clean text", text.as_bytes());
        assert!(standard::detector().is_clean(text.as_bytes()));
    }
}

#[test]
fn assert_clean_panics_and_names_the_form() {
    let (_, _, raw) = &standard::keys(4)[0];
    let mut log = b"line one\nline two ".to_vec();
    log.extend_from_slice(&planted(raw.as_bytes()));
    let message = panic_message(|| assert_clean("a planted log", &log));
    assert!(message.contains("LEAK in a planted log"), "{message}");
    assert!(message.contains("the whole key"), "{message}");
    assert!(
        message.contains("at byte 57 (line 2, column 49)"),
        "{message}"
    );
    // Neither the secret nor any window of it is in the report.
    assert!(find_leak(message.as_bytes()).is_none(), "{message}");

    let secret = "tok_0123456789abcdefghijklmnop";
    let detector = Detector::new([Canary::secret("session token", secret)]);
    let message = panic_message(|| detector.assert_clean("stderr", format!("x {secret}")));
    assert_eq!(
        message,
        "LEAK in stderr: session token: the body at byte 2 (line 1, column 3)"
    );
    assert!(!format!("{detector:?}").contains(secret));
    let canary = Canary::secret("session token", secret);
    assert!(!format!("{canary:?} {:?}", canary.forms()).contains(&secret[..WINDOW]));
}

#[test]
fn windows_are_configurable_but_not_too_short() {
    let secret = "correct horse battery staple 42";
    let wide = Detector::new([Canary::secret("p", secret).window(20)]);
    assert!(wide.is_clean("correct horse batte"));
    assert!(!wide.is_clean("orrect horse battery"));
    let narrow: Detector = [Canary::secret("p", secret)].into_iter().collect();
    assert!(!narrow.is_clean("correct horse"));
    let short = catch_unwind(|| Canary::secret("p", secret).window(MIN_WINDOW - 1));
    assert!(short.is_err());
    // A secret shorter than the window is searched for whole.
    let tiny = Detector::new([Canary::secret("pin", "84_19-x")]);
    assert!(!tiny.is_clean("pin=84_19-x;"));
    assert!(tiny.is_clean("84_19-"));
}

#[test]
fn a_key_that_is_not_a_key_is_refused_without_showing_it() {
    let message = panic_message(|| {
        let _ = Canary::api_key("bad", "sk-not-a-real-key-shape-zzzzzzzz");
    });
    assert!(
        message.contains("\"bad\" is not a recognised API key"),
        "{message}"
    );
    assert!(!message.contains("zzzzzzzz"), "{message}");
}

use super::*;
use byok_keys::KeyKind;

#[test]
fn two_hundred_needs_a_json_object() {
    let h = HeaderMap::new();
    let ok = classify(Provider::OpenAi, 200, &h, br#"{"object":"list","data":[]}"#);
    assert_eq!(ok.verdict, Verdict::Valid);
    let portal = classify(Provider::OpenAi, 200, &h, b"<html>Sign in to Wi-Fi</html>");
    assert_eq!(portal.verdict, Verdict::Indeterminate);
    assert!(!portal.retryable);
}

#[test]
fn a_cut_success_body_is_judged_by_its_start() {
    let h = HeaderMap::new();
    let now = Timestamp::now();
    let cut = br#"{"object":"list","data":[{"id":"gpt-4o"#;
    let c = classify_at(Provider::OpenAi, 200, &h, cut, false, now, None);
    assert_eq!(c.verdict, Verdict::Valid);
    let c = classify_at(Provider::OpenAi, 200, &h, cut, true, now, None);
    assert_eq!(c.verdict, Verdict::Indeterminate);
    let c = classify_at(Provider::OpenAi, 200, &h, b"<html>", false, now, None);
    assert_eq!(c.verdict, Verdict::Indeterminate);
}

#[test]
fn timeout_and_conflict_statuses_retry_as_indeterminate() {
    for status in [408, 409] {
        let c = classify(Provider::Google, status, &HeaderMap::new(), b"");
        assert_eq!(c.verdict, Verdict::Indeterminate);
        assert!(c.retryable);
    }
}

fn openai_error(message: &str, code: &str) -> Vec<u8> {
    serde_json::json!({"error": {"message": message, "type": "x", "param": null, "code": code}})
        .to_string()
        .into_bytes()
}

#[test]
fn messages_are_redacted_and_bounded() {
    let key = byok_keys::fake::key(Provider::OpenAi, byok_keys::KeyKind::Project, 3);
    let body = openai_error(
        &format!("Incorrect API key provided: {key}. {}", "x".repeat(500)),
        "c",
    );
    let m = classify(Provider::OpenAi, 401, &HeaderMap::new(), &body)
        .provider_message
        .unwrap();
    assert!(!m.contains(&key));
    assert!(m.contains("sk-proj-…"));
    // At most 300 characters, the cut marked by `…` (counted).
    assert_eq!(m.chars().count(), MESSAGE_MAX_CHARS);
    assert!(m.ends_with('…'));
}

#[test]
fn codes_are_identifiers_or_nothing() {
    let key = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 4);
    let h = HeaderMap::new();
    let code_of =
        |code: &str| classify(Provider::OpenAi, 401, &h, &openai_error("m", code)).provider_code;
    assert_eq!(
        code_of("invalid_api_key").as_deref(),
        Some("invalid_api_key")
    );
    assert_eq!(code_of("a.b:c-d_9").as_deref(), Some("a.b:c-d_9"));
    for bad in [
        key.as_str(),
        "has space",
        "\u{1b}[32mvalid",
        "é",
        "x".repeat(65).as_str(),
    ] {
        assert_eq!(code_of(bad), None, "{bad:?}");
    }
    assert_eq!(code_of(&"x".repeat(64)).map(|c| c.len()), Some(64));
}

#[test]
fn every_fragment_of_the_known_key_is_scrubbed_before_cutting() {
    let raw = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 6);
    let key = ApiKey::parse(&raw).unwrap();
    let forms = [
        raw.clone(),
        raw[..raw.len() - 1].to_owned(),
        raw[..100].to_owned(),
        format!("{}{}", "x ".repeat(140), &raw[..50]),
    ];
    for form in &forms {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", form.parse().unwrap());
        let body = openai_error(form, form);
        for c in [
            classify_for_key(&key, 401, &h, &body),
            classify_at(
                Provider::OpenAi,
                401,
                &h,
                &body,
                true,
                Timestamp::now(),
                Some(&raw),
            ),
        ] {
            let shown = format!("{c:?}");
            for w in raw.as_bytes()[8..].windows(12) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(!shown.contains(w), "{shown}");
            }
            assert_eq!(c.provider_code, None);
        }
    }
}

proptest::proptest! {
    /// Any answer classifies without panicking; key and account problems are
    /// never retried unless the server says so.
    #[test]
    fn any_answer_is_classified(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), p in 0usize..3) {
        let provider = Provider::ALL[p];
        let c = classify(provider, status, &HeaderMap::new(), &body);
        proptest::prop_assert_eq!(c.status, status);
        if c.retryable {
            proptest::prop_assert!(matches!(
                c.verdict,
                Verdict::RateLimited { .. } | Verdict::ProviderUnavailable | Verdict::Indeterminate
            ), "{:?}", c.verdict);
        }
    }

    /// Well-formed error bodies with arbitrary codes and messages never panic
    /// and never turn a no-credits or invalid verdict retryable.
    #[test]
    fn shaped_bodies_with_any_text(status in 400u16..600, code in "[a-z_]{0,30}", message in "\\PC{0,80}") {
        let bodies = [
            serde_json::json!({"error": {"message": message, "type": code, "param": null, "code": code}}),
            serde_json::json!({"type": "error", "error": {"type": code, "message": message}}),
            serde_json::json!({"error": {"code": status, "message": message, "status": code, "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code}]}}),
        ];
        for (provider, body) in Provider::ALL.into_iter().zip(bodies) {
            let c = classify(provider, status, &HeaderMap::new(), body.to_string().as_bytes());
            if matches!(c.verdict, Verdict::NoCredits(_) | Verdict::Invalid(_) | Verdict::Restricted(_)) {
                proptest::prop_assert!(!c.retryable);
            }
        }
    }
}

#[test]
fn request_id_from_header_or_body() {
    let mut h = HeaderMap::new();
    h.insert("x-request-id", "req_123".parse().unwrap());
    let c = classify(Provider::OpenAi, 500, &h, b"");
    assert_eq!(c.request_id.as_deref(), Some("req_123"));
    let body = br#"{"type":"error","error":{"type":"api_error","message":"Internal"},"request_id":"req_body"}"#;
    let c = classify(Provider::Anthropic, 500, &HeaderMap::new(), body);
    assert_eq!(c.request_id.as_deref(), Some("req_body"));
}

#[test]
fn a_key_echoed_as_request_id_is_masked() {
    let key = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 5);
    let mut h = HeaderMap::new();
    h.insert("x-request-id", format!("req {key}").parse().unwrap());
    let id = classify(Provider::OpenAi, 500, &h, b"").request_id.unwrap();
    assert!(!id.contains(&key[8..160]), "{id}");
    assert!(id.starts_with("req sk-proj-…"));
}

use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, Verdict};
use byok_keys::Provider;

fn m(status: u16, body: &str) -> crate::Classification {
    classify(
        Provider::Mistral,
        status,
        &HeaderMap::new(),
        body.as_bytes(),
    )
}

#[test]
fn every_row() {
    for body in [
        r#"{"message":"Unauthorized","request_id":"b1c2"}"#,
        r#"{"detail":"Unauthorized"}"#,
    ] {
        let c = m(401, body);
        // Also a valid key whose plan quota is spent: the reason says both.
        assert_eq!(c.verdict, Verdict::Invalid(I::KeyOrQuota), "{body}");
        assert_eq!(c.provider_message.as_deref(), Some("Unauthorized"));
        assert!(!c.retryable);
    }
    assert_eq!(
        m(401, r#"{"message":"Unauthorized","request_id":"b1c2"}"#)
            .request_id
            .as_deref(),
        Some("b1c2")
    );

    let c = m(
        429,
        r#"{"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert_eq!(c.provider_code.as_deref(), Some("1300"));
    assert!(c.retryable);
    let c = m(429, r#"{"message":"Requests rate limit exceeded"}"#);
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });

    let c = m(
        429,
        r#"{"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","param":null,"code":"3505"}"#,
    );
    assert_eq!(c.verdict, Verdict::ProviderUnavailable);
    assert!(c.retryable);

    let c = m(
        429,
        r#"{"message":"You have reached your monthly usage limit."}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::SpendLimit));
    assert!(!c.retryable);
}

#[test]
fn per_minute_headers() {
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-limit-tokens-minute", "500000".parse().unwrap());
    h.insert(
        "x-ratelimit-remaining-tokens-minute",
        "499990".parse().unwrap(),
    );
    let c = classify(Provider::Mistral, 200, &h, b"{}");
    assert_eq!(c.verdict, Verdict::Valid);
    assert_eq!(c.rate_limits.tokens.unwrap().remaining, Some(499_990));
}

use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, Verdict};
use byok_keys::Provider;

fn or(status: u16, body: &str) -> crate::Classification {
    classify(
        Provider::OpenRouter,
        status,
        &HeaderMap::new(),
        body.as_bytes(),
    )
}

#[test]
fn every_row() {
    let c = or(401, r#"{"error":{"code":401,"message":"User not found."}}"#);
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(c.provider_code.as_deref(), Some("401"));
    assert_eq!(c.provider_message.as_deref(), Some("User not found."));
    assert!(!c.retryable);

    let c = or(
        402,
        r#"{"error":{"code":402,"message":"Key limit exceeded","metadata":{"limit_source":"openrouter_key_limit","remedy_hint":"Raise the key limit"}}}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::KeyLimit));
    assert_eq!(c.provider_code.as_deref(), Some("openrouter_key_limit"));
    assert!(!c.retryable);

    let c = or(
        402,
        r#"{"error":{"code":402,"message":"Insufficient credits","metadata":{"limit_source":"openrouter_credits"}}}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::CreditBalance));

    let zero = r#"{"error":{"code":402,"message":"This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, but can only afford 0. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account"}}"#;
    assert_eq!(or(402, zero).verdict, Verdict::NoCredits(N::CreditBalance));
    // Can afford some: the request was too big, the account is not empty.
    let some = zero.replace("afford 0", "afford 1843");
    let c = or(402, &some);
    assert_eq!(c.verdict, Verdict::Indeterminate);
    assert!(!c.retryable);
    assert!(!c.verdict.is_conclusive());

    let c = or(
        429,
        r#"{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min"}}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert!(c.retryable);

    for status in [502, 503] {
        let c = or(
            status,
            r#"{"error":{"code":503,"message":"No endpoints found"}}"#,
        );
        assert_eq!(c.verdict, Verdict::ProviderUnavailable, "{status}");
        assert!(c.retryable);
    }
}

#[test]
fn rate_limit_headers_give_the_wait() {
    let now = jiff::Timestamp::now();
    let mut h = HeaderMap::new();
    h.insert("X-RateLimit-Limit", "20".parse().unwrap());
    h.insert("X-RateLimit-Remaining", "0".parse().unwrap());
    let reset = now.as_millisecond() + 3_000;
    h.insert("X-RateLimit-Reset", reset.to_string().parse().unwrap());
    let c = crate::classify::classify_at(
        Provider::OpenRouter,
        429,
        &h,
        br#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
        true,
        now,
        None,
    );
    assert_eq!(
        c.verdict,
        Verdict::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(3))
        }
    );
    assert_eq!(c.rate_limits.requests.unwrap().limit, Some(20));
}

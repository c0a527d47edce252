use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R, Verdict};
use byok_keys::Provider;

fn az(status: u16, headers: &HeaderMap, body: &str) -> crate::Classification {
    classify(Provider::AzureOpenAi, status, headers, body.as_bytes())
}

#[test]
fn every_row() {
    let h = HeaderMap::new();
    for code in ["401", "Unauthorized"] {
        let body = serde_json::json!({"error": {"code": code, "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}).to_string();
        let c = az(401, &h, &body);
        assert_eq!(c.verdict, Verdict::Invalid(I::KeyOrEndpoint), "{code}");
        assert_eq!(c.provider_code.as_deref(), Some(code));
        assert!(c.provider_message.unwrap().contains("wrong API endpoint"));
    }
    let c = az(
        404,
        &h,
        r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::DeploymentNotFound));

    let limit = |n: u64| {
        serde_json::json!({"error": {"code": "429", "message": format!("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {n} seconds.")}}).to_string()
    };
    let c = az(429, &h, &limit(86400));
    assert_eq!(c.verdict, Verdict::NoCredits(N::QuotaExhausted));
    assert!(!c.retryable);
    let c = az(429, &h, &limit(7));
    assert_eq!(
        c.verdict,
        Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(c.retryable);
    // The header alone can say it too.
    let mut day = HeaderMap::new();
    day.insert("retry-after", "86400".parse().unwrap());
    let c = az(
        429,
        &day,
        r#"{"error":{"code":"429","message":"Rate limit is exceeded."}}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::QuotaExhausted));
    assert_eq!(az(503, &h, "").verdict, Verdict::ProviderUnavailable);
}

#[test]
fn openai_style_headers_with_minus_one() {
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-limit-requests", "-1".parse().unwrap());
    h.insert("x-ratelimit-remaining-tokens", "0".parse().unwrap());
    let c = az(200, &h, "{}");
    assert_eq!(c.rate_limits.requests, None);
    assert_eq!(c.rate_limits.tokens.unwrap().remaining, Some(0));
}

//! The OpenAI-compatible providers' rows (Groq, DeepSeek, Together, Fireworks,
//! Perplexity): OpenAI's body shape, their own statuses.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, Verdict};
use byok_keys::Provider;

fn c(provider: Provider, status: u16, body: &str) -> crate::Classification {
    classify(provider, status, &HeaderMap::new(), body.as_bytes())
}

fn openai_body(message: &str, kind: &str, code: Option<&str>) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        .to_string()
}

#[test]
fn groq_rows() {
    let g = |status, body: &str| c(Provider::Groq, status, body);
    let r = g(
        401,
        &openai_body(
            "Invalid API Key",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
    );
    assert_eq!(r.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(r.provider_code.as_deref(), Some("invalid_api_key"));
    let r = g(
        400,
        &openai_body(
            "Organization has been restricted. Please reach out to support if you believe this was in error.",
            "invalid_request_error",
            Some("organization_restricted"),
        ),
    );
    assert_eq!(r.verdict, Verdict::Invalid(I::Deactivated));
    assert!(!r.retryable);
    // The wait is only in the message.
    let r = g(
        429,
        &openai_body(
            "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01` on tokens per minute (TPM): Limit 6000, Used 5971, Requested 120. Please try again in 5.289s. Visit https://console.groq.com/docs/rate-limits for more information.",
            "tokens",
            Some("rate_limit_exceeded"),
        ),
    );
    assert_eq!(
        r.verdict,
        Verdict::RateLimited {
            retry_after: Some(Duration::from_millis(5289))
        }
    );
    assert!(r.retryable);
    let r = g(
        429,
        &openai_body(
            "Please try again in 1m30.5s.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
    );
    assert_eq!(r.retry_after, Some(Duration::from_millis(90_500)));
    // A retry-after header beats the message.
    let mut h = HeaderMap::new();
    h.insert("retry-after", "2".parse().unwrap());
    let r = classify(
        Provider::Groq,
        429,
        &h,
        openai_body(
            "Please try again in 5.289s.",
            "tokens",
            Some("rate_limit_exceeded"),
        )
        .as_bytes(),
    );
    assert_eq!(r.retry_after, Some(Duration::from_secs(2)));
    let r = g(
        498,
        &openai_body(
            "Capacity exceeded for the flex tier",
            "capacity_exceeded",
            Some("capacity_exceeded"),
        ),
    );
    assert_eq!(r.verdict, Verdict::ProviderUnavailable);
    assert!(r.retryable);
}

#[test]
fn deepseek_rows() {
    let d = |status, body: &str| c(Provider::DeepSeek, status, body);
    let r = d(
        401,
        &openai_body(
            "Authentication Fails, Your api key: ****abcd is invalid",
            "authentication_error",
            Some("invalid_request_error"),
        ),
    );
    assert_eq!(r.verdict, Verdict::Invalid(I::Unauthorized));
    let r = d(
        402,
        r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#,
    );
    assert_eq!(r.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(r.provider_message.as_deref(), Some("Insufficient Balance"));
    assert!(!r.retryable);
    let r = d(
        429,
        &openai_body("Rate Limit Reached", "rate_limit_error", None),
    );
    assert_eq!(r.verdict, Verdict::RateLimited { retry_after: None });
    assert!(r.retryable);
    let r = d(503, &openai_body("Server Overloaded", "server_error", None));
    assert_eq!(r.verdict, Verdict::ProviderUnavailable);
}

#[test]
fn together_rows() {
    let t = |status, body: &str| c(Provider::Together, status, body);
    let r = t(
        401,
        &openai_body(
            "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
    );
    assert_eq!(r.verdict, Verdict::Invalid(I::Unauthorized));
    let r = t(
        402,
        r#"{"id":"8f1","error":{"message":"Credit limit exceeded. Please navigate to https://api.together.xyz/settings/billing to add credit.","type":"credit_limit","param":null,"code":null}}"#,
    );
    assert_eq!(r.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(r.provider_code.as_deref(), Some("credit_limit"));
    assert!(!r.retryable);
}

#[test]
fn fireworks_rows() {
    let r = c(
        Provider::Fireworks,
        412,
        r#"{"error":{"object":"error","type":"error","code":"PRECONDITION_FAILED","message":"Account acme is suspended, possibly due to reaching the monthly spending limit or failure to pay past invoices. Please go to the account billing page to resolve the issue."},"request_id":"r1"}"#,
    );
    assert_eq!(r.verdict, Verdict::NoCredits(N::Billing));
    assert_eq!(r.provider_code.as_deref(), Some("PRECONDITION_FAILED"));
    assert!(!r.retryable);
    // The classifier alone says unavailable; the verifier makes a list-models
    // 500 inconclusive and moves on (see the verifier's tests).
    let r = c(
        Provider::Fireworks,
        500,
        r#"{"error":{"message":"Error listing deployed models","code":"INTERNAL"}}"#,
    );
    assert_eq!(r.verdict, Verdict::ProviderUnavailable);
}

#[test]
fn perplexity_401_is_html() {
    let html = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.25.3.1</center>\r\n</body>\r\n</html>";
    let r = c(Provider::Perplexity, 401, html);
    assert_eq!(r.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!((r.provider_code, r.provider_message), (None, None));
    assert!(!r.retryable);
}

#[test]
fn openai_itself_stays_strict() {
    // A 401 without OpenAI's codes, a 402 and a 429 without a code are not
    // OpenAI's answers: they stay indeterminate there (a proxy, not OpenAI).
    for (status, body) in [(401, "<html>"), (402, "{}"), (429, "{}"), (498, "{}")] {
        assert_eq!(
            c(Provider::OpenAi, status, body).verdict,
            Verdict::Indeterminate,
            "{status}"
        );
    }
    let r = c(
        Provider::OpenAi,
        429,
        &openai_body(
            "Please try again in 5s.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
    );
    assert_eq!(r.retry_after, None);
}

#[test]
fn a_json_array_is_a_success_only_for_the_new_providers() {
    let list = br#"[{"id":"m","object":"model"}]"#;
    let h = HeaderMap::new();
    assert_eq!(
        classify(Provider::Together, 200, &h, list).verdict,
        Verdict::Valid
    );
    assert_eq!(
        classify(Provider::Together, 200, &h, b"[1,").verdict,
        Verdict::Indeterminate
    );
    assert_eq!(
        classify(Provider::Together, 200, &h, b"<html>").verdict,
        Verdict::Indeterminate
    );
    for old in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
        assert_eq!(
            classify(old, 200, &h, list).verdict,
            Verdict::Indeterminate,
            "{old}"
        );
    }
}

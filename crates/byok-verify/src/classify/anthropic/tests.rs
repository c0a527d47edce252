use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::Verdict;
use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R};
use byok_keys::Provider;

fn body(kind: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CTest"
    }))
    .unwrap()
}

fn check(status: u16, b: &[u8], want: Verdict, retry: bool) {
    let c = classify(Provider::Anthropic, status, &HeaderMap::new(), b);
    assert_eq!(c.verdict, want, "{status} {}", String::from_utf8_lossy(b));
    assert_eq!(
        c.retryable,
        retry,
        "{status} {}",
        String::from_utf8_lossy(b)
    );
}

#[test]
fn every_row_of_the_table() {
    let inv = "invalid_request_error";
    check(
        401,
        &body("authentication_error", "invalid x-api-key"),
        Verdict::Invalid(I::Unauthorized),
        false,
    );
    check(
        400,
        &body(inv, "This organization has been disabled."),
        Verdict::Invalid(I::Deactivated),
        false,
    );
    check(
        400,
        &body(
            inv,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        Verdict::NoCredits(N::CreditBalance),
        false,
    );
    check(
        400,
        &body(
            inv,
            "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
        ),
        Verdict::NoCredits(N::SpendLimit),
        false,
    );
    let cap = serde_json::to_vec(&serde_json::json!({"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}})).unwrap();
    check(429, &cap, Verdict::NoCredits(N::SpendLimit), false);
    check(
        402,
        &body("billing_error", "There is a problem with your billing."),
        Verdict::NoCredits(N::Billing),
        false,
    );
    check(
        429,
        &body(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        Verdict::RateLimited { retry_after: None },
        true,
    );
    check(
        403,
        &body(
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        Verdict::Restricted(R::Permission),
        false,
    );
    check(
        404,
        &body("not_found_error", "model: claude-haiku-4-5"),
        Verdict::Restricted(R::ModelAccess),
        false,
    );
    check(
        529,
        &body("overloaded_error", "Overloaded"),
        Verdict::ProviderUnavailable,
        true,
    );
    check(
        500,
        &body("api_error", "Internal server error"),
        Verdict::ProviderUnavailable,
        true,
    );
}

#[test]
fn unknown_shapes_are_indeterminate() {
    check(
        400,
        &body("invalid_request_error", "max_tokens: field required"),
        Verdict::Indeterminate,
        false,
    );
    // Anthropic's own 401, whatever its error type, refuses the key.
    check(
        401,
        &body("something_new", "?"),
        Verdict::Invalid(I::Unauthorized),
        false,
    );
    let c = classify(
        Provider::Anthropic,
        400,
        &HeaderMap::new(),
        &body("invalid_request_error", "odd"),
    );
    assert_eq!(c.provider_code.as_deref(), Some("invalid_request_error"));
}

#[test]
fn a_401_that_is_not_anthropics_is_indeterminate_and_keeps_its_text() {
    // A proxy's JSON (no `"type":"error"` envelope), an HTML page, nothing.
    let proxy = br#"{"error":{"type":"authentication_error","message":"gateway token expired"}}"#;
    for b in [&proxy[..], b"<html>401 Authorization Required</html>", b""] {
        check(401, b, Verdict::Indeterminate, false);
    }
    let c = classify(Provider::Anthropic, 401, &HeaderMap::new(), proxy);
    assert_eq!(c.provider_message.as_deref(), Some("gateway token expired"));
    assert_eq!(c.provider_code.as_deref(), Some("authentication_error"));
    // A proxy's body imitating another row is not believed either.
    let cap = br#"{"error":{"type":"rate_limit_error","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
    check(429, cap, Verdict::Indeterminate, false);
    // The status alone decides an outage.
    check(
        529,
        b"<html>overloaded</html>",
        Verdict::ProviderUnavailable,
        true,
    );
    let c = classify(
        Provider::Anthropic,
        401,
        &HeaderMap::new(),
        &body("authentication_error", "invalid x-api-key"),
    );
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(c.provider_message.as_deref(), Some("invalid x-api-key"));
}

#[test]
fn rate_limit_uses_retry_after_and_should_retry() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", "3".parse().unwrap());
    let c = classify(
        Provider::Anthropic,
        429,
        &h,
        &body("rate_limit_error", "slow down"),
    );
    assert_eq!(
        c.verdict,
        Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    h.insert("x-should-retry", "false".parse().unwrap());
    assert!(!classify(Provider::Anthropic, 429, &h, &body("rate_limit_error", "x")).retryable);
}

#[test]
fn the_edge_region_block_is_a_region_restriction() {
    // No envelope, no request id: answered before the API.
    let edge = br#"{"error":{"type":"forbidden","message":"Request not allowed"}}"#;
    check(403, edge, Verdict::Restricted(R::Region), false);
    let c = classify(Provider::Anthropic, 403, &HeaderMap::new(), edge);
    assert_eq!(c.provider_code.as_deref(), Some("forbidden"));
    // The same words under another status or type say nothing about the key.
    check(401, edge, Verdict::Indeterminate, false);
    let other = br#"{"error":{"type":"forbidden","message":"blocked by corporate proxy"}}"#;
    check(403, other, Verdict::Indeterminate, false);
}

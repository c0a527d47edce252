use reqwest::header::HeaderMap;

use crate::Verdict;
use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R};
use byok_keys::Provider;

fn body(message: &str, kind: &str, code: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
    .unwrap()
}

fn check(status: u16, b: &[u8], want: Verdict, retry: bool) {
    let c = classify(Provider::OpenAi, status, &HeaderMap::new(), b);
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
        &body(
            "Incorrect API key provided: sk-abc***wxyz.",
            inv,
            Some("invalid_api_key"),
        ),
        Verdict::Invalid(I::Unauthorized),
        false,
    );
    check(
        401,
        &body(
            "This key is associated with a deactivated account.",
            inv,
            Some("account_deactivated"),
        ),
        Verdict::Invalid(I::Deactivated),
        false,
    );
    check(
        401,
        &body(
            "OpenAI-Organization header should match organization for API key",
            inv,
            Some("mismatched_organization"),
        ),
        Verdict::Invalid(I::OrganizationMismatch),
        false,
    );
    check(
        401,
        &body(
            "You have insufficient permissions for this operation. Missing scopes: api.model.read.",
            inv,
            None,
        ),
        Verdict::Restricted(R::MissingScope),
        false,
    );
    check(
        403,
        &body("Restricted key.", inv, Some("missing_scope")),
        Verdict::Restricted(R::MissingScope),
        false,
    );
    check(
        404,
        &body(
            "The model `gpt-4o-mini-2024-07-18` does not exist or you do not have access to it.",
            inv,
            Some("model_not_found"),
        ),
        Verdict::Restricted(R::ModelAccess),
        false,
    );
    check(
        403,
        &body(
            "Project `proj_x` does not have access to model `gpt-4o-mini-2024-07-18`",
            inv,
            None,
        ),
        Verdict::Restricted(R::ModelAccess),
        false,
    );
    check(
        403,
        &body(
            "Country, region, or territory not supported",
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
        Verdict::Restricted(R::Region),
        false,
    );
    check(
        429,
        &body(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Verdict::NoCredits(N::InsufficientQuota),
        false,
    );
    check(
        429,
        &body("quota", "insufficient_quota", None),
        Verdict::NoCredits(N::InsufficientQuota),
        false,
    );
    check(
        429,
        &body(
            "Credit balance exhausted",
            inv,
            Some("credit_balance_exhausted"),
        ),
        Verdict::NoCredits(N::InsufficientQuota),
        false,
    );
    for code in super::SPEND_LIMIT_CODES {
        check(
            429,
            &body("limit", inv, Some(code)),
            Verdict::NoCredits(N::SpendLimit),
            false,
        );
    }
    check(
        429,
        &body(
            "Rate limit reached for gpt-4o-mini on requests per min (RPM)",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        Verdict::RateLimited { retry_after: None },
        true,
    );
    for status in [500, 502, 503, 504] {
        check(
            status,
            &body("The server had an error", "server_error", None),
            Verdict::ProviderUnavailable,
            true,
        );
    }
    check(
        503,
        b"<html>Bad gateway</html>",
        Verdict::ProviderUnavailable,
        true,
    );
}

#[test]
fn unknown_shapes_are_indeterminate_with_code_kept() {
    let c = classify(
        Provider::OpenAi,
        429,
        &HeaderMap::new(),
        &body("?", "weird_type", Some("brand_new_code")),
    );
    assert_eq!(c.verdict, Verdict::Indeterminate);
    assert!(!c.retryable);
    assert_eq!(c.provider_code.as_deref(), Some("brand_new_code"));
    assert_eq!(c.status, 429);
    check(401, b"not json", Verdict::Indeterminate, false);
    check(
        418,
        &body("teapot", "x", None),
        Verdict::Indeterminate,
        false,
    );
}

#[test]
fn x_should_retry_overrides_the_table() {
    let mut h = HeaderMap::new();
    h.insert("x-should-retry", "false".parse().unwrap());
    let c = classify(Provider::OpenAi, 503, &h, b"");
    assert_eq!(
        (c.verdict, c.retryable),
        (Verdict::ProviderUnavailable, false)
    );
    h.insert("x-should-retry", "true".parse().unwrap());
    let c = classify(
        Provider::OpenAi,
        429,
        &h,
        &body("q", "insufficient_quota", Some("insufficient_quota")),
    );
    assert!(c.retryable);
}

#[test]
fn rate_limited_carries_the_server_hint() {
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
    h.insert("x-ratelimit-reset-requests", "20ms".parse().unwrap());
    let c = classify(
        Provider::OpenAi,
        429,
        &h,
        &body("slow down", "requests", Some("rate_limit_exceeded")),
    );
    assert_eq!(
        c.verdict,
        Verdict::RateLimited {
            retry_after: Some(std::time::Duration::from_millis(20))
        }
    );
}

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::Verdict;
use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R};
use byok_keys::Provider;

fn body(code: u16, status: &str, message: &str, details: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"error": {"code": code, "message": message, "status": status, "details": details}}),
    )
    .unwrap()
}

fn info(reason: &str) -> Value {
    json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}])
}

fn quota(id: &str, delay: Option<&str>) -> Value {
    let mut d = vec![
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": id}]}),
    ];
    if let Some(delay) = delay {
        d.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}));
    }
    Value::Array(d)
}

fn check(status: u16, b: &[u8], want: Verdict, retry: bool) {
    let c = classify(Provider::Google, status, &HeaderMap::new(), b);
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
    check(
        400,
        &body(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            info("API_KEY_INVALID"),
        ),
        Verdict::Invalid(I::Unauthorized),
        false,
    );
    check(
        400,
        &body(
            400,
            "INVALID_ARGUMENT",
            "API key expired. Please renew the API key.",
            info("API_KEY_INVALID"),
        ),
        Verdict::Invalid(I::Expired),
        false,
    );
    check(
        403,
        &body(
            403,
            "PERMISSION_DENIED",
            "Permission denied: Consumer has been suspended.",
            info("CONSUMER_SUSPENDED"),
        ),
        Verdict::Invalid(I::Suspended),
        false,
    );
    check(
        403,
        &body(
            403,
            "PERMISSION_DENIED",
            "Requests to this API are blocked.",
            info("API_KEY_SERVICE_BLOCKED"),
        ),
        Verdict::Restricted(R::ApiBlocked),
        false,
    );
    check(
        403,
        &body(
            403,
            "PERMISSION_DENIED",
            "Generative Language API has not been used in project 1 before or it is disabled.",
            info("SERVICE_DISABLED"),
        ),
        Verdict::Restricted(R::ServiceDisabled),
        false,
    );
    check(
        400,
        &body(
            400,
            "FAILED_PRECONDITION",
            "User location is not supported for the API use.",
            json!([]),
        ),
        Verdict::Restricted(R::Region),
        false,
    );
    check(
        402,
        &body(
            402,
            "RESOURCE_EXHAUSTED",
            "Your prepayment credits are depleted.",
            json!([]),
        ),
        Verdict::NoCredits(N::PrepayDepleted),
        false,
    );
    check(
        429,
        &body(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.",
            quota(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some("47s"),
            ),
        ),
        Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(47)),
        },
        true,
    );
    check(
        429,
        &body(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.",
            quota(
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                Some("3s"),
            ),
        ),
        Verdict::NoCredits(N::QuotaExhausted),
        false,
    );
    for (status, grpc) in [
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ] {
        check(
            status,
            &body(status, grpc, "oops", json!([])),
            Verdict::ProviderUnavailable,
            true,
        );
    }
}

#[test]
fn fractional_retry_delay() {
    let b = body(
        429,
        "RESOURCE_EXHAUSTED",
        "q",
        quota(
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            Some("0.5s"),
        ),
    );
    let c = classify(Provider::Google, 429, &HeaderMap::new(), &b);
    assert_eq!(c.retry_after, Some(Duration::from_millis(500)));
}

#[test]
fn unknown_shapes_keep_the_code() {
    let c = classify(
        Provider::Google,
        429,
        &HeaderMap::new(),
        &body(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted",
            json!([]),
        ),
    );
    assert_eq!(c.verdict, Verdict::Indeterminate);
    assert_eq!(c.provider_code.as_deref(), Some("RESOURCE_EXHAUSTED"));
    check(
        403,
        &body(403, "PERMISSION_DENIED", "no", info("SOMETHING_NEW")),
        Verdict::Indeterminate,
        false,
    );
    check(400, b"", Verdict::Indeterminate, false);
}

#[test]
fn should_retry_header_is_not_a_google_header() {
    let mut h = HeaderMap::new();
    h.insert("x-should-retry", "true".parse().unwrap());
    assert!(!classify(Provider::Google, 400, &h, b"").retryable);
}

#[test]
fn depleted_prepayment_is_a_429_without_details() {
    // What the API sends: no QuotaFailure, no RetryInfo, no `details` at all.
    let b = serde_json::to_vec(&json!({"error": {"code": 429,
        "message": "Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.",
        "status": "RESOURCE_EXHAUSTED"}}))
    .unwrap();
    check(429, &b, Verdict::NoCredits(N::PrepayDepleted), false);
    // A bare RESOURCE_EXHAUSTED 429 without that message stays undecided.
    let bare = serde_json::to_vec(&json!({"error": {"code": 429,
        "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}))
    .unwrap();
    check(429, &bare, Verdict::Indeterminate, false);
}

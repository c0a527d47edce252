use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R, Verdict};
use byok_keys::Provider;

fn x(status: u16, body: &str) -> crate::Classification {
    classify(Provider::XAi, status, &HeaderMap::new(), body.as_bytes())
}

#[test]
fn the_message_decides_before_the_status() {
    let c = x(
        400,
        r#"{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***ys. You can obtain an API key from https://console.x.ai."}"#,
    );
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    assert!(c.provider_message.unwrap().starts_with("Incorrect API key"));
    // A sentence is not an identifier: no provider code.
    assert_eq!(c.provider_code, None);

    let spent = "Your team 0f1e has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit.";
    for status in [429, 403] {
        let body = serde_json::json!({"code": "Some resource has been exhausted", "error": spent})
            .to_string();
        let c = x(status, &body);
        assert_eq!(c.verdict, Verdict::NoCredits(N::CreditBalance), "{status}");
        assert!(!c.retryable, "{status}: never retried");
    }
    let c = x(
        403,
        r#"{"code":"The caller does not have permission to execute the specified operation","error":"Your newly created team doesn't have any credits yet. You can purchase credits on https://console.x.ai/team/x."}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::CreditBalance));
}

#[test]
fn blocked_keys_and_the_rest() {
    let c = x(
        403,
        r#"{"code":"permission_denied","error":"The API key is blocked."}"#,
    );
    assert_eq!(c.verdict, Verdict::Invalid(I::Blocked));
    assert_eq!(c.provider_code.as_deref(), Some("permission_denied"));
    let c = x(
        403,
        r#"{"code":"permission_denied","error":"Your team is blocked."}"#,
    );
    assert_eq!(c.verdict, Verdict::Invalid(I::Deactivated));
    let c = x(
        403,
        r#"{"code":"permission_denied","error":"Not allowed."}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::Permission));
    let c = x(401, "");
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    let c = x(
        429,
        r#"{"code":"rate_limited","error":"Too many requests"}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert!(c.retryable);
    let c = x(
        404,
        r#"{"code":"not_found","error":"The model grok-9 does not exist or your team does not have access to it."}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::ModelAccess));
    assert_eq!(x(503, "").verdict, Verdict::ProviderUnavailable);
}

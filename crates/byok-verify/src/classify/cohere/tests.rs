use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, Verdict};
use byok_keys::Provider;

fn co(status: u16, body: &str) -> crate::Classification {
    classify(Provider::Cohere, status, &HeaderMap::new(), body.as_bytes())
}

#[test]
fn every_row() {
    let c = co(401, r#"{"id":"2b5f","message":"invalid api token"}"#);
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(c.request_id.as_deref(), Some("2b5f"));
    assert_eq!(c.provider_message.as_deref(), Some("invalid api token"));
    let c = co(
        429,
        r#"{"id":"a","message":"You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."}"#,
    );
    assert_eq!(c.verdict, Verdict::NoCredits(N::TrialQuota));
    assert!(!c.retryable);
    let c = co(
        429,
        r#"{"id":"b","message":"You are using a Trial key, which is limited to 20 API calls / minute."}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert!(c.retryable);
    assert_eq!(co(500, "").verdict, Verdict::ProviderUnavailable);
}

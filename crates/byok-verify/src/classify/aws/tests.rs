use reqwest::header::HeaderMap;

use crate::classify::classify;
use crate::verdict::{InvalidReason as I, RestrictedReason as R, Verdict};
use byok_keys::Provider;

fn bedrock(status: u16, kind: Option<&str>, body: &str) -> crate::Classification {
    let mut h = HeaderMap::new();
    if let Some(kind) = kind {
        h.insert("x-amzn-ErrorType", kind.parse().unwrap());
    }
    classify(Provider::Bedrock, status, &h, body.as_bytes())
}

#[test]
fn every_row() {
    let c = bedrock(
        403,
        Some(
            "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        ),
        r#"{"Message":"Authentication failed: Please make sure your API Key is valid."}"#,
    );
    // A wrong key, or a right key of another region: the reason says both.
    assert_eq!(c.verdict, Verdict::Invalid(I::KeyOrEndpoint));
    assert_eq!(
        c.provider_code.as_deref(),
        Some("UnrecognizedClientException")
    );

    let c = bedrock(
        403,
        Some("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        r#"{"Message":"Invalid API Key format: Must start with pre-defined prefix"}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::IamPermission));
    assert_eq!(c.provider_code.as_deref(), Some("AccessDeniedException"));
    assert!(!c.retryable);

    let c = bedrock(
        403,
        Some("AccessDeniedException"),
        r#"{"message":"You don't have access to the model with the specified model ID."}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::ModelAccess));

    let c = bedrock(
        401,
        None,
        r#"{"error":{"code":"invalid_api_key","message":"Invalid bearer token"}}"#,
    );
    assert_eq!(c.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(c.provider_code.as_deref(), Some("invalid_api_key"));

    let c = bedrock(
        429,
        Some("ThrottlingException"),
        r#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert!(c.retryable);
    let c = bedrock(
        429,
        Some("ModelNotReadyException"),
        r#"{"message":"Model is not ready"}"#,
    );
    assert_eq!(c.verdict, Verdict::ProviderUnavailable);
    assert!(c.retryable);
    let c = bedrock(
        400,
        Some("ServiceQuotaExceededException"),
        r#"{"message":"Your request exceeded the service quota."}"#,
    );
    assert_eq!(c.verdict, Verdict::RateLimited { retry_after: None });
    assert!(!c.retryable, "a service quota does not lift within a retry");
    let c = bedrock(
        404,
        Some("ResourceNotFoundException"),
        r#"{"message":"Model not found"}"#,
    );
    assert_eq!(c.verdict, Verdict::Restricted(R::ModelAccess));
    assert_eq!(
        bedrock(500, Some("InternalServerException"), "{}").verdict,
        Verdict::ProviderUnavailable
    );
    assert_eq!(
        bedrock(400, Some("ValidationException"), r#"{"message":"bad"}"#).verdict,
        Verdict::Indeterminate
    );
}

//! Amazon Bedrock: `{"Message"}` (or `{"message"}`), the type in `x-amzn-ErrorType`
//! (`AccessDeniedException:http://internal.amazon.com/...`); the Mantle endpoint
//! answers OpenAI-shaped `{"error":{"code","message"}}`.

use super::{Answer, Reading, some, str_at};
use crate::ratelimit::text;
use crate::verdict::{InvalidReason, RestrictedReason, Verdict};

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["Message"])
        .or_else(|| str_at(a.json, &["message"]))
        .or_else(|| str_at(a.json, &["error", "message"]))
        .unwrap_or("");
    let kind = text(a.headers, "x-amzn-errortype")
        .map(|t| t.split(':').next().unwrap_or(t))
        .or_else(|| str_at(a.json, &["__type"]).map(|t| t.rsplit('#').next().unwrap_or(t)))
        .or_else(|| str_at(a.json, &["error", "code"]))
        .unwrap_or("");
    let lower = message.to_ascii_lowercase();
    use Verdict as V;
    let (verdict, retryable) = match (a.status, kind) {
        // Also what a key from another region gets: AWS does not say which.
        (403, _) if lower.contains("authentication failed") => {
            (V::Invalid(InvalidReason::KeyOrEndpoint), false)
        }
        // Also sent when the IAM identity lacks bedrock:CallWithBearerToken; the
        // key passed byok's own format check, so the permission is the likelier cause.
        (403, _) if lower.contains("invalid api key format") => {
            (V::Restricted(RestrictedReason::IamPermission), false)
        }
        (403, _) if lower.contains("model") => {
            (V::Restricted(RestrictedReason::ModelAccess), false)
        }
        (403, "AccessDeniedException") => (V::Restricted(RestrictedReason::IamPermission), false),
        (401, _) => (V::Invalid(InvalidReason::Unauthorized), false),
        (404, "ResourceNotFoundException") => (V::Restricted(RestrictedReason::ModelAccess), false),
        (_, "ModelNotReadyException") => (V::ProviderUnavailable, true),
        // A service quota does not lift within any retry budget.
        (_, "ServiceQuotaExceededException") => (V::RateLimited { retry_after: None }, false),
        (429, _) | (_, "ThrottlingException") => (V::RateLimited { retry_after: None }, true),
        (500 | 502 | 503 | 504, _) => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    Reading {
        code: some(kind),
        message: some(message),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

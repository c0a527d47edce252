//! Cohere: `{"message"}` or `{"id","message"}`.

use super::{Answer, Reading, some, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, Verdict};

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["message"]).unwrap_or("");
    let lower = message.to_ascii_lowercase();
    // "You are using a Trial key, which is limited to 1000 API calls / month."
    let trial = lower.contains("trial") && lower.contains("month");
    use Verdict as V;
    let (verdict, retryable) = match a.status {
        401 => (V::Invalid(InvalidReason::Unauthorized), false),
        402 => (V::NoCredits(NoCreditsReason::Billing), false),
        429 if trial => (V::NoCredits(NoCreditsReason::TrialQuota), false),
        429 => (V::RateLimited { retry_after: None }, true),
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    Reading {
        message: some(message),
        body_request_id: str_at(a.json, &["id"]).map(str::to_owned),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

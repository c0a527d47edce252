//! Anthropic: `{"type":"error","error":{"type":..,"message":..},"request_id":..}`.

use serde_json::Value;

use super::{Reading, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

pub(super) fn read(status: u16, json: Option<&Value>) -> Reading {
    let kind = str_at(json, &["error", "type"]).unwrap_or("");
    let message = str_at(json, &["error", "message"]).unwrap_or("");
    let detail = str_at(json, &["error", "details", "error_code"]).unwrap_or("");
    let lower = message.to_ascii_lowercase();
    // Anthropic's own error envelope. A body without it (a proxy's JSON, an HTML
    // page) says nothing about the key, whatever its status: only 5xx are judged
    // without it.
    let anthropic = str_at(json, &["type"]) == Some("error") && !kind.is_empty();
    use Verdict as V;
    let (verdict, retryable) = match (status, kind) {
        (500 | 502 | 503 | 504 | 529, _) => (V::ProviderUnavailable, true),
        // The unsupported-region block comes from Anthropic's edge, before the API:
        // this exact body, without the envelope and without a request id.
        (403, "forbidden")
            if str_at(json, &["type"]).is_none() && message == "Request not allowed" =>
        {
            (V::Restricted(RestrictedReason::Region), false)
        }
        _ if !anthropic => (V::Indeterminate, false),
        // Status first: a 401 from Anthropic itself means the key was refused.
        (401, _) => (V::Invalid(InvalidReason::Unauthorized), false),
        (400, "invalid_request_error") if lower.contains("organization has been disabled") => {
            (V::Invalid(InvalidReason::Deactivated), false)
        }
        (400, "invalid_request_error") if lower.contains("credit balance is too low") => {
            (V::NoCredits(NoCreditsReason::CreditBalance), false)
        }
        (400, "invalid_request_error")
            if lower.contains("reached your specified api usage limits") =>
        {
            (V::NoCredits(NoCreditsReason::SpendLimit), false)
        }
        (402, "billing_error") => (V::NoCredits(NoCreditsReason::Billing), false),
        (403, "permission_error") => (V::Restricted(RestrictedReason::Permission), false),
        (404, "not_found_error") => (V::Restricted(RestrictedReason::ModelAccess), false),
        // A tier spend cap looks like a rate limit but will not lift by waiting.
        (429, "rate_limit_error") if detail == "enforced_spend_limit_reached" => {
            (V::NoCredits(NoCreditsReason::SpendLimit), false)
        }
        (429, "rate_limit_error") => (V::RateLimited { retry_after: None }, true),
        _ => (V::Indeterminate, false),
    };
    let code = [detail, kind]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    Reading {
        code,
        message: (!message.is_empty()).then(|| message.to_owned()),
        body_request_id: str_at(json, &["request_id"]).map(str::to_owned),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

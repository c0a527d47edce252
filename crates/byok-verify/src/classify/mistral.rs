//! Mistral: `{"message"}`, `{"detail"}` or
//! `{"object":"error","message","type","param","code":"1300"}`.

use super::{Answer, Reading, some, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, Verdict};

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["message"])
        .or_else(|| str_at(a.json, &["detail"]))
        .unwrap_or("");
    let kind = str_at(a.json, &["type"]).unwrap_or("");
    let code = str_at(a.json, &["code"]).unwrap_or("");
    let lower = message.to_ascii_lowercase();
    use Verdict as V;
    let (verdict, retryable) = match a.status {
        // Not a rate limit: the model's service tier is full.
        _ if lower.contains("capacity exceeded") => (V::ProviderUnavailable, true),
        // A valid key whose plan quota is spent gets this same 401.
        401 => (V::Invalid(InvalidReason::KeyOrQuota), false),
        429 if lower.contains("monthly") || lower.contains("usage limit") => {
            (V::NoCredits(NoCreditsReason::SpendLimit), false)
        }
        429 => (V::RateLimited { retry_after: None }, true),
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    let code = [code, kind]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    Reading {
        code,
        message: some(message),
        body_request_id: str_at(a.json, &["request_id"]).map(str::to_owned),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

//! OpenRouter: `{"error":{"code": <int = status>, "message":..,"metadata":{..}}}`.

use super::{Answer, Reading, some, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, Verdict};

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["error", "message"]).unwrap_or("");
    let limit_source = str_at(a.json, &["error", "metadata", "limit_source"]).unwrap_or("");
    use Verdict as V;
    let (verdict, retryable) = match a.status {
        401 => (V::Invalid(InvalidReason::Unauthorized), false),
        // "You requested up to 32000 tokens, but can only afford 0": with N > 0 the
        // request was too big for what is left, which says nothing against the key.
        402 if can_afford(message).is_some_and(|n| n > 0) => (V::Indeterminate, false),
        402 if limit_source == "openrouter_key_limit" => {
            (V::NoCredits(NoCreditsReason::KeyLimit), false)
        }
        402 => (V::NoCredits(NoCreditsReason::CreditBalance), false),
        429 => (V::RateLimited { retry_after: None }, true),
        // 502: the model's provider is down; 503: no provider matches the routing.
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    let code = match limit_source {
        "" => a
            .json
            .and_then(|j| j.get("error")?.get("code")?.as_u64())
            .map(|c| c.to_string()),
        source => Some(source.to_owned()),
    };
    Reading {
        code,
        message: some(message),
        ..Reading::new(verdict, retryable)
    }
}

/// N in "... can only afford N".
fn can_afford(message: &str) -> Option<u64> {
    let at = message.find("can only afford")? + "can only afford".len();
    let digits: String = message[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(19)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests;

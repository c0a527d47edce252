//! xAI: `{"code": "...", "error": "..."}` (not OpenAI-shaped; an OpenAI-shaped
//! `error.message` is read too). The message decides before the status: no
//! credits comes as a 429 or a 403, a wrong key as a 400.

use super::{Answer, Reading, some, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["error"])
        .or_else(|| str_at(a.json, &["error", "message"]))
        .unwrap_or("");
    let code = str_at(a.json, &["code"]).unwrap_or("");
    let text = format!("{message} {code}").to_ascii_lowercase();
    let no_credits = text.contains("used all available credits")
        || text.contains("monthly spending limit")
        || text.contains("doesn't have any credits")
        || text.contains("does not have any credits");
    use Verdict as V;
    let (verdict, retryable) = match a.status {
        _ if no_credits => (V::NoCredits(NoCreditsReason::CreditBalance), false),
        _ if text.contains("incorrect api key") || text.contains("invalid api key") => {
            (V::Invalid(InvalidReason::Unauthorized), false)
        }
        401 => (V::Invalid(InvalidReason::Unauthorized), false),
        403 if text.contains("team") && text.contains("blocked") => {
            (V::Invalid(InvalidReason::Deactivated), false)
        }
        403 if text.contains("blocked") || text.contains("disabled") => {
            (V::Invalid(InvalidReason::Blocked), false)
        }
        403 => (V::Restricted(RestrictedReason::Permission), false),
        404 if text.contains("model") => (V::Restricted(RestrictedReason::ModelAccess), false),
        429 => (V::RateLimited { retry_after: None }, true),
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    Reading {
        // xAI's `code` is often a sentence: only an identifier survives `code()`.
        code: some(code),
        message: some(message),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

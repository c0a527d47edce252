//! Azure OpenAI: `{"error":{"code": "<string>", "message"}}`.

use std::time::Duration;

use super::{Answer, Reading, delay_in_message, some, str_at};
use crate::ratelimit::text;
use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

/// A wait this long is a daily or trial quota, not a rate limit.
const QUOTA_WAIT: Duration = Duration::from_secs(86_400);

pub(super) fn read(a: Answer<'_>) -> Reading {
    let message = str_at(a.json, &["error", "message"]).unwrap_or("");
    let code = str_at(a.json, &["error", "code"]).unwrap_or("");
    let delay = delay_in_message(message, "retry after ");
    let header_wait = text(a.headers, "retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let quota = delay.or(header_wait).is_some_and(|d| d >= QUOTA_WAIT);
    use Verdict as V;
    let (verdict, retryable) = match a.status {
        // "Access denied due to invalid subscription key or wrong API endpoint":
        // Azure cannot tell the two apart, nor can we.
        401 => (V::Invalid(InvalidReason::KeyOrEndpoint), false),
        404 if code == "DeploymentNotFound" => {
            (V::Restricted(RestrictedReason::DeploymentNotFound), false)
        }
        403 => (V::Restricted(RestrictedReason::Permission), false),
        429 if quota => (V::NoCredits(NoCreditsReason::QuotaExhausted), false),
        429 => (V::RateLimited { retry_after: None }, true),
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    Reading {
        code: some(code),
        message: some(message),
        body_delay: delay,
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

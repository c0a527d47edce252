//! Gemini: `{"error":{"code":..,"message":..,"status":..,"details":[ErrorInfo, RetryInfo, QuotaFailure]}}`.

use serde_json::Value;

use super::{Reading, str_at};
use crate::duration::parse_proto_duration;
use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

/// The `google.rpc` details Gemini puts in an error body.
#[derive(Debug, Default)]
struct Details<'v> {
    reason: Option<&'v str>,
    retry_delay: Option<&'v str>,
    quota_ids: Vec<&'v str>,
}

fn details(json: Option<&Value>) -> Details<'_> {
    let mut d = Details::default();
    let items = json
        .and_then(|j| j.get("error")?.get("details")?.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let kind = item.get("@type").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("google.rpc.ErrorInfo") {
            d.reason = item.get("reason").and_then(Value::as_str);
        } else if kind.ends_with("google.rpc.RetryInfo") {
            d.retry_delay = item.get("retryDelay").and_then(Value::as_str);
        } else if kind.ends_with("google.rpc.QuotaFailure") {
            let violations = item.get("violations").and_then(Value::as_array);
            d.quota_ids.extend(
                violations
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("quotaId").and_then(Value::as_str)),
            );
        }
    }
    d
}

pub(super) fn read(status: u16, json: Option<&Value>) -> Reading {
    let grpc = str_at(json, &["error", "status"]).unwrap_or("");
    let message = str_at(json, &["error", "message"]).unwrap_or("");
    let d = details(json);
    let reason = d.reason.unwrap_or("");
    let per_day = d.quota_ids.iter().any(|q| q.contains("PerDay"));
    let per_minute = d.quota_ids.iter().any(|q| q.contains("PerMinute"));
    use Verdict as V;
    let (verdict, retryable) = match status {
        400 if reason == "API_KEY_INVALID" && message.to_ascii_lowercase().contains("expired") => {
            (V::Invalid(InvalidReason::Expired), false)
        }
        400 if reason == "API_KEY_INVALID" => (V::Invalid(InvalidReason::Unauthorized), false),
        400 if grpc == "FAILED_PRECONDITION"
            && message.contains("User location is not supported") =>
        {
            (V::Restricted(RestrictedReason::Region), false)
        }
        403 if reason == "CONSUMER_SUSPENDED" => (V::Invalid(InvalidReason::Suspended), false),
        403 if reason == "API_KEY_SERVICE_BLOCKED" => {
            (V::Restricted(RestrictedReason::ApiBlocked), false)
        }
        403 if reason == "SERVICE_DISABLED" => {
            (V::Restricted(RestrictedReason::ServiceDisabled), false)
        }
        402 if grpc == "RESOURCE_EXHAUSTED" => {
            (V::NoCredits(NoCreditsReason::PrepayDepleted), false)
        }
        // Depleted prepaid credits come as a 429 without quota details (reported).
        429 if grpc == "RESOURCE_EXHAUSTED"
            && message
                .to_ascii_lowercase()
                .contains("prepayment credits are depleted") =>
        {
            (V::NoCredits(NoCreditsReason::PrepayDepleted), false)
        }
        // A used-up daily quota will not lift within any retry budget: check it first.
        429 if grpc == "RESOURCE_EXHAUSTED" && per_day => {
            (V::NoCredits(NoCreditsReason::QuotaExhausted), false)
        }
        // A per-minute quota, or a server that names a retry delay: a rate limit.
        429 if grpc == "RESOURCE_EXHAUSTED" && (per_minute || d.retry_delay.is_some()) => {
            (V::RateLimited { retry_after: None }, true)
        }
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    let code = [reason, grpc]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    Reading {
        code,
        message: (!message.is_empty()).then(|| message.to_owned()),
        body_delay: d.retry_delay.and_then(parse_proto_duration),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

//! OpenAI: `{"error":{"message":..,"type":..,"param":..,"code":..}}`.

use serde_json::Value;

use super::{Reading, str_at};
use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

const SPEND_LIMIT_CODES: [&str; 3] = [
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
];

/// `compatible`: an OpenAI-compatible provider (Groq, DeepSeek, Together,
/// Fireworks, Perplexity), whose documented statuses decide where OpenAI's
/// codes are absent: 401 Invalid, 402 NoCredits, 429 RateLimited, Groq's 498
/// capacity, Fireworks' 412 suspension. OpenAI itself is read by its codes.
pub(super) fn read(status: u16, json: Option<&Value>, compatible: bool) -> Reading {
    let code = str_at(json, &["error", "code"]).unwrap_or("");
    let kind = str_at(json, &["error", "type"]).unwrap_or("");
    let message = str_at(json, &["error", "message"]).unwrap_or("");
    let missing_scope = code == "missing_scope" || message.contains("Missing scopes");
    let model_access =
        code == "model_not_found" || message.contains("does not have access to model");
    use Verdict as V;
    let (verdict, retryable) = match status {
        401 if code == "invalid_api_key" => (V::Invalid(InvalidReason::Unauthorized), false),
        401 if code == "account_deactivated" => (V::Invalid(InvalidReason::Deactivated), false),
        401 if code == "mismatched_organization" => {
            (V::Invalid(InvalidReason::OrganizationMismatch), false)
        }
        401 | 403 if missing_scope => (V::Restricted(RestrictedReason::MissingScope), false),
        403 | 404 if model_access => (V::Restricted(RestrictedReason::ModelAccess), false),
        403 if code == "unsupported_country_region_territory" => {
            (V::Restricted(RestrictedReason::Region), false)
        }
        429 if kind == "insufficient_quota"
            || code == "insufficient_quota"
            || code == "credit_balance_exhausted" =>
        {
            (V::NoCredits(NoCreditsReason::InsufficientQuota), false)
        }
        429 if SPEND_LIMIT_CODES.contains(&code) => {
            (V::NoCredits(NoCreditsReason::SpendLimit), false)
        }
        429 if code == "rate_limit_exceeded" => (V::RateLimited { retry_after: None }, true),
        // The status decides here: a gateway's 502 page is as unavailable as OpenAI's own JSON.
        500 | 502 | 503 | 504 => (V::ProviderUnavailable, true),
        _ if !compatible => (V::Indeterminate, false),
        // Groq: an organization restricted by Groq.
        400 if code == "organization_restricted" => (V::Invalid(InvalidReason::Deactivated), false),
        // Perplexity's 401 is an HTML page: the status decides.
        401 => (V::Invalid(InvalidReason::Unauthorized), false),
        // DeepSeek "Insufficient Balance", Together `credit_limit`.
        402 => (V::NoCredits(NoCreditsReason::CreditBalance), false),
        // Fireworks: "Account X is suspended, possibly due to reaching the monthly
        // spending limit or failure to pay past invoices".
        412 if code == "PRECONDITION_FAILED" || message.contains("suspended") => {
            (V::NoCredits(NoCreditsReason::Billing), false)
        }
        429 => (V::RateLimited { retry_after: None }, true),
        // Groq `capacity_exceeded` (flex tier): retry with jitter.
        498 => (V::ProviderUnavailable, true),
        _ => (V::Indeterminate, false),
    };
    let provider_code = [code, kind]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    Reading {
        code: provider_code,
        message: (!message.is_empty()).then(|| message.to_owned()),
        // Groq names its wait only in the message: "Please try again in 5.289s."
        body_delay: compatible
            .then(|| super::delay_in_message(message, "try again in "))
            .flatten(),
        ..Reading::new(verdict, retryable)
    }
}

#[cfg(test)]
mod tests;

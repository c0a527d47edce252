//! From an HTTP answer (status, headers AND body) to a [`Verdict`], per provider.
//!
//! The status code alone lies: OpenAI's "no credits" is a 429 like a rate limit,
//! Anthropic's is a 400. Each provider module reads its own error body shape.
//! Pure functions: no I/O, no clock except the `now` passed in.

mod anthropic;
mod aws;
mod azure;
mod cohere;
mod gemini;
mod mistral;
mod openai;
mod openrouter;
mod xai;

use std::time::Duration;

use byok_keys::spec::{ErrorDialect, RateLimitDialect};
use byok_keys::{ApiKey, Provider, scrub};
use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::hint;
use crate::ratelimit::{RateLimits, text};
use crate::verdict::Verdict;

/// Longest provider message kept in a report, in characters.
const MESSAGE_MAX_CHARS: usize = 300;
/// Longest request id kept in a report, in characters.
const REQUEST_ID_MAX_CHARS: usize = 128;
/// Longest provider code kept in a report, in bytes (longer codes are dropped).
const CODE_MAX_BYTES: usize = 64;

/// What one HTTP answer means: the verdict, whether it is worth retrying, and
/// everything a report keeps about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// The verdict for this answer.
    pub verdict: Verdict,
    /// Whether the request may be retried (the verdict table, overridden by `x-should-retry`).
    pub retryable: bool,
    /// The HTTP status.
    pub status: u16,
    /// The provider's own error code or type (`insufficient_quota`, `API_KEY_INVALID`, ...):
    /// at most 64 characters of `A-Z a-z 0-9 _ . : -`, else `None`, never anything of a key.
    pub provider_code: Option<String>,
    /// The provider's error message, scrubbed ([`byok_keys::scrub`]: the key that was
    /// sent removed, anything key-shaped masked) and cut to 300 characters.
    pub provider_message: Option<String>,
    /// The provider's request id (`x-request-id`, `request-id`, or the body's
    /// `request_id`), scrubbed like the message and cut to 128 characters.
    pub request_id: Option<String>,
    /// Rate-limit state from the headers.
    pub rate_limits: RateLimits,
    /// How long the server asked to wait, from any of its hints.
    pub retry_after: Option<Duration>,
}

/// What a provider module reads from its error body.
#[derive(Debug)]
struct Reading {
    verdict: Verdict,
    retryable: bool,
    code: Option<String>,
    message: Option<String>,
    body_delay: Option<Duration>,
    body_request_id: Option<String>,
}

impl Reading {
    fn new(verdict: Verdict, retryable: bool) -> Reading {
        Reading {
            verdict,
            retryable,
            code: None,
            message: None,
            body_delay: None,
            body_request_id: None,
        }
    }
}

/// One error answer as the dialect readers of the newer providers see it.
#[derive(Debug, Clone, Copy)]
struct Answer<'a> {
    status: u16,
    json: Option<&'a Value>,
    headers: &'a HeaderMap,
}

/// Classify one answer of `provider` per the verdict tables in `docs/PROVIDERS.md`
/// (its spec's [`ErrorDialect`] reads the body, its [`RateLimitDialect`] the headers).
///
/// Useful beyond the Test button: feed it the error answers of your own
/// inference calls to tell "no credits" from "slow down".
///
/// ```
/// use byok_verify::{Verdict, NoCreditsReason, classify};
/// use byok_keys::Provider;
///
/// let body = br#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
/// let c = classify(Provider::OpenAi, 429, &Default::default(), body);
/// assert_eq!(c.verdict, Verdict::NoCredits(NoCreditsReason::InsufficientQuota));
/// assert!(!c.retryable); // a no-credits 429 is never retried
/// ```
pub fn classify(
    provider: Provider,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Classification {
    classify_at(
        provider,
        status,
        headers,
        body,
        true,
        Timestamp::now(),
        None,
    )
}

/// [`classify`] an answer to a request made with `key`: besides anything shaped
/// like a key, every fragment of `key` itself (12 characters or more, cut, one
/// character short, glued to other text) is removed from the provider's text.
/// Use this one for your own inference calls' errors, where the key is known.
pub fn classify_for_key(
    key: &ApiKey,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Classification {
    classify_at(
        key.provider(),
        status,
        headers,
        body,
        true,
        Timestamp::now(),
        Some(key.expose_secret()),
    )
}

/// [`classify`] with an explicit clock (reset timestamps, HTTP dates), whether
/// `body` is complete or was cut at the read limit, and the key that was sent
/// (`known`), whose fragments are scrubbed from every provider-controlled field.
pub(crate) fn classify_at(
    provider: Provider,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    complete: bool,
    now: Timestamp,
    known: Option<&str>,
) -> Classification {
    let spec = provider.spec();
    let reading = match status {
        200..=299 if is_json_object(body, complete) => Reading::new(Verdict::Valid, false),
        // Together's model list is a top-level JSON array; the first three
        // providers never answer one (from them it is a proxy's, not theirs).
        200..=299 if !strict_2xx(provider) && is_json_array(body, complete) => {
            Reading::new(Verdict::Valid, false)
        }
        // A 2xx that is not a JSON object: a captive portal or proxy page, not the provider.
        200..=299 => Reading::new(Verdict::Indeterminate, false),
        _ => {
            let json: Option<Value> = serde_json::from_slice(body).ok();
            let answer = Answer {
                status,
                json: json.as_ref(),
                headers,
            };
            let mut r = match spec.errors {
                // OpenAI itself is read strictly (its codes decide); the compatible
                // providers (Groq, DeepSeek, Together, Fireworks, Perplexity) by status too.
                ErrorDialect::OpenAi => {
                    openai::read(status, json.as_ref(), provider != Provider::OpenAi)
                }
                ErrorDialect::Anthropic => anthropic::read(status, json.as_ref()),
                ErrorDialect::Gemini => gemini::read(status, json.as_ref()),
                ErrorDialect::OpenRouter => openrouter::read(answer),
                ErrorDialect::XAi => xai::read(answer),
                ErrorDialect::Mistral => mistral::read(answer),
                ErrorDialect::Azure => azure::read(answer),
                ErrorDialect::Aws => aws::read(answer),
                ErrorDialect::Cohere => cohere::read(answer),
                // A dialect newer than this crate: only the status can be read.
                _ => status_only(status),
            };
            if matches!(r.verdict, Verdict::Indeterminate) && matches!(status, 408 | 409) {
                r.retryable = true;
            }
            r
        }
    };
    let rate_limits = match spec.rate_limits {
        RateLimitDialect::OpenAi => RateLimits::from_openai(headers),
        RateLimitDialect::Anthropic => RateLimits::from_anthropic(headers, now),
        RateLimitDialect::Single => RateLimits::from_single(headers, now),
        RateLimitDialect::Mistral => RateLimits::from_mistral(headers),
        RateLimitDialect::None => RateLimits::default(),
        // Headers of a dialect newer than this crate are not read.
        _ => RateLimits::default(),
    };
    let retry_after = hint::server_wait(headers, &rate_limits, reading.body_delay, now);
    // `x-should-retry` is OpenAI's and Anthropic's own header.
    let own_header = matches!(provider, Provider::OpenAi | Provider::Anthropic);
    let retryable = own_header
        .then(|| hint::should_retry(headers))
        .flatten()
        .unwrap_or(reading.retryable);
    let verdict = match reading.verdict {
        Verdict::RateLimited { .. } => Verdict::RateLimited { retry_after },
        v => v,
    };
    // Every text below is the provider's (or a proxy's): it may echo anything, even
    // the key, whole or in part. Scrub before cutting, so a cut cannot hide a key.
    let request_id = ["x-request-id", "request-id"]
        .iter()
        .find_map(|h| text(headers, h))
        .or(reading.body_request_id.as_deref())
        .map(|id| scrub(id, known, REQUEST_ID_MAX_CHARS));
    Classification {
        verdict,
        retryable,
        status,
        provider_code: reading.code.as_deref().and_then(|c| code(c, known)),
        provider_message: reading
            .message
            .as_deref()
            .map(|m| scrub(m, known, MESSAGE_MAX_CHARS)),
        request_id,
        rate_limits,
        retry_after,
    }
}

/// A provider code as a report keeps it: scrubbed, then kept only if it is an
/// identifier (`A-Z a-z 0-9 _ . : -`) of at most [`CODE_MAX_BYTES`].
fn code(raw: &str, known: Option<&str>) -> Option<String> {
    let c = scrub(raw, known, CODE_MAX_BYTES + 1);
    let identifier = |b: u8| b.is_ascii_alphanumeric() || b"_.:-".contains(&b);
    (!c.is_empty() && c.len() <= CODE_MAX_BYTES && c.bytes().all(identifier)).then_some(c)
}

/// The providers whose success answers are always JSON objects.
fn strict_2xx(provider: Provider) -> bool {
    matches!(
        provider,
        Provider::OpenAi | Provider::Anthropic | Provider::Google
    )
}

/// Whether `body` is one well-formed JSON array (judged by its start when cut).
fn is_json_array(body: &[u8], complete: bool) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        && (!complete || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok())
}

/// Whether `body` is one well-formed JSON object, checked without building it.
/// A body cut at the read limit (a long model list) can only show its start.
fn is_json_object(body: &[u8], complete: bool) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && (!complete || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok())
}

/// What the status alone says, for bodies byok cannot read.
fn status_only(status: u16) -> Reading {
    match status {
        500 | 502 | 503 | 504 => Reading::new(Verdict::ProviderUnavailable, true),
        _ => Reading::new(Verdict::Indeterminate, false),
    }
}

/// The wait a message names after `marker` ("Please try again in 5.289s.",
/// "retry after 86400 seconds"): a Go-style duration, or whole seconds
/// followed by "second".
fn delay_in_message(message: &str, marker: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find(marker)? + marker.len();
    let rest = lower[at..].trim_start();
    let token: &str = rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')')
        .next()?;
    let token = token.trim_end_matches('.');
    if token.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = token.parse().ok()?;
        let unit = rest[token.len()..].trim_start();
        return (unit.starts_with("second") || unit.is_empty() || unit.starts_with('.'))
            .then(|| Duration::from_secs(secs.min(86_400 * 7)));
    }
    parse_go_duration(token)
}

/// The message, if it is not empty.
fn some(message: &str) -> Option<String> {
    (!message.is_empty()).then(|| message.to_owned())
}

/// `value[a][b]...` as a string.
fn str_at<'v>(value: Option<&'v Value>, path: &[&str]) -> Option<&'v str> {
    let mut v = value?;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

#[cfg(test)]
mod compatible_tests;
#[cfg(test)]
mod dialect_tests;
#[cfg(test)]
mod tests;

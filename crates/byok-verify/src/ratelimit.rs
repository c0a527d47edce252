//! Rate-limit state parsed from each provider's response headers.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde::Serialize;

use crate::duration::{parse_go_duration, serialize_opt_ms};

// Header names spelled out: parsing runs on every answer, so no `format!`.
const OPENAI_REQUESTS: [&str; 3] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];
const OPENAI_TOKENS: [&str; 3] = [
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];
const ANTHROPIC_REQUESTS: [&str; 3] = [
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
];
const ANTHROPIC_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
];
const ANTHROPIC_INPUT_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
];
const ANTHROPIC_OUTPUT_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
];

const SINGLE: [&str; 3] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];
const MISTRAL_REQUESTS: [&str; 2] = [
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
];
const MISTRAL_TOKENS: [&str; 2] = [
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
];

/// One limit's state: how many per window, how many are left, when it resets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests or tokens allowed per window.
    pub limit: Option<u64>,
    /// Requests or tokens left in the current window.
    pub remaining: Option<u64>,
    /// Time until the window resets, from when the answer arrived (JSON: `reset_ms`).
    #[serde(rename = "reset_ms", serialize_with = "serialize_opt_ms")]
    pub reset_after: Option<Duration>,
}

impl RateLimit {
    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_after.is_none()
    }

    fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Parsed rate-limit headers, per the provider's
/// [`RateLimitDialect`](byok_keys::spec::RateLimitDialect): OpenAI-style
/// `x-ratelimit-*` (OpenAI, Groq, xAI, Together, Fireworks, Azure), Anthropic
/// `anthropic-ratelimit-*`, OpenRouter `X-RateLimit-*` (requests), Mistral
/// `x-ratelimit-*-minute`. Gemini and others send none: every field is `None` there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RateLimits {
    /// Requests per window.
    pub requests: Option<RateLimit>,
    /// Tokens per window (OpenAI, Anthropic).
    pub tokens: Option<RateLimit>,
    /// Input tokens per window (Anthropic).
    pub input_tokens: Option<RateLimit>,
    /// Output tokens per window (Anthropic).
    pub output_tokens: Option<RateLimit>,
}

impl RateLimits {
    /// Parse OpenAI headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
    /// resets as Go durations (`6m0s`). Azure's `-1` means "unknown" and is dropped.
    pub fn from_openai(headers: &HeaderMap) -> RateLimits {
        let one = |[limit, remaining, reset]: [&str; 3]| {
            let l = RateLimit {
                limit: number(headers, limit),
                remaining: number(headers, remaining),
                reset_after: text(headers, reset).and_then(parse_go_duration),
            };
            (!l.is_empty()).then_some(l)
        };
        RateLimits {
            requests: one(OPENAI_REQUESTS),
            tokens: one(OPENAI_TOKENS),
            ..RateLimits::default()
        }
    }

    /// Parse Anthropic headers: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
    /// resets as RFC 3339 timestamps, taken relative to `now`.
    pub fn from_anthropic(headers: &HeaderMap, now: Timestamp) -> RateLimits {
        let one = |[limit, remaining, reset]: [&str; 3]| {
            let l = RateLimit {
                limit: number(headers, limit),
                remaining: number(headers, remaining),
                reset_after: text(headers, reset)
                    .and_then(|s| s.parse::<Timestamp>().ok())
                    .map(|t| until(now, t)),
            };
            (!l.is_empty()).then_some(l)
        };
        RateLimits {
            requests: one(ANTHROPIC_REQUESTS),
            tokens: one(ANTHROPIC_TOKENS),
            input_tokens: one(ANTHROPIC_INPUT_TOKENS),
            output_tokens: one(ANTHROPIC_OUTPUT_TOKENS),
        }
    }

    /// Parse OpenRouter's single limit: `X-RateLimit-{Limit,Remaining,Reset}`,
    /// the reset an epoch time in milliseconds, taken relative to `now`. Read
    /// into [`requests`](RateLimits::requests).
    pub fn from_single(headers: &HeaderMap, now: Timestamp) -> RateLimits {
        let [limit, remaining, reset] = SINGLE;
        let l = RateLimit {
            limit: number(headers, limit),
            remaining: number(headers, remaining),
            reset_after: text(headers, reset)
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .map(|t| until(now, t)),
        };
        RateLimits {
            requests: (!l.is_empty()).then_some(l),
            ..RateLimits::default()
        }
    }

    /// Parse Mistral's per-minute limits: `x-ratelimit-{limit,remaining}-{req,tokens}-minute`
    /// (no reset is sent).
    pub fn from_mistral(headers: &HeaderMap) -> RateLimits {
        let one = |[limit, remaining]: [&str; 2]| {
            let l = RateLimit {
                limit: number(headers, limit),
                remaining: number(headers, remaining),
                reset_after: None,
            };
            (!l.is_empty()).then_some(l)
        };
        RateLimits {
            requests: one(MISTRAL_REQUESTS),
            tokens: one(MISTRAL_TOKENS),
            ..RateLimits::default()
        }
    }

    /// Whether no header was found.
    pub fn is_empty(&self) -> bool {
        self.all().all(|l| l.is_none())
    }

    /// The longest reset among the limits that are used up (`remaining == 0`):
    /// the earliest moment a retry can succeed.
    pub fn exhausted_reset(&self) -> Option<Duration> {
        self.all()
            .flatten()
            .filter(|l| l.exhausted())
            .filter_map(|l| l.reset_after)
            .max()
    }

    fn all(&self) -> impl Iterator<Item = Option<RateLimit>> {
        [
            self.requests,
            self.tokens,
            self.input_tokens,
            self.output_tokens,
        ]
        .into_iter()
    }
}

/// `then - now`, zero when `then` is in the past.
pub(crate) fn until(now: Timestamp, then: Timestamp) -> Duration {
    let ms = then.as_millisecond().saturating_sub(now.as_millisecond());
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    text(headers, name)?.parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn openai_headers_with_go_durations() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "29990"),
            ("x-ratelimit-reset-tokens", "12ms"),
        ]);
        let r = RateLimits::from_openai(&h);
        let req = r.requests.unwrap();
        assert_eq!(req.limit, Some(500));
        assert_eq!(req.remaining, Some(0));
        assert_eq!(req.reset_after, Some(Duration::from_secs(360)));
        assert_eq!(
            r.tokens.unwrap().reset_after,
            Some(Duration::from_millis(12))
        );
        assert_eq!(r.exhausted_reset(), Some(Duration::from_secs(360)));
        assert_eq!(r.input_tokens, None);
    }

    #[test]
    fn azure_minus_one_is_unknown() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "-1"),
            ("x-ratelimit-remaining-requests", "0"),
        ]);
        let r = RateLimits::from_openai(&h);
        assert_eq!(r.requests.unwrap().limit, None);
        assert_eq!(r.exhausted_reset(), None);
    }

    #[test]
    fn anthropic_headers_with_timestamps() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:07Z"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2025-12-31T23:59:00Z",
            ),
        ]);
        let r = RateLimits::from_anthropic(&h, now);
        assert_eq!(
            r.requests.unwrap().reset_after,
            Some(Duration::from_secs(7))
        );
        assert_eq!(r.output_tokens.unwrap().reset_after, Some(Duration::ZERO));
        assert_eq!(r.exhausted_reset(), Some(Duration::from_secs(7)));
        assert!(r.tokens.is_none());
    }

    #[test]
    fn no_headers_is_empty_and_serialises_as_nulls() {
        let r = RateLimits::from_openai(&HeaderMap::new());
        assert!(r.is_empty());
        let j = serde_json::to_value(r).unwrap();
        assert_eq!(j["requests"], serde_json::Value::Null);
    }

    #[test]
    fn openrouter_reset_is_epoch_milliseconds() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let reset = now.as_millisecond() + 2_500;
        let h = headers(&[
            ("X-RateLimit-Limit", "20"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", &reset.to_string()),
        ]);
        let r = RateLimits::from_single(&h, now);
        let req = r.requests.unwrap();
        assert_eq!((req.limit, req.remaining), (Some(20), Some(0)));
        assert_eq!(req.reset_after, Some(Duration::from_millis(2500)));
        assert_eq!(r.exhausted_reset(), Some(Duration::from_millis(2500)));
        let junk = headers(&[("X-RateLimit-Reset", "soon")]);
        assert!(RateLimits::from_single(&junk, now).is_empty());
        let huge = headers(&[("X-RateLimit-Reset", &i64::MAX.to_string())]);
        assert!(RateLimits::from_single(&huge, now).is_empty());
    }

    #[test]
    fn mistral_per_minute_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-req-minute", "60"),
            ("x-ratelimit-remaining-req-minute", "59"),
            ("x-ratelimit-limit-tokens-minute", "500000"),
            ("x-ratelimit-remaining-tokens-minute", "0"),
        ]);
        let r = RateLimits::from_mistral(&h);
        assert_eq!(r.requests.unwrap().remaining, Some(59));
        assert_eq!(r.tokens.unwrap().limit, Some(500_000));
        // Used up, but no reset is sent: no wait to derive.
        assert_eq!(r.exhausted_reset(), None);
    }
}

//! How long a server asked us to wait: `retry-after-ms`, `retry-after`
//! (seconds or HTTP date), exhausted rate-limit resets, Gemini `RetryInfo`.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;

use crate::duration::seconds;
use crate::ratelimit::{RateLimits, text, until};

/// The server's wait hint, most explicit first: `retry-after-ms`, then
/// `retry-after`, then the reset of a used-up rate limit, then a delay found in
/// the body (Gemini `RetryInfo.retryDelay`).
pub(crate) fn server_wait(
    headers: &HeaderMap,
    limits: &RateLimits,
    body_delay: Option<Duration>,
    now: Timestamp,
) -> Option<Duration> {
    retry_after_ms(headers)
        .or_else(|| retry_after(headers, now))
        .or_else(|| limits.exhausted_reset())
        .or(body_delay)
}

/// `retry-after-ms: 1500` (milliseconds, possibly fractional).
fn retry_after_ms(headers: &HeaderMap) -> Option<Duration> {
    let ms: f64 = text(headers, "retry-after-ms")?.parse().ok()?;
    seconds(ms / 1000.0)
}

/// `retry-after: 7` (seconds) or `retry-after: Wed, 21 Oct 2026 07:28:00 GMT`.
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let v = text(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return seconds(secs);
    }
    let when = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(v)
        .ok()?;
    Some(until(now, when))
}

/// `x-should-retry: true|false` (OpenAI, Anthropic): overrides the verdict table.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match text(headers, "x-should-retry")? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn now() -> Timestamp {
        "2026-10-21T07:28:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let headers = h(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        let w = server_wait(&headers, &RateLimits::default(), None, now());
        assert_eq!(w, Some(Duration::from_millis(250)));
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let w = server_wait(
            &h(&[("retry-after", "7")]),
            &RateLimits::default(),
            None,
            now(),
        );
        assert_eq!(w, Some(Duration::from_secs(7)));
        let headers = h(&[("retry-after", "Wed, 21 Oct 2026 07:28:30 GMT")]);
        let w = server_wait(&headers, &RateLimits::default(), None, now());
        assert_eq!(w, Some(Duration::from_secs(30)));
        let past = h(&[("retry-after", "Wed, 21 Oct 2026 07:00:00 GMT")]);
        let w = server_wait(&past, &RateLimits::default(), None, now());
        assert_eq!(w, Some(Duration::ZERO));
        let junk = h(&[("retry-after", "soon")]);
        assert_eq!(
            server_wait(&junk, &RateLimits::default(), None, now()),
            None
        );
    }

    #[test]
    fn rate_limit_reset_then_body_delay() {
        let headers = h(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1.5s"),
        ]);
        let limits = RateLimits::from_openai(&headers);
        let body = Some(Duration::from_secs(47));
        assert_eq!(
            server_wait(&headers, &limits, body, now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            server_wait(&HeaderMap::new(), &RateLimits::default(), body, now()),
            body
        );
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(should_retry(&h(&[("x-should-retry", "true")])), Some(true));
        assert_eq!(
            should_retry(&h(&[("x-should-retry", "false")])),
            Some(false)
        );
        assert_eq!(should_retry(&h(&[("x-should-retry", "maybe")])), None);
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }
}

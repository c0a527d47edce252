//! From an HTTP answer (status, headers AND body) to a [`Verdict`], per provider.
//!
//! The status code alone lies: OpenAI's "no credits" is a 429 like a rate limit,
//! Anthropic's is a 400. Each provider module reads its own error body shape.
//! Pure functions: no I/O, no clock except the `now` passed in.

mod anthropic;
mod gemini;
mod openai;

use std::time::Duration;

use byok_keys::{ApiKey, Provider, scrub};
use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde_json::Value;

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

/// Classify one answer of `provider` per the verdict table in `docs/PROVIDERS.md`.
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
    let reading = match status {
        200..=299 if is_json_object(body, complete) => Reading::new(Verdict::Valid, false),
        // A 2xx that is not a JSON object: a captive portal or proxy page, not the provider.
        200..=299 => Reading::new(Verdict::Indeterminate, false),
        _ => {
            let json: Option<Value> = serde_json::from_slice(body).ok();
            let mut r = match provider {
                Provider::OpenAi => openai::read(status, json.as_ref()),
                Provider::Anthropic => anthropic::read(status, json.as_ref()),
                _ => gemini::read(status, json.as_ref()),
            };
            if matches!(r.verdict, Verdict::Indeterminate) && matches!(status, 408 | 409) {
                r.retryable = true;
            }
            r
        }
    };
    let rate_limits = match provider {
        Provider::OpenAi => RateLimits::from_openai(headers),
        Provider::Anthropic => RateLimits::from_anthropic(headers, now),
        _ => RateLimits::default(),
    };
    let retry_after = hint::server_wait(headers, &rate_limits, reading.body_delay, now);
    let retryable = match provider {
        Provider::OpenAi | Provider::Anthropic => {
            hint::should_retry(headers).unwrap_or(reading.retryable)
        }
        _ => reading.retryable,
    };
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

/// Whether `body` is one well-formed JSON object, checked without building it.
/// A body cut at the read limit (a long model list) can only show its start.
fn is_json_object(body: &[u8], complete: bool) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && (!complete || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok())
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
mod tests {
    use super::*;
    use byok_keys::KeyKind;

    #[test]
    fn two_hundred_needs_a_json_object() {
        let h = HeaderMap::new();
        let ok = classify(Provider::OpenAi, 200, &h, br#"{"object":"list","data":[]}"#);
        assert_eq!(ok.verdict, Verdict::Valid);
        let portal = classify(Provider::OpenAi, 200, &h, b"<html>Sign in to Wi-Fi</html>");
        assert_eq!(portal.verdict, Verdict::Indeterminate);
        assert!(!portal.retryable);
    }

    #[test]
    fn a_cut_success_body_is_judged_by_its_start() {
        let h = HeaderMap::new();
        let now = Timestamp::now();
        let cut = br#"{"object":"list","data":[{"id":"gpt-4o"#;
        let c = classify_at(Provider::OpenAi, 200, &h, cut, false, now, None);
        assert_eq!(c.verdict, Verdict::Valid);
        let c = classify_at(Provider::OpenAi, 200, &h, cut, true, now, None);
        assert_eq!(c.verdict, Verdict::Indeterminate);
        let c = classify_at(Provider::OpenAi, 200, &h, b"<html>", false, now, None);
        assert_eq!(c.verdict, Verdict::Indeterminate);
    }

    #[test]
    fn timeout_and_conflict_statuses_retry_as_indeterminate() {
        for status in [408, 409] {
            let c = classify(Provider::Google, status, &HeaderMap::new(), b"");
            assert_eq!(c.verdict, Verdict::Indeterminate);
            assert!(c.retryable);
        }
    }

    fn openai_error(message: &str, code: &str) -> Vec<u8> {
        serde_json::json!({"error": {"message": message, "type": "x", "param": null, "code": code}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn messages_are_redacted_and_bounded() {
        let key = byok_keys::fake::key(Provider::OpenAi, byok_keys::KeyKind::Project, 3);
        let body = openai_error(
            &format!("Incorrect API key provided: {key}. {}", "x".repeat(500)),
            "c",
        );
        let m = classify(Provider::OpenAi, 401, &HeaderMap::new(), &body)
            .provider_message
            .unwrap();
        assert!(!m.contains(&key));
        assert!(m.contains("sk-proj-…"));
        // At most 300 characters, the cut marked by `…` (counted).
        assert_eq!(m.chars().count(), MESSAGE_MAX_CHARS);
        assert!(m.ends_with('…'));
    }

    #[test]
    fn codes_are_identifiers_or_nothing() {
        let key = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 4);
        let h = HeaderMap::new();
        let code_of = |code: &str| {
            classify(Provider::OpenAi, 401, &h, &openai_error("m", code)).provider_code
        };
        assert_eq!(
            code_of("invalid_api_key").as_deref(),
            Some("invalid_api_key")
        );
        assert_eq!(code_of("a.b:c-d_9").as_deref(), Some("a.b:c-d_9"));
        for bad in [
            key.as_str(),
            "has space",
            "\u{1b}[32mvalid",
            "é",
            "x".repeat(65).as_str(),
        ] {
            assert_eq!(code_of(bad), None, "{bad:?}");
        }
        assert_eq!(code_of(&"x".repeat(64)).map(|c| c.len()), Some(64));
    }

    #[test]
    fn every_fragment_of_the_known_key_is_scrubbed_before_cutting() {
        let raw = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 6);
        let key = ApiKey::parse(&raw).unwrap();
        let forms = [
            raw.clone(),
            raw[..raw.len() - 1].to_owned(),
            raw[..100].to_owned(),
            format!("{}{}", "x ".repeat(140), &raw[..50]),
        ];
        for form in &forms {
            let mut h = HeaderMap::new();
            h.insert("x-request-id", form.parse().unwrap());
            let body = openai_error(form, form);
            for c in [
                classify_for_key(&key, 401, &h, &body),
                classify_at(
                    Provider::OpenAi,
                    401,
                    &h,
                    &body,
                    true,
                    Timestamp::now(),
                    Some(&raw),
                ),
            ] {
                let shown = format!("{c:?}");
                for w in raw.as_bytes()[8..].windows(12) {
                    let w = std::str::from_utf8(w).unwrap();
                    assert!(!shown.contains(w), "{shown}");
                }
                assert_eq!(c.provider_code, None);
            }
        }
    }

    proptest::proptest! {
        /// Any answer classifies without panicking; key and account problems are
        /// never retried unless the server says so.
        #[test]
        fn any_answer_is_classified(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), p in 0usize..3) {
            let provider = Provider::ALL[p];
            let c = classify(provider, status, &HeaderMap::new(), &body);
            proptest::prop_assert_eq!(c.status, status);
            if c.retryable {
                proptest::prop_assert!(matches!(
                    c.verdict,
                    Verdict::RateLimited { .. } | Verdict::ProviderUnavailable | Verdict::Indeterminate
                ), "{:?}", c.verdict);
            }
        }

        /// Well-formed error bodies with arbitrary codes and messages never panic
        /// and never turn a no-credits or invalid verdict retryable.
        #[test]
        fn shaped_bodies_with_any_text(status in 400u16..600, code in "[a-z_]{0,30}", message in "\\PC{0,80}") {
            let bodies = [
                serde_json::json!({"error": {"message": message, "type": code, "param": null, "code": code}}),
                serde_json::json!({"type": "error", "error": {"type": code, "message": message}}),
                serde_json::json!({"error": {"code": status, "message": message, "status": code, "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code}]}}),
            ];
            for (provider, body) in Provider::ALL.into_iter().zip(bodies) {
                let c = classify(provider, status, &HeaderMap::new(), body.to_string().as_bytes());
                if matches!(c.verdict, Verdict::NoCredits(_) | Verdict::Invalid(_) | Verdict::Restricted(_)) {
                    proptest::prop_assert!(!c.retryable);
                }
            }
        }
    }

    #[test]
    fn request_id_from_header_or_body() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", "req_123".parse().unwrap());
        let c = classify(Provider::OpenAi, 500, &h, b"");
        assert_eq!(c.request_id.as_deref(), Some("req_123"));
        let body = br#"{"type":"error","error":{"type":"api_error","message":"Internal"},"request_id":"req_body"}"#;
        let c = classify(Provider::Anthropic, 500, &HeaderMap::new(), body);
        assert_eq!(c.request_id.as_deref(), Some("req_body"));
    }

    #[test]
    fn a_key_echoed_as_request_id_is_masked() {
        let key = byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, 5);
        let mut h = HeaderMap::new();
        h.insert("x-request-id", format!("req {key}").parse().unwrap());
        let id = classify(Provider::OpenAi, 500, &h, b"").request_id.unwrap();
        assert!(!id.contains(&key[8..160]), "{id}");
        assert!(id.starts_with("req sk-proj-…"));
    }
}

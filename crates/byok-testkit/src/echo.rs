//! Hostile answers: a provider (or a proxy in front of it) that repeats the key it
//! was sent in every field of its answer a client might keep or print.
//!
//! For leak tests. [`echo_answers`] gives, for one provider and one key, an answer
//! per (field, form): the key in the error code, the error type, Anthropic's
//! `error.details.error_code`, Gemini's `ErrorInfo.reason` and `status`, the
//! message, `param`, request-id headers and body, retry hints, rate-limit headers,
//! a body that is not JSON; whole, cut by the provider at 300 characters, its
//! first 100 characters, one character short, glued to more key characters,
//! straddling a 300-character cut (see [`echo_forms`]). [`echo_refusal`] is a
//! wrong-key refusal the provider's verdict table recognises (so a client refuses
//! the key) carrying the key in every field that does not decide the verdict.
//!
//! ```
//! use byok_keys::{KeyKind, Provider, fake};
//! use byok_testkit::echo_answers;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
//! let answers = echo_answers(Provider::OpenAi, &key);
//! let server = answers[0].serve().await; // every request gets this answer
//! let sent = reqwest::get(format!("{}/v1/models", server.uri())).await?;
//! assert_eq!(sent.status(), answers[0].status);
//! # Ok(())
//! # }
//! ```

use byok_keys::Provider;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One hostile answer: what a mock sends back to every request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EchoAnswer {
    /// Which field carries which form of the key (`openai error.code: key minus its
    /// last character`), for failure messages. Never holds the key.
    pub label: String,
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

impl EchoAnswer {
    fn new(provider: Provider, field: &str, form: &str, status: u16, body: String) -> EchoAnswer {
        EchoAnswer {
            label: format!("{provider} {field}: {form}"),
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn header(mut self, name: &str, value: &str) -> EchoAnswer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The answer as a wiremock response.
    pub fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (name, value) in &self.headers {
            t = t.append_header(name.as_str(), value.as_str());
        }
        t.set_body_raw(self.body.clone().into_bytes(), "application/json")
    }

    /// A new local server giving this answer to every request; it stops when dropped.
    pub async fn serve(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.template())
            .mount(&server)
            .await;
        server
    }
}

/// The forms in which an answer repeats `key`, each with its name.
///
/// The whole key; the key cut by the provider at a 300-character message limit
/// (what is left of it is at most 50 characters); its first 100 characters; the
/// key one character short; the key glued to more key characters (`…_OLD`); the
/// whole key straddling character 300 of a longer text.
pub fn echo_forms(key: &str) -> Vec<(&'static str, String)> {
    let kept = (key.len() / 2).min(50);
    let cut = format!("{} {key}", "x".repeat(299 - kept));
    // A key longer than 600 characters (Bedrock) starts the text.
    let straddling = format!(
        "{} {key} was refused",
        "x".repeat(299usize.saturating_sub(key.len() / 2))
    );
    vec![
        ("the whole key", key.to_owned()),
        (
            "cut at a 300-character limit",
            cut[..300].to_owned(), // ASCII
        ),
        (
            "its first 100 characters",
            key[..key.len().min(100)].to_owned(),
        ),
        ("one character short", key[..key.len() - 1].to_owned()),
        ("glued to more key characters", format!("{key}_OLD")),
        ("straddling character 300", straddling),
    ]
}

/// Every field of `provider`'s answers that could carry text, one answer per field
/// and [form](echo_forms) of `key`.
pub fn echo_answers(provider: Provider, key: &str) -> Vec<EchoAnswer> {
    echo_forms(key)
        .into_iter()
        .flat_map(|(form, k)| fields(provider, form, &k))
        .collect()
}

/// A wrong-key refusal that `provider`'s verdict table recognises, with `form` of
/// the key in every field that does not decide the verdict: message, the other
/// code fields, request ids (headers and body), retry and rate-limit headers.
pub fn echo_refusal(provider: Provider, form: &str, echoed: &str) -> EchoAnswer {
    let k = echoed;
    let (status, body) = match provider {
        Provider::OpenAi => (
            401,
            json!({"error": {"message": k, "type": k, "param": k, "code": "invalid_api_key"}}),
        ),
        Provider::Anthropic => (
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": k,
                "details": {"error_code": k}}, "request_id": k}),
        ),
        _ => (
            400,
            json!({"error": {"code": 400, "message": k, "status": k, "details": [
                error_info("API_KEY_INVALID", k),
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": k},
            ]}}),
        ),
    };
    with_echoing_headers(
        EchoAnswer::new(provider, "refusal", form, status, body.to_string()),
        provider,
        k,
    )
}

fn error_info(reason: &str, k: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
        "domain": k, "metadata": {"key": k, "service": k}})
}

/// Request ids, retry hints and rate-limit headers, all set to `k`.
fn with_echoing_headers(answer: EchoAnswer, provider: Provider, k: &str) -> EchoAnswer {
    let names: &[&str] = match provider {
        Provider::OpenAi => &[
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens",
        ],
        Provider::Anthropic => &[
            "anthropic-ratelimit-requests-limit",
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-output-tokens-reset",
        ],
        _ => &[],
    };
    let mut answer = answer
        .header("x-request-id", k)
        .header("request-id", k)
        .header("retry-after", k)
        .header("retry-after-ms", k)
        .header("x-should-retry", k);
    for name in names {
        answer = answer.header(name, k);
    }
    answer
}

/// The answers of one form `k`, one per field.
fn fields(provider: Provider, form: &str, k: &str) -> Vec<EchoAnswer> {
    let one = |field: &str, status: u16, body: Value| {
        EchoAnswer::new(provider, field, form, status, body.to_string())
    };
    let mut answers = match provider {
        Provider::OpenAi => {
            let err = |message: &str, kind: &str, param: Option<&str>, code: Option<&str>| json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
            let inv = "invalid_request_error";
            vec![
                one(
                    "error.code",
                    401,
                    err("Incorrect API key provided.", inv, None, Some(k)),
                ),
                one(
                    "error.type",
                    401,
                    err("Incorrect API key provided.", k, None, None),
                ),
                one("error.type (429)", 429, err("quota", k, None, None)),
                one(
                    "error.message",
                    401,
                    err(k, inv, None, Some("invalid_api_key")),
                ),
                one(
                    "error.param",
                    401,
                    err("Bad key.", inv, Some(k), Some("invalid_api_key")),
                ),
            ]
        }
        Provider::Anthropic => {
            let err = |kind: &str, message: &str| json!({"type": "error", "error": {"type": kind, "message": message}});
            vec![
                one("error.type", 401, err(k, "invalid x-api-key")),
                one("error.type (400)", 400, err(k, "invalid request")),
                one("error.message", 401, err("authentication_error", k)),
                one(
                    "error.details.error_code",
                    429,
                    json!({"type": "error", "error": {"type": "rate_limit_error",
                        "message": "spend limit", "details": {"error_code": k}}}),
                ),
                one(
                    "request_id",
                    401,
                    json!({"type": "error", "error": {"type": "authentication_error",
                        "message": "invalid x-api-key"}, "request_id": k}),
                ),
            ]
        }
        _ => {
            let err = |status: &str, message: &str, details: Value| json!({"error": {"code": 400, "message": message, "status": status, "details": details}});
            vec![
                one(
                    "ErrorInfo.reason",
                    400,
                    err(
                        "INVALID_ARGUMENT",
                        "API key not valid.",
                        json!([error_info(k, "googleapis.com")]),
                    ),
                ),
                one("status", 400, err(k, "API key not valid.", json!([]))),
                one("status (429)", 429, err(k, "quota", json!([]))),
                one(
                    "error.message",
                    400,
                    err(
                        "INVALID_ARGUMENT",
                        k,
                        json!([error_info("API_KEY_INVALID", "googleapis.com")]),
                    ),
                ),
                one(
                    "details",
                    429,
                    err(
                        "RESOURCE_EXHAUSTED",
                        "quota",
                        json!([
                            error_info("RATE_LIMIT_EXCEEDED", k),
                            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": k},
                            {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                "violations": [{"quotaId": k, "subject": k}]},
                        ]),
                    ),
                ),
            ]
        }
    };
    answers.push(
        EchoAnswer::new(provider, "x-request-id", form, 401, "{}".into()).header("x-request-id", k),
    );
    answers.push(
        EchoAnswer::new(provider, "request-id", form, 401, "{}".into()).header("request-id", k),
    );
    answers.push(with_echoing_headers(
        EchoAnswer::new(provider, "headers", form, 401, "{}".into()),
        provider,
        k,
    ));
    answers.push(EchoAnswer::new(
        provider,
        "a body that is not JSON",
        form,
        401,
        format!("<html><body>Unauthorized: {k}</body></html>"),
    ));
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use byok_keys::{KeyKind, fake};

    #[test]
    fn every_answer_carries_a_form_of_the_key_and_labels_do_not() {
        for provider in Provider::ALL {
            let kind = match provider {
                Provider::OpenAi => KeyKind::Project,
                Provider::Anthropic => KeyKind::Api,
                other => other.spec().kinds[0],
            };
            let key = fake::key(provider, kind, 3);
            let answers = echo_answers(provider, &key);
            assert_eq!(answers.len(), 9 * echo_forms(&key).len());
            // Characters 10..30 (of a short key, 10 to its middle, which "cut" keeps too).
            let end = 30.min(key.len() / 2);
            let head = &key[10.min(end)..end];
            for a in answers
                .iter()
                .chain([&echo_refusal(provider, "whole", &key)])
            {
                assert!(!a.label.contains(&key[10..]), "{}", a.label);
                let all = format!("{:?}{}", a.headers, a.body);
                // Every form keeps characters 10..30, but "cut".
                assert!(all.contains(head) || a.label.contains("cut"), "{}", a.label);
            }
            for (name, form) in echo_forms(&key) {
                if name.starts_with("cut") {
                    assert_eq!(form.len(), 300);
                    assert!(form.ends_with(&key[..(key.len() / 2).min(50)]));
                }
            }
        }
    }
}

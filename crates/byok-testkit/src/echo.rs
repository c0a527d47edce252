//! Hostile answers: a provider (or a proxy in front of it) that repeats the key it
//! was sent in every field of its answer a client might keep or print.
//!
//! For leak tests. [`echo_answers`] gives, for one provider and one key, an answer
//! per (field, form), in the provider's own error dialect
//! ([`ErrorDialect`](byok_keys::spec::ErrorDialect)): five fields of that dialect
//! (OpenAI's `error.code`, `type`, `param`; Anthropic's `error.details.error_code`
//! and `request_id`; Gemini's `ErrorInfo.reason` and `status`; OpenRouter's
//! `error.metadata.raw` and `limit_source`; xAI's `code` and `error`; Mistral's
//! `detail`, `code` and `type`; Azure's `innererror`; AWS's `Message`,
//! `x-amzn-ErrorType` and `__type`; Cohere's `id`, …) and four every provider shares
//! (request-id headers, every retry and rate-limit header of the provider's
//! [`RateLimitDialect`](byok_keys::spec::RateLimitDialect), a body that is not
//! JSON); each in every [form](echo_forms): whole, cut by the provider at 300
//! characters, its first 100 characters, one character short, glued to more key
//! characters, straddling a 300-character cut. [`echo_refusal`] is a wrong-key
//! refusal the provider's verdict reader classifies as `invalid` (so a client
//! refuses the key) carrying the key in every field that does not decide the verdict.
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
use byok_keys::spec::{ErrorDialect, RateLimitDialect};
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

/// A wrong-key refusal that `provider`'s verdict reader classifies as `invalid`,
/// with `form` of the key in every field that does not decide the verdict: message,
/// the other code fields, request ids (headers and body), retry and rate-limit headers.
///
/// The status decides where the dialect lets it (401 for all but Gemini, whose
/// wrong key is a 400 decided by `ErrorInfo.reason`), so the key can sit even in
/// the fields that xAI and AWS read as text (`error`, `Message`).
pub fn echo_refusal(provider: Provider, form: &str, echoed: &str) -> EchoAnswer {
    let k = echoed;
    let (status, body) = match provider.spec().errors {
        ErrorDialect::OpenAi => (
            401,
            json!({"error": {"message": k, "type": k, "param": k, "code": "invalid_api_key"}}),
        ),
        ErrorDialect::Anthropic => (
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": k,
                "details": {"error_code": k}}, "request_id": k}),
        ),
        ErrorDialect::Gemini => (
            400,
            json!({"error": {"code": 400, "message": k, "status": k, "details": [
                error_info("API_KEY_INVALID", k),
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": k},
            ]}}),
        ),
        // A 401 is Invalid whatever the code and metadata say.
        ErrorDialect::OpenRouter => (
            401,
            json!({"error": {"code": 401, "message": k, "metadata": {"raw": k,
                "provider_name": k, "limit_source": k, "remedy_hint": k}}, "user_id": k}),
        ),
        // xAI reads its message before the status: a key's characters never say
        // "credits", and 401 decides the rest.
        ErrorDialect::XAi => (401, json!({"code": k, "error": k})),
        ErrorDialect::Mistral => (
            401,
            json!({"object": "error", "message": k, "detail": k, "type": k, "param": k,
                "code": k, "request_id": k}),
        ),
        ErrorDialect::Azure => (
            401,
            json!({"error": {"code": k, "message": k, "param": k,
                "innererror": {"code": k, "message": k}}}),
        ),
        // (401, _) is Invalid whatever the type header and the message say.
        ErrorDialect::Aws => (
            401,
            json!({"Message": k, "message": k, "__type": k, "error": {"code": k, "message": k}}),
        ),
        ErrorDialect::Cohere => (401, json!({"id": k, "message": k, "data": k})),
        // A dialect newer than this module: only the status can be read.
        _ => (401, json!({"error": {"message": k}})),
    };
    let mut answer = EchoAnswer::new(provider, "refusal", form, status, body.to_string());
    if provider.spec().errors == ErrorDialect::Aws {
        answer = answer.header("x-amzn-ErrorType", k);
    }
    with_echoing_headers(answer, provider, k)
}

fn error_info(reason: &str, k: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
        "domain": k, "metadata": {"key": k, "service": k}})
}

/// Request ids (the common ones and the dialect's own), retry hints and the
/// provider's rate-limit headers, all set to `k`.
fn with_echoing_headers(answer: EchoAnswer, provider: Provider, k: &str) -> EchoAnswer {
    let spec = provider.spec();
    let limits: &[&str] = match spec.rate_limits {
        RateLimitDialect::OpenAi => &[
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ],
        RateLimitDialect::Anthropic => &[
            "anthropic-ratelimit-requests-limit",
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-output-tokens-reset",
        ],
        RateLimitDialect::Single => &[
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        RateLimitDialect::Mistral => &[
            "x-ratelimit-limit-req-minute",
            "x-ratelimit-remaining-req-minute",
            "x-ratelimit-limit-tokens-minute",
            "x-ratelimit-remaining-tokens-minute",
            "x-ratelimit-tokens-query-cost",
        ],
        RateLimitDialect::None => &[],
        // A dialect newer than this module: its header names are not known here.
        _ => &[],
    };
    let ids: &[&str] = match spec.errors {
        ErrorDialect::Azure => &["apim-request-id", "x-ms-client-request-id", "x-ms-region"],
        ErrorDialect::Aws => &["x-amzn-RequestId", "x-amz-apigw-id"],
        ErrorDialect::Mistral => &["mistral-correlation-id"],
        ErrorDialect::Cohere => &["x-debug-trace-id", "x-trial-endpoint-call-remaining"],
        ErrorDialect::Gemini => &["x-goog-request-id"],
        _ => &[],
    };
    let mut answer = answer
        .header("x-request-id", k)
        .header("request-id", k)
        .header("retry-after", k)
        .header("retry-after-ms", k)
        .header("x-should-retry", k);
    for name in ids.iter().chain(limits) {
        answer = answer.header(name, k);
    }
    answer
}

/// The answers of one form `k`, one per field.
fn fields(provider: Provider, form: &str, k: &str) -> Vec<EchoAnswer> {
    let one = |field: &str, status: u16, body: Value| {
        EchoAnswer::new(provider, field, form, status, body.to_string())
    };
    let mut answers = match provider.spec().errors {
        ErrorDialect::OpenAi => {
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
        ErrorDialect::Anthropic => {
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
        ErrorDialect::Gemini => {
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
        ErrorDialect::OpenRouter => {
            let err = |code: Value, message: &str, metadata: Value| json!({"error": {"code": code, "message": message, "metadata": metadata}});
            vec![
                one("error.message", 401, err(json!(401), k, json!({}))),
                one(
                    "error.code (a string)",
                    401,
                    err(json!(k), "User not found.", json!({})),
                ),
                one(
                    "error.metadata.raw",
                    502,
                    err(
                        json!(502),
                        "Provider returned error",
                        json!({"raw": k, "provider_name": "OpenAI"}),
                    ),
                ),
                // `limit_source` becomes the report's code at a 402.
                one(
                    "error.metadata.limit_source",
                    402,
                    err(
                        json!(402),
                        "Insufficient credits",
                        json!({"limit_source": k}),
                    ),
                ),
                one(
                    "error.metadata.remedy_hint",
                    402,
                    err(
                        json!(402),
                        "Key limit exceeded",
                        json!({"limit_source": "openrouter_key_limit", "remedy_hint": k}),
                    ),
                ),
            ]
        }
        ErrorDialect::XAi => {
            let err = |code: &str, error: &str| json!({"code": code, "error": error});
            vec![
                one("error", 400, err("Client specified an invalid argument", k)),
                one("code", 403, err(k, "The caller does not have permission")),
                one("code (400)", 400, err(k, "Incorrect API key provided")),
                // The decisive words beside the key: the verdict holds, the key is dropped.
                one(
                    "error (no credits)",
                    429,
                    err(
                        "Too many requests",
                        &format!(
                            "Your team {k} has either used all available credits or reached its monthly spending limit."
                        ),
                    ),
                ),
                one(
                    "error.message (OpenAI-shaped)",
                    401,
                    json!({"error": {"message": k, "type": k, "code": k}}),
                ),
            ]
        }
        ErrorDialect::Mistral => {
            let err = |message: &str, kind: &str, param: Option<&str>, code: &str| json!({"object": "error", "message": message, "type": kind, "param": param, "code": code});
            vec![
                one(
                    "message",
                    401,
                    json!({"message": k, "request_id": "0123456789abcdef"}),
                ),
                one("detail", 401, json!({"detail": k})),
                one(
                    "code",
                    429,
                    err("Rate limit exceeded", "rate_limited", None, k),
                ),
                one("type", 429, err("Rate limit exceeded", k, None, "1300")),
                one(
                    "param and request_id",
                    400,
                    json!({"object": "error", "message": "Invalid model", "type": "invalid_model",
                        "param": k, "code": "1500", "request_id": k}),
                ),
            ]
        }
        ErrorDialect::Azure => {
            let denied = "Access denied due to invalid subscription key or wrong API endpoint.";
            vec![
                one(
                    "error.code",
                    401,
                    json!({"error": {"code": k, "message": denied}}),
                ),
                one(
                    "error.message",
                    401,
                    json!({"error": {"code": "401", "message": k}}),
                ),
                one(
                    "error.message (429)",
                    429,
                    json!({"error": {"code": "429", "message": format!(
                        "{k} exceeded token rate limit of your current S0 pricing tier. Please retry after 5 seconds."
                    )}}),
                ),
                one(
                    "error.innererror",
                    400,
                    json!({"error": {"code": "content_filter", "message": "The response was filtered.",
                        "param": "prompt", "status": 400, "innererror": {"code": k,
                        "content_filter_result": {"hate": {"filtered": true, "severity": k}}}}}),
                ),
                one(
                    "error.param",
                    404,
                    json!({"error": {"code": "DeploymentNotFound", "message": "The API deployment does not exist.",
                        "param": k}}),
                ),
            ]
        }
        ErrorDialect::Aws => {
            let denied =
                "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/";
            vec![
                one("Message", 403, json!({"Message": k})).header("x-amzn-ErrorType", denied),
                one("message", 400, json!({"message": k}))
                    .header("x-amzn-ErrorType", "ValidationException"),
                one(
                    "x-amzn-ErrorType",
                    403,
                    json!({"Message": "Authentication failed: Please make sure your API Key is valid."}),
                )
                .header("x-amzn-ErrorType", k),
                one(
                    "__type",
                    429,
                    json!({"__type": k, "message": "Too many requests, please wait before trying again."}),
                ),
                one(
                    "error.code (Mantle)",
                    401,
                    json!({"error": {"code": k, "message": "Invalid bearer token"}}),
                ),
            ]
        }
        ErrorDialect::Cohere => vec![
            one("message", 401, json!({"id": "5d2a0a0e", "message": k})),
            one("id", 401, json!({"id": k, "message": "invalid api token"})),
            one(
                "message (429, trial)",
                429,
                json!({"message": format!(
                    "You are using a Trial key {k}, which is limited to 1000 API calls / month."
                )}),
            ),
            one("message (402)", 402, json!({"id": k, "message": k})),
            one(
                "data",
                400,
                json!({"id": "5d2a0a0e", "message": "invalid request", "data": k}),
            ),
        ],
        // A dialect newer than this module: the key where any reader looks first.
        _ => vec![one("error.message", 401, json!({"error": {"message": k}}))],
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
    // Perplexity's 401 is an openresty HTML page.
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

    /// The shape of a field's answer: its status and the JSON paths of its body.
    fn shape(a: &EchoAnswer) -> String {
        fn paths(v: &Value, at: &str, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => m
                    .iter()
                    .for_each(|(k, v)| paths(v, &format!("{at}.{k}"), out)),
                Value::Array(a) => a.iter().for_each(|v| paths(v, &format!("{at}[]"), out)),
                _ => out.push(at.to_owned()),
            }
        }
        let mut out = Vec::new();
        if let Ok(v) = serde_json::from_str::<Value>(&a.body) {
            paths(&v, "", &mut out);
        }
        format!("{} {out:?}", a.status)
    }

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
            // Five fields of the provider's own dialect, four shared, in every form.
            assert_eq!(answers.len(), 9 * echo_forms(&key).len(), "{provider}");
            // Characters 10..30 (of a short key, 10 to its middle, which "cut" keeps too).
            let end = 30.min(key.len() / 2);
            let head = &key[10.min(end)..end];
            for a in answers
                .iter()
                .chain([&echo_refusal(provider, "whole", &key)])
            {
                assert!(!a.label.contains(&key[10..]), "{}", a.label);
                assert!(a.label.starts_with(&provider.to_string()), "{}", a.label);
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

    #[test]
    fn each_dialect_answers_in_its_own_shape() {
        use std::collections::BTreeMap;
        // The bodies of one dialect's own fields (status and JSON paths), per dialect.
        let mut shapes: BTreeMap<String, (Provider, Vec<String>)> = BTreeMap::new();
        for provider in Provider::ALL {
            let key = fake::key(provider, provider.spec().kinds[0], 4);
            let own: Vec<String> = echo_answers(provider, &key)
                .iter()
                .take(5)
                .map(shape)
                .collect();
            let dialect = format!("{:?}", provider.spec().errors);
            match shapes.get(&dialect) {
                // Providers sharing a dialect share its shapes.
                Some((first, seen)) => assert_eq!(seen, &own, "{provider} and {first}"),
                None => {
                    shapes.insert(dialect, (provider, own));
                }
            }
        }
        // No dialect borrows another's: nine dialects, nine different sets of shapes.
        let distinct: std::collections::BTreeSet<_> = shapes.values().map(|(_, s)| s).collect();
        assert_eq!(distinct.len(), shapes.len(), "{shapes:#?}");
        assert_eq!(shapes.len(), 9);
        // The dialect's own headers: AWS's error type, Azure's request id.
        let has = |p: Provider, name: &str| {
            let key = fake::key(p, p.spec().kinds[0], 5);
            echo_refusal(p, "whole", &key)
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == &key)
        };
        assert!(has(Provider::Bedrock, "x-amzn-ErrorType"));
        assert!(has(Provider::AzureOpenAi, "apim-request-id"));
        assert!(has(Provider::OpenRouter, "X-RateLimit-Reset"));
        assert!(has(
            Provider::Mistral,
            "x-ratelimit-remaining-tokens-minute"
        ));
        assert!(!has(Provider::Cohere, "x-ratelimit-reset-requests"));
    }
}

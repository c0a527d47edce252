//! Gemini's answers: `{"error":{"code","message","status","details":[..]}}`
//! with `google.rpc` details (the field is absent when there are none, as
//! Google's JSON leaves out empty lists); no rate-limit headers. Served under
//! `/v1beta/` and `/v1/` alike.

use std::time::Duration;

use crate::reply::Reply;
use serde_json::{Value, json};

use crate::content::{self, Made};
use crate::record::{Endpoint, RecordedRequest};
use crate::reply::Events;
use crate::scenario::Scenario;

fn error(code: u16, status: &str, message: &str, details: Value) -> Reply {
    let mut error = json!({"code": code, "message": message, "status": status});
    if details.as_array().is_some_and(|d| !d.is_empty()) {
        error["details"] = details;
    }
    Reply::new(code).set_body_json(json!({ "error": error }))
}

fn error_info(reason: &str) -> Value {
    json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"}
    }])
}

fn quota(quota_id: &str, retry_delay: Option<Duration>) -> Value {
    let mut d = vec![json!({
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash-lite"},
            "quotaValue": "15"
        }]
    })];
    if let Some(delay) = retry_delay {
        d.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}s", delay.as_secs_f64())
        }));
    }
    Value::Array(d)
}

/// `MAX_TOKENS` when the cap cut the answer, else `STOP`.
fn finish_reason(made: &Made) -> &'static str {
    if made.reply.truncated {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

pub(crate) fn success(endpoint: Endpoint, model: &str, made: &Made) -> Reply {
    let body = match endpoint {
        Endpoint::Billable => json!({
            "candidates": [{"content": {"parts": [{"text": made.reply.text}], "role": "model"},
                            "finishReason": finish_reason(made), "index": 0}],
            "usageMetadata": content::gemini_usage(&made.counts),
            "modelVersion": model,
            "responseId": "byoktestkit0001"
        }),
        _ => json!({
            "models": [{
                "name": "models/gemini-2.5-flash-lite",
                "version": "001",
                "displayName": "Gemini 2.5 Flash-Lite",
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens"]
            }],
            "nextPageToken": ""
        }),
    };
    Reply::new(200).set_body_json(body)
}

/// `:streamGenerateContent`: with `?alt=sse`, `data: {GenerateContentResponse}`
/// events; without it, one JSON array of them. A chunk per word; the usage is a
/// running total, final on the last chunk, which carries the finish reason.
pub(crate) fn streamed(model: &str, alt_sse: bool, made: &Made) -> Reply {
    let chunk = |text: &str, finish: Option<&str>, usage: Value| {
        let mut candidate =
            json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        json!({"candidates": [candidate], "usageMetadata": usage,
               "modelVersion": model, "responseId": "byoktestkit0001"})
    };
    let deltas = &made.reply.deltas;
    let last = deltas.len().saturating_sub(1);
    let mut chunks: Vec<Value> = deltas
        .iter()
        .enumerate()
        .map(|(n, text)| {
            if n == last {
                chunk(
                    text,
                    Some(finish_reason(made)),
                    content::gemini_usage(&made.counts),
                )
            } else {
                let input = made.counts.input;
                chunk(
                    text,
                    None,
                    json!({"promptTokenCount": input, "totalTokenCount": input}),
                )
            }
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(chunk(
            "",
            Some(finish_reason(made)),
            content::gemini_usage(&made.counts),
        ));
    }
    if alt_sse {
        let events: Vec<_> = chunks.into_iter().map(|c| (None, c)).collect();
        Reply::new(200).set_events(Events::sse(&events, None, true), "text/event-stream")
    } else {
        Reply::new(200).set_events(
            Events::json_array(&chunks),
            "application/json; charset=UTF-8",
        )
    }
}

/// What a stream that fails after it started sends last: one more chunk that is
/// the error object (`{"error": {"code": 503, ..., "status": "UNAVAILABLE"}}`),
/// which google-genai raises as a `ServerError`; in the JSON-array form it
/// closes the array (and opens it, when `first`: nothing was sent before).
pub(crate) fn stream_error(alt_sse: bool, first: bool) -> Vec<Vec<u8>> {
    let error = json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                                 "status": "UNAVAILABLE"}});
    if alt_sse {
        Events::sse(&[(None, error)], None, true).events
    } else {
        let lead = if first { "[" } else { ",\r\n" };
        vec![format!("{lead}{error}]").into_bytes()]
    }
}

pub(crate) fn missing_auth() -> Reply {
    error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        json!([]),
    )
}

pub(crate) fn not_found(path: &str) -> Reply {
    let version = if path.contains("/v1/") {
        "v1"
    } else {
        "v1beta"
    };
    error(
        404,
        "NOT_FOUND",
        &format!("{path} is not found for API version {version}"),
        json!([]),
    )
}

pub(crate) fn rate_limited(retry_after: Duration) -> Reply {
    error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        quota(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            Some(retry_after),
        ),
    )
}

pub(crate) fn outage(status: u16) -> Reply {
    match status {
        503 => error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
        ),
        504 => error(
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
            json!([]),
        ),
        _ => error(
            status,
            "INTERNAL",
            "An internal error has occurred.",
            json!([]),
        ),
    }
}

/// The answer of a key or account scenario, `None` when this endpoint succeeds.
pub(crate) fn situation(scenario: &Scenario, endpoint: Endpoint) -> Option<Reply> {
    let billable = endpoint.is_billable();
    Some(match scenario {
        Scenario::InvalidKey => error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            error_info("API_KEY_INVALID"),
        ),
        Scenario::ExpiredKey => error(
            400,
            "INVALID_ARGUMENT",
            "API key expired. Please renew the API key.",
            error_info("API_KEY_INVALID"),
        ),
        Scenario::Suspended => error(
            403,
            "PERMISSION_DENIED",
            "Permission denied: Consumer 'api_key:redacted' has been suspended.",
            error_info("CONSUMER_SUSPENDED"),
        ),
        Scenario::ApiBlocked => error(
            403,
            "PERMISSION_DENIED",
            "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.",
            error_info("API_KEY_SERVICE_BLOCKED"),
        ),
        Scenario::ServiceDisabled => error(
            403,
            "PERMISSION_DENIED",
            "Generative Language API has not been used in project 1 before or it is disabled. Enable it by visiting the Google Cloud console, then retry.",
            error_info("SERVICE_DISABLED"),
        ),
        Scenario::Region => error(
            400,
            "FAILED_PRECONDITION",
            "User location is not supported for the API use.",
            json!([]),
        ),
        // A 429 like a quota, but without QuotaFailure or RetryInfo: waiting will not help.
        Scenario::NoCredits if billable => error(
            429,
            "RESOURCE_EXHAUSTED",
            "Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.",
            json!([]),
        ),
        Scenario::DailyQuota if billable => error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            quota(
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                Some(Duration::from_secs(41)),
            ),
        ),
        _ => return None,
    })
}

/// The key from `x-goog-api-key`, or (as the real API accepts it) from `?key=`.
pub(crate) fn key(request: &RecordedRequest) -> Option<String> {
    let k = match request.header("x-goog-api-key") {
        Some(k) => k.trim().to_owned(),
        None => request.query_param("key")?,
    };
    (!k.is_empty()).then_some(k)
}

/// The model named in `/v1beta/models/{model}:generateContent` (or `/v1/...`).
pub(crate) fn model(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|last| {
            last.strip_suffix(":generateContent")
                .or_else(|| last.strip_suffix(":streamGenerateContent"))
        })
        .unwrap_or("gemini-2.5-flash-lite")
        .to_owned()
}

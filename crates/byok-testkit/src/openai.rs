//! OpenAI's answers: `{"error":{"message","type","param","code"}}`, `x-request-id`, `x-ratelimit-*`;
//! chat completions and the Responses API.

use std::time::Duration;

use crate::reply::Reply;
use serde_json::{Value, json};

use crate::content::{self, Made};
use crate::record::Endpoint;
use crate::record::RecordedRequest;
use crate::reply::Events;
use crate::scenario::Scenario;
use crate::wire::{go_duration, openai_mask, whole_seconds};

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    Reply::new(status).set_body_json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

/// A Responses API answer as `POST /v1/responses` sends it without streaming:
/// `completed`, or `incomplete` (reason `max_output_tokens`) when the cap cut it.
fn response_object(model: &str, request: &Value, made: &Made) -> Value {
    let truncated = made.reply.truncated;
    let status = if truncated { "incomplete" } else { "completed" };
    json!({
        "id": "resp_0BYOKTESTKIT00000000000000000000000000000001",
        "object": "response",
        "created_at": 1_767_225_600,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": if truncated { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": request.get("instructions").cloned().unwrap_or(Value::Null),
        "max_output_tokens": request.get("max_output_tokens").cloned().unwrap_or(Value::Null),
        "max_tool_calls": null,
        "model": model,
        "output": [{
            "id": "msg_0BYOKTESTKIT00000000000000000000000000000001",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": made.reply.text, "annotations": [], "logprobs": []}]
        }],
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "prompt_cache_key": null,
        "reasoning": {"effort": null, "summary": null},
        "safety_identifier": null,
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": content::openai_responses_usage(&made.counts),
        "user": null,
        "metadata": {}
    })
}

/// A chat completion streamed: `data: {chat.completion.chunk}` events and
/// `data: [DONE]`; with `stream_options.include_usage`, one last chunk with
/// `"choices": []` and the usage, every other chunk `"usage": null`.
fn chat_stream(model: &str, request: &Value, made: &Made) -> Events {
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |choices: Value, usage: Value| {
        let mut c = json!({
            "id": "chatcmpl-BYOKTESTKIT0001",
            "object": "chat.completion.chunk",
            "created": 1_767_225_600,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_byoktest",
            "choices": choices
        });
        if include_usage {
            c["usage"] = usage;
        }
        (None, c)
    };
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut events = vec![chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        Value::Null,
    )];
    for delta in &made.reply.deltas {
        events.push(chunk(
            choice(json!({"content": delta}), Value::Null),
            Value::Null,
        ));
    }
    events.push(chunk(
        choice(json!({}), json!(finish_reason(made))),
        Value::Null,
    ));
    if include_usage {
        events.push(chunk(json!([]), content::openai_chat_usage(&made.counts)));
    }
    Events::sse(&events, Some("[DONE]"), false)
}

/// A Responses API answer streamed: named events, each with its `type` and a
/// `sequence_number`, ending with exactly one `response.completed` that
/// carries the usage; no `[DONE]`.
fn responses_stream(model: &str, request: &Value, made: &Made) -> Events {
    let done = response_object(model, request, made);
    let mut pending = done.clone();
    pending["status"] = json!("in_progress");
    pending["output"] = json!([]);
    pending["usage"] = Value::Null;
    let item = done["output"][0].clone();
    let item_id = item["id"].clone();
    let mut started = item.clone();
    started["status"] = json!("in_progress");
    started["content"] = json!([]);
    let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
    let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
    let with = |mut base: Value, extra: Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    let text = made.reply.text.as_str();
    let terminal = if made.reply.truncated {
        "response.incomplete"
    } else {
        "response.completed"
    };
    let mut steps = vec![
        ("response.created", json!({"response": pending.clone()})),
        ("response.in_progress", json!({"response": pending})),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": started}),
        ),
        (
            "response.content_part.added",
            with(at.clone(), json!({"part": part("")})),
        ),
    ];
    for delta in &made.reply.deltas {
        steps.push((
            "response.output_text.delta",
            with(at.clone(), json!({"delta": delta, "logprobs": []})),
        ));
    }
    steps.extend([
        (
            "response.output_text.done",
            with(at.clone(), json!({"text": text, "logprobs": []})),
        ),
        (
            "response.content_part.done",
            with(at, json!({"part": part(text)})),
        ),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
        ),
        (terminal, json!({"response": done})),
    ]);
    let events: Vec<_> = steps
        .into_iter()
        .enumerate()
        .map(|(n, (name, data))| {
            (
                Some(name),
                with(json!({"type": name, "sequence_number": n}), data),
            )
        })
        .collect();
    Events::sse(&events, None, false)
}

/// `length` when the output cap cut the answer, else `stop`.
fn finish_reason(made: &Made) -> &'static str {
    if made.reply.truncated {
        "length"
    } else {
        "stop"
    }
}

/// What a stream that fails after it started sends last. Chat completions: a
/// `data: {"error": {...}}` event and no `[DONE]` (openai-python raises
/// `APIError` on it). Responses API: an `error` event, then the terminal
/// `response.failed` with the error on the response, numbered after the
/// `sent` events before.
pub(crate) fn stream_error(
    endpoint: Endpoint,
    model: &str,
    request: &Value,
    made: &Made,
    sent: usize,
) -> Vec<Vec<u8>> {
    let message = "The server had an error while processing your request. Sorry about that!";
    if endpoint != Endpoint::Responses {
        let error = json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}});
        return Events::sse(&[(None, error)], None, false).events;
    }
    let mut failed = response_object(model, request, made);
    failed["status"] = json!("failed");
    failed["output"] = json!([]);
    failed["usage"] = Value::Null;
    failed["error"] = json!({"code": "server_error", "message": message});
    let events = [
        (
            Some("error"),
            json!({"type": "error", "code": "server_error", "message": message, "param": null,
                   "sequence_number": sent}),
        ),
        (
            Some("response.failed"),
            json!({"type": "response.failed", "sequence_number": sent + 1, "response": failed}),
        ),
    ];
    Events::sse(&events, None, false).events
}

/// The answer to a `"stream": true` request: the provider's event stream.
pub(crate) fn streamed(endpoint: Endpoint, model: &str, request: &Value, made: &Made) -> Reply {
    let events = match endpoint {
        Endpoint::Responses => responses_stream(model, request, made),
        _ => chat_stream(model, request, made),
    };
    with_rate_limits(Reply::new(200).set_events(events, "text/event-stream; charset=utf-8"))
}

pub(crate) fn success(endpoint: Endpoint, model: &str, request: &Value, made: &Made) -> Reply {
    let body = match endpoint {
        Endpoint::Responses => response_object(model, request, made),
        Endpoint::Billable => json!({
            "id": "chatcmpl-BYOKTESTKIT0001",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": made.reply.text, "refusal": null},
                         "logprobs": null, "finish_reason": finish_reason(made)}],
            "usage": content::openai_chat_usage(&made.counts),
            "service_tier": "default",
            "system_fingerprint": "fp_byoktest"
        }),
        _ => json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini-2024-07-18", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}
            ]
        }),
    };
    with_rate_limits(Reply::new(200).set_body_json(body))
}

/// The rate-limit headers of a successful answer.
fn with_rate_limits(t: Reply) -> Reply {
    t.insert_header("x-ratelimit-limit-requests", "500")
        .insert_header("x-ratelimit-remaining-requests", "499")
        .insert_header("x-ratelimit-reset-requests", "120ms")
        .insert_header("x-ratelimit-limit-tokens", "200000")
        .insert_header("x-ratelimit-remaining-tokens", "199990")
        .insert_header("x-ratelimit-reset-tokens", "3ms")
}

pub(crate) fn missing_auth() -> Reply {
    error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        None,
    )
}

pub(crate) fn not_found(method: &str, path: &str) -> Reply {
    error(
        404,
        &format!("Invalid URL ({method} {path})"),
        "invalid_request_error",
        None,
    )
}

pub(crate) fn rate_limited(retry_after: Duration) -> Reply {
    error(
        429,
        "Rate limit reached for gpt-4o-mini in organization org-byoktest on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again later.",
        "requests",
        Some("rate_limit_exceeded"),
    )
    .insert_header("retry-after-ms", retry_after.as_millis().to_string())
    // Whole seconds, never 0: clients that read only `retry-after` must still wait.
    .insert_header("retry-after", whole_seconds(retry_after).to_string())
    .insert_header("x-ratelimit-limit-requests", "500")
    .insert_header("x-ratelimit-remaining-requests", "0")
    .insert_header("x-ratelimit-reset-requests", go_duration(retry_after))
}

pub(crate) fn outage(status: u16) -> Reply {
    match status {
        503 => error(
            503,
            "The engine is currently overloaded, please try again later.",
            "service_unavailable_error",
            None,
        ),
        _ => error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    }
}

/// The answer of a key or account scenario, `None` when this endpoint succeeds.
pub(crate) fn situation(
    scenario: &Scenario,
    endpoint: Endpoint,
    key: &str,
    model: &str,
    organization_header: bool,
) -> Option<Reply> {
    let inv = "invalid_request_error";
    let billable = endpoint.is_billable();
    Some(match scenario {
        Scenario::InvalidKey => error(
            401,
            &format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                openai_mask(key)
            ),
            inv,
            Some("invalid_api_key"),
        ),
        Scenario::Deactivated => error(
            401,
            "This key is associated with a deactivated account. If you feel this is an error, contact us through our help center at help.openai.com.",
            inv,
            Some("account_deactivated"),
        ),
        Scenario::OrganizationMismatch if organization_header => error(
            401,
            "OpenAI-Organization header should match organization for API key",
            inv,
            Some("mismatched_organization"),
        ),
        Scenario::MissingScope if !billable => error(
            401,
            "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.",
            inv,
            None,
        ),
        Scenario::ModelAccess if billable => error(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            inv,
            Some("model_not_found"),
        ),
        Scenario::Region => error(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
        Scenario::NoCredits if billable => error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Scenario::SpendLimit if billable => error(
            429,
            "You have exceeded your organization's spend limit.",
            inv,
            Some("organization_spend_limit_exceeded"),
        ),
        _ => return None,
    })
}

/// The key from `Authorization: Bearer KEY`.
pub(crate) fn key(request: &RecordedRequest) -> Option<String> {
    let v = request.header("authorization")?;
    let k = v.strip_prefix("Bearer ")?.trim();
    (!k.is_empty()).then(|| k.to_owned())
}

/// Whether the request names an organization (`OpenAI-Organization`).
pub(crate) fn names_organization(request: &RecordedRequest) -> bool {
    request
        .header("openai-organization")
        .is_some_and(|v| !v.trim().is_empty())
}

/// The model of a chat completion or Responses API request.
pub(crate) fn model(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-4o-mini-2024-07-18")
        .to_owned()
}

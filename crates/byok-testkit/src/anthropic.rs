//! Anthropic's answers: `{"type":"error","error":{"type","message"},"request_id"}`,
//! `request-id`, `anthropic-ratelimit-*`, `retry-after` in seconds. The key
//! comes in `x-api-key` or, as anthropic-python 2.x sends it, `Authorization: Bearer`.

use std::time::Duration;

use crate::reply::Reply;
use serde_json::{Value, json};

use crate::content::{self, Made};
use crate::record::Endpoint;
use crate::record::RecordedRequest;
use crate::reply::Events;
use crate::scenario::Scenario;
use crate::wire::{rfc3339_in, whole_seconds};

fn error(status: u16, kind: &str, message: &str, request_id: &str) -> Reply {
    Reply::new(status).set_body_json(json!({
        "type": "error", "error": {"type": kind, "message": message}, "request_id": request_id
    }))
}

fn limits(t: Reply, remaining: u32, reset_in: Duration) -> Reply {
    let reset = rfc3339_in(reset_in);
    t.insert_header("anthropic-ratelimit-requests-limit", "50")
        .insert_header(
            "anthropic-ratelimit-requests-remaining",
            remaining.to_string(),
        )
        .insert_header("anthropic-ratelimit-requests-reset", reset.clone())
        .insert_header("anthropic-ratelimit-tokens-limit", "90000")
        .insert_header("anthropic-ratelimit-tokens-remaining", "89990")
        .insert_header("anthropic-ratelimit-tokens-reset", reset)
}

/// `max_tokens` when the cap cut the answer, else `end_turn`.
fn stop_reason(made: &Made) -> &'static str {
    if made.reply.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

pub(crate) fn success(endpoint: Endpoint, model: &str, made: &Made) -> Reply {
    let body = match endpoint {
        Endpoint::Billable => json!({
            "id": "msg_01BYOKTESTKIT",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": made.reply.text}],
            "stop_reason": stop_reason(made),
            "stop_sequence": null,
            "usage": content::anthropic_usage(&made.counts)
        }),
        _ => json!({
            "data": [
                {"type": "model", "id": "claude-haiku-4-5-20251001", "display_name": "Claude Haiku 4.5",
                 "created_at": "2025-10-15T00:00:00Z"},
                {"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5",
                 "created_at": "2025-09-29T00:00:00Z"}
            ],
            "has_more": false,
            "first_id": "claude-haiku-4-5-20251001",
            "last_id": "claude-sonnet-4-5-20250929"
        }),
    };
    limits(
        Reply::new(200).set_body_json(body),
        49,
        Duration::from_secs(1),
    )
}

pub(crate) fn missing_auth(request_id: &str) -> Reply {
    error(
        401,
        "authentication_error",
        "x-api-key header is required",
        request_id,
    )
}

pub(crate) fn missing_version(request_id: &str) -> Reply {
    error(
        400,
        "invalid_request_error",
        "anthropic-version: header is required",
        request_id,
    )
}

pub(crate) fn not_found(request_id: &str) -> Reply {
    error(404, "not_found_error", "Not Found", request_id)
}

pub(crate) fn rate_limited(retry_after: Duration, request_id: &str) -> Reply {
    let t = error(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
        request_id,
    )
    // Anthropic sends whole seconds, and tells its SDKs a rate limit may be retried.
    .insert_header("retry-after", whole_seconds(retry_after).to_string())
    .insert_header("x-should-retry", "true");
    limits(t, 0, retry_after)
}

/// A message streamed: `message_start` (with the input usage and a first
/// `output_tokens` of 1), one text block with a delta per word and a `ping`
/// after the first, `message_delta` with the cumulative `usage.output_tokens`,
/// `message_stop`.
pub(crate) fn streamed(model: &str, made: &Made) -> Reply {
    let named = |name: &'static str, mut data: Value| {
        data["type"] = json!(name);
        (Some(name), data)
    };
    let mut start_usage = content::anthropic_usage(&made.counts);
    start_usage["output_tokens"] = json!(made.counts.output.min(1));
    let mut events = vec![
        named(
            "message_start",
            json!({"message": {
                "id": "msg_01BYOKTESTKIT", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": start_usage
            }}),
        ),
        named(
            "content_block_start",
            json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for (n, delta) in made.reply.deltas.iter().enumerate() {
        events.push(named(
            "content_block_delta",
            json!({"index": 0, "delta": {"type": "text_delta", "text": delta}}),
        ));
        if n == 0 {
            events.push(named("ping", json!({})));
        }
    }
    if made.reply.deltas.is_empty() {
        events.push(named("ping", json!({})));
    }
    events.extend([
        named("content_block_stop", json!({"index": 0})),
        named(
            "message_delta",
            json!({"delta": {"stop_reason": stop_reason(made), "stop_sequence": null},
                   "usage": {"output_tokens": made.counts.output}}),
        ),
        named("message_stop", json!({})),
    ]);
    limits(
        Reply::new(200).set_events(
            Events::sse(&events, None, false),
            "text/event-stream; charset=utf-8",
        ),
        49,
        Duration::from_secs(1),
    )
}

/// What a stream that fails after it started sends last: `event: error` with
/// the `overloaded_error` envelope (no request id in the event; the headers had it).
pub(crate) fn stream_error() -> Vec<Vec<u8>> {
    let error =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    Events::sse(&[(Some("error"), error)], None, false).events
}

/// The unsupported-region block: answered at Anthropic's edge, before the API,
/// so without the `"type":"error"` envelope and without a request id.
pub(crate) fn region_blocked() -> Reply {
    Reply::new(403).set_body_json(json!({
        "error": {"type": "forbidden", "message": "Request not allowed"}
    }))
}

pub(crate) fn outage(status: u16, request_id: &str) -> Reply {
    match status {
        529 => error(529, "overloaded_error", "Overloaded", request_id),
        _ => error(status, "api_error", "Internal server error", request_id),
    }
}

/// The answer of a key or account scenario, `None` when this endpoint succeeds.
/// ([`Scenario::Region`] is answered by [`region_blocked`], without the API's headers.)
pub(crate) fn situation(
    scenario: &Scenario,
    endpoint: Endpoint,
    model: &str,
    request_id: &str,
) -> Option<Reply> {
    let inv = "invalid_request_error";
    let billable = endpoint.is_billable();
    Some(match scenario {
        Scenario::InvalidKey => error(401, "authentication_error", "invalid x-api-key", request_id),
        Scenario::Deactivated => {
            error(400, inv, "This organization has been disabled.", request_id)
        }
        Scenario::OrganizationOnHold => Reply::new(400).set_body_json(json!({
            "type": "error",
            "error": {"type": inv,
                      "message": "This organization has been disabled. An organization admin can appeal at https://console.anthropic.com/appeal",
                      "details": {"error_code": "organization_on_hold"}},
            "request_id": request_id
        })),
        Scenario::PermissionDenied => error(
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            request_id,
        ),
        Scenario::ModelAccess if billable => error(
            404,
            "not_found_error",
            &format!("model: {model}"),
            request_id,
        ),
        Scenario::NoCredits if billable => error(
            400,
            inv,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            request_id,
        ),
        Scenario::SpendLimit if billable => error(
            400,
            inv,
            "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
            request_id,
        ),
        Scenario::TierSpendCap if billable => Reply::new(429).set_body_json(json!({
            "type": "error",
            "error": {"type": "rate_limit_error",
                      "message": "You have reached the spend limit for your usage tier.",
                      "details": {"error_code": "enforced_spend_limit_reached"}},
            "request_id": request_id
        })),
        Scenario::Billing if billable => error(
            402,
            "billing_error",
            "There is an issue with your account's billing. Please check Plans & Billing.",
            request_id,
        ),
        _ => return None,
    })
}

/// The key from `x-api-key`, or from `Authorization: Bearer KEY` (anthropic-python
/// 2.x); the real API accepts either, `x-api-key` first.
pub(crate) fn key(request: &RecordedRequest) -> Option<String> {
    let header = |name: &str| request.header(name);
    let k = header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| {
            header("authorization")?
                .strip_prefix("Bearer ")
                .map(str::trim)
                .filter(|k| !k.is_empty())
        })?;
    Some(k.to_owned())
}

/// The model of a messages request.
pub(crate) fn model(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-haiku-4-5")
        .to_owned()
}

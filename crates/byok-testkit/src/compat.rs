//! The providers after the first three (PROVIDERS-MORE.md): OpenRouter, Groq,
//! xAI, DeepSeek, Mistral, Together, Fireworks and Azure OpenAI behind one
//! OpenAI-compatible adapter, Perplexity's Responses API, Cohere v2 chat and
//! Amazon Bedrock Converse — each answering with its own error bodies,
//! rate-limit headers, usage extras, reported cost and key-info probe.
//!
//! Routes, auth and paths come from the provider's [`ProviderSpec`]; what
//! differs is in the tables below, one arm per provider and scenario.
//!
//! Reported costs (xAI `cost_in_usd_ticks`, OpenRouter `usage.cost`, Perplexity
//! `usage.cost.total_cost`) are computed at the mock's own list price,
//! [`REPORTED_INPUT_PER_MTOK`] and [`REPORTED_OUTPUT_PER_MTOK`], which is no
//! real price: a test that sees it settled knows the reported figure was used,
//! not an estimate from the price table.

use std::time::Duration;

use byok_keys::Provider;
use byok_keys::spec::{Auth, KeyInfoReader, ProviderSpec, Wire};
use serde_json::{Value, json};

use crate::content::{self, Counts, Made};
use crate::record::{Endpoint, RecordedRequest};
use crate::reply::{Events, Reply};
use crate::scenario::Scenario;
use crate::wire::{go_duration, whole_seconds};

/// The mock's reported price of input tokens, in millionths of a dollar per
/// million tokens' worth: $1 per million input tokens.
pub const REPORTED_INPUT_PER_MTOK: u64 = 1;
/// The mock's reported price of output tokens (reasoning included): $2 per million.
pub const REPORTED_OUTPUT_PER_MTOK: u64 = 2;

/// What the mock reports a call with `c` cost, in micro-dollars (µUSD): at
/// $1/$2 per million tokens that is exactly `input + 2 × output`.
pub fn reported_micro_usd(input_tokens: u64, output_tokens: u64) -> u64 {
    input_tokens
        .saturating_mul(REPORTED_INPUT_PER_MTOK)
        .saturating_add(output_tokens.saturating_mul(REPORTED_OUTPUT_PER_MTOK))
}

/// Perplexity's per-request fee on top of tokens (low search context): $0.005.
pub const PERPLEXITY_REQUEST_FEE_MICRO_USD: u64 = 5_000;

/// What `provider`'s mock reports as the whole cost of a call with these
/// tokens, in µUSD (Perplexity adds its request fee); `None` for a provider
/// that reports no cost.
pub fn reported_total_micro_usd(
    provider: Provider,
    input_tokens: u64,
    output_tokens: u64,
) -> Option<u64> {
    provider.spec().reported_cost?;
    let tokens = reported_micro_usd(input_tokens, output_tokens);
    Some(match provider {
        Provider::Perplexity => tokens.saturating_add(PERPLEXITY_REQUEST_FEE_MICRO_USD),
        _ => tokens,
    })
}

/// A model `provider`'s mock answers for and the embedded price table prices
/// at `provider` with a known output cap (its probe model when it is; Azure: the deployment the mock
/// serves), for tests whose costs must be exact.
///
/// # Panics
/// If the table prices no model of `provider` with a known output cap.
pub fn priced_model(provider: Provider) -> String {
    if provider == Provider::AzureOpenAi {
        return "gpt-4o-mini".into();
    }
    let book = byok_guard::PriceBook::embedded();
    let probe = provider.spec().probe_model;
    // Priced, and with an output cap (a call that sets none reserves the model's
    // maximum output, so an uncapped model cannot be called without one).
    if book
        .get_for(provider, probe)
        .is_some_and(|p| p.max_output_tokens.is_some())
    {
        return probe.to_owned();
    }
    book.models_of(provider)
        .into_iter()
        .find(|m| {
            book.get_for(provider, m)
                .is_some_and(|p| p.max_output_tokens.is_some())
        })
        .unwrap_or_else(|| panic!("{provider}: no priced model"))
        .to_owned()
}

/// µUSD as the decimal text of dollars (`1234` → `0.001234`).
pub fn dollars(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// Whether `provider` is served by this module.
pub(crate) fn serves(provider: Provider) -> bool {
    !matches!(
        provider,
        Provider::OpenAi | Provider::Anthropic | Provider::Google
    )
}

fn spec(provider: Provider) -> &'static ProviderSpec {
    provider.spec()
}

/// The public path of a templated spec path, split at `{…}` holes: the parts
/// a path must contain in order (Azure `/openai/deployments/{deployment}/chat/completions`).
fn matches_template(template: &str, path: &str) -> bool {
    let template = template.split('?').next().unwrap_or(template);
    let parts = template.split(['{', '}']).enumerate();
    let mut rest = path;
    let mut first = true;
    for (i, part) in parts {
        if i % 2 == 1 {
            continue; // a parameter: anything without a slash, checked by the next part
        }
        if part.is_empty() {
            continue;
        }
        let Some(at) = rest.find(part) else {
            return false;
        };
        if !first && rest[..at].contains('/') {
            return false;
        }
        first = false;
        rest = &rest[at + part.len()..];
    }
    rest.is_empty() || template.ends_with('}') && !rest.contains('/')
}

/// Classify a request to `provider` (a path prefix before the public path is allowed).
pub(crate) fn endpoint(provider: Provider, method: &str, path: &str) -> Endpoint {
    let s = spec(provider);
    if let Some(info) = s.key_info
        && method == info.method
        && path.ends_with(info.path)
    {
        return Endpoint::KeyInfo;
    }
    if method == "GET"
        && let Some(models) = s.models_path
        && matches_template(models, path)
    {
        return Endpoint::ListModels;
    }
    if method != "POST" {
        return Endpoint::Other;
    }
    let billable = match s.wire {
        Wire::OpenAiResponses => {
            return if path.ends_with("/v1/responses") {
                Endpoint::Responses
            } else {
                Endpoint::Other
            };
        }
        Wire::BedrockConverse => {
            matches_template("/model/{model}/converse", path)
                || matches_template("/model/{model}/converse-stream", path)
        }
        Wire::CohereChat => {
            path.ends_with("/v2/chat") || s.chat_path.is_some_and(|c| path.ends_with(c))
        }
        _ => s.chat_path.is_some_and(|c| matches_template(c, path)),
    };
    if billable {
        Endpoint::Billable
    } else {
        Endpoint::Other
    }
}

/// Whether a request's body is Cohere's native v2 chat (not its compatibility API).
fn cohere_native(request_path: &str) -> bool {
    request_path.ends_with("/v2/chat")
}

/// The key a request authenticates with, from the spec's auth header.
pub(crate) fn key(provider: Provider, request: &RecordedRequest) -> Option<String> {
    let k = match spec(provider).auth {
        Auth::Bearer => request.header("authorization")?.strip_prefix("Bearer ")?,
        Auth::Header(name) => request.header(name)?,
        // A scheme the mocks do not know (none today) authenticates nothing.
        _ => return None,
    }
    .trim();
    (!k.is_empty()).then(|| k.to_owned())
}

/// The model a request names (the body's `model`; Bedrock's is in the path; Azure's is the deployment).
pub(crate) fn model(provider: Provider, path: &str, body: &Value) -> String {
    match spec(provider).wire {
        Wire::BedrockConverse => path
            .rsplit_once("/model/")
            .map(|(_, rest)| {
                let id = rest.strip_suffix("/converse-stream").unwrap_or(rest);
                id.strip_suffix("/converse").unwrap_or(id).to_owned()
            })
            .map(|m| percent_decode(&m))
            .unwrap_or_else(|| spec(provider).probe_model.to_owned()),
        _ if provider == Provider::AzureOpenAi => path
            .split("/deployments/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("gpt-4o-mini")
            .to_owned(),
        _ => body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(spec(provider).probe_model)
            .to_owned(),
    }
}

/// `%3A` → `:` and friends (Bedrock model ids in paths).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- error bodies

/// `{"error":{"message","type","param","code"}}`: the OpenAI shape the compatible providers copy.
fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    Reply::new(status).set_body_json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

/// OpenRouter: `{"error":{"code": <status>, "message", "metadata"}}`.
fn openrouter_error(status: u16, message: &str, metadata: Value) -> Reply {
    let mut error = json!({"code": status, "message": message});
    if !metadata.is_null() {
        error["metadata"] = metadata;
    }
    Reply::new(status).set_body_json(json!({"error": error, "user_id": "user_2byoktestkit"}))
}

/// xAI: `{"code": "<gRPC status text>", "error": "<message>"}`.
fn xai_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(status).set_body_json(json!({"code": code, "error": message}))
}

/// Azure: `{"error":{"code": "<string>", "message"}}`.
fn azure_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(status).set_body_json(json!({"error": {"code": code, "message": message}}))
}

/// AWS: `{"Message"}` with the type in `x-amzn-ErrorType`.
fn aws_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::new(status)
        .set_body_json(json!({"Message": message}))
        .insert_header(
            "x-amzn-errortype",
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )
}

/// Cohere: `{"id", "message"}`.
fn cohere_error(status: u16, message: &str) -> Reply {
    Reply::new(status).set_body_json(json!({
        "id": "00000000-0000-4000-8000-00000000c0e1",
        "message": message
    }))
}

/// Perplexity's edge answers 401 with an HTML page, not JSON.
fn perplexity_html(status: u16, title: &str) -> Reply {
    Reply::new(status).set_body_raw(
        format!(
            "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n<center><h1>{status} {title}</h1></center>\r\n<hr><center>openresty/1.25.3.1</center>\r\n</body>\r\n</html>\r\n"
        ),
        "text/html",
    )
}

/// The answer when no key was sent.
pub(crate) fn missing_auth(provider: Provider) -> Reply {
    match provider {
        Provider::OpenRouter => openrouter_error(401, "No auth credentials found", Value::Null),
        Provider::XAi => xai_error(
            400,
            "Client specified an invalid argument",
            "Incorrect API key provided: . You can obtain an API key from https://console.x.ai.",
        ),
        Provider::Mistral => Reply::new(401).set_body_json(json!({"detail": "Unauthorized"})),
        Provider::AzureOpenAi => azure_error(
            401,
            "401",
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
        ),
        Provider::Bedrock => aws_error(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        Provider::Perplexity => perplexity_html(401, "Authorization Required"),
        Provider::Cohere => cohere_error(401, "no api key supplied"),
        _ => openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        ),
    }
}

/// A path the provider does not serve.
pub(crate) fn not_found(provider: Provider, method: &str, path: &str) -> Reply {
    match provider {
        Provider::OpenRouter => openrouter_error(404, "Not Found", Value::Null),
        Provider::XAi => xai_error(404, "Not found", &format!("No handler found for {path}")),
        Provider::Mistral => Reply::new(404).set_body_json(json!({"detail": "Not Found"})),
        Provider::AzureOpenAi => azure_error(404, "404", "Resource not found"),
        Provider::Bedrock => aws_error(404, "UnknownOperationException", "Unknown operation"),
        Provider::Cohere => cohere_error(404, &format!("{method} {path} not found")),
        Provider::Perplexity => perplexity_html(404, "Not Found"),
        _ => openai_error(
            404,
            &format!(
                "Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs at https://console.groq.com/docs/"
            ),
            "invalid_request_error",
            Some("unknown_url"),
        ),
    }
}

/// A shortened form of the key as providers echo it (`xa***ys`, `****abcd`).
fn echo(key: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= head + tail {
        return "***".to_owned();
    }
    let h: String = chars[..head].iter().collect();
    let t: String = chars[chars.len() - tail..].iter().collect();
    format!("{h}***{t}")
}

/// Which scenarios each provider has an answer for (see the table in [`Scenario`]).
pub(crate) fn supports(provider: Provider, scenario: &Scenario) -> bool {
    use Provider as P;
    use Scenario as S;
    match scenario {
        S::Valid
        | S::InvalidKey
        | S::RateLimited { .. }
        | S::Slow(_)
        | S::Hang
        | S::Garbage
        | S::StreamCut { .. }
        | S::StreamStall { .. } => true,
        S::StreamError { .. } => true,
        S::KeepAlive => matches!(provider, P::DeepSeek | P::OpenRouter),
        S::NoCredits => !matches!(provider, P::Groq | P::Bedrock | P::Perplexity),
        S::Outage { status, .. } => match status {
            500 | 502 | 503 => true,
            504 => !matches!(provider, P::Perplexity),
            498 => provider == P::Groq,
            _ => false,
        },
        S::SpendLimit => matches!(provider, P::XAi | P::Fireworks | P::OpenRouter),
        S::DailyQuota => matches!(provider, P::AzureOpenAi | P::Cohere | P::Mistral),
        S::ModelAccess => matches!(
            provider,
            P::AzureOpenAi | P::Groq | P::Together | P::Bedrock
        ),
        S::Deactivated => matches!(provider, P::Groq),
        S::ApiBlocked => matches!(provider, P::XAi),
        S::PermissionDenied => matches!(provider, P::Bedrock),
        S::Region => matches!(provider, P::Bedrock),
        S::OrganizationMismatch
        | S::OrganizationOnHold
        | S::ExpiredKey
        | S::Suspended
        | S::MissingScope
        | S::ServiceDisabled
        | S::TierSpendCap
        | S::Billing => false,
    }
}

/// The answer of a key or account scenario, `None` when this endpoint succeeds.
pub(crate) fn situation(
    provider: Provider,
    scenario: &Scenario,
    endpoint: Endpoint,
    key: &str,
    model: &str,
) -> Option<Reply> {
    use Provider as P;
    use Scenario as S;
    let billable = endpoint.is_billable();
    let info = endpoint == Endpoint::KeyInfo;
    let inv = "invalid_request_error";
    Some(match (scenario, provider) {
        (S::InvalidKey, P::OpenRouter) => openrouter_error(401, "User not found.", Value::Null),
        (S::InvalidKey, P::XAi) => xai_error(
            400,
            "Client specified an invalid argument",
            &format!(
                "Incorrect API key provided: {}. You can obtain an API key from https://console.x.ai.",
                echo(key, 2, 2)
            ),
        ),
        (S::InvalidKey, P::DeepSeek) => Reply::new(401).set_body_json(json!({"error": {
            "message": format!("Authentication Fails, Your api key: {} is invalid", echo(key, 0, 4)),
            "type": "authentication_error", "param": null, "code": "invalid_request_error"}})),
        // Mistral's 401 says nothing more: an exhausted plan answers the same.
        (S::InvalidKey | S::DailyQuota, P::Mistral) => Reply::new(401).set_body_json(json!({
            "message": "Unauthorized", "request_id": "0bf0a5e5f6b24b0f9b4f2f3c1d7e8a91"})),
        (S::InvalidKey, P::Together) => openai_error(
            401,
            "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.",
            inv,
            Some("invalid_api_key"),
        ),
        (S::InvalidKey, P::Fireworks) => Reply::new(401).set_body_json(json!({"error": {
            "object": "error", "type": "invalid_request_error",
            "message": "The API key you provided is invalid.", "code": "UNAUTHENTICATED"}})),
        (S::InvalidKey, P::AzureOpenAi) => azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        ),
        (S::InvalidKey, P::Bedrock) => aws_error(
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.",
        ),
        (S::InvalidKey, P::Perplexity) => perplexity_html(401, "Authorization Required"),
        (S::InvalidKey, P::Cohere) if info => {
            Reply::new(200).set_body_json(json!({"valid": false}))
        }
        (S::InvalidKey, P::Cohere) => cohere_error(401, "invalid api token"),
        (S::InvalidKey, _) => openai_error(401, "Invalid API Key", inv, Some("invalid_api_key")),
        (S::Deactivated, P::Groq) => openai_error(
            400,
            "Organization has been restricted. Please reach out to support if you believe this was in error.",
            inv,
            Some("organization_restricted"),
        ),
        (S::ApiBlocked, P::XAi) if info => return None,
        (S::ApiBlocked, P::XAi) => xai_error(
            403,
            "The caller does not have permission to execute the specified operation",
            "Your API key is blocked. Please contact your team administrator.",
        ),
        (S::PermissionDenied, P::Bedrock) if billable => aws_error(
            403,
            "AccessDeniedException",
            "Invalid API Key format: Must start with pre-defined prefix",
        ),
        (S::Region, P::Bedrock) => aws_error(
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.",
        ),
        (S::ModelAccess, P::AzureOpenAi) if billable => azure_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        ),
        (S::ModelAccess, P::Bedrock) if billable => aws_error(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        (S::ModelAccess, _) if billable => openai_error(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            inv,
            Some("model_not_found"),
        ),
        (S::NoCredits | S::SpendLimit, P::OpenRouter) if billable => openrouter_error(
            402,
            if matches!(scenario, S::NoCredits) {
                "Insufficient credits. Add more using https://openrouter.ai/settings/credits"
            } else {
                "Key limit exceeded. Manage it using https://openrouter.ai/settings/keys"
            },
            json!({"limit_source": if matches!(scenario, S::NoCredits) { "openrouter_credits" } else { "openrouter_key_limit" }}),
        ),
        (S::NoCredits, P::XAi) if billable => xai_error(
            429,
            "Some resource has been exhausted",
            "Your team 0a1b2c3d-0000-4000-8000-00000000b40c has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit.",
        ),
        (S::SpendLimit, P::XAi) if billable => xai_error(
            403,
            "The caller does not have permission to execute the specified operation",
            "Your newly created team doesn't have any credits yet. You can purchase credits on https://console.x.ai/team/0a1b2c3d-0000-4000-8000-00000000b40c.",
        ),
        (S::NoCredits, P::DeepSeek) if billable => Reply::new(402).set_body_json(json!({"error": {
            "message": "Insufficient Balance", "type": "unknown_error", "param": null,
            "code": "invalid_request_error"}})),
        (S::NoCredits, P::Together) if billable => Reply::new(402).set_body_json(json!({
            "id": "o1BYOKtestkit-together",
            "error": {"message": "Credit limit exceeded. Please navigate to https://api.together.xyz/settings/billing to add credit or upgrade your plan.",
                      "type": "credit_limit", "param": null, "code": null}})),
        (S::NoCredits | S::SpendLimit, P::Fireworks) if billable => Reply::new(412).set_body_json(json!({
            "error": {"object": "error", "type": "error", "code": "PRECONDITION_FAILED",
                      "message": "Account byok-testkit is suspended, possibly due to reaching the monthly spending limit or failure to pay past invoices. Please go to https://fireworks.ai/account/billing to resolve."},
            "request_id": "fw-req-byoktestkit"})),
        (S::NoCredits, P::Mistral) if billable => Reply::new(429).set_body_json(json!({
            "object": "error", "message": "You have exceeded your monthly usage limit. Please upgrade your plan or wait until next month.",
            "type": "usage_limit_exceeded", "param": null, "code": "3505"})),
        (S::NoCredits | S::DailyQuota, P::AzureOpenAi) if billable => azure_error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        )
        .insert_header("retry-after", "86400"),
        (S::NoCredits | S::DailyQuota, P::Cohere) if billable => cohere_error(
            429,
            "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions",
        ),
        _ => return None,
    })
}

/// The first requests of a rate-limited scenario.
pub(crate) fn rate_limited(provider: Provider, retry_after: Duration) -> Reply {
    let secs = whole_seconds(retry_after);
    let reply = match provider {
        Provider::OpenRouter => openrouter_error(
            429,
            "Rate limit exceeded: free-models-per-min.",
            json!({"headers": {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"}}),
        )
        .insert_header("x-ratelimit-limit", "20")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header(
            "x-ratelimit-reset",
            (1_767_225_600_000u64 + u64::try_from(retry_after.as_millis()).unwrap_or(0)).to_string(),
        ),
        Provider::Groq => openai_error(
            429,
            &format!(
                "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01byoktestkit` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in {}s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
                retry_after.as_secs_f64()
            ),
            "requests",
            Some("rate_limit_exceeded"),
        )
        .insert_header("x-ratelimit-remaining-requests", "0")
        .insert_header("x-ratelimit-reset-requests", go_duration(retry_after)),
        Provider::XAi => xai_error(
            429,
            "Some resource has been exhausted",
            "Too many requests: your team has exceeded its requests-per-second rate limit. Please slow down.",
        ),
        Provider::Mistral => Reply::new(429).set_body_json(json!({
            "object": "error", "message": "Rate limit exceeded", "type": "rate_limited",
            "param": null, "code": "1300"}))
        .insert_header("x-ratelimit-remaining-req-minute", "0")
        .insert_header("x-ratelimit-limit-req-minute", "60"),
        Provider::AzureOpenAi => azure_error(
            429,
            "429",
            &format!(
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {secs} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
            ),
        ),
        Provider::Bedrock => aws_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        Provider::Cohere => cohere_error(429, "You are past the per minute request limit, please wait and try again later."),
        Provider::Perplexity => openai_error(
            429,
            "Rate limit exceeded. Please try again later.",
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
        ),
        _ => openai_error(
            429,
            "Rate limit reached for requests",
            "requests",
            Some("rate_limit_exceeded"),
        ),
    };
    reply.insert_header("retry-after", secs.to_string())
}

/// The first requests of an outage scenario.
pub(crate) fn outage(provider: Provider, status: u16) -> Reply {
    match (provider, status) {
        (Provider::Groq, 498) => openai_error(
            498,
            "Flex tier capacity exceeded. Please try again later.",
            "capacity_exceeded",
            Some("capacity_exceeded"),
        ),
        (Provider::DeepSeek, 503) => openai_error(503, "Server Overloaded", "unknown_error", None),
        (Provider::Mistral, 503) => Reply::new(503).set_body_json(json!({
            "object": "error", "message": "Service tier capacity exceeded for this model.",
            "type": "service_tier_capacity_exceeded", "param": null, "code": "3505"})),
        (Provider::OpenRouter, 502) => openrouter_error(
            502,
            "Provider returned error",
            json!({"provider_name": "OpenAI", "raw": "upstream connect error"}),
        ),
        (Provider::OpenRouter, 503) => openrouter_error(
            503,
            "No endpoints found that support the requested parameters.",
            Value::Null,
        ),
        (Provider::OpenRouter, s) => openrouter_error(s, "Internal Server Error", Value::Null),
        (Provider::XAi, s) => xai_error(
            s,
            "Internal error",
            "The service is temporarily unavailable.",
        ),
        (Provider::AzureOpenAi, s) => azure_error(
            s,
            "InternalServerError",
            "The server had an error processing your request.",
        ),
        (Provider::Bedrock, 503) => aws_error(
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        (Provider::Bedrock, s) => aws_error(
            s,
            "InternalServerException",
            "The request processing has failed because of an unknown error.",
        ),
        (Provider::Cohere, s) => cohere_error(
            s,
            "internal server error, this has been reported to our developers",
        ),
        (Provider::Perplexity, s) => perplexity_html(s, "Internal Server Error"),
        (_, s) => openai_error(s, "Internal Server Error", "internal_server_error", None),
    }
}

// ---- successful answers

/// The request id headers each provider sends.
pub(crate) fn with_common_headers(provider: Provider, reply: Reply, rid: &str) -> Reply {
    match provider {
        Provider::AzureOpenAi => reply
            .insert_header("apim-request-id", rid)
            .insert_header("x-request-id", rid)
            .insert_header("x-ms-region", "East US"),
        Provider::Bedrock => reply.insert_header("x-amzn-requestid", rid),
        Provider::Cohere => reply.insert_header("x-trace-id", rid),
        Provider::OpenRouter => reply,
        _ => reply.insert_header("x-request-id", rid),
    }
}

/// The rate-limit headers of a successful answer, in the provider's dialect.
fn with_rate_limits(provider: Provider, reply: Reply) -> Reply {
    use byok_keys::spec::RateLimitDialect as R;
    match spec(provider).rate_limits {
        R::OpenAi => reply
            .insert_header("x-ratelimit-limit-requests", "14400")
            .insert_header("x-ratelimit-remaining-requests", "14399")
            .insert_header("x-ratelimit-reset-requests", "6s")
            .insert_header("x-ratelimit-limit-tokens", "6000")
            .insert_header("x-ratelimit-remaining-tokens", "5990")
            .insert_header("x-ratelimit-reset-tokens", "100ms"),
        R::Single => reply
            .insert_header("x-ratelimit-limit", "20")
            .insert_header("x-ratelimit-remaining", "19")
            .insert_header("x-ratelimit-reset", "1767225660000"),
        R::Mistral => reply
            .insert_header("x-ratelimit-limit-tokens-minute", "500000")
            .insert_header("x-ratelimit-remaining-tokens-minute", "499990")
            .insert_header("x-ratelimit-limit-req-minute", "60")
            .insert_header("x-ratelimit-remaining-req-minute", "59")
            .insert_header("x-ratelimit-tokens-query-cost", "10"),
        _ => reply,
    }
}

/// The chat `usage` object of `provider`: OpenAI's fields and the provider's extras.
fn chat_usage(provider: Provider, c: &Counts) -> Value {
    let mut u = content::openai_chat_usage(c);
    let micro = reported_micro_usd(c.input, c.output);
    match provider {
        Provider::DeepSeek => {
            // Hit + miss = prompt tokens; no OpenAI `cached_tokens`.
            u = json!({
                "prompt_tokens": c.input,
                "completion_tokens": c.output,
                "total_tokens": c.input.saturating_add(c.output),
                "prompt_tokens_details": {"cached_tokens": c.cached},
                "prompt_cache_hit_tokens": c.cached,
                "prompt_cache_miss_tokens": c.input.saturating_sub(c.cached),
                "completion_tokens_details": {"reasoning_tokens": c.reasoning}
            });
        }
        Provider::XAi => {
            u["prompt_tokens_details"] = json!({"text_tokens": c.input, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": c.cached});
            u["num_sources_used"] = json!(0);
            // 1 USD = 10^10 ticks: µUSD × 10^4.
            u["cost_in_usd_ticks"] = json!(micro.saturating_mul(10_000));
        }
        Provider::OpenRouter => {
            u["prompt_tokens_details"] = json!({"cached_tokens": c.cached, "cache_write_tokens": c.cache_write, "audio_tokens": 0});
            u["cost"] = number(&dollars(micro));
            u["is_byok"] = json!(false);
            u["cost_details"] = json!({"upstream_inference_cost": null});
        }
        Provider::Groq => {
            u["queue_time"] = json!(0.012);
            u["prompt_time"] = json!(0.003);
            u["completion_time"] = json!(0.021);
            u["total_time"] = json!(0.024);
        }
        Provider::Mistral => {
            u = json!({
                "prompt_tokens": c.input,
                "completion_tokens": c.output,
                "total_tokens": c.input.saturating_add(c.output)
            });
        }
        _ => {}
    }
    u
}

/// A JSON number with exactly this decimal text.
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A chat completion of `provider` (not streamed).
fn chat_completion(provider: Provider, model: &str, made: &Made) -> Value {
    let mut body = json!({
        "id": "chatcmpl-BYOKTESTKIT0001",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": made.reply.text},
                     "logprobs": null, "finish_reason": finish_reason(made)}],
        "usage": chat_usage(provider, &made.counts),
        "system_fingerprint": "fp_byoktest"
    });
    match provider {
        Provider::OpenRouter => {
            body["id"] = json!("gen-1767225600-BYOKTESTKIT0001");
            body["provider"] = json!("OpenAI");
        }
        Provider::Groq => body["x_groq"] = json!({"id": "req_01byoktestkit"}),
        Provider::AzureOpenAi => {
            body["prompt_filter_results"] =
                json!([{"prompt_index": 0, "content_filter_results": {}}]);
        }
        _ => {}
    }
    body
}

fn finish_reason(made: &Made) -> &'static str {
    if made.reply.truncated {
        "length"
    } else {
        "stop"
    }
}

/// A chat completion streamed in `provider`'s way: usage in the last chunk when
/// asked (`stream_options.include_usage`) or always (OpenRouter, Mistral).
fn chat_stream(provider: Provider, model: &str, request: &Value, made: &Made) -> Events {
    let asked = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let with_usage = asked || !spec(provider).stream.needs_stream_options;
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({
            "id": "chatcmpl-BYOKTESTKIT0001",
            "object": "chat.completion.chunk",
            "created": 1_767_225_600,
            "model": model,
            "choices": choices
        });
        if let Some(u) = usage {
            c["usage"] = u;
        } else if asked {
            c["usage"] = Value::Null;
        }
        (None, c)
    };
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
    let mut events = vec![chunk(
        choice(json!({"role": "assistant", "content": ""}), Value::Null),
        None,
    )];
    for delta in &made.reply.deltas {
        events.push(chunk(choice(json!({"content": delta}), Value::Null), None));
    }
    let usage = chat_usage(provider, &made.counts);
    if provider == Provider::Mistral {
        // Mistral puts the usage on the chunk with the finish reason.
        events.push(chunk(
            choice(json!({}), json!(finish_reason(made))),
            Some(usage),
        ));
    } else {
        events.push(chunk(choice(json!({}), json!(finish_reason(made))), None));
        if with_usage {
            events.push(chunk(json!([]), Some(usage)));
        }
    }
    Events::sse(&events, Some("[DONE]"), false)
}

/// Perplexity's Responses API answer, with its cost breakdown in `usage.cost`.
fn perplexity_response(model: &str, made: &Made) -> Value {
    let c = &made.counts;
    let total = reported_total_micro_usd(Provider::Perplexity, c.input, c.output).unwrap_or(0);
    json!({
        "id": "resp_pplx_BYOKTESTKIT0001",
        "object": "response",
        "created_at": 1_767_225_600,
        "status": if made.reply.truncated { "incomplete" } else { "completed" },
        "model": model,
        "output": [{"id": "msg_pplx_0001", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": made.reply.text, "annotations": []}]}],
        "usage": {
            "input_tokens": c.input,
            "output_tokens": c.output,
            "total_tokens": c.input.saturating_add(c.output),
            "output_tokens_details": {"reasoning_tokens": c.reasoning},
            "citation_tokens": 0,
            "num_search_queries": 1,
            "search_context_size": "low",
            "cost": {
                "input_tokens_cost": number(&dollars(c.input.saturating_mul(REPORTED_INPUT_PER_MTOK))),
                "output_tokens_cost": number(&dollars(c.output.saturating_mul(REPORTED_OUTPUT_PER_MTOK))),
                "request_cost": number(&dollars(PERPLEXITY_REQUEST_FEE_MICRO_USD)),
                "total_cost": number(&dollars(total)),
                "currency": "USD"
            }
        }
    })
}

/// Perplexity streamed: Responses API events ending in `response.completed`.
fn perplexity_stream(model: &str, made: &Made) -> Events {
    let done = perplexity_response(model, made);
    let mut events = vec![(
        Some("response.created"),
        json!({"type": "response.created", "sequence_number": 0,
               "response": {"id": done["id"], "object": "response", "status": "in_progress", "model": model}}),
    )];
    for (n, delta) in made.reply.deltas.iter().enumerate() {
        events.push((
            Some("response.output_text.delta"),
            json!({"type": "response.output_text.delta", "sequence_number": n + 1,
                   "item_id": "msg_pplx_0001", "output_index": 0, "content_index": 0, "delta": delta}),
        ));
    }
    let terminal = if made.reply.truncated {
        "response.incomplete"
    } else {
        "response.completed"
    };
    events.push((
        Some(terminal),
        json!({"type": terminal, "sequence_number": made.reply.deltas.len() + 1, "response": done}),
    ));
    Events::sse(&events, None, false)
}

/// Cohere v2 `usage`: what is billed and what was processed.
fn cohere_usage(c: &Counts) -> Value {
    json!({
        "billed_units": {"input_tokens": c.input, "output_tokens": c.output},
        "tokens": {"input_tokens": c.input.saturating_add(64), "output_tokens": c.output}
    })
}

fn cohere_message(made: &Made) -> Value {
    json!({
        "id": "c0e1e000-0000-4000-8000-000000000001",
        "finish_reason": if made.reply.truncated { "MAX_TOKENS" } else { "COMPLETE" },
        "message": {"role": "assistant", "content": [{"type": "text", "text": made.reply.text}]},
        "usage": cohere_usage(&made.counts)
    })
}

/// Cohere v2 streamed: `message-start`, `content-delta`s, `message-end` with the usage.
fn cohere_stream(made: &Made) -> Events {
    let id = "c0e1e000-0000-4000-8000-000000000001";
    let mut events = vec![
        (
            Some("message-start"),
            json!({"id": id, "type": "message-start",
            "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
        ),
        (
            Some("content-start"),
            json!({"type": "content-start", "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ),
    ];
    for delta in &made.reply.deltas {
        events.push((
            Some("content-delta"),
            json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": delta}}}}),
        ));
    }
    events.push((
        Some("content-end"),
        json!({"type": "content-end", "index": 0}),
    ));
    events.push((
        Some("message-end"),
        json!({"type": "message-end", "delta": {
        "finish_reason": if made.reply.truncated { "MAX_TOKENS" } else { "COMPLETE" },
        "usage": cohere_usage(&made.counts)}}),
    ));
    Events::sse(&events, None, false)
}

/// Bedrock Converse: the answer, its stop reason and camelCase usage
/// (`inputTokens` excludes cache reads and writes).
fn converse(made: &Made) -> Value {
    let c = &made.counts;
    let uncached = c
        .input
        .saturating_sub(c.cached)
        .saturating_sub(c.cache_write);
    json!({
        "output": {"message": {"role": "assistant", "content": [{"text": made.reply.text}]}},
        "stopReason": if made.reply.truncated { "max_tokens" } else { "end_turn" },
        "usage": {
            "inputTokens": uncached,
            "outputTokens": c.output,
            "totalTokens": c.input.saturating_add(c.output),
            "cacheReadInputTokens": c.cached,
            "cacheWriteInputTokens": c.cache_write
        },
        "metrics": {"latencyMs": 42}
    })
}

/// One frame of Bedrock's binary event stream (`application/vnd.amazon.eventstream`).
fn aws_event(kind: &str, payload: &Value) -> Vec<u8> {
    byok_guard::meter::event_stream_frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// Bedrock ConverseStream: `messageStart`, a `contentBlockDelta` per word,
/// `contentBlockStop`, `messageStop`, then `metadata` with the usage.
fn converse_stream(made: &Made) -> Events {
    let whole = converse(made);
    let mut events = vec![aws_event("messageStart", &json!({"role": "assistant"}))];
    for delta in &made.reply.deltas {
        events.push(aws_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": delta}}),
        ));
    }
    events.push(aws_event(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0}),
    ));
    events.push(aws_event(
        "messageStop",
        &json!({"stopReason": whole["stopReason"]}),
    ));
    events.push(aws_event(
        "metadata",
        &json!({"usage": whole["usage"], "metrics": whole["metrics"]}),
    ));
    Events::binary(events)
}

/// The list-models answer.
fn models(provider: Provider) -> Value {
    let probe = spec(provider).probe_model;
    match provider {
        Provider::AzureOpenAi => {
            json!({"data": [{"id": "gpt-4o-mini", "model": "gpt-4o-mini", "owner": "organization",
            "status": "succeeded", "object": "deployment", "created_at": 1_767_225_600}], "object": "list"})
        }
        Provider::Cohere => {
            json!({"models": [{"name": probe, "endpoints": ["chat"], "context_length": 128000}]})
        }
        _ => {
            json!({"object": "list", "data": [{"id": probe, "object": "model", "created": 1_767_225_600, "owned_by": "byok-testkit"}]})
        }
    }
}

/// The key-info answer (OpenRouter `/api/v1/key`, xAI `/v1/api-key`, DeepSeek
/// `/user/balance`, Cohere `/v1/check-api-key`) for a key in `scenario`.
fn key_info(provider: Provider, scenario: &Scenario, key: &str) -> Value {
    let Some(info) = spec(provider).key_info else {
        return Value::Null;
    };
    let broke = matches!(scenario, Scenario::NoCredits);
    match info.reader {
        KeyInfoReader::OpenRouterKey => {
            let capped = matches!(scenario, Scenario::SpendLimit);
            json!({"data": {
                "label": echo(key, 12, 4),
                "limit": if capped { json!(10) } else { Value::Null },
                "limit_remaining": if capped { json!(0) } else { Value::Null },
                "limit_reset": if capped { json!("monthly") } else { Value::Null },
                "include_byok_in_limit": false,
                "usage": if capped { 10.0 } else { 2.5 },
                "usage_daily": 0.5, "usage_weekly": 1.25, "usage_monthly": 2.5,
                "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
                "is_free_tier": broke,
                "is_management_key": false,
                "is_provisioning_key": false,
                "expires_at": "2027-12-31T23:59:59Z"
            }})
        }
        KeyInfoReader::XAiApiKey => {
            let blocked = matches!(scenario, Scenario::ApiBlocked);
            json!({
                "redacted_api_key": echo(key, 4, 4),
                "user_id": "00000000-0000-4000-8000-0000000000a1",
                "name": "byok-testkit",
                "create_time": "2026-11-01T00:00:00Z",
                "modify_time": "2026-11-01T00:00:00Z",
                "modified_by": "00000000-0000-4000-8000-0000000000a1",
                "team_id": "0a1b2c3d-0000-4000-8000-00000000b40c",
                "acls": ["api-key:model:*", "api-key:endpoint:*"],
                "api_key_id": "00000000-0000-4000-8000-0000000000a2",
                "team_blocked": false,
                "api_key_blocked": blocked,
                "api_key_disabled": false
            })
        }
        KeyInfoReader::DeepSeekBalance => {
            let (total, granted, topped) = if broke {
                ("0.00", "0.00", "0.00")
            } else {
                ("110.00", "10.00", "100.00")
            };
            json!({"is_available": !broke, "balance_infos": [
                {"currency": "USD", "total_balance": total, "granted_balance": granted, "topped_up_balance": topped}
            ]})
        }
        KeyInfoReader::CohereCheck => json!({
            "valid": true,
            "organization_id": "00000000-0000-4000-8000-0000000c0e1e",
            "owner_id": "00000000-0000-4000-8000-0000000c0e1f"
        }),
        _ => Value::Null,
    }
}

/// A successful answer at `endpoint`.
pub(crate) fn success(
    provider: Provider,
    endpoint: Endpoint,
    path: &str,
    model: &str,
    scenario: &Scenario,
    key: &str,
    made: &Made,
) -> Reply {
    let body = match endpoint {
        Endpoint::KeyInfo => key_info(provider, scenario, key),
        Endpoint::ListModels => models(provider),
        Endpoint::Responses => perplexity_response(model, made),
        _ => match spec(provider).wire {
            Wire::BedrockConverse => converse(made),
            Wire::CohereChat if cohere_native(path) => cohere_message(made),
            _ => chat_completion(provider, model, made),
        },
    };
    with_rate_limits(provider, Reply::new(200).set_body_json(body))
}

/// The answer to a streamed request: the provider's event stream.
pub(crate) fn streamed(
    provider: Provider,
    endpoint: Endpoint,
    path: &str,
    model: &str,
    request: &Value,
    made: &Made,
) -> Reply {
    let events = match (endpoint, spec(provider).wire) {
        (Endpoint::Responses, _) => perplexity_stream(model, made),
        (_, Wire::BedrockConverse) => {
            return Reply::new(200)
                .set_events(converse_stream(made), "application/vnd.amazon.eventstream");
        }
        (_, Wire::CohereChat) if cohere_native(path) => cohere_stream(made),
        _ => chat_stream(provider, model, request, made),
    };
    let reply = Reply::new(200).set_events(events, "text/event-stream; charset=utf-8");
    if provider == Provider::OpenRouter {
        // OpenRouter's own comments before the first event.
        return reply;
    }
    with_rate_limits(provider, reply)
}

/// What a stream that fails after it started sends last.
pub(crate) fn stream_error(provider: Provider, endpoint: Endpoint, path: &str) -> Vec<Vec<u8>> {
    if spec(provider).wire == Wire::BedrockConverse {
        // An exception frame: the stream's error under the 200.
        return vec![byok_guard::meter::event_stream_frame(
            &[
                (":exception-type", "modelStreamErrorException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"The system encountered an unexpected error during processing. Try your request again."}"#,
        )];
    }
    let event = match (endpoint, spec(provider).wire) {
        (Endpoint::Responses, _) => (
            Some("error"),
            json!({"type": "error", "code": "server_error", "message": "An internal error occurred.", "sequence_number": 99}),
        ),
        // Cohere ends a failed stream with `message-end`, finish reason `ERROR`.
        (_, Wire::CohereChat) if cohere_native(path) => (
            Some("message-end"),
            json!({"type": "message-end", "delta": {"finish_reason": "ERROR",
                   "error": "internal server error, this has been reported to our developers"}}),
        ),
        // After the 200, OpenRouter reports an error as a chunk with `finish_reason: "error"`.
        _ if provider == Provider::OpenRouter => (
            None,
            json!({"id": "gen-1767225600-BYOKTESTKIT0001", "object": "chat.completion.chunk", "created": 1_767_225_600,
                   "model": "openai/gpt-4o-mini", "provider": "OpenAI",
                   "error": {"code": 502, "message": "Provider disconnected unexpectedly"},
                   "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error", "native_finish_reason": "error"}]}),
        ),
        _ => (
            None,
            json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
        ),
    };
    Events::sse(&[event], None, false).events
}

/// Whether a request is streamed: `"stream": true` in the body, or Bedrock's
/// `converse-stream` path.
pub(crate) fn is_streamed(path: &str, body: &Value) -> bool {
    path.ends_with("/converse-stream") || body.get("stream") == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_only_their_paths() {
        let azure = "/openai/deployments/{deployment}/chat/completions?api-version={api_version}";
        assert!(matches_template(
            azure,
            "/openai/deployments/gpt-4o-mini/chat/completions"
        ));
        assert!(matches_template(
            azure,
            "/gw/openai/deployments/x/chat/completions"
        ));
        assert!(!matches_template(
            azure,
            "/openai/deployments/a/b/chat/completions"
        ));
        assert!(!matches_template(
            azure,
            "/openai/deployments/x/completions"
        ));
        assert!(matches_template(
            "/model/{model}/converse",
            "/model/amazon.nova-micro-v1:0/converse"
        ));
        assert!(!matches_template(
            "/model/{model}/converse",
            "/model/x/converse-stream"
        ));
        assert!(matches_template(
            "/model/{model}/converse-stream",
            "/model/x/converse-stream"
        ));
        assert!(matches_template("/v1/models", "/prefix/v1/models"));
    }

    #[test]
    fn endpoints_from_the_spec() {
        use Endpoint as E;
        assert_eq!(
            endpoint(Provider::Groq, "POST", "/openai/v1/chat/completions"),
            E::Billable
        );
        assert_eq!(
            endpoint(Provider::Groq, "GET", "/openai/v1/models"),
            E::ListModels
        );
        assert_eq!(
            endpoint(Provider::OpenRouter, "GET", "/api/v1/key"),
            E::KeyInfo
        );
        assert_eq!(
            endpoint(Provider::DeepSeek, "GET", "/user/balance"),
            E::KeyInfo
        );
        assert_eq!(
            endpoint(Provider::DeepSeek, "POST", "/chat/completions"),
            E::Billable
        );
        assert_eq!(
            endpoint(Provider::Cohere, "POST", "/v1/check-api-key"),
            E::KeyInfo
        );
        assert_eq!(endpoint(Provider::Cohere, "POST", "/v2/chat"), E::Billable);
        assert_eq!(
            endpoint(Provider::Perplexity, "POST", "/v1/responses"),
            E::Responses
        );
        assert_eq!(
            endpoint(Provider::Perplexity, "POST", "/chat/completions"),
            E::Other
        );
        assert_eq!(
            endpoint(
                Provider::Bedrock,
                "POST",
                "/model/amazon.nova-micro-v1%3A0/converse"
            ),
            E::Billable
        );
        assert_eq!(endpoint(Provider::XAi, "GET", "/v1/api-key"), E::KeyInfo);
        assert_eq!(endpoint(Provider::XAi, "DELETE", "/v1/models"), E::Other);
    }

    #[test]
    fn reported_costs_are_exact() {
        assert_eq!(reported_micro_usd(10, 12), 34);
        assert_eq!(dollars(34), "0.000034");
        assert_eq!(dollars(1_234_567), "1.234567");
        assert_eq!(number("0.000034").as_f64(), Some(0.000034));
        assert_eq!(
            percent_decode("amazon.nova-micro-v1%3A0"),
            "amazon.nova-micro-v1:0"
        );
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
    }
}

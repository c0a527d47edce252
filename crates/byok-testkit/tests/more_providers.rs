//! The mocks of the providers after the first three, read with a plain HTTP
//! client: routes and auth from each provider's spec, its own usage shape and
//! reported cost, its own refusal bodies, streams with usage, key-info probes.

use byok_keys::Provider;
use byok_keys::spec::{Auth, Wire};
use byok_testkit::compat::{
    PERPLEXITY_REQUEST_FEE_MICRO_USD, reported_micro_usd, reported_total_micro_usd,
};
use byok_testkit::{Endpoint, MockBuilder, MockProvider, REPLY_WORDS, Scenario};
use serde_json::{Value, json};

/// 9 o200k tokens.
const FOX: &str = "The quick brown fox jumps over the lazy dog";
const FOX_TOKENS: u64 = 9;

/// The providers of `byok_testkit::compat`: every one after the first three.
fn more() -> impl Iterator<Item = Provider> {
    Provider::ALL.into_iter().skip(3)
}

fn key(provider: Provider) -> String {
    format!("test-key-for-{}-0123456789abcdef", provider.as_str())
}

async fn start(provider: Provider, scenario: Scenario) -> MockProvider {
    MockBuilder::new(provider).scenario(scenario).start().await
}

/// The provider's auth header for `key`.
fn auth(provider: Provider, key: &str) -> (String, String) {
    match provider.spec().auth {
        Auth::Bearer => ("authorization".into(), format!("Bearer {key}")),
        Auth::Header(name) => (name.to_owned(), key.to_owned()),
        other => panic!("{other:?}"),
    }
}

/// The billable request an SDK would send: path and body.
fn billable(provider: Provider, stream: bool) -> (String, Value) {
    let spec = provider.spec();
    match spec.wire {
        Wire::OpenAiResponses => (
            "/v1/responses".into(),
            json!({"model": "sonar", "input": FOX, "stream": stream}),
        ),
        Wire::BedrockConverse => (
            "/model/amazon.nova-micro-v1%3A0/converse".into(),
            json!({"messages": [{"role": "user", "content": [{"text": FOX}]}]}),
        ),
        Wire::CohereChat => (
            "/v2/chat".into(),
            json!({"model": spec.probe_model, "stream": stream,
                   "messages": [{"role": "user", "content": FOX}]}),
        ),
        _ => {
            let path = spec
                .chat_path
                .unwrap()
                .replace("{deployment}", "gpt-4o-mini")
                .replace("{api_version}", "2024-10-21");
            (
                path,
                json!({"model": spec.probe_model, "stream": stream,
                       "messages": [{"role": "user", "content": FOX}]}),
            )
        }
    }
}

async fn send(
    mock: &MockProvider,
    provider: Provider,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let (name, value) = auth(provider, &key(provider));
    let mut r = reqwest::Client::new()
        .request(method, format!("{}{path}", mock.uri()))
        .header(name, value);
    if let Some(b) = body {
        r = r.json(b);
    }
    r.send().await.unwrap()
}

async fn post(mock: &MockProvider, provider: Provider, stream: bool) -> (u16, String) {
    let (path, body) = billable(provider, stream);
    let r = send(mock, provider, reqwest::Method::POST, &path, Some(&body)).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// (input, output) tokens of a whole answer, read the provider's way.
fn tokens(provider: Provider, v: &Value) -> (u64, u64) {
    let u = &v["usage"];
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("{provider}: {v}"));
    match provider.spec().wire {
        Wire::BedrockConverse => (
            n(&u["inputTokens"]) + n(&u["cacheReadInputTokens"]) + n(&u["cacheWriteInputTokens"]),
            n(&u["outputTokens"]),
        ),
        Wire::CohereChat => (
            n(&u["billed_units"]["input_tokens"]),
            n(&u["billed_units"]["output_tokens"]),
        ),
        Wire::OpenAiResponses => (n(&u["input_tokens"]), n(&u["output_tokens"])),
        _ => (n(&u["prompt_tokens"]), n(&u["completion_tokens"])),
    }
}

#[tokio::test]
async fn every_provider_answers_its_billable_call_with_its_own_usage() {
    for provider in more() {
        let mock = start(provider, Scenario::Valid).await;
        let (status, text) = post(&mock, provider, false).await;
        assert_eq!(status, 200, "{provider}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            tokens(provider, &v),
            (FOX_TOKENS, REPLY_WORDS.len() as u64),
            "{provider}: {v}"
        );
        assert_eq!(
            mock.count(Endpoint::Billable).await + mock.count(Endpoint::Responses).await,
            1
        );
        let u = &v["usage"];
        match provider {
            Provider::DeepSeek => {
                assert_eq!(u["prompt_cache_hit_tokens"], 0);
                assert_eq!(u["prompt_cache_miss_tokens"], FOX_TOKENS);
            }
            Provider::XAi => {
                let ticks = reported_micro_usd(FOX_TOKENS, 12) * 10_000;
                assert_eq!(u["cost_in_usd_ticks"], ticks, "{v}");
            }
            Provider::OpenRouter => {
                let micro = reported_micro_usd(FOX_TOKENS, 12);
                assert_eq!(u["cost"].as_f64().unwrap(), micro as f64 / 1e6, "{v}");
                assert_eq!(u["is_byok"], false);
            }
            Provider::Perplexity => {
                let micro = reported_total_micro_usd(provider, FOX_TOKENS, 12).unwrap();
                assert_eq!(
                    micro,
                    reported_micro_usd(FOX_TOKENS, 12) + PERPLEXITY_REQUEST_FEE_MICRO_USD
                );
                assert_eq!(
                    u["cost"]["total_cost"].as_f64().unwrap(),
                    micro as f64 / 1e6
                );
            }
            Provider::Cohere => {
                // Billed units, not the processed tokens (which include the prompt template).
                assert!(u["tokens"]["input_tokens"].as_u64().unwrap() > FOX_TOKENS);
            }
            _ => {}
        }
    }
}

/// The usage of a streamed answer: the last event that carries one.
fn streamed_usage(provider: Provider, text: &str) -> Value {
    let mut last = Value::Null;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let u = match provider.spec().wire {
            Wire::OpenAiResponses => v["response"]["usage"].clone(),
            Wire::CohereChat => v["delta"]["usage"].clone(),
            _ => v["usage"].clone(),
        };
        if u.is_object() {
            last = json!({"usage": u});
        }
    }
    last
}

#[tokio::test]
async fn streams_carry_the_same_usage_as_whole_answers() {
    for provider in more() {
        let mock = start(provider, Scenario::Valid).await;
        if provider == Provider::Bedrock {
            // AWS's binary event stream: read with byok's own meter.
            let (path, body) = billable(provider, false);
            let path = format!("{path}-stream");
            let r = send(&mock, provider, reqwest::Method::POST, &path, Some(&body)).await;
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.headers()["content-type"],
                "application/vnd.amazon.eventstream"
            );
            let bytes = r.bytes().await.unwrap();
            let mut meter = byok_guard::meter::StreamMeter::new(
                byok_guard::meter::StreamFormat::BedrockEventStream,
                "amazon.nova-micro-v1:0",
                1,
            );
            let mut out = Vec::new();
            meter.feed(&bytes, &mut out);
            let m = meter.finish(&mut out);
            assert!(m.reported && m.complete, "{m:?}");
            assert_eq!(
                (m.usage.prompt_tokens(), m.usage.completion_tokens()),
                (FOX_TOKENS, REPLY_WORDS.len() as u64)
            );
            continue;
        }
        let (path, mut body) = billable(provider, true);
        if provider.spec().stream.needs_stream_options {
            body["stream_options"] = json!({"include_usage": true});
        }
        let r = send(&mock, provider, reqwest::Method::POST, &path, Some(&body)).await;
        assert_eq!(r.status(), 200, "{provider}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{provider}"
        );
        let text = r.text().await.unwrap();
        let usage = streamed_usage(provider, &text);
        assert_eq!(
            tokens(provider, &usage),
            (FOX_TOKENS, REPLY_WORDS.len() as u64),
            "{provider}: {text}"
        );
        if provider.spec().wire == Wire::OpenAiChat {
            assert!(text.trim_end().ends_with("data: [DONE]"), "{provider}");
        }
    }
}

#[tokio::test]
async fn usage_comes_unasked_where_the_provider_always_sends_it() {
    for provider in [Provider::Mistral, Provider::OpenRouter] {
        let mock = start(provider, Scenario::Valid).await;
        let (_, text) = post(&mock, provider, true).await;
        let usage = streamed_usage(provider, &text);
        assert_eq!(tokens(provider, &usage).0, FOX_TOKENS, "{provider}: {text}");
    }
    // Groq sends it only when asked, as OpenAI does.
    let mock = start(Provider::Groq, Scenario::Valid).await;
    let (_, text) = post(&mock, Provider::Groq, true).await;
    assert_eq!(streamed_usage(Provider::Groq, &text), Value::Null, "{text}");
}

#[tokio::test]
async fn refusals_are_the_providers_own_bodies() {
    // (provider, scenario, status, a piece of the body)
    let rows: &[(Provider, Scenario, u16, &str)] = &[
        (
            Provider::OpenRouter,
            Scenario::InvalidKey,
            401,
            "User not found.",
        ),
        (
            Provider::OpenRouter,
            Scenario::NoCredits,
            402,
            "openrouter_credits",
        ),
        (
            Provider::OpenRouter,
            Scenario::SpendLimit,
            402,
            "openrouter_key_limit",
        ),
        (Provider::Groq, Scenario::InvalidKey, 401, "invalid_api_key"),
        (
            Provider::Groq,
            Scenario::Deactivated,
            400,
            "organization_restricted",
        ),
        (
            Provider::XAi,
            Scenario::InvalidKey,
            400,
            "Incorrect API key provided: te***ef",
        ),
        (
            Provider::XAi,
            Scenario::NoCredits,
            429,
            "used all available credits",
        ),
        (
            Provider::XAi,
            Scenario::SpendLimit,
            403,
            "doesn't have any credits yet",
        ),
        (Provider::XAi, Scenario::ApiBlocked, 403, "blocked"),
        (
            Provider::DeepSeek,
            Scenario::InvalidKey,
            401,
            "Authentication Fails",
        ),
        (
            Provider::DeepSeek,
            Scenario::NoCredits,
            402,
            "Insufficient Balance",
        ),
        (Provider::Mistral, Scenario::InvalidKey, 401, "Unauthorized"),
        (Provider::Mistral, Scenario::DailyQuota, 401, "Unauthorized"),
        (Provider::Together, Scenario::NoCredits, 402, "credit_limit"),
        (
            Provider::Fireworks,
            Scenario::NoCredits,
            412,
            "PRECONDITION_FAILED",
        ),
        (
            Provider::AzureOpenAi,
            Scenario::InvalidKey,
            401,
            "wrong API endpoint",
        ),
        (
            Provider::AzureOpenAi,
            Scenario::ModelAccess,
            404,
            "DeploymentNotFound",
        ),
        (
            Provider::AzureOpenAi,
            Scenario::DailyQuota,
            429,
            "retry after 86400 seconds",
        ),
        (
            Provider::Bedrock,
            Scenario::InvalidKey,
            403,
            "Authentication failed",
        ),
        (
            Provider::Bedrock,
            Scenario::PermissionDenied,
            403,
            "Invalid API Key format",
        ),
        (Provider::Perplexity, Scenario::InvalidKey, 401, "openresty"),
        (
            Provider::Cohere,
            Scenario::InvalidKey,
            401,
            "invalid api token",
        ),
        (Provider::Cohere, Scenario::NoCredits, 429, "Trial key"),
    ];
    for (provider, scenario, status, piece) in rows {
        assert!(scenario.supported_by(*provider), "{provider} {scenario:?}");
        let mock = start(*provider, scenario.clone()).await;
        let (got, text) = post(&mock, *provider, false).await;
        assert_eq!(got, *status, "{provider} {scenario:?}: {text}");
        assert!(text.contains(piece), "{provider} {scenario:?}: {text}");
    }
    // Bedrock's error type travels in a header.
    let mock = start(Provider::Bedrock, Scenario::InvalidKey).await;
    let (path, body) = billable(Provider::Bedrock, false);
    let r = send(
        &mock,
        Provider::Bedrock,
        reqwest::Method::POST,
        &path,
        Some(&body),
    )
    .await;
    assert!(
        r.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("AccessDeniedException")
    );
}

#[tokio::test]
async fn rate_limits_and_outages_then_recovery() {
    use std::time::Duration;
    for provider in more() {
        let scenario = Scenario::RateLimited {
            times: 1,
            retry_after: Duration::from_secs(2),
        };
        let mock = start(provider, scenario).await;
        let (first, text) = post(&mock, provider, false).await;
        assert_eq!(first, 429, "{provider}: {text}");
        let (second, _) = post(&mock, provider, false).await;
        assert_eq!(second, 200, "{provider}");
        let mock = start(
            provider,
            Scenario::Outage {
                times: 1,
                status: 503,
            },
        )
        .await;
        assert_eq!(post(&mock, provider, false).await.0, 503, "{provider}");
        assert_eq!(post(&mock, provider, false).await.0, 200, "{provider}");
    }
    let mock = start(
        Provider::Groq,
        Scenario::Outage {
            times: 1,
            status: 498,
        },
    )
    .await;
    let (status, text) = post(&mock, Provider::Groq, false).await;
    assert_eq!(status, 498);
    assert!(text.contains("capacity_exceeded"));
}

#[tokio::test]
async fn key_info_probes_tell_more_than_valid() {
    let get = reqwest::Method::GET;
    // OpenRouter: the key's limit and what is left of it.
    let mock = start(Provider::OpenRouter, Scenario::SpendLimit).await;
    let r = send(
        &mock,
        Provider::OpenRouter,
        get.clone(),
        "/api/v1/key",
        None,
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["limit"], 10);
    assert_eq!(v["data"]["limit_remaining"], 0);
    assert!(
        !v["data"]["label"]
            .as_str()
            .unwrap()
            .contains(&key(Provider::OpenRouter))
    );
    assert_eq!(mock.count(Endpoint::KeyInfo).await, 1);
    // DeepSeek: the balance, as decimal strings.
    for (scenario, available, total) in [
        (Scenario::Valid, true, "110.00"),
        (Scenario::NoCredits, false, "0.00"),
    ] {
        let mock = start(Provider::DeepSeek, scenario).await;
        let r = send(
            &mock,
            Provider::DeepSeek,
            get.clone(),
            "/user/balance",
            None,
        )
        .await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["is_available"], available);
        assert_eq!(v["balance_infos"][0]["total_balance"], total);
    }
    // xAI: blocked flags and ACLs.
    let mock = start(Provider::XAi, Scenario::ApiBlocked).await;
    let r = send(&mock, Provider::XAi, get, "/v1/api-key", None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["api_key_blocked"], true);
    assert_eq!(v["acls"][0], "api-key:model:*");
    // Cohere: `{"valid": bool}`.
    for (scenario, valid) in [(Scenario::Valid, true), (Scenario::InvalidKey, false)] {
        let mock = start(Provider::Cohere, scenario).await;
        let r = send(
            &mock,
            Provider::Cohere,
            reqwest::Method::POST,
            "/v1/check-api-key",
            None,
        )
        .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["valid"], valid);
    }
}

#[tokio::test]
async fn without_a_key_or_off_route_the_provider_says_so() {
    for provider in more() {
        let mock = start(provider, Scenario::Valid).await;
        let (path, body) = billable(provider, false);
        let r = reqwest::Client::new()
            .post(format!("{}{path}", mock.uri()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 401 | 403 | 400),
            "{provider}: {}",
            r.status()
        );
        let r = send(
            &mock,
            provider,
            reqwest::Method::POST,
            "/no/such/route",
            Some(&body),
        )
        .await;
        assert_eq!(r.status(), 404, "{provider}");
        let recorded = mock.requests().await;
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[1].endpoint, Endpoint::Other);
    }
}

#[tokio::test]
async fn list_models_where_the_provider_has_it() {
    for provider in more() {
        let Some(path) = provider.spec().models_path else {
            continue;
        };
        let path = path.split('?').next().unwrap();
        let mock = start(provider, Scenario::Valid).await;
        let r = send(&mock, provider, reqwest::Method::GET, path, None).await;
        assert_eq!(r.status(), 200, "{provider}");
        assert_eq!(mock.count(Endpoint::ListModels).await, 1, "{provider}");
    }
}

#[test]
fn every_provider_plays_enough_of_the_catalogue() {
    for provider in more() {
        let n = Scenario::catalogue()
            .iter()
            .filter(|s| s.supported_by(provider))
            .count();
        assert!(n >= 10, "{provider}: {n}");
    }
}

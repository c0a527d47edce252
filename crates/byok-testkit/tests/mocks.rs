//! The mocks answer like the providers: auth checks, bodies, headers, counts.

use std::time::Duration;

use byok_keys::{KeyKind, Provider, fake};
use byok_testkit::{Endpoint, MockAnthropic, MockGemini, MockOpenAi, REPLY_WORDS, Scenario};
use serde_json::Value;

/// Send one request; the status, headers and body text of the answer.
async fn send(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        req = req.body(body.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let (status, headers, text) = send(reqwest::Method::GET, url, headers, None).await;
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let (status, headers, text) = send(reqwest::Method::POST, url, headers, Some(body)).await;
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// The status and one field of the provider's `error` object, for one-line asserts.
fn refusal<'v>(status: u16, body: &'v Value, field: &str) -> (u16, Option<&'v str>) {
    (status, body["error"][field].as_str())
}

#[tokio::test]
async fn openai_checks_bearer_auth_and_paths() {
    let mock = MockOpenAi::start().await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let url = format!("{}/v1/models", mock.uri());
    let (status, _, body) = get(&url, &[]).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didn't provide an API key")
    );
    let (status, headers, body) = get(&url, &[("authorization", &format!("Bearer {key}"))]).await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    assert!(
        headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    assert_eq!(headers["x-ratelimit-limit-requests"], "500");
    let (status, _, body) = get(
        &format!("{}/v1/nothing", mock.uri()),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(mock.requests().await.len(), 3);
    assert_eq!(mock.count(Endpoint::ListModels).await, 2);
    assert_eq!(mock.count(Endpoint::Other).await, 1);
}

#[tokio::test]
async fn openai_wrong_key_message_echoes_a_mask_only() {
    let mock = MockOpenAi::builder()
        .scenario(Scenario::InvalidKey)
        .start()
        .await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 2);
    let (status, _, body) = get(
        &format!("{}/v1/models", mock.uri()),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&key[key.len() - 4..]));
    assert!(!message.contains(&key));
}

#[tokio::test]
async fn anthropic_needs_key_and_version() {
    let mock = MockAnthropic::start().await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 1);
    let url = format!("{}/v1/models", mock.uri());
    let (status, headers, body) = get(&url, &[]).await;
    assert_eq!(
        refusal(status, &body, "type"),
        (401, Some("authentication_error"))
    );
    assert!(headers.contains_key("request-id"));
    let (status, _, body) = get(&url, &[("x-api-key", &key)]).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );
    let (status, headers, body) = get(
        &url,
        &[("x-api-key", &key), ("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["has_more"], false);
    assert!(
        headers["anthropic-ratelimit-requests-reset"]
            .to_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[tokio::test]
async fn anthropic_rate_limit_then_fine_with_whole_second_retry_after() {
    let mock = MockAnthropic::builder()
        .scenario(Scenario::RateLimited {
            times: 2,
            retry_after: Duration::from_millis(1500),
        })
        .start()
        .await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 1);
    let url = format!("{}/v1/models", mock.uri());
    let h = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    for _ in 0..2 {
        let (status, headers, body) = get(&url, &h).await;
        assert_eq!(
            refusal(status, &body, "type"),
            (429, Some("rate_limit_error"))
        );
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "0");
    }
    assert_eq!(get(&url, &h).await.0, 200);
}

#[tokio::test]
async fn gemini_records_a_query_key_so_tests_can_forbid_it() {
    let mock = MockGemini::start().await;
    let key = fake::key(Provider::Google, KeyKind::Standard, 1);
    let (status, _, body) = get(&format!("{}/v1beta/models", mock.uri()), &[]).await;
    assert_eq!(
        refusal(status, &body, "status"),
        (403, Some("PERMISSION_DENIED"))
    );
    let (status, _, _) = get(&format!("{}/v1beta/models?key={key}", mock.uri()), &[]).await;
    assert_eq!(status, 200, "the real API accepts ?key=, so does the mock");
    let (status, _, body) = get(
        &format!("{}/v1beta/models", mock.uri()),
        &[("x-goog-api-key", &key)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["models"][0]["name"], "models/gemini-2.5-flash-lite");
    let sent = mock.requests().await;
    assert_eq!(
        sent[1].query.as_deref(),
        Some(format!("key={key}").as_str())
    );
    assert_eq!(sent[2].query, None);
    assert_eq!(sent[2].header("x-goog-api-key"), Some(key.as_str()));
}

#[tokio::test]
async fn gemini_billable_answers_per_scenario() {
    let mock = MockGemini::builder()
        .scenario(Scenario::DailyQuota)
        .start()
        .await;
    let key = fake::key(Provider::Google, KeyKind::Auth, 1);
    let client = reqwest::Client::new();
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash-lite:generateContent",
        mock.uri()
    );
    let resp = client
        .post(&url)
        .header("x-goog-api-key", &key)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details[0]["violations"][0]["quotaId"]
            .as_str()
            .unwrap()
            .contains("PerDay")
    );
    assert_eq!(details[1]["retryDelay"], "41s");
    // The free call still works: only billable calls reveal the quota.
    assert_eq!(
        get(
            &format!("{}/v1beta/models", mock.uri()),
            &[("x-goog-api-key", &key)]
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn per_key_scenarios_and_runtime_changes() {
    let good = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let bad = fake::key(Provider::OpenAi, KeyKind::Project, 2);
    let mock = MockOpenAi::builder()
        .scenario_for_key(&bad, Scenario::Deactivated)
        .start()
        .await;
    let url = format!("{}/v1/models", mock.uri());
    let auth = |k: &str| format!("Bearer {k}");
    assert_eq!(get(&url, &[("authorization", &auth(&good))]).await.0, 200);
    let (status, _, body) = get(&url, &[("authorization", &auth(&bad))]).await;
    assert_eq!(
        refusal(status, &body, "code"),
        (401, Some("account_deactivated"))
    );
    mock.set_scenario(Scenario::Outage {
        times: 1,
        status: 503,
    });
    let (status, _, body) = get(&url, &[("authorization", &auth(&good))]).await;
    assert_eq!(
        refusal(status, &body, "type"),
        (503, Some("service_unavailable_error"))
    );
    assert_eq!(get(&url, &[("authorization", &auth(&good))]).await.0, 200);
}

#[tokio::test]
async fn garbage_is_a_200_html_page() {
    let mock = MockOpenAi::builder()
        .scenario(Scenario::Garbage)
        .start()
        .await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/models", mock.uri()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().starts_with("<!DOCTYPE html>"));
}

#[test]
#[should_panic(expected = "OrganizationMismatch has no Google answer")]
fn unsupported_scenarios_are_refused() {
    let _ = MockGemini::builder().scenario(Scenario::OrganizationMismatch);
}

#[test]
fn unsupported_scenarios_as_errors() {
    let err = MockOpenAi::builder()
        .try_scenario(Scenario::DailyQuota)
        .unwrap_err();
    assert_eq!(err.code(), "unsupported_scenario");
    assert_eq!(
        err,
        byok_testkit::TestkitError::UnsupportedScenario {
            scenario: Scenario::DailyQuota,
            provider: Provider::OpenAi
        }
    );
    assert!(err.to_string().contains("pick a scenario"));
    assert!(
        MockOpenAi::builder()
            .try_scenario(Scenario::NoCredits)
            .is_ok()
    );
}

// ---------------------------------------------------------------------------
// Fidelity: requests shaped exactly like the official SDKs send them
// (openai-python 3.x, anthropic-python 2.x, google-genai 3.x).

/// The headers every Stainless-generated SDK (openai-python, anthropic-python) adds.
const STAINLESS: [(&str, &str); 6] = [
    ("accept", "application/json"),
    ("content-type", "application/json"),
    ("x-stainless-lang", "python"),
    ("x-stainless-runtime", "CPython"),
    ("x-stainless-retry-count", "0"),
    ("x-stainless-read-timeout", "600"),
];

/// openai-python's headers for `key`, plus `extra`.
fn openai_sdk<'a>(auth: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("authorization", auth),
        ("user-agent", "OpenAI/Python 3.0.0"),
        ("x-stainless-package-version", "3.0.0"),
    ];
    h.extend(STAINLESS);
    h.extend_from_slice(extra);
    h
}

/// anthropic-python 2.x's headers: the key as a bearer token.
fn anthropic_sdk(auth: &str) -> Vec<(&str, &str)> {
    let mut h = vec![
        ("authorization", auth),
        ("anthropic-version", "2023-06-01"),
        ("user-agent", "Anthropic/Python 2.0.0"),
        ("x-stainless-package-version", "2.0.0"),
    ];
    h.extend(STAINLESS);
    h
}

/// google-genai 3.x's headers.
fn genai_sdk(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("x-goog-api-key", key),
        ("content-type", "application/json"),
        ("user-agent", "google-genai-sdk/3.0.0 gl-python/3.12.3"),
        (
            "x-goog-api-client",
            "google-genai-sdk/3.0.0 gl-python/3.12.3",
        ),
    ]
}

fn messages_body() -> Value {
    serde_json::json!({"max_tokens": 1, "messages": [{"role": "user", "content": "ping"}], "model": "claude-haiku-4-5"})
}

fn genai_body() -> Value {
    serde_json::json!({"contents": [{"parts": [{"text": "ping"}], "role": "user"}],
                       "generationConfig": {"maxOutputTokens": 1}})
}

fn responses_body() -> Value {
    serde_json::json!({"input": "ping", "model": "gpt-4o-mini-2024-07-18", "max_output_tokens": 16})
}

#[tokio::test]
async fn anthropic_accepts_the_key_as_a_bearer_token_like_anthropic_python_2() {
    let mock = MockAnthropic::start().await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 3);
    let auth = format!("Bearer {key}");
    let h = anthropic_sdk(&auth);
    let (status, headers, body) =
        post(&format!("{}/v1/messages", mock.uri()), &h, &messages_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "message");
    assert_eq!(body["usage"]["output_tokens"], 1);
    assert!(headers.contains_key("request-id"));
    assert_eq!(get(&format!("{}/v1/models", mock.uri()), &h).await.0, 200);
    // The scenario follows the bearer key like it follows x-api-key.
    let per_key = MockAnthropic::builder()
        .scenario_for_key(&key, Scenario::InvalidKey)
        .start()
        .await;
    let (status, _, body) = post(
        &format!("{}/v1/messages", per_key.uri()),
        &h,
        &messages_body(),
    )
    .await;
    assert_eq!(
        refusal(status, &body, "type"),
        (401, Some("authentication_error"))
    );
    // Neither header: still Anthropic's own refusal.
    let (status, _, body) = get(
        &format!("{}/v1/models", mock.uri()),
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(
        refusal(status, &body, "type"),
        (401, Some("authentication_error"))
    );
}

#[tokio::test]
async fn gemini_serves_v1_like_google_genai_3_and_v1beta() {
    let mock = MockGemini::start().await;
    let key = fake::key(Provider::Google, KeyKind::Standard, 3);
    let h = genai_sdk(&key);
    for version in ["v1", "v1beta"] {
        let url = format!(
            "{}/{version}/models/gemini-2.5-flash:generateContent",
            mock.uri()
        );
        let (status, _, body) = post(&url, &h, &genai_body()).await;
        assert_eq!(status, 200, "{version}: {body}");
        assert_eq!(body["modelVersion"], "gemini-2.5-flash");
        assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 1);
        let (status, _, body) = get(&format!("{}/{version}/models", mock.uri()), &h).await;
        assert_eq!(status, 200, "{version}");
        assert!(body["models"].is_array());
    }
    assert_eq!(mock.count(Endpoint::Billable).await, 2);
    assert_eq!(mock.count(Endpoint::ListModels).await, 2);
    // Every scenario answers under /v1 as under /v1beta.
    let broke = MockGemini::builder()
        .scenario(Scenario::InvalidKey)
        .start()
        .await;
    let url = format!("{}/v1/models/gemini-2.5-flash:generateContent", broke.uri());
    let (status, _, body) = post(&url, &h, &genai_body()).await;
    assert_eq!(
        (status, body["error"]["details"][0]["reason"].as_str()),
        (400, Some("API_KEY_INVALID"))
    );
}

#[tokio::test]
async fn gemini_judges_the_key_before_the_route() {
    let key = fake::key(Provider::Google, KeyKind::Standard, 4);
    let h = genai_sdk(&key);
    for scenario in [
        Scenario::InvalidKey,
        Scenario::ExpiredKey,
        Scenario::Suspended,
    ] {
        let mock = MockGemini::builder()
            .scenario(scenario.clone())
            .start()
            .await;
        for path in [
            "/v1/models/no-such-model:countTokens",
            "/v1beta/cachedContents",
            "/v1/nothing",
        ] {
            let (status, _, body) = post(&format!("{}{path}", mock.uri()), &h, &genai_body()).await;
            assert!(
                matches!(status, 400 | 403),
                "{scenario:?} {path}: {status} {body}"
            );
            assert!(
                body["error"]["details"][0]["reason"].is_string(),
                "{scenario:?} {path}: {body}"
            );
        }
    }
    // A good key on an unknown path: Google's 404, naming the version asked for.
    let mock = MockGemini::start().await;
    let (status, _, body) = post(
        &format!("{}/v1/models/x:countTokens", mock.uri()),
        &h,
        &genai_body(),
    )
    .await;
    assert_eq!(refusal(status, &body, "status"), (404, Some("NOT_FOUND")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("API version v1")
    );
    // Billable-only refusals stay on billable paths: an unknown path is still a 404.
    let dry = MockGemini::builder()
        .scenario(Scenario::NoCredits)
        .start()
        .await;
    assert_eq!(
        post(&format!("{}/v1/nothing", dry.uri()), &h, &genai_body())
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn openai_responses_api_answers_like_openai() {
    let mock = MockOpenAi::start().await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 5);
    let auth = format!("Bearer {key}");
    let h = openai_sdk(&auth, &[]);
    let url = format!("{}/v1/responses", mock.uri());
    let (status, headers, body) = post(&url, &h, &responses_body()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(body["max_output_tokens"], 16);
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
    // "ping" is one o200k token; the whole 12-word reply fits under the cap of 16.
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        REPLY_WORDS.join(" ")
    );
    let usage = &body["usage"];
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64(),
            usage["total_tokens"].as_u64()
        ),
        (Some(1), Some(12), Some(13))
    );
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(mock.count(Endpoint::Responses).await, 1);
    assert_eq!(mock.count(Endpoint::Billable).await, 0);
    assert!(Endpoint::Responses.is_billable());
}

#[tokio::test]
async fn openai_responses_api_refuses_like_chat_in_every_scenario() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 6);
    let auth = format!("Bearer {key}");
    let h = openai_sdk(&auth, &[("openai-organization", "org-elsewhere")]);
    let chat = serde_json::json!({"messages": [{"role": "user", "content": "ping"}], "model": "gpt-4o-mini-2024-07-18", "max_completion_tokens": 1});
    let mut refused = 0;
    for scenario in Scenario::catalogue() {
        if !scenario.supported_by(Provider::OpenAi)
            || matches!(
                scenario,
                Scenario::Hang | Scenario::Valid | Scenario::Slow(_) | Scenario::Garbage
            )
        {
            continue;
        }
        let answer = |path: &'static str, body: Value| {
            let (scenario, h) = (scenario.clone(), h.clone());
            async move {
                let mock = MockOpenAi::builder().scenario(scenario).start().await;
                let (status, headers, body) =
                    post(&format!("{}{path}", mock.uri()), &h, &body).await;
                (
                    status,
                    body["error"]["type"].clone(),
                    body["error"]["code"].clone(),
                    headers.get("retry-after").cloned(),
                )
            }
        };
        let via_chat = answer("/v1/chat/completions", chat.clone()).await;
        let via_responses = answer("/v1/responses", responses_body()).await;
        assert_eq!(via_responses, via_chat, "{scenario:?}");
        refused += usize::from(via_chat.0 >= 400);
    }
    assert!(refused >= 8, "{refused}");
}

/// A streamed answer: status, content type, and its events as (event name, data).
async fn stream(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, String, Vec<(Option<String>, String)>) {
    let (status, headers, text) = send(reqwest::Method::POST, url, headers, Some(body)).await;
    let kind = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = text.replace("\r\n", "\n");
    let events = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            (field("event:"), field("data:").unwrap_or_default())
        })
        .collect();
    (status, kind, events)
}

fn json_of(data: &str) -> Value {
    serde_json::from_str(data).unwrap()
}

#[tokio::test]
async fn openai_chat_streams_chunks_usage_last_and_done() {
    let mock = MockOpenAi::start().await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 7);
    let auth = format!("Bearer {key}");
    let h = openai_sdk(&auth, &[]);
    let url = format!("{}/v1/chat/completions", mock.uri());
    let mut body = serde_json::json!({"messages": [{"role": "user", "content": "ping"}],
        "model": "gpt-4o-mini-2024-07-18", "stream": true, "stream_options": {"include_usage": true}});
    let (status, kind, events) = stream(&url, &h, &body).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = chunks.iter().map(|(_, d)| json_of(d)).collect();
    let (usage, rest) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 1);
    assert_eq!(usage["usage"]["completion_tokens"], 12);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    for c in rest {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert!(c["usage"].is_null() && c.get("usage").is_some(), "{c}");
    }
    let text: String = rest
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, REPLY_WORDS.join(" "));
    // A delta per word, then the finish (no cap: `stop`).
    assert_eq!(rest.len(), 1 + REPLY_WORDS.len() + 1);
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    // Without include_usage, no usage at all.
    body["stream_options"] = Value::Null;
    let (_, _, events) = stream(&url, &h, &body).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|(_, d)| json_of(d).get("usage").is_none())
    );
}

#[tokio::test]
async fn openai_responses_stream_named_events_one_terminal_with_usage() {
    let mock = MockOpenAi::start().await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 7);
    let auth = format!("Bearer {key}");
    let h = openai_sdk(&auth, &[]);
    let mut body = responses_body();
    body["stream"] = Value::Bool(true);
    let url = format!("{}/v1/responses", mock.uri());
    let (status, kind, events) = stream(&url, &h, &body).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/event-stream"));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names.first(), Some(&"response.created"));
    assert!(names.contains(&"response.output_text.delta"));
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    assert_eq!(names.iter().filter(|n| terminal.contains(n)).count(), 1);
    assert_eq!(names.last(), Some(&"response.completed"));
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
    for (n, (name, data)) in events.iter().enumerate() {
        let e = json_of(data);
        assert_eq!(e["type"].as_str(), name.as_deref());
        assert_eq!(e["sequence_number"], n);
    }
    let done = json_of(&events.last().unwrap().1);
    let usage = &done["response"]["usage"];
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64(),
            usage["total_tokens"].as_u64()
        ),
        (Some(1), Some(12), Some(13))
    );
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(done["response"]["status"], "completed");
    let delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
        .unwrap();
    assert_eq!(json_of(&delta.1)["delta"], REPLY_WORDS[0]);
    assert_eq!(mock.count(Endpoint::Responses).await, 1);
    // An error before the first byte is an ordinary JSON answer.
    let bad = MockOpenAi::builder()
        .scenario(Scenario::InvalidKey)
        .start()
        .await;
    let (status, _, answer) = post(&format!("{}/v1/responses", bad.uri()), &h, &body).await;
    assert_eq!(
        refusal(status, &answer, "code"),
        (401, Some("invalid_api_key"))
    );
}

#[tokio::test]
async fn anthropic_streams_message_events_with_cumulative_usage() {
    let mock = MockAnthropic::start().await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 7);
    let auth = format!("Bearer {key}");
    let mut body = messages_body();
    body["stream"] = Value::Bool(true);
    let (status, kind, events) = stream(
        &format!("{}/v1/messages", mock.uri()),
        &anthropic_sdk(&auth),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/event-stream"));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"ping"));
    for (name, data) in &events {
        assert_eq!(json_of(data)["type"].as_str(), name.as_deref());
    }
    let start = json_of(&events[0].1);
    assert_eq!(start["message"]["usage"]["input_tokens"], 1);
    assert_eq!(
        start["message"]["usage"]["cache_creation"]["ephemeral_1h_input_tokens"],
        0
    );
    let delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(json_of(&delta.1)["usage"]["output_tokens"], 1);
    assert_eq!(
        json_of(&delta.1)["delta"]["stop_reason"],
        "max_tokens",
        "max_tokens 1 cuts the reply"
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
        .map(|(_, d)| json_of(d)["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, REPLY_WORDS[0]);
}

#[tokio::test]
async fn gemini_streams_sse_with_alt_sse_and_a_json_array_without() {
    let mock = MockGemini::start().await;
    let key = fake::key(Provider::Google, KeyKind::Standard, 7);
    let h = genai_sdk(&key);
    let url = format!(
        "{}/v1/models/gemini-2.5-flash:streamGenerateContent",
        mock.uri()
    );
    let (status, kind, events) = stream(&format!("{url}?alt=sse"), &h, &genai_body()).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/event-stream"));
    // maxOutputTokens 1: one word, in one chunk that also finishes.
    assert_eq!(events.len(), 1);
    let last = json_of(&events.last().unwrap().1);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 1);
    assert_eq!(last["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(last["modelVersion"], "gemini-2.5-flash");
    let (status, _, array) = post(&url, &h, &genai_body()).await;
    assert_eq!(status, 200);
    assert_eq!(array.as_array().unwrap().len(), events.len());
    assert_eq!(mock.count(Endpoint::Billable).await, 2);
    // Refusals come before any stream.
    let dry = MockGemini::builder()
        .scenario(Scenario::NoCredits)
        .start()
        .await;
    let url = format!(
        "{}/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        dry.uri()
    );
    assert_eq!(post(&url, &h, &genai_body()).await.0, 429);
}

#[tokio::test]
async fn gemini_prepayment_depleted_is_a_429_without_details() {
    let mock = MockGemini::builder()
        .scenario(Scenario::NoCredits)
        .start()
        .await;
    let key = fake::key(Provider::Google, KeyKind::Standard, 8);
    let h = genai_sdk(&key);
    let url = format!("{}/v1/models/gemini-2.5-flash:generateContent", mock.uri());
    let (status, _, body) = post(&url, &h, &genai_body()).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prepayment credits are depleted")
    );
    assert!(body["error"].get("details").is_none(), "{body}");
    assert_eq!(get(&format!("{}/v1/models", mock.uri()), &h).await.0, 200);
}

#[tokio::test]
async fn anthropic_region_block_has_no_envelope_and_no_request_id() {
    let mock = MockAnthropic::builder()
        .scenario(Scenario::Region)
        .start()
        .await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 9);
    let h = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let (status, headers, body) =
        post(&format!("{}/v1/messages", mock.uri()), &h, &messages_body()).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        serde_json::json!({"error": {"type": "forbidden", "message": "Request not allowed"}})
    );
    assert!(!headers.contains_key("request-id"));
    // A permission problem inside the API keeps its envelope.
    let denied = MockAnthropic::builder()
        .scenario(Scenario::PermissionDenied)
        .start()
        .await;
    let (status, headers, body) = post(
        &format!("{}/v1/messages", denied.uri()),
        &h,
        &messages_body(),
    )
    .await;
    assert_eq!(
        (
            status,
            body["type"].as_str(),
            body["error"]["type"].as_str()
        ),
        (403, Some("error"), Some("permission_error"))
    );
    assert!(headers.contains_key("request-id"));
}

#[tokio::test]
async fn rate_limits_carry_the_headers_the_sdks_read() {
    let limited = |ms| Scenario::RateLimited {
        times: 1,
        retry_after: Duration::from_millis(ms),
    };
    let openai_key = fake::key(Provider::OpenAi, KeyKind::Project, 10);
    let auth = format!("Bearer {openai_key}");
    for (ms, whole) in [(20, "1"), (1500, "2"), (45_000, "45")] {
        let mock = MockOpenAi::builder().scenario(limited(ms)).start().await;
        let (status, headers, _) = get(
            &format!("{}/v1/models", mock.uri()),
            &openai_sdk(&auth, &[]),
        )
        .await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], whole, "{ms} ms");
        assert_eq!(headers["retry-after-ms"], ms.to_string().as_str());
    }
    let mock = MockAnthropic::builder().scenario(limited(20)).start().await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 10);
    let auth = format!("Bearer {key}");
    let (status, headers, _) = post(
        &format!("{}/v1/messages", mock.uri()),
        &anthropic_sdk(&auth),
        &messages_body(),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-should-retry"], "true");
    assert_eq!(headers["retry-after"], "1");
}

#[tokio::test]
async fn anthropic_organization_on_hold() {
    let mock = MockAnthropic::builder()
        .scenario(Scenario::OrganizationOnHold)
        .start()
        .await;
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 11);
    let auth = format!("Bearer {key}");
    let h = anthropic_sdk(&auth);
    for (status, body) in [
        get(&format!("{}/v1/models", mock.uri()), &h).await,
        post(&format!("{}/v1/messages", mock.uri()), &h, &messages_body()).await,
    ]
    .map(|(s, _, b)| (s, b))
    {
        assert_eq!(status, 400);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(
            body["error"]["details"]["error_code"],
            "organization_on_hold"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("organization has been disabled")
        );
        assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
    }
    assert_eq!(Scenario::OrganizationOnHold.name(), "organization_on_hold");
    assert!(Scenario::catalogue().contains(&Scenario::OrganizationOnHold));
}

#[tokio::test]
async fn openai_organization_mismatch_needs_the_organization_header() {
    let mock = MockOpenAi::builder()
        .scenario(Scenario::OrganizationMismatch)
        .start()
        .await;
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 12);
    let auth = format!("Bearer {key}");
    let url = format!("{}/v1/models", mock.uri());
    let (status, _, body) = get(
        &url,
        &openai_sdk(&auth, &[("openai-organization", "org-elsewhere")]),
    )
    .await;
    assert_eq!(
        refusal(status, &body, "code"),
        (401, Some("mismatched_organization"))
    );
    // Without the header the key's own organization is used: nothing to mismatch.
    let (status, _, body) = get(&url, &openai_sdk(&auth, &[])).await;
    assert_eq!((status, body["object"].as_str()), (200, Some("list")));
    let (status, _, _) = post(
        &format!("{}/v1/responses", mock.uri()),
        &openai_sdk(&auth, &[]),
        &responses_body(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn catalogue_waits_are_short_enough_for_sdk_retries() {
    for scenario in Scenario::catalogue() {
        if let Scenario::RateLimited { retry_after, .. } = scenario {
            assert!(retry_after <= Scenario::CATALOGUE_MAX_WAIT, "{scenario:?}");
            // What the mocks send is what SDKs sleep: at most 60 s in every header.
            let mock = MockAnthropic::builder()
                .scenario(scenario.clone())
                .start()
                .await;
            let key = fake::key(Provider::Anthropic, KeyKind::Api, 13);
            let auth = format!("Bearer {key}");
            let (_, headers, _) =
                get(&format!("{}/v1/models", mock.uri()), &anthropic_sdk(&auth)).await;
            let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(secs <= 60, "{scenario:?}: {secs}");
        }
    }
}

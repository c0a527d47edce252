//! The mocks answer like the providers: auth checks, bodies, headers, counts.

use std::time::Duration;

use byok_keys::{KeyKind, Provider, fake};
use byok_testkit::{Endpoint, MockAnthropic, MockGemini, MockOpenAi, Scenario};
use serde_json::Value;

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
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
        (status, body["error"]["type"].as_str()),
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
            (status, body["error"]["type"].as_str()),
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
        (status, body["error"]["status"].as_str()),
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
        (status, body["error"]["code"].as_str()),
        (401, Some("account_deactivated"))
    );
    mock.set_scenario(Scenario::Outage {
        times: 1,
        status: 503,
    });
    let (status, _, body) = get(&url, &[("authorization", &auth(&good))]).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
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

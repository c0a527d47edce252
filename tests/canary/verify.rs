//! `byok::verify::Verifier` against the testkit's mock providers: every scenario,
//! a hang cut by a short timeout, a closed port, a provider that echoes the key, and
//! bulk verification, and hostile answers that echo the key in every field of a
//! report in every form (`byok_testkit::echo_answers`). Also: what the mocks received carries the key only where the
//! provider expects it (the Gemini key only in `x-goog-api-key`).

use std::time::Duration;

use byok::keys::{ApiKey, KeyKind, Provider};
use byok::verify::{BulkOptions, Depth, Report, RetryPolicy, Verifier, VerifierConfig};
use byok_testkit::{
    CannedAnswer, MockAnthropic, MockGemini, MockOpenAi, MockProvider, Scenario, echo_answers,
    echo_forms, echo_refusal,
};
use futures::StreamExt;

use crate::capture::{assert_emitted_clean, init, logs};
use crate::{debugged, json};
use byok_testkit::canary::standard::{self as canary, assert_clean};

async fn start(provider: Provider, scenario: Scenario) -> MockProvider {
    let builder = match provider {
        Provider::OpenAi => MockOpenAi::builder(),
        Provider::Anthropic => MockAnthropic::builder(),
        _ => MockGemini::builder(),
    };
    builder.scenario(scenario).start().await
}

fn config(provider: Provider, base: &str) -> VerifierConfig {
    VerifierConfig::default()
        .base_url(provider, base)
        // A hang is cut here: short, so the suite stays fast.
        .request_timeout(Duration::from_millis(150))
        .deadline(Duration::from_secs(2))
        .retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
                .with_max_wait(Duration::from_millis(50))
                .with_max_attempts(2),
        )
}

/// Everything a verification shows to the outside.
fn surfaces(report: &Report, verifier: &Verifier) -> String {
    format!(
        "{}{}{}\n{}\n{}\n{}\n{}",
        debugged(report),
        json(report),
        report.verdict,
        report.code(),
        report.message(),
        report.remediation(),
        debugged(verifier),
    )
}

/// Each request to `mock` carries one of `keys` in the provider's auth header and
/// no canary anywhere else: not in the path, the query, the body or another header.
async fn assert_carried_only_in_header(mock: &MockProvider, keys: &[ApiKey]) {
    let expected = match mock.provider() {
        Provider::OpenAi => "authorization",
        Provider::Anthropic => "x-api-key",
        _ => "x-goog-api-key",
    };
    let requests = mock.requests().await;
    for r in &requests {
        let what = format!("{} {}", mock.provider(), r.path);
        assert_clean(&format!("{what}: path"), r.path.as_bytes());
        let query = r.query.as_deref().unwrap_or_default();
        assert_clean(&format!("{what}: query"), query.as_bytes());
        assert_clean(&format!("{what}: body"), &r.body);
        let mut carriers = Vec::new();
        for (name, value) in &r.headers {
            if keys.iter().any(|k| value.contains(k.expose_secret())) {
                carriers.push(name.to_ascii_lowercase());
            } else {
                assert_clean(&format!("{what}: header {name}"), value.as_bytes());
            }
        }
        assert_eq!(carriers, [expected], "{what}");
    }
}

fn keys_of(provider: Provider, n: usize) -> Vec<ApiKey> {
    canary::keys(n)
        .into_iter()
        .filter(|(p, k, _)| *p == provider && *k != KeyKind::Admin)
        .map(|(_, _, raw)| ApiKey::parse(&raw).expect("canary parses"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn every_scenario_of_every_provider() {
    init();
    let mut out = String::new();
    let mut answered = 0;
    for provider in crate::FLOW_PROVIDERS {
        for scenario in Scenario::catalogue() {
            if !scenario.supported_by(provider) {
                continue;
            }
            let mock = start(provider, scenario.clone()).await;
            let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
            let keys = keys_of(provider, 5);
            for key in &keys {
                let report = verifier.verify(key, Depth::Billing).await;
                answered += usize::from(report.http_status.is_some());
                out += &surfaces(&report, &verifier);
            }
            out += &surfaces(&verifier.verify(&keys[0], Depth::Auth).await, &verifier);
            assert_carried_only_in_header(&mock, &keys).await;
        }
    }
    assert!(answered > 20, "the mocks answered: {answered}");
    assert_clean("verify: reports", out.as_bytes());
    assert!(
        String::from_utf8_lossy(&logs()).contains("key verified"),
        "the verifier's events are captured"
    );
    assert_emitted_clean("verify: scenarios");
}

#[tokio::test(flavor = "current_thread")]
async fn admin_keys_closed_ports_and_echoing_providers() {
    init();
    let mut out = String::new();

    // Admin keys are refused without a request.
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let mock = start(provider, Scenario::Valid).await;
        let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
        let admin = ApiKey::parse(&canary::key(provider, KeyKind::Admin, 6)).unwrap();
        out += &surfaces(&verifier.verify(&admin, Depth::Billing).await, &verifier);
        assert!(
            mock.requests().await.is_empty(),
            "no request for an admin key"
        );
    }

    // Nobody listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for provider in crate::FLOW_PROVIDERS {
        let verifier = Verifier::new(
            config(provider, &format!("http://127.0.0.1:{port}")).retry(RetryPolicy::no_retry()),
        )
        .expect("config");
        for key in keys_of(provider, 6) {
            out += &surfaces(&verifier.verify(&key, Depth::Billing).await, &verifier);
        }
    }

    // A provider that repeats the key in its error, in the body and in headers.
    for provider in crate::FLOW_PROVIDERS {
        for key in keys_of(provider, 7) {
            let mock = start(provider, Scenario::Valid).await;
            let secret = key.expose_secret();
            let message = format!("Incorrect API key provided: {secret}. key={secret}");
            let body = match provider {
                Provider::OpenAi => serde_json::json!({"error": {"message": message,
                    "type": "invalid_request_error", "param": secret, "code": "invalid_api_key"}}),
                Provider::Anthropic => serde_json::json!({"type": "error",
                    "error": {"type": "authentication_error", "message": message}}),
                _ => serde_json::json!({"error": {"code": 400, "message": message,
                    "status": "INVALID_ARGUMENT", "details": [{"reason": secret}]}}),
            };
            let status = if provider == Provider::Google {
                400
            } else {
                401
            };
            mock.answer_with(CannedAnswer::json(status, &body));
            let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
            let report = verifier.verify(&key, Depth::Billing).await;
            assert!(report.http_status.is_some(), "{report:?}");
            out += &surfaces(&report, &verifier);
        }
    }

    // Bulk verification, every provider at once, every shape (admin keys included).
    let openai = start(Provider::OpenAi, Scenario::InvalidKey).await;
    let anthropic = start(Provider::Anthropic, Scenario::NoCredits).await;
    let google = start(Provider::Google, Scenario::Valid).await;
    let verifier = Verifier::new(
        config(Provider::OpenAi, &openai.uri())
            .base_url(Provider::Anthropic, &anthropic.uri())
            .base_url(Provider::Google, &google.uri()),
    )
    .expect("config");
    let keys: Vec<_> = (0..8)
        .flat_map(canary::keys)
        .map(|(_, _, raw)| ApiKey::parse(&raw).expect("canary parses"))
        .collect();
    let count = keys.len();
    let results: Vec<_> = verifier
        .verify_many(
            keys,
            BulkOptions::default()
                .requests_per_second(None)
                .concurrency_per_provider(4)
                .depth(Depth::Billing),
        )
        .collect()
        .await;
    assert_eq!(results.len(), count);
    for mock in [&openai, &anthropic, &google] {
        let keys: Vec<_> = (0..8)
            .flat_map(canary::keys)
            .filter(|(p, _, _)| *p == mock.provider())
            .map(|(_, _, raw)| ApiKey::parse(&raw).expect("canary parses"))
            .collect();
        assert!(!mock.requests().await.is_empty(), "{}", mock.provider());
        assert_carried_only_in_header(mock, &keys).await;
    }
    for r in &results {
        out += &(debugged(r) + &surfaces(&r.report, &verifier));
    }
    out += &debugged(&BulkOptions::default());

    // Configuration errors.
    for base in ["not a url", "ftp://127.0.0.1/", ""] {
        if let Err(e) = Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, base)) {
            out += &format!("{e}\n{e:?}\n");
        }
    }
    assert_clean("verify: error paths", out.as_bytes());
    assert_emitted_clean("verify: error paths");
}

#[tokio::test(flavor = "current_thread")]
async fn provider_echoing_the_key_in_a_response_header() {
    init();
    let mut out = String::new();
    for provider in crate::FLOW_PROVIDERS {
        let key = &keys_of(provider, 6)[0];
        let mock = start(provider, Scenario::Valid).await;
        mock.answer_with(
            CannedAnswer::raw(401, "")
                .header("x-request-id", key.expose_secret())
                .header("request-id", key.expose_secret()),
        );
        let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
        out += &surfaces(&verifier.verify(key, Depth::Billing).await, &verifier);
    }
    assert_clean("verify: request-id echo", out.as_bytes());
    assert_emitted_clean("verify: request-id echo");
}

#[tokio::test(flavor = "current_thread")]
async fn providers_echoing_the_key_in_every_field_in_every_form() {
    init();
    let mut out = String::new();
    let mut answered = 0;
    for provider in crate::FLOW_PROVIDERS {
        let keys = keys_of(provider, 4);
        // Every field and form for the first key of each provider; a recognised
        // refusal carrying every form for every key.
        let mut plays: Vec<_> = echo_answers(provider, keys[0].expose_secret())
            .into_iter()
            .map(|a| (keys[0].clone(), a))
            .collect();
        for key in &keys {
            for (form, echoed) in echo_forms(key.expose_secret()) {
                plays.push((key.clone(), echo_refusal(provider, form, &echoed)));
            }
        }
        for (key, answer) in plays {
            let server = answer.serve().await;
            let verifier = Verifier::new(config(provider, &server.uri())).expect("config");
            let report = verifier.verify(&key, Depth::Billing).await;
            answered += usize::from(report.http_status == Some(answer.status));
            let shown = surfaces(&report, &verifier);
            assert_clean(&format!("verify: {}", answer.label), shown.as_bytes());
            if answer.label.contains("refusal") {
                assert_eq!(report.code(), "invalid", "{}: {report:?}", answer.label);
            }
            out += &shown;
        }
    }
    assert!(answered > 150, "the echoing servers answered: {answered}");
    assert_clean("verify: echo in every field", out.as_bytes());
    assert_emitted_clean("verify: echo in every field");
}

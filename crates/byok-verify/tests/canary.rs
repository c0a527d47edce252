//! The canary: run every path with known keys and search everything byok
//! produces — reports (Debug, JSON, messages), the verifier's Debug, errors and
//! TRACE-level logs of every crate — for the key. Also: a Gemini key travels
//! only in `x-goog-api-key`, never in a URL or body.

mod common;

use std::time::Duration;

use byok_keys::{ApiKey, Provider};
use byok_testkit::{CannedAnswer, MockProvider, Scenario};
use byok_verify::{BulkOptions, Depth, RetryPolicy, Verifier, VerifierConfig};
use common::{Capture, key_for, start};
use futures::StreamExt;

fn config(mock: &MockProvider) -> VerifierConfig {
    VerifierConfig::default()
        .base_url(mock.provider(), &mock.uri())
        .request_timeout(Duration::from_millis(200))
        .retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
                .with_max_attempts(2),
        )
}

/// Everything a verification shows to the outside.
fn surfaces(report: &byok_verify::Report, verifier: &Verifier) -> String {
    format!(
        "{report:?}\n{}\n{}\n{}\n{}\n{verifier:?}\n",
        serde_json::to_string(report).unwrap(),
        report.verdict,
        report.message(),
        report.remediation()
    )
}

fn assert_clean(text: &str, key: &ApiKey, what: &str) {
    let secret = key.expose_secret();
    let body = &secret[secret.len() - 24..secret.len() - 4];
    assert!(!text.contains(secret), "{what}: the key leaked");
    assert!(!text.contains(body), "{what}: part of the key leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_anywhere() {
    let logs = Capture::install();

    let mut out = String::new();
    let mut keys = Vec::new();
    for (p, provider) in common::MOCKED.into_iter().enumerate() {
        for (s, scenario) in Scenario::catalogue().into_iter().enumerate() {
            if !scenario.supported_by(provider) {
                continue;
            }
            let key = key_for(provider, 1000 + (p * 100 + s) as u64);
            let mock = start(provider, scenario).await;
            let verifier = Verifier::new(config(&mock)).unwrap();
            for depth in [Depth::Auth, Depth::Billing] {
                let report = verifier.verify(&key, depth).await;
                let text = surfaces(&report, &verifier);
                assert_clean(&text, &key, &format!("{provider} {depth}"));
                out.push_str(&text);
            }
            if provider == Provider::Google {
                for r in mock.requests().await {
                    let secret = key.expose_secret();
                    assert_eq!(r.query, None, "no query string at all");
                    assert!(!r.path.contains(secret));
                    assert!(!String::from_utf8_lossy(&r.body).contains(secret));
                    let carriers: Vec<_> = r
                        .headers
                        .iter()
                        .filter(|(_, v)| v.contains(secret))
                        .map(|(k, _)| k.as_str())
                        .collect();
                    assert_eq!(carriers, ["x-goog-api-key"]);
                }
            }
            keys.push(key);
        }
    }

    // A provider that echoes the whole key in its error message (a known failure of real APIs).
    for provider in common::MOCKED {
        let key = key_for(provider, 7);
        let mock = start(provider, Scenario::Valid).await;
        let message = format!("Incorrect API key provided: {}", key.expose_secret());
        let body = match provider {
            Provider::OpenAi => {
                serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
            }
            Provider::Anthropic => {
                serde_json::json!({"type": "error", "error": {"type": "authentication_error", "message": message}})
            }
            _ => {
                serde_json::json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
            }
        };
        let status = if provider == Provider::Google {
            400
        } else {
            401
        };
        mock.answer_with(CannedAnswer::json(status, &body));
        let verifier = Verifier::new(config(&mock)).unwrap();
        let report = verifier.verify(&key, Depth::Billing).await;
        assert!(
            report
                .provider_message
                .as_deref()
                .is_some_and(|m| m.contains(&report.masked)),
            "{report:?}"
        );
        let text = surfaces(&report, &verifier);
        assert_clean(&text, &key, &format!("{provider} echo"));
        out.push_str(&text);
        keys.push(key);
    }

    // No answer at all: a closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(Provider::OpenAi, &format!("http://127.0.0.1:{port}"))
            .retry(RetryPolicy::no_retry()),
    )
    .unwrap();
    let key = key_for(Provider::OpenAi, 8);
    let report = verifier.verify(&key, Depth::Billing).await;
    out.push_str(&surfaces(&report, &verifier));
    keys.push(key);

    // Bulk verification.
    let mock = start(Provider::OpenAi, Scenario::InvalidKey).await;
    let verifier = Verifier::new(config(&mock)).unwrap();
    let bulk_keys: Vec<_> = (0..5).map(|i| key_for(Provider::OpenAi, 900 + i)).collect();
    let results: Vec<_> = verifier
        .verify_many(
            bulk_keys.clone(),
            BulkOptions::default().requests_per_second(None),
        )
        .collect()
        .await;
    for r in &results {
        out.push_str(&format!("{r:?}"));
    }
    keys.extend(bulk_keys);

    let logs = logs.text();
    assert!(
        logs.contains("key verified"),
        "the capture works: {}",
        &logs[..logs.len().min(500)]
    );
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "low levels are captured"
    );
    for key in &keys {
        assert_clean(&out, key, "reports");
        assert_clean(&logs, key, "logs");
    }
}

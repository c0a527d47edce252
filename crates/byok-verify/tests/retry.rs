//! Retry end to end against the testkit: request counts, waits that follow the
//! server's hints, the caps, the deadline, a closed port, a hanging server.
//! (Backoff timing itself is unit-tested with paused time in `src/retry.rs`.)

mod common;

use std::time::Duration;

use byok_keys::Provider;
use byok_testkit::{CannedAnswer, Endpoint, Scenario};
use byok_verify::{Depth, NetworkErrorKind, RetryPolicy, Verdict, Verifier, VerifierConfig};
use common::{config_for, fast_retry, key_for, start, verifier_for};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test]
async fn waits_are_the_servers_hints() {
    // OpenAI: retry-after-ms; Gemini: RetryInfo.retryDelay in the body.
    for (provider, hint) in [(Provider::OpenAi, MS(20)), (Provider::Google, MS(30))] {
        let mock = start(
            provider,
            Scenario::RateLimited {
                times: 2,
                retry_after: hint,
            },
        )
        .await;
        let report = verifier_for(&mock)
            .verify(&key_for(provider, 1), Depth::Auth)
            .await;
        assert_eq!(report.verdict, Verdict::Valid, "{provider}");
        assert_eq!(report.attempts, 3, "{provider}");
        assert_eq!(report.waited, hint * 2, "{provider}");
    }
}

#[tokio::test]
async fn an_hour_long_hint_answers_at_once() {
    let hour = Duration::from_secs(3600);
    let mock = start(
        Provider::OpenAi,
        Scenario::RateLimited {
            times: 1,
            retry_after: hour,
        },
    )
    .await;
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(
        report.verdict,
        Verdict::RateLimited {
            retry_after: Some(hour)
        }
    );
    assert_eq!(report.retry_after, Some(hour));
    assert_eq!(report.attempts, 1);
    assert_eq!(report.waited, Duration::ZERO);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["retry_after_ms"], 3_600_000);
}

#[tokio::test]
async fn the_attempt_cap_holds() {
    let mock = start(
        Provider::Anthropic,
        Scenario::Outage {
            times: 99,
            status: 529,
        },
    )
    .await;
    let config = config_for(&mock).retry(fast_retry().with_max_attempts(5));
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::Anthropic, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::ProviderUnavailable);
    assert_eq!(report.attempts, 5);
    assert_eq!(mock.count(Endpoint::ListModels).await, 5);

    let mock = start(
        Provider::Anthropic,
        Scenario::Outage {
            times: 99,
            status: 529,
        },
    )
    .await;
    let config = config_for(&mock).retry(RetryPolicy::no_retry());
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::Anthropic, 1), Depth::Billing)
        .await;
    assert_eq!(report.attempts, 1);
}

#[tokio::test]
async fn the_deadline_stops_waiting_for_a_hint() {
    // After the first 429 there is time for a 600 ms wait; after the second there is not.
    let mock = start(
        Provider::OpenAi,
        Scenario::RateLimited {
            times: 99,
            retry_after: MS(600),
        },
    )
    .await;
    let config = config_for(&mock)
        .deadline(MS(1000))
        .retry(fast_retry().with_max_attempts(10));
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(
        report.verdict,
        Verdict::RateLimited {
            retry_after: Some(MS(600))
        }
    );
    assert_eq!(report.attempts, 2);
    assert_eq!(report.waited, MS(600));
}

#[tokio::test]
async fn the_deadline_cuts_a_slow_answer() {
    let mock = start(Provider::Google, Scenario::Slow(Duration::from_secs(5))).await;
    let config = config_for(&mock).deadline(MS(200));
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::Google, 1), Depth::Billing)
        .await;
    assert_eq!(
        report.verdict,
        Verdict::NetworkError(NetworkErrorKind::Timeout)
    );
    assert_eq!(report.attempts, 1);
    assert_eq!(report.http_status, None);
}

#[tokio::test]
async fn a_hanging_server_times_out_per_request() {
    let mock = start(Provider::OpenAi, Scenario::Hang).await;
    let config = config_for(&mock)
        .request_timeout(MS(150))
        .retry(fast_retry().with_max_attempts(2));
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(
        report.verdict,
        Verdict::NetworkError(NetworkErrorKind::Timeout)
    );
    assert_eq!(report.attempts, 2);
    assert_eq!(mock.count(Endpoint::ListModels).await, 2);
    assert_eq!(mock.count(Endpoint::Billable).await, 0);
}

#[tokio::test]
async fn a_closed_port_is_a_network_error_retried_a_few_times() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = VerifierConfig::default()
        .base_url(Provider::Anthropic, &format!("http://127.0.0.1:{port}"))
        .retry(fast_retry());
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::Anthropic, 1), Depth::Billing)
        .await;
    assert_eq!(
        report.verdict,
        Verdict::NetworkError(NetworkErrorKind::Connect)
    );
    assert_eq!(report.attempts, 3);
    assert_eq!(report.code(), "network_error");
}

#[tokio::test]
async fn x_should_retry_false_is_obeyed() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    mock.answer_with(CannedAnswer::raw(503, "").header("x-should-retry", "false"));
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::ProviderUnavailable);
    assert_eq!(report.attempts, 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let elsewhere = start(Provider::OpenAi, Scenario::Valid).await;
    mock.answer_with(
        CannedAnswer::raw(307, "").header("location", &format!("{}/v1/models", elsewhere.uri())),
    );
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::OpenAi, 1), Depth::Auth)
        .await;
    assert_eq!(report.verdict, Verdict::Indeterminate);
    assert_eq!(report.http_status, Some(307));
    assert!(
        elsewhere.requests().await.is_empty(),
        "the key must not travel to another host"
    );
}

#[tokio::test]
async fn dns_and_tls_failures_have_their_kind() {
    // `.invalid` never resolves (RFC 2606).
    let config = VerifierConfig::default()
        .base_url(Provider::OpenAi, "https://byok-verify-test.invalid")
        // A slow resolver must still end in a DNS error, not a timeout.
        .request_timeout(Duration::from_secs(25))
        .retry(RetryPolicy::no_retry());
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::OpenAi, 1), Depth::Auth)
        .await;
    assert_eq!(report.verdict, Verdict::NetworkError(NetworkErrorKind::Dns));

    // TLS to a server that speaks plain HTTP: the handshake fails.
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let https = mock.uri().replacen("http://", "https://", 1);
    let config = VerifierConfig::default()
        .base_url(Provider::OpenAi, &https)
        .retry(RetryPolicy::no_retry());
    let report = Verifier::new(config)
        .unwrap()
        .verify(&key_for(Provider::OpenAi, 1), Depth::Auth)
        .await;
    assert_eq!(report.verdict, Verdict::NetworkError(NetworkErrorKind::Tls));
}

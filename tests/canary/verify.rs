//! `byok::verify::Verifier` against the testkit's mock providers: every scenario,
//! a hang cut by a short timeout, a closed port, a provider that echoes the key, and
//! bulk verification, and hostile answers that echo the key in every field of a
//! report in every form (`byok_testkit::echo_answers`). Also: what the mocks received carries the key only where the
//! provider expects it (the Gemini key only in `x-goog-api-key`).

use std::time::Duration;

use byok::keys::params::Params;
use byok::keys::{ApiKey, KeyKind, Provider};
use byok::verify::{BulkOptions, Depth, Report, RetryPolicy, Verifier, VerifierConfig};
use byok_testkit::{
    CannedAnswer, MockBuilder, MockProvider, Scenario, echo_answers, echo_forms, echo_refusal,
};
use futures::StreamExt;

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init, logs};
use crate::flow::{auth_header, has_admin_keys};
use crate::{debugged, json};

async fn start(provider: Provider, scenario: Scenario) -> MockProvider {
    MockBuilder::new(provider).scenario(scenario).start().await
}

/// The parameters stored with `key` (its spec's `params`): Azure OpenAI's
/// resource and deployment, Bedrock's region (the fake short-term keys are
/// us-east-1 too); none for the others.
fn params_of(key: &ApiKey) -> Params {
    let provider = key.provider();
    let pairs: &[(&str, &str)] = match provider {
        Provider::AzureOpenAi => &[("resource", "canary-res"), ("deployment", "gpt-4o-mini")],
        Provider::Bedrock => &[("region", "us-east-1")],
        _ => &[],
    };
    Params::new(provider, pairs.iter().copied()).expect("valid params")
}

/// `verifier.verify_with` the key's parameters: without them Azure and Bedrock
/// keys get `missing_param` and no request, which would test nothing.
async fn verify(verifier: &Verifier, key: &ApiKey, depth: Depth) -> Report {
    verifier.verify_with(key, &params_of(key), depth).await
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
    let expected = auth_header(mock.provider());
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

/// Canary keys of seed `n`, one per non-admin kind of `provider`.
fn keys_of(provider: Provider, n: usize) -> Vec<ApiKey> {
    provider
        .spec()
        .kinds
        .iter()
        .filter(|k| **k != KeyKind::Admin)
        .map(|k| ApiKey::parse_for(provider, &canary::key(provider, *k, n)).expect("canary parses"))
        .collect()
}

/// Every canary key of seed `n`, admin keys included, of every provider.
fn every_key(n: usize) -> Vec<ApiKey> {
    let admins = canary::keys(n)
        .into_iter()
        .filter(|(_, k, _)| *k == KeyKind::Admin)
        .map(|(p, _, raw)| ApiKey::parse_for(p, &raw).expect("canary parses"));
    Provider::ALL
        .into_iter()
        .flat_map(|p| keys_of(p, n))
        .chain(admins)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn every_scenario_of_every_provider() {
    init();
    let mut out = String::new();
    let mut answered = 0;
    for provider in Provider::ALL {
        for scenario in Scenario::catalogue() {
            if !scenario.supported_by(provider) {
                continue;
            }
            let mock = start(provider, scenario.clone()).await;
            let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
            let keys = keys_of(provider, 5);
            for key in &keys {
                let report = verify(&verifier, key, Depth::Billing).await;
                answered += usize::from(report.http_status.is_some());
                out += &surfaces(&report, &verifier);
            }
            out += &surfaces(&verify(&verifier, &keys[0], Depth::Auth).await, &verifier);
            assert_carried_only_in_header(&mock, &keys).await;
        }
    }
    assert!(
        answered > 10 * Provider::ALL.len(),
        "the mocks answered: {answered}"
    );
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

    // Admin keys are refused without a request (only OpenAI and Anthropic issue them).
    for provider in Provider::ALL.into_iter().filter(|p| has_admin_keys(*p)) {
        let mock = start(provider, Scenario::Valid).await;
        let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
        let admin = ApiKey::parse(&canary::key(provider, KeyKind::Admin, 6)).unwrap();
        out += &surfaces(&verify(&verifier, &admin, Depth::Billing).await, &verifier);
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
    for provider in Provider::ALL {
        let verifier = Verifier::new(
            config(provider, &format!("http://127.0.0.1:{port}")).retry(RetryPolicy::no_retry()),
        )
        .expect("config");
        for key in keys_of(provider, 6) {
            out += &surfaces(&verify(&verifier, &key, Depth::Billing).await, &verifier);
        }
    }

    // A provider that repeats the key in its error, in the body and in headers.
    for provider in Provider::ALL {
        for key in keys_of(provider, 7) {
            let mock = start(provider, Scenario::Valid).await;
            let secret = key.expose_secret();
            let message = format!("Incorrect API key provided: {secret}. key={secret}");
            // The provider's own refusal, the message in every field but the verdict's.
            mock.answer_with(CannedAnswer::from(&echo_refusal(
                provider, "quoted", &message,
            )));
            let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
            let report = verify(&verifier, &key, Depth::Billing).await;
            assert!(report.http_status.is_some(), "{report:?}");
            assert_eq!(report.code(), "invalid", "{provider}: {report:?}");
            out += &surfaces(&report, &verifier);
        }
    }

    // Bulk verification, every provider at once, every shape (admin keys included):
    // refused, broke (where the provider has a no-credits answer) or valid, in turn.
    let mut mocks = Vec::new();
    for (n, provider) in Provider::ALL.into_iter().enumerate() {
        let scenario = [Scenario::InvalidKey, Scenario::NoCredits, Scenario::Valid][n % 3].clone();
        let scenario = if scenario.supported_by(provider) {
            scenario
        } else {
            Scenario::InvalidKey
        };
        mocks.push(start(provider, scenario).await);
    }
    let bulk = mocks
        .iter()
        .fold(config(Provider::OpenAi, &mocks[0].uri()), |c, m| {
            c.base_url(m.provider(), &m.uri())
        });
    let verifier = Verifier::new(bulk).expect("config");
    let keys: Vec<_> = (0..8)
        .flat_map(every_key)
        .map(|key| {
            let params = params_of(&key);
            (key, params)
        })
        .collect();
    let count = keys.len();
    let results: Vec<_> = verifier
        .verify_many_with(
            keys,
            BulkOptions::default()
                .requests_per_second(None)
                .concurrency_per_provider(4)
                .depth(Depth::Billing),
        )
        .collect()
        .await;
    assert_eq!(results.len(), count);
    for mock in &mocks {
        let keys: Vec<_> = (0..8)
            .flat_map(every_key)
            .filter(|k| k.provider() == mock.provider())
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
    for provider in Provider::ALL {
        let key = &keys_of(provider, 6)[0];
        let mock = start(provider, Scenario::Valid).await;
        mock.answer_with(
            CannedAnswer::raw(401, "")
                .header("x-request-id", key.expose_secret())
                .header("request-id", key.expose_secret()),
        );
        let verifier = Verifier::new(config(provider, &mock.uri())).expect("config");
        out += &surfaces(&verify(&verifier, key, Depth::Billing).await, &verifier);
    }
    assert_clean("verify: request-id echo", out.as_bytes());
    assert_emitted_clean("verify: request-id echo");
}

#[tokio::test(flavor = "current_thread")]
async fn providers_echoing_the_key_in_every_field_in_every_form() {
    init();
    let mut out = String::new();
    let mut answered = 0;
    for provider in Provider::ALL {
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
            let report = verify(&verifier, &key, Depth::Billing).await;
            answered += usize::from(report.http_status == Some(answer.status));
            let shown = surfaces(&report, &verifier);
            assert_clean(&format!("verify: {}", answer.label), shown.as_bytes());
            if answer.label.contains("refusal") {
                assert_eq!(report.code(), "invalid", "{}: {report:?}", answer.label);
            }
            out += &shown;
        }
    }
    // 54 answers and six refusals or more per provider, nearly all answered.
    assert!(
        answered > 50 * Provider::ALL.len(),
        "the echoing servers answered: {answered}"
    );
    assert_clean("verify: echo in every field", out.as_bytes());
    assert_emitted_clean("verify: echo in every field");
}

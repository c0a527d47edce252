//! `Vault::call` and `Vault::call_stream` against the testkit's mock providers:
//! the settled amount is the cost of the provider's usage, fallbacks on refused
//! keys (one request each, quota never retried), fail-closed, budget denial
//! before any request, retries of rate limits, and broken streams settled once
//! as `estimated` with nonzero output.

use std::sync::Arc;
use std::time::Duration;

use byok::call::{Call, FallbackPolicy};
use byok::guard::{Budget, Guard, Label, MemoryLedger, Period, Scope, Usd};
use byok::keys::params::Params;
use byok::keys::{KeyKind, Provider, SecretString, fake};
use byok::store::{MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
use byok::verify::{RetryPolicy, Verifier, VerifierConfig};
use byok::{NewKey, Vault, VaultError, VerifyPolicy};
use byok_testkit::{Endpoint, MockAnthropic, MockBuilder, MockOpenAi, MockProvider, Scenario};
use serde_json::{Value, json};

const PROMPT: &str = "The quick brown fox jumps over the lazy dog";

fn kind(provider: Provider) -> KeyKind {
    match provider {
        Provider::OpenAi => KeyKind::Project,
        Provider::Anthropic => KeyKind::Api,
        other => other.spec().kinds[0],
    }
}

/// The parameters a key of `provider` is stored with (Azure's deployment is the
/// one the mock serves); `None` for a provider without any.
fn params(provider: Provider) -> Option<Params> {
    let pairs: &[(&str, &str)] = match provider {
        Provider::AzureOpenAi => &[("resource", "contoso"), ("deployment", "gpt-4o-mini")],
        Provider::Bedrock => &[("region", "us-east-1")],
        _ => return None,
    };
    Some(Params::new(provider, pairs.iter().copied()).unwrap())
}

/// A new key of `provider` with its parameters.
fn new_key(provider: Provider, ws: &WorkspaceId, key: &str, label: String) -> NewKey {
    let new = NewKey::new(ws.clone(), SecretString::from(key.to_owned()), label).provider(provider);
    match params(provider) {
        Some(p) => new.params(p),
        None => new,
    }
}

fn model(provider: Provider) -> String {
    byok_testkit::compat::priced_model(provider)
}

/// The exact cost of `called` as the ledger must have settled it: the
/// provider's reported figure (the mocks' list price, `verified_by_provider`)
/// where it reports one, else the price table's cost of its usage.
fn exact(w: &World, provider: Provider, called: &byok::call::Called) -> byok::guard::Cost {
    let usage = called.usage.unwrap();
    match provider.spec().reported_cost {
        Some(_) => {
            let micro = byok_testkit::compat::reported_total_micro_usd(
                provider,
                usage.prompt_tokens(),
                usage.completion_tokens(),
            )
            .unwrap();
            let usd: Usd = byok_testkit::compat::dollars(micro).parse().unwrap();
            assert_eq!(
                called.cost.unwrap().label,
                Label::VerifiedByProvider,
                "{provider}"
            );
            byok::guard::Cost {
                usd: Some(usd),
                ..called.cost.unwrap()
            }
        }
        None => w
            .guard
            .cost_of_for(provider, &called.model, &usage)
            .unwrap(),
    }
}

/// A vault whose verifier sends `provider`'s calls to `mock`, a memory ledger
/// with a $5 workspace budget, and `keys` keys of `provider` (the first primary).
struct World {
    vault: Vault,
    guard: Guard,
    ws: WorkspaceId,
    keys: Vec<String>,
}

async fn world(provider: Provider, mock: &MockProvider, keys: usize) -> World {
    let config = VerifierConfig::default()
        .base_url(provider, &mock.uri())
        .retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
                .with_jitter(0.0),
        );
    let guard = Guard::new(Arc::new(MemoryLedger::new()));
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .verifier(Verifier::new(config).unwrap())
        .verify_policy(VerifyPolicy::Skip)
        .guard(guard.clone())
        .build()
        .await
        .unwrap();
    let ws = WorkspaceId::new("acme").unwrap();
    guard
        .set_budget(&Budget::new(
            Scope::workspace("acme"),
            Usd::from_dollars(5),
            Period::Month,
        ))
        .await
        .unwrap();
    let mut raw = Vec::new();
    for n in 0..keys {
        let key = fake::key(provider, kind(provider), 100 + n as u64);
        let mut new = new_key(provider, &ws, &key, format!("k{n}"));
        if n > 0 {
            new = new.backup(n as u32);
        }
        vault.add(new).await.unwrap();
        raw.push(key);
    }
    World {
        vault,
        guard,
        ws,
        keys: raw,
    }
}

fn call_for(provider: Provider, cap: u64) -> Call {
    let model = model(provider);
    match provider {
        Provider::OpenAi => {
            Call::openai_chat(json!({"model": "gpt-4o-mini", "max_completion_tokens": cap,
            "messages": [{"role": "user", "content": PROMPT}]}))
        }
        Provider::Anthropic => {
            Call::anthropic(json!({"model": "claude-haiku-4-5", "max_tokens": cap,
            "messages": [{"role": "user", "content": PROMPT}]}))
        }
        Provider::Google => Call::gemini(
            "gemini-2.5-flash",
            json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                   "generationConfig": {"maxOutputTokens": cap}}),
        ),
        Provider::Perplexity => Call::responses(
            provider,
            json!({"model": model, "input": PROMPT, "max_output_tokens": cap}),
        ),
        Provider::Bedrock => Call::bedrock(
            &model,
            json!({"messages": [{"role": "user", "content": [{"text": PROMPT}]}],
                   "inferenceConfig": {"maxTokens": cap}}),
        ),
        Provider::Cohere => Call::cohere(json!({"model": model, "max_tokens": cap,
            "messages": [{"role": "user", "content": PROMPT}]})),
        _ => Call::chat(
            provider,
            json!({"model": model, "max_tokens": cap,
                   "messages": [{"role": "user", "content": PROMPT}]}),
        ),
    }
}

async fn start(provider: Provider, scenario: Scenario) -> MockProvider {
    MockBuilder::new(provider).scenario(scenario).start().await
}

async fn spent(w: &World) -> Usd {
    w.guard
        .status(&Scope::workspace("acme"))
        .await
        .unwrap()
        .unwrap()
        .spent
}

async fn held(w: &World) -> Usd {
    w.guard
        .status(&Scope::workspace("acme"))
        .await
        .unwrap()
        .unwrap()
        .held
}

#[tokio::test]
async fn a_call_settles_exactly_the_cost_of_the_providers_usage() {
    for provider in Provider::ALL {
        let mock = start(provider, Scenario::Valid).await;
        let w = world(provider, &mock, 1).await;
        let called = w.vault.call(&w.ws, call_for(provider, 5)).await.unwrap();
        assert_eq!(called.status, 200, "{provider}");
        let usage = called.usage.expect("the provider's usage");
        assert_eq!(
            usage.prompt_tokens(),
            9,
            "{provider}: the mock's count of the prompt"
        );
        assert_eq!(usage.completion_tokens(), 5, "{provider}");
        let cost = called.cost.expect("a cost");
        let exact = exact(&w, provider, &called);
        if provider.spec().reported_cost.is_none() {
            assert_eq!(cost.label, Label::Estimated, "{provider}");
        }
        assert_eq!(cost, exact, "{provider}");
        assert_eq!(
            spent(&w).await,
            exact.usd.unwrap(),
            "{provider}: settled = cost(usage)"
        );
        assert_eq!(held(&w).await, Usd::ZERO, "{provider}: no hold left");
        assert!(called.fallbacks.is_empty() && called.attempts == 1);
        assert_eq!(called.key.label, "k0");
        let text = called.json().unwrap().to_string();
        assert!(text.contains("This is the mock answer"), "{text}");
        // The key went in the provider's header, never the URL.
        let sent = mock.requests().await;
        assert_eq!(sent.len(), 1);
        assert!(sent[0].query.is_none() || !sent[0].query.as_deref().unwrap().contains("key="));
    }
}

#[tokio::test]
async fn a_refused_key_falls_back_once_and_is_benched() {
    for (scenario, code) in [
        (Scenario::InvalidKey, "invalid"),
        (Scenario::NoCredits, "no_credits"),
    ] {
        for provider in Provider::ALL {
            if !scenario.supported_by(provider) {
                continue; // Groq, Bedrock, Perplexity have no "no credits" answer.
            }
            let mut w_keys = Vec::new();
            for n in 0..2u64 {
                w_keys.push(fake::key(provider, kind(provider), 100 + n));
            }
            let mock = MockBuilder::new(provider)
                .scenario_for_key(&w_keys[0], scenario.clone())
                .start()
                .await;
            let w = world(provider, &mock, 2).await;
            assert_eq!(w.keys, w_keys);
            let called = w.vault.call(&w.ws, call_for(provider, 5)).await.unwrap();
            let what = format!("{provider} {code}");
            assert_eq!(called.key.label, "k1", "{what}: the backup answered");
            assert_eq!(called.fallbacks.len(), 1, "{what}");
            assert_eq!(called.fallbacks[0].verdict.as_str(), code, "{what}");
            assert_eq!(called.fallbacks[0].key.label, "k0");
            assert_eq!(
                called.attempts, 2,
                "{what}: one request each, quota never retried"
            );
            let billable =
                mock.count(Endpoint::Billable).await + mock.count(Endpoint::Responses).await;
            assert_eq!(billable, 2, "{what}");
            // Only the backup's call is billed.
            let exact = exact(&w, provider, &called);
            assert_eq!(spent(&w).await, exact.usd.unwrap(), "{what}");
            assert_eq!(held(&w).await, Usd::ZERO, "{what}");
            // The refused key is benched: the next call goes straight to the backup.
            mock.clear_requests();
            let again = w.vault.call(&w.ws, call_for(provider, 5)).await.unwrap();
            assert_eq!(again.key.label, "k1");
            assert!(again.fallbacks.is_empty());
            assert_eq!(
                again.skipped.len(),
                1,
                "{what}: the benched primary is passed over"
            );
            assert_eq!(mock.requests().await.len(), 1);
        }
    }
}

#[tokio::test]
async fn no_usable_key_fails_closed_and_never_policy_stops_at_the_refusal() {
    let mock = start(Provider::OpenAi, Scenario::InvalidKey).await;
    let w = world(Provider::OpenAi, &mock, 1).await;
    let e = w
        .vault
        .call(&w.ws, call_for(Provider::OpenAi, 5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "no_usable_key", "{e}");
    assert_eq!(held(&w).await, Usd::ZERO);
    assert_eq!(spent(&w).await, Usd::ZERO);
    // Another workspace's key is never used.
    let other = WorkspaceId::new("other").unwrap();
    let e = w
        .vault
        .call(&other, call_for(Provider::OpenAi, 5))
        .await
        .unwrap_err();
    match e {
        VaultError::NoUsableKey { skipped, .. } => assert!(skipped.is_empty()),
        other => panic!("{other:?}"),
    }

    let mock = start(Provider::Anthropic, Scenario::InvalidKey).await;
    let w = world(Provider::Anthropic, &mock, 2).await;
    let e = w
        .vault
        .call(
            &w.ws,
            call_for(Provider::Anthropic, 5).fallback(FallbackPolicy::Never),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "provider_refused", "{e}");
    let VaultError::ProviderRefused {
        verdict,
        status,
        fallbacks,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (verdict.as_str(), *status, fallbacks.len()),
        ("invalid", 401, 1)
    );
    assert_eq!(mock.requests().await.len(), 1, "the backup was not tried");
}

#[tokio::test]
async fn a_denied_budget_sends_nothing() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let w = world(Provider::OpenAi, &mock, 1).await;
    w.guard
        .set_budget(&Budget::new(
            Scope::workspace("acme"),
            Usd::parse("0.000001").unwrap(),
            Period::Month,
        ))
        .await
        .unwrap();
    let e = w
        .vault
        .call(&w.ws, call_for(Provider::OpenAi, 4000))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "budget_denied", "{e}");
    assert!(e.to_string().contains("limit"), "{e}");
    assert!(e.hint().is_some());
    assert!(mock.requests().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_rate_limit_with_a_hint_is_waited_out_on_the_same_key() {
    for provider in Provider::ALL {
        let mock = start(
            provider,
            Scenario::RateLimited {
                times: 1,
                retry_after: Duration::from_millis(10),
            },
        )
        .await;
        let w = world(provider, &mock, 2).await;
        let called = w.vault.call(&w.ws, call_for(provider, 5)).await.unwrap();
        assert_eq!(called.attempts, 2, "{provider}");
        assert_eq!(
            called.key.label, "k0",
            "{provider}: a rate limit is not the key's fault"
        );
        assert!(called.fallbacks.is_empty());
        assert_eq!(held(&w).await, Usd::ZERO);
    }
    // A long rate limit is not waited for: the refusal comes at once, the hold released.
    let mock = start(
        Provider::OpenAi,
        Scenario::RateLimited {
            times: 9,
            retry_after: Duration::from_secs(3600),
        },
    )
    .await;
    let w = world(Provider::OpenAi, &mock, 1).await;
    let e = w
        .vault
        .call(&w.ws, call_for(Provider::OpenAi, 5))
        .await
        .unwrap_err();
    let VaultError::ProviderRefused { verdict, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(verdict.as_str(), "rate_limited");
    assert_eq!(held(&w).await, Usd::ZERO);
    assert_eq!(spent(&w).await, Usd::ZERO);
}

#[tokio::test]
async fn a_call_without_a_model_is_refused_before_anything() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let w = world(Provider::OpenAi, &mock, 1).await;
    let e = w
        .vault
        .call(&w.ws, Call::openai_chat(json!({"messages": []})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_request");
    assert!(mock.requests().await.is_empty());
    let _ = Value::Null;
}

/// Azure OpenAI: a call naming no model goes to the key's `deployment`, with
/// the key's `api_version` in the path (the default when it has none); a call
/// naming a model goes to that deployment. The configured base URL (the mock)
/// wins over the resource's origin. (Through the plan: the request as it would
/// be sent.)
#[tokio::test]
async fn an_azure_call_without_a_model_uses_the_keys_deployment_and_api_version() {
    let provider = Provider::AzureOpenAi;
    let mock = start(provider, Scenario::Valid).await;
    let w = world(provider, &mock, 0).await;
    let key = fake::key(provider, kind(provider), 900);
    let params = Params::new(
        provider,
        [
            ("resource", "contoso"),
            ("deployment", "gpt-4o-mini"),
            ("api_version", "2025-04-01-preview"),
        ],
    )
    .unwrap();
    let view = w
        .vault
        .add(
            NewKey::new(w.ws.clone(), SecretString::from(key), "azure")
                .provider(provider)
                .params(params),
        )
        .await
        .unwrap();
    assert_eq!(
        view.params.get("deployment").map(String::as_str),
        Some("gpt-4o-mini")
    );
    let body = json!({"max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]});
    let mut plan = w.vault.plan(&w.ws, Call::chat(provider, body)).unwrap();
    let attempt = plan.next_attempt().await.unwrap();
    assert_eq!(
        plan.model(),
        "gpt-4o-mini",
        "the key's deployment is the model"
    );
    assert_eq!(
        attempt.url,
        format!(
            "{}/openai/deployments/gpt-4o-mini/chat/completions?api-version=2025-04-01-preview",
            mock.uri().trim_end_matches('/')
        )
    );
    drop(attempt);
    // A model named by the call is the deployment asked for.
    let named = json!({"model": "gpt-4o", "max_tokens": 5,
                       "messages": [{"role": "user", "content": PROMPT}]});
    let mut plan = w.vault.plan(&w.ws, Call::chat(provider, named)).unwrap();
    let attempt = plan.next_attempt().await.unwrap();
    assert!(
        attempt.url.ends_with(
            "/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"
        ),
        "{}",
        attempt.url
    );
    // Another provider's call without a model is still refused before anything.
    assert_eq!(
        w.vault
            .plan(&w.ws, Call::chat(Provider::Groq, json!({"messages": []})))
            .unwrap_err()
            .code(),
        "invalid_request"
    );
}

fn stream_call_for(provider: Provider) -> Call {
    call_for(provider, 1000).stream(true)
}

/// Read a stream to its end; the bytes the caller got.
async fn drain(stream: &mut byok::call::CallStream) -> (Vec<u8>, Option<VaultError>) {
    let mut got = Vec::new();
    while let Some(chunk) = stream.next_chunk().await {
        match chunk {
            Ok(bytes) => got.extend(bytes),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

#[tokio::test]
async fn a_stream_is_passed_through_and_settled_with_the_providers_usage() {
    for provider in Provider::ALL {
        let mock = start(provider, Scenario::Valid).await;
        let w = world(provider, &mock, 1).await;
        let mut stream = w
            .vault
            .call_stream(&w.ws, stream_call_for(provider))
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        let (got, error) = drain(&mut stream).await;
        assert!(error.is_none(), "{provider}: {error:?}");
        let text = String::from_utf8_lossy(&got).into_owned();
        let called = stream.finish().await.unwrap();
        let end = called.stream.clone().unwrap();
        assert!(end.complete && end.reported, "{provider}: {end:?}");
        let usage = called.usage.unwrap();
        assert_eq!(usage.prompt_tokens(), 9, "{provider}");
        assert_eq!(usage.completion_tokens(), 12, "{provider}");
        let exact = exact(&w, provider, &called);
        assert_eq!(called.cost, Some(exact), "{provider}");
        assert_eq!(
            spent(&w).await,
            exact.usd.unwrap(),
            "{provider}: settled once, exactly"
        );
        assert_eq!(held(&w).await, Usd::ZERO);
        // The caller got the stream it asked for: OpenAI's usage chunk was asked for by byok,
        // so it is not in the caller's bytes.
        if provider == Provider::OpenAi {
            assert!(text.contains("data: [DONE]"), "{text}");
            assert!(!text.contains("\"usage\""), "{text}");
            let sent = mock.requests().await[0].body_json().unwrap();
            assert_eq!(sent["stream_options"]["include_usage"], true);
        }
        for word in ["This", " is", " the", " mock", " answer"] {
            assert!(text.contains(word), "{provider}: {text}");
        }
    }
}

#[tokio::test]
async fn broken_streams_settle_once_as_estimated_never_zero() {
    let scenarios = [
        Scenario::StreamCut { after: 3 },
        Scenario::StreamError { after: 3 },
    ];
    for scenario in scenarios {
        for provider in Provider::ALL {
            let mock = start(provider, scenario.clone()).await;
            let w = world(provider, &mock, 1).await;
            let mut stream = w
                .vault
                .call_stream(&w.ws, stream_call_for(provider))
                .await
                .unwrap();
            let (_, error) = drain(&mut stream).await;
            let what = format!("{provider} {}", scenario.name());
            if matches!(scenario, Scenario::StreamCut { .. }) {
                assert_eq!(error.map(|e| e.code()), Some("network_error"), "{what}");
            }
            let called = stream.finish().await.unwrap();
            let end = called.stream.clone().unwrap();
            assert!(!end.reported, "{what}");
            if matches!(scenario, Scenario::StreamError { .. }) {
                assert!(end.error.is_some(), "{what}: {end:?}");
            }
            let usage = called.usage.unwrap();
            assert!(usage.prompt_tokens() > 0, "{what}");
            assert!(
                usage.completion_tokens() > 0,
                "{what}: output counted from the text seen"
            );
            let cost = called.cost.unwrap();
            assert_eq!(cost.label, Label::Estimated, "{what}");
            let settled = spent(&w).await;
            assert!(settled > Usd::ZERO, "{what}: never $0");
            assert_eq!(settled, cost.usd.unwrap(), "{what}");
            assert_eq!(held(&w).await, Usd::ZERO, "{what}");
        }
    }
}

#[tokio::test]
async fn a_dropped_stream_settles_in_the_background_once() {
    for provider in Provider::ALL {
        let mock = start(
            provider,
            Scenario::StreamStall {
                after: 3,
                stall: Duration::from_secs(30),
            },
        )
        .await;
        let w = world(provider, &mock, 1).await;
        let mut stream = w
            .vault
            .call_stream(&w.ws, stream_call_for(provider))
            .await
            .unwrap();
        // Read until some text arrived, then walk away.
        let first = stream.next_chunk().await.unwrap().unwrap();
        assert!(!first.is_empty());
        drop(stream);
        let mut settled = Usd::ZERO;
        for _ in 0..200 {
            settled = spent(&w).await;
            if settled > Usd::ZERO {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(settled > Usd::ZERO, "{provider}: the drop settled, not $0");
        assert_eq!(
            held(&w).await,
            Usd::ZERO,
            "{provider}: no hold outlives the call"
        );
    }
}

#[tokio::test]
async fn a_stream_refused_before_its_first_byte_falls_back_like_a_call() {
    let keys: Vec<String> = (0..2u64)
        .map(|n| fake::key(Provider::Anthropic, KeyKind::Api, 100 + n))
        .collect();
    let mock = MockAnthropic::builder()
        .scenario_for_key(&keys[0], Scenario::NoCredits)
        .start()
        .await;
    let w = world(Provider::Anthropic, &mock, 2).await;
    let mut stream = w
        .vault
        .call_stream(&w.ws, stream_call_for(Provider::Anthropic))
        .await
        .unwrap();
    // Known before the first byte: the key answering and the fallback taken.
    assert_eq!(stream.key().label, "k1");
    assert_eq!(stream.fallbacks().len(), 1);
    let (_, error) = drain(&mut stream).await;
    assert!(error.is_none());
    let called = stream.finish().await.unwrap();
    assert_eq!(called.key.label, "k1");
    assert_eq!(called.fallbacks.len(), 1);
    assert_eq!(called.fallbacks[0].verdict.as_str(), "no_credits");
}

/// The client-agnostic way: the app sends each `Attempt` with its own client
/// (here a plain reqwest client of its own, nothing of byok's) and hands the
/// answers back; fallbacks, settling and metering are the same as the built-in's.
#[tokio::test]
async fn an_app_with_its_own_client_drives_the_same_steps() {
    use byok::call::Step;
    let keys: Vec<String> = (0..2u64)
        .map(|n| fake::key(Provider::OpenAi, KeyKind::Project, 100 + n))
        .collect();
    let mock = MockOpenAi::builder()
        .scenario_for_key(&keys[0], Scenario::NoCredits)
        .start()
        .await;
    let w = world(Provider::OpenAi, &mock, 2).await;
    let mine = reqwest::Client::new();
    let mut plan = w.vault.plan(&w.ws, call_for(Provider::OpenAi, 5)).unwrap();
    let mut attempt = plan.next_attempt().await.unwrap();
    let debug = format!("{attempt:?}");
    assert!(
        !debug.contains(&keys[0]) && debug.contains("sk-proj-…"),
        "{debug}"
    );
    let called = loop {
        let response = mine
            .request(attempt.method.clone(), &attempt.url)
            .headers(attempt.headers.clone())
            .body(attempt.body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        attempt = match plan
            .complete(attempt, status, &headers, body)
            .await
            .unwrap()
        {
            Step::Done(called) => break called,
            Step::Retry { attempt, wait } => {
                tokio::time::sleep(wait).await;
                attempt
            }
            Step::FallBack(fell) => {
                assert_eq!(fell.verdict.as_str(), "no_credits");
                plan.next_attempt().await.unwrap()
            }
        };
    };
    assert_eq!(called.key.label, "k1");
    assert_eq!(plan.fallbacks().len(), 1);
    let exact = w
        .guard
        .cost_of(&called.model, &called.usage.unwrap())
        .unwrap();
    assert_eq!(spent(&w).await, exact.usd.unwrap());

    // A stream through the app's client, metered by byok.
    let mut plan = w
        .vault
        .plan(&w.ws, call_for(Provider::OpenAi, 1000).stream(true))
        .unwrap();
    let attempt = plan.next_attempt().await.unwrap();
    assert!(attempt.stream);
    let mut response = mine
        .request(attempt.method.clone(), &attempt.url)
        .headers(attempt.headers.clone())
        .body(attempt.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let mut metering = plan.meter(attempt, 200, headers);
    let mut passed = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        metering.feed(&chunk, &mut passed);
    }
    let called = metering.finish(&mut passed).await.unwrap();
    assert!(called.stream.as_ref().unwrap().reported);
    assert_eq!(called.usage.unwrap().completion_tokens(), 12);
    assert!(
        String::from_utf8(passed)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );
    assert_eq!(held(&w).await, Usd::ZERO);
}

/// A world whose calls have `timeouts` (the verifier's configuration).
async fn world_with(
    provider: Provider,
    mock: &MockProvider,
    timeouts: byok::verify::CallTimeouts,
) -> World {
    let mut w = world(provider, mock, 1).await;
    let config = VerifierConfig::default()
        .base_url(provider, &mock.uri())
        .call_timeouts(timeouts);
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .verifier(Verifier::new(config).unwrap())
        .verify_policy(VerifyPolicy::Skip)
        .guard(w.guard.clone())
        .build()
        .await
        .unwrap();
    vault
        .add(new_key(provider, &w.ws, &w.keys[0], "k0".into()))
        .await
        .unwrap();
    w.vault = vault;
    w
}

#[tokio::test]
async fn a_stalled_stream_is_cut_at_the_idle_timeout_and_settled_as_estimated() {
    for provider in Provider::ALL {
        let mock = start(
            provider,
            Scenario::StreamStall {
                after: 3,
                stall: Duration::from_secs(30),
            },
        )
        .await;
        let timeouts = byok::verify::CallTimeouts::default().idle(Duration::from_millis(200));
        let w = world_with(provider, &mock, timeouts).await;
        let started = std::time::Instant::now();
        let mut stream = w
            .vault
            .call_stream(&w.ws, stream_call_for(provider))
            .await
            .unwrap();
        let (_, error) = drain(&mut stream).await;
        assert!(started.elapsed() < Duration::from_secs(10), "{provider}");
        assert_eq!(
            error.as_ref().map(VaultError::code),
            Some("stream_stalled"),
            "{provider}"
        );
        let called = stream.finish().await.unwrap();
        let end = called.stream.clone().unwrap();
        assert_eq!(end.stopped, Some("stream_stalled"), "{provider}");
        assert!(!end.complete, "{provider}");
        let cost = called.cost.unwrap();
        assert_eq!(cost.label, Label::Estimated, "{provider}");
        assert!(spent(&w).await > Usd::ZERO, "{provider}: never $0");
        assert_eq!(spent(&w).await, cost.usd.unwrap(), "{provider}");
        assert_eq!(held(&w).await, Usd::ZERO, "{provider}: no hold left");
    }
}

#[tokio::test]
async fn keep_alives_are_activity_and_do_not_cut_a_stream() {
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let mock = start(provider, Scenario::KeepAlive).await;
        // Longer than one keep-alive gap (100 ms, with room for a loaded machine's
        // scheduling), shorter than the three gaps before the first event together.
        let timeouts = byok::verify::CallTimeouts::default().idle(Duration::from_millis(200));
        let w = world_with(provider, &mock, timeouts).await;
        let mut stream = w
            .vault
            .call_stream(&w.ws, stream_call_for(provider))
            .await
            .unwrap();
        let (_, error) = drain(&mut stream).await;
        assert!(error.is_none(), "{provider}: {error:?}");
        let called = stream.finish().await.unwrap();
        let end = called.stream.clone().unwrap();
        assert!(end.complete && end.reported, "{provider}: {end:?}");
        assert_eq!(end.stopped, None);
        assert_eq!(held(&w).await, Usd::ZERO);
    }
}

#[tokio::test]
async fn a_hung_answer_times_out_and_is_settled_with_the_input_estimate() {
    let provider = Provider::OpenAi;
    let mock = start(provider, Scenario::Hang).await;
    let timeouts = byok::verify::CallTimeouts::default()
        .answer(Duration::from_millis(200))
        .headers(Duration::from_millis(200));
    let w = world_with(provider, &mock, timeouts).await;
    let e = w
        .vault
        .call(&w.ws, call_for(provider, 5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "answer_timeout");
    let settled = spent(&w).await;
    assert!(
        settled > Usd::ZERO,
        "the provider may have billed the prompt"
    );
    assert_eq!(held(&w).await, Usd::ZERO);
    let e = w
        .vault
        .call_stream(&w.ws, stream_call_for(provider))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "headers_timeout");
    assert!(spent(&w).await > settled);
    assert_eq!(held(&w).await, Usd::ZERO);
}

/// A store that records nothing of a use once `fail` is set (a database gone
/// read-only, say): every other operation is the memory store's.
#[derive(Debug, Default)]
struct UsesFail {
    inner: MemoryStore,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl byok::store::KeyStore for UsesFail {
    async fn insert(
        &self,
        record: &byok::store::KeyRecord,
        event: &byok::store::AuditEvent,
    ) -> Result<(), byok::store::StoreError> {
        self.inner.insert(record, event).await
    }
    async fn get(
        &self,
        workspace: &WorkspaceId,
        id: byok::store::KeyId,
    ) -> Result<byok::store::KeyRecord, byok::store::StoreError> {
        self.inner.get(workspace, id).await
    }
    async fn find_by_lookup(
        &self,
        workspace: &WorkspaceId,
        hash: &byok::store::LookupHash,
    ) -> Result<Option<byok::store::KeyRecord>, byok::store::StoreError> {
        self.inner.find_by_lookup(workspace, hash).await
    }
    async fn list(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<byok::store::KeyRecord>, byok::store::StoreError> {
        self.inner.list(workspace).await
    }
    async fn update(
        &self,
        record: &byok::store::KeyRecord,
        event: &byok::store::AuditEvent,
    ) -> Result<byok::store::KeyRecord, byok::store::StoreError> {
        self.inner.update(record, event).await
    }
    async fn delete(
        &self,
        workspace: &WorkspaceId,
        id: byok::store::KeyId,
        event: &byok::store::AuditEvent,
    ) -> Result<(), byok::store::StoreError> {
        self.inner.delete(workspace, id, event).await
    }
    async fn mark_used(
        &self,
        workspace: &WorkspaceId,
        id: byok::store::KeyId,
        event: &byok::store::AuditEvent,
    ) -> Result<(), byok::store::StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(byok::store::StoreError::Backend {
                detail: "the database is read-only".into(),
            });
        }
        self.inner.mark_used(workspace, id, event).await
    }
    async fn scan(
        &self,
        after: Option<byok::store::KeyId>,
        limit: usize,
    ) -> Result<Vec<byok::store::KeyRecord>, byok::store::StoreError> {
        self.inner.scan(after, limit).await
    }
    async fn append_audit(
        &self,
        event: &byok::store::AuditEvent,
    ) -> Result<(), byok::store::StoreError> {
        self.inner.append_audit(event).await
    }
    async fn audit(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<byok::store::AuditEvent>, byok::store::StoreError> {
        self.inner.audit(workspace).await
    }
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, byok::store::StoreError> {
        self.inner.get_meta(name).await
    }
    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, byok::store::StoreError> {
        self.inner.swap_meta(name, expected, new).await
    }
}

/// The use of a key is committed beside the request to the provider, not
/// before it; a use that cannot be recorded withholds the answer (the caller
/// gets the store's error, never an unaudited answer), and what was sent is
/// settled, not released as if nothing happened. An app's own client gets
/// its attempt only once the use is committed.
#[tokio::test]
async fn an_unrecorded_use_withholds_the_answer_and_still_settles() {
    for stream in [false, true] {
        let provider = Provider::OpenAi;
        let mock = start(provider, Scenario::Valid).await;
        let mut w = world(provider, &mock, 1).await;
        let store = Arc::new(UsesFail::default());
        w.vault = Vault::builder()
            .store(store.clone())
            .master_key(MasterKeySource::Base64(
                MasterKey::generate().unwrap().to_base64(),
            ))
            .verifier(
                Verifier::new(VerifierConfig::default().base_url(provider, &mock.uri())).unwrap(),
            )
            .verify_policy(VerifyPolicy::Skip)
            .guard(w.guard.clone())
            .build()
            .await
            .unwrap();
        w.vault
            .add(new_key(provider, &w.ws, &w.keys[0], "k0".into()))
            .await
            .unwrap();
        // Recorded: the call goes through and its use is in the trail.
        let called = w.vault.call(&w.ws, call_for(provider, 5)).await.unwrap();
        assert_eq!(called.status, 200);
        let uses = |events: Vec<byok::store::AuditEvent>| {
            events
                .iter()
                .filter(|e| e.action == byok::store::AuditAction::Use)
                .count()
        };
        assert_eq!(uses(w.vault.audit(&w.ws).await.unwrap()), 1);
        let before = spent(&w).await;

        store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let error = if stream {
            match w.vault.call_stream(&w.ws, stream_call_for(provider)).await {
                Ok(_) => panic!("a stream whose use was not recorded was handed out"),
                Err(e) => e,
            }
        } else {
            w.vault
                .call(&w.ws, call_for(provider, 5))
                .await
                .expect_err("an answer whose use was not recorded was handed out")
        };
        assert_eq!(error.code(), "backend_error", "stream {stream}: {error}");
        assert_eq!(
            mock.requests().await.len(),
            2,
            "the request went out beside the commit"
        );
        assert!(
            spent(&w).await > before,
            "stream {stream}: what was sent is settled (estimated), never $0"
        );
        assert_eq!(held(&w).await, Usd::ZERO, "stream {stream}: no hold left");

        // An app's own client: nothing is handed out (nor sent) unrecorded.
        let mut plan = w.vault.plan(&w.ws, call_for(provider, 5)).unwrap();
        let refused = plan
            .next_attempt()
            .await
            .expect_err("an unrecorded attempt");
        assert_eq!(refused.code(), "backend_error");
        assert_eq!(held(&w).await, Usd::ZERO, "the attempt's hold went back");
        assert_eq!(uses(w.vault.audit(&w.ws).await.unwrap()), 1);
    }
}

//! `byok::guard`: cost sync with admin canary keys against wiremock providers
//! (answers, refusals that quote the key, outages, garbage, closed ports) and ledger
//! URLs that carry a secret as their password.

use byok::guard::GuardError;
use byok::guard::sync::CostSync;
use byok::keys::{ApiKey, KeyKind, Provider};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::{debugged, json, shown};

fn admin(provider: Provider, n: usize) -> (String, ApiKey) {
    let raw = canary::key(provider, KeyKind::Admin, n);
    let key = ApiKey::parse(&raw).expect("canary parses");
    (raw, key)
}

fn error_surfaces(e: &GuardError) -> String {
    format!("{}{}\n", shown(e), e.code()) + &unwrap_panic(Err::<(), _>(e.clone()))
}

fn span() -> (jiff::Timestamp, jiff::Timestamp) {
    (
        "2026-01-01T00:00:00Z".parse().unwrap(),
        "2026-01-02T00:00:00Z".parse().unwrap(),
    )
}

/// A successful page of each provider's cost API.
fn page(provider: Provider) -> serde_json::Value {
    match provider {
        Provider::OpenAi => json!({"object": "page", "data": [{"object": "bucket",
            "start_time": 1767225600, "end_time": 1767312000,
            "results": [{"object": "organization.costs.result",
                "amount": {"value": 0.25, "currency": "usd"}, "line_item": null,
                "project_id": "proj_abc", "organization_id": "org-1"}]}],
            "has_more": false, "next_page": null}),
        _ => json!({"data": [{"starting_at": "2026-01-01T00:00:00Z",
            "ending_at": "2026-01-02T00:00:00Z", "results": [{"currency": "USD",
            "amount": "25", "workspace_id": "wrkspc_1", "description": null}]}],
            "has_more": false, "next_page": null}),
    }
}

/// Sync costs from a server answering `response`; everything it shows.
async fn sync_against(provider: Provider, key: &ApiKey, response: ResponseTemplate) -> String {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(response)
        .mount(&server)
        .await;
    let sync = CostSync::new().with_base_url(provider, server.uri());
    let (start, end) = span();
    let result = sync.costs(key, start, end).await;
    let mut out = debugged(&sync);
    match &result {
        Ok(costs) => {
            for c in costs {
                out += &(debugged(c) + &json(c));
            }
        }
        Err(e) => out += &error_surfaces(e),
    }
    // The key went in the provider's auth header, nowhere else.
    for r in server.received_requests().await.unwrap_or_default() {
        assert_clean("cost sync request URL", r.url.as_str().as_bytes());
        assert_clean("cost sync request body", &r.body);
    }
    out + &unwrap_panic(result)
}

#[tokio::test(flavor = "current_thread")]
async fn cost_sync_answers_outages_and_garbage() {
    init();
    let mut out = String::new();
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let (_, key) = admin(provider, 0);
        out += &sync_against(
            provider,
            &key,
            ResponseTemplate::new(200).set_body_json(page(provider)),
        )
        .await;
        out += &sync_against(provider, &key, ResponseTemplate::new(500)).await;
        out += &sync_against(
            provider,
            &key,
            ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
        )
        .await;
        // Not an admin key: refused before any request.
        let inference = ApiKey::parse(&canary::key(
            provider,
            if provider == Provider::OpenAi {
                KeyKind::Project
            } else {
                KeyKind::Api
            },
            0,
        ))
        .unwrap();
        out += &sync_against(provider, &inference, ResponseTemplate::new(200)).await;
    }
    // A provider without a cost API.
    let google = ApiKey::parse(&canary::key(Provider::Google, KeyKind::Standard, 0)).unwrap();
    out += &sync_against(Provider::Google, &google, ResponseTemplate::new(200)).await;
    // Nobody listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let (_, key) = admin(provider, 1);
        let sync = CostSync::new().with_base_url(provider, format!("http://127.0.0.1:{port}"));
        let (start, end) = span();
        out += &error_surfaces(&sync.costs(&key, start, end).await.expect_err("closed"));
    }
    assert_clean("guard: cost sync surfaces", out.as_bytes());
    assert_emitted_clean("guard: cost sync");
}

#[tokio::test(flavor = "current_thread")]
async fn cost_sync_refusal_quoting_the_whole_key() {
    init();
    let mut out = String::new();
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let (raw, key) = admin(provider, 2);
        let body = json!({"error": {"message": format!("Incorrect API key provided: {raw}."),
            "type": "invalid_request_error"}});
        out += &sync_against(
            provider,
            &key,
            ResponseTemplate::new(401).set_body_json(body),
        )
        .await;
    }
    assert_clean("guard: refusal quoting the key", out.as_bytes());
    assert_emitted_clean("guard: refusal quoting the key");
}

#[tokio::test(flavor = "current_thread")]
async fn cost_sync_refusal_quoting_the_key_at_the_snippet_cut() {
    init();
    let mut out = String::new();
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let (raw, key) = admin(provider, 3);
        // The key starts 40 characters before the 300-character snippet ends.
        let pad = "x".repeat(260);
        let body = format!("{pad} {raw} was rejected");
        out += &sync_against(
            provider,
            &key,
            ResponseTemplate::new(401).set_body_string(body),
        )
        .await;
    }
    assert_clean("guard: key cut by the error snippet", out.as_bytes());
    assert_emitted_clean("guard: key cut by the error snippet");
}

#[tokio::test(flavor = "current_thread")]
async fn cost_sync_refusal_quoting_the_key_glued_to_a_word() {
    init();
    let mut out = String::new();
    for provider in [Provider::OpenAi, Provider::Anthropic] {
        let (raw, key) = admin(provider, 4);
        let body = format!("{{\"error\":\"bad credential key_{raw}\"}}");
        out += &sync_against(
            provider,
            &key,
            ResponseTemplate::new(401).set_body_string(body),
        )
        .await;
    }
    assert_clean("guard: key glued to a word", out.as_bytes());
    assert_emitted_clean("guard: key glued to a word");
}

#[tokio::test(flavor = "current_thread")]
async fn ledger_urls_with_a_secret_password_are_never_repeated() {
    init();
    let mut out = String::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = canary::passphrase().replace(' ', "-");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let missing = dir.path().join("no-such-dir");
    for url in [
        format!("postgres://byok:{secret}@127.0.0.1:{port}/ledger"),
        format!("postgresql://byok:{secret}@127.0.0.1:{port}/ledger?sslmode=disable"),
        format!("sqlite:{}/{secret}/ledger.db", missing.display()),
        format!("nosuchscheme://byok:{secret}@127.0.0.1/"),
        secret.clone(),
    ] {
        match byok::guard::ledger::open(&url).await {
            Ok(_) => out += "opened\n",
            Err(e) => out += &error_surfaces(&e),
        }
    }
    assert_clean("guard: ledger URL errors", out.as_bytes());
    assert_emitted_clean("guard: ledger URLs");
}

/// Inputs a caller might feed the usage parser and the price loader that quote a key
/// where a number or an object belongs.
fn hostile_inputs(raw: &str) -> Vec<String> {
    vec![
        format!("\"{raw}\""),
        format!("[\"{raw}\"]"),
        format!("{{\"usage\": \"{raw}\"}}"),
        format!("{{\"usage\": {{\"prompt_tokens\": \"{raw}\", \"completion_tokens\": 1}}}}"),
        format!("{{\"usage\": {{\"input_tokens\": 1, \"output_tokens\": \"{raw}\"}}}}"),
        format!("{{\"usageMetadata\": {{\"promptTokenCount\": \"{raw}\"}}}}"),
        format!("{{\"{raw}\": {{\"prompt_tokens\": 1}}}}"),
        format!(
            "{{\"usage\": {{\"prompt_tokens\": 1, \"completion_tokens\": 2}}, \"key\": \"{raw}\"}}"
        ),
        format!("{{\"usage\": {raw}}}"),
        raw.to_owned(),
    ]
}

/// Price files that hold a key where a model object or a price belongs.
fn price_inputs(raw: &str) -> Vec<String> {
    vec![
        format!("{{\"gpt-4o\": \"{raw}\"}}"),
        format!("{{\"gpt-4o\": {{\"litellm_provider\": \"{raw}\", \"mode\": \"chat\"}}}}"),
        format!(
            "{{\"gpt-4o\": {{\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"max_output_tokens\": \"{raw}\", \"input_cost_per_token\": 1e-6, \"output_cost_per_token\": 1e-6}}}}"
        ),
        raw.to_owned(),
    ]
}

/// The same, where byok-guard once quoted the offending value in its error (fixed in
/// 23048e9: errors name the field and position, never the value).
fn leaking_price_inputs(raw: &str) -> Vec<String> {
    vec![
        format!("\"{raw}\""),
        format!(
            "{{\"gpt-4o\": {{\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": \"{raw}\", \"output_cost_per_token\": 1e-6}}}}"
        ),
    ]
}

/// Load `inputs` as price files; everything the loader shows.
fn load_prices(inputs: Vec<String>) -> String {
    let mut out = String::new();
    for input in inputs {
        match byok::guard::PriceBook::from_litellm_json(&input) {
            Ok(book) => out += &format!("{:?}\n", book.models()),
            Err(e) => out += &error_surfaces(&e),
        }
        if let Err(e) = byok::guard::price::litellm_subset(&input) {
            out += &error_surfaces(&e);
        }
    }
    out
}

#[test]
fn usage_bodies_quoting_a_key() {
    init();
    let mut out = String::new();
    let raw = canary::key(Provider::Anthropic, KeyKind::Api, 5);
    for input in hostile_inputs(&raw) {
        out += &debugged(&byok::guard::Usage::from_json(&input));
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&input) {
            out += &debugged(&byok::guard::Usage::from_value(&value));
            for provider in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
                match byok::guard::Usage::from_provider_value(provider, &value) {
                    Ok(u) => out += &debugged(&u),
                    Err(e) => out += &error_surfaces(&e),
                }
            }
        }
        if let Err(e) = byok::guard::Usage::from_json(&input) {
            out += &error_surfaces(&e);
        }
    }
    assert_clean("guard: usage errors", out.as_bytes());
    assert_emitted_clean("guard: usage errors");
}

#[test]
fn price_files_quoting_a_key() {
    init();
    let raw = canary::key(Provider::OpenAi, KeyKind::Project, 5);
    let out = load_prices(price_inputs(&raw));
    assert_clean("guard: price file errors", out.as_bytes());
    assert_emitted_clean("guard: price file errors");
}

#[test]
fn price_files_quoting_a_key_where_a_number_belongs() {
    init();
    let raw = canary::key(Provider::OpenAi, KeyKind::Project, 6);
    let out = load_prices(leaking_price_inputs(&raw));
    assert_clean("guard: price file errors quoting the value", out.as_bytes());
    assert_emitted_clean("guard: price file errors quoting the value");
}

//! The metering proxy (`/proxy/{provider}/…`) over real HTTP, to the testkit's
//! mocks: answers unchanged (byte for byte against the same request sent to
//! the mock directly), ledger settled exactly, byok's refusals in each
//! provider's shape, fallback, the app token never forwarded, management
//! tokens refused, a client that goes away mid-stream settled.

use std::time::Duration;

use byok::guard::{PriceBook, Usage, Usd};
use byok::keys::Provider;
use byok_serve::TokenScope;
use byok_testkit::{MockProvider, Scenario};
use serde_json::{Value, json};

use crate::common::{Harness, key, kind_of, no_credits_key};

const PROMPT: &str = "Say hi";

/// One API through the proxy: its route, its direct path at the mock, a body.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) provider: Provider,
    pub(crate) model: &'static str,
    /// The path under `/proxy/{provider}` and at the mock.
    pub(crate) path: String,
    /// Gemini streams by path: the streamed path (query included).
    pub(crate) stream_path: Option<String>,
    pub(crate) body: Value,
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "openai chat",
            provider: Provider::OpenAi,
            model: "gpt-4o-mini",
            path: "/v1/chat/completions".into(),
            stream_path: None,
            body: json!({"model": "gpt-4o-mini", "max_completion_tokens": 64,
                         "messages": [{"role": "user", "content": PROMPT}]}),
        },
        Case {
            name: "openai responses",
            provider: Provider::OpenAi,
            model: "gpt-4o-mini",
            path: "/v1/responses".into(),
            stream_path: None,
            body: json!({"model": "gpt-4o-mini", "input": PROMPT, "max_output_tokens": 64}),
        },
        Case {
            name: "anthropic messages",
            provider: Provider::Anthropic,
            model: "claude-haiku-4-5",
            path: "/v1/messages".into(),
            stream_path: None,
            body: json!({"model": "claude-haiku-4-5", "max_tokens": 64,
                         "messages": [{"role": "user", "content": PROMPT}]}),
        },
        Case {
            name: "gemini generateContent",
            provider: Provider::Google,
            model: "gemini-2.5-flash",
            path: "/v1beta/models/gemini-2.5-flash:generateContent".into(),
            stream_path: Some(
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse".into(),
            ),
            body: json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                         "generationConfig": {"maxOutputTokens": 64}}),
        },
    ]
}

pub(crate) fn mock(h: &Harness, provider: Provider) -> &MockProvider {
    match provider {
        Provider::Groq => &h.groq,
        Provider::Anthropic => &h.anthropic,
        Provider::Google => &h.gemini,
        _ => &h.openai,
    }
}

/// The header each SDK sends its "API key" in.
pub(crate) fn auth_header(provider: Provider, token: &str) -> (String, String) {
    match provider {
        Provider::Anthropic => ("x-api-key".into(), token.into()),
        Provider::Google => ("x-goog-api-key".into(), token.into()),
        _ => ("authorization".into(), format!("Bearer {token}")),
    }
}

/// A POST, kept for the canary check.
pub(crate) async fn post(
    h: &Harness,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    h.post_raw(url, headers, body).await
}

/// A workspace with a valid key of each of the three providers, a $100
/// budget and an app token.
struct Setup {
    h: Harness,
    ws: String,
    app: String,
}

async fn setup(prefix: &str) -> Setup {
    let h = Harness::start().await;
    let ws = h.workspace(prefix).await;
    for p in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
        h.add_untested(&ws, p, &key(p, kind_of(p), 0), None).await;
    }
    set_budget(&h, &ws, "100").await;
    let app = h.token(TokenScope::App, Some(&ws)).await;
    Setup { h, ws, app }
}

async fn set_budget(h: &Harness, ws: &str, limit: &str) {
    let (status, b) = h
        .call(
            "PUT",
            &format!("/v1/workspaces/{ws}/budget"),
            Some(&h.admin),
            Some(json!({"limit_usd": limit, "period": "total"})),
        )
        .await;
    assert_eq!(status, 200, "{b}");
}

/// The workspace budget's spent and held amounts, and spend by label.
async fn budget(h: &Harness, ws: &str) -> (Usd, Usd, Value) {
    let (status, b) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/budget"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{b}");
    let usd = |v: &Value| Usd::parse(v.as_str().unwrap()).unwrap();
    (
        usd(&b["spent"]),
        usd(&b["held"]),
        b["spent_by_label"].clone(),
    )
}

/// What `usage` costs at the embedded prices.
fn cost(provider: Provider, model: &str, usage: &Value) -> Usd {
    let usage = Usage::from_provider_value(provider, usage).unwrap();
    PriceBook::embedded()
        .cost_for(provider, model, &usage)
        .unwrap()
        .usd
        .unwrap()
}

fn usage_of(provider: Provider, body: &Value) -> Value {
    match provider {
        Provider::Google => body["usageMetadata"].clone(),
        _ => body["usage"].clone(),
    }
}

pub(crate) fn streamed(case: &Case) -> (String, Value) {
    match &case.stream_path {
        Some(p) => (p.clone(), case.body.clone()),
        None => {
            let mut b = case.body.clone();
            b["stream"] = json!(true);
            (case.path.clone(), b)
        }
    }
}

#[tokio::test]
async fn every_api_answers_unchanged_and_settles_exactly() {
    let Setup { h, ws, app } = setup("proxy").await;
    let mut total = Usd::ZERO;
    for case in cases() {
        let p = case.provider;
        let m = mock(&h, p);
        let secret = key(p, kind_of(p), 0);
        let mut direct_headers = vec![auth_header(p, &secret)];
        if p == Provider::Anthropic {
            direct_headers.push(("anthropic-version".into(), "2023-06-01".into()));
        }
        let proxied = format!("{}/proxy/{}", h.url, p.as_str());
        let via = vec![auth_header(p, &app)];

        // Not streamed: the same bytes as the mock's own answer, and its usage's cost settled.
        let direct = post(
            &h,
            &format!("{}{}", m.uri(), case.path),
            &direct_headers,
            &case.body,
        )
        .await;
        assert_eq!(direct.0, 200, "{}", case.name);
        let (status, headers, body) =
            post(&h, &format!("{proxied}{}", case.path), &via, &case.body).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&body)
        );
        assert_eq!(body, direct.2, "{}: the answer is unchanged", case.name);
        assert_eq!(
            headers["content-type"], direct.1["content-type"],
            "{}",
            case.name
        );
        let json: Value = serde_json::from_slice(&body).unwrap();
        let expected = cost(p, case.model, &usage_of(p, &json));
        assert!(expected > Usd::ZERO, "{}", case.name);
        assert_eq!(
            headers["x-byok-cost-usd"].to_str().unwrap(),
            expected.to_string(),
            "{}",
            case.name
        );
        assert_eq!(headers["x-byok-cost-label"], "estimated", "{}", case.name);
        assert_eq!(headers["x-byok-fallbacks"], "0");
        assert!(headers["x-byok-key"].to_str().unwrap().contains("..."));
        assert!(!headers.contains_key("x-byok-error-code"));
        if p == Provider::OpenAi {
            assert_eq!(
                headers["x-ratelimit-limit-requests"], "500",
                "rate limits pass"
            );
        }
        total = total.checked_add(expected).unwrap();
        let (spent, held, _) = budget(&h, &ws).await;
        assert_eq!((spent, held), (total, Usd::ZERO), "{}", case.name);

        // Streamed: the same bytes as the mock's own stream; the same usage settled.
        let (path, sbody) = streamed(&case);
        let direct = post(&h, &format!("{}{path}", m.uri()), &direct_headers, &sbody).await;
        assert_eq!(direct.0, 200, "{}", case.name);
        let (status, headers, body) = post(&h, &format!("{proxied}{path}"), &via, &sbody).await;
        assert_eq!(status, 200, "{} stream", case.name);
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&direct.2),
            "{} stream: unchanged",
            case.name
        );
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{}",
            case.name
        );
        assert_eq!(headers["x-byok-fallbacks"], "0");
        assert!(headers.contains_key("x-byok-key-id"));
        total = total.checked_add(expected).unwrap();
        // The stream settles as its last bytes pass: at once, or very soon after.
        let settled = wait_for(|| async { budget(&h, &ws).await.0 == total }).await;
        let (spent, held, _) = budget(&h, &ws).await;
        assert!(
            settled,
            "{} stream: spent {spent}, expected {total}",
            case.name
        );
        assert_eq!(held, Usd::ZERO, "{} stream: no hold left", case.name);
    }
    h.stop().await;
}

/// Poll `check` for up to 15 s.
async fn wait_for<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn an_openai_compatible_provider_is_proxied_at_its_own_chat_path() {
    let Setup { h, ws, app } = setup("compat").await;
    let p = Provider::Groq;
    let secret = key(p, byok::keys::KeyKind::Standard, 0);
    h.add_untested(&ws, p, &secret, None).await;
    let model = byok_testkit::compat::priced_model(p);
    let path = p.spec().chat_path.unwrap();
    let body = json!({"model": model, "max_tokens": 64,
                      "messages": [{"role": "user", "content": PROMPT}]});
    let direct_auth = [auth_header(p, &secret)];
    let via = [auth_header(p, &app)];
    let direct = post(&h, &format!("{}{path}", h.groq.uri()), &direct_auth, &body).await;
    assert_eq!(direct.0, 200);
    let url = format!("{}/proxy/groq{path}", h.url);
    let (status, headers, answer) = post(&h, &url, &via, &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(answer, direct.2, "unchanged");
    let json: Value = serde_json::from_slice(&answer).unwrap();
    let expected = cost(p, &model, &json["usage"]);
    assert_eq!(
        headers["x-byok-cost-usd"].to_str().unwrap(),
        expected.to_string()
    );
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let direct = post(
        &h,
        &format!("{}{path}", h.groq.uri()),
        &direct_auth,
        &streamed,
    )
    .await;
    let (status, _, answer) = post(&h, &url, &via, &streamed).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        String::from_utf8_lossy(&direct.2)
    );
    let total = expected.checked_add(expected).unwrap();
    assert!(wait_for(|| async { budget(&h, &ws).await.0 == total }).await);
    // A route the provider does not serve (Groq has no Responses API).
    let (status, _, _) = post(
        &h,
        &format!("{}/proxy/groq/openai/v1/responses", h.url),
        &via,
        &body,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(h.openai.requests().await.len(), 0, "nothing went to OpenAI");
    h.stop().await;
}

#[tokio::test]
async fn a_budget_denial_is_the_providers_error_shape_and_sends_nothing() {
    let Setup { h, ws, app } = setup("deny").await;
    set_budget(&h, &ws, "0.000001").await;
    for case in cases() {
        let p = case.provider;
        let url = format!("{}/proxy/{}{}", h.url, p.as_str(), case.path);
        let (status, headers, body) = post(&h, &url, &[auth_header(p, &app)], &case.body).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 402, "{}: {body}", case.name);
        assert_eq!(headers["x-should-retry"], "false");
        assert_eq!(headers["x-byok-error-code"], "budget_denied");
        let message = match p {
            Provider::OpenAi => {
                assert_eq!(body["error"]["code"], "budget_denied", "{body}");
                assert_eq!(body["error"]["type"], "byok_error");
                body["error"]["message"].as_str().unwrap().to_owned()
            }
            Provider::Anthropic => {
                assert_eq!(body["type"], "error");
                assert_eq!(body["error"]["type"], "budget_denied", "{body}");
                body["error"]["message"].as_str().unwrap().to_owned()
            }
            _ => {
                assert_eq!(body["error"]["code"], 402);
                assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
                assert_eq!(body["error"]["details"][0]["reason"], "budget_denied");
                body["error"]["message"].as_str().unwrap().to_owned()
            }
        };
        assert!(message.contains("budget"), "{message}");
        assert!(
            message.contains("needed") && message.contains("remaining"),
            "{message}"
        );
        assert_eq!(body["error"]["byok"]["limit_usd"], "0.000001");
        let m = mock(&h, p);
        assert_eq!(m.count(byok_testkit::Endpoint::Billable).await, 0);
        assert_eq!(m.count(byok_testkit::Endpoint::Responses).await, 0);
    }
    let (spent, held, _) = budget(&h, &ws).await;
    assert_eq!((spent, held), (Usd::ZERO, Usd::ZERO));
    h.stop().await;
}

#[tokio::test]
async fn no_usable_key_and_bad_tokens_are_refused_in_shape() {
    let h = Harness::start().await;
    let ws = h.workspace("nokey").await;
    let app = h.token(TokenScope::App, Some(&ws)).await;
    let case = &cases()[2]; // Anthropic
    let url = format!("{}/proxy/anthropic{}", h.url, case.path);
    let (status, headers, body) = post(
        &h,
        &url,
        &[auth_header(Provider::Anthropic, &app)],
        &case.body,
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, &body["error"]["type"]),
        (403, &json!("no_usable_key")),
        "{body}"
    );
    assert_eq!(headers["x-should-retry"], "false");

    // No token, a made-up one, a management token: refused, nothing sent.
    let openai = format!("{}/proxy/openai/v1/chat/completions", h.url);
    let body = &cases()[0].body;
    let (status, _, b) = post(&h, &openai, &[], body).await;
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (status, &b["error"]["code"]),
        (401, &json!("unauthorized")),
        "{b}"
    );
    let forged = format!("byok_app_{}_{}", "0".repeat(32), "1".repeat(64));
    let (status, _, _) = post(&h, &openai, &[auth_header(Provider::OpenAi, &forged)], body).await;
    assert_eq!(status, 401);
    let manager = h.token(TokenScope::Workspace, Some(&ws)).await;
    for token in [h.admin.clone(), manager] {
        let (status, headers, b) =
            post(&h, &openai, &[auth_header(Provider::OpenAi, &token)], body).await;
        let b: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            (status, &b["error"]["code"]),
            (403, &json!("forbidden")),
            "{b}"
        );
        assert_eq!(headers["x-should-retry"], "false");
    }
    // An app token stays refused by the management API.
    let (status, _) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/keys"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(status, 403);
    // A route the proxy does not serve, in the provider's shape.
    let url = format!("{}/proxy/google/v1beta/models/m:countTokens", h.url);
    let (status, _, b) = post(&h, &url, &[auth_header(Provider::Google, &app)], body).await;
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (status, &b["error"]["status"]),
        (404, &json!("NOT_FOUND")),
        "{b}"
    );
    assert!(
        h.openai.requests().await.is_empty(),
        "nothing reached the provider"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_no_credits_primary_falls_back_and_the_app_token_never_reaches_the_mock() {
    let h = Harness::start().await;
    let mut apps = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        // A workspace per call: the refused primary is benched after its refusal.
        let p = case.provider;
        let ws = h.workspace("fallback").await;
        h.add_untested(&ws, p, &no_credits_key(p), None).await;
        h.add_untested(&ws, p, &key(p, kind_of(p), 1), Some(1))
            .await;
        let app = h.token(TokenScope::App, Some(&ws)).await;
        let (path, body) = if i % 2 == 0 {
            (case.path.clone(), case.body.clone())
        } else {
            streamed(case)
        };
        let url = format!("{}/proxy/{}{path}", h.url, p.as_str());
        let headers = vec![
            auth_header(p, &app),
            ("x-leak-probe".into(), "do-not-forward".into()),
            ("cookie".into(), "session=do-not-forward".into()),
        ];
        let (status, answer, bytes) = post(&h, &url, &headers, &body).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(answer["x-byok-fallbacks"], "1", "{}", case.name);
        assert_eq!(answer["x-byok-key-role"], "backup", "{}", case.name);
        apps.push(app);
    }
    // What the mocks received: the stored keys, never the app token or our headers.
    let mut seen = 0;
    for p in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
        for r in mock(&h, p).requests().await {
            seen += 1;
            let all = format!(
                "{:?} {:?} {}",
                r.headers,
                r.query,
                String::from_utf8_lossy(&r.body)
            );
            for app in &apps {
                assert!(
                    !all.contains(app.as_str()),
                    "the app token reached the {p} mock"
                );
            }
            assert!(!all.contains("byok_"), "a byok token reached the {p} mock");
            assert!(
                !all.contains("do-not-forward"),
                "a client header reached the {p} mock"
            );
        }
    }
    assert_eq!(
        seen, 8,
        "two attempts per call (the refused primary, the backup)"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_is_settled_as_estimated() {
    let Setup { h, ws, app } = setup("gone").await;
    h.openai.set_scenario(Scenario::StreamStall {
        after: 1,
        stall: Duration::from_secs(30),
    });
    let case = &cases()[0];
    let (path, body) = streamed(case);
    let url = format!("{}/proxy/openai{path}", h.url);
    let mut answer = h
        .client()
        .post(&url)
        .header("authorization", format!("Bearer {app}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let first = answer.chunk().await.unwrap().unwrap();
    assert!(
        first.starts_with(b"data: "),
        "{}",
        String::from_utf8_lossy(&first)
    );
    let (_, held, _) = budget(&h, &ws).await;
    assert!(
        held > Usd::ZERO,
        "the call holds its worst case while it streams"
    );
    drop(answer);
    let settled = wait_for(|| async {
        let (spent, held, _) = budget(&h, &ws).await;
        held == Usd::ZERO && spent > Usd::ZERO
    })
    .await;
    let (spent, held, by_label) = budget(&h, &ws).await;
    assert!(settled, "spent {spent}, held {held}");
    assert!(by_label.get("estimated").is_some(), "{by_label}");
    h.stop().await;
}

#[tokio::test]
async fn the_proxy_takes_bodies_past_the_management_limit() {
    let Setup { h, app, .. } = setup("big").await;
    let big = "a ".repeat(100 * 1024);
    let body = json!({"model": "gpt-4o-mini", "max_completion_tokens": 16,
                      "messages": [{"role": "user", "content": big}]});
    let url = format!("{}/proxy/openai/v1/chat/completions", h.url);
    let (status, _, b) = post(&h, &url, &[auth_header(Provider::OpenAi, &app)], &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_before_the_answer_leaves_the_call_to_settle() {
    let Setup { h, ws, app } = setup("impatient").await;
    h.openai
        .set_scenario(Scenario::Slow(Duration::from_millis(1500)));
    let case = &cases()[0];
    let url = format!("{}/proxy/openai{}", h.url, case.path);
    let gave_up = h
        .client()
        .post(&url)
        .header("authorization", format!("Bearer {app}"))
        .timeout(Duration::from_millis(300))
        .json(&case.body)
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up before the answer");
    let (_, held, _) = budget(&h, &ws).await;
    assert!(held > Usd::ZERO, "the call is still under way");
    let settled = wait_for(|| async {
        let (spent, held, _) = budget(&h, &ws).await;
        held == Usd::ZERO && spent > Usd::ZERO
    })
    .await;
    let (spent, held, _) = budget(&h, &ws).await;
    assert!(
        settled,
        "the call settled anyway: spent {spent}, held {held}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_provider_refusal_comes_back_with_its_status_and_code() {
    let Setup { h, app, .. } = setup("refused").await;
    h.openai.set_scenario(Scenario::ModelAccess);
    h.anthropic.set_scenario(Scenario::ModelAccess);
    let all = cases();
    for case in [&all[0], &all[2]] {
        let p = case.provider;
        let url = format!("{}/proxy/{}{}", h.url, p.as_str(), case.path);
        let (status, headers, body) = post(&h, &url, &[auth_header(p, &app)], &case.body).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 404, "{}: {body}", case.name);
        assert_eq!(body["error"]["byok_code"], "provider_refused", "{body}");
        assert_eq!(headers["x-byok-error-code"], "provider_refused");
        assert_eq!(headers["x-should-retry"], "false");
        let code = match p {
            Provider::OpenAi => &body["error"]["code"],
            _ => &body["error"]["type"],
        };
        let want = if p == Provider::OpenAi {
            "model_not_found"
        } else {
            "not_found_error"
        };
        assert_eq!(code, want, "{body}");
    }
    h.stop().await;
}

/// `x-byok-project` names the project a proxied call counts against, besides
/// the workspace: its budget is charged and kept, and a bad name is refused in
/// the provider's shape before anything is sent.
#[tokio::test]
async fn a_project_header_charges_and_keeps_the_projects_budget() {
    let Setup { h, ws, app } = setup("project").await;
    let project = format!("checkout-{ws}");
    let path = format!("/v1/projects/{project}/budget");
    let put = |limit: &'static str| {
        let (h, path) = (&h, &path);
        async move {
            let (status, b) = h
                .call(
                    "PUT",
                    path,
                    Some(&h.admin),
                    Some(json!({"limit_usd": limit, "period": "total"})),
                )
                .await;
            assert_eq!(status, 200, "{b}");
        }
    };
    put("10").await;
    let case = &cases()[0];
    let url = format!("{}/proxy/openai{}", h.url, case.path);
    let with = |name: &str| {
        vec![
            auth_header(Provider::OpenAi, &app),
            ("x-byok-project".into(), name.to_owned()),
        ]
    };
    let (status, headers, body) = post(&h, &url, &with(&project), &case.body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cost = headers["x-byok-cost-usd"].to_str().unwrap().to_owned();
    let (status, st) = h.call("GET", &path, Some(&h.admin), None).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(
        st["spent"],
        cost.as_str(),
        "the project's budget is charged"
    );
    let (spent, _, _) = budget(&h, &ws).await;
    assert_eq!(spent.to_string(), cost, "and the workspace's too");

    // The project's budget is kept: with no room left the call is denied.
    put("0").await;
    let sent = mock(&h, Provider::OpenAi)
        .count(byok_testkit::Endpoint::Billable)
        .await;
    let (status, headers, body) = post(&h, &url, &with(&project), &case.body).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 402, "{body}");
    assert_eq!(headers["x-byok-error-code"], "budget_denied");
    assert_eq!(
        body["error"]["byok"]["budget"],
        format!("project:{project}"),
        "{body}"
    );
    // A bad name: refused in OpenAI's error shape.
    for bad in [String::new(), "p".repeat(193)] {
        let (status, headers, body) = post(&h, &url, &with(&bad), &case.body).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400, "{body}");
        assert_eq!(headers["x-byok-error-code"], "invalid_input");
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    }
    assert_eq!(
        mock(&h, Provider::OpenAi)
            .count(byok_testkit::Endpoint::Billable)
            .await,
        sent,
        "nothing was sent for the denied and refused calls"
    );
    h.stop().await;
}

/// With the read cache on (the default), what this server changes is seen by
/// the very next call: a token revoked here is refused, a key disabled here is
/// not used, though both were read (and kept) by the call before.
#[tokio::test]
async fn changes_made_here_are_seen_by_the_next_call_despite_the_read_cache() {
    let Setup { h, ws, app } = setup("fresh").await;
    let case = &cases()[0];
    let url = format!("{}/proxy/openai{}", h.url, case.path);
    let via = [auth_header(Provider::OpenAi, &app)];
    let (status, headers, _) = post(&h, &url, &via, &case.body).await;
    assert_eq!(status, 200);
    let id = headers["x-byok-key-id"].to_str().unwrap().to_owned();
    let admin = Some(h.admin.as_str());
    let action = |what: &'static str| {
        let (h, ws, id) = (&h, &ws, &id);
        async move {
            let (status, v) = h
                .call(
                    "POST",
                    &format!("/v1/workspaces/{ws}/keys/{id}/{what}"),
                    admin,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{what}: {v}");
        }
    };
    action("disable").await;
    let (_, headers, _) = post(&h, &url, &via, &case.body).await;
    assert_eq!(
        headers["x-byok-error-code"], "no_usable_key",
        "a disabled key is not used"
    );
    action("enable").await;
    let (status, _, _) = post(&h, &url, &via, &case.body).await;
    assert_eq!(status, 200, "an enabled key serves again");

    let app_id = app.split('_').nth(2).unwrap().to_owned();
    let (status, v) = h
        .call("DELETE", &format!("/v1/tokens/{app_id}"), admin, None)
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, headers, _) = post(&h, &url, &via, &case.body).await;
    assert_eq!(
        (status, headers["x-byok-error-code"].to_str().unwrap()),
        (401, "unauthorized"),
        "a token revoked here is refused by the next call"
    );
    h.stop().await;
}

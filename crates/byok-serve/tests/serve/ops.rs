//! Operating the server: per-token rate limits, request ids and their log
//! lines, and `/metrics`.

use std::time::Duration;

use byok::keys::{KeyKind, Provider};
use byok_serve::{Options, Quota, RateLimits, TokenScope};
use serde_json::{Value, json};

use crate::common::{Backend, Harness, key, logs, no_credits_key};
use crate::proxy::{auth_header, cases, post};

/// A Groq key (56 characters: short enough to pass as a request id but for its shape).
fn groq_key() -> String {
    byok::keys::fake::key(Provider::Groq, KeyKind::Standard, 3)
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

#[tokio::test]
async fn rate_limits_refuse_key_tests_and_format_checks_per_token_and_do_nothing() {
    // Key tests: 2 at once, then one a second; format checks: 3 at once.
    let limits = RateLimits::off()
        .key_tests(Some(Quota::new(60, 2)))
        .format_checks(Some(Quota::new(60, 3)));
    let h = Harness::start_with_options(
        Backend::Sqlite,
        None,
        "memory:",
        &[],
        Options::default().rate_limits(limits),
    )
    .await;
    let ws = h.workspace("limits").await;
    let manager = h.token(TokenScope::Workspace, Some(&ws)).await;
    let keys = format!("/v1/workspaces/{ws}/keys");

    // The format check: three fit, the fourth is refused with a wait.
    let check = json!({"key": key(Provider::OpenAi, KeyKind::Project, 0)});
    for _ in 0..3 {
        let (status, b) = h
            .call(
                "POST",
                "/v1/format-check",
                Some(&h.admin),
                Some(check.clone()),
            )
            .await;
        assert_eq!(status, 200, "{b}");
    }
    let (status, headers, b) = h
        .call_full(
            "POST",
            "/v1/format-check",
            Some(&h.admin),
            Some(check.clone()),
        )
        .await;
    assert_eq!(status, 429, "{b}");
    assert_eq!(b["error"]["code"], "rate_limited");
    assert_eq!(headers["retry-after"], "1");
    assert!(
        b["error"]["hint"].as_str().unwrap().contains("wait 1 s"),
        "{b}"
    );
    // Another token has its own allowance.
    let (status, _) = h
        .call(
            "POST",
            "/v1/format-check",
            Some(&manager),
            Some(check.clone()),
        )
        .await;
    assert_eq!(status, 200);

    // Add, Test and rotate share one allowance: add, Test, then a refused rotate.
    let add = json!({"key": key(Provider::OpenAi, KeyKind::Project, 0), "label": "main"});
    let (status, b) = h.call("POST", &keys, Some(&h.admin), Some(add)).await;
    assert_eq!(status, 201, "{b}");
    let id = b["key"]["id"].as_str().unwrap().to_owned();
    let (status, b) = h
        .call("POST", &format!("{keys}/{id}/test"), Some(&h.admin), None)
        .await;
    assert_eq!(status, 200, "{b}");
    // As it stands after the Test (which records its verdict on the key).
    let (_, before) = h
        .call("GET", &format!("{keys}/{id}"), Some(&h.admin), None)
        .await;
    let rotate = json!({"key": key(Provider::OpenAi, KeyKind::Project, 1)});
    let (status, headers, b) = h
        .call_full(
            "POST",
            &format!("{keys}/{id}/rotate"),
            Some(&h.admin),
            Some(rotate.clone()),
        )
        .await;
    assert_eq!(status, 429, "{b}");
    assert_eq!(b["error"]["code"], "rate_limited");
    assert_eq!(headers["retry-after"], "1");
    // The refused rotation did nothing, and a refused add stores nothing.
    let (_, shown) = h
        .call("GET", &format!("{keys}/{id}"), Some(&h.admin), None)
        .await;
    assert_eq!(shown["masked"], before["masked"]);
    assert_eq!(shown["version"], before["version"]);
    let other = json!({"key": key(Provider::OpenAi, KeyKind::Project, 2), "label": "b"});
    let (status, _) = h.call("POST", &keys, Some(&h.admin), Some(other)).await;
    assert_eq!(status, 429);
    let (_, list) = h.call("GET", &keys, Some(&h.admin), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // After the wait it says, one more fits.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, b) = h
        .call(
            "POST",
            &format!("{keys}/{id}/rotate"),
            Some(&h.admin),
            Some(rotate),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_ne!(b["masked"], before["masked"]);

    // Reads are never limited.
    for _ in 0..20 {
        let (status, _) = h.call("GET", &keys, Some(&h.admin), None).await;
        assert_eq!(status, 200);
    }
    let (_, _, metrics) = scrape(&h).await;
    assert!(
        metrics.contains("byok_rate_limited_total{kind=\"format_check\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("byok_rate_limited_total{kind=\"key_test\"} 2\n"),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_when_safe_made_otherwise_and_logged_with_the_token() {
    let h = Harness::start().await;
    let id_of = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers[name].to_str().unwrap().to_owned()
    };
    // A safe id comes back as given, in both headers.
    let answer = h
        .client()
        .get(format!("{}/v1/workspaces", h.url))
        .bearer_auth(&h.admin)
        .header("x-request-id", "lb-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(id_of(answer.headers(), "x-request-id"), "lb-7f3a.1");
    assert_eq!(id_of(answer.headers(), "x-byok-request-id"), "lb-7f3a.1");

    // A key (or anything unsafe) as the id is replaced, and never logged.
    let pasted = groq_key();
    for bad in [pasted.as_str(), "a b", &"x".repeat(65)] {
        let answer = h
            .client()
            .get(format!("{}/healthz", h.url))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = id_of(answer.headers(), "x-byok-request-id");
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(id_of(answer.headers(), "x-request-id"), id);
    }
    // Without one, each request gets its own.
    let (_, a, _) = h.call_full("GET", "/healthz", None, None).await;
    let (_, b, _) = h.call_full("GET", "/healthz", None, None).await;
    assert_ne!(
        id_of(&a, "x-byok-request-id"),
        id_of(&b, "x-byok-request-id")
    );

    // The proxy answers with the provider's request id and byok's beside it.
    let ws = h.workspace("reqid").await;
    h.add_untested(
        &ws,
        Provider::OpenAi,
        &key(Provider::OpenAi, KeyKind::Project, 0),
        None,
    )
    .await;
    let app = h.token(TokenScope::App, Some(&ws)).await;
    let case = &cases()[0];
    let url = format!("{}/proxy/openai{}", h.url, case.path);
    let headers = vec![
        auth_header(Provider::OpenAi, &app),
        ("x-request-id".to_owned(), "app-call-1".to_owned()),
    ];
    let (status, answer, _) = post(&h, &url, &headers, &case.body).await;
    assert_eq!(status, 200);
    assert_eq!(id_of(&answer, "x-byok-request-id"), "app-call-1");
    let provider_id = id_of(&answer, "x-request-id");
    assert_ne!(provider_id, "app-call-1", "the provider's own request id");

    // Each request's log line: its id, the route template, status and token id.
    let log = log_text();
    let line = log
        .lines()
        .find(|l| l.contains("lb-7f3a.1") && l.contains("answered"))
        .unwrap_or_else(|| panic!("no log line for the request:\n{log}"));
    assert!(line.contains("route=/v1/workspaces"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    let admin_id = &h.admin.split('_').nth(2).unwrap();
    assert!(
        line.contains(&format!("token=\"{admin_id}\""))
            || line.contains(&format!("token={admin_id}")),
        "{line}"
    );
    let proxied = log
        .lines()
        .find(|l| l.contains("app-call-1") && l.contains("answered"))
        .unwrap_or_else(|| panic!("no log line for the proxied call:\n{log}"));
    assert!(
        proxied.contains("route=/proxy/{provider}/{*rest}"),
        "the route template, not the path: {proxied}"
    );
    assert!(
        log.lines().any(|l| l.contains("app-call-1")
            && l.contains("proxied")
            && l.contains("fallbacks=0"))
    );
    assert!(
        !log.contains(&pasted),
        "a key sent as the request id was logged"
    );
    assert!(!log.contains(h.admin.as_str()) && !log.contains(app.as_str()));
    h.stop().await;
}

/// `GET /metrics` as the admin: status, content type, body.
async fn scrape(h: &Harness) -> (u16, String, String) {
    let answer = h
        .client()
        .get(format!("{}/metrics", h.url))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, answer.text().await.unwrap())
}

/// Every sample line of the text format is `name{labels} value` with a number.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{line}"
        );
        out.push((series.to_owned(), v));
    }
    out
}

fn sample(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[tokio::test]
async fn metrics_count_requests_verdicts_calls_and_fallbacks_and_show_budgets() {
    let h = Harness::start().await;
    let ws = h.workspace("metrics").await;
    let manager = h.token(TokenScope::Workspace, Some(&ws)).await;
    // Admin only: it shows every workspace's spend.
    let (status, _) = h.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 401);
    let (status, b) = h.call("GET", "/metrics", Some(&manager), None).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    let keys = format!("/v1/workspaces/{ws}/keys");
    // A no-credits primary (saved with a warning) and a valid backup, both Tested.
    let primary = no_credits_key(Provider::OpenAi);
    let (status, b) = h
        .call(
            "POST",
            &keys,
            Some(&h.admin),
            Some(json!({"key": primary, "label": "p"})),
        )
        .await;
    assert_eq!(status, 201, "{b}");
    let backup = json!({"key": key(Provider::OpenAi, KeyKind::Project, 1), "label": "b",
                        "role": "backup", "order": 1});
    let (status, b) = h.call("POST", &keys, Some(&h.admin), Some(backup)).await;
    assert_eq!(status, 201, "{b}");
    // A proxied call in another workspace, whose primary was never Tested:
    // it is refused for no credits and the backup answers.
    let calls = h.workspace("metrics-call").await;
    h.add_untested(&calls, Provider::OpenAi, &primary, None)
        .await;
    h.add_untested(
        &calls,
        Provider::OpenAi,
        &key(Provider::OpenAi, KeyKind::Project, 2),
        Some(1),
    )
    .await;
    let (status, _) = h
        .call(
            "PUT",
            &format!("/v1/workspaces/{calls}/budget"),
            Some(&h.admin),
            Some(json!({"limit_usd": "10", "period": "month"})),
        )
        .await;
    assert_eq!(status, 200);
    let app = h.token(TokenScope::App, Some(&calls)).await;
    let case = &cases()[0];
    let url = format!("{}/proxy/openai{}", h.url, case.path);
    let (status, answer, _) =
        post(&h, &url, &[auth_header(Provider::OpenAi, &app)], &case.body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["x-byok-fallbacks"], "1");
    // And one byok refuses itself (a route the proxy does not serve).
    let bad = format!("{}/proxy/openai/v1/embeddings", h.url);
    let (status, _, _) = post(&h, &bad, &[auth_header(Provider::OpenAi, &app)], &json!({})).await;
    assert_eq!(status, 404);

    let (status, kind, text) = scrape(&h).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    let s = samples(&text);
    let get = |series: &str| sample(&s, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        get("byok_key_tests_total{provider=\"openai\",verdict=\"no_credits\"}"),
        1.0
    );
    assert_eq!(
        get("byok_key_tests_total{provider=\"openai\",verdict=\"valid\"}"),
        1.0
    );
    assert_eq!(
        get("byok_fallbacks_total{provider=\"openai\",verdict=\"no_credits\"}"),
        1.0
    );
    assert_eq!(
        get("byok_proxy_calls_total{provider=\"openai\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        get("byok_proxy_calls_total{provider=\"openai\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        get("byok_proxy_refusals_total{provider=\"openai\",code=\"not_found\"}"),
        1.0
    );
    assert_eq!(
        get(
            "byok_http_requests_total{method=\"POST\",route=\"/v1/workspaces/{workspace}/keys\",status=\"201\"}"
        ),
        2.0
    );
    assert_eq!(
        get("byok_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"}"),
        1.0
    );
    assert!(
        get("byok_http_request_duration_seconds_count{route=\"/proxy/{provider}/{*rest}\"}") >= 2.0
    );

    // The budget, read from the ledger: what the call cost, by label.
    let (_, budget) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{calls}/budget"),
            Some(&h.admin),
            None,
        )
        .await;
    let scope = format!("scope=\"workspace:{calls}\",period=\"month\"");
    let usd = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(get(&format!("byok_budget_limit_usd{{{scope}}}")), 10.0);
    let spent = get(&format!(
        "byok_budget_spent_usd{{{scope},label=\"estimated\"}}"
    ));
    assert!(spent > 0.0);
    assert_eq!(spent, usd(&budget["spent_by_label"]["estimated"]));
    assert_eq!(
        get(&format!("byok_budget_remaining_usd{{{scope}}}")),
        usd(&budget["remaining"])
    );
    assert_eq!(get(&format!("byok_budget_held_usd{{{scope}}}")), 0.0);

    // No key, token or path with ids in it: label values are codes and templates.
    for secret in [
        primary.as_str(),
        &key(Provider::OpenAi, KeyKind::Project, 1),
        &key(Provider::OpenAi, KeyKind::Project, 2),
        &h.admin,
        &app,
        &manager,
    ] {
        assert!(!text.contains(secret));
    }
    assert!(
        !text.contains("/keys/0"),
        "a path, not a template, in the metrics"
    );
    h.stop().await;
}

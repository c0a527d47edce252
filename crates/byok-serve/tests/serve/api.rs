//! The API end to end: a key's whole life, budgets, audit, tokens, limits.

use byok::keys::{KeyKind, Provider};
use byok_serve::TokenScope;
use serde_json::json;

use crate::common::{Backend, Harness, invalid_openai_key, key, postgres_url};

/// A key's life through the API, on `h`.
async fn key_life(h: &Harness) {
    let ws = h.workspace("life").await;
    let admin = Some(h.admin.as_str());
    let keys = format!("/v1/workspaces/{ws}/keys");
    let primary = key(Provider::OpenAi, KeyKind::Project, 0);

    // Add: pasted with noise, tested against the mock (valid), saved.
    let (status, added) = h
        .call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": format!("  Bearer {primary}\n"), "label": "production" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["report"]["verdict"], "valid");
    assert_eq!(added["key"]["last_verdict"], "valid");
    assert!(added["warning"].is_null());
    let id = added["key"]["id"].as_str().unwrap().to_owned();
    assert!(
        added["key"]["masked"]
            .as_str()
            .unwrap()
            .starts_with("sk-proj-…")
    );

    // The same key again: duplicate.
    let (status, err) = h
        .call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": primary, "label": "again" })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("duplicate"))
    );

    // A key the provider refuses is not saved: key_rejected with the report.
    let (status, err) = h
        .call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": invalid_openai_key(), "label": "bad" })),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "key_rejected");
    assert_eq!(err["error"]["report"]["verdict"], "invalid");
    assert!(err["error"]["hint"].is_string());

    // The paste-box checks: a truncated key, a wrong provider.
    let (status, err) = h
        .call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": &primary[..primary.len() - 9], "label": "cut" })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("truncated")),
        "{err}"
    );
    let (status, err) = h
        .call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": primary, "label": "x", "provider": "anthropic" })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("wrong_provider"))
    );

    // A backup, then list (primary first) and show.
    let backup = key(Provider::OpenAi, KeyKind::Project, 1);
    let (status, b) = h
        .call("POST", &keys, admin, Some(json!({ "key": backup, "label": "fallback", "role": "backup", "order": 2, "note": "team A" })))
        .await;
    assert_eq!(status, 201, "{b}");
    let backup_id = b["key"]["id"].as_str().unwrap().to_owned();
    let (status, list) = h.call("GET", &keys, admin, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), backup_id.as_str()]);
    let (status, shown) = h.call("GET", &format!("{keys}/{id}"), admin, None).await;
    assert_eq!(
        (status, shown["version"].as_u64()),
        (200, Some(1)),
        "{shown}"
    );

    // Edit from the version seen; a stale version is a conflict.
    let (status, edited) = h
        .call(
            "PATCH",
            &format!("{keys}/{id}"),
            admin,
            Some(json!({ "version": 1, "label": "prod", "default_model": "gpt-4o-mini" })),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["label"].as_str(), edited["version"].as_u64()),
        (Some("prod"), Some(2))
    );
    assert_eq!(edited["default_model"], "gpt-4o-mini");
    let (status, err) = h
        .call(
            "PATCH",
            &format!("{keys}/{id}"),
            admin,
            Some(json!({ "version": 1, "label": "late" })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, cleared) = h
        .call(
            "PATCH",
            &format!("{keys}/{id}"),
            admin,
            Some(json!({ "version": 2, "default_model": null })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(cleared["default_model"].is_null());

    // Test button, at both depths.
    let (status, report) = h
        .call("POST", &format!("{keys}/{id}/test?depth=auth"), admin, None)
        .await;
    assert_eq!(
        (status, report["verdict"].as_str(), report["depth"].as_str()),
        (200, Some("valid"), Some("auth"))
    );
    let (status, err) = h
        .call("POST", &format!("{keys}/{id}/test?depth=deep"), admin, None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_input"))
    );

    // Selection preview: the primary; once disabled, the backup with the reason.
    let sel = format!("/v1/workspaces/{ws}/selection?provider=openai");
    let (status, s) = h.call("GET", &sel, admin, None).await;
    assert_eq!(
        (status, s["chosen"]["id"].as_str()),
        (200, Some(id.as_str())),
        "{s}"
    );
    let (status, v) = h
        .call("POST", &format!("{keys}/{id}/disable"), admin, None)
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("disabled")));
    let (_, s) = h.call("GET", &sel, admin, None).await;
    assert_eq!(s["chosen"]["id"].as_str(), Some(backup_id.as_str()));
    assert_eq!(s["skipped"][0]["reason"]["code"], "disabled");
    let (status, err) = h
        .call("POST", &format!("{keys}/{id}/test"), admin, None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("key_inactive")),
        "{err}"
    );
    let (status, v) = h
        .call("POST", &format!("{keys}/{id}/enable"), admin, None)
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("active")));
    let (_, s) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/selection?provider=anthropic"),
            admin,
            None,
        )
        .await;
    assert!(s["chosen"].is_null() && s["skipped"] == json!([]), "{s}");

    // Rotate: same id, new mask; then revoke (rotation refused), delete.
    let newer = key(Provider::OpenAi, KeyKind::Project, 2);
    let (status, r) = h
        .call(
            "POST",
            &format!("{keys}/{id}/rotate"),
            admin,
            Some(json!({ "key": newer })),
        )
        .await;
    assert_eq!((status, r["id"].as_str()), (200, Some(id.as_str())), "{r}");
    assert_ne!(r["fingerprint"], shown["fingerprint"]);
    let (status, v) = h
        .call("POST", &format!("{keys}/{backup_id}/revoke"), admin, None)
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("revoked")));
    let (status, err) = h
        .call("POST", &format!("{keys}/{backup_id}/enable"), admin, None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("key_inactive"))
    );
    let (status, body) = h
        .call("DELETE", &format!("{keys}/{backup_id}"), admin, None)
        .await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let (status, err) = h
        .call("GET", &format!("{keys}/{backup_id}"), admin, None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = h
        .call("GET", &format!("{keys}/not-an-id"), admin, None)
        .await;
    assert_eq!(status, 404);

    // The audit trail names the token that made each change, never a value.
    let admin_id = byok_serve::token::parse(&h.admin).unwrap().id.to_owned();
    let (status, page) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/audit?limit=3"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["action"], "add");
    assert_eq!(events[0]["actor"], format!("token:{admin_id}"));
    let next = page["next"].as_u64().unwrap();
    let (_, rest) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/audit?after={next}&limit=1000"),
            admin,
            None,
        )
        .await;
    let actions: Vec<&str> = rest["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"rotate") && actions.contains(&"delete"),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lives_its_whole_life_over_http() {
    let h = Harness::start().await;
    key_life(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lives_its_whole_life_over_http_on_postgres() {
    let Some(url) = postgres_url("a_key_lives_its_whole_life_over_http_on_postgres") else {
        return;
    };
    let h = Harness::start_on(Backend::Postgres, Some(url)).await;
    key_life(&h).await;
    tokens_and_workspaces(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_set_and_read() {
    let h = Harness::start().await;
    let ws = h.workspace("budget").await;
    let admin = Some(h.admin.as_str());
    let path = format!("/v1/workspaces/{ws}/budget");
    let (status, err) = h.call("GET", &path, admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("budget_not_found"))
    );
    let (status, st) = h
        .call(
            "PUT",
            &path,
            admin,
            Some(json!({ "limit_usd": "25", "period": "month", "alert_percents": [50, 80] })),
        )
        .await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["budget"]["scope"], format!("workspace:{ws}"));
    assert_eq!(
        (st["budget"]["limit"].as_str(), st["remaining"].as_str()),
        (Some("25"), Some("25"))
    );
    let (status, got) = h.call("GET", &path, admin, None).await;
    assert_eq!((status, &got), (200, &st));
    let (status, alerts) = h.call("GET", &format!("{path}/alerts"), admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(alerts["alert_percents"], json!([50, 80]));
    assert_eq!(alerts["alerts_fired"], json!([]));
    for bad in [
        json!({ "limit_usd": "lots" }),
        json!({ "limit_usd": "1", "period": "fortnight" }),
        json!({ "limit_usd": "1", "time_zone": "Mars/Olympus" }),
    ] {
        let (status, err) = h.call("PUT", &path, admin, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} {err}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_has_a_budget_of_its_own() {
    let h = Harness::start().await;
    let admin = Some(h.admin.as_str());
    let add = |ws: String, n: usize| {
        let h = &h;
        async move {
            let (status, added) = h
                .call(
                    "POST",
                    &format!("/v1/workspaces/{ws}/keys"),
                    admin,
                    Some(
                        json!({ "key": key(Provider::OpenAi, KeyKind::Project, n), "label": "k" }),
                    ),
                )
                .await;
            assert_eq!(status, 201, "{added}");
            added["key"]["id"].as_str().unwrap().to_owned()
        }
    };
    let ws = h.workspace("keybudget").await;
    let other = h.workspace("keybudget").await;
    let id = add(ws.clone(), 0).await;
    let theirs = add(other.clone(), 1).await;
    let path = format!("/v1/workspaces/{ws}/budget");
    let mine = format!("{path}?key={id}");

    let (status, err) = h.call("GET", &mine, admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("budget_not_found"))
    );
    assert_eq!(err["error"]["message"], "this key has no budget");
    let (status, st) = h
        .call(
            "PUT",
            &mine,
            admin,
            Some(json!({ "limit_usd": "2", "period": "day", "alert_percents": [90] })),
        )
        .await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["budget"]["scope"], format!("key:{id}"));
    // The workspace's own budget is another one, still unset.
    let (status, _) = h.call("GET", &path, admin, None).await;
    assert_eq!(status, 404);
    // Another workspace's key, or no key id at all, is not found.
    for bad in [
        format!("{path}?key={theirs}"),
        format!("{path}?key=nonsense"),
    ] {
        for method in ["GET", "PUT"] {
            let body = (method == "PUT").then(|| json!({ "limit_usd": "1" }));
            let (status, err) = h.call(method, &bad, admin, body).await;
            assert_eq!(
                (status, err["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{method} {bad}"
            );
        }
    }
    let (status, alerts) = h
        .call("GET", &format!("{path}/alerts?key={id}"), admin, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(alerts["scope"], format!("key:{id}"));
    assert_eq!(alerts["alert_percents"], json!([90]));

    // A call with the key counts against its budget, with its label.
    let body = json!({"model": "gpt-4o-mini", "max_completion_tokens": 64,
        "messages": [{"role": "user", "content": "Say hi"}]});
    let called = h
        .vault
        .call(
            &byok::store::WorkspaceId::new(&ws).unwrap(),
            byok::call::Call::openai_chat(body),
        )
        .await
        .unwrap();
    assert_eq!(called.key.id.to_string(), id);
    let (status, st) = h.call("GET", &mine, admin, None).await;
    assert_eq!(status, 200);
    assert_ne!(st["spent"], "0", "{st}");
    assert!(st["spent_by_label"]["estimated"].is_string(), "{st}");

    // Its daily history: seven calendar days of the budget's time zone, the
    // call in today's, with the same figures as the status.
    let (status, history) = h
        .call(
            "GET",
            &format!("{path}/history?key={id}&days=7"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["scope"], format!("key:{id}"));
    assert_eq!(history["time_zone"], "UTC");
    let days = history["days"].as_array().unwrap();
    assert_eq!(days.len(), 7, "{history}");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    assert_eq!(days[6]["date"], today.to_string(), "{history}");
    assert_eq!(days[6]["calls"], 1, "{history}");
    assert_eq!(
        days[6]["calls_by_label"],
        json!({"estimated": 1}),
        "{history}"
    );
    assert_eq!(days[6]["spent"], st["spent"], "{history}");
    assert_eq!(days[6]["spent_by_label"], st["spent_by_label"], "{history}");
    assert!(
        days[..6].iter().all(|d| d["calls"] == 0
            && d["spent"] == "0"
            && d["spent_by_label"] == json!({})
            && d["calls_by_label"] == json!({})),
        "{history}"
    );
    let (status, month) = h
        .call("GET", &format!("{path}/history?key={id}"), admin, None)
        .await;
    assert_eq!(
        (status, month["days"].as_array().map(Vec::len)),
        (200, Some(30)),
        "thirty days unless told"
    );
    for (query, code) in [
        ("days=0", "invalid_history"),
        ("days=401", "invalid_history"),
        ("days=many", "invalid_input"),
    ] {
        let (status, err) = h
            .call(
                "GET",
                &format!("{path}/history?key={id}&{query}"),
                admin,
                None,
            )
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some(code)),
            "{query}: {err}"
        );
    }
    // The workspace has no budget of its own, so no history either.
    let (status, err) = h.call("GET", &format!("{path}/history"), admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("budget_not_found"))
    );
    h.stop().await;
}

/// A project's budget (`project:<name>`, what `Call::project` names) spans
/// workspaces: only an admin token sets or reads it; a call made for the
/// project counts against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_has_a_budget_across_workspaces() {
    let h = Harness::start().await;
    let admin = Some(h.admin.as_str());
    let ws = h.workspace("projbudget").await;
    let (status, added) = h
        .call(
            "POST",
            &format!("/v1/workspaces/{ws}/keys"),
            admin,
            Some(json!({ "key": key(Provider::OpenAi, KeyKind::Project, 0), "label": "k" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let path = "/v1/projects/checkout/budget";
    let (status, err) = h.call("GET", path, admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("budget_not_found"))
    );
    assert_eq!(err["error"]["message"], "this project has no budget");
    // A workspace's own token may not touch a budget that spans workspaces.
    let mine = h.token(TokenScope::Workspace, Some(&ws)).await;
    for method in ["GET", "PUT"] {
        let body = (method == "PUT").then(|| json!({ "limit_usd": "1" }));
        let (status, err) = h.call(method, path, Some(&mine), body).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{method}"
        );
    }
    let (status, st) = h
        .call(
            "PUT",
            path,
            admin,
            Some(json!({ "limit_usd": "3", "period": "month", "alert_percents": [50, 90] })),
        )
        .await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["budget"]["scope"], "project:checkout");
    let (status, alerts) = h.call("GET", &format!("{path}/alerts"), admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(alerts["alert_percents"], json!([50, 90]));
    // A name with a control character is refused before anything is stored.
    let (status, err) = h
        .call(
            "PUT",
            "/v1/projects/bad%07name/budget",
            admin,
            Some(json!({ "limit_usd": "1" })),
        )
        .await;
    assert_eq!(status, 400, "{err}");

    // A call made for the project counts against its budget, with its label.
    let body = json!({"model": "gpt-4o-mini", "max_completion_tokens": 64,
        "messages": [{"role": "user", "content": "Say hi"}]});
    h.vault
        .call(
            &byok::store::WorkspaceId::new(&ws).unwrap(),
            byok::call::Call::openai_chat(body).project("checkout"),
        )
        .await
        .unwrap();
    let (status, st) = h.call("GET", path, admin, None).await;
    assert_eq!(status, 200);
    assert_ne!(st["spent"], "0", "{st}");
    assert!(st["spent_by_label"]["estimated"].is_string(), "{st}");
    h.stop().await;
}

async fn tokens_and_workspaces(h: &Harness) {
    let admin = Some(h.admin.as_str());
    let ws = h.workspace("tok").await;
    let (status, err) = h
        .call("POST", "/v1/workspaces", admin, Some(json!({ "id": ws })))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("duplicate"))
    );

    let (status, made) = h
        .call(
            "POST",
            "/v1/tokens",
            admin,
            Some(json!({ "scope": "workspace", "workspace": ws, "name": "ui" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let wsm = made["token"].as_str().unwrap().to_owned();
    assert!(wsm.starts_with("byok_wsm_"));
    let id = made["view"]["id"].as_str().unwrap().to_owned();
    assert_eq!(byok_serve::find_tokens(&format!("x {wsm} y")).len(), 1);

    // A workspace token sees its own workspace only.
    let (status, list) = h.call("GET", "/v1/workspaces", Some(&wsm), None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], ws.as_str());

    // Lists never show a value or hash.
    let (status, tokens) = h.call("GET", "/v1/tokens", admin, None).await;
    assert_eq!(status, 200);
    let text = tokens.to_string();
    assert!(!text.contains(&wsm[30..]) && !text.contains(&h.admin[30..]));
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str())
    );

    for bad in [
        json!({ "scope": "admin", "workspace": ws, "name": "x" }),
        json!({ "scope": "app", "name": "x" }),
    ] {
        let (status, _) = h.call("POST", "/v1/tokens", admin, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, err) = h
        .call(
            "POST",
            "/v1/tokens",
            admin,
            Some(json!({ "scope": "root", "name": "x" })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("invalid_body"))
    );
    let (status, _) = h
        .call(
            "POST",
            "/v1/tokens",
            admin,
            Some(json!({ "scope": "app", "workspace": "nowhere-at-all", "name": "x" })),
        )
        .await;
    assert_eq!(status, 404);

    // Revoked: refused at once.
    let (status, v) = h
        .call("DELETE", &format!("/v1/tokens/{id}"), admin, None)
        .await;
    assert_eq!(status, 200);
    assert!(v["revoked_at"].is_string());
    let (status, err) = h.call("GET", "/v1/workspaces", Some(&wsm), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = h.call("DELETE", "/v1/tokens/0000", admin, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_made_listed_and_revoked() {
    let h = Harness::start().await;
    tokens_and_workspaces(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_check_health_limits_and_headers() {
    let h = Harness::start().await;
    let admin = Some(h.admin.as_str());
    let k = key(Provider::Anthropic, KeyKind::Api, 0);
    let (status, ok) = h
        .call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "key": format!("\"{k}\"") })),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(
        (ok["ok"].as_bool(), ok["provider"].as_str()),
        (Some(true), Some("anthropic"))
    );
    assert_eq!(ok["fixes"], json!(["stripped_quotes"]));
    let (_, bad) = h
        .call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "key": &k[..40] })),
        )
        .await;
    assert_eq!(bad["ok"], false);
    assert!(bad["error"]["code"].is_string());

    let (status, headers, body) = h.call_full("GET", "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, ready) = h.call("GET", "/readyz", None, None).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ok")));

    // Bodies over the limit, and bodies that are not the DTO, in the error shape.
    let big = "x".repeat(100 * 1024);
    let (status, err) = h
        .call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "key": big })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, err) = h
        .call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "nope": 1 })),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("invalid_body")),
        "{err}"
    );
    let (status, err) = h.call("GET", "/v1/nothing-here", admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, err) = h.call("PUT", "/v1/format-check", admin, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let _ = TokenScope::App;
    h.stop().await;
}

//! The authorisation table: every route × every kind of caller × another
//! workspace's ids. No `/v1` route answers without a valid token; app tokens
//! reach none; a workspace token reaches its workspace only (another's is
//! `not_found`, as is another workspace's key under one's own path); admin-only
//! routes refuse workspace tokens; a revoked token is refused at once. The
//! proxy's routes: app tokens only, each on its own workspace's keys.

use byok::keys::{KeyKind, Provider, fake};
use byok_serve::TokenScope;
use serde_json::{Value, json};

use crate::common::Harness;

/// A route of the table: method, path (`{ws}`, `{id}`, `{token}` filled in per
/// case), whether only admins may call it, and the status a permitted call gets.
pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub admin_only: bool,
    pub ok: u16,
}

const fn r(method: &'static str, path: &'static str, admin_only: bool, ok: u16) -> Route {
    Route {
        method,
        path,
        admin_only,
        ok,
    }
}

/// Every authenticated route (`/healthz`, `/readyz`, `/openapi.json` are public).
/// `/metrics` answers text, which [`Harness::call`] gives as a JSON string.
pub(crate) const ROUTES: &[Route] = &[
    r("GET", "/v1/workspaces", false, 200),
    r("POST", "/v1/workspaces", true, 201),
    r("GET", "/v1/tokens", true, 200),
    r("POST", "/v1/tokens", true, 201),
    r("DELETE", "/v1/tokens/{token}", true, 200),
    r("POST", "/v1/format-check", false, 200),
    r("GET", "/v1/workspaces/{ws}/keys", false, 200),
    r("POST", "/v1/workspaces/{ws}/keys", false, 201),
    r("GET", "/v1/workspaces/{ws}/keys/{id}", false, 200),
    r("PATCH", "/v1/workspaces/{ws}/keys/{id}", false, 200),
    r("DELETE", "/v1/workspaces/{ws}/keys/{id}", false, 204),
    r("POST", "/v1/workspaces/{ws}/keys/{id}/test", false, 200),
    r("POST", "/v1/workspaces/{ws}/keys/{id}/rotate", false, 200),
    r("POST", "/v1/workspaces/{ws}/keys/{id}/disable", false, 200),
    r("POST", "/v1/workspaces/{ws}/keys/{id}/enable", false, 200),
    r("POST", "/v1/workspaces/{ws}/keys/{id}/revoke", false, 200),
    r(
        "GET",
        "/v1/workspaces/{ws}/selection?provider=openai",
        false,
        200,
    ),
    r("PUT", "/v1/workspaces/{ws}/budget", false, 200),
    r("GET", "/v1/workspaces/{ws}/budget", false, 200),
    r("GET", "/v1/workspaces/{ws}/budget/alerts", false, 200),
    r(
        "GET",
        "/v1/workspaces/{ws}/budget/history?days=7",
        false,
        200,
    ),
    r("GET", "/v1/workspaces/{ws}/audit", false, 200),
    r("PUT", "/v1/projects/{project}/budget", true, 200),
    r("GET", "/v1/projects/{project}/budget", true, 200),
    r("GET", "/v1/projects/{project}/budget/alerts", true, 200),
    r("GET", "/v1/projects/{project}/budget/history", true, 200),
    r("GET", "/metrics", true, 200),
];

/// The project whose budget every case sets (a project spans workspaces).
const PROJECT: &str = "authz";

/// Two workspaces, a key in each, a budget on the first and on [`PROJECT`], tokens.
pub(crate) struct Case {
    pub ws: String,
    pub other_ws: String,
    pub key_id: String,
    pub other_key_id: String,
    pub target_token: String,
    pub seed: u64,
}

/// Distinct OpenAI project keys, not canaries (the canary test owns those).
fn openai_key(seed: u64) -> String {
    fake::key(Provider::OpenAi, KeyKind::Project, 0xA0_0000 + seed)
}

pub(crate) async fn case(h: &Harness, seed: u64) -> Case {
    let admin = Some(h.admin.as_str());
    let ws = h.workspace("a").await;
    let other_ws = h.workspace("b").await;
    let mut ids = Vec::new();
    for w in [&ws, &other_ws] {
        let (status, added) = h
            .call(
                "POST",
                &format!("/v1/workspaces/{w}/keys"),
                admin,
                Some(json!({ "key": openai_key(seed * 10), "label": "k" })),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        ids.push(added["key"]["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = h
        .call(
            "PUT",
            &format!("/v1/workspaces/{ws}/budget"),
            admin,
            Some(json!({ "limit_usd": "5" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .call(
            "PUT",
            &format!("/v1/projects/{PROJECT}/budget"),
            admin,
            Some(json!({ "limit_usd": "5" })),
        )
        .await;
    assert_eq!(status, 200);
    let target = h.token(TokenScope::App, Some(&ws)).await;
    Case {
        ws,
        other_ws,
        key_id: ids[0].clone(),
        other_key_id: ids[1].clone(),
        target_token: byok_serve::token::parse(&target).unwrap().id.to_owned(),
        seed,
    }
}

pub(crate) fn fill(path: &str, ws: &str, id: &str, token: &str) -> String {
    path.replace("{ws}", ws)
        .replace("{id}", id)
        .replace("{token}", token)
        .replace("{project}", PROJECT)
}

/// A body the route takes, fresh for the case.
pub(crate) fn body(route: &Route, case: &Case) -> Option<Value> {
    let p = route.path;
    match route.method {
        "POST" if p == "/v1/workspaces" => {
            Some(json!({ "id": format!("new-{}-{}", case.ws, case.seed) }))
        }
        "POST" if p == "/v1/tokens" => {
            Some(json!({ "scope": "workspace", "workspace": case.ws, "name": "t" }))
        }
        "POST" if p == "/v1/format-check" => Some(json!({ "key": openai_key(1) })),
        "POST" if p.ends_with("/keys") => {
            Some(json!({ "key": openai_key(case.seed * 10 + 1), "label": "new" }))
        }
        "POST" if p.ends_with("/rotate") => Some(json!({ "key": openai_key(case.seed * 10 + 2) })),
        "PATCH" => Some(json!({ "version": 1, "label": "edited" })),
        "PUT" => Some(json!({ "limit_usd": "7" })),
        _ => None,
    }
}

/// A token of `scope`, revoked through the API.
async fn revoked(h: &Harness, scope: TokenScope, workspace: Option<&str>) -> String {
    let t = h.token(scope, workspace).await;
    let id = byok_serve::token::parse(&t).unwrap().id.to_owned();
    let (status, _) = h
        .call("DELETE", &format!("/v1/tokens/{id}"), Some(&h.admin), None)
        .await;
    assert_eq!(status, 200);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_caller() {
    let h = Harness::start().await;
    let mut seed = 1;
    let mut checked = 0;
    for route in ROUTES {
        for caller in [
            "none",
            "garbage",
            "revoked",
            "app",
            "admin",
            "workspace",
            "workspace_other_ws",
            "admin_other_key",
            "workspace_other_key",
        ] {
            let c = case(&h, seed).await;
            seed += 1;
            let token = match caller {
                "none" => None,
                "garbage" => Some(format!("byok_adm_{}_{}", "0".repeat(32), "f".repeat(64))),
                "revoked" => Some(revoked(&h, TokenScope::Admin, None).await),
                "app" => Some(h.token(TokenScope::App, Some(&c.ws)).await),
                "admin" | "admin_other_key" => Some(h.admin.clone()),
                _ => Some(h.token(TokenScope::Workspace, Some(&c.ws)).await),
            };
            let ws_route = route.path.contains("{ws}");
            let key_route = route.path.contains("{id}");
            let (ws, id) = match caller {
                "workspace_other_ws" => (&c.other_ws, &c.other_key_id),
                "admin_other_key" | "workspace_other_key" => (&c.ws, &c.other_key_id),
                _ => (&c.ws, &c.key_id),
            };
            if (caller == "workspace_other_ws" && !ws_route)
                || (caller.ends_with("other_key") && !key_route)
            {
                continue;
            }
            let path = fill(route.path, ws, id, &c.target_token);
            let (status, answer) = h
                .call(route.method, &path, token.as_deref(), body(route, &c))
                .await;
            let expected = match caller {
                "none" | "garbage" | "revoked" => 401,
                "app" => 403,
                "workspace" if route.admin_only => 403,
                "workspace_other_ws" | "admin_other_key" | "workspace_other_key" => 404,
                _ => route.ok,
            };
            assert_eq!(
                status, expected,
                "{} {} as {caller}: {answer}",
                route.method, route.path
            );
            if expected >= 400 {
                let code = answer["error"]["code"].as_str().unwrap_or_default();
                let want = match expected {
                    401 => "unauthorized",
                    403 => "forbidden",
                    _ => "not_found",
                };
                assert_eq!(code, want, "{} {} as {caller}", route.method, route.path);
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
    h.stop().await;
}

/// The proxy's routes by every kind of caller. The proxy has no workspace in
/// its path: an app token's own workspace is the one whose keys and budget a
/// call uses, so an app token of another workspace reaches that workspace's
/// keys only (its provider request carries its own key, never this one's). No
/// token, a forged or revoked one: `401`; a management token: `403`; each in
/// the provider's own shape with byok's code in `x-byok-error-code`, and
/// nothing sent to a provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proxy_route_by_every_caller() {
    use crate::common::{key, kind_of};
    use crate::proxy::{auth_header, cases, mock, post, streamed};

    let h = Harness::start().await;
    let mine = h.workspace("proxy-a").await;
    let theirs = h.workspace("proxy-b").await;
    for (ws, n) in [(&mine, 0), (&theirs, 1)] {
        for p in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
            h.add_untested(ws, p, &key(p, kind_of(p), n), None).await;
        }
    }
    let app_mine = h.token(TokenScope::App, Some(&mine)).await;
    let app_theirs = h.token(TokenScope::App, Some(&theirs)).await;
    let manager = h.token(TokenScope::Workspace, Some(&mine)).await;
    let revoked = revoked(&h, TokenScope::App, Some(&mine)).await;
    let forged = format!("byok_app_{}_{}", "0".repeat(32), "1".repeat(64));

    let mut checked = 0;
    for case in cases() {
        let paths = [(case.path.clone(), case.body.clone()), streamed(&case)];
        let provider_code = case.provider.as_str();
        for (path, body) in paths {
            let url = format!("{}/proxy/{provider_code}{path}", h.url);
            for (caller, token, want) in [
                ("none", None, (401, "unauthorized")),
                ("forged", Some(forged.as_str()), (401, "unauthorized")),
                ("revoked", Some(revoked.as_str()), (401, "unauthorized")),
                ("admin", Some(h.admin.as_str()), (403, "forbidden")),
                ("workspace", Some(manager.as_str()), (403, "forbidden")),
                ("app", Some(app_mine.as_str()), (200, "")),
                ("other app", Some(app_theirs.as_str()), (200, "")),
            ] {
                let m = mock(&h, case.provider);
                m.clear_requests();
                let headers: Vec<(String, String)> = token
                    .map(|t| auth_header(case.provider, t))
                    .into_iter()
                    .collect();
                let (status, answer_headers, answer) = post(&h, &url, &headers, &body).await;
                let what = format!("{} {path} as {caller}", case.name);
                assert_eq!(
                    status,
                    want.0,
                    "{what}: {}",
                    String::from_utf8_lossy(&answer)
                );
                let sent = m.requests().await;
                if want.0 >= 400 {
                    assert_eq!(answer_headers["x-byok-error-code"], want.1, "{what}");
                    assert_eq!(answer_headers["x-should-retry"], "false", "{what}");
                    assert!(sent.is_empty(), "{what}: nothing may reach the provider");
                } else {
                    let n = if caller == "app" { 0 } else { 1 };
                    let own = key(case.provider, kind_of(case.provider), n);
                    let other = key(case.provider, kind_of(case.provider), 1 - n);
                    assert_eq!(sent.len(), 1, "{what}");
                    let headers = format!("{:?}", sent[0].headers);
                    assert!(
                        headers.contains(&own),
                        "{what}: sent with its own workspace's key"
                    );
                    assert!(
                        !headers.contains(&other),
                        "{what}: never another workspace's key"
                    );
                    assert!(
                        !headers.contains("byok_"),
                        "{what}: the app token is not forwarded"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, cases().len() * 2 * 7);
    h.stop().await;
}

//! The canary suite over every route: no form of a key (nor of the master key,
//! nor of an API token's secret) in any answer, log line or file — on success
//! paths and on errors where a key was put where it does not belong.

use byok::keys::Provider;
use byok_serve::TokenScope;
use byok_testkit::canary::{Canary, Detector, standard};
use serde_json::json;

use crate::common::{Harness, logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_in_any_answer_log_or_file() {
    let h = Harness::start().await;
    let admin = Some(h.admin.as_str());
    let ws = h.workspace("canary").await;
    let keys = format!("/v1/workspaces/{ws}/keys");
    let mut n = 0;
    let all: Vec<(Provider, String)> = standard::keys(0)
        .into_iter()
        .chain(standard::keys(1))
        .filter(|(p, kind, _)| {
            matches!(p, Provider::OpenAi | Provider::Anthropic | Provider::Google)
                && !kind.is_admin()
        })
        .map(|(p, _, k)| (p, k))
        .collect();
    let mut first_id = None;
    for (provider, k) in &all {
        n += 1;
        let (status, added) = h
            .call(
                "POST",
                &keys,
                admin,
                Some(json!({ "key": format!("export KEY=\"{k}\""), "label": format!("k{n}") })),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        let id = added["key"]["id"].as_str().unwrap().to_owned();
        first_id.get_or_insert(id.clone());
        for (m, p) in [
            ("GET", ""),
            ("POST", "/test"),
            ("POST", "/disable"),
            ("POST", "/enable"),
        ] {
            h.call(m, &format!("{keys}/{id}{p}"), admin, None).await;
        }
        h.call("POST", "/v1/format-check", admin, Some(json!({ "key": k })))
            .await;
        h.call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "key": &k[..k.len() - 3] })),
        )
        .await;
        h.call(
            "POST",
            "/v1/format-check",
            admin,
            Some(json!({ "key": k, "provider": "mistral" })),
        )
        .await;
        // Keys where they do not belong: label, note, workspace, provider, token.
        h.call("POST", &keys, admin, Some(json!({ "key": k, "label": k })))
            .await;
        h.call(
            "PATCH",
            &format!("{keys}/{id}"),
            admin,
            Some(json!({ "version": 1, "note": format!("mine: {k}") })),
        )
        .await;
        h.call("GET", &format!("/v1/workspaces/{k}/keys"), admin, None)
            .await;
        h.call(
            "GET",
            &format!("/v1/workspaces/{ws}/selection?provider={k}"),
            admin,
            None,
        )
        .await;
        h.call("POST", "/v1/workspaces", admin, Some(json!({ "id": k })))
            .await;
        h.call("GET", &keys, Some(k), None).await;
        h.call(
            "POST",
            &keys,
            admin,
            Some(json!({ "key": k, "label": "dup" })),
        )
        .await;
        let _ = provider;
    }
    let id = first_id.unwrap();
    let next = &all[1].1;
    h.call(
        "POST",
        &format!("{keys}/{id}/rotate"),
        admin,
        Some(json!({ "key": next })),
    )
    .await;
    h.call(
        "POST",
        &format!("{keys}/{id}/rotate"),
        admin,
        Some(json!({ "key": standard::key(Provider::OpenAi, byok::keys::KeyKind::Project, 5) })),
    )
    .await;
    h.call("GET", &keys, admin, None).await;
    h.call("GET", &format!("/v1/workspaces/{ws}/audit"), admin, None)
        .await;
    h.call(
        "GET",
        &format!("/v1/workspaces/{ws}/selection?provider=openai"),
        admin,
        None,
    )
    .await;
    let wsm = h.token(TokenScope::Workspace, Some(&ws)).await;
    h.call("GET", &keys, Some(&wsm), None).await;

    for (i, answer) in h.answers().iter().enumerate() {
        standard::assert_clean(&format!("answer #{i}"), answer.as_bytes());
    }
    // The tokens' secrets (their ids are public) are in no log line or file.
    let secret = |t: &str| t[t.len() - 64..].to_owned();
    let tokens = Detector::new([
        Canary::secret("admin token", &secret(&h.admin)),
        Canary::secret("workspace token", &secret(&wsm)),
    ]);
    let logged = logs().lock().unwrap().clone();
    if let Some(leak) = standard::find_leak(&logged) {
        let start = logged[..leak.at()]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = String::from_utf8_lossy(&logged[start..leak.at()]);
        panic!(
            "leak in the log after: {}",
            line.chars().take(200).collect::<String>()
        );
    }
    assert!(!logged.is_empty(), "the server logs requests");
    standard::assert_clean("the log", &logged);
    tokens.assert_clean("the log", &logged);
    let mut files = 0;
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        standard::assert_clean(&path.display().to_string(), &bytes);
        tokens.assert_clean(&path.display().to_string(), &bytes);
        files += 1;
    }
    assert!(files >= 1);
    h.stop().await;
}

/// The proxy: every API streamed and not, through a fallback, byok's
/// refusals, provider keys sent where byok tokens belong (header, query,
/// prompt), and a provider that echoes the key in its answer's body and
/// headers: no form of a key, nor the app token, in any answer, log line or file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_or_token_in_any_proxy_answer_log_or_file() {
    use crate::common::{kind_of, no_credits_key};
    use crate::proxy::{auth_header, cases, mock, post, streamed};
    use byok_testkit::CannedAnswer;

    let h = Harness::start().await;
    let ws = h.workspace("canary-proxy").await;
    for p in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
        h.add_untested(&ws, p, &no_credits_key(p), None).await;
        h.add_untested(&ws, p, &standard::key(p, kind_of(p), 0), Some(1))
            .await;
    }
    let app = h.token(TokenScope::App, Some(&ws)).await;
    let wsm = h.token(TokenScope::Workspace, Some(&ws)).await;
    let mut answered = 0;
    for case in cases() {
        let p = case.provider;
        let base = format!("{}/proxy/{}", h.url, p.as_str());
        let k = standard::key(p, kind_of(p), 0);
        let (spath, sbody) = streamed(&case);
        let mut prompt = case.body.clone();
        let text = format!("my key is {k}");
        match p {
            Provider::Google => prompt["contents"][0]["parts"][0]["text"] = json!(text),
            _ if case.path.ends_with("responses") => prompt["input"] = json!(text),
            _ => prompt["messages"][0]["content"] = json!(text),
        }
        for (path, body, token) in [
            (case.path.clone(), case.body.clone(), app.clone()),
            (spath.clone(), sbody.clone(), app.clone()),
            (case.path.clone(), prompt, app.clone()),
            // A provider key where the byok token belongs, or beside it.
            (case.path.clone(), case.body.clone(), k.clone()),
            (
                format!("{}?key={k}", case.path),
                case.body.clone(),
                app.clone(),
            ),
            (case.path.clone(), case.body.clone(), wsm.clone()),
        ] {
            let (status, _, _) = post(
                &h,
                &format!("{base}{path}"),
                &[auth_header(p, &token)],
                &body,
            )
            .await;
            answered += usize::from(status == 200);
        }
        // A provider that echoes the key it was sent, in its body and headers.
        let echo = CannedAnswer::json(
            200,
            &json!({"id": k, "echo": format!("Bearer {k}"),
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                      "input_tokens": 3, "output_tokens": 2}}),
        )
        .header("x-request-id", &k)
        .header("x-ratelimit-remaining-requests", &k);
        mock(&h, p).answer_with(echo);
        post(
            &h,
            &format!("{base}{}", case.path),
            &[auth_header(p, &app)],
            &case.body,
        )
        .await;
        post(
            &h,
            &format!("{base}{spath}"),
            &[auth_header(p, &app)],
            &sbody,
        )
        .await;
        mock(&h, p).clear_answer();
    }
    assert!(answered >= 12, "the proxied calls answered: {answered}");
    // The budget denial's answer too.
    h.call(
        "PUT",
        &format!("/v1/workspaces/{ws}/budget"),
        Some(&h.admin),
        Some(json!({"limit_usd": "0.000001", "period": "total"})),
    )
    .await;
    for case in cases() {
        let url = format!("{}/proxy/{}{}", h.url, case.provider.as_str(), case.path);
        let (status, _, _) = post(&h, &url, &[auth_header(case.provider, &app)], &case.body).await;
        assert_eq!(status, 402);
    }

    let secret = |t: &str| t[t.len() - 64..].to_owned();
    let tokens = Detector::new([
        Canary::secret("app token", &secret(&app)),
        Canary::secret("workspace token", &secret(&wsm)),
    ]);
    for (i, answer) in h.answers().iter().enumerate() {
        standard::assert_clean(&format!("answer #{i}"), answer.as_bytes());
        tokens.assert_clean(&format!("answer #{i}"), answer.as_bytes());
    }
    let logged = logs().lock().unwrap().clone();
    standard::assert_clean("the log", &logged);
    tokens.assert_clean("the log", &logged);
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        standard::assert_clean(&path.display().to_string(), &bytes);
        tokens.assert_clean(&path.display().to_string(), &bytes);
    }
    h.stop().await;
}

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

//! The official Python SDKs (`openai`, `anthropic`, `google-genai`) through the
//! byok proxy to the testkit's mocks: `tests/proxy_sdk/proxy_sdks.py` makes
//! the calls (plain and streamed) and compares them with the same calls made
//! to the mocks directly; this side checks what only the server can see: the
//! ledger settled exactly what the SDKs reported, no hold is left, a denial
//! reached the server once per SDK call (no retries), and the byok token never
//! reached a mock.
//!
//! `BYOK_SDK_PYTHON` names a python with `crates/byok-testkit/sdk-tests/requirements.txt`
//! installed; unset, the test prints a `SKIPPED` line and passes (under
//! `BYOK_REQUIRE_SERVICES=1` it fails instead).

#[allow(dead_code)]
#[path = "serve/common.rs"]
mod common;

use std::io::Write;
use std::path::PathBuf;

use byok::guard::{PriceBook, Usage, Usd};
use byok::keys::Provider;
use byok_serve::TokenScope;
use serde_json::{Value, json};

use common::{Harness, key, kind_of, logs, no_credits_key};

const PROVIDERS: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Google];

/// The python to run, or `None` after a loud skip line (a panic when services are required).
fn python() -> Option<String> {
    match std::env::var("BYOK_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "BYOK_REQUIRE_SERVICES=1 but BYOK_SDK_PYTHON is unset: official_sdks_through_the_proxy"
            )
        }
        _ => {
            // Straight to the process's stderr: libtest captures `eprintln!` of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (set BYOK_SDK_PYTHON to a python with crates/byok-testkit/sdk-tests/requirements.txt): \
                 official_sdks_through_the_proxy"
            );
            None
        }
    }
}

fn provider_of(sdk: &str) -> Provider {
    match sdk {
        "anthropic" => Provider::Anthropic,
        "gemini" => Provider::Google,
        _ => Provider::OpenAi,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_through_the_proxy() {
    let Some(python) = python() else {
        return;
    };
    let h = Harness::start().await;
    let ok = h.workspace("sdk-ok").await;
    let deny = h.workspace("sdk-deny").await;
    let fallback = h.workspace("sdk-fallback").await;
    for p in PROVIDERS {
        let valid = key(p, kind_of(p), 0);
        h.add_untested(&ok, p, &valid, None).await;
        h.add_untested(&deny, p, &valid, None).await;
        h.add_untested(&fallback, p, &no_credits_key(p), None).await;
        h.add_untested(&fallback, p, &key(p, kind_of(p), 1), Some(1))
            .await;
    }
    h.budget(&ok, Some("100")).await;
    h.budget(&deny, Some("0.000001")).await;
    let tokens = json!({
        "ok": h.token(TokenScope::App, Some(&ok)).await,
        "deny": h.token(TokenScope::App, Some(&deny)).await,
        "fallback": h.token(TokenScope::App, Some(&fallback)).await,
    });
    let config = json!({
        "proxy": h.url,
        "tokens": tokens,
        "mocks": {"openai": h.openai.uri(), "anthropic": h.anthropic.uri(), "gemini": h.gemini.uri()},
        "keys": {
            "openai": key(Provider::OpenAi, kind_of(Provider::OpenAi), 0),
            "anthropic": key(Provider::Anthropic, kind_of(Provider::Anthropic), 0),
            "gemini": key(Provider::Google, kind_of(Provider::Google), 0),
        },
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/proxy_sdk/proxy_sdks.py");
    // The proxy runs on this runtime; the SDKs block a thread of their own.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .env("BYOK_PROXY_SDK", config.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot start BYOK_SDK_PYTHON: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDKs through the proxy:\n{stdout}\n{stderr}"
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    eprintln!("{report:#}");

    // Usage settled exactly: the ledger's spend is the cost of what the SDKs reported.
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 8, "4 OpenAI, 2 Anthropic, 2 Gemini calls");
    let mut expected = Usd::ZERO;
    for c in calls {
        let p = provider_of(c["sdk"].as_str().unwrap());
        let usage = Usage {
            input_tokens: c["input"].as_u64().unwrap(),
            output_tokens: c["output"].as_u64().unwrap(),
            ..Usage::default()
        };
        let cost = PriceBook::embedded()
            .cost_for(p, c["model"].as_str().unwrap(), &usage)
            .unwrap();
        expected = expected.checked_add(cost.usd.unwrap()).unwrap();
    }
    assert!(expected > Usd::ZERO);
    assert_eq!(h.budget(&ok, None).await, (expected, Usd::ZERO));

    // Denials: the SDK's error, one request each at the server (the server logged
    // one refusal per SDK call), nothing spent, nothing sent.
    let denied = report["denied"].as_array().unwrap();
    assert_eq!(denied.len(), 6, "{denied:?}");
    for d in denied {
        assert_eq!(d["requests"], 1, "{d}");
    }
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let refusals = logged
        .lines()
        .filter(|l| l.contains("proxy refused") && l.contains("budget_denied"))
        .count();
    assert_eq!(refusals, 6, "the server saw each denied call once");
    assert_eq!(h.budget(&deny, None).await, (Usd::ZERO, Usd::ZERO));

    // Fallback: answered by the backup after the primary's no-credits refusal.
    assert_eq!(report["fallback"].as_array().unwrap().len(), 3);
    // The byok tokens never reached a mock.
    let mut seen = 0;
    for m in [&h.openai, &h.anthropic, &h.gemini] {
        for r in m.requests().await {
            seen += 1;
            let all = format!(
                "{:?} {:?} {}",
                r.headers,
                r.query,
                String::from_utf8_lossy(&r.body)
            );
            assert!(
                !all.contains("byok_"),
                "a byok token reached a mock: {}",
                r.path
            );
        }
    }
    // 8 proxied + 8 direct calls, 3 fallbacks of two attempts each.
    assert_eq!(seen, 8 + 8 + 6);
    h.stop().await;
}

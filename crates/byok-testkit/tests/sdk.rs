//! The official SDKs as judges: runs the Python suite in `sdk-tests/` (the
//! pinned `openai`, `anthropic` and `google-genai` packages) against the mocks.
//!
//! `BYOK_SDK_PYTHON` names a python that has `sdk-tests/requirements.txt`
//! installed (`.ci/run` builds one). Unset, the test prints a `SKIPPED` line and
//! passes; under `BYOK_REQUIRE_SERVICES=1` it fails instead.
//!
//! The mocks run in this process: one per (slot, provider, catalogue scenario),
//! a slot being one kind of SDK call, so scenarios that count requests ("fail
//! once, then fine") start afresh for every call the suite makes. Their URLs go
//! to the suite as a JSON file named by `BYOK_SDK_MOCKS`:
//! `{"list": {"openai": {"valid": "http://127.0.0.1:PORT", ...}, ...}, "call": ...}`,
//! each slot shaped like the `serve` example's output line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use byok_keys::Provider;
use byok_testkit::{MockAnthropic, MockGemini, MockOpenAi, MockProvider, Scenario};

/// The kinds of call the suite makes; `sdk-tests/mocks.py` reads the same names.
const SLOTS: [&str; 5] = ["list", "call", "stream", "responses", "responses_stream"];

/// The label the `serve` example gives a scenario: its name, then its parameters.
fn serve_label(scenario: &Scenario) -> String {
    let params = match scenario {
        Scenario::RateLimited { times, retry_after } => {
            Some(format!("{times}x{}ms", retry_after.as_millis()))
        }
        Scenario::Outage { times, status } => Some(format!("{times}x{status}")),
        Scenario::Slow(delay) => Some(format!("{}ms", delay.as_millis())),
        _ => None,
    };
    match params {
        Some(p) => format!("{}_{p}", scenario.name()),
        None => scenario.name().to_owned(),
    }
}

/// The provider's key in the JSON map: its name, except Google's mocks are "gemini".
fn provider_key(provider: Provider) -> &'static str {
    if provider == Provider::Google {
        "gemini"
    } else {
        provider.as_str()
    }
}

/// The python to run, or `None` after a loud skip line (a panic when services are required).
fn python() -> Option<String> {
    match std::env::var("BYOK_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => panic!(
            "BYOK_REQUIRE_SERVICES=1 but BYOK_SDK_PYTHON is unset: official_sdks_accept_the_mocks \
             (python3 -m venv V && V/bin/pip install -r crates/byok-testkit/sdk-tests/requirements.txt, \
             then BYOK_SDK_PYTHON=V/bin/python)"
        ),
        _ => {
            // Straight to the process's stderr: libtest captures `eprintln!` of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (set BYOK_SDK_PYTHON to a python with crates/byok-testkit/sdk-tests/requirements.txt): \
                 official_sdks_accept_the_mocks"
            );
            None
        }
    }
}

/// The running mocks. Dropped off the runtime's threads: wiremock's `Drop`
/// blocks on a future, and dropping many pooled servers from inside a tokio
/// worker (as unwinding from a failed assert would) deadlocks.
struct Mocks(Vec<MockProvider>);

impl Drop for Mocks {
    fn drop(&mut self) {
        let mocks = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || drop(mocks)).join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_accept_the_mocks() {
    let Some(python) = python() else {
        return;
    };
    let mut mocks = Mocks(Vec::new());
    let mut map: BTreeMap<&str, BTreeMap<&str, BTreeMap<String, String>>> = BTreeMap::new();
    for slot in SLOTS {
        for provider in Provider::ALL {
            for scenario in Scenario::catalogue() {
                if !scenario.supported_by(provider) {
                    continue;
                }
                let builder = match provider {
                    Provider::OpenAi => MockOpenAi::builder(),
                    Provider::Anthropic => MockAnthropic::builder(),
                    _ => MockGemini::builder(),
                };
                let mock = builder.scenario(scenario.clone()).start().await;
                map.entry(slot)
                    .or_default()
                    .entry(provider_key(provider))
                    .or_default()
                    .insert(serve_label(&scenario), mock.uri());
                mocks.0.push(mock);
            }
        }
    }
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk-tests");
    let mocks_file =
        std::env::temp_dir().join(format!("byok-sdk-mocks-{}.json", std::process::id()));
    std::fs::write(
        &mocks_file,
        serde_json::to_string(&map).expect("a map of strings serializes"),
    )
    .expect("write the mock map");

    let started = Instant::now();
    let run = {
        let mocks_file = mocks_file.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(&python)
                .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
                .current_dir(&suite)
                .env("BYOK_SDK_MOCKS", &mocks_file)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .output()
        })
    };
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the SDK suite finishes within 10 minutes")
        .expect("the runner thread does not panic")
        .unwrap_or_else(|e| panic!("cannot start BYOK_SDK_PYTHON: {e}"));
    let _ = std::fs::remove_file(&mocks_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "sdk-tests ({} mocks, {:.1} s):\n{stdout}{stderr}",
        mocks.0.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "the official SDKs disagree with the mocks (see the pytest report above): {}",
        output.status
    );
}

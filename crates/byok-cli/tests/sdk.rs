//! The official SDKs as judges: runs the Python suite in
//! `crates/byok-testkit/sdk-tests/` (the pinned `openai`, `anthropic` and
//! `google-genai` packages) against `byok mock serve`, this crate's binary.
//!
//! `BYOK_SDK_PYTHON` names a python that has `sdk-tests/requirements.txt`
//! installed (`.ci/run` builds one). Unset, the test prints a `SKIPPED` line and
//! passes; under `BYOK_REQUIRE_SERVICES=1` it fails instead.
//!
//! The suite starts `byok mock serve --json` itself (`BYOK_BIN` tells it which
//! binary) and drives it through the control API only: no Rust in the test.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

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

#[test]
fn official_sdks_accept_the_mocks() {
    let Some(python) = python() else {
        return;
    };
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../byok-testkit/sdk-tests");
    let started = Instant::now();
    let output = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&suite)
        .env("BYOK_BIN", env!("CARGO_BIN_EXE_byok"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot start BYOK_SDK_PYTHON: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "sdk-tests ({:.1} s):\n{stdout}{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "the official SDKs disagree with the mocks (see the pytest report above): {}",
        output.status
    );
}

//! `byok mock serve` driven from Node with no Rust in the test:
//! `tests/node/mock_serve.mjs` (Node 18+, built-in `fetch`, no packages).
//!
//! `BYOK_NODE` names the node binary (default: `node` on the PATH). Without a
//! node the test prints a `SKIPPED` line and passes; under
//! `BYOK_REQUIRE_SERVICES=1` it fails instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn mock_serve_works_from_node() {
    let node = std::env::var("BYOK_NODE").unwrap_or_else(|_| "node".to_owned());
    let version = Command::new(&node).arg("--version").output();
    if !version.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("BYOK_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "BYOK_REQUIRE_SERVICES=1 but no node at {node:?} (set BYOK_NODE): mock_serve_works_from_node"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (no node at {node:?}; set BYOK_NODE): mock_serve_works_from_node"
        );
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/mock_serve.mjs");
    let output = Command::new(&node)
        .arg(&script)
        .env("BYOK_BIN", env!("CARGO_BIN_EXE_byok"))
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "node: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

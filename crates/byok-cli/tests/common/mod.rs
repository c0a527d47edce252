//! What every CLI test file shares (`mod common;`): running the `byok` binary,
//! reading its output, and proving no key came out of it.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use byok_testkit::canary::{Canary, Detector};
use serde_json::Value;

/// The variables that point `byok` at a vault, a ledger or a master key. Every
/// command starts without them, so a developer's shell cannot change a test.
pub(crate) const BYOK_VARS: [&str; 6] = [
    "BYOK_MASTER_KEY",
    "BYOK_MASTER_KEY_FILE",
    "BYOK_NEW_MASTER_KEY",
    "BYOK_PREVIOUS_MASTER_KEY",
    "BYOK_VAULT",
    "BYOK_LEDGER",
];

/// `byok` (the binary under test) without any of [`BYOK_VARS`].
pub(crate) fn byok_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_byok"));
    for name in BYOK_VARS {
        cmd.env_remove(name);
    }
    cmd
}

/// `byok args` with `stdin`.
pub(crate) fn byok(args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
    let mut cmd = byok_cmd();
    cmd.args(args);
    run(cmd, stdin)
}

/// `byok args` with `stdin` and the variables `vars` set.
pub(crate) fn byok_with(args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> Output {
    let mut cmd = byok_cmd();
    cmd.args(args).envs(vars.iter().copied());
    run(cmd, stdin)
}

/// Run `cmd` with `stdin`, capturing stdout and stderr.
pub(crate) fn run(mut cmd: Command, stdin: impl AsRef<[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run byok");
    // A usage error exits before reading stdin: a broken pipe here is expected then.
    // Written from a thread: a streaming command (`redact`) writes output before it
    // has read all of its input.
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("byok finishes");
    writer.join().expect("stdin writer");
    out
}

/// stdout then stderr, as text.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every stdout line, each one JSON.
pub(crate) fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The first stdout line, which is JSON.
pub(crate) fn json_line(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text:?} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// All of stdout, which is exactly one JSON value.
pub(crate) fn only_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {text}"))
}

/// The `error.code` of the first JSON line, if there is one.
pub(crate) fn error_code(out: &Output) -> Option<String> {
    json_lines(out)
        .first()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
}

/// The command exited with `code`.
#[track_caller]
pub(crate) fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}

/// The first JSON line is an error with this `error.code`.
#[track_caller]
pub(crate) fn assert_error(out: &Output, error: &str) {
    assert_eq!(error_code(out).as_deref(), Some(error), "{}", text(out));
}

/// The command exited with `code` and the first JSON line is an error with this
/// `error.code`.
#[track_caller]
pub(crate) fn assert_refused(out: &Output, code: i32, error: &str) {
    assert_eq!(
        (out.status.code(), error_code(out).as_deref()),
        (Some(code), Some(error)),
        "{}",
        text(out)
    );
}

/// Neither stdout nor stderr holds any form of any of `keys` (API keys): any
/// 12 characters of their secret part, whole or in hex, base64, UTF-16, escaped.
#[track_caller]
pub(crate) fn assert_no_leak(out: &Output, keys: &[impl AsRef<str>]) {
    let detector: Detector = keys
        .iter()
        .enumerate()
        .map(|(n, key)| Canary::api_key(format!("key #{n}"), key.as_ref()))
        .collect();
    detector.assert_clean("stdout", &out.stdout);
    detector.assert_clean("stderr", &out.stderr);
}

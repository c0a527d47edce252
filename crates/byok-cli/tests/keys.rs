//! Black-box tests of `byok inspect`, `byok scan` and `byok redact`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use byok::keys::{KeyKind, Provider, fake};
use serde_json::Value;

fn byok(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run byok");
    // A usage error exits before reading stdin: a broken pipe here is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// No output stream may hold any 12-character window of the secret part of any of
/// `keys` (after the longest public prefix, before the last four the mask shows).
fn assert_no_secret(out: &Output, keys: &[String]) {
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    let all = String::from_utf8_lossy(&all);
    for k in keys {
        for w in k.as_bytes()[16..k.len() - 4].windows(12) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(!all.contains(w), "output holds key material {w:?}");
        }
    }
}

#[test]
fn inspect_json_reports_each_line() {
    let good = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let split = fake::key(Provider::Anthropic, KeyKind::Api, 2);
    let input = format!(
        "\"Bearer {good}\"\n\n{} {}\nsk-...\n",
        &split[..40],
        &split[40..]
    );
    let out = byok(&["inspect", "--json"], input.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line makes the result negative"
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "blank lines are skipped");

    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["provider"], "openai");
    assert_eq!(lines[0]["kind"], "project");
    assert_eq!(
        lines[0]["masked"],
        format!("sk-proj-…{}", &good[good.len() - 4..])
    );
    assert!(
        lines[0]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        lines[0]["fixes"],
        serde_json::json!(["stripped_quotes", "stripped_bearer"])
    );
    assert_eq!(lines[0]["warnings"], serde_json::json!([]));
    assert!(lines[0]["error"].is_null());

    assert_eq!(lines[1]["line"], 3);
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["error"]["code"], "whitespace");
    assert_eq!(lines[1]["error"]["position"], 40);
    assert!(lines[1]["error"]["hint"].is_string());

    assert_eq!(lines[2]["error"]["code"], "placeholder");
    assert_no_secret(&out, &[good, split]);
}

#[test]
fn inspect_exit_codes_and_provider_filter() {
    let g = fake::key(Provider::Google, KeyKind::Auth, 3);
    let out = byok(&["inspect"], format!("{g}\n").as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok google auth AQ.…"));

    let out = byok(&["inspect", "--json", "--provider", "openai"], g.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let v = &json_lines(&out)[0];
    assert_eq!(v["error"]["code"], "wrong_provider");
    assert!(v["error"]["message"].as_str().unwrap().contains("Google"));

    let out = byok(&["inspect", "--json"], b"\n  \n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "empty");

    let out = byok(&["inspect", "--provider", "mistral"], g.as_bytes());
    assert_eq!(out.status.code(), Some(2), "usage error");
    assert_no_secret(&out, &[g]);
}

#[test]
fn scan_walks_directories_with_lines_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 4);
    let k2 = fake::key(Provider::Google, KeyKind::Standard, 5);
    let k3 = fake::key(Provider::Anthropic, KeyKind::Admin, 6);
    std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("src/deep/config.env"),
        format!("# config\nOPENAI_API_KEY={k1}\n"),
    )
    .unwrap();
    // Two multi-byte characters before the key: column counts characters.
    std::fs::write(
        dir.path().join("src/page.html"),
        format!("<p>\n\n  éé <a href=\"?key={k2}&alt=json\">\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join(".git/config"), format!("{k3}\n")).unwrap();
    let mut binary = vec![0u8, 1, 2, 3];
    binary.extend_from_slice(k3.as_bytes());
    std::fs::write(dir.path().join("blob.bin"), binary).unwrap();
    std::fs::write(dir.path().join("clean.txt"), "task-list disk-usage risk-").unwrap();

    let root = dir.path().to_str().unwrap();
    let out = byok(&["scan", "--json", root], b"");
    assert_eq!(out.status.code(), Some(1), "keys found");
    let found = json_lines(&out);
    assert_eq!(
        found.len(),
        2,
        "binary files and .git are skipped: {found:?}"
    );
    let env = found
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("config.env"))
        .unwrap();
    assert_eq!(
        (env["line"].as_u64(), env["column"].as_u64()),
        (Some(2), Some(16))
    );
    assert_eq!(env["provider"], "openai");
    assert_eq!(env["kind"], "service_account");
    let html = found
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("page.html"))
        .unwrap();
    assert_eq!(
        (html["line"].as_u64(), html["column"].as_u64()),
        (Some(3), Some(20))
    );
    assert_eq!(html["masked"], format!("AIza…{}", &k2[35..]));

    let text = byok(&["scan", root], b"");
    let text_out = String::from_utf8_lossy(&text.stdout);
    assert!(
        text_out.contains("config.env:2:16: openai service_account sk-svcacct-…"),
        "{text_out}"
    );
    assert_no_secret(&out, &[k1.clone(), k2.clone(), k3.clone()]);
    assert_no_secret(&text, &[k1, k2, k3]);
}

#[test]
fn scan_stdin_and_exit_codes() {
    let k = fake::key(Provider::OpenAi, KeyKind::Unscoped, 7);
    let out = byok(&["scan", "--json"], format!("x\n  {k}").as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let f = &json_lines(&out)[0];
    assert_eq!(
        (f["path"].as_str(), f["line"].as_u64(), f["column"].as_u64()),
        (Some("-"), Some(2), Some(3))
    );
    assert_eq!(f["kind"], "unscoped");

    let out = byok(&["scan"], b"nothing to see, just task-runner");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    let out = byok(&["scan", "--json", "/definitely/not/here"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "io_error");
    assert_no_secret(&out, &[k]);
}

#[test]
fn redact_masks_stdin_and_keeps_everything_else() {
    let keys: Vec<String> = fake::all(8).into_iter().map(|(_, _, k)| k).collect();
    let mut input = Vec::new();
    for k in &keys {
        input.extend_from_slice(format!("level=error key=\"{k}\" msg=denied\n").as_bytes());
    }
    input.extend_from_slice(&[0xff, b'\n', b'e', b'n', b'd']);
    let out = byok(&["redact"], &input);
    assert_eq!(out.status.code(), Some(0));
    assert_no_secret(&out, &keys);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), keys.len() + 2);
    assert!(text.contains("level=error key=\"sk-proj-…"));
    assert!(
        out.stdout.ends_with(&[0xff, b'\n', b'e', b'n', b'd']),
        "non-UTF-8 bytes pass through"
    );
}

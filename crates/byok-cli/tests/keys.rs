//! Black-box tests of `byok inspect`, `byok scan` and `byok redact`.

mod common;

use std::io::Write;
use std::process::{Command, Output};

use byok::keys::{KeyKind, Provider, fake};
use common::{assert_no_leak, byok, json_lines, only_json, run, text};
use serde_json::Value;

/// `sh -c script` under an address-space limit of 160,000 KiB, `$1` set to `arg`:
/// the debug binary maps under 100 MB, so that leaves it about 60 MB.
#[cfg(target_os = "linux")]
fn limited(script: &str, arg: &str, stdin: &[u8]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit -v 160000 && {script}"), "sh", arg])
        .env("BYOK", env!("CARGO_BIN_EXE_byok"));
    run(cmd, stdin)
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
    assert_no_leak(&out, &[good, split]);
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

    let out = byok(&["inspect", "--provider", "nonesuch"], g.as_bytes());
    assert_eq!(out.status.code(), Some(2), "usage error");
    assert_no_leak(&out, &[g]);
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
    assert_no_leak(&out, &[k1.clone(), k2.clone(), k3.clone()]);
    assert_no_leak(&text, &[k1, k2, k3]);
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
    assert_no_leak(&out, &[k]);
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
    assert_no_leak(&out, &keys);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), keys.len() + 2);
    assert!(text.contains("level=error key=\"sk-proj-…"));
    assert!(
        out.stdout.ends_with(&[0xff, b'\n', b'e', b'n', b'd']),
        "non-UTF-8 bytes pass through"
    );
}

/// `text` in UTF-16, little or big endian, with or without a byte-order mark.
fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    for u in units {
        out.extend_from_slice(&if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

#[test]
fn scan_decodes_utf16_files_and_says_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = Vec::new();
    for (i, (big_endian, bom)) in [(false, true), (false, false), (true, true), (true, false)]
        .into_iter()
        .enumerate()
    {
        let k = fake::key(Provider::OpenAi, KeyKind::Project, 20 + i as u64);
        // PowerShell's `Out-File` default: UTF-16LE with a mark, CRLF.
        let text = format!("# é config\r\nOPENAI_API_KEY={k}\r\n");
        std::fs::write(
            dir.path().join(format!("{i}.env")),
            utf16(&text, big_endian, bom),
        )
        .unwrap();
        keys.push(k);
    }
    let hidden = fake::key(Provider::Google, KeyKind::Standard, 24);
    let mut binary = vec![0u8, 1, 2, 0, 0, 7, 0xff];
    binary.extend_from_slice(hidden.as_bytes());
    std::fs::write(dir.path().join("blob.bin"), binary).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("0.env"), dir.path().join("link.env")).unwrap();
    let root = dir.path().to_str().unwrap();

    let out = byok(&["scan", "--json", root], b"");
    assert_eq!(out.status.code(), Some(1), "keys found");
    let found = json_lines(&out);
    assert_eq!(found.len(), 4, "{found:?}");
    for (i, f) in found.iter().enumerate() {
        assert!(f["path"].as_str().unwrap().ends_with(&format!("{i}.env")));
        assert_eq!(
            (f["line"].as_u64(), f["column"].as_u64()),
            (Some(2), Some(16))
        );
        assert_eq!(f["kind"], "project");
        let want = if i < 2 { "utf-16le" } else { "utf-16be" };
        assert_eq!(f["encoding"], want);
        assert_eq!(
            f["fingerprint"],
            serde_json::json!(byok::keys::ApiKey::parse(&keys[i]).unwrap().fingerprint())
        );
    }
    let summary: Value = serde_json::from_slice(&out.stderr).expect("one JSON line on stderr");
    assert_eq!(summary["reasons"]["binary"], 1);
    #[cfg(unix)]
    assert_eq!(
        (
            summary["skipped"].as_u64(),
            summary["reasons"]["symlink"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let text = byok(&["scan", root], b"");
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains("skipped") && stderr.contains("1 binary"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("0.env:2:16: openai project sk-proj-…"));
    keys.push(hidden);
    assert_no_leak(&out, &keys);
    assert_no_leak(&text, &keys);

    // Stdin in UTF-16 too.
    let piped = byok(
        &["scan", "--json"],
        utf16(&format!("x={}", keys[0]), false, true),
    );
    assert_eq!(json_lines(&piped)[0]["column"], 3);
}

#[test]
fn scan_finds_every_key_once_in_a_large_file_and_across_window_edges() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = fake::all(30).into_iter().map(|(_, _, k)| k).collect();
    // 3.5 MiB of keys, 50 to a line: whatever the windows, keys straddle their edges.
    let mut text = String::new();
    let mut n = 0usize;
    while text.len() < 3_500_000 {
        // Keys back to back (wherever the windows end, some key spans the edge),
        // with a longer gap now and then to shift them against it.
        let pad = if n % 7 == 0 { 1 + n % 61 } else { 1 };
        text.push_str(&"lorem ipsum task-runner ".repeat(pad / 24 + 1)[..pad - 1]);
        text.push(' ');
        text.push_str(&keys[n % keys.len()]);
        n += 1;
        // Most keys share a line with others: some lines are long.
        text.push(if n % 50 == 0 { '\n' } else { ' ' });
    }
    // Columns on a line are cumulative: recompute them from the text itself.
    let mut expect = Vec::new();
    for (i, l) in text.lines().enumerate() {
        for k in &keys {
            for (at, _) in l.match_indices(k.as_str()) {
                expect.push((i + 1, l[..at].chars().count() + 1));
            }
        }
    }
    expect.sort();
    std::fs::write(dir.path().join("big.log"), &text).unwrap();
    let out = byok(&["scan", "--json", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let mut found: Vec<(usize, usize)> = json_lines(&out)
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap() as usize,
                f["column"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), expect.len(), "every key once");
    assert_eq!(found, expect);
}

#[test]
fn printed_paths_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let named = fake::key(Provider::Anthropic, KeyKind::Api, 31);
    let inside = fake::key(Provider::Google, KeyKind::Auth, 32);
    let sub = dir.path().join(&named);
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.env"), format!("K={inside}\n")).unwrap();
    let missing = dir.path().join(format!("{named}.missing"));
    for json in [false, true] {
        let mut args = vec!["scan", sub.to_str().unwrap(), missing.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let out = byok(&args, b"");
        assert_eq!(out.status.code(), Some(2), "an unreadable path is an error");
        let all = String::from_utf8_lossy(&[out.stdout.clone(), out.stderr.clone()].concat())
            .into_owned();
        assert!(all.contains("sk-ant-api03-…"), "{all}");
        assert!(all.contains("AQ.…"), "the finding is reported: {all}");
        assert_no_leak(&out, &[named.clone(), inside.clone()]);
    }
}

/// `byok redact` holds a bounded window, not a line: a 128 MiB line passes through
/// under an address-space limit far below that (the old line-by-line redactor held
/// the whole line).
#[cfg(target_os = "linux")]
#[test]
fn redact_streams_a_huge_line_in_bounded_memory() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 33);
    let mut line = Vec::with_capacity(128 << 20);
    while line.len() < (128 << 20) {
        line.extend_from_slice(b"task-runner disk-usage lorem ipsum dolor sit amet ");
        if line.len() % (16 << 20) < 60 {
            line.extend_from_slice(key.as_bytes());
            line.push(b' ');
        }
    }
    let out = limited("exec \"$BYOK\" redact", "", &line);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, byok::keys::redact_bytes(&line).as_ref());
    assert!(!out.stdout.windows(key.len()).any(|w| w == key.as_bytes()));
}

/// `byok scan` reads a file window by window: a 128 MiB file is scanned under an
/// address-space limit far below that (it used to read the whole file first).
#[cfg(target_os = "linux")]
#[test]
fn scan_reads_a_huge_file_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake::key(Provider::Anthropic, KeyKind::Admin, 34);
    let path = dir.path().join("huge.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0usize;
    while written < (128 << 20) {
        file.write_all(b"2026-11-22 INFO task-runner: nothing to see here, disk-usage ok\n")
            .unwrap();
        written += 64;
    }
    file.write_all(format!("ANTHROPIC_ADMIN_KEY={key}\n").as_bytes())
        .unwrap();
    drop(file);
    let out = limited(
        "exec \"$BYOK\" scan --json \"$1\"",
        path.to_str().unwrap(),
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = json_lines(&out);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["line"].as_u64(), Some((128u64 << 20) / 64 + 1));
    assert_no_leak(&out, &[key]);
}

/// A key pasted as a flag's value (a slip of the clipboard) is never echoed by
/// the argument parser's error, in text or JSON mode; with `--json` the usage
/// error is a JSON line with a code, like every other error.
#[test]
fn argument_errors_never_echo_a_key() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 7);
    for args in [
        vec!["test", "--provider", key.as_str()],
        vec!["vault", "list", "--workspace", "w", key.as_str()],
        vec!["scan", "--no-such-flag", key.as_str()],
    ] {
        let out = byok(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_no_leak(&out, &[&key]);
        assert!(!text(&out).is_empty(), "{args:?}: the error is still shown");

        let mut with_json = args.clone();
        with_json.push("--json");
        let out = byok(&with_json, "");
        assert_eq!(out.status.code(), Some(2), "{with_json:?}");
        assert_no_leak(&out, &[&key]);
        let line = only_json(&out);
        assert_eq!(line["error"]["code"], "invalid_arguments", "{with_json:?}");
        assert!(line["error"]["message"].is_string());
    }
    // Help and version are not errors.
    assert_eq!(byok(&["--help"], "").status.code(), Some(0));
    assert_eq!(byok(&["--version"], "").status.code(), Some(0));
}

/// A byok API token of `tag` (`adm`, `wsm`, `app`), its hex digits from `seed`.
fn api_token(tag: &str, seed: u8) -> String {
    let hex = |n: usize, salt: u8| -> String {
        (0..n)
            .map(|i| {
                b"0123456789abcdef"[(i * 7 + usize::from(seed) * 3 + usize::from(salt)) % 16]
                    as char
            })
            .collect()
    };
    format!("byok_{tag}_{}_{}", hex(32, 1), hex(64, 5))
}

/// Neither output holds any form of the provider `key` or of the tokens' secret parts.
#[track_caller]
fn assert_no_token_leak(out: &Output, key: &str, tokens: &[&str]) {
    assert_no_leak(out, &[key]);
    let detector: byok_testkit::canary::Detector = tokens
        .iter()
        .map(|t| byok_testkit::canary::Canary::secret("token", &t[42..]))
        .collect();
    detector.assert_clean("stdout", &out.stdout);
    detector.assert_clean("stderr", &out.stderr);
}

#[test]
fn scan_and_redact_find_byok_api_tokens_beside_provider_keys() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 4);
    let app = api_token("app", 1);
    let admin = api_token("adm", 2);
    let input = format!(
        "OPENAI_API_KEY={key}\ncurl -H 'Authorization: Bearer {app}' …\nBYOK_TOKEN=\"{admin}\"\nglued={app}ff\n"
    );
    let out = byok(&["scan", "--json"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let found = json_lines(&out);
    let rows: Vec<(u64, u64, &str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["provider"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, 16, "openai", "project"),
            (2, 32, "byok", "app_token"),
            (3, 13, "byok", "admin_token"),
        ],
        "the glued run on line 4 is not a token"
    );
    assert_eq!(found[1]["masked"], format!("byok_app_…{}", &app[33..41]));
    assert_no_token_leak(&out, &key, &[&app, &admin]);

    let out = byok(&["scan"], input.as_bytes());
    assert!(text(&out).contains("-:3:13: byok admin_token byok_adm_…"));
    assert_no_token_leak(&out, &key, &[&app, &admin]);

    let out = byok(&["redact"], input.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert_no_token_leak(&out, &key, &[&app, &admin]);
    let clean = String::from_utf8_lossy(&out.stdout);
    assert!(
        clean.contains(&format!("Bearer byok_app_…{}' …", &app[33..41])),
        "{clean}"
    );
    assert!(clean.contains("glued=byok_app_…\n"), "{clean}");
}

//! Black-box tests of `byok test` against a tiny scripted HTTP server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byok::keys::{KeyKind, Provider, fake};
use common::{assert_no_leak, byok, byok_with, only_json as json};
use serde_json::Value;

/// One recorded request: the request line and its headers, lowercase names.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

/// A local HTTP/1.1 server answering requests in order with `answers`
/// (status, body); the last answer repeats. `None` as status: never answer.
fn serve(answers: Vec<(Option<u16>, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let answers = Arc::new(answers);
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (log, answers) = (log.clone(), answers.clone());
            std::thread::spawn(move || handle(stream, &log, &answers));
        }
    });
    (url, seen)
}

fn handle(stream: TcpStream, log: &Mutex<Vec<Seen>>, answers: &[(Option<u16>, &str)]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            if k == "content-length" {
                length = v.parse().unwrap();
            }
            headers.push((k, v));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let n = {
            let mut log = log.lock().unwrap();
            log.push(Seen {
                line: line.trim_end().to_owned(),
                headers,
            });
            log.len() - 1
        };
        let (status, body) = answers[n.min(answers.len() - 1)];
        let Some(status) = status else {
            std::thread::sleep(Duration::from_secs(30));
            return;
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-request-id: req_cli{n}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        out.write_all(response.as_bytes()).unwrap();
    }
}

const MODELS: &str = r#"{"object":"list","data":[]}"#;
const CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[]}"#;
const NO_QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

#[test]
fn valid_key_exits_zero_with_the_json_contract() {
    let (url, seen) = serve(vec![(Some(200), MODELS), (Some(200), CHAT)]);
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let out = byok(&["test", "--base-url", &url, "--json"], format!("{key}\n"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    assert_eq!(j["verdict"], "valid");
    assert_eq!(j["reason"], Value::Null);
    assert_eq!(j["attempts"], 2);
    assert!(j["elapsed_ms"].is_u64());
    assert_eq!(j["retry_after_ms"], Value::Null);
    assert!(j["message"].is_string() && j["remediation"].is_string());
    assert_eq!(j["request_id"], "req_cli1");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].line, "GET /v1/models HTTP/1.1");
    assert_eq!(seen[1].line, "POST /v1/chat/completions HTTP/1.1");
    let auth = seen[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(auth, Some(format!("Bearer {key}")));
    assert_no_leak(&out, &[&key]);
}

#[test]
fn no_credits_exits_one_and_is_sent_once() {
    let (url, seen) = serve(vec![(Some(200), MODELS), (Some(429), NO_QUOTA)]);
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 2);
    // A pasted key with quotes and a Bearer prefix is normalised first.
    let out = byok(
        &["test", "--base-url", &url, "--json"],
        format!("\"Bearer {key}\"\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(
        (j["verdict"].as_str(), j["reason"].as_str()),
        (Some("no_credits"), Some("insufficient_quota"))
    );
    assert_eq!(j["attempts"], 2);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the no-credits 429 is not retried"
    );
    assert!(j["remediation"].as_str().unwrap().contains("credits"));
    assert_no_leak(&out, &[&key]);
}

#[test]
fn depth_auth_makes_one_request_and_text_output_explains() {
    let (url, seen) = serve(vec![(
        Some(401),
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    )]);
    let key = fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 3);
    let out = byok(&["test", "--depth", "auth", "--base-url", &url], &key);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("invalid (unauthorized): "), "{text}");
    assert!(
        text.contains("what to do: Check for typos or extra spaces"),
        "{text}"
    );
    assert!(text.contains("HTTP 401"), "{text}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_no_leak(&out, &[&key]);
}

#[test]
fn gemini_key_goes_in_its_header_with_provider_given() {
    let (url, seen) = serve(vec![(Some(200), r#"{"models":[]}"#)]);
    let key = fake::key(Provider::Google, KeyKind::Auth, 4);
    let out = byok(
        &[
            "test",
            "--provider",
            "gemini",
            "--depth",
            "auth",
            "--base-url",
            &url,
            "--json",
        ],
        &key,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["provider"], "google");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].line, "GET /v1beta/models HTTP/1.1");
    let carriers: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(_, v)| v.contains(&key))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(carriers, ["x-goog-api-key"]);
}

#[test]
fn closed_port_is_a_network_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 5);
    let out = byok(
        &[
            "test",
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "5",
            "--json",
        ],
        &key,
    );
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(
        (j["verdict"].as_str(), j["reason"].as_str()),
        (Some("network_error"), Some("connect"))
    );
    assert_no_leak(&out, &[&key]);
}

#[test]
fn timeout_is_the_overall_deadline() {
    let (url, _) = serve(vec![(None, "")]);
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 6);
    let out = byok(
        &["test", "--base-url", &url, "--timeout", "0.3", "--json"],
        &key,
    );
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(
        (j["verdict"].as_str(), j["reason"].as_str()),
        (Some("network_error"), Some("timeout"))
    );
    assert_eq!(j["attempts"], 1, "no time is left for a retry");
}

#[test]
fn usage_errors_exit_two() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 7);
    let cases: [(&[&str], String, &str); 5] = [
        (&["test", "--json"], String::new(), "empty"),
        (
            &["test", "--json"],
            format!("{key}\n{key}\n"),
            "too_many_keys",
        ),
        (&["test", "--json"], "sk-...".to_owned(), "placeholder"),
        (
            &["test", "--json", "--provider", "anthropic"],
            key.clone(),
            "wrong_provider",
        ),
        (
            &["test", "--json", "--timeout", "0"],
            key.clone(),
            "invalid_timeout",
        ),
    ];
    for (args, stdin, code) in cases {
        let out = byok(args, &stdin);
        assert_eq!(out.status.code(), Some(2), "{code}");
        assert_eq!(json(&out)["error"]["code"], code);
        assert_no_leak(&out, &[&key]);
    }
    let out = byok(&["test", "--base-url", "ftp://x", "--json"], &key);
    assert_eq!(json(&out)["error"]["code"], "invalid_base_url");
    let out = byok(&["test", "--depth", "deep"], &key);
    assert_eq!(out.status.code(), Some(2));
}

/// No byte of `out` (stdout and stderr) is a terminal control, a C1 control or a
/// bidi override; no stdout line but the first claims a verdict.
fn assert_inert(out: &Output) {
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    let text = String::from_utf8_lossy(&all);
    for c in text.chars() {
        let control = (c.is_control() && c != '\n')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}');
        assert!(!control, "a raw {:?} in {text:?}", c);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.lines().skip(1).any(|l| l.starts_with("valid")),
        "{stdout}"
    );
}

#[test]
fn provider_text_cannot_draw_on_the_terminal() {
    // A message, code and request id that would erase the line and draw a fake verdict.
    const HOSTILE: &str = r#"{"error":{"message":"\u001b[2K\r\u001b[32mvalid: The key works.\u001b[0m\nvalid\u202e\u0085\u0007","type":"x\u001b[1m","param":null,"code":null}}"#;
    let (url, _) = serve(vec![(Some(401), HOSTILE)]);
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 8);
    let out = byok(&["test", "--depth", "auth", "--base-url", &url], &key);
    assert_eq!(out.status.code(), Some(1));
    assert_inert(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r"provider says: \u{1b}[2K\r\u{1b}[32mvalid"),
        "{text}"
    );
    // JSON keeps the text, escaped by the encoder.
    let out = byok(
        &["test", "--depth", "auth", "--base-url", &url, "--json"],
        &key,
    );
    assert!(
        json(&out)["provider_message"]
            .as_str()
            .unwrap()
            .starts_with("\u{1b}[2K\r")
    );
}

#[test]
fn vault_labels_notes_actor_and_workspace_cannot_draw_on_the_terminal() {
    let dir = std::env::temp_dir().join(format!("byok-inert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("v.db");
    let db = db.to_str().unwrap();
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 9);
    let master = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let vault = |args: &[&str], stdin: &str| {
        let all = [&["vault", "--vault", db][..], args].concat();
        byok_with(&all, stdin, &[("BYOK_MASTER_KEY", master)])
    };
    let label = "ok\u{1b}[2K\r\u{1b}[32mvalid: The key works.\u{202e}";
    let actor = "me\u{1b}]0;title\u{7}";
    let out = vault(
        &[
            "add",
            "--workspace",
            "w1",
            "--provider",
            "openai",
            "--label",
            label,
            "--note",
            label,
            "--actor",
            actor,
            "--no-test",
        ],
        &key,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_inert(&out);
    for args in [
        &["list", "--workspace", "w1"][..],
        &["audit", "--workspace", "w1"],
        &["select", "--workspace", "w1", "--provider", "openai"],
        &["check"],
        &["list", "--workspace", "bad\u{1b}[31m workspace"],
    ] {
        let out = vault(args, "");
        assert_inert(&out);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_http_to_another_host_is_refused_unless_allowed() {
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 10);
    // `.invalid` never resolves (RFC 2606): no request can leave this machine.
    let far = "http://byok-cli-test.invalid/openai";
    let out = byok(&["test", "--base-url", far, "--json"], &key);
    assert_eq!(out.status.code(), Some(2));
    let j = json(&out);
    assert_eq!(j["error"]["code"], "insecure_base_url");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--allow-http")
    );
    let out = byok(&["test", "--base-url", far], &key);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[insecure_base_url]"));
    // Allowed explicitly: the request is attempted (and the name does not resolve).
    let out = byok(
        &[
            "test",
            "--base-url",
            far,
            "--allow-http",
            "--timeout",
            "20",
            "--json",
        ],
        &key,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["verdict"], "network_error");
    // Loopback stays allowed over http (the mocks of every other test).
    let (url, _) = serve(vec![(Some(200), MODELS)]);
    let out = byok(&["test", "--depth", "auth", "--base-url", &url], &key);
    assert_eq!(out.status.code(), Some(0));
    assert_no_leak(&out, &[&key]);
}

#[test]
fn scan_and_budget_text_cannot_draw_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // A file name that would clear the line and print a fake verdict.
    let name = "a\u{1b}[2K\r\u{1b}[32mvalid\u{202e}.env";
    std::fs::write(
        dir.path().join(name),
        format!("KEY={}\n", fake::key(Provider::OpenAi, KeyKind::Project, 3)),
    )
    .unwrap();
    let out = byok_with(&["scan", dir.path().to_str().unwrap()], "", &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_inert(&out);

    let ledger = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let scope = "project:p\u{1b}]0;pwned\u{7}\u{1b}[2K";
    let set = byok_with(
        &[
            "budget",
            "--ledger",
            &ledger,
            "set",
            "--scope",
            scope,
            "--limit-usd",
            "1",
            "--period",
            "total",
        ],
        "",
        &[],
    );
    assert_inert(&set);
    let status = byok_with(
        &["budget", "--ledger", &ledger, "status", "--scope", scope],
        "",
        &[],
    );
    assert_inert(&status);
}

/// `--param` gives what an Azure OpenAI key alone does not say (its resource and
/// deployment): the probes go to the deployment, with the key in `api-key`.
/// Without them the key is `restricted` (`missing_param`) and nothing is sent; a
/// wrong parameter is a usage error (exit 2) with the parameter's hint.
#[test]
fn params_say_where_an_azure_key_is_tested() {
    let (url, seen) = serve(vec![(Some(200), MODELS), (Some(200), CHAT)]);
    let key = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 5);
    let args = |extra: &[&'static str]| {
        let mut a = vec!["test", "--provider", "azure_openai", "--base-url", &url];
        a.extend_from_slice(extra);
        a.push("--json");
        a.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        byok(&a, &key)
    };

    let out = run(args(&[]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["verdict"], "restricted");
    assert_eq!(json(&out)["reason"], "missing_param");
    assert!(seen.lock().unwrap().is_empty(), "nothing sent without them");

    let out = run(args(&[
        "--param",
        "resource=contoso",
        "--param",
        "deployment=gpt-4o-mini",
    ]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["verdict"], "valid");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].line.starts_with(
            "POST /openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21 "
        ),
        "{}",
        seen[1].line
    );
    for s in &seen {
        let carriers: Vec<_> = s
            .headers
            .iter()
            .filter(|(_, v)| v.contains(&key))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(carriers, ["api-key"], "{}", s.line);
    }
    assert_no_leak(&out, &[&key]);

    for (extra, code) in [
        (
            &["--param", "resource=Not A Name", "--param", "deployment=d"][..],
            "invalid_param",
        ),
        (&["--param", "region=us-east-1"][..], "unknown_param"),
        (&["--param", "resource"][..], "invalid_param_syntax"),
    ] {
        let out = run(args(extra));
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert_eq!(json(&out)["error"]["code"], code, "{extra:?}");
        assert!(json(&out)["error"]["hint"].is_string(), "{extra:?}");
        assert_no_leak(&out, &[&key]);
    }
}

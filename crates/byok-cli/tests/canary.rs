//! The canary suite, command-line side: every `byok` command, with and without
//! `--json`, error paths included, fed the same canary secrets as the facade's
//! suite (`byok_testkit::canary::standard` plus the shapes that need their
//! provider named, in the facade's `tests/canary/canaries.rs`). Every stdout, every stderr and every
//! file a command writes is searched for every form of every canary: whole, body,
//! 12-character windows, base64, hex, UTF-16, percent- and JSON-escaped.
//!
//! The binary runs with `RUST_LOG=trace` and `RUST_BACKTRACE=1`, so anything it would
//! log or print on a panic is on stderr and searched too.

// The facade suite's canaries, so both sides search for exactly the same forms.
#[path = "../../../tests/canary/canaries.rs"]
mod canary;
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use byok::keys::{KeyKind, Provider};
use byok_testkit::{MockProvider, Scenario, echo_answers, echo_forms, echo_refusal};
use canary::assert_clean;
use common::{byok_cmd, run};
use serde_json::Value;

/// What one run showed: its arguments (for failure messages) and its output.
struct Run {
    what: String,
    out: Output,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn first_json(&self) -> Value {
        let text = self.stdout();
        serde_json::from_str(text.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text:?}", self.what))
    }
}

/// A command environment: a temporary directory that is also `HOME`, so every file
/// any command writes by default lands where [`Env::assert_files_clean`] looks.
struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(mut self, name: &'static str, value: String) -> Env {
        self.vars.push((name, value));
        self
    }

    /// Run `byok args` with `stdin`; check stdout and stderr at once.
    #[track_caller]
    fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = byok_cmd();
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path())
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .envs(self.vars.iter().map(|(name, value)| (*name, value)));
        let out = run(cmd, stdin);
        // A failure message names the command, unless its arguments hold a canary.
        let joined = args.join(" ");
        let what = match canary::find_leak(joined.as_bytes()) {
            None => format!("byok {joined}"),
            Some(_) => format!("byok {} (arguments hold a canary)", args[0]),
        };
        assert_clean(&format!("{what}: stdout"), &out.stdout);
        assert_clean(&format!("{what}: stderr"), &out.stderr);
        Run { what, out }
    }

    /// Run with and without `--json` (appended), expecting `code` both times.
    #[track_caller]
    fn both(&self, args: &[&str], stdin: &str, code: i32) -> Run {
        let plain = self.run(args, stdin);
        assert_eq!(plain.code(), Some(code), "{}: {:?}", plain.what, plain.out);
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let json = self.run(&with_json, stdin);
        assert_eq!(json.code(), Some(code), "{}: {:?}", json.what, json.out);
        json
    }

    /// Every file under the directory, read whole, checked; how many there were.
    fn assert_files_clean(&self, label: &str) -> usize {
        files_clean(label, self.dir.path())
    }
}

fn files_clean(label: &str, dir: &Path) -> usize {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            seen += files_clean(label, &path);
        } else {
            let bytes = std::fs::read(&path).expect("readable file");
            assert_clean(&format!("{label}: file {}", path.display()), &bytes);
            seen += 1;
        }
    }
    seen
}

/// Every canary key of seed `n`, one per line.
fn all_keys(n: usize) -> String {
    canary::keys(n)
        .into_iter()
        .map(|(_, _, raw)| raw + "\n")
        .collect()
}

/// The same keys, broken in the ways pastes break.
fn broken_keys(n: usize) -> String {
    let mut out = String::new();
    for (_, _, raw) in canary::keys(n) {
        let mid = raw.len() / 2;
        out += &format!("{}\n", &raw[..raw.len() - 3]);
        out += &format!("{raw}xyz\n");
        out += &format!("{}!{}\n", &raw[..mid], &raw[mid + 1..]);
        out += &format!("{}\u{200B}{}\n", &raw[..mid], &raw[mid..]);
        out += &format!("\"Bearer {raw}\"\n");
    }
    out
}

/// The `--param` flags a key of `provider` is added with: what its spec's
/// `params` need and a key alone does not give (Azure OpenAI's resource and
/// deployment, Bedrock's region; the fake short-term Bedrock keys are us-east-1).
fn param_flags(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::AzureOpenAi => &[
            "--param",
            "resource=byok-canary",
            "--param",
            "deployment=gpt-4o-mini",
        ],
        Provider::Bedrock => &["--param", "region=us-east-1"],
        _ => &[],
    }
}

/// The header `provider`'s key travels in, per its spec.
fn auth_header(provider: Provider) -> &'static str {
    match provider.spec().auth {
        byok::keys::spec::Auth::Header(name) => name,
        _ => "authorization",
    }
}

/// The first non-admin kind of `provider`'s keys (its spec's `kinds`).
fn first_kind(provider: Provider) -> KeyKind {
    *provider
        .spec()
        .kinds
        .iter()
        .find(|k| **k != KeyKind::Admin)
        .expect("every provider has a non-admin shape")
}

/// `--provider P` for a key whose shape needs its provider named (its spec's
/// `context_keywords`: DeepSeek, Mistral, Azure OpenAI, Cohere); the others are
/// recognised alone, and are left to be.
fn named(provider: Provider) -> Vec<&'static str> {
    if provider.spec().context_keywords.is_empty() {
        vec![]
    } else {
        vec!["--provider", provider.as_str()]
    }
}

#[test]
fn inspect_scan_redact() {
    let env = Env::new();
    // inspect: good keys (exit 0), broken ones (exit 1), nothing (exit 2).
    env.both(&["inspect"], &all_keys(0), 0);
    env.both(&["inspect"], &broken_keys(1), 1);
    for provider in ["openai", "anthropic", "google"] {
        let run = env.run(&["inspect", "--provider", provider], &all_keys(0));
        assert_eq!(run.code(), Some(1), "{}", run.what);
    }
    env.run(&["inspect"], "");

    // scan: stdin, a file, a directory, a missing path.
    let text = format!(
        "OPENAI_API_KEY={}\n{{\"k\": \"{}\"}}\nhttps://x/?key={}&alt=json\n{}",
        canary::key(Provider::OpenAi, KeyKind::Project, 2),
        canary::key(Provider::Anthropic, KeyKind::Api, 2),
        canary::key(Provider::Google, KeyKind::Standard, 2),
        all_keys(2)
    );
    let found = env.both(&["scan"], &text, 1);
    assert!(found.stdout().contains("sk-proj-"), "{}", found.stdout());
    let secrets = env.path("repo");
    std::fs::create_dir_all(secrets.join("nested")).unwrap();
    std::fs::write(secrets.join(".env"), &text).unwrap();
    std::fs::write(secrets.join("nested/config.json"), broken_keys(2)).unwrap();
    env.both(&["scan", secrets.to_str().unwrap()], "", 1);
    env.both(&["scan", secrets.join(".env").to_str().unwrap()], "", 1);
    env.both(&["scan", env.path("missing").to_str().unwrap()], "", 2);
    std::fs::remove_dir_all(&secrets).unwrap();

    // redact: every key masked, nothing else changed.
    let run = env.run(&["redact"], &text);
    assert_eq!(run.code(), Some(0), "{}", run.what);
    assert!(
        run.stdout().contains("https://x/?key=AIza"),
        "{}",
        run.stdout()
    );
    env.run(&["redact", "--json"], &text);
    env.assert_files_clean("inspect/scan/redact");
}

#[test]
fn vault_every_command_and_error() {
    let env = Env::new().set("BYOK_MASTER_KEY", canary::master_key(0));
    let db = env.path("vault.db");
    let db = db.to_str().unwrap();
    let v = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["vault".to_owned(), "--vault".to_owned(), db.to_owned()];
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };
    let run = |rest: &[&str], stdin: &str, code: i32| -> Run {
        let args = v(rest);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.both(&args, stdin, code)
    };

    // add: every shape (admin keys only for usage sync), pasted messily.
    let mut ids = Vec::new();
    for (i, (provider, kind, raw)) in canary::keys(4).into_iter().enumerate() {
        let label = format!("l{i}");
        let mut args = vec![
            "add",
            "--workspace",
            "acme",
            "--provider",
            provider.as_str(),
            "--label",
            &label,
            "--no-test",
        ];
        if kind == KeyKind::Admin {
            let refused = env.run(
                &v(&args).iter().map(String::as_str).collect::<Vec<_>>(),
                &raw,
            );
            assert_ne!(refused.code(), Some(0), "{}", refused.what);
            args.push("--usage-sync");
        }
        if i % 2 == 1 {
            args.extend(["--role", "backup"]);
        }
        args.extend(param_flags(provider));
        args.push("--json");
        let added = env.run(
            &v(&args).iter().map(String::as_str).collect::<Vec<_>>(),
            &format!(" \"{raw}\"\n"),
        );
        assert_eq!(added.code(), Some(0), "{}: {:?}", added.what, added.out);
        ids.push((
            provider,
            kind,
            added.first_json()["id"].as_str().unwrap().to_owned(),
        ));
    }
    let (_, _, id0) = ids[0].clone();
    let (_, _, id1) = ids[1].clone();

    // A PostgreSQL vault URL whose password is a secret: malformed, and nobody listening.
    let pass = canary::passphrase().replace(' ', "-");
    for url in [
        format!("postgres://byok:{pass}@127.0.0.1:99999/vault"),
        format!("postgres://byok:{pass}@[::1/vault"),
    ] {
        let r = env.both(
            &["vault", "--vault", &url, "list", "--workspace", "acme"],
            "",
            2,
        );
        assert!(!r.stdout().is_empty(), "{}", r.what);
    }

    // add: duplicate, wrong provider, malformed, empty.
    let dup = canary::key(Provider::OpenAi, KeyKind::Project, 4);
    let add = [
        "add",
        "--workspace",
        "acme",
        "--provider",
        "openai",
        "--label",
        "x",
    ];
    let failed = env.run(
        &v(&add).iter().map(String::as_str).collect::<Vec<_>>(),
        &dup,
    );
    assert_ne!(failed.code(), Some(0), "duplicate refused");
    let add_google = [
        "add",
        "--workspace",
        "acme",
        "--provider",
        "google",
        "--label",
        "x",
    ];
    for stdin in [
        dup.clone(),
        dup[..dup.len() - 4].to_owned(),
        format!("{dup} {dup}"),
        String::new(),
    ] {
        let r = env.run(
            &v(&add_google)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &stdin,
        );
        assert_ne!(r.code(), Some(0), "{}", r.what);
        let r = env.run(
            &v(&add).iter().map(String::as_str).collect::<Vec<_>>(),
            &stdin,
        );
        assert_ne!(r.code(), Some(0), "{}", r.what);
    }

    run(&["list", "--workspace", "acme"], "", 0);
    run(&["show", "--workspace", "acme", &id0], "", 0);
    run(&["show", "--workspace", "other", &id0], "", 2);
    run(&["show", "--workspace", "acme", "not-a-uuid"], "", 2);

    // rotate: same provider, another provider, malformed.
    let next = canary::key(Provider::OpenAi, KeyKind::Legacy, 5);
    run(
        &["rotate", "--workspace", "acme", &id0],
        &format!("{next}\n"),
        0,
    );
    let google = canary::key(Provider::Google, KeyKind::Standard, 5);
    let r = env.run(
        &v(&["rotate", "--workspace", "acme", &id0])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &google,
    );
    assert_ne!(r.code(), Some(0), "{}", r.what);
    let r = env.run(
        &v(&["rotate", "--workspace", "acme", &id0])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &next[..next.len() - 2],
    );
    assert_ne!(r.code(), Some(0), "{}", r.what);

    // disable, enable, revoke, delete and their refusals.
    run(&["disable", "--workspace", "acme", &id1], "", 0);
    run(&["enable", "--workspace", "acme", &id1], "", 0);
    run(&["revoke", "--workspace", "acme", &id1], "", 0);
    let r = env.run(
        &v(&["rotate", "--workspace", "acme", &id1])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &canary::key(Provider::OpenAi, KeyKind::Project, 6),
    );
    assert_ne!(r.code(), Some(0), "{}", r.what);
    let once = |rest: &[&str], code: i32| {
        let args = v(rest);
        let r = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), "");
        assert_eq!(r.code(), Some(code), "{}: {:?}", r.what, r.out);
    };
    once(&["delete", "--workspace", "acme", &id1], 0);
    once(&["delete", "--workspace", "acme", &id1], 2);
    once(&["delete", "--workspace", "acme", &id1, "--json"], 2);
    run(&["check"], "", 0);
    run(&["check", "--workspace", "acme"], "", 0);
    run(&["audit", "--workspace", "acme"], "", 0);
    assert!(env.assert_files_clean("vault (after writes)") >= 1);

    // rewrap to master key #1; then master key #0 is wrong.
    let rewrap = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: vec![
            ("BYOK_MASTER_KEY", canary::master_key(0)),
            ("BYOK_NEW_MASTER_KEY", canary::master_key(1)),
        ],
    };
    let r = rewrap.run(&["vault", "--vault", db, "rewrap", "--json"], "");
    assert_eq!(r.code(), Some(0), "{}: {:?}", r.what, r.out);
    let wrong = env.run(&["vault", "--vault", db, "list", "--workspace", "acme"], "");
    assert_eq!(wrong.code(), Some(2), "{}", wrong.what);
    let wrong = env.run(
        &[
            "vault",
            "--vault",
            db,
            "list",
            "--workspace",
            "acme",
            "--json",
        ],
        "",
    );
    assert_eq!(wrong.code(), Some(2), "{}", wrong.what);
    let after = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: vec![("BYOK_MASTER_KEY", canary::master_key(1))],
    };
    let ok = after.run(&["vault", "--vault", db, "check", "--json"], "");
    assert_eq!(ok.code(), Some(0), "{}: {:?}", ok.what, ok.out);

    // Master keys that are malformed, missing, or in a missing file; a missing vault dir.
    for vars in [
        vec![("BYOK_MASTER_KEY", format!("{}!", canary::master_key(2)))],
        vec![("BYOK_MASTER_KEY", canary::passphrase())],
        vec![(
            "BYOK_MASTER_KEY_FILE",
            env.path("no-such-file").display().to_string(),
        )],
        vec![],
    ] {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
            vars,
        };
        for json in [false, true] {
            let mut args = vec!["vault", "--vault", db, "list", "--workspace", "acme"];
            if json {
                args.push("--json");
            }
            let r = e.run(&args, "");
            assert_eq!(r.code(), Some(2), "{}: {:?}", r.what, r.out);
        }
        e.assert_files_clean("vault master key errors");
    }
    let missing = env.path("no/such/dir/vault.db");
    let r = after.run(
        &[
            "vault",
            "--vault",
            missing.to_str().unwrap(),
            "list",
            "--workspace",
            "a",
        ],
        "",
    );
    assert_eq!(r.code(), Some(2), "{}", r.what);
    // A master key file holding the canary master key.
    let key_file = env.path("master.key");
    std::fs::write(&key_file, canary::master_key(1)).unwrap();
    let from_file = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: vec![("BYOK_MASTER_KEY_FILE", key_file.display().to_string())],
    };
    let r = from_file.run(&["vault", "--vault", db, "list", "--workspace", "acme"], "");
    assert_eq!(r.code(), Some(0), "{}: {:?}", r.what, r.out);
    std::fs::remove_file(&key_file).unwrap();

    assert!(env.assert_files_clean("vault (end)") >= 1);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn mock(provider: Provider, scenario: Scenario) -> MockProvider {
    byok::testkit::MockBuilder::new(provider)
        .scenario(scenario)
        .start()
        .await
}

#[test]
fn test_command_against_mock_providers() {
    let rt = runtime();
    let env = Env::new();
    let scenarios = [
        (Scenario::Valid, 0),
        (Scenario::InvalidKey, 1),
        (Scenario::NoCredits, 1),
        (
            Scenario::RateLimited {
                times: 9,
                retry_after: Duration::from_secs(3600),
            },
            1,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 503,
            },
            1,
        ),
        (Scenario::Garbage, 1),
        (Scenario::Hang, 1),
    ];
    // Every shape of every provider, those that need their provider named included.
    let shapes = Provider::ALL.into_iter().flat_map(|p| {
        p.spec()
            .kinds
            .iter()
            .map(move |k| (p, *k, canary::key(p, *k, 5)))
    });
    for (provider, kind, raw) in shapes {
        // A key whose provider needs parameters (Azure, Bedrock) is not tested
        // without them (`missing_param`, covered by the verifier's tests).
        if kind == KeyKind::Admin || byok::keys::params::Params::required_by(provider) {
            continue;
        }
        // Every scenario for the first key of each provider, a valid answer for the others.
        let first = matches!(kind, KeyKind::Legacy | KeyKind::Api | KeyKind::Standard);
        for (scenario, code) in scenarios.clone() {
            if !scenario.supported_by(provider) || (!first && scenario != Scenario::Valid) {
                continue;
            }
            let server = rt.block_on(mock(provider, scenario.clone()));
            let uri = server.uri();
            let mut args = vec!["test", "--base-url", &uri, "--timeout", "0.5"];
            args.extend(named(provider));
            env.both(&args, &format!("{raw}\n"), code);
            let requests = rt.block_on(server.requests());
            assert!(
                !requests.is_empty(),
                "{provider} {scenario:?}: the mock was called"
            );
            for r in requests {
                assert_clean("test: request path", r.path.as_bytes());
                assert_clean(
                    "test: request query",
                    r.query.unwrap_or_default().as_bytes(),
                );
                assert_clean("test: request body", &r.body);
                let carriers: Vec<_> = r
                    .headers
                    .iter()
                    .filter(|(_, v)| v.contains(raw.as_str()))
                    .map(|(k, _)| k.to_ascii_lowercase())
                    .collect();
                assert_eq!(carriers, [auth_header(provider)], "{provider} {scenario:?}");
            }
        }
    }
    // Errors before any request: malformed, wrong provider, two keys, nothing, bad timeout.
    let raw = canary::key(Provider::Anthropic, KeyKind::Api, 6);
    env.both(&["test"], &raw[..raw.len() - 3], 2);
    env.both(&["test", "--provider", "openai"], &raw, 2);
    env.both(&["test"], &format!("{raw}\n{raw}\n"), 2);
    env.both(&["test"], "", 2);
    env.both(&["test", "--timeout", "-1"], &raw, 2);
    // Nobody listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    env.both(&["test", "--base-url", &closed, "--timeout", "1"], &raw, 1);
    env.both(&["test", "--base-url", "not a url"], &raw, 2);
    // A gateway URL with credentials in it is refused, and not repeated.
    let pass = canary::passphrase().replace(' ', "-");
    let gateway = format!("http://byok:{pass}@127.0.0.1:{port}/gw");
    env.both(&["test", "--base-url", &gateway, "--timeout", "1"], &raw, 2);
    env.both(&["test", "--base-url", &format!("{gateway}:x:y")], &raw, 2);
    env.assert_files_clean("test");
}

#[test]
fn cost_estimate_budget_with_secrets_in_their_input() {
    let env = Env::new();
    let key = canary::key(Provider::OpenAi, KeyKind::Project, 7);
    // A response body that quotes a key: cost reads the usage, never echoes the rest.
    let body = format!(
        "{{\"id\": \"{key}\", \"model\": \"gpt-4o\", \"usage\": {{\"prompt_tokens\": 10, \"completion_tokens\": 5}}, \"key\": \"{key}\"}}"
    );
    env.both(&["cost", "--model", "gpt-4o", "--usage", "-"], &body, 0);
    env.both(
        &["cost", "--model", "gpt-4o", "--usage", "-"],
        &format!("{{\"usage\": {key}}}"),
        2,
    );
    env.both(&["cost", "--model", "gpt-4o", "--usage", "-"], &key, 2);
    let usage_file = env.path("usage.json");
    std::fs::write(&usage_file, &body).unwrap();
    env.both(
        &[
            "cost",
            "--model",
            "gpt-4o",
            "--usage",
            usage_file.to_str().unwrap(),
        ],
        "",
        0,
    );
    std::fs::remove_file(&usage_file).unwrap();
    // Price files holding a key where a model or a number belongs.
    let prices = env.path("prices.json");
    for text in [
        format!("{{\"gpt-4o\": \"{key}\"}}"),
        format!("{{\"gpt-4o\": {{\"litellm_provider\": \"{key}\", \"mode\": \"chat\"}}}}"),
        format!("\"{key}\""),
        format!(
            "{{\"gpt-4o\": {{\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": \"{key}\", \"output_cost_per_token\": 1e-6}}}}"
        ),
        key.clone(),
    ] {
        std::fs::write(&prices, text).unwrap();
        let p = prices.to_str().unwrap();
        let r = env.run(
            &[
                "cost",
                "--model",
                "gpt-4o",
                "--input-tokens",
                "1",
                "--output-tokens",
                "1",
                "--prices",
                p,
            ],
            "",
        );
        assert_ne!(r.code(), None, "{}", r.what);
        let r = env.run(
            &[
                "estimate",
                "--model",
                "gpt-4o",
                "--input-tokens",
                "1",
                "--prices",
                p,
                "--json",
            ],
            "",
        );
        assert_ne!(r.code(), None, "{}", r.what);
    }
    std::fs::remove_file(&prices).unwrap();
    // An unknown model: priced as unavailable, not an error.
    env.both(
        &["cost", "--model", "no-such-model", "--usage", "-"],
        &body,
        0,
    );

    // estimate: a prompt full of keys.
    let prompt = format!("Here is my key {key} and {}", all_keys(7));
    env.both(
        &[
            "estimate",
            "--model",
            "gpt-4o",
            "--max-output-tokens",
            "100",
        ],
        &prompt,
        0,
    );
    env.both(&["estimate", "--model", "no-such-model"], &prompt, 0);
    env.both(
        &["estimate", "--model", "gpt-4o", "--input-tokens", "x"],
        &prompt,
        2,
    );

    // budget on a SQLite ledger in the temp dir: set, reserve (a prompt with keys), settle, status.
    let ledger = format!("sqlite:{}", env.path("ledger.db").display());
    let b = |rest: &[&str], stdin: &str, code: i32| -> Run {
        let mut args = vec!["budget", "--ledger", ledger.as_str()];
        args.extend_from_slice(rest);
        env.both(&args, stdin, code)
    };
    b(
        &["set", "--scope", "workspace:acme", "--limit-usd", "25"],
        "",
        0,
    );
    let reserved = b(
        &[
            "reserve",
            "--scope",
            "workspace:acme",
            "--model",
            "gpt-4o",
            "--max-output-tokens",
            "50",
        ],
        &prompt,
        0,
    );
    let id = reserved.first_json()["id"].as_str().unwrap().to_owned();
    b(&["settle", "--id", &id, "--usd", "0.01"], "", 0);
    b(&["status", "--scope", "workspace:acme"], "", 0);
    let held = b(
        &["reserve", "--scope", "workspace:acme", "--usd", "1"],
        "",
        0,
    );
    let id = held.first_json()["id"].as_str().unwrap().to_owned();
    b(&["release", "--id", &id], "", 0);
    // Ledger URLs whose password is a secret are never repeated: on a parse error,
    // an unknown scheme, a missing directory, and (once: it waits for the connect
    // timeout) a server that is not there.
    let pass = canary::passphrase().replace(' ', "-");
    for url in [
        format!("postgres://byok:{pass}@127.0.0.1:99999/ledger"),
        format!("redis://:{pass}@127.0.0.1:99999/"),
        format!("nosuch://byok:{pass}@127.0.0.1/"),
        format!("sqlite:{}/missing/{pass}/l.db", env.path("x").display()),
    ] {
        let r = env.both(
            &["budget", "--ledger", &url, "status", "--scope", "s"],
            "",
            2,
        );
        assert!(!r.stdout().is_empty(), "{}", r.what);
        let with_env = Env {
            dir: tempfile::tempdir().unwrap(),
            vars: vec![("BYOK_LEDGER", url.clone())],
        };
        let r = with_env.run(&["budget", "status", "--scope", "s"], "");
        assert_eq!(r.code(), Some(2), "{}", r.what);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://byok:{pass}@127.0.0.1:{port}/ledger");
    let r = env.run(
        &[
            "budget", "--ledger", &url, "--json", "status", "--scope", "s",
        ],
        "",
    );
    assert_eq!(r.code(), Some(2), "{}", r.what);
    env.assert_files_clean("cost/estimate/budget");
}

#[test]
fn redact_near_miss_keys() {
    let env = Env::new();
    // Not the `!` lines of `broken_keys`: a character replaced by one that ends runs
    // splits the key into two runs, and the one without an anchor cannot be found
    // (docs/KEYS.md says so).
    let broken: String = broken_keys(3)
        .lines()
        .filter(|l| !l.contains('!'))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = canary::near_miss_keys(3) + &broken;
    let run = env.run(&["redact"], &text);
    assert_eq!(run.code(), Some(0), "{}", run.what);
    assert_eq!(run.stdout().lines().count(), text.lines().count());
    // In one long line too: the redactor works in windows, not lines.
    let one_line = text.replace('\n', " ").repeat(40);
    let run = env.run(&["redact"], &one_line);
    assert_eq!(run.code(), Some(0), "{}", run.what);
}

#[test]
fn vault_add_test_select_against_mock_providers() {
    let rt = runtime();
    let env = Env::new().set("BYOK_MASTER_KEY", canary::master_key(1));
    let db = env.path("flow.db");
    let db = db.to_str().unwrap().to_owned();
    let vault = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["vault".to_owned(), "--vault".to_owned(), db.clone()];
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };
    // One run, plain or `--json`, expecting `code`.
    let run = |rest: &[&str], stdin: &str, code: i32| -> Run {
        let args = vault(rest);
        let r = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), stdin);
        assert_eq!(r.code(), Some(code), "{}: {:?}", r.what, r.out);
        r
    };
    let both = |rest: &[&str], code: i32| -> Run {
        let args = vault(rest);
        env.both(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            "",
            code,
        )
    };
    let scenarios = [
        (Scenario::Valid, 0, &["valid"][..]),
        (Scenario::InvalidKey, 1, &["invalid"]),
        (Scenario::NoCredits, 0, &["no_credits"]),
        (
            Scenario::RateLimited {
                times: 99,
                retry_after: Duration::from_secs(3600),
            },
            0,
            &["rate_limited"],
        ),
        (
            Scenario::Outage {
                times: 99,
                status: 503,
            },
            0,
            // Retries may run into the short deadline.
            &["provider_unavailable", "network_error"],
        ),
        (Scenario::Garbage, 0, &["indeterminate"]),
        (Scenario::Hang, 0, &["network_error"]),
    ];
    let mut servers = Vec::new();
    for provider in Provider::ALL {
        let raw = canary::key(provider, first_kind(provider), 6);
        let p = provider.as_str();
        let server = rt.block_on(mock(provider, Scenario::Valid));
        let uri = server.uri();
        let flags = ["--base-url", uri.as_str(), "--timeout", "3"];
        // A hang is cut by a short deadline; real answers get time to spare on a busy machine.
        let flags_for = |scenario: &Scenario| {
            let mut f = flags;
            if *scenario == Scenario::Hang {
                f[3] = "0.5";
            }
            f
        };

        // add tests first: every verdict, plain and JSON, each in its own workspace.
        for (i, (scenario, code, verdict)) in scenarios.iter().enumerate() {
            if !scenario.supported_by(provider) {
                continue;
            }
            server.set_scenario(scenario.clone());
            for json in [false, true] {
                let ws = format!("add-{p}-{i}-{json}");
                let mut args = vec!["add", "--workspace", &ws, "--provider", p, "--label", "x"];
                args.extend(param_flags(provider));
                args.extend(flags_for(scenario));
                if json {
                    args.push("--json");
                }
                let r = run(&args, &format!(" \"{raw}\"\n"), *code);
                if json && *code == 0 {
                    let got = r.first_json()["verdict"].as_str().map(str::to_owned);
                    assert!(
                        got.as_deref().is_some_and(|v| verdict.contains(&v)),
                        "{}: {got:?}",
                        r.what
                    );
                }
                let listed = both(&["list", "--workspace", &ws], 0);
                assert_eq!(
                    listed.stdout().trim().is_empty() || listed.stdout().trim() == "[]",
                    *code != 0,
                    "{}: a refused key is not saved",
                    listed.what
                );
            }
        }

        // The fleet: a primary and a backup, saved untested.
        let ws = format!("fleet-{p}");
        let backup_raw = canary::key(provider, first_kind(provider), 7);
        let mut ids = Vec::new();
        for (label, key, role) in [
            ("primary", &raw, "primary"),
            ("backup", &backup_raw, "backup"),
        ] {
            let mut args = vec![
                "add",
                "--workspace",
                &ws,
                "--provider",
                p,
                "--label",
                label,
                "--role",
                role,
                "--no-test",
                "--json",
            ];
            args.extend(param_flags(provider));
            let r = run(&args, key, 0);
            assert!(r.first_json()["verdict"].is_null(), "{}", r.what);
            ids.push(r.first_json()["id"].as_str().unwrap().to_owned());
        }
        let (primary, backup) = (ids[0].as_str(), ids[1].as_str());
        let select = ["select", "--workspace", ws.as_str(), "--provider", p];

        // The primary serves.
        let r = both(&select, 0);
        assert_eq!(r.first_json()["id"], primary, "{}", r.what);

        // The Test button, every verdict; `invalid` and `no_credits` bench the primary.
        for (scenario, _, verdict) in &scenarios {
            if !scenario.supported_by(provider) {
                continue;
            }
            server.set_scenario(scenario.clone());
            let mut args = vec!["test", "--workspace", ws.as_str(), primary];
            args.extend(flags_for(scenario));
            let r = both(&args, i32::from(verdict[0] != "valid"));
            let got = r.first_json()["verdict"].as_str().map(str::to_owned);
            assert!(
                got.as_deref().is_some_and(|v| verdict.contains(&v)),
                "{}: {got:?}",
                r.what
            );
        }
        let r = both(&select, 0);
        assert_eq!(r.first_json()["id"], backup, "{}", r.what);
        assert_eq!(r.first_json()["skipped"][0]["id"], primary, "{}", r.what);

        // Backup disabled too: no usable key, each with its reason.
        both(&["disable", "--workspace", &ws, backup], 0);
        let r = both(&select, 1);
        assert_eq!(
            r.first_json()["error"]["code"],
            "no_usable_key",
            "{}",
            r.what
        );
        assert_eq!(r.first_json()["skipped"].as_array().map(Vec::len), Some(2));

        // A good Test puts the primary back.
        server.set_scenario(Scenario::Valid);
        let mut args = vec!["test", "--workspace", ws.as_str(), primary];
        args.extend(flags);
        both(&args, 0);
        let r = both(&select, 0);
        assert_eq!(r.first_json()["id"], primary, "{}", r.what);
        assert_eq!(r.first_json()["skipped"].as_array().map(Vec::len), Some(0));

        // Errors: unknown key, bad timeout, empty workspace, unknown provider.
        both(&["test", "--workspace", &ws, "not-an-id"], 2);
        let mut args = vec!["test", "--workspace", ws.as_str(), primary];
        args.extend(["--timeout", "-1"]);
        both(&args, 2);
        both(&["select", "--workspace", "nobody", "--provider", p], 1);
        servers.push((provider, server));
    }
    both(
        &["select", "--workspace", "acme", "--provider", "nonesuch"],
        2,
    );

    // What the mocks received: the key only in the provider's auth header.
    for (provider, server) in &servers {
        let auth = auth_header(*provider);
        let requests = rt.block_on(server.requests());
        assert!(!requests.is_empty(), "{provider}: the mock was called");
        for r in requests {
            assert_clean("vault flow: request path", r.path.as_bytes());
            assert_clean(
                "vault flow: request query",
                r.query.unwrap_or_default().as_bytes(),
            );
            assert_clean("vault flow: request body", &r.body);
            for (name, value) in &r.headers {
                if !name.eq_ignore_ascii_case(auth) {
                    assert_clean(&format!("vault flow: header {name}"), value.as_bytes());
                }
            }
        }
    }
    assert!(env.assert_files_clean("vault flow") >= 1);
}

#[test]
fn vault_add_and_test_against_providers_quoting_the_key() {
    let env = Env::new().set("BYOK_MASTER_KEY", canary::master_key(2));
    let db = env.path("echo.db");
    let db = db.to_str().unwrap().to_owned();
    let rt = runtime();
    // Every form for the first key of each provider, two forms for the others.
    let mut plays: Vec<(Provider, KeyKind, String, &str, String)> = Vec::new();
    let shapes = Provider::ALL.into_iter().flat_map(|p| {
        p.spec()
            .kinds
            .iter()
            .filter(|k| **k != KeyKind::Admin)
            .map(move |k| (p, *k, canary::key(p, *k, 7)))
    });
    for (provider, kind, raw) in shapes {
        let first = !plays.iter().any(|(p, ..)| *p == provider);
        for (form, echoed) in echo_forms(&raw) {
            if first || matches!(form, "the whole key" | "one character short") {
                plays.push((provider, kind, raw.clone(), form, echoed));
            }
        }
    }
    for (n, (provider, kind, raw, form, echoed)) in plays.into_iter().enumerate() {
        let p = provider.as_str();
        // A wrong-key refusal the verdict table recognises, the key in every other field.
        let server = rt.block_on(echo_refusal(provider, form, &echoed).serve());
        let origin = server.uri();
        let ws = format!("echo-{p}-{}-{n}", kind.as_str());
        let vault = |rest: &[&str]| -> Vec<String> {
            let mut args = vec!["vault".to_owned(), "--vault".to_owned(), db.clone()];
            args.extend(rest.iter().map(|s| (*s).to_owned()));
            args
        };
        // Refused on add, plain and JSON, with the verdict.
        let mut add = vault(&[
            "add",
            "--workspace",
            &ws,
            "--provider",
            p,
            "--label",
            "echoed",
            "--base-url",
            &origin,
            "--timeout",
            "2",
        ]);
        add.extend(param_flags(provider).iter().map(|s| (*s).to_owned()));
        let r = env.both(&add.iter().map(String::as_str).collect::<Vec<_>>(), &raw, 1);
        assert!(r.stdout().contains("invalid"), "{}: {}", r.what, r.stdout());
        // Saved untested, then the Test button meets the same refusal.
        let mut untested = add.clone();
        untested.push("--no-test".into());
        untested.push("--json".into());
        let r = env.run(
            &untested.iter().map(String::as_str).collect::<Vec<_>>(),
            &raw,
        );
        assert_eq!(r.code(), Some(0), "{}: {:?}", r.what, r.out);
        let id = r.first_json()["id"].as_str().unwrap().to_owned();
        let test = vault(&[
            "test",
            "--workspace",
            &ws,
            &id,
            "--base-url",
            &origin,
            "--timeout",
            "2",
        ]);
        let r = env.both(&test.iter().map(String::as_str).collect::<Vec<_>>(), "", 1);
        assert_eq!(r.first_json()["verdict"], "invalid", "{}", r.what);
        // Benched: select says so, naming the key by its mask only.
        let select = vault(&["select", "--workspace", &ws, "--provider", p]);
        env.both(
            &select.iter().map(String::as_str).collect::<Vec<_>>(),
            "",
            1,
        );
    }
    assert!(env.assert_files_clean("vault echo") >= 1);
}

#[test]
fn test_command_against_providers_echoing_the_key_in_every_field() {
    let rt = runtime();
    let env = Env::new();
    let mut answered = 0;
    for provider in Provider::ALL {
        let raw = canary::key(provider, first_kind(provider), 3);
        // Each answer is two whole CLI runs. The first three providers meet every
        // form of the key in every field; the others every field of their own
        // dialect with the whole key (the forms test the scrubber, which is the
        // same for every dialect; the fields are each dialect's own).
        let whole = echo_forms(&raw)[0].0;
        let answers = echo_answers(provider, &raw)
            .into_iter()
            .filter(|a| Provider::ALL[..3].contains(&provider) || a.label.ends_with(whole));
        for answer in answers {
            let server = rt.block_on(answer.serve());
            let uri = server.uri();
            // Never valid: exit 1, text and JSON; both outputs searched by `run`.
            let mut args = vec!["test", "--base-url", &uri, "--timeout", "2"];
            args.extend(named(provider));
            // Azure's resource and deployment, a long-term Bedrock key's region.
            args.extend(param_flags(provider));
            let r = env.both(&args, &format!("{raw}\n"), 1);
            let report = r.first_json();
            answered += usize::from(report["http_status"] == answer.status);
            if let Some(code) = report["provider_code"].as_str() {
                assert!(
                    code.len() <= 64
                        && code
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)),
                    "{}: {code:?}",
                    answer.label
                );
            }
        }
    }
    assert!(answered > 200, "the echoing servers answered: {answered}");
    env.assert_files_clean("test echo");
}

/// `byok call`: successes, fallbacks, streams (whole and cut), budget denials, and
/// providers that quote the key back in every field of a refusal (each form of
/// `echo_forms`); every output and the vault and ledger files searched.
#[test]
fn call_against_mock_providers_and_providers_echoing_the_key() {
    use byok::keys::SecretString;
    use byok::store::{MasterKeySource, OpenMode, WorkspaceId};

    let rt = runtime();
    let master = canary::master_key(2);
    let env = Env::new().set("BYOK_MASTER_KEY", master.clone());
    let db = env.path("call.db");
    let db = db.to_str().unwrap().to_owned();
    let ledger = format!("sqlite:{}", env.path("ledger.db").display());
    let providers = Provider::ALL;
    let kind = first_kind;
    let model = byok_testkit::compat::priced_model;
    let forms = echo_forms(&canary::key(Provider::OpenAi, KeyKind::Project, 1)).len();
    // The workspaces and their keys, added through the facade in this process;
    // the vault is closed before any `byok` runs.
    rt.block_on(async {
        let vault = byok::Vault::builder()
            .store(byok::store::open(&db, OpenMode::Create).await.unwrap())
            .master_key(MasterKeySource::Base64(SecretString::from(master.clone())))
            .build()
            .await
            .unwrap();
        for p in providers {
            let add = |ws: String, n: usize, label: &str| {
                let ws = WorkspaceId::new(ws).unwrap();
                let new =
                    byok::NewKey::new(ws, SecretString::from(canary::key(p, kind(p), n)), label)
                        .provider(p);
                // The flags' parameters, `--param NAME=VALUE` pairs.
                let pairs = param_flags(p)
                    .iter()
                    .filter_map(|f| f.split_once('='))
                    .collect::<Vec<_>>();
                if pairs.is_empty() {
                    new
                } else {
                    new.params(byok::keys::params::Params::new(p, pairs).unwrap())
                }
            };
            vault
                .add(add(format!("m-{p}"), 0, "primary"))
                .await
                .unwrap();
            vault
                .add(add(format!("m-{p}"), 1, "backup").backup(1))
                .await
                .unwrap();
            for (i, mode) in echo_cases(p, forms) {
                vault
                    .add(add(format!("e-{p}-{i}-{mode}"), 1, "k"))
                    .await
                    .unwrap();
            }
        }
    });
    let call = |p: Provider, ws: &str, uri: &str, extra: &[&str]| -> Vec<String> {
        let model = model(p);
        let mut args: Vec<String> = [
            "call",
            "--vault",
            &db,
            "--ledger",
            &ledger,
            "--workspace",
            ws,
            "--provider",
            &p.to_string(),
            "--base-url",
            uri,
            "--model",
            &model,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let mut refused = 0;
    for p in providers {
        let ws = format!("m-{p}");
        let primary = canary::key(p, kind(p), 0);
        let mock = rt.block_on(
            byok::testkit::MockBuilder::new(p)
                .scenario_for_key(&primary, Scenario::InvalidKey)
                .start(),
        );
        let uri = mock.uri();
        let budget = |limit: &str| {
            let scope = format!("workspace:{ws}");
            let r = env.run(
                &[
                    "budget",
                    "--ledger",
                    &ledger,
                    "set",
                    "--scope",
                    &scope,
                    "--limit-usd",
                    limit,
                ],
                "",
            );
            assert_eq!(r.code(), Some(0), "{}: {:?}", r.what, r.out);
        };
        let args = |extra: &[&str]| call(p, &ws, &uri, extra);
        budget("5");
        // Falls back from the primary (benched), then passes over it.
        let r = env.both(&strs(&args(&[])), "Say hi", 0);
        assert_eq!(r.first_json()["type"], "answer", "{}", r.what);
        env.both(&strs(&args(&["--stream"])), "Say hi", 0);
        mock.set_scenario(Scenario::StreamCut { after: 2 });
        env.both(&strs(&args(&["--stream"])), "Say hi", 1);
        mock.set_scenario(Scenario::StreamError { after: 2 });
        let r = env.run(&strs(&args(&["--stream", "--json"])), "Say hi");
        assert_eq!(r.code(), Some(1), "{}: {:?}", r.what, r.out);
        mock.set_scenario(Scenario::Valid);
        budget("0.0001");
        env.both(
            &strs(&args(&["--max-output-tokens", "100000"])),
            "Say hi",
            1,
        );
        // Refusals quoting the key in every field but the verdict's: text mode
        // prints the provider's (scrubbed) message, JSON mode the error line.
        let key = canary::key(p, kind(p), 1);
        let all_forms = echo_forms(&key);
        for (i, mode) in echo_cases(p, forms) {
            let (form, echoed) = &all_forms[i];
            let answer = echo_refusal(p, form, echoed);
            let server = rt.block_on(answer.serve());
            {
                let json: &[&str] = if mode == "j" { &["--json"] } else { &[] };
                let ws = format!("e-{p}-{i}-{mode}");
                let mut extra = vec!["--no-fallback", "--timeout", "2"];
                extra.extend_from_slice(json);
                let r = env.run(&strs(&call(p, &ws, &server.uri(), &extra)), "Say hi");
                assert_eq!(
                    r.code(),
                    Some(1),
                    "{} ({}): {:?}",
                    r.what,
                    answer.label,
                    r.out
                );
                refused += 1;
            }
        }
    }
    let cases: usize = Provider::ALL
        .iter()
        .map(|&p| echo_cases(p, forms).len())
        .sum();
    assert_eq!(refused, cases);
    assert!(env.assert_files_clean("call") >= 2);
}

/// Which echoed refusals `byok call` meets for `p`, as (form, mode `t`ext or
/// `j`son): each process is a whole CLI run, so the 14 × 6 × 2 product would
/// take most of the suite's time for little more proof. The first three
/// providers: every form in both modes. The first provider of each other error
/// dialect (its own refusal shape, its own message field): every form, JSON mode
/// (which carries the provider's message too). A provider whose dialect is
/// already covered (Groq, DeepSeek, Together, Fireworks, Perplexity speak
/// OpenAI's): the whole key, both modes.
fn echo_cases(p: Provider, forms: usize) -> Vec<(usize, &'static str)> {
    if Provider::ALL[..3].contains(&p) {
        (0..forms).flat_map(|i| [(i, "t"), (i, "j")]).collect()
    } else if !dialect_covered_before(p) {
        (0..forms).map(|i| (i, "j")).collect()
    } else {
        vec![(0, "t"), (0, "j")]
    }
}

/// Whether a provider before `p` in `Provider::ALL` has `p`'s error dialect.
fn dialect_covered_before(p: Provider) -> bool {
    Provider::ALL
        .iter()
        .take_while(|&&q| q != p)
        .any(|q| q.spec().errors == p.spec().errors)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

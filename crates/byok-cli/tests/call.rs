//! Black-box tests of `byok call` against the testkit's mock providers: a SQLite
//! vault and a SQLite ledger in a temporary directory, keys added with
//! `byok vault add --no-test`, budgets set with `byok budget set`.

mod common;

use std::path::PathBuf;
use std::process::Output;

use byok::keys::{ExposeSecret, KeyKind, Provider, fake};
use byok::store::MasterKey;
use byok_testkit::canary::{Canary, Detector};
use byok_testkit::{MockAnthropic, MockBuilder, MockGemini, MockOpenAi, MockProvider, Scenario};
use common::{assert_exit, assert_no_leak, assert_refused, byok_cmd, json_lines, run, text};
use serde_json::Value;

const PROMPT: &str = "Say hi to the test suite";

fn kind(provider: Provider) -> KeyKind {
    match provider {
        Provider::OpenAi => KeyKind::Project,
        Provider::Anthropic => KeyKind::Api,
        other => other.spec().kinds[0],
    }
}

fn name(provider: Provider) -> &'static str {
    provider.as_str()
}

fn model(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi => "gpt-4o-mini",
        Provider::Anthropic => "claude-haiku-4-5",
        _ => "gemini-2.5-flash",
    }
}

fn builder(provider: Provider) -> MockBuilder {
    match provider {
        Provider::OpenAi => MockOpenAi::builder(),
        Provider::Anthropic => MockAnthropic::builder(),
        _ => MockGemini::builder(),
    }
}

/// A mock provider (its server runs on the testkit's runtime) and a runtime to start it.
struct Mock {
    _rt: tokio::runtime::Runtime,
    provider: MockProvider,
}

impl Mock {
    fn start(builder: MockBuilder) -> Mock {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let provider = rt.block_on(builder.start());
        Mock { _rt: rt, provider }
    }

    fn uri(&self) -> String {
        self.provider.uri()
    }

    /// The billable requests the mock saw (list-models probes left out).
    fn calls(&self) -> Vec<byok_testkit::RecordedRequest> {
        self.provider
            .requests_now()
            .into_iter()
            .filter(|r| r.endpoint.is_billable())
            .collect()
    }
}

/// A temporary directory (also the working directory) with a vault and a ledger.
struct Env {
    dir: tempfile::TempDir,
    master: String,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            master: MasterKey::generate()
                .unwrap()
                .to_base64()
                .expose_secret()
                .to_owned(),
        }
    }

    fn vault(&self) -> PathBuf {
        self.dir.path().join("vault.db")
    }

    fn ledger(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("ledger.db").display())
    }

    fn byok(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = byok_cmd();
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("BYOK_MASTER_KEY", &self.master);
        run(cmd, stdin)
    }

    /// `vault add --no-test` of `key`: its JSON view.
    fn add(&self, ws: &str, provider: Provider, key: &str, extra: &[&str]) -> Value {
        let vault = self.vault();
        let mut args = vec![
            "vault",
            "--vault",
            vault.to_str().unwrap(),
            "add",
            "--json",
            "--no-test",
            "--workspace",
            ws,
            "--provider",
            name(provider),
            "--label",
            "main",
        ];
        args.extend_from_slice(extra);
        let out = self.byok(&args, key);
        assert_exit(&out, 0);
        json_lines(&out).remove(0)
    }

    fn init(&self) {
        let vault = self.vault();
        assert_exit(
            &self.byok(&["vault", "--vault", vault.to_str().unwrap(), "init"], ""),
            0,
        );
    }

    fn budget(&self, scope: &str, limit: &str) {
        let ledger = self.ledger();
        let out = self.byok(
            &[
                "budget",
                "--ledger",
                &ledger,
                "set",
                "--scope",
                scope,
                "--limit-usd",
                limit,
            ],
            "",
        );
        assert_exit(&out, 0);
    }

    /// `byok call --workspace ws --provider P --base-url mock ARGS` with `stdin`.
    fn call(&self, mock: &Mock, provider: Provider, args: &[&str], stdin: &str) -> Output {
        let vault = self.vault();
        let ledger = self.ledger();
        let uri = mock.uri();
        let mut all = vec![
            "call",
            "--vault",
            vault.to_str().unwrap(),
            "--ledger",
            &ledger,
            "--workspace",
            "acme",
            "--provider",
            name(provider),
            "--base-url",
            &uri,
        ];
        all.extend_from_slice(args);
        self.byok(&all, stdin)
    }

    /// Every file of the directory, read whole, checked with `detector`; how many.
    fn assert_files_clean(&self, detector: &Detector) -> usize {
        let mut seen = 0;
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                detector.assert_clean(&path.display().to_string(), std::fs::read(&path).unwrap());
                seen += 1;
            }
        }
        seen
    }
}

/// The `--param` arguments a key of `provider` is added with (Azure's deployment
/// is the one the mock serves); none for a provider without parameters.
fn params(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::AzureOpenAi => &[
            "--param",
            "resource=contoso",
            "--param",
            "deployment=gpt-4o-mini",
        ],
        Provider::Bedrock => &["--param", "region=us-east-1"],
        _ => &[],
    }
}

/// One workspace `acme` with a $5 budget and `n` keys of `provider` (the first the primary).
fn setup(provider: Provider, n: u64) -> (Env, Vec<String>) {
    let env = Env::new();
    env.budget("workspace:acme", "5");
    let mut keys = Vec::new();
    for i in 0..n {
        let key = fake::key(provider, kind(provider), 300 + i);
        let order = (i).to_string();
        let mut extra: Vec<&str> = if i == 0 {
            vec![]
        } else {
            vec!["--role", "backup", "--order", &order]
        };
        extra.extend_from_slice(params(provider));
        env.add("acme", provider, &key, &extra);
        keys.push(key);
    }
    (env, keys)
}

fn summary(out: &Output) -> Value {
    let lines = json_lines(out);
    let last = lines.last().cloned().unwrap_or_default();
    assert_eq!(last["type"], "summary", "{}", text(out));
    last
}

/// The summary's cost is what the workspace's budget spent, exactly.
#[track_caller]
fn assert_settled(s: &Value) {
    assert_eq!(s["cost"]["label"], "estimated", "{s}");
    let usd = s["cost"]["usd"].as_str().expect("an amount");
    assert_ne!(usd, "0", "{s}");
    assert_eq!(s["budget"]["spent"], usd, "{s}");
    assert_eq!(s["budget"]["held"], "0", "{s}");
    assert_eq!(s["budget"]["budget"]["scope"], "workspace:acme");
}

const PROVIDERS: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Google];

#[test]
fn a_call_to_each_provider_prints_the_answer_then_one_summary() {
    for provider in PROVIDERS {
        let mock = Mock::start(builder(provider));
        let (env, keys) = setup(provider, 1);
        let out = env.call(
            &mock,
            provider,
            &["--model", model(provider), "--json"],
            PROMPT,
        );
        assert_exit(&out, 0);
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 2, "{}", text(&out));
        assert_eq!(lines[0]["type"], "answer");
        assert_eq!(lines[0]["status"], 200);
        assert!(lines[0]["body"].is_object());
        let answer = lines[0]["text"].as_str().unwrap().to_owned();
        assert!(answer.contains("mock"), "{provider:?}: {answer:?}");
        let s = &lines[1];
        for field in [
            "status",
            "model",
            "key",
            "fallbacks",
            "skipped",
            "usage",
            "cost",
            "attempts",
            "stream",
            "budget",
        ] {
            assert!(s.get(field).is_some(), "{provider:?}: no {field} in {s}");
        }
        assert_eq!(s["model"], model(provider));
        assert_eq!(s["attempts"], 1);
        assert_eq!(s["fallbacks"], Value::Array(vec![]));
        assert!(s["stream"].is_null());
        assert_eq!(s["key"]["role"], "primary");
        assert!(s["key"]["masked"].as_str().unwrap().contains('…'));
        assert!(s["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert_settled(s);
        assert_no_leak(&out, &keys);

        // The request the mock saw: the prompt as the user message, the model, a cap
        // for Anthropic (which requires one).
        let sent = mock.calls();
        assert_eq!(sent.len(), 1, "{provider:?}");
        let body = sent[0].body_json().unwrap();
        assert!(body.to_string().contains(PROMPT));
        match provider {
            Provider::Anthropic => assert_eq!(body["max_tokens"], 1024),
            Provider::Google => assert!(sent[0].path.contains(model(provider))),
            _ => assert_eq!(body["model"], model(provider)),
        }

        // Text mode: the same answer on stdout, the summary on stderr.
        let out = env.call(&mock, provider, &["--model", model(provider)], PROMPT);
        assert_exit(&out, 0);
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{answer}\n"));
        let err = String::from_utf8_lossy(&out.stderr);
        for part in [
            "key: ",
            "\"main\" (primary)",
            "usage: ",
            "cost: $",
            "(Estimated)",
            "budget workspace:acme: spent $",
        ] {
            assert!(err.contains(part), "{provider:?}: no {part:?} in {err}");
        }
        assert_no_leak(&out, &keys);
    }
}

#[test]
fn a_streamed_call_prints_chunks_as_they_come_and_settles_once() {
    for provider in PROVIDERS {
        let mock = Mock::start(builder(provider));
        let (env, keys) = setup(provider, 1);
        let whole = env.call(
            &mock,
            provider,
            &["--model", model(provider), "--json"],
            PROMPT,
        );
        assert_exit(&whole, 0);
        let answer = json_lines(&whole)[0]["text"].as_str().unwrap().to_owned();

        let out = env.call(
            &mock,
            provider,
            &["--model", model(provider), "--stream", "--json"],
            PROMPT,
        );
        assert_exit(&out, 0);
        let lines = json_lines(&out);
        let chunks: Vec<&Value> = lines.iter().filter(|l| l["type"] == "chunk").collect();
        assert!(chunks.len() > 1, "{provider:?}: {}", text(&out));
        let streamed: String = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert_eq!(streamed, answer, "{provider:?}");
        let s = summary(&out);
        assert_eq!(s["stream"]["complete"], true, "{s}");
        assert_eq!(s["stream"]["reported"], true, "{s}");
        assert_eq!(s["cost"]["label"], "estimated");
        // Two calls so far: the budget spent both, and holds nothing.
        assert_eq!(s["budget"]["held"], "0");
        assert_no_leak(&out, &keys);
        // The stream was asked for: in the body, or Gemini's streaming path.
        let sent = &mock.calls()[1];
        match provider {
            Provider::Google => assert!(sent.path.ends_with(":streamGenerateContent")),
            _ => assert_eq!(sent.body_json().unwrap()["stream"], true),
        }

        let out = env.call(
            &mock,
            provider,
            &["--model", model(provider), "--stream"],
            PROMPT,
        );
        assert_exit(&out, 0);
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{answer}\n"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cost: $"));
    }
}

#[test]
fn the_responses_api_streamed_and_not() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let (env, _) = setup(provider, 1);
    let args = ["--api", "responses", "--model", "gpt-4o-mini", "--json"];
    let out = env.call(&mock, provider, &args, PROMPT);
    assert_exit(&out, 0);
    let answer = json_lines(&out)[0]["text"].as_str().unwrap().to_owned();
    assert!(answer.contains("mock"), "{answer:?}");
    assert_settled(&summary(&out));
    assert!(mock.calls()[0].path.ends_with("/v1/responses"));
    let out = env.call(
        &mock,
        provider,
        &[&args[..], &["--stream"]].concat(),
        PROMPT,
    );
    assert_exit(&out, 0);
    let streamed: String = json_lines(&out)
        .iter()
        .filter(|l| l["type"] == "chunk")
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(streamed, answer);
}

#[test]
fn a_refused_primary_falls_back_and_the_summary_says_so() {
    let provider = Provider::OpenAi;
    let primary = fake::key(provider, kind(provider), 300);
    let mock = Mock::start(builder(provider).scenario_for_key(&primary, Scenario::InvalidKey));
    let (env, keys) = setup(provider, 2);
    assert_eq!(keys[0], primary);
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--json"],
        PROMPT,
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["key"]["role"], "backup", "{s}");
    assert_eq!(s["attempts"], 2);
    let fell = &s["fallbacks"][0];
    assert_eq!(fell["verdict"], "invalid", "{s}");
    assert_eq!(fell["status"], 401);
    assert_eq!(fell["key"]["role"], "primary");
    assert!(fell["provider_code"].is_string());
    assert_settled(&s);
    assert_no_leak(&out, &keys);
    // One request to the refused key, one to the backup.
    assert_eq!(mock.calls().len(), 2);

    // The primary is benched now: the next call passes over it (text mode says why).
    let out = env.call(&mock, provider, &["--model", "gpt-4o-mini"], PROMPT);
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passed over"), "{err}");
    assert_no_leak(&out, &keys);
}

#[test]
fn a_fallback_in_text_mode_and_no_fallback_refusing() {
    let provider = Provider::Anthropic;
    let primary = fake::key(provider, kind(provider), 300);
    let mock = Mock::start(builder(provider).scenario_for_key(&primary, Scenario::NoCredits));
    let (env, keys) = setup(provider, 2);
    let out = env.call(
        &mock,
        provider,
        &["--model", "claude-haiku-4-5", "--no-fallback", "--json"],
        PROMPT,
    );
    assert_refused(&out, 1, "provider_refused");
    assert_eq!(mock.calls().len(), 1);
    // The refused key is benched: the next call goes to the backup at once.
    let out = env.call(
        &mock,
        provider,
        &["--model", "claude-haiku-4-5", "--stream"],
        PROMPT,
    );
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passed over"), "{err}");
    assert!(err.contains("(backup)"), "{err}");
    assert_no_leak(&out, &keys);
}

#[test]
fn a_fallback_in_a_stream_happens_before_the_first_byte() {
    let provider = Provider::Google;
    let primary = fake::key(provider, kind(provider), 300);
    let mock = Mock::start(builder(provider).scenario_for_key(&primary, Scenario::InvalidKey));
    let (env, keys) = setup(provider, 2);
    let out = env.call(
        &mock,
        provider,
        &["--model", "gemini-2.5-flash", "--stream"],
        PROMPT,
    );
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fell back from"), "{err}");
    assert!(err.contains("invalid (HTTP 400"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("mock"));
    assert_no_leak(&out, &keys);
}

#[test]
fn a_denied_budget_sends_nothing() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let (env, keys) = setup(provider, 1);
    env.budget("workspace:acme", "0.0001");
    for extra in [&["--json"][..], &["--stream", "--json"][..]] {
        let args = [
            &["--model", "gpt-4o-mini", "--max-output-tokens", "100000"][..],
            extra,
        ]
        .concat();
        let out = env.call(&mock, provider, &args, PROMPT);
        assert_refused(&out, 1, "budget_denied");
        let line = &json_lines(&out)[0];
        assert!(line["error"]["hint"].is_string());
        assert_no_leak(&out, &keys);
    }
    assert!(
        mock.calls().is_empty(),
        "a denied call reached the provider"
    );
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--max-output-tokens", "100000"],
        PROMPT,
    );
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[budget_denied]"));
    // A project budget applies too (`--project`).
    env.budget("workspace:acme", "5");
    env.budget("project:site", "0.0001");
    let out = env.call(
        &mock,
        provider,
        &[
            "--model",
            "gpt-4o-mini",
            "--max-output-tokens",
            "100000",
            "--project",
            "site",
            "--json",
        ],
        PROMPT,
    );
    assert_refused(&out, 1, "budget_denied");
    assert!(mock.calls().is_empty());
}

#[test]
fn no_usable_key_fails_closed() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let env = Env::new();
    env.init();
    // Another workspace's key is never used.
    env.add(
        "other",
        provider,
        &fake::key(provider, kind(provider), 1),
        &[],
    );
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--json"],
        PROMPT,
    );
    assert_refused(&out, 1, "no_usable_key");
    // A disabled key is passed over, with the reason in text mode.
    let view = env.add(
        "acme",
        provider,
        &fake::key(provider, kind(provider), 2),
        &[],
    );
    let vault = env.vault();
    let id = view["id"].as_str().unwrap();
    let out = env.byok(
        &[
            "vault",
            "--vault",
            vault.to_str().unwrap(),
            "disable",
            "--workspace",
            "acme",
            id,
        ],
        "",
    );
    assert_exit(&out, 0);
    let out = env.call(&mock, provider, &["--model", "gpt-4o-mini"], PROMPT);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[no_usable_key]"), "{err}");
    assert!(err.contains("the key is disabled"), "{err}");
    assert!(mock.calls().is_empty());
}

#[test]
fn a_body_file_or_stdin_is_sent_as_given() {
    let provider = Provider::Anthropic;
    let mock = Mock::start(builder(provider));
    let (env, _) = setup(provider, 1);
    let body = serde_json::json!({
        "model": "claude-haiku-4-5", "max_tokens": 7, "system": "be brief",
        "messages": [{"role": "user", "content": PROMPT}],
    });
    let file = env.dir.path().join("body.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let out = env.call(
        &mock,
        provider,
        &["--body", file.to_str().unwrap(), "--json"],
        "",
    );
    assert_exit(&out, 0);
    let sent = mock.calls()[0].body_json().unwrap();
    // Not streamed, and the body did not mention `stream`: it goes exactly as given.
    assert_eq!(sent, body, "the body goes as given");
    assert_eq!(summary(&out)["model"], "claude-haiku-4-5");
    // `-`: the body on stdin, `--max-output-tokens` and `--stream` applied to it.
    let out = env.call(
        &mock,
        provider,
        &[
            "--body",
            "-",
            "--max-output-tokens",
            "3",
            "--stream",
            "--json",
        ],
        &body.to_string(),
    );
    assert_exit(&out, 0);
    let sent = mock.calls()[1].body_json().unwrap();
    assert_eq!(sent["max_tokens"], 3);
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["system"], "be brief");
    assert_eq!(summary(&out)["usage"]["output_tokens"], 3);
    // Not JSON: a usage error, nothing sent.
    let out = env.call(&mock, provider, &["--body", "-", "--json"], "not json");
    assert_refused(&out, 2, "invalid_body");
    assert_eq!(mock.calls().len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let (env, _) = setup(provider, 1);
    let out = env.call(&mock, provider, &["--json"], PROMPT);
    assert_refused(&out, 2, "missing_model");
    let out = env.call(
        &mock,
        provider,
        &["--api", "messages", "--model", "m", "--json"],
        PROMPT,
    );
    assert_refused(&out, 2, "api_mismatch");
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--json"],
        "  \n",
    );
    assert_refused(&out, 2, "missing_prompt");
    let out = env.byok(&["call", "--provider", "openai", "--json"], PROMPT);
    assert_refused(&out, 2, "invalid_arguments");
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--raw", "--json"],
        PROMPT,
    );
    assert_refused(&out, 2, "invalid_arguments");
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--timeout", "0", "--json"],
        PROMPT,
    );
    assert_refused(&out, 2, "invalid_timeout");
    assert!(mock.calls().is_empty());
}

#[test]
fn the_keys_default_model_serves_when_no_model_is_given() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let env = Env::new();
    let key = fake::key(provider, kind(provider), 9);
    env.add("acme", provider, &key, &["--default-model", "gpt-4o-mini"]);
    let out = env.call(&mock, provider, &["--json"], PROMPT);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["model"], "gpt-4o-mini");
    assert_eq!(mock.calls()[0].body_json().unwrap()["model"], "gpt-4o-mini");
    // No budget covers the workspace: `budget` is null, the call is still metered.
    assert!(summary(&out)["budget"].is_null());
}

#[test]
fn raw_prints_the_providers_bytes() {
    let provider = Provider::OpenAi;
    let mock = Mock::start(builder(provider));
    let (env, _) = setup(provider, 1);
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--raw"],
        PROMPT,
    );
    assert_exit(&out, 0);
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body["choices"].is_array());
    let out = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--raw", "--stream"],
        PROMPT,
    );
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("data: "), "{stdout}");
    assert!(stdout.contains("[DONE]"));
    // The usage byok asked for is hidden from the caller, who did not ask.
    assert!(!stdout.contains("\"usage\":{"), "{stdout}");
}

#[test]
fn a_broken_stream_is_settled_as_estimated_and_exits_1() {
    for (scenario, code) in [
        (Scenario::StreamCut { after: 3 }, None),
        (Scenario::StreamError { after: 3 }, Some("stream_error")),
    ] {
        let provider = Provider::Anthropic;
        let mock = Mock::start(builder(provider).scenario(scenario.clone()));
        let (env, keys) = setup(provider, 1);
        let out = env.call(
            &mock,
            provider,
            &["--model", "claude-haiku-4-5", "--stream", "--json"],
            PROMPT,
        );
        assert_exit(&out, 1);
        let lines = json_lines(&out);
        let s = lines
            .iter()
            .find(|l| l["type"] == "summary")
            .unwrap_or_else(|| panic!("{scenario:?}: no summary: {}", text(&out)));
        assert_eq!(s["stream"]["complete"], false, "{s}");
        assert_eq!(s["cost"]["label"], "estimated");
        assert!(s["usage"]["output_tokens"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["budget"]["spent"], s["cost"]["usd"]);
        assert_eq!(s["budget"]["held"], "0");
        let error = &lines.last().unwrap()["error"]["code"];
        match code {
            Some(c) => assert_eq!(error, c),
            None => assert!(
                error == "network_error" || error == "stream_incomplete",
                "{scenario:?}: {error}"
            ),
        }
        assert_no_leak(&out, &keys);
    }
}

/// The canary: calls that succeed, fall back, are refused, stream and break; no
/// form of any key in any output, the vault file or the ledger file.
#[test]
fn no_key_form_appears_in_any_output_or_file() {
    for provider in PROVIDERS {
        let primary = fake::key(provider, kind(provider), 300);
        let mock = Mock::start(builder(provider).scenario_for_key(&primary, Scenario::InvalidKey));
        let (env, keys) = setup(provider, 2);
        let detector: Detector = keys
            .iter()
            .enumerate()
            .map(|(n, k)| Canary::api_key(format!("key #{n}"), k))
            .collect();
        let m = model(provider);
        let runs: [&[&str]; 5] = [
            &["--model", m],
            &["--model", m, "--json"],
            &["--model", m, "--stream"],
            &["--model", m, "--stream", "--json", "--raw"],
            &["--model", m, "--no-fallback", "--json"],
        ];
        for args in runs {
            let out = env.call(&mock, provider, args, PROMPT);
            detector.assert_clean(&format!("{args:?}: stdout"), &out.stdout);
            detector.assert_clean(&format!("{args:?}: stderr"), &out.stderr);
        }
        mock.provider.set_scenario(Scenario::StreamCut { after: 2 });
        let out = env.call(
            &mock,
            provider,
            &["--model", m, "--stream", "--json"],
            PROMPT,
        );
        detector.assert_clean("cut stream: stdout", &out.stdout);
        detector.assert_clean("cut stream: stderr", &out.stderr);
        mock.provider.set_scenario(Scenario::InvalidKey);
        // The primary is benched, the backup refused: nothing is left.
        let out = env.call(&mock, provider, &["--model", m, "--json"], PROMPT);
        assert_refused(&out, 1, "no_usable_key");
        detector.assert_clean("every key refused", text(&out));
        assert!(env.assert_files_clean(&detector) >= 2);
    }
}

#[test]
fn every_other_provider_answers_and_settles_through_byok_call() {
    for provider in Provider::ALL.into_iter().skip(3) {
        let mock = Mock::start(MockBuilder::new(provider));
        let (env, keys) = setup(provider, 1);
        let model = byok_testkit::compat::priced_model(provider);
        let mut spent_before = 0.0;
        for stream in [false, true] {
            let mut args = vec![
                "--model",
                model.as_str(),
                "--max-output-tokens",
                "5",
                "--json",
            ];
            if stream {
                args.push("--stream");
            }
            let out = env.call(&mock, provider, &args, PROMPT);
            assert_exit(&out, 0);
            let lines = json_lines(&out);
            let text: String = if stream {
                lines
                    .iter()
                    .filter(|l| l["type"] == "chunk")
                    .map(|l| l["text"].as_str().unwrap().to_owned())
                    .collect()
            } else {
                lines[0]["text"].as_str().unwrap_or_default().to_owned()
            };
            let what = format!("{provider} stream={stream}");
            assert_eq!(
                text,
                "This is the mock answer",
                "{what}: {}",
                self::text(&out)
            );
            let s = summary(&out);
            let want = if provider.spec().reported_cost.is_some() {
                "verified_by_provider"
            } else {
                "estimated"
            };
            assert_eq!(s["cost"]["label"], want, "{what}: {s}");
            assert_eq!(
                s["usage"]["output_tokens"].as_u64().unwrap()
                    + s["usage"]["reasoning_tokens"].as_u64().unwrap(),
                5,
                "{what}"
            );
            let usd: f64 = s["cost"]["usd"].as_str().unwrap().parse().unwrap();
            assert!(usd > 0.0, "{what}: never $0");
            let spent: f64 = s["budget"]["spent"].as_str().unwrap().parse().unwrap();
            assert!(
                (spent - spent_before - usd).abs() < 1e-12,
                "{what}: settled = cost ({s})"
            );
            spent_before = spent;
            assert_eq!(s["budget"]["held"], "0", "{what}");
            assert_no_leak(&out, &keys);
        }
        // The key went in the provider's own auth header, never in the URL.
        for sent in mock.calls() {
            assert!(!sent.path.contains(&keys[0]));
            assert!(sent.query.as_deref().is_none_or(|q| !q.contains(&keys[0])));
        }
    }
}

#[test]
fn an_api_the_provider_does_not_serve_is_a_usage_error() {
    let provider = Provider::Groq;
    let mock = Mock::start(MockBuilder::new(provider));
    let (env, _) = setup(provider, 1);
    let out = env.call(
        &mock,
        provider,
        &["--model", "m", "--api", "messages", "--json"],
        PROMPT,
    );
    assert_exit(&out, 2);
    assert_eq!(json_lines(&out)[0]["error"]["code"], "api_mismatch");
    assert!(mock.calls().is_empty());
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_a_stream_settles_what_arrived_and_exits_130() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let provider = Provider::OpenAi;
    // Three events, then silence long enough that only the signal ends the call.
    let mock = Mock::start(builder(provider).scenario(Scenario::StreamStall {
        after: 3,
        stall: std::time::Duration::from_secs(60),
    }));
    let (env, keys) = setup(provider, 1);
    let (vault, ledger, uri) = (env.vault(), env.ledger(), mock.uri());
    let mut child = byok_cmd()
        .args([
            "call",
            "--vault",
            vault.to_str().unwrap(),
            "--ledger",
            &ledger,
            "--workspace",
            "acme",
            "--provider",
            name(provider),
            "--base-url",
            &uri,
            "--model",
            "gpt-4o-mini",
            "--stream",
            "--json",
        ])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env("BYOK_MASTER_KEY", &env.master)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run byok");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(PROMPT.as_bytes()).unwrap();
    drop(stdin);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let first: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(first["type"], "chunk", "the stream started: {first}");
    let started = std::time::Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{rest}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let last: Value = serde_json::from_str(rest.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {rest} / {stderr}"));
    assert_eq!(last["type"], "summary", "{last}");
    assert_eq!(last["interrupted"], true, "{last}");
    assert_eq!(last["stream"]["stopped"], "abandoned", "{last}");
    assert_eq!(last["stream"]["complete"], false, "{last}");
    // Settled with what arrived (estimated, never $0), and no hold is left.
    assert_settled(&last);
    for k in &keys {
        assert!(!rest.contains(k.as_str()) && !stderr.contains(k.as_str()));
    }
}

// ---- docs/DTOS.md's "byok call lines" against real lines.

const DTOS: &str = include_str!("../../../docs/DTOS.md");

/// The text after each `<!-- kind: name -->` marker, up to the next marker.
fn sections(kind: &str) -> Vec<(String, &'static str)> {
    let open = format!("<!-- {kind}: ");
    let mut out = Vec::new();
    let mut rest = DTOS;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let end = after.find(" -->").expect("a marker ends with ` -->`");
        let body = &after[end + 4..];
        let next = body.find("<!-- ").unwrap_or(body.len());
        out.push((after[..end].trim().to_owned(), &body[..next]));
        rest = body;
    }
    out
}

fn documented_example(name: &str) -> Value {
    let (_, body) = sections("cli-dto")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("docs/DTOS.md has no cli-dto {name}"));
    let json = &body[body.find("```json\n").unwrap() + 8..];
    serde_json::from_str(&json[..json.find("\n```").unwrap()]).unwrap()
}

fn documented_fields(name: &str) -> std::collections::BTreeSet<String> {
    let (_, body) = sections("cli-fields")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("docs/DTOS.md has no cli-fields {name}"));
    body.lines()
        .filter_map(|l| {
            let first = l.trim().strip_prefix('|')?.split('|').next()?.trim();
            Some(first.strip_prefix('`')?.strip_suffix('`')?.to_owned())
        })
        .collect()
}

/// Same field names at every level where both are objects (and in arrays' first items).
fn same_shape(doc: &Value, real: &Value, at: &str, diffs: &mut Vec<String>) {
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            let dk: std::collections::BTreeSet<&String> = d.keys().collect();
            let rk: std::collections::BTreeSet<&String> = r.keys().collect();
            if dk != rk {
                diffs.push(format!("{at}: documented {dk:?}, real {rk:?}"));
            }
            for (k, v) in d {
                if let Some(rv) = r.get(k) {
                    same_shape(v, rv, &format!("{at}.{k}"), diffs);
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if let (Some(d0), Some(r0)) = (d.first(), r.first()) {
                same_shape(d0, r0, &format!("{at}[0]"), diffs);
            }
        }
        _ => {}
    }
}

#[test]
fn the_documented_lines_are_the_real_ones() {
    let provider = Provider::OpenAi;
    let primary = fake::key(provider, kind(provider), 300);
    let mock = Mock::start(builder(provider).scenario_for_key(&primary, Scenario::InvalidKey));
    let (env, _) = setup(provider, 2);
    let streamed = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--stream", "--json"],
        PROMPT,
    );
    assert_exit(&streamed, 0);
    let whole = env.call(
        &mock,
        provider,
        &["--model", "gpt-4o-mini", "--json"],
        PROMPT,
    );
    assert_exit(&whole, 0);
    let mut real = json_lines(&streamed);
    real.extend(json_lines(&whole));
    let mut diffs = Vec::new();
    for (name, ty) in [
        ("call chunk", "chunk"),
        ("call answer", "answer"),
        ("call summary", "summary"),
    ] {
        let line = real
            .iter()
            .find(|l| {
                l["type"] == ty
                    && (ty != "summary" || !l["fallbacks"].as_array().unwrap().is_empty())
            })
            .unwrap_or_else(|| panic!("no real {ty} line"));
        let top: std::collections::BTreeSet<String> =
            line.as_object().unwrap().keys().cloned().collect();
        let table: std::collections::BTreeSet<String> = documented_fields(name)
            .into_iter()
            .filter(|f| !f.contains('.'))
            .collect();
        assert_eq!(table, top, "docs/DTOS.md cli-fields {name} vs a real line");
        let doc = documented_example(name);
        // The answer's body is the provider's own: only its type is ours.
        let (mut doc, mut line) = (doc, line.clone());
        if ty == "answer" {
            doc["body"] = Value::Null;
            line["body"] = Value::Null;
        }
        same_shape(&doc, &line, name, &mut diffs);
    }
    // The summary of a stream with its `stream` object, too.
    let stream_summary = summary(&streamed);
    same_shape(
        &documented_example("call summary")["stream"],
        &stream_summary["stream"],
        "stream",
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "docs/DTOS.md is out of date:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn a_stalled_stream_is_cut_at_the_idle_timeout() {
    let provider = Provider::Anthropic;
    let mock = Mock::start(builder(provider).scenario(Scenario::StreamStall {
        after: 3,
        stall: std::time::Duration::from_secs(30),
    }));
    let (env, keys) = setup(provider, 1);
    let started = std::time::Instant::now();
    let out = env.call(
        &mock,
        provider,
        &[
            "--model",
            "claude-haiku-4-5",
            "--stream",
            "--json",
            "--idle-timeout",
            "0.3",
        ],
        PROMPT,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_exit(&out, 1);
    let lines = json_lines(&out);
    let s = lines
        .iter()
        .find(|l| l["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {}", text(&out)));
    assert_eq!(s["stream"]["stopped"], "stream_stalled", "{s}");
    assert_settled(s);
    assert_eq!(lines.last().unwrap()["error"]["code"], "stream_stalled");
    assert_no_leak(&out, &keys);
}

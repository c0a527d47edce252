//! `byok mock serve`: the real binary, driven over HTTP as a test in another
//! language would drive it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use byok::keys::{ApiKey, KeyKind, Provider, fake};
use byok_testkit::Scenario;
use byok_testkit::canary::{Canary, Detector};
use common::{assert_refused, byok, byok_cmd};
use serde_json::{Value, json};

/// A running `byok mock serve`, killed if a test fails before stopping it.
struct Served {
    child: Child,
    /// One parsed stdout line per provider.
    lines: Vec<Value>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// `byok mock serve --json args`, once it printed `providers` lines.
    fn start(args: &[&str], providers: usize) -> Served {
        let mut child = byok_cmd()
            .args(["mock", "serve", "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run byok mock serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let lines = (0..providers)
            .map(|_| {
                let mut line = String::new();
                stdout.read_line(&mut line).expect("a line");
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
            })
            .collect();
        Served {
            child,
            lines,
            _stdout: stdout,
        }
    }

    fn line(&self, provider: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["provider"] == provider)
            .unwrap_or_else(|| panic!("no {provider} line in {:?}", self.lines))
    }

    fn base(&self, provider: &str) -> String {
        self.line(provider)["base_url"]
            .as_str()
            .expect("base_url")
            .to_owned()
    }

    fn control(&self) -> String {
        self.lines[0]["control_url"]
            .as_str()
            .expect("control_url")
            .to_owned()
    }

    /// Send `signal` (`TERM`, `INT`) and wait for the exit.
    fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .expect("run kill");
        assert!(sent.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("byok mock serve did not stop on SIG{signal}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, header block (lowercase), body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection.
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

fn put_scenario(control: &str, path: &str, scenario: Value) -> Answer {
    http(
        "PUT",
        &format!("{control}{path}"),
        &[],
        &scenario.to_string(),
    )
}

fn openai_key() -> String {
    fake::key(Provider::OpenAi, KeyKind::Project, 1)
}

fn chat(base: &str, key: &str, content: &str) -> Answer {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]});
    http(
        "POST",
        &format!("{base}/v1/chat/completions"),
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        &body.to_string(),
    )
}

#[test]
fn one_line_per_provider_then_scenarios_switch_through_the_control_api() {
    let served = Served::start(&[], 3);
    let providers: Vec<&str> = served
        .lines
        .iter()
        .map(|l| l["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["openai", "anthropic", "google"]);
    for line in &served.lines {
        assert_eq!(line["scenario"], "valid");
        assert_eq!(line["control_url"], served.lines[0]["control_url"]);
        assert!(
            line["base_url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    let (base, control, key) = (served.base("openai"), served.control(), openai_key());
    let auth = format!("Bearer {key}");
    let models = || {
        http(
            "GET",
            &format!("{base}/v1/models"),
            &[("authorization", &auth)],
            "",
        )
    };
    assert_eq!(models().status, 200);

    let set = put_scenario(
        &control,
        "/providers/openai/scenario",
        json!({"name": "invalid_key"}),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["scenario"], json!({"name": "invalid_key"}));
    let refused = models();
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "invalid_api_key");
    // The answer quotes a masked key, never the key.
    assert!(!refused.body.contains(&key));

    put_scenario(
        &control,
        "/providers/openai/scenario",
        json!({"name": "no_credits"}),
    );
    assert_eq!(models().status, 200, "listing models is free");
    let dry = chat(&base, &key, "hi");
    assert_eq!(dry.status, 429);
    assert_eq!(dry.json()["error"]["code"], "insufficient_quota");

    let limited = json!({"name": "rate_limited", "times": 2, "retry_after_ms": 30});
    let set = put_scenario(&control, "/providers/openai/scenario", limited.clone());
    assert_eq!(set.json()["scenario"], limited);
    for _ in 0..2 {
        let answer = chat(&base, &key, "hi");
        assert_eq!(answer.status, 429);
        assert_eq!(answer.header("retry-after-ms"), Some("30"));
    }
    assert_eq!(chat(&base, &key, "hi").status, 200);

    // Every mock at once; Anthropic plays it too.
    let all = put_scenario(
        &control,
        "/scenario",
        json!({"name": "outage", "times": 1, "status": 503}),
    );
    assert_eq!(all.status, 200, "{}", all.body);
    let anthropic = http(
        "GET",
        &format!("{}/v1/models", served.base("anthropic")),
        &[
            (
                "x-api-key",
                &fake::key(Provider::Anthropic, KeyKind::Api, 1),
            ),
            ("anthropic-version", "2023-06-01"),
        ],
        "",
    );
    assert_eq!(anthropic.status, 503);
    assert_eq!(served.stop("TERM").code(), Some(0));
}

#[test]
fn recorded_requests_show_masks_never_keys() {
    let served = Served::start(&[], 3);
    let control = served.control();
    let openai = openai_key();
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 2);
    let google = fake::key(Provider::Google, KeyKind::Standard, 3);
    chat(
        &served.base("openai"),
        &openai,
        &format!("my key is {openai}, glued{openai}x"),
    );
    http(
        "GET",
        &format!("{}/v1/models", served.base("anthropic")),
        &[
            ("x-api-key", &anthropic),
            ("anthropic-version", "2023-06-01"),
            ("x-note", &anthropic),
        ],
        "",
    );
    http(
        "GET",
        &format!(
            "{}/v1beta/models?key={google}&pageSize=5",
            served.base("google")
        ),
        &[],
        "",
    );
    http(
        "GET",
        &format!("{}/v1beta/models", served.base("google")),
        &[("x-goog-api-key", &google)],
        "",
    );

    let detector = Detector::new([
        Canary::api_key("openai key", &openai),
        Canary::api_key("anthropic key", &anthropic),
        Canary::api_key("google key", &google),
    ]);
    let mask = |key: &str| ApiKey::parse(key).unwrap().masked();
    let read = |p: &str| {
        let answer = http("GET", &format!("{control}/providers/{p}/requests"), &[], "");
        assert_eq!(answer.status, 200, "{}", answer.body);
        detector.assert_clean(p, answer.body.as_bytes());
        answer.json()["requests"].as_array().unwrap().clone()
    };
    let sent = read("openai");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["method"], "POST");
    assert_eq!(sent[0]["path"], "/v1/chat/completions");
    assert_eq!(sent[0]["endpoint"], "billable");
    assert_eq!(
        sent[0]["headers"]["authorization"],
        format!("Bearer {}", mask(&openai))
    );
    assert_eq!(sent[0]["json"]["model"], "gpt-4o-mini");
    assert!(
        sent[0]["body"]
            .as_str()
            .unwrap()
            .contains("\"model\":\"gpt-4o-mini\"")
    );

    let sent = read("anthropic");
    assert_eq!(sent[0]["headers"]["x-api-key"], mask(&anthropic));
    assert_eq!(sent[0]["endpoint"], "list_models");

    let sent = read("gemini");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["query"],
        format!("key={}&pageSize=5", mask(&google))
    );
    assert_eq!(sent[1]["headers"]["x-goog-api-key"], mask(&google));
    assert_eq!(sent[1]["query"], Value::Null);

    // The providers' summaries count what was sent.
    let all = http("GET", &format!("{control}/providers"), &[], "").json();
    assert_eq!(all["providers"][2]["counts"]["list_models"], 2);
    assert_eq!(all["providers"][0]["counts"]["billable"], 1);
}

#[test]
fn reset_forgets_requests_and_restores_the_starting_scenario() {
    let served = Served::start(&["--provider", "openai", "--scenario", "no_credits"], 1);
    assert_eq!(served.lines[0]["scenario"], "no_credits");
    let (base, control, key) = (served.base("openai"), served.control(), openai_key());
    assert_eq!(chat(&base, &key, "hi").status, 429);
    let limit_once = || {
        let path = "/providers/openai/scenario";
        put_scenario(&control, path, json!({"name": "rate_limited", "times": 1}))
    };
    limit_once();
    assert_eq!(chat(&base, &key, "hi").status, 429);
    assert_eq!(chat(&base, &key, "hi").status, 200);

    let reset = http("POST", &format!("{control}/reset"), &[], "");
    assert_eq!(reset.status, 200);
    let openai = &reset.json()["providers"][0];
    assert_eq!(openai["scenario"], json!({"name": "no_credits"}));
    assert_eq!(openai["counts"]["total"], 0);
    let requests = format!("{control}/providers/openai/requests");
    assert_eq!(
        http("GET", &requests, &[], "").json()["requests"],
        json!([])
    );
    assert_eq!(chat(&base, &key, "hi").status, 429);

    // One provider's reset: the same for that mock alone.
    limit_once();
    assert_eq!(chat(&base, &key, "hi").status, 429);
    let one = http(
        "POST",
        &format!("{control}/providers/openai/reset"),
        &[],
        "",
    );
    assert_eq!(one.json()["counts"]["total"], 0);
    assert_eq!(one.json()["scenario"], json!({"name": "no_credits"}));
    assert_eq!(chat(&base, &key, "hi").status, 429);
    let after = http("GET", &format!("{control}/providers/openai"), &[], "").json();
    assert_eq!(after["counts"]["billable"], 1);
}

#[test]
fn the_control_api_refuses_with_stable_codes() {
    let served = Served::start(&["--provider", "openai", "--provider", "gemini"], 2);
    let control = served.control();
    let refused = |answer: Answer, status: u16, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], code, "{}", answer.body);
        assert!(
            error["message"].is_string() && error["hint"].is_string(),
            "{error}"
        );
        error["hint"].as_str().unwrap().to_owned()
    };
    // Each body PUT at a provider's scenario: the refusal and what its hint names.
    #[rustfmt::skip]
    let cases = [
        ("openai", json!({"name": "nope"}), 400, "unknown_scenario", "rate_limited"),
        ("nonesuch", json!({"name": "valid"}), 404, "unknown_provider", "anthropic"),
        ("anthropic", json!({"name": "valid"}), 404, "provider_not_served", "openai, google"),
        ("openai", json!({"name": "tier_spend_cap"}), 422, "unsupported_scenario", "anthropic"),
        ("openai", json!({"name": "valid", "times": 2}), 400, "invalid_parameter", "slow {ms}"),
        ("openai", json!({"name": "outage", "status": 418}), 400, "invalid_parameter", "529"),
        ("openai", json!({"name": "valid", "tims": 2}), 400, "invalid_json", "GET /scenarios"),
    ];
    for (provider, body, status, code, named) in cases {
        let path = format!("/providers/{provider}/scenario");
        let hint = refused(put_scenario(&control, &path, body), status, code);
        assert!(hint.contains(named), "{code}: {hint}");
    }
    // One provider lacking it refuses the whole switch, and changes nothing.
    refused(
        put_scenario(&control, "/scenario", json!({"name": "daily_quota"})),
        422,
        "unsupported_scenario",
    );
    let openai = http("GET", &format!("{control}/providers/openai"), &[], "").json();
    assert_eq!(openai["scenario"], json!({"name": "valid"}));
    refused(
        http(
            "PUT",
            &format!("{control}/providers/openai/scenario"),
            &[],
            "{not json",
        ),
        400,
        "invalid_json",
    );
    refused(
        http("GET", &format!("{control}/nowhere"), &[], ""),
        404,
        "not_found",
    );
    refused(
        http("DELETE", &format!("{control}/reset"), &[], ""),
        405,
        "method_not_allowed",
    );
    // Gemini is Google's: both names reach it.
    let gemini = put_scenario(
        &control,
        "/providers/gemini/scenario",
        json!({"name": "daily_quota"}),
    );
    assert_eq!(gemini.json()["provider"], "google");
}

#[test]
fn the_scenario_list_names_every_catalogue_scenario_and_who_plays_it() {
    let served = Served::start(&["--provider", "anthropic"], 1);
    let list = http("GET", &format!("{}/scenarios", served.control()), &[], "").json();
    let names: Vec<&str> = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, catalogue_names());
    let limited = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rate_limited")
        .unwrap();
    // Every provider plays a rate limit.
    let every: Vec<&str> = byok::keys::Provider::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(
        *limited,
        json!({"name": "rate_limited", "times": 1, "retry_after_ms": 10, "providers": every})
    );
}

#[test]
fn unknown_names_on_the_command_line_exit_2_with_the_valid_ones() {
    let out = byok(&["mock", "serve", "--json", "--scenario", "nope"], "");
    assert_refused(&out, 2, "unknown_scenario");
    let hint = common::json_line(&out)["error"]["hint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        hint.contains("invalid_key") && hint.contains("garbage"),
        "{hint}"
    );
    let out = byok(&["mock", "serve", "--json", "--provider", "nonesuch"], "");
    assert_refused(&out, 2, "unknown_provider");
    let out = byok(
        &["mock", "serve", "--json", "--scenario", "tier_spend_cap"],
        "",
    );
    assert_refused(&out, 2, "unsupported_scenario");
    // Without --json: a readable error on stderr.
    let out = byok(&["mock", "serve", "--scenario", "nope"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error[unknown_scenario]:") && err.contains("hint: "),
        "{err}"
    );
}

#[test]
fn stops_with_exit_0_on_sigterm_and_sigint_and_releases_its_ports() {
    // --port: the control API's port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let served = Served::start(&["--provider", "openai", "--port", &port.to_string()], 1);
    let control = served.control();
    assert_eq!(control, format!("http://127.0.0.1:{port}"));
    assert_eq!(
        http("GET", &format!("{control}/providers"), &[], "").status,
        200
    );
    // A request held open by `hang` does not keep it from stopping.
    put_scenario(&control, "/scenario", json!({"name": "hang"}));
    let base = served.base("openai");
    let mut held = TcpStream::connect(base.strip_prefix("http://").unwrap()).unwrap();
    let auth = format!("authorization: Bearer {}", openai_key());
    let request = format!("GET /v1/models HTTP/1.1\r\nhost: x\r\n{auth}\r\n\r\n");
    held.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(served.stop("TERM").code(), Some(0));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the control port is released"
    );
    // The port is free again: a new server takes it.
    let again = Served::start(&["--provider", "openai", "--port", &port.to_string()], 1);
    assert_eq!(again.control(), control);
    assert_eq!(again.stop("INT").code(), Some(0));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = byok(&["mock", "serve", "--json", "--port", &port], "");
    assert_refused(&out, 2, "port_unavailable");
}

#[test]
fn text_lines_name_provider_base_url_scenario_and_control_url() {
    let mut child = byok_cmd()
        .args([
            "mock",
            "serve",
            "--provider",
            "google",
            "--scenario",
            "slow",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run byok mock serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "google", "{line}");
    assert!(words[1].starts_with("http://127.0.0.1:"), "{line}");
    assert_eq!(&words[2..4], ["scenario", "slow"], "{line}");
    assert_eq!(words[4], "control", "{line}");
}

fn catalogue_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    for s in Scenario::catalogue() {
        if !names.contains(&s.name()) {
            names.push(s.name());
        }
    }
    names
}

#[test]
fn docs_testing_lists_exactly_the_catalogue_scenarios() {
    let doc = include_str!("../../../docs/TESTING.md");
    let start = doc
        .find("<!-- scenarios -->")
        .expect("the scenarios table marker");
    let end = doc
        .find("<!-- /scenarios -->")
        .expect("the table's end marker");
    let listed: Vec<&str> = doc[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(listed, catalogue_names());
}

/// A port N with the `count` ports from N all free right now.
fn free_ports(count: u16) -> u16 {
    for _ in 0..200 {
        let n = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if n > 65535 - count {
            continue;
        }
        let all_free =
            (n..n + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return n;
        }
    }
    panic!("no {count} consecutive free ports");
}

#[test]
fn port_fixes_the_control_api_and_the_mocks_after_it() {
    // With no --provider every provider is served: the control API on N, then one
    // mock a port, in `Provider::ALL` order.
    let count = Provider::ALL.len();
    let n = free_ports(u16::try_from(count + 1).unwrap());
    let served = Served::start(&["--port", &n.to_string()], count);
    assert_eq!(served.control(), format!("http://127.0.0.1:{n}"));
    for (i, provider) in Provider::ALL.iter().enumerate() {
        let port = usize::from(n) + 1 + i;
        assert_eq!(
            served.lines[i]["provider"],
            provider.as_str(),
            "line {i} is {provider}"
        );
        assert_eq!(
            served.base(provider.as_str()),
            format!("http://127.0.0.1:{port}")
        );
    }
    // Taken ports are refused with a stable code.
    let out = Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(["mock", "serve", "--json", "--port", &n.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["code"], "port_unavailable");
}

#[test]
fn usage_extras_go_with_a_scenario_and_reset_clears_them() {
    let served = Served::start(&["--provider", "openai"], 1);
    let control = served.control();
    let answer = put_scenario(
        &control,
        "/providers/openai/scenario",
        json!({"name": "valid", "cached_tokens": 4, "reasoning_tokens": 2}),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json()["usage"],
        json!({"cached_tokens": 4, "reasoning_tokens": 2, "cache_write_tokens": 0})
    );
    let usage = chat(
        &served.base("openai"),
        &openai_key(),
        "The quick brown fox jumps over the lazy dog",
    )
    .json()["usage"]
        .clone();
    assert_eq!(usage["prompt_tokens"], 9);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(
        usage["completion_tokens"], 14,
        "12 words and 2 reasoning tokens"
    );
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 2);
    let reset = http(
        "POST",
        &format!("{control}/providers/openai/reset"),
        &[],
        "",
    );
    assert_eq!(reset.json()["usage"]["cached_tokens"], 0);
    // Stream scenarios take `after` (and `stall_ms`), and nothing else.
    let stall = put_scenario(
        &control,
        "/scenario",
        json!({"name": "stream_stall", "after": 2, "stall_ms": 50}),
    );
    assert_eq!(
        stall.json()["providers"][0]["scenario"],
        json!({"name": "stream_stall", "after": 2, "stall_ms": 50})
    );
    let refused = put_scenario(
        &control,
        "/scenario",
        json!({"name": "stream_cut", "ms": 5}),
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], "invalid_parameter");
}

//! Black-box tests of `byok cost`, `byok estimate` and `byok budget`.

mod common;

use std::process::Output;

use common::{byok, json_line};
use serde_json::json;

/// A budget ledger in a temporary SQLite file.
struct Ledger {
    _dir: tempfile::TempDir,
    url: String,
}

impl Ledger {
    fn new() -> Ledger {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
        Ledger { _dir: dir, url }
    }

    /// `byok budget --ledger URL ARGS...`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["budget", "--ledger", &self.url];
        all.extend_from_slice(args);
        byok(&all, "")
    }
}

#[test]
fn cost_from_token_flags() {
    let out = byok(
        &[
            "cost",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1000000",
            "--output-tokens",
            "1000000",
            "--json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_line(&out),
        json!({"model": "gpt-4o", "usd": "12.5", "label": "estimated", "tier": "base"})
    );
}

#[test]
fn cost_from_a_response_body_on_stdin_with_cache_and_tier() {
    let body = r#"{"type":"message","usage":{"input_tokens":150001,"output_tokens":1000,
        "cache_read_input_tokens":50000}}"#;
    let out = byok(
        &[
            "cost",
            "--model",
            "claude-sonnet-4-5",
            "--usage",
            "-",
            "--json",
        ],
        body,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_line(&out),
        json!({"model": "claude-sonnet-4-5", "usd": "0.952506", "label": "estimated", "tier": "above_200k_tokens"})
    );
    let human = byok(
        &["cost", "--model", "claude-sonnet-4-5", "--usage", "-"],
        body,
    );
    assert_eq!(
        String::from_utf8_lossy(&human.stdout).trim(),
        "claude-sonnet-4-5: $0.952506 (Estimated, tier above_200k_tokens)"
    );
}

#[test]
fn cost_of_an_unknown_model_is_unavailable_not_zero() {
    let out = byok(
        &[
            "cost",
            "--model",
            "my-private-model",
            "--input-tokens",
            "5",
            "--output-tokens",
            "5",
            "--json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_line(&out),
        json!({"model": "my-private-model", "usd": null, "label": "unavailable", "tier": null})
    );
}

#[test]
fn bad_usage_exits_2_with_a_code() {
    let out = byok(
        &["cost", "--model", "gpt-4o", "--usage", "-", "--json"],
        r#"{"prompt_tokens":-5,"completion_tokens":1}"#,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_line(&out)["error"]["code"], "negative_token_count");
    let out = byok(&["cost", "--model", "gpt-4o", "--usage", "-"], "not json");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[missing_usage]"));
    let out = byok(&["cost", "--model", "gpt-4o", "--json"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_line(&out)["error"]["code"], "missing_usage");
    let out = byok(
        &[
            "cost",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "x",
            "--output-tokens",
            "1",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

#[test]
fn estimate_counts_openai_prompts_exactly() {
    let out = byok(
        &[
            "estimate",
            "--model",
            "gpt-4o",
            "--max-output-tokens",
            "10",
            "--json",
        ],
        "hello world",
    );
    assert_eq!(out.status.code(), Some(0));
    // 2 tokens × $2.50/1M + 10 × $10/1M
    assert_eq!(
        json_line(&out),
        json!({"model": "gpt-4o", "input_tokens": 2, "counting": "o200k", "output_tokens": 10,
               "usd": "0.000105", "label": "estimated", "tier": "base"})
    );
    let claude = json_line(&byok(
        &["estimate", "--model", "claude-sonnet-4-5", "--json"],
        "hello world",
    ));
    assert_eq!(claude["counting"], "conservative");
    assert_eq!(claude["output_tokens"], 64000);
}

#[test]
fn budget_set_reserve_settle_release_status() {
    let ledger = Ledger::new();
    let set = ledger.run(&[
        "set",
        "--scope",
        "project:p1",
        "--limit-usd",
        "1",
        "--period",
        "total",
        "--alerts",
        "50,100",
        "--json",
    ]);
    assert_eq!(
        set.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    let r = json_line(&ledger.run(&["reserve", "--scope", "project:p1", "--usd", "0.6", "--json"]));
    assert_eq!(r["reserved"], true);
    let id = r["id"].as_str().unwrap().to_owned();

    let denied = ledger.run(&["reserve", "--scope", "project:p1", "--usd", "0.5", "--json"]);
    assert_eq!(
        denied.status.code(),
        Some(1),
        "a denial is a negative result"
    );
    let d = json_line(&denied);
    assert_eq!(d["denied"]["budget"], "project:p1");
    assert_eq!(
        (
            d["denied"]["limit"].clone(),
            d["denied"]["reserved"].clone(),
            d["denied"]["needed"].clone()
        ),
        (json!("1"), json!("0.6"), json!("0.5"))
    );

    let s = json_line(&ledger.run(&["settle", "--id", &id, "--usd", "0.55", "--json"]));
    assert_eq!(s["settled"], true);
    assert_eq!(s["alerts"][0]["percent"], 50);
    let again = json_line(&ledger.run(&["settle", "--id", &id, "--usd", "0.55", "--json"]));
    assert_eq!(again["already_settled"], true);

    let st = json_line(&ledger.run(&["status", "--scope", "project:p1", "--json"]));
    assert_eq!(
        (
            st["spent"].clone(),
            st["held"].clone(),
            st["remaining"].clone()
        ),
        (json!("0.55"), json!("0"), json!("0.45"))
    );
    assert_eq!(st["spent_by_label"], json!({"estimated": "0.55"}));

    // Its daily history: today's entry holds the call, with its label.
    let h = json_line(&ledger.run(&["history", "--scope", "project:p1", "--days", "3", "--json"]));
    assert_eq!(h["scope"], "project:p1");
    let days = h["days"].as_array().unwrap();
    assert_eq!(days.len(), 3, "{h}");
    assert_eq!(
        (days[2]["calls"].clone(), days[2]["spent"].clone()),
        (json!(1), json!("0.55")),
        "{h}"
    );
    assert_eq!(days[2]["calls_by_label"], json!({"estimated": 1}));
    let text = ledger.run(&["history", "--scope", "project:p1", "--days", "2"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1 calls  $0.55  Estimated: $0.55 (1)"),
        "{text}"
    );
    for (args, code) in [
        (
            vec!["history", "--scope", "project:p1", "--days", "0", "--json"],
            "invalid_history",
        ),
        (
            vec!["history", "--scope", "project:none", "--json"],
            "budget_not_found",
        ),
    ] {
        let out = ledger.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(json_line(&out)["error"]["code"], code, "{args:?}");
    }

    let rel = ledger.run(&["release", "--id", &id, "--json"]);
    assert_eq!(rel.status.code(), Some(2));
    assert_eq!(json_line(&rel)["error"]["code"], "reservation_settled");

    let r2 = json_line(&ledger.run(&[
        "reserve",
        "--scope",
        "project:p1",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "100",
        "--max-output-tokens",
        "100",
        "--json",
    ]));
    assert_eq!(r2["usd"], "0.00125");
    let rel = json_line(&ledger.run(&["release", "--id", r2["id"].as_str().unwrap(), "--json"]));
    assert_eq!(rel["released"], true);
}

/// A TTL of 0 once let every hold lapse at once ($15 spent on a $5 limit);
/// a settle past the limit is now reported.
#[test]
fn short_ttls_are_refused_and_settles_past_the_limit_are_reported() {
    let ledger = Ledger::new();
    let set = ledger.run(&[
        "set",
        "--scope",
        "project:ttl",
        "--limit-usd",
        "5",
        "--json",
    ]);
    assert_eq!(set.status.code(), Some(0));
    for ttl in ["0", "59"] {
        for json in [true, false] {
            let mut args = vec![
                "reserve",
                "--scope",
                "project:ttl",
                "--usd",
                "5",
                "--ttl-secs",
                ttl,
            ];
            if json {
                args.push("--json");
            }
            let out = ledger.run(&args);
            assert_eq!(out.status.code(), Some(2), "TTL {ttl}");
            if json {
                let e = json_line(&out);
                assert_eq!(e["error"]["code"], "hold_ttl_too_short");
                assert!(
                    e["error"]["hint"]
                        .as_str()
                        .unwrap()
                        .contains("--ttl-secs 60")
                );
            } else {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("error[hold_ttl_too_short]"), "{err}");
            }
        }
    }
    let r = json_line(&ledger.run(&[
        "reserve",
        "--scope",
        "project:ttl",
        "--usd",
        "1",
        "--ttl-secs",
        "60",
        "--json",
    ]));
    assert_eq!(r["reserved"], true);
    let id = r["id"].as_str().unwrap();
    let s = json_line(&ledger.run(&["settle", "--id", id, "--usd", "7", "--json"]));
    assert_eq!(s["settled"], true);
    assert_eq!(
        s["over_limit"],
        json!([{"scope": "project:ttl", "limit": "5", "spent": "7", "period": s["over_limit"][0]["period"], "late": false}])
    );
    let r = json_line(&ledger.run(&["reserve", "--scope", "project:ttl", "--usd", "0", "--json"]));
    assert_eq!(r["reserved"], false, "an overspent budget admits nothing");
}

/// 2^64 tokens once said "not a whole number": it is too large, with a stable code.
#[test]
fn token_counts_past_u64_are_too_large() {
    let big = "18446744073709551616";
    for args in [
        &[
            "estimate",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1",
            "--max-output-tokens",
            big,
        ][..],
        &["estimate", "--model", "gpt-4o", "--input-tokens", big][..],
        &[
            "cost",
            "--model",
            "gpt-4o",
            "--input-tokens",
            big,
            "--output-tokens",
            "1",
        ][..],
        &[
            "budget",
            "--ledger",
            "memory:",
            "reserve",
            "--scope",
            "s",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1",
            "--max-output-tokens",
            big,
        ][..],
    ] {
        let out = byok(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("token_count_too_large") && err.contains("at most 18446744073709551615"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("whole number"), "{err}");
    }
    let out = byok(
        &["estimate", "--model", "gpt-4o", "--input-tokens", "1.5"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_token_count"));
    let body = format!(r#"{{"usage":{{"prompt_tokens":{big},"completion_tokens":1}}}}"#);
    let out = byok(
        &["cost", "--model", "gpt-4o", "--usage", "-", "--json"],
        &body,
    );
    assert_eq!(out.status.code(), Some(2));
    let e = json_line(&out);
    assert_eq!(e["error"]["code"], "token_count_too_large");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too large")
    );
}

/// A reservation on scopes no budget covers was admitted silently.
#[test]
fn reservations_on_uncovered_scopes_say_so() {
    let ledger = Ledger::new();
    let set = ledger.run(&["set", "--scope", "workspace:w", "--limit-usd", "5"]);
    assert_eq!(set.status.code(), Some(0));
    let args = |scopes: &[&'static str], json: bool| {
        let mut a = vec!["reserve", "--usd", "1"];
        for s in scopes {
            a.extend(["--scope", s]);
        }
        if json {
            a.push("--json");
        }
        a
    };
    let r = json_line(&ledger.run(&args(&["key:k1", "workspace:w"], true)));
    assert_eq!(
        (r["budgets"].clone(), r["uncovered"].clone()),
        (json!(["workspace:w"]), json!(["key:k1"]))
    );
    let text = ledger.run(&args(&["key:typo"], false));
    assert_eq!(text.status.code(), Some(0));
    let err = String::from_utf8_lossy(&text.stderr);
    assert!(
        err.contains("warning[uncovered_scope]: no budget covers key:typo: nothing limits"),
        "{err}"
    );
    let covered = ledger.run(&args(&["workspace:w"], false));
    assert!(
        covered.stderr.is_empty(),
        "no warning when every scope has a budget"
    );
}

/// `budget set` with another time zone or period once forgot the open
/// period's spend: $9 spent on a $5 limit.
#[test]
fn redefining_a_budget_keeps_its_spend() {
    let ledger = Ledger::new();
    let set = |extra: &[&str]| {
        let mut args = vec!["set", "--scope", "project:tz", "--limit-usd", "5", "--json"];
        args.extend_from_slice(extra);
        let out = ledger.run(&args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}");
    };
    let reserve =
        |usd: &str| ledger.run(&["reserve", "--scope", "project:tz", "--usd", usd, "--json"]);
    set(&["--period", "month"]);
    let r = json_line(&reserve("4"));
    let id = r["id"].as_str().unwrap();
    let s = ledger.run(&["settle", "--id", id, "--usd", "4", "--json"]);
    assert_eq!(s.status.code(), Some(0));
    for extra in [
        &["--period", "month", "--time-zone", "Pacific/Kiritimati"][..],
        &["--period", "week", "--time-zone", "Pacific/Kiritimati"][..],
        &["--period", "total"][..],
    ] {
        set(extra);
        let denied = reserve("5");
        assert_eq!(denied.status.code(), Some(1), "{extra:?}");
        assert_eq!(json_line(&denied)["denied"]["spent"], "4", "{extra:?}");
    }
    assert_eq!(reserve("1").status.code(), Some(0));
}

#[test]
fn budget_errors_are_coded_and_never_echo_a_ledger_password() {
    let out = byok(
        &[
            "budget",
            "--ledger",
            "postgres://app:hunter2-very-secret@127.0.0.1:1/nodb",
            "status",
            "--scope",
            "w",
            "--json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_line(&out)["error"]["code"], "ledger_unavailable");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("hunter2"), "{all}");

    let out = byok(
        &[
            "budget", "--ledger", "ftp://x", "status", "--scope", "w", "--json",
        ],
        "",
    );
    assert_eq!(json_line(&out)["error"]["code"], "invalid_ledger_url");
    let out = byok(
        &[
            "budget", "--ledger", "memory:", "reserve", "--scope", "w", "--usd", "1,5", "--json",
        ],
        "",
    );
    assert_eq!(
        (out.status.code(), json_line(&out)["error"]["code"].clone()),
        (Some(2), json!("invalid_amount"))
    );
    let out = byok(
        &[
            "budget", "--ledger", "memory:", "status", "--scope", "w", "--json",
        ],
        "",
    );
    assert_eq!(json_line(&out)["error"]["code"], "budget_not_found");
}

#[test]
fn unknown_models_are_unavailable_in_estimates_and_denied_under_a_budget() {
    let e = json_line(&byok(
        &["estimate", "--model", "my-private-model", "--json"],
        "hello",
    ));
    assert_eq!(
        (e["usd"].clone(), e["label"].clone()),
        (json!(null), json!("unavailable"))
    );

    let ledger = Ledger::new();
    let set = ledger.run(&[
        "set",
        "--scope",
        "workspace:w",
        "--limit-usd",
        "100",
        "--period",
        "day",
        "--time-zone",
        "Europe/Paris",
    ]);
    assert_eq!(set.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&set.stdout).contains("budget workspace:w set: $100 per day"));
    let denied = ledger.run(&[
        "reserve",
        "--scope",
        "workspace:w",
        "--model",
        "my-private-model",
        "--input-tokens",
        "10",
        "--json",
    ]);
    assert_eq!(denied.status.code(), Some(1));
    let d = json_line(&denied);
    assert_eq!(
        (d["denied"]["reason"].clone(), d["denied"]["needed"].clone()),
        (json!("unpriced_model"), json!(null))
    );

    let st = ledger.run(&["status", "--scope", "workspace:w"]);
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(
        text.contains("limit $100 per day") && text.contains("remaining $100"),
        "{text}"
    );
    let bad_tz = ledger.run(&[
        "set",
        "--scope",
        "w",
        "--limit-usd",
        "1",
        "--time-zone",
        "Mars/Base",
        "--json",
    ]);
    assert_eq!(json_line(&bad_tz)["error"]["code"], "invalid_time_zone");
}

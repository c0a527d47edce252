//! The Provider Vault page in a real headless Chromium over WebDriver, against
//! a server in this process and the testkit's OpenAI mock: every verdict, the
//! masked list, reordering, the selection preview, a budget and the spend of a
//! call made through the proxy (with its daily chart), revoking, the audit trail. After every step the
//! DOM, web storage, cookies, the URL, the history and the URLs the page
//! fetched hold no key and no token (the canary detector).
//!
//! `BYOK_UPDATE_SCREENSHOTS=1` writes the main states to `docs/img/`.

use std::time::Duration;

use byok::guard::Label;
use byok::keys::{KeyKind, Provider};
use byok_serve::TokenScope;
use byok_testkit::Scenario;
use byok_testkit::canary::{Canary, Detector, standard};
use serde_json::{Value, json};

use crate::common::{Backend, Harness, invalid_openai_key, key, required};
use crate::webdriver::{Browser, browser_paths};

const TEST: &str = "ui::the_provider_vault_page_in_headless_chromium";

/// The canary keys the test pastes: index into the standard set of OpenAI
/// project keys, and the mock's scenario for each.
fn openai_key(n: usize) -> String {
    key(Provider::OpenAi, KeyKind::Project, n)
}

/// Everything secret the page must never keep once a step is done: every
/// standard canary key (the detector's) and the signed-in token's secret.
struct Secrets {
    token: Detector,
    /// The history's length when the page was first loaded: no step adds to it.
    history: std::sync::OnceLock<Value>,
}

impl Secrets {
    /// `others`: keys pasted besides the standard canaries (shapes that need
    /// the provider named, which the standard set leaves out).
    fn new(tokens: &[&str], others: &[(&str, &str)]) -> Secrets {
        // A token's id is public (the audit trail names `token:<id>`).
        let mut canaries: Vec<Canary> = tokens
            .iter()
            .map(|t| Canary::secret("a token's secret", &t[t.len() - 64..]))
            .collect();
        canaries.extend(others.iter().map(|(name, k)| Canary::api_key(*name, k)));
        Secrets {
            token: Detector::new(canaries),
            history: std::sync::OnceLock::new(),
        }
    }

    /// The DOM, every field's value (unless `fields` is false: a key typed and
    /// not yet saved is in its field), both web storages, the cookies, the URL,
    /// the history's state and the URL of everything the page fetched.
    async fn check(&self, b: &Browser, step: &str, fields: bool) {
        let seen = b
            .js(
                "return {
                   dom: document.documentElement.outerHTML,
                   fields: [...document.querySelectorAll('input, textarea, select')].map((e) => e.value),
                   local: JSON.stringify(Object.entries(localStorage)),
                   session: JSON.stringify(Object.entries(sessionStorage)),
                   cookie: document.cookie,
                   url: location.href,
                   history: [history.length, JSON.stringify(history.state)],
                   fetched: performance.getEntriesByType('resource').map((e) => e.name),
                   title: document.title,
                   text: document.body.innerText,
                 };",
                json!([]),
            )
            .await;
        let shown = seen["text"].as_str().unwrap();
        for word in ["null", "undefined", "NaN", "[object"] {
            assert!(
                !shown.contains(word),
                "the page shows {word:?} after {step}:\n{shown}"
            );
        }
        let cookies = b.cookies().await;
        let mut parts = vec![
            ("the DOM", seen["dom"].to_string()),
            ("localStorage", seen["local"].to_string()),
            ("sessionStorage", seen["session"].to_string()),
            ("document.cookie", seen["cookie"].to_string()),
            ("the cookies", cookies.to_string()),
            ("the URL", seen["url"].to_string()),
            ("the history", seen["history"].to_string()),
            ("the fetched URLs", seen["fetched"].to_string()),
            ("the title", seen["title"].to_string()),
        ];
        if fields {
            parts.push(("the fields' values", seen["fields"].to_string()));
        }
        for (what, text) in &parts {
            let label = format!("{what} after {step}");
            standard::assert_clean(&label, text.as_bytes());
            self.token.assert_clean(&label, text.as_bytes());
        }
        assert_eq!(seen["local"], json!("[]"), "localStorage after {step}");
        assert_eq!(seen["session"], json!("[]"), "sessionStorage after {step}");
        assert_eq!(cookies, json!([]), "cookies after {step}");
        let url = seen["url"].as_str().unwrap();
        assert!(
            !url.contains('?') && !url.contains('#'),
            "the URL carries state after {step}: {url}"
        );
        let first = self.history.get_or_init(|| seen["history"][0].clone());
        assert_eq!(&seen["history"][0], first, "history entries after {step}");
    }
}

/// Write a PNG of the window to `docs/img/<name>.png` when asked to
/// (`BYOK_UPDATE_SCREENSHOTS=1`), so CI leaves the tree clean.
async fn screenshot(b: &Browser, name: &str) {
    let png = b.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    if std::env::var("BYOK_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("ui-{name}.png")), png).unwrap();
    }
}

/// The text of the element `css` selects (`null` if none).
async fn text(b: &Browser, css: &str) -> Value {
    b.js(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
        json!([css]),
    )
    .await
}

/// Wait until the element `css` selects exists; its text.
async fn wait_for(b: &Browser, css: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e ? (e.innerText || ' ') : null;",
        json!(css)
    );
    b.wait(css, &script).await.as_str().unwrap().to_owned()
}

/// Paste `key` (of `provider`, or detected) into the add form with `label`, as `role` (`order` for a
/// backup), press Test and save, and wait for the verdict: its code.
async fn add_key(
    b: &Browser,
    provider: Option<&str>,
    key: &str,
    label: &str,
    role: &str,
    order: u32,
) -> String {
    b.click("#tab-add").await;
    b.js(
        "document.getElementById('add-result').replaceChildren(); return true;",
        json!([]),
    )
    .await;
    b.select("#add-provider", provider.unwrap_or("")).await;
    b.fill("#add-key", key).await;
    wait_for(b, "#add-key-check [data-check='ok']").await;
    b.fill("#add-label", label).await;
    b.select("#add-role", role).await;
    b.fill("#add-order", &order.to_string()).await;
    b.click("#add-submit").await;
    let verdict = b
        .wait(
            "the Test verdict",
            "const v = document.querySelector('#add-result [data-verdict]');
             return v ? v.dataset.verdict : null;",
        )
        .await;
    verdict.as_str().unwrap().to_owned()
}

/// Open the Keys tab and wait until its list is loaded afresh.
/// One chat call through the proxy with the app's token, as an app would make
/// it (for `project`, if named): the key it used and its cost label.
async fn proxied(h: &Harness, app: &str, project: Option<&str>) -> (String, Label) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/proxy/openai/v1/chat/completions", h.url))
        .bearer_auth(app)
        .json(&json!({"model": "gpt-4o-mini", "max_completion_tokens": 64,
            "messages": [{"role": "user", "content": "Say hi"}]}));
    if let Some(p) = project {
        request = request.header("x-byok-project", p);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
    let label = header("x-byok-cost-label").parse().unwrap();
    (header("x-byok-key-id"), label)
}

async fn keys_tab(b: &Browser) {
    b.click("#tab-keys").await;
    b.wait(
        "the key list",
        "return document.getElementById('key-list').getAttribute('aria-busy') === 'false'",
    )
    .await;
}

/// The keys of the workspace, as the API lists them.
async fn keys(h: &Harness, ws: &str) -> Vec<Value> {
    let (status, list) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/keys"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

fn id_of(list: &[Value], label: &str) -> String {
    list.iter()
        .find(|k| k["label"] == label)
        .unwrap_or_else(|| panic!("no key {label}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_vault_page_in_headless_chromium() {
    let Some((chromedriver, chromium)) = required(
        browser_paths(),
        "BYOK_CHROMEDRIVER and BYOK_CHROMIUM, or install Debian's chromium and chromium-driver",
        TEST,
    ) else {
        return;
    };
    let (primary, no_credits, limited, down, backup) = (
        openai_key(0),
        openai_key(1),
        openai_key(2),
        openai_key(3),
        openai_key(4),
    );
    let h = Harness::start_with(
        Backend::Sqlite,
        None,
        "memory:",
        &[
            (no_credits.clone(), Scenario::NoCredits),
            (
                limited.clone(),
                Scenario::RateLimited {
                    times: 10_000,
                    retry_after: Duration::from_secs(1),
                },
            ),
            (
                down.clone(),
                Scenario::Outage {
                    times: 10_000,
                    status: 503,
                },
            ),
        ],
    )
    .await;
    let ws = h.workspace("ui").await;
    // DeepSeek tells the balance left; its keys need the provider named.
    let deepseek = byok::keys::fake::key(Provider::DeepSeek, KeyKind::Standard, 0xD5_0001);
    // The app's token, for the calls it makes through the proxy: never on the page either.
    let app = h.token(TokenScope::App, Some(&ws)).await;
    let secrets = Secrets::new(&[&h.admin, &app], &[("deepseek key", &deepseek)]);

    // The page and its assets come with the strict CSP.
    let http = reqwest::Client::new();
    for path in ["/", "/ui/app.js", "/ui/api.js", "/ui/style.css"] {
        let answer = http.get(format!("{}{path}", h.url)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let csp = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    // The API keeps its own CSP, which runs nothing.
    let (_, headers, _) = h.call_full("GET", "/healthz", None, None).await;
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );

    let b = Browser::start(&chromedriver, &chromium).await;
    b.goto(&format!("{}/", h.url)).await;
    wait_for(&b, "#signin-form").await;
    secrets.check(&b, "loading the page", true).await;
    screenshot(&b, "signin").await;

    // A wrong token: refused, with the reason under the field.
    b.fill("#token", "byok_adm_not_a_token").await;
    b.click("#signin-form button[type=submit]").await;
    let refused = wait_for(&b, "#signin-error:not([hidden])").await;
    assert!(refused.contains("not accepted"), "{refused}");
    secrets.check(&b, "a wrong token", true).await;

    // Sign in: the field is emptied, the workspace picker lists the workspace.
    b.fill("#token", &h.admin).await;
    b.click("#signin-form button[type=submit]").await;
    wait_for(&b, "#app:not([hidden])").await;
    secrets.check(&b, "signing in", true).await;
    b.select("#workspace", &ws).await;
    let empty = wait_for(&b, "#key-list .empty").await;
    assert!(empty.contains("No keys"), "{empty}");
    secrets.check(&b, "picking the workspace", true).await;

    // The tabs answer the arrow keys, and focus follows.
    b.type_into("#tab-keys", "\u{E014}").await;
    let moved = b
        .js(
            "return [document.getElementById('tab-add').getAttribute('aria-selected'),
                     document.activeElement.id, document.getElementById('view-add').hidden];",
            json!([]),
        )
        .await;
    assert_eq!(moved, json!(["true", "tab-add", false]), "{moved}");
    b.type_into("#tab-add", "\u{E012}").await;
    keys_tab(&b).await;

    // The paste box: a key cut short, then a key of another provider.
    b.click("#tab-add").await;
    let cut = &primary[..primary.len() - 3];
    b.fill("#add-key", cut).await;
    let check = b
        .wait(
            "the format check of a cut key",
            "const e = document.querySelector('#add-key-check [data-check]');
             return e && e.dataset.check !== 'ok' ? [e.dataset.check, e.dataset.position, document.getElementById('add-key-check').innerText] : null;",
        )
        .await;
    assert_eq!(check[0], "truncated", "{check}");
    assert!(
        !check[1].as_str().unwrap().is_empty(),
        "a position: {check}"
    );
    let said = check[2].as_str().unwrap();
    assert!(said.contains("position"), "{said}");
    assert!(said.contains("truncated"), "the code is shown: {said}");
    secrets.check(&b, "pasting a cut key", false).await;
    screenshot(&b, "add-key-error").await;
    b.select("#add-provider", "anthropic").await;
    b.fill("#add-key", &primary).await;
    let wrong = b
        .wait(
            "the format check of another provider's key",
            "const e = document.querySelector('#add-key-check [data-check]');
             return e && e.dataset.check === 'wrong_provider' ? document.getElementById('add-key-check').innerText : null;",
        )
        .await;
    assert!(wrong.as_str().unwrap().contains("OpenAI"), "{wrong}");
    secrets
        .check(&b, "pasting another provider's key", false)
        .await;

    // Test before save, each verdict.
    assert_eq!(
        add_key(&b, None, &primary, "main", "primary", 0).await,
        "valid"
    );
    assert_eq!(
        b.js("return document.getElementById('add-key').value", json!([]))
            .await,
        ""
    );
    secrets.check(&b, "saving a valid key", true).await;
    // The same key again: the library's error, its message and code.
    b.fill("#add-key", &primary).await;
    wait_for(&b, "#add-key-check [data-check='ok']").await;
    b.fill("#add-label", "again").await;
    b.click("#add-submit").await;
    let said = wait_for(&b, "#add-result [role=alert]").await;
    assert!(said.contains("code duplicate"), "{said}");
    assert!(
        said.contains("already stored"),
        "the library's message: {said}"
    );
    secrets.check(&b, "adding a key twice", true).await;
    // Each verdict of Test before save: what the page says, and nothing leaks.
    let invalid = invalid_openai_key();
    // (key, label, order, verdict, what the page says, the step's name)
    type Case<'a> = (&'a str, &'a str, u32, &'a str, Option<&'a str>, &'a str);
    let verdicts: [Case<'_>; 5] = [
        (
            &invalid,
            "refused",
            1,
            "invalid",
            Some("Not saved"),
            "a refused key",
        ),
        (
            &no_credits,
            "dry",
            1,
            "no_credits",
            Some("Saved, with a warning"),
            "a key without credits",
        ),
        (
            &limited,
            "limited",
            2,
            "rate_limited",
            None,
            "a rate-limited key",
        ),
        (
            &down,
            "down",
            3,
            "provider_unavailable",
            None,
            "a key whose provider is down",
        ),
        (&backup, "spare", 4, "valid", None, "a valid backup"),
    ];
    for (raw, label, order, verdict, says, step) in verdicts {
        assert_eq!(
            add_key(&b, None, raw, label, "backup", order).await,
            verdict,
            "{step}"
        );
        if let Some(says) = says {
            let said = text(&b, "#add-result").await;
            assert!(said.as_str().unwrap().contains(says), "{step}: {said}");
        }
        secrets.check(&b, step, true).await;
    }

    // The list: masked keys with fingerprints, roles and verdicts.
    let list = keys(&h, &ws).await;
    assert_eq!(list.len(), 5, "the refused key is not saved");
    keys_tab(&b).await;
    let shown = b
        .wait(
            "the key list",
            "const items = [...document.querySelectorAll('#key-list li.key')];
             return items.length === 5 ? items.map((li) => li.innerText) : null;",
        )
        .await;
    for k in &list {
        let masked = k["masked"].as_str().unwrap();
        assert!(
            shown
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str().unwrap().contains(masked)),
            "{masked} is listed"
        );
    }
    let listed = shown.to_string();
    for word in [
        "Valid",
        "No credits",
        "Rate limited",
        "Provider unavailable",
        "backup #4",
    ] {
        assert!(listed.contains(word), "{word} in {listed}");
    }
    secrets.check(&b, "the key list", true).await;
    screenshot(&b, "keys").await;

    // A provider that tells the credit left (DeepSeek's balance).
    assert_eq!(
        add_key(&b, Some("deepseek"), &deepseek, "deepseek", "primary", 0).await,
        "valid"
    );
    let said = text(&b, "#add-result").await.to_string();
    assert!(said.contains("Credit left"), "{said}");
    assert!(said.contains("110.00 USD"), "{said}");
    secrets.check(&b, "a key with its credit left", true).await;
    keys_tab(&b).await;

    // Reorder: the spare moves up twice, to second among the backups.
    let spare = id_of(&list, "spare");
    for _ in 0..2 {
        b.click("button[aria-label='Move up: spare']").await;
        b.wait(
            "the list after moving",
            "return document.getElementById('status').innerText.includes('spare moved up')",
        )
        .await;
        b.js(
            "document.getElementById('status').replaceChildren(); return true;",
            json!([]),
        )
        .await;
    }
    let list = keys(&h, &ws).await;
    let order = |label: &str| list.iter().find(|k| k["label"] == label).unwrap()["order"].clone();
    assert_eq!(
        [
            order("dry"),
            order("spare"),
            order("limited"),
            order("down")
        ],
        [json!(1), json!(2), json!(3), json!(4)]
    );
    let badge = wait_for(&b, &format!("[data-key-id='{spare}'] header")).await;
    assert!(badge.contains("backup #2"), "{badge}");
    secrets.check(&b, "reordering", true).await;

    // The primary runs out of credits: Test again says so, and the preview
    // passes over it (and over the dry backup) to the spare.
    h.openai.set_scenario(Scenario::NoCredits);
    b.click("button[aria-label='Test again: main']").await;
    let main = id_of(&list, "main");
    b.wait(
        "the primary's new verdict",
        &format!(
            "return !!document.querySelector(\"[data-key-id='{main}'] .key-result [data-verdict='no_credits']\")"
        ),
    )
    .await;
    secrets.check(&b, "testing the primary again", true).await;
    h.openai.set_scenario(Scenario::Valid);
    b.click("#tab-selection").await;
    b.select("#selection-provider", "openai").await;
    b.click("#selection-form button[type=submit]").await;
    let chosen = b
        .wait(
            "the selection preview",
            "const e = document.querySelector('#selection-result [data-chosen]'); return e ? e.dataset.chosen : null;",
        )
        .await;
    assert_eq!(chosen, json!(spare), "the spare serves");
    let passed = text(&b, "#selection-result").await.to_string();
    assert!(passed.contains("main"), "{passed}");
    assert!(passed.contains("No credits"), "{passed}");
    let skipped_main = b
        .js(
            "return !!document.querySelector(arguments[0]);",
            json!([format!("#selection-result [data-skipped='{main}']")]),
        )
        .await;
    assert_eq!(skipped_main, json!(true), "the primary is passed over");
    secrets.check(&b, "the selection preview", true).await;
    screenshot(&b, "selection").await;

    // Budgets of the workspace and of the spare, then a call made with the
    // library: its spend in both, with its label.
    b.click("#tab-budget").await;
    let none = wait_for(&b, "#budget-status .empty").await;
    assert!(none.contains("No budget"), "{none}");
    b.fill("#budget-limit", "5").await;
    b.fill("#budget-alerts", "50, 80").await;
    b.click("#budget-form button[type=submit]").await;
    wait_for(&b, "#budget-status progress").await;
    secrets
        .check(&b, "setting the workspace's budget", true)
        .await;
    b.select("#budget-scope", &spare).await;
    b.wait(
        "no budget for the spare yet",
        "const e = document.querySelector('#budget-status .empty'); return e && e.innerText.includes('key spare');",
    )
    .await;
    b.fill("#budget-limit", "1").await;
    b.select("#budget-period", "day").await;
    b.fill("#budget-alerts", "").await;
    b.click("#budget-form button[type=submit]").await;
    let heading = wait_for(&b, "#budget-status h3").await;
    assert!(
        heading.contains("key spare") && heading.contains("per day"),
        "{heading}"
    );
    let (_, st) = h
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/budget?key={spare}"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(st["budget"]["limit"], "1", "{st}");
    secrets.check(&b, "setting a key's budget", true).await;

    let (key_id, label) = proxied(&h, &app, None).await;
    assert_eq!(key_id, spare, "the call used the spare");
    let row = format!("#spend-by-label tr[data-label='{}']", label.as_str());
    keys_tab(&b).await;
    b.click("#tab-budget").await;
    let spent = wait_for(&b, &row).await;
    assert!(spent.contains(label.human()), "{spent}");
    b.select("#budget-scope", "").await;
    b.wait(
        "the workspace's budget",
        "const e = document.querySelector('#budget-status h3'); return e && e.innerText.includes('the workspace');",
    )
    .await;
    let spent = wait_for(&b, &row).await;
    assert!(spent.contains(label.human()), "{spent}");
    assert!(!spent.contains("$0\t") && spent.contains('$'), "{spent}");
    assert!(
        b.js(
            "return !!document.querySelector('#budget-status svg[role=img]')",
            json!([])
        )
        .await
            == json!(true),
        "the spend chart"
    );
    // The daily chart: today's bar in the label's colour, its figures in the table.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let bar = b
        .js(
            "const g = document.querySelector(`#daily-chart g[data-date='${arguments[0]}']`);
             return g && [g.querySelector('title').textContent, [...g.querySelectorAll('rect')].map((r) => r.dataset.label)];",
            json!([today]),
        )
        .await;
    assert_eq!(bar[1], json!([label.as_str()]), "{bar}");
    let title = bar[0].as_str().unwrap();
    assert!(
        title.contains("1 call,") && title.contains(label.human()) && title.contains('$'),
        "{title}"
    );
    // (In a closed <details>: its text content, not its rendered text.)
    let day = b
        .js(
            "const r = document.querySelector(`#daily-table tr[data-date='${arguments[0]}']`); return r && r.textContent;",
            json!([today]),
        )
        .await;
    assert!(
        day.as_str().is_some_and(|d| d.contains(label.human())),
        "{day}"
    );
    let summary = b
        .js(
            "return document.querySelector('#daily-chart').getAttribute('aria-label')",
            json!([]),
        )
        .await;
    assert!(
        summary
            .as_str()
            .unwrap()
            .contains("1 day with calls, 1 call,"),
        "{summary}"
    );
    secrets.check(&b, "the spend after a call", true).await;
    screenshot(&b, "budget").await;
    b.js(
        "document.querySelector('#daily-chart').scrollIntoView({block: 'center'}); return true;",
        json!([]),
    )
    .await;
    screenshot(&b, "daily-spend").await;

    // A project's budget (admin tokens): named, set, and charged by a call made for it.
    b.select("#budget-scope", "project:").await;
    let ask = wait_for(&b, "#budget-status .empty").await;
    assert!(ask.contains("Name the project"), "{ask}");
    b.fill("#budget-project", "checkout").await;
    b.click("#budget-project-field button[type=submit]").await;
    b.wait(
        "no budget for the project yet",
        "const e = document.querySelector('#budget-status .empty'); return e && e.innerText.includes('project checkout');",
    )
    .await;
    b.fill("#budget-limit", "2").await;
    b.fill("#budget-alerts", "90").await;
    b.click("#budget-form button[type=submit]").await;
    b.wait(
        "the project's budget",
        "const e = document.querySelector('#budget-status h3'); return e && e.innerText.includes('project checkout');",
    )
    .await;
    let (_, label) = proxied(&h, &app, Some("checkout")).await;
    let row = format!("#spend-by-label tr[data-label='{}']", label.as_str());
    b.click("#budget-project-field button[type=submit]").await;
    let spent = wait_for(&b, &row).await;
    assert!(spent.contains(label.human()), "{spent}");
    let (status, st) = h
        .call("GET", "/v1/projects/checkout/budget", Some(&h.admin), None)
        .await;
    assert_eq!(
        (status, st["budget"]["limit"].as_str()),
        (200, Some("2")),
        "{st}"
    );
    secrets.check(&b, "a project's budget", true).await;

    // Revoke, behind a confirmation.
    keys_tab(&b).await;
    let limited_id = id_of(&list, "limited");
    b.click("button[aria-label='Revoke: limited']").await;
    let asked = wait_for(&b, "#dialog[open]").await;
    assert!(asked.contains("cannot be undone"), "{asked}");
    b.click("#dialog-ok").await;
    let header = b
        .wait(
            "the revoked key",
            &format!(
                "const e = document.querySelector(\"[data-key-id='{limited_id}'] header\");
                 return e && e.innerText.includes('revoked') ? e.innerText : null;"
            ),
        )
        .await;
    assert!(header.as_str().unwrap().contains("revoked"));
    secrets.check(&b, "revoking a key", true).await;

    // The audit trail, then filtered by key.
    b.click("#tab-audit").await;
    let all = b
        .wait(
            "the audit trail",
            "const rows = [...document.querySelectorAll('#audit-table tbody tr')];
             return rows.length ? rows.map((r) => [r.dataset.action, r.dataset.keyId, r.innerText]) : null;",
        )
        .await;
    let rows = all.as_array().unwrap();
    let token_id = &h.admin["byok_adm_".len().."byok_adm_".len() + 32];
    assert!(
        rows.iter().any(|r| r[2]
            .as_str()
            .unwrap()
            .contains(&format!("token:{token_id}"))),
        "who: the token's id: {all}"
    );
    assert!(rows.len() > 5, "{all}");
    b.select("#audit-key", &limited_id).await;
    b.click("#audit-form button[type=submit]").await;
    let mine = b
        .wait(
            "the audit trail of one key",
            &format!(
                "const rows = [...document.querySelectorAll('#audit-table tbody tr')];
                 return rows.length && rows.every((r) => r.dataset.keyId === '{limited_id}')
                   ? rows.map((r) => r.dataset.action) : null;"
            ),
        )
        .await;
    let actions = mine.to_string();
    assert!(actions.contains("revoke"), "{actions}");
    assert!(mine.as_array().unwrap().len() < rows.len(), "{actions}");
    secrets.check(&b, "the audit trail", true).await;

    // Edit, rotate (the new key pasted in a dialog), disable and enable, delete.
    keys_tab(&b).await;
    b.click("button[aria-label='Edit: main']").await;
    wait_for(&b, "#dialog[open] #edit-note").await;
    b.fill("#edit-note", "billing account 42").await;
    b.click("#dialog-ok").await;
    b.wait(
        "the edited note",
        &format!("return document.querySelector(\"[data-key-id='{main}'] dl\").innerText.includes('billing account 42')"),
    )
    .await;
    secrets.check(&b, "editing a key", true).await;
    let down_id = id_of(&list, "down");
    let before = list.iter().find(|k| k["label"] == "down").unwrap()["masked"].clone();
    b.click("button[aria-label='Rotate: down']").await;
    wait_for(&b, "#dialog[open] #rotate-key").await;
    let fresh = openai_key(5);
    b.fill("#rotate-key", &fresh).await;
    b.click("#dialog-ok").await;
    b.wait(
        "the rotated key",
        "return document.getElementById('status').innerText.includes('down rotated')",
    )
    .await;
    let after = keys(&h, &ws)
        .await
        .into_iter()
        .find(|k| k["id"] == down_id.as_str())
        .unwrap()["masked"]
        .clone();
    assert_ne!(before, after, "a new secret");
    let shown = wait_for(&b, &format!("[data-key-id='{down_id}'] dl")).await;
    assert!(shown.contains(after.as_str().unwrap()), "{shown}");
    secrets.check(&b, "rotating a key", true).await;
    b.click("button[aria-label='Disable: dry']").await;
    b.wait(
        "the disabled key",
        "const e = document.querySelector(\"button[aria-label='Enable: dry']\"); return !!e;",
    )
    .await;
    b.click("button[aria-label='Enable: dry']").await;
    b.wait(
        "the enabled key",
        "const e = document.querySelector(\"button[aria-label='Disable: dry']\"); return !!e;",
    )
    .await;
    secrets
        .check(&b, "disabling and enabling a key", true)
        .await;
    b.click("button[aria-label='Delete: down']").await;
    let asked = wait_for(&b, "#dialog[open]").await;
    assert!(asked.contains("cannot be undone"), "{asked}");
    b.click("#dialog-cancel").await;
    assert!(
        keys(&h, &ws)
            .await
            .iter()
            .any(|k| k["id"] == down_id.as_str()),
        "cancelled"
    );
    b.click("button[aria-label='Delete: down']").await;
    wait_for(&b, "#dialog[open]").await;
    b.click("#dialog-ok").await;
    b.wait(
        "the deleted key",
        &format!("return !document.querySelector(\"#key-list [data-key-id='{down_id}']\")"),
    )
    .await;
    assert!(
        !keys(&h, &ws)
            .await
            .iter()
            .any(|k| k["id"] == down_id.as_str()),
        "deleted"
    );
    secrets.check(&b, "deleting a key", true).await;

    // A phone's width: nothing wider than the screen.
    b.resize(390, 844).await;
    keys_tab(&b).await;
    wait_for(&b, "#key-list li.key").await;
    let widths = b
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        )
        .await;
    assert!(
        widths[0].as_u64().unwrap() <= widths[1].as_u64().unwrap(),
        "wider than a phone: {widths}"
    );
    secrets.check(&b, "a phone's width", true).await;
    screenshot(&b, "phone").await;
    for tab in ["add", "selection", "budget", "audit"] {
        b.click(&format!("#tab-{tab}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let widths = b
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                json!([]),
            )
            .await;
        assert!(
            widths[0].as_u64().unwrap() <= widths[1].as_u64().unwrap(),
            "the {tab} tab is wider than a phone: {widths}"
        );
    }

    // Sign out: back to the sign-in form, nothing left.
    b.resize(1280, 900).await;
    b.click("#signout").await;
    wait_for(&b, "#signin:not([hidden])").await;
    let gone = text(&b, "#key-list").await;
    assert_eq!(gone, json!(""), "the list is cleared on sign-out");
    secrets.check(&b, "signing out", true).await;

    // A workspace token: its own workspace only, no workspace to create.
    let wsm = h.token(TokenScope::Workspace, Some(&ws)).await;
    b.fill("#token", &wsm).await;
    b.click("#signin-form button[type=submit]").await;
    wait_for(&b, "#app:not([hidden])").await;
    wait_for(&b, "#key-list li.key").await;
    let picker = b
        .js(
            "const s = document.getElementById('workspace');
             return [[...s.options].map((o) => o.value), s.disabled, document.getElementById('workspace-admin').hidden];",
            json!([]),
        )
        .await;
    assert_eq!(picker, json!([[ws], true, true]), "{picker}");
    // No project budgets for a workspace token (the API would answer 403).
    b.click("#tab-budget").await;
    let offered = b
        .js(
            "return !!document.querySelector('#budget-scope option[value=\"project:\"]')",
            json!([]),
        )
        .await;
    assert_eq!(
        offered,
        json!(false),
        "a workspace token is offered no project budget"
    );
    keys_tab(&b).await;
    secrets
        .check(&b, "signing in with a workspace token", true)
        .await;
    Secrets::new(&[&wsm], &[])
        .check(&b, "signing in with a workspace token", true)
        .await;
    // A reload forgets the token (it lived in the page's memory only).
    b.js("location.reload(); return true;", json!([])).await;
    wait_for(&b, "#signin:not([hidden])").await;
    let after = b
        .js("return document.getElementById('app').hidden", json!([]))
        .await;
    assert_eq!(after, json!(true), "signed out by a reload");
    Secrets::new(&[&wsm], &[])
        .check(&b, "reloading the page", true)
        .await;
    b.fill("#token", &wsm).await;
    b.click("#signin-form button[type=submit]").await;
    wait_for(&b, "#app:not([hidden])").await;
    b.click("#signout").await;
    wait_for(&b, "#signin:not([hidden])").await;

    b.quit().await;
    h.stop().await;
}

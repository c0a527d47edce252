//! A small W3C WebDriver client over reqwest (the handful of commands the
//! browser tests use), and starting `chromedriver` with a headless Chromium.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where chromedriver and Chromium are: `BYOK_CHROMEDRIVER` and `BYOK_CHROMIUM`,
/// else Debian's `/usr/bin/chromedriver` and `/usr/bin/chromium`.
pub(crate) fn browser_paths() -> Option<(String, String)> {
    let pick = |var: &str, default: &str| match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => std::path::Path::new(default)
            .exists()
            .then(|| default.to_owned()),
    };
    Some((
        pick("BYOK_CHROMEDRIVER", "/usr/bin/chromedriver")?,
        pick("BYOK_CHROMIUM", "/usr/bin/chromium")?,
    ))
}

/// A running chromedriver and one browser session in it.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver on a free port and open a headless Chromium session
    /// (fresh profile, no network services of its own) of 1280×900.
    pub(crate) async fn start(chromedriver: &str, chromium: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Browser {
            driver,
            base: format!("{base}/session/{id}"),
            http,
            _profile: profile,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = answer["value"].get("error") {
            panic!("webdriver {path}: {err} {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Go to `url`.
    pub(crate) async fn goto(&self, url: &str) {
        self.send(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Run `script` (a function body; `arguments` are `args`) and return its value.
    pub(crate) async fn js(&self, script: &str, args: Value) -> Value {
        self.send(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Wait (up to 30 s) until `script` returns a truthy value; return it.
    pub(crate) async fn wait(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, json!([])).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let body = self.js("return document.body.innerText", json!([])).await;
                panic!("timed out waiting for {what}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .send(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Click the element `css` selects (found again if the page replaced it
    /// between the lookup and the click).
    pub(crate) async fn click(&self, css: &str) {
        for _ in 0..20 {
            let e = self.element(css).await;
            let answer: Value = self
                .http
                .post(format!("{}/element/{e}/click", self.base))
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match answer["value"].get("error").and_then(Value::as_str) {
                None => return,
                Some("stale element reference") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(err) => panic!(
                    "webdriver click {css}: {err} {}",
                    answer["value"]["message"]
                ),
            }
        }
        panic!("{css} kept being replaced");
    }

    /// Clear the field `css` selects and type `text` into it, as a person would.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.send(
            reqwest::Method::POST,
            &format!("/element/{e}/clear"),
            Some(json!({})),
        )
        .await;
        self.type_into(css, text).await;
    }

    /// Send `text` (WebDriver key codes allowed: `\u{E014}` is the right
    /// arrow) to the element `css` selects, without clearing it.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.send(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Pick the option of value `value` in the select `css` selects (a change event).
    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];
             s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === arguments[1];",
            json!([css, value]),
        )
        .await;
    }

    /// The browser's cookies, as WebDriver reports them.
    pub(crate) async fn cookies(&self) -> Value {
        self.send(reqwest::Method::GET, "/cookie", None).await
    }

    /// Resize the window.
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.send(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let v = self.send(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    /// End the session and chromedriver.
    pub(crate) async fn quit(mut self) {
        let _ = self.http.delete(self.base.clone()).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Drop finds chromedriver gone and has nothing left to do.
    }
}

impl Drop for Browser {
    /// After a failed step (no `quit`): end the session first, so Chromium
    /// exits instead of outliving a killed chromedriver. Drop cannot await,
    /// so the request runs on a runtime of its own thread.
    fn drop(&mut self) {
        if matches!(self.driver.try_wait(), Ok(None)) {
            let session = self.base.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(session)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                });
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! The harness: a vault (SQLite file or a fresh PostgreSQL database), mock
//! providers, a running server, an admin token, and a client that keeps every
//! answer for the canary check.

use std::sync::{Arc, Mutex, OnceLock};

use byok::Vault;
use byok::guard::Usd;
use byok::keys::{KeyKind, Provider};
use byok::store::{MasterKeySource, OpenMode, WorkspaceId};
use byok::verify::{Verifier, VerifierConfig};
use byok_serve::{Options, RateLimits, Server, TokenScope};
use byok_testkit::canary::standard;
use byok_testkit::{MockAnthropic, MockDeepSeek, MockGemini, MockOpenAi, MockProvider, Scenario};
use serde_json::Value;

/// Where the vault lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Every log line of this test binary (TRACE and up), for the canary check.
pub(crate) fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A canary key of the standard set (the detector knows every form of it).
pub(crate) fn key(provider: Provider, kind: KeyKind, n: usize) -> String {
    standard::key(provider, kind, n)
}

/// The key the OpenAI mock calls invalid.
pub(crate) fn invalid_openai_key() -> String {
    key(Provider::OpenAi, KeyKind::Project, 7)
}

/// The key kind the harness uses for `provider`'s canary keys.
pub(crate) fn kind_of(provider: Provider) -> KeyKind {
    match provider {
        Provider::Anthropic => KeyKind::Api,
        Provider::Google => KeyKind::Standard,
        _ => KeyKind::Project,
    }
}

/// The key `provider`'s mock says has no credits (on billable calls only).
pub(crate) fn no_credits_key(provider: Provider) -> String {
    key(provider, kind_of(provider), 6)
}

pub(crate) struct Harness {
    #[allow(dead_code)]
    pub backend: Backend,
    /// The vault's location and the ledger's URL (for a second server on them).
    target: String,
    ledger_url: String,
    config: VerifierConfig,
    pub url: String,
    pub admin: String,
    pub server: Server,
    /// The server's vault, its guard on the server's ledger: a call made with
    /// it (`Vault::call`) is budgeted and shows in `GET …/budget`.
    #[allow(dead_code)]
    pub vault: Vault,
    #[allow(dead_code)]
    pub openai: MockProvider,
    #[allow(dead_code)]
    pub anthropic: MockProvider,
    #[allow(dead_code)]
    pub gemini: MockProvider,
    /// An OpenAI-compatible provider.
    #[allow(dead_code)]
    pub groq: MockProvider,
    /// DeepSeek tells the balance left (the Test's credit left).
    #[allow(dead_code)]
    pub deepseek: MockProvider,
    /// The same vault without Test-before-save (for keys the mocks would refuse).
    #[allow(dead_code)]
    pub untested: Vault,
    pub dir: tempfile::TempDir,
    client: reqwest::Client,
    answers: Mutex<Vec<String>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pg: Option<(String, String)>,
}

/// `found`, or `None` after a loud skip line naming `what` to set (a panic when
/// services are required: `BYOK_REQUIRE_SERVICES=1`).
pub(crate) fn required<T>(found: Option<T>, what: &str, test: &str) -> Option<T> {
    match found {
        Some(t) => Some(t),
        None if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("BYOK_REQUIRE_SERVICES=1 but {what} is unset: {test}")
        }
        None => {
            eprintln!("SKIPPED (set {what}): {test}");
            None
        }
    }
}

/// The service URL in the environment variable `var`, or `None` after a loud
/// skip line (a panic when services are required).
fn service_url(var: &str, test: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    required(url, var, test)
}

/// The PostgreSQL server's URL, or `None` after a loud skip line (a panic when
/// services are required).
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    service_url("BYOK_TEST_POSTGRES_URL", test)
}

/// The Redis server's URL, or `None` after a loud skip line (a panic when
/// services are required).
#[allow(dead_code)]
pub(crate) fn redis_url(test: &str) -> Option<String> {
    service_url("BYOK_TEST_REDIS_URL", test)
}

/// The vault a server serves: the harness's master key, the mocks behind
/// the verifier, the proxy's calls metered on `ledger`.
async fn served_vault(
    store: std::sync::Arc<dyn byok::store::KeyStore>,
    config: &VerifierConfig,
    ledger: std::sync::Arc<dyn byok::guard::Ledger>,
) -> Vault {
    Vault::builder()
        .store(store)
        .master_key(MasterKeySource::Base64(standard::master_key(0).into()))
        .verifier(Verifier::new(config.clone()).unwrap())
        .guard(byok::guard::Guard::new(ledger))
        .actor("byok-serve")
        .build()
        .await
        .unwrap()
}

/// A second server on the harness's vault and ledger (another process's, in
/// effect: its own store connection, ledger connection and port).
#[allow(dead_code)]
pub(crate) struct Twin {
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Twin {
    /// Stop it gracefully.
    #[allow(dead_code)]
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn admin_pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

impl Harness {
    /// A server on SQLite.
    pub(crate) async fn start() -> Harness {
        Harness::start_on(Backend::Sqlite, None).await
    }

    /// A server on `backend` (`pg_admin`: the PostgreSQL server's URL).
    pub(crate) async fn start_on(backend: Backend, pg_admin: Option<String>) -> Harness {
        Harness::start_with(backend, pg_admin, "memory:", &[]).await
    }

    /// A server on `backend` with the ledger at `ledger_url`, whose OpenAI mock
    /// plays `openai` for these keys (besides the invalid and no-credits ones of
    /// [`invalid_openai_key`] and [`no_credits_key`]).
    pub(crate) async fn start_with(
        backend: Backend,
        pg_admin: Option<String>,
        ledger_url: &str,
        openai: &[(String, Scenario)],
    ) -> Harness {
        // No rate limits: tests add and Test keys faster than people do
        // (`ops::rate_limits_…` tests them with a harness of its own).
        let options = Options::default().rate_limits(RateLimits::off());
        Harness::start_with_options(backend, pg_admin, ledger_url, openai, options).await
    }

    /// [`start_with`](Harness::start_with) with these server options.
    pub(crate) async fn start_with_options(
        backend: Backend,
        pg_admin: Option<String>,
        ledger_url: &str,
        openai: &[(String, Scenario)],
        options: Options,
    ) -> Harness {
        logs();
        let dir = tempfile::tempdir().unwrap();
        let mut pg = None;
        let target = match backend {
            Backend::Sqlite => dir.path().join("vault.db").display().to_string(),
            Backend::Postgres => {
                let admin = pg_admin.expect("a PostgreSQL URL");
                let name = format!("byok_serve_{}", uuid::Uuid::now_v7().simple());
                let pool = admin_pool(&admin).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
                let url = format!("{base}/{name}");
                pg = Some((admin, name));
                url
            }
        };
        let mut builder = MockOpenAi::builder()
            .scenario_for_key(&invalid_openai_key(), Scenario::InvalidKey)
            .scenario_for_key(&no_credits_key(Provider::OpenAi), Scenario::NoCredits);
        for (key, scenario) in openai {
            builder = builder.scenario_for_key(key, scenario.clone());
        }
        let openai = builder.start().await;
        let anthropic = MockAnthropic::builder()
            .scenario_for_key(&no_credits_key(Provider::Anthropic), Scenario::NoCredits)
            .start()
            .await;
        let gemini = MockGemini::builder()
            .scenario_for_key(&no_credits_key(Provider::Google), Scenario::NoCredits)
            .start()
            .await;
        let groq = byok_testkit::MockGroq::start().await;
        let deepseek = MockDeepSeek::start().await;
        let config = VerifierConfig::default()
            .allow_http(true)
            .base_url(Provider::OpenAi, &openai.uri())
            .base_url(Provider::Anthropic, &anthropic.uri())
            .base_url(Provider::Google, &gemini.uri())
            .base_url(Provider::Groq, &groq.uri())
            .base_url(Provider::DeepSeek, &deepseek.uri());
        let store = byok::store::open(&target, OpenMode::Create).await.unwrap();
        let ledger = byok::guard::ledger::open(ledger_url).await.unwrap();
        let vault = served_vault(store.clone(), &config, ledger.clone()).await;
        let untested = Vault::builder()
            .store(store)
            .master_key(MasterKeySource::Base64(standard::master_key(0).into()))
            .verify_policy(byok::VerifyPolicy::Skip)
            .actor("test")
            .build()
            .await
            .unwrap();
        let server = Server::new(vault.clone(), ledger).unwrap().options(options);
        let admin = server
            .bootstrap()
            .await
            .unwrap()
            .expect("a new vault has no admin token");
        assert!(
            server.bootstrap().await.unwrap().is_none(),
            "bootstrap runs once"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.clone().run(listener, async {
            let _ = stopped.await;
        }));
        Harness {
            backend,
            target,
            ledger_url: ledger_url.to_owned(),
            config,
            url,
            admin: admin.expose_secret().to_owned(),
            server,
            vault,
            openai,
            anthropic,
            gemini,
            groq,
            deepseek,
            untested,
            dir,
            client: reqwest::Client::new(),
            answers: Mutex::new(Vec::new()),
            stop: Some(stop),
            task: Some(task),
            pg,
        }
    }

    /// A second server on this one's vault and ledger.
    #[allow(dead_code)]
    pub(crate) async fn twin(&self) -> Twin {
        let store = byok::store::open(&self.target, OpenMode::Existing)
            .await
            .unwrap();
        let ledger = byok::guard::ledger::open(&self.ledger_url).await.unwrap();
        let vault = served_vault(store, &self.config, ledger.clone()).await;
        let server = Server::new(vault, ledger).unwrap();
        assert!(
            server.bootstrap().await.unwrap().is_none(),
            "one deployment, one first admin"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async {
            let _ = stopped.await;
        }));
        Twin { url, stop, task }
    }

    /// Set `ws`'s budget to `limit` dollars in total (when given), then its
    /// spent and held amounts.
    #[allow(dead_code)]
    pub(crate) async fn budget(&self, ws: &str, limit: Option<&str>) -> (Usd, Usd) {
        let path = format!("/v1/workspaces/{ws}/budget");
        if let Some(limit) = limit {
            let body = serde_json::json!({"limit_usd": limit, "period": "total"});
            let (status, b) = self.call("PUT", &path, Some(&self.admin), Some(body)).await;
            assert_eq!(status, 200, "{b}");
        }
        let (status, b) = self.call("GET", &path, Some(&self.admin), None).await;
        assert_eq!(status, 200, "{b}");
        let usd = |v: &Value| Usd::parse(v.as_str().unwrap()).unwrap();
        (usd(&b["spent"]), usd(&b["held"]))
    }

    /// A workspace of a unique name, created by the admin.
    pub(crate) async fn workspace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let (status, _) = self
            .call(
                "POST",
                "/v1/workspaces",
                Some(&self.admin),
                Some(serde_json::json!({ "id": name })),
            )
            .await;
        assert_eq!(status, 201);
        name
    }

    /// A token of `scope` for `workspace`, made by the server directly.
    pub(crate) async fn token(&self, scope: TokenScope, workspace: Option<&str>) -> String {
        let ws = workspace.map(|w| WorkspaceId::new(w).unwrap());
        self.server
            .issue_token(scope, ws, "test")
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    /// One request; the status and the JSON body (`Null` when empty).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, body) = self.call_full(method, path, token, body).await;
        (status, body)
    }

    /// One request; status, headers and JSON body (a `text/plain` body as a string).
    pub(crate) async fn call_full(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer = req.send().await.unwrap();
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let text = answer.text().await.unwrap();
        self.keep(status, &headers, text.as_bytes());
        let plain = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
        let value = if text.is_empty() {
            Value::Null
        } else if plain {
            Value::String(text)
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}"))
        };
        (status, headers, value)
    }

    /// Store `secret` of `provider` in `workspace` without testing it (a
    /// backup when `backup` is set); its id.
    #[allow(dead_code)]
    pub(crate) async fn add_untested(
        &self,
        workspace: &str,
        provider: Provider,
        secret: &str,
        backup: Option<u32>,
    ) -> String {
        let ws = WorkspaceId::new(workspace).unwrap();
        let mut new =
            byok::NewKey::new(ws, byok::keys::SecretString::from(secret), "k").provider(provider);
        if let Some(order) = backup {
            new = new.backup(order);
        }
        self.untested.add(new).await.unwrap().id.to_string()
    }

    /// The HTTP client (for requests the harness does not shape).
    #[allow(dead_code)]
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A POST of `body` to `url` (any URL) with these headers, kept for the
    /// canary check; status, headers and the body's bytes.
    #[allow(dead_code)]
    pub(crate) async fn post_raw(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.client.post(url).json(body);
        for (n, v) in headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let answer = req.send().await.unwrap();
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap().to_vec();
        self.keep(status, &headers, &bytes);
        (status, headers, bytes)
    }

    fn keep(&self, status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) {
        let mut shown = format!("{status} ");
        for (name, value) in headers {
            shown.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        shown.push_str(&String::from_utf8_lossy(body));
        self.answers.lock().unwrap().push(shown);
    }

    /// Every answer so far (status, headers and body).
    pub(crate) fn answers(&self) -> Vec<String> {
        self.answers.lock().unwrap().clone()
    }

    /// Stop the server (gracefully) and drop a PostgreSQL database.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some((admin, name)) = self.pg.take() {
            let pool = admin_pool(&admin).await;
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            pool.close().await;
        }
    }
}

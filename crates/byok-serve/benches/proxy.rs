//! The proxy under load, side by side with the same requests sent to the same
//! mock directly, in one run (docs/PERFORMANCE.md, "byok serve").
//!
//! ```sh
//! cargo bench -p byok-serve --bench proxy                    # memory and SQLite ledgers
//! BYOK_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//! BYOK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/byok \
//!   cargo bench -p byok-serve --bench proxy                  # and Redis and PostgreSQL
//! BYOK_BENCH_SECS=2 cargo bench -p byok-serve --bench proxy  # shorter phases
//! ```
//!
//! In one process: a minimal OpenAI chat-completions mock (axum, its own
//! runtime and thread), `byok serve`'s router on a SQLite vault with the
//! chosen ledger (its own two-thread runtime), and the load generator (its own
//! runtime). For each ledger:
//!
//! - **latency**: one connection, requests back to back, phases alternating
//!   between the mock directly and the proxy (so drift hits both), p50 / p99;
//! - **throughput**: 64 connections for a phase each way, calls per second
//!   (the generator shares the 2 cores with the server and the mock, as a
//!   separate load generator on one machine would);
//!
//! then the key list and Test button latency, and the memory (RSS) that 1,000
//! idle connections and 200 open streams add, against the same connections
//! and streams to the mock directly.

#[path = "../../../benches/common/stats.rs"]
mod stats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use byok::Vault;
use byok::keys::ExposeSecret;
use byok::keys::{KeyKind, Provider, fake};
use byok::store::{MasterKey, MasterKeySource, OpenMode, WorkspaceId};
use byok::verify::{Verifier, VerifierConfig};
use byok_serve::{Options, RateLimits, Server, TokenScope};
use std::future::IntoFuture as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use stats::Stats;

const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1733000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;
const BODY: &str = r#"{"model":"gpt-4o-mini","max_completion_tokens":16,"messages":[{"role":"user","content":"Say hi"}]}"#;
const STREAM_BODY: &str = r#"{"model":"gpt-4o-mini","max_completion_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say hi"}]}"#;

/// Streams stay open while this is false.
static RELEASE: AtomicBool = AtomicBool::new(false);

/// The mock: chat completions (whole, or a stream held open until
/// [`RELEASE`]), and the model list the Test button reads.
fn mock_router() -> Router {
    Router::new()
        .route("/v1/chat/completions", post(mock_chat))
        .route(
            "/v1/models",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"openai"}]}"#,
                )
            }),
        )
}

async fn mock_chat(body: Bytes) -> Response {
    if !contains(&body, b"\"stream\":true") {
        return ([(header::CONTENT_TYPE, "application/json")], ANSWER).into_response();
    }
    let first = Bytes::from_static(
        b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
    );
    let stream = futures::stream::unfold(0u8, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(first), 1)),
                1 => {
                    while !RELEASE.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let end = Bytes::from_static(
                        b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\ndata: [DONE]\n\n",
                    );
                    Some((Ok(end), 2))
                }
                _ => None,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Serve `router` on its own thread and runtime (`threads` workers); its address.
fn serve_on_own_runtime(router: Router, threads: usize) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// A server under test: where it listens, an app token, an admin token and
/// its workspace (10 OpenAI keys, a large budget).
struct Served {
    addr: SocketAddr,
    app: String,
    admin: String,
    ws: String,
}

/// A `byok serve` on a SQLite vault with `ledger_url`, its OpenAI at `mock`,
/// on its own thread and two-worker runtime (the pools live there too).
fn start_server(
    mock: SocketAddr,
    ledger_url: &str,
    dir: &std::path::Path,
    read_cache: Duration,
) -> Served {
    let vault_path = dir.join("vault.db").display().to_string();
    let ledger_url = ledger_url.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let master = MasterKey::generate().unwrap().to_base64();
            let store = byok::store::open(&vault_path, OpenMode::Create)
                .await
                .unwrap();
            let ledger = byok::guard::ledger::open(&ledger_url).await.unwrap();
            let config = VerifierConfig::default()
                .allow_http(true)
                .base_url(Provider::OpenAi, &format!("http://{mock}"));
            let vault = Vault::builder()
                .store(store.clone())
                .master_key(MasterKeySource::Base64(master.expose_secret().into()))
                .verifier(Verifier::new(config).unwrap())
                .guard(byok::guard::Guard::new(ledger.clone()))
                .actor("bench")
                .build()
                .await
                .unwrap();
            let untested = Vault::builder()
                .store(store)
                .master_key(MasterKeySource::Base64(master.expose_secret().into()))
                .verify_policy(byok::VerifyPolicy::Skip)
                .build()
                .await
                .unwrap();
            let server = Server::new(vault, ledger).unwrap().options(
                Options::default()
                    .rate_limits(RateLimits::off())
                    .read_cache(read_cache),
            );
            let admin = server.bootstrap().await.unwrap().unwrap();
            let admin = admin.expose_secret().to_owned();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(axum::serve(listener, server.router()).into_future());
            let ws = format!("bench-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
            let client = reqwest::Client::new();
            let base = format!("http://{addr}");
            let created = client
                .post(format!("{base}/v1/workspaces"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "id": ws }))
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201);
            let budget = client
                .put(format!("{base}/v1/workspaces/{ws}/budget"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "limit_usd": "1000000", "period": "month" }))
                .send()
                .await
                .unwrap();
            assert_eq!(budget.status(), 200);
            let id = WorkspaceId::new(&ws).unwrap();
            for n in 0..10u32 {
                let secret = byok::keys::SecretString::from(fake::key(
                    Provider::OpenAi,
                    KeyKind::Project,
                    u64::from(n),
                ));
                let mut new = byok::NewKey::new(id.clone(), secret, format!("key {n}"))
                    .provider(Provider::OpenAi);
                if n > 0 {
                    new = new.backup(n);
                }
                untested.add(new).await.unwrap();
            }
            let app = server
                .issue_token(TokenScope::App, Some(id), "bench")
                .await
                .unwrap();
            tx.send(Served {
                addr,
                app: app.expose_secret().to_owned(),
                admin,
                ws,
            })
            .unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// One request on a kept-alive connection; its status.
async fn request(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Option<&'static str>,
) -> u16 {
    let mut req = match body {
        Some(b) => client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(b),
        None => client.get(url),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let answer = req.send().await.unwrap();
    let status = answer.status().as_u16();
    let _ = answer.bytes().await.unwrap();
    status
}

/// One client per connection of the load, made before any timing (a client
/// loads the system's root certificates when it is built).
fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .no_proxy()
                .build()
                .unwrap()
        })
        .collect()
}

/// `clients.len()` connections sending back to back for `secs`: every latency,
/// and the calls per second.
async fn load(
    clients: &[reqwest::Client],
    url: &str,
    token: Option<&str>,
    secs: f64,
) -> (Vec<Duration>, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let client = client.clone();
        let url = url.to_owned();
        let token = token.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let status = request(&client, &url, token.as_deref(), Some(BODY)).await;
                assert_eq!(status, 200);
                took.push(t.elapsed());
            }
            took
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (all, rate)
}

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open `n` connections, send `head` on each and read until `until` is seen;
/// keep them open. The RSS they added, per connection, in KiB.
async fn held(
    addr: SocketAddr,
    n: usize,
    head: String,
    until: &'static [u8],
) -> (f64, Vec<TcpStream>) {
    let before = rss_kib();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !contains(&seen, until) {
            let got = s.read(&mut buf).await.unwrap();
            assert!(got > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..got]);
        }
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib();
    ((after.saturating_sub(before)) as f64 / n as f64, conns)
}

fn main() {
    let secs: f64 = std::env::var("BYOK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mock = serve_on_own_runtime(mock_router(), 1);
    let direct = format!("http://{mock}/v1/chat/completions");
    let dir = tempfile::tempdir().unwrap();
    // The default read cache (1 s: tokens' rows and key lists), and beside it
    // the same servers reading both on every request (`read_cache(ZERO)`, as before).
    let cached = Options::default().read_cache;
    let sqlite = |n: &str| format!("sqlite:{}", dir.path().join(n).display());
    let mut ledgers = vec![
        ("memory/nc".to_owned(), "memory:".to_owned(), Duration::ZERO),
        ("memory".to_owned(), "memory:".to_owned(), cached),
        (
            "sqlite/nc".to_owned(),
            sqlite("ledger-nc.db"),
            Duration::ZERO,
        ),
        ("sqlite".to_owned(), sqlite("ledger.db"), cached),
    ];
    if let Ok(url) = std::env::var("BYOK_TEST_REDIS_URL") {
        ledgers.push(("redis".into(), url, cached));
    } else {
        println!("(Redis ledger skipped: set BYOK_TEST_REDIS_URL)");
    }
    if let Ok(url) = std::env::var("BYOK_TEST_POSTGRES_URL") {
        ledgers.push(("postgres".into(), url, cached));
    } else {
        println!("(PostgreSQL ledger skipped: set BYOK_TEST_POSTGRES_URL)");
    }
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pool = client_rt.block_on(async { clients(64) });
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9} {:>9}",
        "ledger",
        "direct p50",
        "proxy p50",
        "direct p99",
        "proxy p99",
        "+p50",
        "+p99",
        "direct/s",
        "proxy/s"
    );
    let mut last = None;
    println!("(nc: no read cache, each request reads its token's row and key list)");
    for (i, (name, url, read_cache)) in ledgers.iter().enumerate() {
        let sub = dir.path().join(format!("v{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let served = start_server(mock, url, &sub, *read_cache);
        let app = served.app.clone();
        let proxied = format!("http://{}/proxy/openai/v1/chat/completions", served.addr);
        client_rt.block_on(async {
            let (one, many) = (&pool[..1], &pool[..]);
            // Warm both paths (connections, the kept key, prepared statements).
            load(many, &direct, None, 0.3).await;
            load(many, &proxied, Some(&app), 0.3).await;
            let (mut d, mut p) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                d.extend(load(one, &direct, None, secs / 5.0).await.0);
                p.extend(load(one, &proxied, Some(&app), secs / 5.0).await.0);
            }
            let (_, direct_rate) = load(many, &direct, None, secs).await;
            let (_, proxy_rate) = load(many, &proxied, Some(&app), secs).await;
            let (d50, p50, d99, p99) = (pct(&mut d, 0.5), pct(&mut p, 0.5), pct(&mut d, 0.99), pct(&mut p, 0.99));
            println!(
                "{name:<10} {:>9.1} µs {:>9.1} µs {:>9.1} µs {:>9.1} µs {:>+7.1} µs {:>+7.1} µs {:>9.0} {:>9.0}",
                us(d50), us(p50), us(d99), us(p99),
                us(p50) - us(d50), us(p99) - us(d99), direct_rate, proxy_rate
            );
        });
        if name == "sqlite" {
            last = Some(served);
        }
    }

    // The management API on the SQLite-ledger server: key list (10 keys) and Test.
    let Served {
        addr,
        app,
        admin,
        ws,
    } = last.unwrap();
    client_rt.block_on(async {
        let client = pool[0].clone();
        let list = format!("http://{addr}/v1/workspaces/{ws}/keys");
        let keys: serde_json::Value = client.get(&list).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        let id = keys[0]["id"].as_str().unwrap().to_owned();
        let mut s = Stats::new("GET …/keys (10 keys)", 2000);
        for _ in 0..2000 {
            let t = Instant::now();
            assert_eq!(request(&client, &list, Some(&admin), None).await, 200);
            s.samples.push(t.elapsed());
        }
        s.report();
        let models = format!("http://{mock}/v1/models");
        let mut s = Stats::new("GET /v1/models at the mock directly", 500);
        for _ in 0..500 {
            let t = Instant::now();
            assert_eq!(request(&client, &models, Some("sk-x"), None).await, 200);
            s.samples.push(t.elapsed());
        }
        s.report();
        let test = format!("http://{addr}/v1/workspaces/{ws}/keys/{id}/test?depth=auth");
        let mut s = Stats::new("POST …/keys/{id}/test?depth=auth", 500);
        for _ in 0..500 {
            let t = Instant::now();
            let answer = client.post(&test).bearer_auth(&admin).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            let _ = answer.bytes().await.unwrap();
            s.samples.push(t.elapsed());
        }
        s.report();

        // Memory: idle connections, then open streams, each beside the mock's.
        let idle = |host: SocketAddr| {
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n")
        };
        let (direct_idle, a) = held(mock, 1000, format!("GET /v1/models HTTP/1.1\r\nHost: {mock}\r\n\r\n"), b"\"list\"").await;
        let (proxy_idle, b) = held(addr, 1000, idle(addr), b"ok").await;
        drop((a, b));
        let post = |host: SocketAddr, path: &str, token: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{STREAM_BODY}",
                STREAM_BODY.len()
            )
        };
        let (direct_stream, a) =
            held(mock, 200, post(mock, "/v1/chat/completions", "sk-x"), b"\"Hi\"").await;
        let (proxy_stream, b) = held(
            addr,
            200,
            post(addr, "/proxy/openai/v1/chat/completions", &app),
            b"\"Hi\"",
        )
        .await;
        println!(
            "memory per idle connection: to the mock {direct_idle:.1} KiB, to byok serve {proxy_idle:.1} KiB"
        );
        println!(
            "memory per open stream: to the mock {direct_stream:.1} KiB, through the proxy {proxy_stream:.1} KiB (the proxy's own connection to the mock included)"
        );
        RELEASE.store(true, Ordering::Relaxed);
        drop((a, b));
    });
}

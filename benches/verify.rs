//! byok-verify benchmarks against a local mock (a minimal HTTP/1.1 server on
//! std threads below: fixed 200 answer, keep-alive), so the numbers measure the
//! client, not the mock:
//!
//! - `verify_overhead`: one `Depth::Auth` verification vs a bare reqwest GET to
//!   the same mock with the same headers (target: < 10 % extra).
//! - `bulk`: `verify_many` of 10,000 keys (3 providers, 32 in flight each, no rate
//!   limit) (target: >= 2,000 keys/s).
//!
//! Run: `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use byok::keys::{ApiKey, KeyKind, Provider, fake};
use byok::verify::{BulkOptions, Depth, RetryPolicy, Verdict, Verifier, VerifierConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;

const BODY: &str = r#"{"object":"list","data":[{"id":"gpt-4o-mini-2024-07-18","object":"model","created":1721172741,"owned_by":"system"}]}"#;

/// Start the mock; returns its base URL. Each connection gets a thread.
fn start_mock() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0;
    loop {
        match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        // Answer every complete request head in the buffer (GETs: no body).
        while let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            if stream.write_all(response.as_bytes()).is_err() {
                return;
            }
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
        if filled == buf.len() {
            return;
        }
    }
}

fn verifier(url: &str) -> Verifier {
    let mut config = VerifierConfig::default().retry(RetryPolicy::no_retry());
    for p in Provider::ALL {
        config = config.base_url(p, url);
    }
    Verifier::new(config).expect("config")
}

fn overhead(c: &mut Criterion) {
    let url = start_mock();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 1)).expect("key");
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let verifier = verifier(&url);
    let models = format!("{url}/v1/models");

    let mut g = c.benchmark_group("verify_overhead");
    let bare = || {
        rt.block_on(async {
            let r = client
                .get(&models)
                .bearer_auth(key.expose_secret())
                .send()
                .await
                .expect("answer");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body")
        })
    };
    let ours = || {
        let report = rt.block_on(verifier.verify(&key, Depth::Auth));
        assert_eq!(report.verdict, Verdict::Valid);
        report
    };
    g.bench_function("bare_reqwest_get", |b| b.iter(bare));
    g.bench_function("verifier_depth_auth", |b| b.iter(ours));
    g.finish();

    // On a shared machine the two runs above see different load. Alternating the
    // two calls and comparing medians cancels that drift.
    const PAIRS: usize = 20_000;
    let (mut t_bare, mut t_ours) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for _ in 0..PAIRS {
        let t = Instant::now();
        black_box(bare());
        t_bare.push(t.elapsed());
        let t = Instant::now();
        black_box(ours());
        t_ours.push(t.elapsed());
    }
    let (m_bare, m_ours) = (median(&mut t_bare), median(&mut t_ours));
    eprintln!(
        "verify_overhead/paired ({PAIRS} alternating pairs): median bare {:.1} µs, verifier {:.1} µs, overhead {:+.1} %",
        m_bare.as_secs_f64() * 1e6,
        m_ours.as_secs_f64() * 1e6,
        (m_ours.as_secs_f64() / m_bare.as_secs_f64() - 1.0) * 100.0
    );
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn bulk(c: &mut Criterion) {
    const KEYS: usize = 10_000;
    let url = start_mock();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verifier = verifier(&url);
    let shapes = [
        (Provider::OpenAi, KeyKind::Project),
        (Provider::Anthropic, KeyKind::Api),
        (Provider::Google, KeyKind::Standard),
    ];
    let keys: Vec<ApiKey> = (0..KEYS)
        .map(|i| {
            let (p, k) = shapes[i % 3];
            ApiKey::parse(&fake::key(p, k, i as u64)).expect("key")
        })
        .collect();
    let options = BulkOptions::default()
        .depth(Depth::Auth)
        .concurrency_per_provider(32)
        .requests_per_second(None);

    let mut g = c.benchmark_group("bulk");
    g.sample_size(10);
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("verify_many_10k_keys", |b| {
        b.iter(|| {
            rt.block_on(async {
                let valid = verifier
                    .verify_many(keys.clone(), options.clone())
                    .filter(|r| std::future::ready(r.report.verdict == Verdict::Valid))
                    .count()
                    .await;
                assert_eq!(valid, KEYS);
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = overhead, bulk
}
criterion_main!(benches);

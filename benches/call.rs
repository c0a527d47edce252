//! The call path's cost, measured side by side with the baseline in one run.
//!
//! `cargo bench --bench call`
//!
//! 1. Overhead: `Vault::call` against a bare reqwest request to the same local
//!    mock, interleaved (one of each per round, so drift hits both alike), with
//!    the memory ledger and with the SQLite ledger; p50 and p99 of each and the
//!    p50 added.
//! 2. Time to first byte of a stream: `Vault::call_stream` to its first chunk
//!    against bare reqwest to its first chunk, interleaved; the bare request
//!    asks for the usage chunk as byok's does, so both send the same request.
//! 3. Memory over a 100 MiB stream: peak RSS before and after passing a
//!    100 MiB OpenAI chat stream through `call_stream` (Linux: `/proc/self`).
//!
//! The mock is byok-testkit's (same process, its own runtime); its own work is
//! in both columns, so the difference is the call path's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use byok::call::Call;
use byok::guard::{Budget, Guard, Period, Scope, Usd, ledger};
use byok::keys::{KeyKind, Provider, SecretString, fake};
use byok::store::{MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
use byok::verify::{Verifier, VerifierConfig};
use byok::{NewKey, Vault, VerifyPolicy};
use byok_testkit::MockOpenAi;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/stats.rs"]
mod stats;
use stats::Stats;

const ROUNDS: usize = 5_000;

async fn vault_for(base: &str, ledger_url: &str) -> (Vault, WorkspaceId) {
    let guard = Guard::new(ledger::open(ledger_url).await.unwrap());
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .verifier(
            Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, base)).unwrap(),
        )
        .verify_policy(VerifyPolicy::Skip)
        .guard(guard.clone())
        .build()
        .await
        .unwrap();
    let ws = WorkspaceId::new("bench").unwrap();
    guard
        .set_budget(&Budget::new(
            Scope::workspace("bench"),
            Usd::from_dollars(1_000_000),
            Period::Month,
        ))
        .await
        .unwrap();
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    vault
        .add(NewKey::new(ws.clone(), SecretString::from(raw), "k"))
        .await
        .unwrap();
    (vault, ws)
}

fn body(stream: bool) -> serde_json::Value {
    json!({"model": "gpt-4o-mini", "max_completion_tokens": 16, "stream": stream,
           "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]})
}

fn p50(stats: &Stats) -> Duration {
    let mut s = stats.samples.clone();
    s.sort_unstable();
    s[s.len() / 2]
}

async fn overhead(ledger_name: &str, ledger_url: &str) {
    let mock = MockOpenAi::start().await;
    let (vault, ws) = vault_for(&mock.uri(), ledger_url).await;
    let client = vault.verifier().unwrap().client().clone();
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let url = format!("{}/v1/chat/completions", mock.uri());
    let bare = || async {
        let r = client
            .post(&url)
            .bearer_auth(&key)
            .json(&body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap()
    };
    let ours = || async {
        let called = vault
            .call(&ws, Call::openai_chat(body(false)))
            .await
            .unwrap();
        assert_eq!(called.status, 200);
    };
    for _ in 0..200 {
        bare().await;
        ours().await;
    }
    let mut a = Stats::new(format!("bare reqwest ({ledger_name} run)"), ROUNDS);
    let mut b = Stats::new(format!("vault.call, {ledger_name} ledger"), ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        bare().await;
        a.samples.push(t.elapsed());
        let t = Instant::now();
        ours().await;
        b.samples.push(t.elapsed());
        mock.clear_requests();
    }
    let added = p50(&b).as_secs_f64() - p50(&a).as_secs_f64();
    a.report();
    b.report();
    println!("  added at p50: {:.1} µs", added * 1e6);
    // Where it goes: the key choice alone (list, open, MAC check, the `use` audit event).
    let mut s = Stats::new(format!("  of which vault.select ({ledger_name})"), ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let lease = vault.select(&ws, Provider::OpenAi).await.unwrap();
        s.samples.push(t.elapsed());
        drop(lease);
    }
    s.report();
    // The same call driven step by step through the client-agnostic plan, each
    // step timed: where the added time goes.
    let mut steps = [
        Stats::new(format!("  of which plan() ({ledger_name})"), ROUNDS),
        Stats::new(
            format!("  of which next_attempt(): select + reserve ({ledger_name})"),
            ROUNDS,
        ),
        Stats::new(
            format!("  of which the send, whole answer ({ledger_name})"),
            ROUNDS,
        ),
        Stats::new(
            format!("  of which complete(): usage + settle ({ledger_name})"),
            ROUNDS,
        ),
    ];
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        let mut plan = vault.plan(&ws, Call::openai_chat(body(false))).unwrap();
        let t1 = Instant::now();
        let attempt = plan.next_attempt().await.unwrap();
        let t2 = Instant::now();
        let r = attempt.to_reqwest(&client).send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let answer = r.bytes().await.unwrap().to_vec();
        let t3 = Instant::now();
        let step = plan
            .complete(attempt, status, &headers, answer)
            .await
            .unwrap();
        let t4 = Instant::now();
        assert!(matches!(step, byok::call::Step::Done(_)));
        for (s, d) in steps.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            s.samples.push(d);
        }
        mock.clear_requests();
    }
    for s in steps {
        s.report();
    }
}

async fn first_byte() {
    let mock = MockOpenAi::start().await;
    let (vault, ws) = vault_for(&mock.uri(), "memory:").await;
    let client = vault.verifier().unwrap().client().clone();
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let url = format!("{}/v1/chat/completions", mock.uri());
    let mut a = Stats::new("TTFB bare reqwest stream", ROUNDS);
    let mut b = Stats::new("TTFB vault.call_stream", ROUNDS);
    // The bare request asks for the usage chunk as byok's does (byok adds
    // `stream_options.include_usage` to meter the stream): the same request on
    // the wire, so the mock does the same work for both.
    let mut wire = body(true);
    wire["stream_options"] = json!({"include_usage": true});
    for round in 0..ROUNDS + 200 {
        let t = Instant::now();
        let mut r = client
            .post(&url)
            .bearer_auth(&key)
            .json(&wire)
            .send()
            .await
            .unwrap();
        let _ = r.chunk().await.unwrap();
        let bare = t.elapsed();
        while r.chunk().await.unwrap().is_some() {}
        let t = Instant::now();
        let mut s = vault
            .call_stream(&ws, Call::openai_chat(body(true)))
            .await
            .unwrap();
        let _ = s.next_chunk().await.unwrap().unwrap();
        let ours = t.elapsed();
        while s.next_chunk().await.is_some() {}
        s.finish().await.unwrap();
        if round >= 200 {
            a.samples.push(bare);
            b.samples.push(ours);
        }
        mock.clear_requests();
    }
    let added = p50(&b).as_secs_f64() - p50(&a).as_secs_f64();
    a.report();
    b.report();
    println!("  added at p50: {:.1} µs", added * 1e6);
}

/// A provider that streams `total` bytes of chat chunks, then usage and `[DONE]`.
async fn big_stream_server(total: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read the request head and its content-length body.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                socket.write_all(head.as_bytes()).await.unwrap();
                let event = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"},\"finish_reason\":null}],\"usage\":null}\n\n";
                let batch = event.repeat(64 * 1024 / event.len());
                let mut sent = 0;
                while sent < total {
                    let frame = format!("{:x}\r\n{batch}\r\n", batch.len());
                    if socket.write_all(frame.as_bytes()).await.is_err() {
                        return;
                    }
                    sent += batch.len();
                }
                let tail = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":100000,\"total_tokens\":100009}}\n\ndata: [DONE]\n\n";
                let frame = format!("{:x}\r\n{tail}\r\n0\r\n\r\n", tail.len());
                let _ = socket.write_all(frame.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Peak resident memory so far (kB), after resetting the peak when `reset`.
fn peak_rss_kb(reset: bool) -> Option<u64> {
    if reset {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn memory() {
    const TOTAL: usize = 100 * 1024 * 1024;
    let base = big_stream_server(TOTAL).await;
    let (vault, ws) = vault_for(&base, "memory:").await;
    let before = peak_rss_kb(true);
    let t = Instant::now();
    let mut s = vault
        .call_stream(&ws, Call::openai_chat(body(true)))
        .await
        .unwrap();
    let mut passed = 0usize;
    while let Some(chunk) = s.next_chunk().await {
        passed += chunk.unwrap().len();
    }
    let called = s.finish().await.unwrap();
    let took = t.elapsed();
    let after = peak_rss_kb(false);
    // Fewer bytes than were sent: the `"usage":null` byok asked for is hidden from the caller.
    assert!(passed > TOTAL / 10 * 9, "{passed}");
    assert_eq!(called.usage.unwrap().completion_tokens(), 100_000);
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "100 MiB stream through call_stream: {:.0} MiB/s; peak RSS {} MiB before, {} MiB after (+{} MiB)",
            passed as f64 / took.as_secs_f64() / (1024.0 * 1024.0),
            b / 1024,
            a / 1024,
            a.saturating_sub(b) / 1024
        ),
        _ => println!("peak RSS is not readable here (needs Linux /proc/self)"),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("== call overhead, interleaved with a bare request to the same mock ==");
        overhead("memory", "memory:").await;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite:{}", dir.path().join("ledger.db").display());
        overhead("sqlite", &sqlite).await;
        println!("== time to first byte of a stream ==");
        first_byte().await;
        println!("== memory over a long stream ==");
        memory().await;
    });
}

//! byok-guard benchmarks: cost per call, token counting against tiktoken-rs on
//! the same text, and reserve+settle latency per ledger.
//!
//! `cargo bench --bench guard --features postgres,redis -- --warm-up-time 1 --measurement-time 3`
//! (PostgreSQL and Redis run when `BYOK_TEST_POSTGRES_URL` / `BYOK_TEST_REDIS_URL` are set).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use byok::guard::{
    Admission, Budget, Guard, Label, Ledger, Period, PriceBook, Scope, Usage, Usd, ledger,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/stats.rs"]
mod stats;
use stats::Stats;

fn cost(c: &mut Criterion) {
    let book = PriceBook::embedded();
    let mut g = c.benchmark_group("guard/cost");
    let openai = Usage {
        input_tokens: 1200,
        cached_input_tokens: 800,
        output_tokens: 300,
        reasoning_tokens: 200,
        ..Usage::default()
    };
    let anthropic = Usage {
        input_tokens: 150_001,
        cached_input_tokens: 50_000,
        cache_write_5m_tokens: 1000,
        cache_write_1h_tokens: 2000,
        output_tokens: 900,
        ..Usage::default()
    };
    g.bench_function("gpt-4o", |b| {
        b.iter(|| book.cost(black_box("gpt-4o"), black_box(&openai)))
    });
    g.bench_function("claude-sonnet-4-5_long_context", |b| {
        b.iter(|| book.cost(black_box("claude-sonnet-4-5"), black_box(&anthropic)))
    });
    let body = r#"{"id":"chatcmpl-1","usage":{"prompt_tokens":2000,"completion_tokens":500,"prompt_tokens_details":{"cached_tokens":800},"completion_tokens_details":{"reasoning_tokens":200}}}"#;
    g.bench_function("usage_from_body_plus_cost", |b| {
        b.iter(|| book.cost("gpt-4o", &Usage::from_json(black_box(body)).unwrap()))
    });
    g.finish();
}

fn tokens(c: &mut Criterion) {
    // ~64 KB of mixed prose, code and numbers: the same text for both libraries.
    let unit = "The quick brown fox jumps over the lazy dog. fn main() { let x = 42; println!(\"{x}\"); } \
                Prices: $2.50 per 1M input tokens, $10.00 per 1M output tokens. Ünïcödé — 日本語のテキスト.\n";
    let text = unit.repeat(65_536 / unit.len());
    let ours = bpe_count(&text);
    let theirs = tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(&text)
        .len();
    assert_eq!(ours, theirs, "both libraries must count the same tokens");
    let mut g = c.benchmark_group("guard/count_tokens_o200k_64KiB");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("bpe-openai", |b| b.iter(|| bpe_count(black_box(&text))));
    g.bench_function("tiktoken-rs", |b| {
        let bpe = tiktoken_rs::o200k_base_singleton();
        b.iter(|| bpe.encode_ordinary(black_box(&text)).len())
    });
    g.finish();
}

fn bpe_count(text: &str) -> usize {
    byok::guard::count_tokens("gpt-4o", text).0 as usize
}

fn ledgers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![
        ("memory", "memory:".to_owned()),
        (
            "sqlite",
            format!("sqlite:{}", dir.path().join("bench.db").display()),
        ),
    ];
    for (name, var) in [
        ("postgres", "BYOK_TEST_POSTGRES_URL"),
        ("redis", "BYOK_TEST_REDIS_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => urls.push((name, url)),
            _ => eprintln!("SKIPPED (set {var}): guard/reserve_settle/{name}"),
        }
    }
    let mut g = c.benchmark_group("guard/reserve_settle");
    g.throughput(Throughput::Elements(1));
    for (name, url) in urls {
        let ledger: Arc<dyn Ledger> = rt.block_on(ledger::open(&url)).unwrap();
        let guard = Guard::new(ledger);
        // Three budgets apply (key, project, workspace), as in a real request.
        let id = uuid_ish();
        let scopes: Vec<Scope> = ["key", "project", "workspace"]
            .iter()
            .map(|k| Scope::custom(format!("bench:{k}:{id}")).unwrap())
            .collect();
        for s in &scopes {
            rt.block_on(guard.set_budget(&Budget::new(
                s.clone(),
                Usd::from_dollars(1_000_000_000),
                Period::Month,
            )))
            .unwrap();
        }
        let amount = Usd::from_picos(1_250_000_000);
        let once = || {
            rt.block_on(async {
                let Admission::Reserved(r) = guard.reserve_amount(&scopes, amount).await.unwrap()
                else {
                    panic!("a billion-dollar budget denied a bench hold");
                };
                guard
                    .settle_amount(r.id, Usd::from_picos(1_000_000_000), Label::Estimated)
                    .await
                    .unwrap();
            })
        };
        g.bench_function(name, |b| b.iter(once));
        // The targets are about the distribution (p50), which criterion's
        // estimates do not give: time single runs too.
        let n = match name {
            "memory" => 100_000,
            "sqlite" => 10_000,
            _ => 3_000,
        };
        let mut stats = Stats::new(format!("reserve+settle {name}"), n);
        for _ in 0..n {
            let start = Instant::now();
            once();
            stats.samples.push(start.elapsed());
        }
        stats.report();
    }
    g.finish();
}

fn uuid_ish() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

criterion_group!(benches, cost, tokens, ledgers);
criterion_main!(benches);

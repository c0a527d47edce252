//! byok-guard benchmarks: cost per call, token counting against tiktoken-rs on
//! the same text, stream metering against bare line splitting, and reserve+settle
//! latency per ledger (back to back, and hold and settle apart after a pause).
//!
//! `cargo bench --bench guard --features postgres,redis -- --warm-up-time 1 --measurement-time 3`
//! (PostgreSQL and Redis run when `BYOK_TEST_POSTGRES_URL` / `BYOK_TEST_REDIS_URL` are set).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use byok::guard::meter::{StreamFormat, StreamMeter};
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

/// A realistic OpenAI chat stream of about `size` bytes: role chunk, one chunk per
/// token-sized delta (with the `"usage":null` of `include_usage`), finish chunk,
/// usage chunk, `[DONE]`.
fn chat_stream(size: usize) -> Vec<u8> {
    let words = [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
        r"\n\n", " fn", " main", "()", " {", " println", r#"!(\""#, "{x}", r#"\");"#, " }", " Ünï",
        "cödé", " —", " 日本", "語",
    ];
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-C0Vq1BYOKbench0000000000000\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\
             \"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_560af6e559\",\
             \"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}],\"usage\":null}}\n\n"
        )
    };
    let mut s = chunk(
        r#"{"role":"assistant","content":"","refusal":null}"#,
        "null",
    );
    let mut n = 0;
    while s.len() < size {
        s.push_str(&chunk(
            &format!(r#"{{"content":"{}"}}"#, words[n % words.len()]),
            "null",
        ));
        n += 1;
    }
    s.push_str(&chunk("{}", "\"stop\""));
    s.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-C0Vq1BYOKbench0000000000000\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\
         \"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_560af6e559\",\"choices\":[],\
         \"usage\":{{\"prompt_tokens\":1200,\"completion_tokens\":{n},\"total_tokens\":{},\
         \"prompt_tokens_details\":{{\"cached_tokens\":0,\"audio_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0}}}}}}\n\n\
         data: [DONE]\n\n",
        n + 1200
    ));
    s.into_bytes()
}

fn meter(c: &mut Criterion) {
    // ~64 MiB of chunks, read as a client reads a body: 16 KiB at a time.
    let big = chat_stream(64 << 20);
    // The same bytes as 1024 streams of ~64 KiB (answers of ~1,300 tokens).
    let small = chat_stream(64 << 10);
    let mut out = Vec::with_capacity(big.len() + (1 << 20));
    let run = |stream: &[u8], hide: bool, out: &mut Vec<u8>| {
        out.clear();
        let mut m = StreamMeter::new(StreamFormat::OpenAiChat, "gpt-4o-mini", 1200)
            .hide_injected_usage(hide);
        for piece in stream.chunks(16 << 10) {
            m.feed(piece, out);
        }
        m.finish(out)
    };
    let m = run(&big, false, &mut out);
    assert!(m.reported && m.complete && m.skipped_events == 0, "{m:?}");
    assert_eq!(out, big);
    let mut g = c.benchmark_group("guard/meter");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function("memchr_lines_baseline_64MiB", |b| {
        b.iter(|| {
            let mut lines = 0usize;
            for piece in black_box(&big).chunks(16 << 10) {
                lines += memchr::memchr_iter(b'\n', piece).count();
            }
            lines
        })
    });
    g.bench_function("stream_meter_64MiB", |b| {
        b.iter(|| run(black_box(&big), false, &mut out))
    });
    g.bench_function("stream_meter_hiding_64MiB", |b| {
        b.iter(|| run(black_box(&big), true, &mut out))
    });
    // Without the usage chunk (a cut stream, or a provider that sends none): all
    // ~0.9 MB of output text is counted with bpe-openai at the end.
    let unreported = &big[..big.len() - 600];
    let m = run(unreported, false, &mut out);
    assert!(!m.reported && m.usage.output_tokens > 0, "{m:?}");
    g.throughput(Throughput::Bytes(unreported.len() as u64));
    g.bench_function("stream_meter_unreported_64MiB", |b| {
        b.iter(|| run(black_box(unreported), false, &mut out))
    });
    g.throughput(Throughput::Bytes(small.len() as u64 * 1024));
    g.bench_function("stream_meter_1024x64KiB", |b| {
        b.iter(|| {
            for _ in 0..1024 {
                black_box(run(black_box(&small), false, &mut out));
            }
        })
    });
    g.finish();
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
        // One reserve + settle: how long the hold took, and the settle.
        let timed = || {
            rt.block_on(async {
                let start = Instant::now();
                let Admission::Reserved(r) = guard.reserve_amount(&scopes, amount).await.unwrap()
                else {
                    panic!("a billion-dollar budget denied a bench hold");
                };
                let held = Instant::now();
                guard
                    .settle_amount(r.id, Usd::from_picos(1_000_000_000), Label::Estimated)
                    .await
                    .unwrap();
                (held - start, held.elapsed())
            })
        };
        let once = || {
            timed();
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
        // A server's calls come apart, not back to back: the thread sleeps
        // between them and the CPU's caches (and, on a VM, the core itself)
        // go to others. Hold and settle timed apart, each call after a pause
        // of 200 µs, about a proxied call's own time (docs/PERFORMANCE.md,
        // "Where the SQLite ledger's time goes").
        let pause = std::time::Duration::from_micros(200);
        let n = n / 5;
        let mut holds = Stats::new(format!("  hold after a pause {name}"), n);
        let mut settles = Stats::new(format!("  settle after it {name}"), n);
        for _ in 0..n {
            std::thread::sleep(pause);
            let (hold, settle) = timed();
            holds.samples.push(hold);
            settles.samples.push(settle);
        }
        holds.report();
        settles.report();
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

criterion_group!(benches, cost, tokens, meter, ledgers);
criterion_main!(benches);

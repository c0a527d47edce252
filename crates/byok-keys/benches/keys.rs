//! byok-keys benchmarks: parse per key kind, and scan/redact throughput on 64 MiB of
//! realistic code and logs, without keys and with a key every 4 KiB, against a
//! gitleaks-style regex baseline run with the `regex` crate on the same text.
//!
//! `cargo bench -p byok-keys --bench keys` (results and targets in docs/PERFORMANCE.md).
//!
//! `fake::all` now holds every shape recognised alone (seventeen, the eleven new
//! providers' included), so case (b) plants those too; case (a) is unchanged.

use std::hint::black_box;

use byok_keys::{ApiKey, KeyKind, Provider, fake};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use regex::Regex;

const CORPUS: usize = 64 << 20;

/// Realistic code and log lines, full of `sk-` inside words (`task-`, `disk-`,
/// `risk-`), `AQ.` inside `FAQ.`, `AIza`-free, and no key.
fn corpus(with_key_every: Option<usize>) -> String {
    const LINES: &[&str] = &[
        "2026-11-22T10:41:07.123Z INFO  task-runner: scheduled task-4711 on worker disk-03 (risk-score=0.12)\n",
        "2026-11-22T10:41:07.456Z WARN  disk-usage: /var/lib/postgresql at 81% (threshold 80%), ask-ops notified\n",
        "    let mut tasks = Vec::with_capacity(16); // risk-free: bounded by the queue size\n",
        "    fn mask-less(&self) -> Result<Option<&str>, Error> { self.inner.get(\"desk-id\") }\n",
        "{\"event\":\"request\",\"path\":\"/v1/chat/completions\",\"status\":200,\"latency_ms\":412,\"model\":\"gpt-4o-mini\"}\n",
        "def handle(request):\n    user = request.user  # see FAQ.md for the risk-model rationale\n",
        "import { useState } from 'react'; const [task, setTask] = useState(null); // kiosk-mode\n",
        "ERROR 2026-11-22 10:41:08 [http-nio-8080-exec-3] c.e.api.Handler - upstream returned 429 Too Many Requests\n",
        "<div class=\"flex items-center gap-2\"><span>Ask-me-anything</span><a href=\"/faq.html#q3\">FAQ.</a></div>\n",
        "SELECT id, name, created_at FROM tasks WHERE status = 'queued' AND disk_id = $1 ORDER BY id LIMIT 100;\n",
        "    - name: run risk-assessment\n      run: cargo test --workspace --all-features -- --nocapture\n",
        "Nov 22 10:41:09 host kernel: [12345.678] usb 1-1: new high-speed USB device number 3 using xhci_hcd\n",
    ];
    let keys: Vec<String> = fake::all(11).into_iter().map(|(_, _, k)| k).collect();
    let mut out = String::with_capacity(CORPUS + 4096);
    let (mut i, mut next_key, mut k) = (0usize, with_key_every.unwrap_or(usize::MAX), 0usize);
    while out.len() < CORPUS {
        out.push_str(LINES[i % LINES.len()]);
        i += 1;
        if out.len() >= next_key {
            out.push_str("OPENAI_API_KEY=\"");
            out.push_str(&keys[k % keys.len()]);
            out.push_str("\"\n");
            k += 1;
            next_key += with_key_every.unwrap_or(usize::MAX);
        }
    }
    out
}

/// The regexes a gitleaks-style scanner applies for these providers (OpenAI project /
/// service-account / admin and legacy keys, Anthropic API and admin keys, Google API
/// keys), as one alternation: the fastest way to run them with `regex`.
fn baseline() -> Regex {
    Regex::new(concat!(
        r"\b(?:",
        r"sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})",
        r"|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}",
        r"|sk-ant-api03-[a-zA-Z0-9_\-]{93}AA",
        r"|sk-ant-admin01-[a-zA-Z0-9_\-]{93}AA",
        r"|AIza[\w-]{35}",
        r")(?:[^A-Za-z0-9_-]|$)"
    ))
    .expect("valid regex")
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (p, k, raw) in fake::all(1) {
        let id = format!("{}_{}_{}", p.as_str(), k.as_str(), raw.len());
        g.bench_function(id, |b| b.iter(|| ApiKey::parse(black_box(&raw))));
    }
    let pasted = format!(
        "  \"Bearer {}\"\n",
        fake::key(Provider::OpenAi, KeyKind::Project, 2)
    );
    g.bench_function("normalize_then_parse_openai_project_pasted", |b| {
        b.iter(|| byok_keys::normalize(black_box(&pasted)).parse())
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    let re = baseline();
    for (name, every) in [("no_keys", None), ("key_every_4k", Some(4096))] {
        let text = corpus(every);
        let expected = every.map_or(0, |e| text.len() / e);
        let found = byok_keys::scan(&text).count();
        assert!(
            found.abs_diff(expected) <= 1,
            "{name}: found {found}, planted ~{expected}"
        );
        // The baseline finds the shapes it knows (it misses `sk-None-` and `AQ.` keys).
        let mut g = c.benchmark_group(format!("scan_64MiB_{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("byok_scan", name), &text, |b, t| {
            b.iter(|| byok_keys::scan(black_box(t)).count())
        });
        g.bench_with_input(BenchmarkId::new("byok_redact", name), &text, |b, t| {
            b.iter(|| byok_keys::redact(black_box(t)).len())
        });
        g.bench_with_input(BenchmarkId::new("regex_baseline", name), &text, |b, t| {
            b.iter(|| re.find_iter(black_box(t)).count())
        });
        g.finish();
    }
}

/// The scanner and the regex baseline alternately on the same text, medians of
/// each: both see the same machine load, so the ratio holds on a busy machine
/// where separate criterion runs drift.
fn paired(c: &mut Criterion) {
    let re = baseline();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (name, every) in [("no_keys", None), ("key_every_4k", Some(4096))] {
        let text = corpus(every);
        let gib = text.len() as f64 / (1u64 << 30) as f64;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..21 {
            let t = std::time::Instant::now();
            black_box(byok_keys::scan(black_box(&text)).count());
            ours.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            black_box(re.find_iter(black_box(&text)).count());
            theirs.push(t.elapsed().as_secs_f64());
        }
        let (a, b) = (median(ours), median(theirs));
        println!(
            "scan_paired/{name}: byok {:.2} GiB/s, regex baseline {:.2} GiB/s, ratio {:.1}x (medians of 21 alternating runs on 64 MiB)",
            gib / a,
            gib / b,
            b / a
        );
    }
    // Fourteen providers against the three-provider scanner (the same classifier
    // with only the original four anchors), and without the context keywords,
    // alternating on the same text.
    for (name, every) in [("no_keys", None), ("key_every_4k", Some(4096))] {
        let text = corpus(every);
        let gib = text.len() as f64 / (1u64 << 30) as f64;
        let (mut all, mut three, mut no_kw) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..21 {
            let t = std::time::Instant::now();
            black_box(byok_keys::scan(black_box(&text)).count());
            all.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            black_box(byok_keys::scan_variants::scan_three_providers(black_box(&text)).count());
            three.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            black_box(byok_keys::scan_variants::scan_without_keywords(black_box(&text)).count());
            no_kw.push(t.elapsed().as_secs_f64());
        }
        let (a, t, k) = (median(all), median(three), median(no_kw));
        println!(
            "scan_providers/{name}: 14 providers {:.2} GiB/s, 3 providers {:.2} GiB/s ({:.2}x slower), 14 without context keywords {:.2} GiB/s (medians of 21 alternating runs on 64 MiB)",
            gib / a,
            gib / t,
            a / t,
            gib / k
        );
    }
    let _ = c;
}

criterion_group!(benches, paired, parse, scan);
criterion_main!(benches);

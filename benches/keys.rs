//! Benchmarks for byok-keys (expanded below in this session).
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let key = byok::keys::fake::key(
        byok::keys::Provider::OpenAi,
        byok::keys::KeyKind::Project,
        1,
    );
    c.bench_function("parse/openai_project_164", |b| {
        b.iter(|| byok::keys::ApiKey::parse(black_box(&key)))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);

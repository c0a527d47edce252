//! byok-store benchmarks: envelope seal+open of one key, the one-time passphrase
//! (Argon2id) cost, and `Vault` add / show / with_key / list latency (ops/s, p50, p99)
//! on SQLite and, when `BYOK_TEST_POSTGRES_URL` is set, PostgreSQL (a throwaway
//! database per run).
//!
//! `cargo bench --bench store --features postgres -- --warm-up-time 1 --measurement-time 3`
//! (results in docs/PERFORMANCE.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use byok::keys::{ExposeSecret, KeyKind, Provider, SecretString, fake};
use byok::store::{
    Binding, DataKey, KdfParams, KeyId, KeyStore, MasterKey, MasterKeySource, SealedSecret,
    WorkspaceId,
};
use byok::{NewKey, Vault};
use criterion::{Criterion, criterion_group};

#[path = "common/stats.rs"]
mod stats;
use stats::Stats;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Run a future that never waits (the local master key does no I/O) without a runtime,
/// so the numbers are the crypto's, not an executor's.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the local master key never waits"),
    }
}

fn seal_open(c: &mut Criterion) {
    let kek = MasterKey::generate().expect("key");
    let ws = WorkspaceId::new("bench").expect("workspace");
    let secret = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let binding = Binding {
        workspace: &ws,
        id: KeyId::new(),
        provider: Provider::OpenAi,
    };
    let sealed = ready(SealedSecret::seal(&kek, binding, &secret)).expect("seal");
    let mut group = c.benchmark_group("envelope");
    group.bench_function("seal+open (164-char project key)", |b| {
        b.iter(|| {
            let sealed =
                ready(SealedSecret::seal(&kek, binding, black_box(&secret))).expect("seal");
            let opened = ready(sealed.open(&kek, binding)).expect("open");
            black_box(opened.expose_secret().len())
        })
    });
    group.bench_function("open", |b| {
        b.iter(|| {
            black_box(
                ready(sealed.open(&kek, binding))
                    .expect("open")
                    .expose_secret()
                    .len(),
            )
        })
    });
    // Baseline: one seal and open of the same key with the `chacha20poly1305` crate (the
    // implementation we replaced, runtime-selected AVX2 backends); the envelope does two of each.
    group.bench_function("baseline: chacha20poly1305 crate, one seal+open", |b| {
        use chacha20poly1305::aead::{Aead, KeyInit};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&[7u8; 32].into());
        let nonce = chacha20poly1305::XNonce::from([9u8; 24]);
        b.iter(|| {
            let sealed = cipher
                .encrypt(&nonce, black_box(secret.as_bytes()))
                .expect("seal");
            black_box(
                cipher
                    .decrypt(&nonce, sealed.as_slice())
                    .expect("open")
                    .len(),
            )
        })
    });
    group.bench_function("random data key (getrandom)", |b| {
        b.iter(|| black_box(DataKey::generate().expect("entropy")))
    });
    group.finish();
}

fn passphrase(c: &mut Criterion) {
    let params = KdfParams::recommended().expect("params");
    let pass = SecretString::from("correct horse battery staple".to_owned());
    let mut group = c.benchmark_group("passphrase");
    group.sample_size(10);
    group.bench_function("Argon2id m=64MiB t=3 p=1 (once per vault open)", |b| {
        b.iter(|| black_box(MasterKey::from_passphrase(&pass, &params).expect("derive")))
    });
    group.finish();
}

criterion_group!(benches, seal_open, passphrase);

async fn time<F: Future>(f: F) -> (F::Output, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

/// add, show, with_key and list through the `Vault` facade on one backend.
async fn vault_ops(backend: &str, store: Arc<dyn KeyStore>) {
    let vault = Vault::builder()
        .store(store)
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().expect("key").to_base64(),
        ))
        .build()
        .await
        .expect("vault");
    let ws = WorkspaceId::new("bench").expect("workspace");
    let mut add = Stats::new(format!("{backend} add"), 0);
    let mut ids = Vec::new();
    for seed in 0..500u64 {
        let secret =
            SecretString::from(fake::key(Provider::OpenAi, KeyKind::Project, 10_000 + seed));
        let (view, d) = time(vault.add(NewKey::new(ws.clone(), secret, "bench"))).await;
        ids.push(view.expect("add").id);
        add.samples.push(d);
    }
    let mut show = Stats::new(format!("{backend} get (show)"), 0);
    let mut lease = Stats::new(format!("{backend} get+open (with_key)"), 0);
    for id in ids.iter().cycle().take(2000) {
        let (v, d) = time(vault.show(&ws, *id)).await;
        black_box(v.expect("show"));
        show.samples.push(d);
    }
    for id in ids.iter().take(500) {
        let (v, d) = time(vault.with_key(&ws, *id, |k| k.len())).await;
        black_box(v.expect("with_key"));
        lease.samples.push(d);
    }
    let small = WorkspaceId::new("bench-50").expect("workspace");
    for seed in 0..50u64 {
        let secret = SecretString::from(fake::key(
            Provider::Google,
            KeyKind::Standard,
            20_000 + seed,
        ));
        vault
            .add(NewKey::new(small.clone(), secret, "bench"))
            .await
            .expect("add");
    }
    let mut list = Stats::new(format!("{backend} list (50 keys)"), 0);
    for _ in 0..300 {
        let (v, d) = time(vault.list(&small)).await;
        black_box(v.expect("list"));
        list.samples.push(d);
    }
    for s in [add, show, lease, list] {
        s.report();
    }
}

#[cfg(feature = "postgres")]
async fn postgres_ops() {
    use byok::store::PostgresStore;
    let Ok(admin) = std::env::var("BYOK_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED (set BYOK_TEST_POSTGRES_URL): PostgreSQL vault latency");
        return;
    };
    // The vault metadata is per database: use a throwaway one.
    let name = format!("byok_bench_{}", uuid_like());
    let admin_store = PostgresStore::connect(&admin).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin_store.pool())
        .await
        .expect("create database");
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').expect("url with a database").0
    );
    let store = PostgresStore::connect(&url).await.expect("connect");
    vault_ops("postgres", Arc::new(store.clone())).await;
    store.pool().close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(admin_store.pool())
    .await
    .expect("drop database");
}

#[cfg(feature = "postgres")]
fn uuid_like() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();

    let rt = runtime();
    rt.block_on(async {
        #[cfg(feature = "sqlite")]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = byok::store::SqliteStore::open(dir.path().join("vault.db"))
                .await
                .expect("sqlite");
            vault_ops("sqlite", Arc::new(store)).await;
        }
        #[cfg(feature = "postgres")]
        postgres_ops().await;
    });
}

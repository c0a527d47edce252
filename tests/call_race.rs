//! 500 streamed calls racing on one budget, on every ledger: the admitted ones
//! never spend past the limit, the ledger's spend is exactly the sum of the
//! settled costs, and no hold is left behind.
//!
//! PostgreSQL and Redis come from `BYOK_TEST_POSTGRES_URL` / `BYOK_TEST_REDIS_URL`
//! (skipped loudly when unset; required under `BYOK_REQUIRE_SERVICES=1`).

use std::sync::Arc;

use byok::call::Call;
use byok::guard::{Budget, Guard, Period, Scope, Usd, ledger};
use byok::keys::{KeyKind, Provider, SecretString, fake};
use byok::store::{KeyId, MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
use byok::verify::{Verifier, VerifierConfig};
use byok::{NewKey, Vault, VerifyPolicy};
use byok_testkit::MockOpenAi;
use serde_json::json;

const CALLS: usize = 500;

fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("BYOK_REQUIRE_SERVICES=1 but {var} is unset: {test}")
        }
        _ => {
            eprintln!("SKIPPED (set {var}): {test}");
            None
        }
    }
}

async fn race(ledger_url: &str) {
    let mock = MockOpenAi::start().await;
    let guard = Guard::new(ledger::open(ledger_url).await.unwrap());
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .verifier(
            Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &mock.uri()))
                .unwrap(),
        )
        .verify_policy(VerifyPolicy::Skip)
        .guard(guard.clone())
        .build()
        .await
        .unwrap();
    // A workspace of its own per run: shared ledgers keep other runs' budgets.
    let name = format!("race-{}", KeyId::new().to_string().replace('-', ""));
    let ws = WorkspaceId::new(&name).unwrap();
    let budget = Scope::workspace(&name);
    // About 16 worst-case holds (1000 output tokens of gpt-4o-mini each) fit at once.
    let limit = Usd::parse("0.01").unwrap();
    guard
        .set_budget(&Budget::new(budget.clone(), limit, Period::Month))
        .await
        .unwrap();
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 9);
    vault
        .add(NewKey::new(ws.clone(), SecretString::from(raw), "k"))
        .await
        .unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let (vault, ws) = (vault.clone(), ws.clone());
        tasks.spawn(async move {
            let body = json!({"model": "gpt-4o-mini", "max_completion_tokens": 1000,
                "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]});
            let mut stream = match vault.call_stream(&ws, Call::openai_chat(body)).await {
                Ok(s) => s,
                Err(e) => return Err(e.code()),
            };
            while let Some(chunk) = stream.next_chunk().await {
                chunk.map_err(|e| e.code())?;
            }
            let called = stream.finish().await.map_err(|e| e.code())?;
            Ok(called.cost.and_then(|c| c.usd).expect("a priced model"))
        });
    }
    let (mut admitted, mut denied, mut sum) = (0usize, 0usize, Usd::ZERO);
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(usd) => {
                admitted += 1;
                sum = sum.checked_add(usd).unwrap();
            }
            Err("budget_denied") => denied += 1,
            Err(other) => panic!("{ledger_url}: unexpected {other}"),
        }
    }
    let status = guard.status(&budget).await.unwrap().unwrap();
    assert_eq!(admitted + denied, CALLS);
    assert!(admitted >= 16, "{ledger_url}: {admitted} admitted");
    assert!(
        status.spent <= limit,
        "{ledger_url}: {} spent",
        status.spent
    );
    assert_eq!(
        status.spent, sum,
        "{ledger_url}: spent = the sum of the settled costs"
    );
    assert_eq!(status.held, Usd::ZERO, "{ledger_url}: no hold left");
    eprintln!(
        "{ledger_url}: {admitted} admitted, {denied} denied, ${} spent",
        status.spent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_calls_racing_on_the_memory_ledger() {
    race("memory:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_calls_racing_on_the_sqlite_ledger() {
    let dir = tempfile::tempdir().unwrap();
    race(&format!(
        "sqlite:{}",
        dir.path().join("ledger.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_calls_racing_on_the_postgres_ledger() {
    if let Some(url) = service(
        "BYOK_TEST_POSTGRES_URL",
        "streamed_calls_racing_on_the_postgres_ledger",
    ) {
        race(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_calls_racing_on_the_redis_ledger() {
    if let Some(url) = service(
        "BYOK_TEST_REDIS_URL",
        "streamed_calls_racing_on_the_redis_ledger",
    ) {
        race(&url).await;
    }
}

//! Every ledger backend against the conformance suite, plus races between
//! processes and server restarts. PostgreSQL and Redis tests read
//! `BYOK_TEST_POSTGRES_URL` / `BYOK_TEST_REDIS_URL` and skip loudly when unset
//! (panic instead under `BYOK_REQUIRE_SERVICES=1`); restart tests also need
//! `BYOK_TEST_POSTGRES_RESTART` / `BYOK_TEST_REDIS_RESTART`.
// Backends compiled out leave some helpers and imports unused.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(unused_imports, dead_code)
)]

use std::process::Command;
#[cfg(any(feature = "postgres", feature = "redis"))]
use std::sync::Arc;

use byok_guard::ledger::{self, HoldOutcome, HoldRequest, Ledger};
use byok_guard::{Budget, Label, Period, ReservationId, Scope, Usd, conformance};
use jiff::{SignedDuration, Timestamp};

/// Restart tests take this for writing, other server tests for reading, so a
/// restart never lands in the middle of another test of this binary.
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{var} is required (BYOK_REQUIRE_SERVICES=1) for {test}")
        }
        _ => {
            eprintln!("SKIPPED (set {var}): {test}");
            None
        }
    }
}

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

/// Child side of the two-process race: run only when spawned by `race_processes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "child process of the two-process race tests"]
async fn race_child() {
    let url = std::env::var("BYOK_RACE_URL").expect("spawned with BYOK_RACE_URL");
    let scope = Scope::custom(std::env::var("BYOK_RACE_SCOPE").unwrap()).unwrap();
    let l = ledger::open(&url).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (l, scope) = (l.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0u32;
            for _ in 0..40 {
                let now = Timestamp::now();
                let req = HoldRequest {
                    id: ReservationId::new(),
                    scopes: vec![scope.clone()],
                    amount: usd("0.01"),
                    now,
                    expires_at: now + SignedDuration::from_hours(1),
                };
                if matches!(l.hold(&req).await.unwrap(), HoldOutcome::Held { .. }) {
                    admitted += 1;
                }
            }
            admitted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    println!("RACE_ADMITTED={total}");
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
/// Two processes × 8 tasks × 40 holds of $0.01 on a $1 budget: exactly 100 admitted.
async fn race_processes(url: &str) {
    let scope = format!("race-proc:{}", uuid::Uuid::now_v7());
    let l = ledger::open(url).await.unwrap();
    l.put_budget(&Budget::new(
        Scope::custom(scope.clone()).unwrap(),
        usd("1"),
        Period::Total,
    ))
    .await
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "race_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("BYOK_RACE_URL", url)
                .env("BYOK_RACE_SCOPE", &scope)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0u32;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "race child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u32 = text
            .lines()
            .find_map(|l| l.split("RACE_ADMITTED=").nth(1))
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .unwrap_or_else(|| panic!("child printed no count: {text}"))
            .parse()
            .unwrap();
        total += n;
    }
    assert_eq!(
        total, 100,
        "two processes together must admit exactly budget / each"
    );
    let st = l
        .status(&Scope::custom(scope).unwrap(), Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.held, usd("1"));
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_processes_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    race_processes(&format!("sqlite:{}", dir.path().join("race.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_url_opens_the_memory_ledger() {
    conformance::run_all(ledger::open("memory:").await.unwrap()).await;
    assert_eq!(
        ledger::open("mysql://x").await.unwrap_err().code(),
        "invalid_ledger_url"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_ledger_keeps_the_contract() {
    let Some(url) = service(
        "BYOK_TEST_POSTGRES_URL",
        "postgres_ledger_keeps_the_contract",
    ) else {
        return;
    };
    let _shared = SERVERS.read().await;
    let l = ledger::open(&url).await.unwrap();
    conformance::run_all(l.clone()).await;
    conformance::concurrent_holds_never_overspend(l, 32, 10).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_ledger_debug_never_shows_the_password() {
    let Some(url) = service(
        "BYOK_TEST_POSTGRES_URL",
        "postgres_ledger_debug_never_shows_the_password",
    ) else {
        return;
    };
    let _shared = SERVERS.read().await;
    // Trust authentication ignores the password, so any value connects.
    let with_password = url.replacen(
        "postgres://postgres@",
        "postgres://postgres:Sup3rSecretPw@",
        1,
    );
    if with_password == url {
        eprintln!(
            "SKIPPED (URL has no plain `postgres@` user): postgres_ledger_debug_never_shows_the_password"
        );
        return;
    }
    let l = ledger::open(&with_password).await.unwrap();
    assert!(!format!("{l:?}").contains("Sup3rSecretPw"));
    let bad = ledger::open("postgres://postgres:Sup3rSecretPw@127.0.0.1:1/nodb")
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "ledger_unavailable");
    assert!(!format!("{bad} {bad:?}").contains("Sup3rSecretPw"));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_processes_never_overspend() {
    let Some(url) = service(
        "BYOK_TEST_POSTGRES_URL",
        "postgres_two_processes_never_overspend",
    ) else {
        return;
    };
    let _shared = SERVERS.read().await;
    race_processes(&url).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_ledger_keeps_the_contract() {
    let Some(url) = service("BYOK_TEST_REDIS_URL", "redis_ledger_keeps_the_contract") else {
        return;
    };
    let _shared = SERVERS.read().await;
    let l = ledger::open(&url).await.unwrap();
    conformance::run_all(l.clone()).await;
    conformance::concurrent_holds_never_overspend(l, 32, 10).await;
}

/// Lua numbers are doubles: past 2^53 dollars a hold was admitted over the
/// limit. Amounts past 10^12 dollars and a period's spend past 9 × 10^13 are
/// refused (`amount_out_of_range`), with nothing written.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_refuses_amounts_it_cannot_hold_exactly() {
    let Some(url) = service(
        "BYOK_TEST_REDIS_URL",
        "redis_refuses_amounts_it_cannot_hold_exactly",
    ) else {
        return;
    };
    let _shared = SERVERS.read().await;
    let l = ledger::open(&url).await.unwrap();
    let s = Scope::custom(format!("huge:{}", uuid::Uuid::now_v7())).unwrap();
    let trillion = Usd::from_dollars(1_000_000_000_000);
    let too_big = trillion.checked_add(Usd::from_picos(1)).unwrap();
    let e = l
        .put_budget(&Budget::new(s.clone(), too_big, Period::Total))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "amount_out_of_range");
    assert!(l.budget(&s).await.unwrap().is_none(), "nothing written");
    l.put_budget(&Budget::new(s.clone(), trillion, Period::Total))
        .await
        .unwrap();
    let now = Timestamp::now();
    let hold = |amount: Usd| HoldRequest {
        id: ReservationId::new(),
        scopes: vec![s.clone()],
        amount,
        now,
        expires_at: now + SignedDuration::from_hours(1),
    };
    assert_eq!(
        l.hold(&hold(too_big)).await.unwrap_err().code(),
        "amount_out_of_range"
    );
    // 91 calls held at $0, each settled at $10^12: the 91st would pass 9 × 10^13.
    let mut ids = Vec::new();
    for _ in 0..91 {
        let r = hold(Usd::ZERO);
        assert!(matches!(
            l.hold(&r).await.unwrap(),
            HoldOutcome::Held { .. }
        ));
        ids.push(r.id);
    }
    for id in &ids[..90] {
        l.settle(*id, trillion, Label::Estimated, now)
            .await
            .unwrap();
    }
    let e = l
        .settle(ids[90], trillion, Label::Estimated, now)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "amount_out_of_range");
    let st = l.status(&s, now).await.unwrap().unwrap();
    assert_eq!(st.spent, Usd::from_dollars(90_000_000_000_000));
    // Refused, not settled: the call can still be settled at a smaller amount.
    l.settle(ids[90], Usd::ZERO, Label::Estimated, now)
        .await
        .unwrap();
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_two_processes_never_overspend() {
    let Some(url) = service("BYOK_TEST_REDIS_URL", "redis_two_processes_never_overspend") else {
        return;
    };
    let _shared = SERVERS.read().await;
    race_processes(&url).await;
}

#[cfg(any(feature = "postgres", feature = "redis"))]
/// Settle spend, restart the server, then: calls during the outage fail with
/// `ledger_unavailable` (never a silent success), and afterwards the settled
/// spend is all there.
async fn survives_restart(l: Arc<dyn Ledger>, restart: &str) {
    let scope = Scope::custom(format!("restart:{}", uuid::Uuid::now_v7())).unwrap();
    l.put_budget(&Budget::new(scope.clone(), usd("10"), Period::Total))
        .await
        .unwrap();
    for _ in 0..5 {
        let now = Timestamp::now();
        let req = HoldRequest {
            id: ReservationId::new(),
            scopes: vec![scope.clone()],
            amount: usd("0.5"),
            now,
            expires_at: now + SignedDuration::from_hours(1),
        };
        assert!(matches!(
            l.hold(&req).await.unwrap(),
            HoldOutcome::Held { .. }
        ));
        l.settle(req.id, usd("0.25"), Label::Estimated, now)
            .await
            .unwrap();
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(restart)
        .status()
        .unwrap();
    assert!(status.success(), "restart command failed");
    // Right after a restart the first call may hit a dead pooled connection:
    // it must fail loudly with a coded error or succeed, never lie.
    let mut recovered = None;
    for _ in 0..50 {
        match l.status(&scope, Timestamp::now()).await {
            Ok(s) => {
                recovered = s;
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), "ledger_unavailable", "{e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    let st = recovered.expect("the ledger recovers after the restart");
    assert_eq!(st.spent, usd("1.25"), "settled spend survives the restart");
    assert_eq!(st.held, Usd::ZERO);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_keeps_settled_spend() {
    let Some(url) = service(
        "BYOK_TEST_POSTGRES_URL",
        "postgres_restart_keeps_settled_spend",
    ) else {
        return;
    };
    let Some(restart) = service(
        "BYOK_TEST_POSTGRES_RESTART",
        "postgres_restart_keeps_settled_spend",
    ) else {
        return;
    };
    let _exclusive = SERVERS.write().await;
    survives_restart(ledger::open(&url).await.unwrap(), &restart).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_keeps_settled_spend() {
    let Some(url) = service("BYOK_TEST_REDIS_URL", "redis_restart_keeps_settled_spend") else {
        return;
    };
    let Some(restart) = service(
        "BYOK_TEST_REDIS_RESTART",
        "redis_restart_keeps_settled_spend",
    ) else {
        return;
    };
    let _exclusive = SERVERS.write().await;
    survives_restart(ledger::open(&url).await.unwrap(), &restart).await;
}

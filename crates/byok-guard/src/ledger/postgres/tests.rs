//! PostgreSQL-only guarantees (the contract itself runs in `tests/ledgers.rs`).

use super::previous::Previous;
use super::*;
use crate::budget::Period;
use jiff::SignedDuration;

/// `BYOK_TEST_POSTGRES_URL`, or `None` (skipped loudly) without one.
fn url(test: &str) -> Option<String> {
    match std::env::var("BYOK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("BYOK_TEST_POSTGRES_URL is required for {test}")
        }
        _ => {
            eprintln!("SKIPPED (set BYOK_TEST_POSTGRES_URL): {test}");
            None
        }
    }
}

/// A ledger on `BYOK_TEST_POSTGRES_URL`, or `None` (skipped loudly) without one.
async fn ledger(test: &str) -> Option<PostgresLedger> {
    Some(PostgresLedger::connect(&url(test)?).await.unwrap())
}

/// A database made by earlier versions, in a schema of its own (dropped at
/// the end): one made before relabelling existed (no settle columns), and one
/// made by the version before the schema had one definition. Each opens
/// (through `from_pool`), keeps its figures, and keeps the contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn databases_of_earlier_versions_open_and_keep_their_books() {
    use sqlx::postgres::PgConnectOptions;
    let Some(url) = url("databases_of_earlier_versions_open_and_keep_their_books") else {
        return;
    };
    let admin = PgPool::connect(&url).await.unwrap();
    let before_relabel = "
        CREATE TABLE byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL);
        CREATE TABLE byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL);
        CREATE TABLE byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label));";
    let before_one_schema = super::super::schema::POSTGRES_BEFORE.join(";\n");
    for ddl in [before_relabel, before_one_schema.as_str()] {
        let schema = format!("byok_guard_old_{}", uuid::Uuid::now_v7().simple());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let options = url
            .parse::<PgConnectOptions>()
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "{ddl};
             INSERT INTO byok_guard_budgets VALUES ('kept', '{{\"scope\":\"kept\",\"limit\":\"5\",\"period\":\"total\"}}');
             INSERT INTO byok_guard_spend VALUES ('kept', 'total', 'estimated', '1.5');"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let l = PostgresLedger::from_pool(pool.clone()).await.unwrap();
        let st = l
            .status(&Scope::custom("kept").unwrap(), Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(st.spent, usd("1.5"));
        crate::conformance::run_all(Arc::new(l)).await;
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'byok_guard_reservations' ORDER BY 1",
        )
        .bind(&schema)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(
            columns,
            ["amount", "expires_at", "id", "label", "settled_at", "state"]
        );
        pool.close().await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .unwrap();
    }
}

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

fn scope(name: &str) -> Scope {
    Scope::custom(format!("pg-test:{name}:{}", uuid::Uuid::now_v7())).unwrap()
}

fn req(scopes: &[&Scope], amount: &str, now: Timestamp) -> HoldRequest {
    HoldRequest {
        id: ReservationId::new(),
        scopes: scopes.iter().map(|s| (*s).clone()).collect(),
        amount: usd(amount),
        now,
        expires_at: now + SignedDuration::from_mins(10),
    }
}

async fn held(l: &dyn Ledger, r: &HoldRequest) -> bool {
    matches!(l.hold(r).await.unwrap(), HoldOutcome::Held { .. })
}

#[tokio::test]
async fn a_budget_replaced_by_another_instance_applies_at_once() {
    let (Some(a), Some(b)) = (
        ledger("a_budget_replaced_by_another_instance_applies_at_once").await,
        ledger("a_budget_replaced_by_another_instance_applies_at_once").await,
    ) else {
        return;
    };
    let s = scope("replaced");
    let now = Timestamp::now();
    a.put_budget(&Budget::new(s.clone(), usd("1"), Period::Total))
        .await
        .unwrap();
    // `b` learns the budget from its first hold, then keeps its copy.
    assert!(held(&b, &req(&[&s], "0.5", now)).await);
    a.put_budget(&Budget::new(s.clone(), usd("0.6"), Period::Day))
        .await
        .unwrap();
    match b.hold(&req(&[&s], "0.25", now)).await.unwrap() {
        HoldOutcome::Denied(d) => {
            assert_eq!((d.limit, d.reserved), (usd("0.6"), usd("0.5")));
        }
        other => panic!("b must apply a's new limit, got {other:?}"),
    }
    assert!(held(&b, &req(&[&s], "0.1", now)).await);
    // Deleted by another instance: the scope no longer limits anything.
    assert!(a.delete_budget(&s).await.unwrap());
    match b.hold(&req(&[&s], "100", now)).await.unwrap() {
        HoldOutcome::Held { budgets } => assert!(budgets.is_empty()),
        other => panic!("a deleted budget cannot deny, got {other:?}"),
    }
}

/// Instances of the previous version (multi-statement transactions over the
/// same tables) and this one keep one set of books.
#[tokio::test]
async fn the_previous_version_shares_the_books() {
    let Some(new) = ledger("the_previous_version_shares_the_books").await else {
        return;
    };
    let old = Previous::new(new.pool().clone());
    let (s, t) = (scope("shared"), scope("shared-2"));
    let now = Timestamp::now();
    let budget = Budget::new(s.clone(), usd("1"), Period::Month).alerts([50]);
    old.put_budget(&budget).await.unwrap();
    new.put_budget(&Budget::new(t.clone(), usd("10"), Period::Day))
        .await
        .unwrap();
    let a = req(&[&s, &t], "0.5", now);
    assert!(matches!(
        old.hold(&a).await.unwrap(),
        HoldOutcome::Held { .. }
    ));
    // The old instance's hold counts for the new one, and the other way round.
    let b = req(&[&s], "0.5", now);
    assert!(held(&new, &b).await);
    assert!(matches!(
        old.hold(&req(&[&s], "0.01", now)).await.unwrap(),
        HoldOutcome::Denied(_)
    ));
    assert!(!held(&new, &req(&[&t, &s], "0.01", now)).await);
    // Settled by the other version: spend lands in the same rows, alerts fire once.
    match new
        .settle(a.id, usd("0.25"), Label::Estimated, now)
        .await
        .unwrap()
    {
        SettleOutcome::Settled { alerts, .. } => assert!(alerts.is_empty()),
        other => panic!("{other:?}"),
    }
    match old
        .settle(b.id, usd("0.375"), Label::Estimated, now)
        .await
        .unwrap()
    {
        SettleOutcome::Settled { alerts, .. } => {
            assert_eq!(alerts.len(), 1);
            assert_eq!(alerts[0].spent, usd("0.625"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        old.settle(a.id, usd("0.25"), Label::Estimated, now)
            .await
            .unwrap(),
        SettleOutcome::AlreadySettled
    );
    for l in [&new as &dyn Ledger] {
        let st = l.status(&s, now).await.unwrap().unwrap();
        assert_eq!((st.spent, st.held), (usd("0.625"), Usd::ZERO));
        assert_eq!(st.alerts_fired, vec![50]);
    }
    // Exactly the room left: 0.375 fits, a picodollar more does not.
    assert!(!held(&new, &req(&[&s], "0.375000000001", now)).await);
    assert!(held(&new, &req(&[&s], "0.375", now)).await);
    let moved = new
        .relabel(&RelabelRequest {
            scope: s.clone(),
            start: now,
            end: now + SignedDuration::from_secs(1),
            from: vec![Label::Estimated],
            to: Label::VerifiedByProvider,
        })
        .await
        .unwrap();
    assert_eq!((moved.calls, moved.moved_calls), (2, 2));
    assert_eq!(moved.moved, usd("0.625"));
    let st = new.status(&t, now).await.unwrap().unwrap();
    assert_eq!(
        st.spent_by_label.get(&Label::VerifiedByProvider),
        Some(&usd("0.25"))
    );
    assert_eq!(st.spent_by_label.get(&Label::Estimated), None);
}

/// Old and new instances racing on one budget admit exactly its room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_previous_version_races_fairly() {
    let Some(new) = ledger("the_previous_version_races_fairly").await else {
        return;
    };
    let new = Arc::new(new);
    let old = Arc::new(Previous::new(new.pool().clone()));
    let s = scope("mixed-race");
    new.put_budget(&Budget::new(s.clone(), usd("1"), Period::Total))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (new, old, s) = (new.clone(), old.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0;
            for _ in 0..10 {
                let r = req(&[&s], "0.01", Timestamp::now());
                let outcome = if i % 2 == 0 {
                    new.hold(&r).await.unwrap()
                } else {
                    old.hold(&r).await.unwrap()
                };
                if let HoldOutcome::Held { .. } = outcome {
                    admitted += 1;
                    // Settle half of them on the other version, at the held amount.
                    if admitted % 2 == 0 {
                        let settled = if i % 2 == 0 {
                            old.settle(r.id, usd("0.01"), Label::Estimated, r.now).await
                        } else {
                            new.settle(r.id, usd("0.01"), Label::Estimated, r.now).await
                        };
                        settled.unwrap();
                    }
                }
            }
            admitted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(
        total, 100,
        "exactly limit / amount admitted across versions"
    );
    let st = new.status(&s, Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(st.spent.checked_add(st.held).unwrap(), usd("1"));
}

#[tokio::test]
async fn the_functions_refuse_snapshot_isolation() {
    let Some(l) = ledger("the_functions_refuse_snapshot_isolation").await else {
        return;
    };
    let mut tx = l.pool().begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .unwrap();
    let e = sqlx::query(AssertSqlSafe(l.calls.settle.clone()))
        .bind(ReservationId::new().to_string())
        .bind("1")
        .bind("estimated")
        .bind(0i64)
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("READ COMMITTED"), "{e}");
}

#[tokio::test]
async fn figures_come_back_exact() {
    let Some(l) = ledger("figures_come_back_exact").await else {
        return;
    };
    let s = scope("exact");
    let now = Timestamp::now();
    l.put_budget(&Budget::new(s.clone(), usd("0.3"), Period::Week).alerts([100]))
        .await
        .unwrap();
    let a = req(&[&s], "0.1", now);
    let b = req(&[&s], "0.000000000001", now);
    assert!(held(&l, &a).await && held(&l, &b).await);
    match l.hold(&req(&[&s], "0.2", now)).await.unwrap() {
        HoldOutcome::Denied(d) => {
            assert_eq!(d.reserved, usd("0.100000000001"));
            assert_eq!(d.spent, Usd::ZERO);
        }
        other => panic!("{other:?}"),
    }
    l.settle(a.id, usd("0.15"), Label::Estimated, now)
        .await
        .unwrap();
    match l
        .settle(b.id, usd("0.15"), Label::Unavailable, now)
        .await
        .unwrap()
    {
        SettleOutcome::Settled { alerts, .. } => {
            assert_eq!(alerts.len(), 1);
            assert_eq!((alerts[0].spent, alerts[0].limit), (usd("0.3"), usd("0.3")));
            assert_eq!(alerts[0].percent, 100);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        l.release(b.id).await.unwrap_err().code(),
        "reservation_settled"
    );
}

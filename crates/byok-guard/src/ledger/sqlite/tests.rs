//! SQLite-only guarantees: files, paths, URLs, older files, two handles on one file.

use std::sync::Arc;

use super::SqliteLedger;
use crate::{Budget, Ledger, Period, Scope, Usd};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_ledger_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    crate::conformance::run_all(Arc::new(SqliteLedger::open(&url).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_and_two_handles_on_one_file() {
    crate::conformance::run_all(Arc::new(
        SqliteLedger::open("sqlite::memory:").await.unwrap(),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = Arc::new(SqliteLedger::open(&url).await.unwrap());
    let b = Arc::new(SqliteLedger::open(&url).await.unwrap());
    // Two connections on one file stand in for two processes inside one test.
    let (ra, rb) = tokio::join!(
        crate::conformance::concurrent_holds_never_overspend(a, 8, 20),
        crate::conformance::concurrent_holds_never_overspend(b, 8, 20),
    );
    let _ = (ra, rb);
}

/// A file written by the earlier schema (no settle columns) opens, gains
/// them, and keeps its spend.
/// New files get 1 KiB pages (fewer bytes through the WAL per reserve +
/// settle); a file made before keeps its own page size and its figures.
#[tokio::test]
async fn new_files_get_small_pages_and_old_files_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let page_size = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    // Open the ledger at `path`, write a budget, read it back, close it.
    async fn use_ledger(path: &std::path::Path) {
        let scope = Scope::custom("s").unwrap();
        let ledger = SqliteLedger::open(path).await.unwrap();
        let budget = Budget::new(scope.clone(), Usd::from_dollars(1), Period::Month);
        ledger.put_budget(&budget).await.unwrap();
        assert!(ledger.budget(&scope).await.unwrap().is_some());
    }
    let new = dir.path().join("new.db");
    use_ledger(&new).await;
    assert_eq!(page_size(&new), 1024);

    let old = dir.path().join("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size = 4096; CREATE TABLE before_us (x INTEGER);")
        .unwrap();
    use_ledger(&old).await;
    assert_eq!(page_size(&old), 4096);
}

#[tokio::test]
async fn an_older_ledger_file_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL);
             CREATE TABLE byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL);
             CREATE TABLE byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label));
             INSERT INTO byok_guard_budgets VALUES ('old', '{\"scope\":\"old\",\"limit\":\"5\",\"period\":\"total\"}');
             INSERT INTO byok_guard_spend VALUES ('old', 'total', 'estimated', '1.5');",
        )
        .unwrap();
    }
    let ledger = SqliteLedger::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let scope = Scope::custom("old").unwrap();
    let st = Ledger::status(&ledger, &scope, jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.spent, "1.5".parse().unwrap());
    crate::conformance::run_all(Arc::new(ledger)).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_ledger_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let _l = SqliteLedger::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    for file in [path.clone(), dir.path().join("private.db-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn open_errors_never_repeat_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/missing/secret-part.db", dir.path().display());
    let e = SqliteLedger::open(&url).await.unwrap_err();
    assert_eq!(e.code(), "ledger_unavailable");
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains("secret-part") && !shown.contains("missing"),
        "{shown}"
    );
    assert!(shown.contains("cannot open the ledger file"), "{shown}");
}

#[tokio::test]
async fn bad_urls_are_coded() {
    for bad in ["sqlite:", "sqlite://", "postgres://x", "/a/plain/path.db"] {
        assert_eq!(
            SqliteLedger::connect(bad).await.unwrap_err().code(),
            "invalid_ledger_url",
            "{bad}"
        );
    }
    for empty in ["", "sqlite:"] {
        assert_eq!(
            SqliteLedger::open(empty).await.unwrap_err().code(),
            "invalid_ledger_url",
            "{empty:?}"
        );
    }
}

/// `open` takes a path (`&str`, `String`, `&Path`, `PathBuf`; `:memory:`),
/// `connect` a URL, and `open` still reads the 0.1 form `sqlite:PATH` as a URL.
#[tokio::test]
async fn open_takes_a_path_and_connect_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paths.db");
    let s = Scope::custom(format!("paths:{}", uuid::Uuid::now_v7())).unwrap();
    let by_path = SqliteLedger::open(&path).await.unwrap();
    by_path
        .put_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Total))
        .await
        .unwrap();
    let same_file = [
        SqliteLedger::open(path.to_str().unwrap()).await.unwrap(),
        SqliteLedger::open(format!("sqlite:{}", path.display()))
            .await
            .unwrap(),
        SqliteLedger::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    ];
    for l in &same_file {
        assert!(l.budget(&s).await.unwrap().is_some(), "{l:?}");
    }
    let memory = SqliteLedger::open(":memory:").await.unwrap();
    assert!(memory.budget(&s).await.unwrap().is_none());
    assert!(!std::path::Path::new(":memory:").exists());
    // Only the text `sqlite:` at the start makes a URL: this is a file of that name.
    let named = dir.path().join("sqlite:named.db");
    let _named = SqliteLedger::open(&named).await.unwrap();
    assert!(named.exists());
}

/// A file made by an earlier version (the two SQL backends each had their
/// own schema, and SQLite's indexes were full) keeps its tables and figures,
/// gets the partial indexes in place of the full ones, and is then the file
/// this version makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ledger_file_of_the_previous_schema_opens_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (before, fresh) = (dir.path().join("before.db"), dir.path().join("fresh.db"));
    {
        let c = rusqlite::Connection::open(&before).unwrap();
        c.execute_batch(crate::ledger::schema::SQLITE_BEFORE)
            .unwrap();
        c.execute_batch(
            "INSERT INTO byok_guard_budgets VALUES ('kept', '{\"scope\":\"kept\",\"limit\":\"5\",\"period\":\"total\"}');
             INSERT INTO byok_guard_spend VALUES ('kept', 'total', 'estimated', '1.5');",
        )
        .unwrap();
    }
    let objects = |path: &std::path::Path| -> Vec<(String, String, Option<String>)> {
        let c = rusqlite::Connection::open(path).unwrap();
        let mut stmt = c
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let made_before = objects(&before);
    let ledger = SqliteLedger::open(&before).await.unwrap();
    let _fresh = SqliteLedger::open(&fresh).await.unwrap();
    let migrated = objects(&before);
    assert_eq!(migrated, objects(&fresh), "the same tables and indexes");
    let tables = |o: &[(String, String, Option<String>)]| -> Vec<_> {
        o.iter().filter(|(t, ..)| t == "table").cloned().collect()
    };
    assert_eq!(tables(&migrated), tables(&made_before), "tables unchanged");
    let index_names: Vec<&str> = migrated
        .iter()
        .filter(|(t, ..)| t == "index")
        .map(|(_, n, _)| n.as_str())
        .filter(|n| !n.starts_with("sqlite_autoindex"))
        .collect();
    assert_eq!(
        index_names,
        ["byok_guard_holds_open", "byok_guard_reservations_done"]
    );
    let st = ledger
        .status(&Scope::custom("kept").unwrap(), jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.spent, "1.5".parse().unwrap());
    crate::conformance::run_all(Arc::new(ledger)).await;
}

/// The hot statements read the partial indexes: a hold counts live holds
/// through `holds_open`, and a relabel finds settled calls through
/// `reservations_done` (a plan that scanned a table would make every call
/// slower as the file grows).
#[tokio::test]
async fn the_hot_queries_use_the_partial_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let _ledger = SqliteLedger::open(&path).await.unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("; ")
    };
    let held = plan(
        "SELECT amount FROM byok_guard_holds WHERE scope = 's' AND active = 1 AND expires_at > 5",
    );
    assert!(held.contains("byok_guard_holds_open"), "{held}");
    let settled = plan(
        "SELECT r.settled_at FROM byok_guard_reservations r \
         WHERE r.state = 'settled' AND r.settled_at >= 1 AND r.settled_at < 9",
    );
    assert!(
        settled.contains("byok_guard_reservations_done"),
        "{settled}"
    );
}

/// Take the ledger's connection on a thread of its own until the returned
/// sender is dropped (or sent to).
fn take_connection(ledger: &SqliteLedger) -> std::sync::mpsc::Sender<()> {
    let db = ledger.db.clone();
    let (taken, is_taken) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _conn = db.conn.lock().unwrap();
        taken.send(()).unwrap();
        let _ = released.recv();
    });
    is_taken.recv().unwrap();
    release
}

/// A ledger in `dir` with a $1 budget on scope `name`.
async fn with_a_dollar(dir: &tempfile::TempDir, name: &str) -> (SqliteLedger, Scope) {
    let ledger = SqliteLedger::open(dir.path().join("ledger.db"))
        .await
        .unwrap();
    let s = Scope::custom(name).unwrap();
    let budget = Budget::new(s.clone(), Usd::from_dollars(1), Period::Total);
    ledger.put_budget(&budget).await.unwrap();
    (ledger, s)
}

fn hold_of(scope: &Scope, dollars: &str) -> crate::ledger::HoldRequest {
    let now = jiff::Timestamp::now();
    crate::ledger::HoldRequest {
        id: crate::ReservationId::new(),
        scopes: vec![scope.clone()],
        amount: dollars.parse().unwrap(),
        now,
        expires_at: now + jiff::SignedDuration::from_mins(10),
    }
}

/// Operations asked for while the connection is taken run as one group, one
/// transaction with a savepoint each: a denied hold rolls back only itself,
/// and the admitted ones are exactly what fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_asked_for_together_share_a_transaction_and_deny_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, s) = with_a_dollar(&dir, "grouped").await;
    let before = super::SHARED_GROUPS.load(std::sync::atomic::Ordering::Relaxed);
    // Take the connection, so that every hold below queues behind the first.
    let taken = take_connection(&ledger);
    let mut calls = Vec::new();
    for _ in 0..11 {
        let (l, r) = (ledger.clone(), hold_of(&s, "0.30"));
        calls.push(tokio::spawn(async move { l.hold(&r).await }));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(taken);
    let mut admitted = 0;
    for c in calls {
        if let crate::ledger::HoldOutcome::Held { .. } = c.await.unwrap().unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3, "three holds of $0.30 fit in $1");
    let st = ledger
        .status(&s, jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.held, "0.90".parse().unwrap());
    let after = super::SHARED_GROUPS.load(std::sync::atomic::Ordering::Relaxed);
    assert!(after > before, "the queued holds ran as a group");
}

/// The caller running the groups may go away while one waits for the
/// connection: the queue still gets a writer, and the others their answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_goes_away_mid_group_leaves_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, s) = with_a_dollar(&dir, "leader").await;
    let taken = take_connection(&ledger);
    let (l, r) = (ledger.clone(), hold_of(&s, "0.10"));
    let leader = tokio::spawn(async move { l.hold(&r).await });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (l, r) = (ledger.clone(), hold_of(&s, "0.20"));
    let follower = tokio::spawn(async move { l.hold(&r).await });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    drop(taken);
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), follower)
        .await
        .expect("the follower got its answer")
        .unwrap()
        .unwrap();
    assert!(matches!(answer, crate::ledger::HoldOutcome::Held { .. }));
    // The leader's own hold was written all the same (its group had started).
    let st = ledger
        .status(&s, jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.held, "0.30".parse().unwrap());
}

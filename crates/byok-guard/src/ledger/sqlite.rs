//! `SqliteLedger`: the embedded default, one file, safe across processes.
//!
//! Each operation is one `BEGIN IMMEDIATE` transaction of prepared, cached
//! statements on one connection, run where it is asked for when the file is
//! free, else on tokio's blocking pool (a busy file can make SQLite wait, and
//! that wait must not stall the async executor). Writes (holds, settles,
//! releases, relabels, budget changes) asked for while another is being
//! written share the next transaction, each in a savepoint of its own
//! ([`SqliteLedger::grouped`]): under load a group of calls pays for one
//! commit instead of one each.
//! Running the statements in-process with rusqlite rather than through an
//! async driver's worker thread is what keeps a reserve + settle near 100 µs:
//! each statement then costs microseconds, not a thread round trip.
//!
//! WAL checkpoints (copying committed pages back into the database file, with
//! an `fsync`) run on a background thread with its own connection, not inside
//! a reservation's commit: left to SQLite's automatic checkpoint, every
//! seventieth or so reserve + settle paid for one, which doubled the average.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::row::Rows;
use super::schema::{self, Dialect, SETTLE_COLUMNS};
use super::{
    Alert, Buckets, BudgetStatus, HistoryRequest, HoldOutcome, HoldRequest, Ledger, RelabelRequest,
    Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, SpendBucket, check, distinct_scopes,
    over_limit, status_of,
};
use crate::budget::{Budget, CachedBudget, Scope};
use crate::cost::Label;
use crate::{GuardError, Usd};

#[cfg(test)]
mod tests;

/// Reads stored text back (errors name the `sqlite` backend).
const ROWS: Rows = Rows::new("sqlite");

/// A ledger in one SQLite file (WAL mode, `synchronous = NORMAL`, 1 KiB pages in a new file).
///
/// Every mutation runs in a `BEGIN IMMEDIATE` transaction, so writers —
/// tasks or whole processes sharing the file — are serialised and a hold's
/// check-then-write is atomic. Concurrent writes of one handle are grouped
/// into one transaction, one savepoint each, and answered only once it is
/// committed. Amounts are stored as exact decimal text.
/// With WAL and `synchronous = NORMAL` a committed operation survives the
/// crash of any process; only an OS crash or power loss can drop the last
/// commits (FULL would add an `fsync` to every reservation).
#[derive(Clone)]
pub struct SqliteLedger {
    db: Arc<Db>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger").finish_non_exhaustive()
    }
}

struct Db {
    conn: Mutex<Conn>,
    /// Writes waiting for the connection ([`SqliteLedger::grouped`]).
    queue: Mutex<Queue>,
    /// Set after each operation; the checkpointer clears it when it runs.
    dirty: Arc<AtomicBool>,
    checkpointer: Option<Checkpointer>,
}

/// One grouped operation: given its group's transaction (or why it could
/// not begin), it runs and returns what hands its answer over once that
/// transaction is committed (or has failed).
type Grouped = Box<dyn FnOnce(Given<'_, '_>, &mut Budgets) -> Deliver + Send>;

/// Hands an operation's answer over: given the group's commit.
type Deliver = Box<dyn FnOnce(&Result<(), GuardError>) + Send>;

/// What a grouped operation runs in.
enum Given<'a, 'c> {
    /// The whole transaction: the operation is the group (no savepoint; it
    /// commits or rolls back the transaction itself).
    Alone(rusqlite::Transaction<'c>),
    /// A share of the group's transaction (a savepoint of its own).
    Shared(&'a mut rusqlite::Transaction<'c>),
    /// The transaction could not begin.
    Failed(&'a GuardError),
}

/// An operation's transaction: its group's own, or a savepoint in it.
enum Work<'a> {
    Alone(rusqlite::Transaction<'a>),
    Shared(rusqlite::Savepoint<'a>),
}

impl std::ops::Deref for Work<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Work::Alone(tx) => tx,
            Work::Shared(sp) => sp,
        }
    }
}

impl Unit for Work<'_> {
    fn done(self) -> rusqlite::Result<()> {
        match self {
            Work::Alone(tx) => tx.commit(),
            Work::Shared(sp) => sp.commit(),
        }
    }
}

/// Operations waiting for a group, and whether one of their callers is
/// running groups (it goes on until the queue is empty).
#[derive(Default)]
struct Queue {
    ops: Vec<Grouped>,
    draining: bool,
}

/// Groups of more than one operation run so far (tests).
#[cfg(test)]
static SHARED_GROUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Most operations in one group's transaction.
const MAX_GROUP: usize = 256;

/// A transaction or a savepoint: what an operation writes in and ends.
trait Unit: std::ops::Deref<Target = Connection> {
    /// Commit a transaction, release a savepoint.
    fn done(self) -> rusqlite::Result<()>;
}

impl Unit for rusqlite::Transaction<'_> {
    fn done(self) -> rusqlite::Result<()> {
        self.commit()
    }
}

impl Unit for rusqlite::Savepoint<'_> {
    fn done(self) -> rusqlite::Result<()> {
        self.commit()
    }
}

/// The background thread that checkpoints the WAL while the ledger is in use.
struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(c) = &self.checkpointer {
            c.stop.store(true, Ordering::Release);
            c.thread.unpark();
        }
    }
}

/// How often the checkpointer looks for new commits.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Backstop: if the checkpointer falls behind, a commit checkpoints once the WAL
/// holds this many pages (400 MiB), so the WAL can never grow without bound.
const AUTOCHECKPOINT_BACKSTOP: i64 = 100_000;

fn start_checkpointer(path: &Path, dirty: Arc<AtomicBool>) -> Option<Checkpointer> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("byok-ledger-checkpoint".into())
        .spawn(move || {
            while !flag.load(Ordering::Acquire) {
                std::thread::park_timeout(CHECKPOINT_EVERY);
                if dirty.swap(false, Ordering::AcqRel) {
                    // PASSIVE never waits for readers or writers; what it cannot copy now it
                    // copies next time. A failure (disk full, say) leaves the commits safe in
                    // the WAL and the backstop autocheckpoint in place.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            }
            // One last pass so a short-lived process leaves a small WAL behind.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .ok()?;
    Some(Checkpointer {
        stop,
        thread: handle.thread().clone(),
    })
}

/// The connection and what this process remembers about budgets.
struct Conn {
    sql: Connection,
    /// scope → the spec text last read, its parsed budget and the current window.
    budgets: HashMap<String, Cached>,
}

/// A budget's spec as last read, and the budget with its current period.
struct Cached {
    spec: String,
    budget: CachedBudget,
}

const UPSERT_SPEND: &str = "INSERT INTO byok_guard_spend (scope, period, label, amount) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (scope, period, label) DO UPDATE SET amount = excluded.amount";

fn err(e: rusqlite::Error) -> GuardError {
    GuardError::Ledger {
        backend: "sqlite",
        message: e.to_string(),
    }
}

/// An error while opening: rusqlite puts the file's path in its message, and
/// the path comes from the ledger URL, which must never be repeated (it can
/// hold anything a caller put there). Keep only SQLite's code and its generic text.
fn open_err(e: rusqlite::Error) -> GuardError {
    let message = match &e {
        rusqlite::Error::SqliteFailure(code, _) => format!(
            "cannot open the ledger file: {code} (check that its directory exists and is writable)"
        ),
        _ => "cannot open the ledger file".to_owned(),
    };
    GuardError::Ledger {
        backend: "sqlite",
        message,
    }
}

/// True for the answers SQLite gives while another connection holds a lock
/// that its busy handler does not wait for (e.g. during the switch to WAL).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl SqliteLedger {
    /// Open (creating if missing, with mode 0600) the ledger file at `path`;
    /// `:memory:` is a ledger of this handle only. The parent directory must exist.
    ///
    /// For compatibility with 0.1, whose `open` took a URL, a path whose text
    /// starts with `sqlite:` is read as a URL ([`connect`](Self::connect)); to
    /// open a file whose name really starts that way, write it `./sqlite:…`.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteLedger, GuardError> {
        let path = path.as_ref();
        match path.to_str() {
            Some(url) if url.starts_with("sqlite:") => SqliteLedger::connect(url).await,
            _ => SqliteLedger::open_path(path.to_path_buf()).await,
        }
    }

    /// Open (creating if missing) `sqlite:PATH`, `sqlite://PATH` or
    /// `sqlite::memory:`, the URLs [`ledger::open`](super::open) takes.
    pub async fn connect(url: &str) -> Result<SqliteLedger, GuardError> {
        let path = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| GuardError::InvalidLedgerUrl {
                reason: "a SQLite URL starts with sqlite:".into(),
            })?;
        let path = path.strip_prefix("//").unwrap_or(path);
        SqliteLedger::open_path(PathBuf::from(path)).await
    }

    async fn open_path(path: PathBuf) -> Result<SqliteLedger, GuardError> {
        if path.as_os_str().is_empty() {
            return Err(GuardError::InvalidLedgerUrl {
                reason: "the SQLite path is empty".into(),
            });
        }
        let dirty = Arc::new(AtomicBool::new(false));
        let flag = dirty.clone();
        let (conn, checkpointer) = tokio::task::spawn_blocking(move || {
            let conn = open_with_retries(&path)?;
            if is_memory(&path) {
                return Ok((conn, None));
            }
            let checkpointer = start_checkpointer(&path, flag);
            if checkpointer.is_some() {
                conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_BACKSTOP)
                    .map_err(err)?;
            }
            Ok::<_, GuardError>((conn, checkpointer))
        })
        .await
        .map_err(|_| ROWS.corrupt("the ledger's opening task panicked"))??;
        Ok(SqliteLedger {
            db: Arc::new(Db {
                conn: Mutex::new(Conn {
                    sql: conn,
                    budgets: HashMap::new(),
                }),
                queue: Mutex::new(Queue::default()),
                dirty,
                checkpointer,
            }),
        })
    }

    /// Run `f` on the connection, on the blocking pool (reads, and writes that must wait).
    async fn run<T, F>(&self, f: F) -> Result<T, GuardError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, GuardError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` rolled its transaction back (rusqlite rolls back
            // on drop), so the connection is still consistent.
            let mut conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
            let out = f(&mut conn);
            db.dirty.store(true, Ordering::Release);
            out
        })
        .await
        .map_err(|_| ROWS.corrupt("a ledger operation panicked"))?
    }
}

impl SqliteLedger {
    /// Run a write (a hold, settle, release, relabel or budget change) in a
    /// group: `f` gets its transaction open (`BEGIN IMMEDIATE`, or a savepoint
    /// in one) and ends it with `Unit::done`, or drops it to roll back. The
    /// operations that callers ask for while one is being written share its
    /// transaction, each in a savepoint of its own (a denied hold or a failed
    /// operation rolls back only itself), and every answer is handed over
    /// once that transaction is committed. Under load, a dozen calls then cost
    /// one `BEGIN IMMEDIATE`, one set of WAL frames for the pages they share
    /// and one commit, instead of a dozen; a lone caller runs its operation
    /// itself, right away.
    ///
    /// The caller that finds no group under way runs the next one, which
    /// holds its own operation: right here when this process's connection is
    /// free and no other process holds the file's write lock (an operation is
    /// tens of microseconds of CPU and buffered writes, cheaper than a hop to
    /// another thread and back), else on the blocking pool with the 60 s busy
    /// timeout. It hands the operations queued meanwhile to a task of its own
    /// that runs groups until the queue is empty; the others wait for their
    /// answer.
    async fn grouped<T, F>(&self, f: F) -> Result<T, GuardError>
    where
        T: Send + 'static,
        F: FnOnce(Work<'_>, &mut Budgets) -> Result<T, GuardError> + Send + 'static,
    {
        let (send, answer) = tokio::sync::oneshot::channel();
        let op: Grouped = Box::new(move |tx, budgets| {
            let out = match tx {
                Given::Alone(tx) => f(Work::Alone(tx), budgets),
                Given::Shared(tx) => match tx.savepoint() {
                    Ok(sp) => f(Work::Shared(sp), budgets),
                    Err(e) => Err(err(e)),
                },
                Given::Failed(e) => Err(e.clone()),
            };
            Box::new(move |committed: &Result<(), GuardError>| {
                // A caller that went away needs no answer (its operation stands).
                let _ = send.send(committed.clone().and(out));
            })
        });
        let lead = {
            let mut q = self.db.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.ops.push(op);
            !std::mem::replace(&mut q.draining, true)
        };
        if lead {
            // One group here (it holds this caller's operation); more, if
            // they queue meanwhile, in a task of their own: a caller is never
            // kept writing for others under sustained load.
            Drain::new(self.clone()).run(Some(1)).await;
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ROWS.corrupt("a ledger operation was lost")))
    }

    /// The next group, or `None` (and no longer draining) when the queue is empty.
    fn next_group(&self) -> Option<Vec<Grouped>> {
        let mut q = self.db.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.ops.is_empty() {
            q.draining = false;
            return None;
        }
        let n = q.ops.len().min(MAX_GROUP);
        Some(q.ops.drain(..n).collect())
    }
}

/// Runs groups, until the queue is empty or a limit. If its caller goes away
/// mid-way (the future dropped while a group waits on the blocking pool), a
/// task of its own takes over, so queued operations are never left without a
/// writer.
struct Drain {
    ledger: Option<SqliteLedger>,
}

impl Drain {
    fn new(ledger: SqliteLedger) -> Drain {
        Drain {
            ledger: Some(ledger),
        }
    }

    /// Run groups until the queue is empty, or at most `limit` of them and
    /// then hand what is left to a task of its own.
    async fn run(mut self, limit: Option<usize>) {
        let Some(ledger) = self.ledger.clone() else {
            return;
        };
        let mut ran = 0;
        loop {
            if limit.is_some_and(|l| ran >= l) {
                let more = {
                    let mut q = ledger.db.queue.lock().unwrap_or_else(|p| p.into_inner());
                    if q.ops.is_empty() {
                        q.draining = false;
                    }
                    !q.ops.is_empty()
                };
                // Still `draining` when more wait: the task below is the
                // queue's writer now.
                if let Some(ledger) = self.ledger.take()
                    && more
                {
                    drop(tokio::spawn(Resume(Some(ledger)).run()));
                }
                return;
            }
            let Some(group) = ledger.next_group() else {
                break;
            };
            ran += 1;
            let group = match group_here(&ledger.db, group) {
                None => continue,
                Some(group) => group,
            };
            let db = ledger.db.clone();
            let waited = tokio::task::spawn_blocking(move || {
                let mut guard = db.conn.lock().unwrap_or_else(|p| p.into_inner());
                let c: &mut Conn = &mut guard;
                let tx = c
                    .sql
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err);
                run_group(tx, &mut c.budgets, group);
                db.dirty.store(true, Ordering::Release);
            })
            .await;
            if waited.is_err() {
                // The group panicked: its answers were dropped with it, and
                // their callers get "lost". The queue goes on.
                continue;
            }
        }
        self.ledger = None;
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        let Some(ledger) = self.ledger.take() else {
            return;
        };
        let resume = Resume(Some(ledger));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(resume.run()));
        }
    }
}

/// The task that takes over a [`Drain`] whose caller went away. Dropped
/// without running (its runtime shutting down), it does not spawn again: it
/// clears `draining`, so the next caller to queue an operation runs the
/// queue instead.
struct Resume(Option<SqliteLedger>);

impl Resume {
    /// Boxed with `Send` spelled out: a drain spawns a resume that awaits a
    /// drain, a cycle the compiler cannot see `Send` through by itself.
    fn run(mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            if let Some(ledger) = self.0.take() {
                Drain::new(ledger).run(None).await;
            }
        })
    }
}

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(ledger) = self.0.take() {
            let mut q = ledger.db.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.draining = false;
        }
    }
}

/// The fast path of a group: run it on this thread when the connection is
/// free and no other process holds the file's write lock; else hand it back.
fn group_here(db: &Db, group: Vec<Grouped>) -> Option<Vec<Grouped>> {
    let Ok(mut guard) = db.conn.try_lock() else {
        return Some(group);
    };
    let c = &mut *guard;
    if c.sql.busy_timeout(Duration::ZERO).is_err() {
        return Some(group);
    }
    let group = {
        let tx = match c
            .sql
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Err(e) if is_busy(&e) => None,
            other => Some(other.map_err(err)),
        };
        match tx {
            None => Some(group),
            Some(tx) => {
                run_group(tx, &mut c.budgets, group);
                db.dirty.store(true, Ordering::Release);
                None
            }
        }
    };
    // Restoring the busy timeout cannot fail on an open connection; if it
    // did, the next wait would simply not wait.
    let _ = c.sql.busy_timeout(BUSY_TIMEOUT);
    group
}

/// Run `group` in `tx`, each operation in its savepoint, commit, and hand
/// every answer over (the commit's error to all if it failed, or `tx`'s).
fn run_group(
    tx: Result<rusqlite::Transaction<'_>, GuardError>,
    budgets: &mut Budgets,
    group: Vec<Grouped>,
) {
    let mut tx = match tx {
        Ok(tx) => tx,
        Err(e) => {
            // Nothing ran: each operation's answer is the failure to begin.
            for op in group {
                op(Given::Failed(&e), budgets)(&Ok(()));
            }
            return;
        }
    };
    let mut group = group;
    if group.len() == 1
        && let Some(op) = group.pop()
    {
        // A group of one is its own transaction: no savepoint to pay for. Its
        // answer already says whether its commit went through.
        op(Given::Alone(tx), budgets)(&Ok(()));
        return;
    }
    #[cfg(test)]
    SHARED_GROUPS.fetch_add(1, Ordering::Relaxed);
    let delivers: Vec<Deliver> = group
        .into_iter()
        .map(|op| op(Given::Shared(&mut tx), budgets))
        .collect();
    let committed = tx.commit().map_err(err);
    for deliver in delivers {
        deliver(&committed);
    }
}

/// How long an operation waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// `:memory:`: SQLite's name for a database of one connection.
fn is_memory(path: &Path) -> bool {
    path == Path::new(":memory:")
}

fn open_with_retries(path: &Path) -> Result<Connection, GuardError> {
    // Processes opening one new file together can see "locked" at once while
    // another switches it to WAL; wait a little and try again, a bounded number of times.
    let mut attempt = 0u64;
    loop {
        match open_once(path) {
            Err(e) if is_busy(&e) && attempt < 40 => {
                attempt += 1;
                let jitter = u64::from(std::process::id() % 7) + attempt % 5;
                std::thread::sleep(Duration::from_millis(5 * attempt + jitter));
            }
            other => return other.map_err(open_err),
        }
    }
}

fn open_once(path: &Path) -> rusqlite::Result<Connection> {
    let in_memory = is_memory(path);
    if !in_memory {
        // Budgets and scopes are nobody else's business. A failure here
        // surfaces when SQLite opens the path.
        let _ = byok_keys::fs::create_private_file(path);
    }
    let mut conn = if in_memory {
        Connection::open_in_memory()?
    } else {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?
    };
    // Writers queue behind `BEGIN IMMEDIATE`; wait rather than fail under contention.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A new file gets 1 KiB pages: a reserve + settle rewrites a dozen or so
    // pages in the WAL, and with rows of ~100 bytes a 4 KiB page is mostly
    // bytes copied for nothing (55-57 us against 94 us per reserve + settle,
    // docs/PERFORMANCE.md). A file that exists keeps its page size.
    conn.execute_batch("PRAGMA page_size = 1024")?;
    if !in_memory {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!("the file stayed in journal mode {mode}, not WAL")),
            ));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint resets the WAL, truncate the file back to at most 64 MiB.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for stmt in schema::tables(Dialect::Sqlite) {
        tx.execute_batch(&stmt)?;
    }
    // Ledgers created before relabelling existed lack these columns.
    let columns: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('byok_guard_reservations')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, ty) in SETTLE_COLUMNS {
        if !columns.iter().any(|c| c == name) {
            tx.execute_batch(&format!(
                "ALTER TABLE byok_guard_reservations ADD COLUMN {name} {ty}"
            ))?;
        }
    }
    for stmt in schema::indexes(Dialect::Sqlite) {
        tx.execute_batch(&stmt)?;
    }
    tx.commit()?;
    Ok(conn)
}

/// Read the budget of `scope` inside `tx`, parsing its spec only when it changed.
fn load_budget<'c>(
    tx: &Connection,
    cache: &'c mut HashMap<String, Cached>,
    scope: &str,
) -> Result<Option<&'c mut Cached>, GuardError> {
    let spec: Option<String> = tx
        .prepare_cached("SELECT spec FROM byok_guard_budgets WHERE scope = ?1")
        .map_err(err)?
        .query_row([scope], |r| r.get(0))
        .optional()
        .map_err(err)?;
    let Some(spec) = spec else {
        cache.remove(scope);
        return Ok(None);
    };
    let fresh = cache.get(scope).is_none_or(|c| c.spec != spec);
    if fresh {
        let budget = CachedBudget::new(ROWS.budget(&spec)?);
        cache.insert(scope.to_owned(), Cached { spec, budget });
    }
    Ok(cache.get_mut(scope))
}

fn spend_by_label(
    tx: &Connection,
    scope: &str,
    period: &str,
) -> Result<BTreeMap<Label, Usd>, GuardError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT label, amount FROM byok_guard_spend WHERE scope = ?1 AND period = ?2",
        )
        .map_err(err)?;
    let mut rows = stmt.query([scope, period]).map_err(err)?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next().map_err(err)? {
        let l: String = r.get(0).map_err(err)?;
        let a: String = r.get(1).map_err(err)?;
        out.insert(ROWS.label(&l)?, ROWS.amount(&a)?);
    }
    Ok(out)
}

fn held(tx: &Connection, scope: &str, now: Timestamp) -> Result<Usd, GuardError> {
    // Lapsed holds are simply not counted: the partial (scope, expires_at) index
    // of active holds range-scans only live ones, so no cleanup write is needed
    // on the hot path.
    let mut stmt = tx
        .prepare_cached(
            "SELECT amount FROM byok_guard_holds WHERE scope = ?1 AND active = 1 AND expires_at > ?2",
        )
        .map_err(err)?;
    let mut rows = stmt
        .query(params![scope, now.as_millisecond()])
        .map_err(err)?;
    let mut total = Usd::ZERO;
    while let Some(r) = rows.next().map_err(err)? {
        let a: String = r.get(0).map_err(err)?;
        total = total.checked_add(ROWS.amount(&a)?)?;
    }
    Ok(total)
}

fn fired(tx: &Connection, scope: &str, period: &str) -> Result<Vec<u32>, GuardError> {
    let mut stmt = tx
        .prepare_cached("SELECT percent FROM byok_guard_alerts WHERE scope = ?1 AND period = ?2")
        .map_err(err)?;
    let mut rows = stmt.query([scope, period]).map_err(err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        let p: String = r.get(0).map_err(err)?;
        out.push(ROWS.percent(&p)?);
    }
    Ok(out)
}

fn hold_scopes(tx: &Connection, id: &str) -> Result<Vec<(String, String)>, GuardError> {
    let mut stmt = tx
        .prepare_cached("SELECT scope, period FROM byok_guard_holds WHERE id = ?1 ORDER BY scope")
        .map_err(err)?;
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(err)
}

/// The reservation's state (`held`, `settled`, `released`) and expiry (ms).
fn reservation_state(tx: &Connection, id: &str) -> Result<Option<(String, i64)>, GuardError> {
    tx.prepare_cached("SELECT state, expires_at FROM byok_guard_reservations WHERE id = ?1")
        .map_err(err)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(err)
}

fn deactivate(tx: &Connection, id: &str) -> Result<(), GuardError> {
    tx.prepare_cached("UPDATE byok_guard_holds SET active = 0 WHERE id = ?1")
        .map_err(err)?
        .execute([id])
        .map_err(err)?;
    Ok(())
}

type Budgets = HashMap<String, Cached>;

/// Move a scope's spend, holds and fired thresholds from period `from` to `into`
/// (a redefined budget keeps its open period's figures; see `Budget::carry_from`).
fn carry_period(tx: &Connection, scope: &str, from: &str, into: &str) -> Result<(), GuardError> {
    let mut merged = spend_by_label(tx, scope, into)?;
    for (label, amount) in spend_by_label(tx, scope, from)? {
        let total = merged.get(&label).copied().unwrap_or_default();
        merged.insert(label, total.checked_add(amount)?);
    }
    for (label, amount) in merged {
        tx.prepare_cached(UPSERT_SPEND)
            .map_err(err)?
            .execute(params![scope, into, label.as_str(), amount.to_string()])
            .map_err(err)?;
    }
    // Each statement takes (scope, from, into); the deletes mention `into` only to bind it.
    for sql in [
        "DELETE FROM byok_guard_spend WHERE scope = ?1 AND period = ?2 AND ?3 IS NOT NULL",
        "UPDATE byok_guard_holds SET period = ?3 WHERE scope = ?1 AND period = ?2",
        "INSERT INTO byok_guard_alerts (scope, period, percent) \
         SELECT scope, ?3, percent FROM byok_guard_alerts WHERE scope = ?1 AND period = ?2 \
         ON CONFLICT DO NOTHING",
        "DELETE FROM byok_guard_alerts WHERE scope = ?1 AND period = ?2 AND ?3 IS NOT NULL",
    ] {
        tx.prepare_cached(sql)
            .map_err(err)?
            .execute([scope, from, into])
            .map_err(err)?;
    }
    Ok(())
}

fn hold(
    tx: impl Unit,
    budgets: &mut Budgets,
    req: &HoldRequest,
) -> Result<HoldOutcome, GuardError> {
    let scopes = distinct_scopes(&req.scopes);
    let id = req.id.to_string();
    // Claim the id first: a repeated hold (a retry) finds it taken and returns
    // the original answer instead of being evaluated against its own hold.
    let claimed = tx
        .prepare_cached(
            "INSERT INTO byok_guard_reservations (id, state, expires_at) VALUES (?1, 'held', ?2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .map_err(err)?
        .execute(params![id, req.expires_at.as_millisecond()])
        .map_err(err)?;
    if claimed == 0 {
        let budgets = hold_scopes(&tx, &id)?
            .into_iter()
            .map(|(s, _)| ROWS.scope(&s))
            .collect::<Result<_, _>>()?;
        tx.done().map_err(err)?;
        return Ok(HoldOutcome::Held { budgets });
    }
    let mut holds = Vec::with_capacity(scopes.len());
    for s in scopes {
        let Some(cached) = load_budget(&tx, budgets, s.as_str())? else {
            continue;
        };
        let period = cached.budget.period_key(req.now)?;
        let by_label = spend_by_label(&tx, s.as_str(), &period)?;
        let spent = Usd::checked_sum(by_label.into_values())?;
        let live = held(&tx, s.as_str(), req.now)?;
        if let Some(denied) = check(cached.budget.budget(), spent, live, req.amount)? {
            // Dropping the transaction rolls back the claimed id: nothing is held anywhere.
            return Ok(HoldOutcome::Denied(denied));
        }
        holds.push((s, period));
    }
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO byok_guard_holds (id, scope, period, amount, expires_at, active) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )
            .map_err(err)?;
        let held_amount = req.amount.to_string();
        for (s, period) in &holds {
            insert
                .execute(params![
                    id,
                    s.as_str(),
                    &**period,
                    held_amount,
                    req.expires_at.as_millisecond()
                ])
                .map_err(err)?;
        }
    }
    tx.done().map_err(err)?;
    Ok(HoldOutcome::Held {
        budgets: holds.into_iter().map(|(s, _)| s).collect(),
    })
}

fn settle(
    tx: impl Unit,
    budgets: &mut Budgets,
    rid: ReservationId,
    settled: Usd,
    new_label: Label,
    now: Timestamp,
) -> Result<SettleOutcome, GuardError> {
    let id = rid.to_string();
    let state = reservation_state(&tx, &id)?;
    let expires_at = match state.as_ref().map(|(s, e)| (s.as_str(), *e)) {
        None => return Err(GuardError::ReservationNotFound { id }),
        Some(("settled", _)) => return Ok(SettleOutcome::AlreadySettled),
        Some(("released", _)) => return Err(GuardError::ReservationReleased { id }),
        Some((_, expires_at)) => expires_at,
    };
    let late = now.as_millisecond() >= expires_at;
    let mut alerts = Vec::new();
    let mut over = Vec::new();
    for (s, period) in hold_scopes(&tx, &id)? {
        let mut by_label = spend_by_label(&tx, &s, &period)?;
        let total = by_label
            .get(&new_label)
            .copied()
            .unwrap_or_default()
            .checked_add(settled)?;
        tx.prepare_cached(UPSERT_SPEND)
            .map_err(err)?
            .execute(params![s, period, new_label.as_str(), total.to_string()])
            .map_err(err)?;
        by_label.insert(new_label, total);
        let Some(cached) = load_budget(&tx, budgets, &s)? else {
            continue;
        };
        let budget = cached.budget.budget();
        let spent = Usd::checked_sum(by_label.into_values())?;
        over.extend(over_limit(
            (&budget.scope, budget.limit),
            spent,
            settled,
            &period,
            late,
        ));
        if budget.alert_percents.is_empty() {
            continue;
        }
        let already = fired(&tx, &s, &period)?;
        for percent in budget.crossed(spent, &already) {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO byok_guard_alerts (scope, period, percent) VALUES (?1, ?2, ?3) \
                     ON CONFLICT DO NOTHING",
                )
                .map_err(err)?
                .execute(params![s, period, percent.to_string()])
                .map_err(err)?;
            if inserted == 1 {
                alerts.push(Alert {
                    scope: ROWS.scope(&s)?,
                    percent,
                    spent,
                    limit: budget.limit,
                    period: period.clone(),
                });
            }
        }
    }
    tx.prepare_cached(
        "UPDATE byok_guard_reservations SET state = 'settled', settled_at = ?2, amount = ?3, label = ?4 \
         WHERE id = ?1",
    )
    .map_err(err)?
    .execute(params![
        id,
        now.as_millisecond(),
        settled.to_string(),
        new_label.as_str()
    ])
    .map_err(err)?;
    deactivate(&tx, &id)?;
    tx.done().map_err(err)?;
    Ok(SettleOutcome::Settled {
        alerts,
        over_limit: over,
    })
}

fn release(tx: impl Unit, rid: ReservationId) -> Result<ReleaseOutcome, GuardError> {
    let id = rid.to_string();
    match reservation_state(&tx, &id)?
        .as_ref()
        .map(|(s, _)| s.as_str())
    {
        None => return Err(GuardError::ReservationNotFound { id }),
        Some("released") => return Ok(ReleaseOutcome::AlreadyReleased),
        Some("settled") => return Err(GuardError::ReservationSettled { id }),
        Some(_) => {}
    }
    tx.prepare_cached("UPDATE byok_guard_reservations SET state = 'released' WHERE id = ?1")
        .map_err(err)?
        .execute([&id])
        .map_err(err)?;
    deactivate(&tx, &id)?;
    tx.done().map_err(err)?;
    Ok(ReleaseOutcome::Released)
}

fn relabel(tx: impl Unit, req: &RelabelRequest) -> Result<Relabeled, GuardError> {
    let calls: Vec<(String, String, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT r.id, r.amount, r.label FROM byok_guard_reservations r \
                 JOIN byok_guard_holds h ON h.id = r.id AND h.scope = ?1 \
                 WHERE r.state = 'settled' AND r.settled_at >= ?2 AND r.settled_at < ?3 \
                 ORDER BY r.id",
            )
            .map_err(err)?;
        stmt.query_map(
            params![
                req.scope.as_str(),
                req.start.as_millisecond(),
                req.end.as_millisecond()
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(err)?
        .collect::<rusqlite::Result<_>>()
        .map_err(err)?
    };
    let mut out = Relabeled::default();
    for (id, settled, old) in calls {
        let settled = ROWS.amount(&settled)?;
        let old = ROWS.label(&old)?;
        out.calls += 1;
        out.total = out.total.checked_add(settled)?;
        if old == req.to || !req.from.contains(&old) {
            continue;
        }
        // Writers are serialised by BEGIN IMMEDIATE: nothing moved it since the select.
        for (s, period) in hold_scopes(&tx, &id)? {
            let by_label = spend_by_label(&tx, &s, &period)?;
            let from = by_label
                .get(&old)
                .copied()
                .unwrap_or_default()
                .checked_sub(settled)?;
            let to = by_label
                .get(&req.to)
                .copied()
                .unwrap_or_default()
                .checked_add(settled)?;
            let mut upsert = tx.prepare_cached(UPSERT_SPEND).map_err(err)?;
            upsert
                .execute(params![s, period, old.as_str(), from.to_string()])
                .map_err(err)?;
            upsert
                .execute(params![s, period, req.to.as_str(), to.to_string()])
                .map_err(err)?;
        }
        tx.prepare_cached("UPDATE byok_guard_reservations SET label = ?2 WHERE id = ?1")
            .map_err(err)?
            .execute([&id, req.to.as_str()])
            .map_err(err)?;
        out.moved_calls += 1;
        out.moved = out.moved.checked_add(settled)?;
    }
    tx.done().map_err(err)?;
    Ok(out)
}

fn history(c: &mut Conn, req: &HistoryRequest) -> Result<Vec<SpendBucket>, GuardError> {
    let mut buckets = Buckets::new(req);
    let mut stmt = c
        .sql
        .prepare_cached(
            "SELECT r.settled_at, r.amount, r.label FROM byok_guard_reservations r \
             JOIN byok_guard_holds h ON h.id = r.id AND h.scope = ?1 \
             WHERE r.state = 'settled' AND r.settled_at >= ?2 AND r.settled_at < ?3",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(
            params![
                req.scope.as_str(),
                req.start().as_millisecond(),
                req.end().as_millisecond()
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(err)?;
    for row in rows {
        let (at, amount, label) = row.map_err(err)?;
        buckets.add(ROWS.millis(at)?, ROWS.amount(&amount)?, ROWS.label(&label)?)?;
    }
    buckets.finish()
}

fn status(c: &mut Conn, s: &Scope, now: Timestamp) -> Result<Option<BudgetStatus>, GuardError> {
    // A read: a deferred transaction gives one consistent snapshot without taking the write lock.
    let tx = c.sql.transaction().map_err(err)?;
    let Some(cached) = load_budget(&tx, &mut c.budgets, s.as_str())? else {
        return Ok(None);
    };
    let budget = cached.budget.budget().clone();
    let window = budget.window(now)?;
    let period = window.key();
    let by_label = spend_by_label(&tx, s.as_str(), &period)?;
    let live = held(&tx, s.as_str(), now)?;
    let already = fired(&tx, s.as_str(), &period)?;
    tx.commit().map_err(err)?;
    status_of(budget, window, by_label, live, already).map(Some)
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let spec = ROWS.spec(budget)?;
        let s = budget.scope.to_string();
        let new = budget.clone();
        self.grouped(move |tx, budgets| {
            let carry = match load_budget(&tx, budgets, &s)? {
                Some(old) => new.carry_from(old.budget.budget(), Timestamp::now())?,
                None => None,
            };
            if let Some((from, into)) = carry {
                carry_period(&tx, &s, &from, &into)?;
            }
            tx.prepare_cached(
                "INSERT INTO byok_guard_budgets (scope, spec) VALUES (?1, ?2) \
                 ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec",
            )
            .map_err(err)?
            .execute([&s, &spec])
            .map_err(err)?;
            tx.done().map_err(err)
        })
        .await
    }

    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        let s = scope.to_string();
        self.run(move |c| {
            let tx = c.sql.transaction().map_err(err)?;
            let out = load_budget(&tx, &mut c.budgets, &s)?.map(|b| b.budget.budget().clone());
            tx.commit().map_err(err)?;
            Ok(out)
        })
        .await
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        let s = scope.to_string();
        self.grouped(move |tx, budgets| {
            let n = tx
                .prepare_cached("DELETE FROM byok_guard_budgets WHERE scope = ?1")
                .map_err(err)?
                .execute([&s])
                .map_err(err)?;
            tx.done().map_err(err)?;
            budgets.remove(&s);
            Ok(n > 0)
        })
        .await
    }

    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        request.check_ttl()?;
        let request = request.clone();
        self.grouped(move |sp, budgets| hold(sp, budgets, &request))
            .await
    }

    async fn settle(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        self.grouped(move |sp, budgets| settle(sp, budgets, id, amount, label, now))
            .await
    }

    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        self.grouped(move |sp, _| release(sp, id)).await
    }

    async fn relabel(&self, request: &RelabelRequest) -> Result<Relabeled, GuardError> {
        let request = request.clone();
        self.grouped(move |tx, _| relabel(tx, &request)).await
    }

    async fn spend_history(
        &self,
        request: &HistoryRequest,
    ) -> Result<Vec<SpendBucket>, GuardError> {
        request.check()?;
        let request = request.clone();
        self.run(move |c| history(c, &request)).await
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let scope = scope.clone();
        self.run(move |c| status(c, &scope, now)).await
    }
}

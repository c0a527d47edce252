//! `SqliteStore`: the embedded default — one file, WAL, mode 0600, migrations,
//! and a busy timeout so several processes can share the vault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};
use crate::sql::{backend, micros};
use crate::store::{KeyStore, RetireOutcome};

mod uses;

/// Schema migrations, applied in order inside one `BEGIN IMMEDIATE` transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE byok_keys (
        id TEXT PRIMARY KEY NOT NULL,
        workspace TEXT NOT NULL,
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        ord INTEGER NOT NULL,
        status TEXT NOT NULL,
        masked TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        lookup_hash BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_used_at INTEGER,
        last_verdict TEXT,
        last_verdict_at INTEGER,
        default_model TEXT,
        note TEXT,
        version INTEGER NOT NULL,
        kek_id TEXT NOT NULL,
        sealed BLOB NOT NULL,
        UNIQUE (workspace, lookup_hash)
    );
    CREATE INDEX byok_keys_workspace ON byok_keys (workspace);
    CREATE TABLE byok_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        workspace TEXT NOT NULL,
        key_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL
    );
    CREATE INDEX byok_audit_workspace ON byok_audit (workspace, seq);
    CREATE TABLE byok_meta (
        name TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    );",
    ),
    // 2: the record MAC (NULL until the vault is upgraded; see `Keyring::unlock`).
    (2, "ALTER TABLE byok_keys ADD COLUMN mac BLOB"),
    // 3: key parameters, a JSON object of strings (NULL for a key without any).
    (3, "ALTER TABLE byok_keys ADD COLUMN params TEXT"),
    // 4: a server's API tokens (SHA-256 hashes only) and the workspaces it serves.
    (
        4,
        "CREATE TABLE byok_api_tokens (
        id TEXT PRIMARY KEY NOT NULL,
        scope TEXT NOT NULL,
        workspace TEXT,
        name TEXT NOT NULL,
        hash BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE byok_workspaces (
        id TEXT PRIMARY KEY NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
    );",
    ),
];

/// The embedded key store: one SQLite file in WAL mode, created with mode 0600.
///
/// Safe to share between processes: writes are single statements or
/// `BEGIN IMMEDIATE` transactions, and a 10-second busy timeout waits for locks.
/// `synchronous = FULL`, so an acknowledged write survives a crash or power loss.
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection with `synchronous = NORMAL`, for batches of key uses
    /// ([`KeyStore::mark_used_many`]): committed to the WAL without an fsync of
    /// their own (the next commit of `pool` syncs them too).
    uses: std::sync::Arc<uses::UseWriter>,
    path: PathBuf,
    /// Key lists for [`KeyStore::list_recent`], shared by clones.
    lists: std::sync::Arc<crate::lists::ListCache>,
}

impl SqliteStore {
    /// Open (creating if missing, with mode 0600) the vault file at `path` and migrate it.
    /// The parent directory must exist.
    ///
    /// Several processes may open (and create) the same file at once: SQLite can
    /// answer "busy" at once while they race to switch a new file to WAL or to
    /// migrate it (no busy handler applies to a journal-mode switch or a lock
    /// upgrade), so opening retries on "busy" or "locked" for up to the busy timeout.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        byok_keys::fs::create_private_file(&path).map_err(|e| StoreError::Io {
            path: crate::open::display_path(&path),
            detail: e.to_string(),
        })?;
        let started = std::time::Instant::now();
        let mut attempt = 0u64;
        loop {
            match Self::open_once(&path).await {
                Ok(store) => {
                    store.check_schema_text().await?;
                    return Ok(store);
                }
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    attempt += 1;
                    // Growing, jittered waits so racing processes do not retry in step.
                    let jitter = u64::from(std::process::id() % 7) + attempt % 5;
                    tokio::time::sleep(Duration::from_millis(5 * attempt.min(20) + jitter)).await;
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn open_once(path: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // No ping on every acquire: a round trip to the connection's worker
            // thread per statement, and a local file has no link to go stale
            // (a dead worker is caught by `alive`).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let uses = uses::UseWriter::new(path, BUSY_TIMEOUT);
        let store = SqliteStore {
            pool,
            uses,
            path: path.to_path_buf(),
            lists: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Refuse a file whose schema text is not UTF-8 (a damaged byte in a declared
    /// column type, say). sqlx's worker thread panics on such a type the first time
    /// a statement reads the column, and a dead worker can leave a later call
    /// waiting; checking the text first (as bytes, which involves no declared
    /// type) fails the open cleanly instead.
    async fn check_schema_text(&self) -> Result<(), StoreError> {
        let rows = self
            .fetch_all(sqlx::query(
                "SELECT CAST(sql AS BLOB) AS sql FROM sqlite_master WHERE sql IS NOT NULL",
            ))
            .await?;
        for row in &rows {
            let sql: Vec<u8> = row.try_get("sql").map_err(backend)?;
            if std::str::from_utf8(&sql).is_err() {
                return Err(StoreError::Backend {
                    detail: "the vault file's schema is damaged (its text is not UTF-8): run \
                             `sqlite3 FILE 'PRAGMA integrity_check'` and restore from a backup"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// The vault file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the connection pool (checkpointing the WAL when this is the last connection).
    pub async fn close(&self) {
        self.uses.close();
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS byok_store_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let applied: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM byok_store_migrations")
                .fetch_one(&mut *tx)
                .await?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO byok_store_migrations (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(micros(crate::record::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}

/// How long a writer waits for another's lock, and how long opening retries.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the SQLite file at `path` already holds byok's tables, read through a
/// read-only connection that creates and changes nothing.
pub(crate) async fn has_vault_tables(path: &Path) -> Result<bool, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT);
    // A pooled connection, so a worker that dies on a damaged file is detected by
    // `alive` and detached (a bare connection's close would wait for it forever).
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(backend)?;
    let mut conn = pool.acquire().await.map_err(backend)?;
    let found = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'byok_keys'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(backend);
    alive(conn).await?;
    let found = found?;
    pool.close().await;
    Ok(found > 0)
}

/// SQLITE_BUSY or SQLITE_LOCKED, with any extended code.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// A statement of this backend, with its bound arguments.
type Statement<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

impl SqliteStore {
    /// Every row of `query`, or an error: never fewer rows than the database holds.
    async fn fetch_all(&self, query: Statement<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let rows = query.fetch_all(&mut *conn).await.map_err(backend);
        alive(conn).await?;
        rows
    }

    /// The row of `query` if there is one, or an error: never "none" for a failed read.
    /// A row that came back is the whole answer; only "none" needs the proof
    /// that the worker lived (a round trip, half the cost of a read).
    async fn fetch_optional(&self, query: Statement<'_>) -> Result<Option<SqliteRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let row = query.fetch_optional(&mut *conn).await.map_err(backend);
        if matches!(row, Ok(Some(_))) {
            return row;
        }
        alive(conn).await?;
        row
    }

    /// Rows changed by `query`, or an error: never 0 for a statement that did not run
    /// (a count above 0 proves it ran; 0 is checked).
    async fn execute(&self, query: Statement<'_>) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let done = query.execute(&mut *conn).await.map_err(backend);
        if let Ok(d) = &done
            && d.rows_affected() > 0
        {
            return Ok(d.rows_affected());
        }
        alive(conn).await?;
        Ok(done?.rows_affected())
    }

    /// A write transaction: `BEGIN IMMEDIATE` takes the write lock first, so
    /// every other writer waits for this one (the busy timeout) instead of
    /// failing on a lock upgrade.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }

    /// A batch of key uses in one transaction on the `synchronous = NORMAL`
    /// connection ([`uses`]): in WAL mode its commit is atomic and survives
    /// the process being killed; only a power loss before the next synced
    /// commit (of any connection) can lose it. Keys and changes commit on
    /// `pool`, in full.
    async fn commit_uses(&self, marks: &[crate::store::UseMark]) -> Result<(), StoreError> {
        self.uses.commit(marks).await
    }

    /// After a write statement in a transaction reported no changed row: prove it ran.
    async fn wrote_nothing(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        match sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(conn)
            .await
        {
            Ok(1) => Ok(()),
            _ => Err(StoreError::Backend {
                detail:
                    "the SQLite driver failed while writing to the vault (its file may be damaged: \
                     run `sqlite3 FILE 'PRAGMA integrity_check'` and restore from a backup)"
                        .into(),
            }),
        }
    }

    /// `BEGIN IMMEDIATE` already holds every other writer off.
    async fn lock_keys(_conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

crate::sql::impl_key_store!(SqliteStore);

/// Prove that `conn`'s worker thread survived the statement it just ran.
///
/// sqlx runs each SQLite connection on a worker thread. When that thread panics
/// (as it does on some damaged files: a declared column type that is not UTF-8
/// in the schema text, for one), the statement's row stream simply ends, which
/// reads as "no rows" or "nothing changed". A follow-up statement on the same
/// connection tells the two apart; a dead connection is not returned to the pool.
async fn alive(mut conn: sqlx::pool::PoolConnection<Sqlite>) -> Result<(), StoreError> {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&mut *conn)
        .await
    {
        Ok(1) => Ok(()),
        _ => {
            // Out of the pool, so the pool opens a fresh connection in its place.
            drop(conn.detach());
            Err(StoreError::Backend {
                detail:
                    "the SQLite driver failed while reading the vault (its file may be damaged: \
                         run `sqlite3 FILE 'PRAGMA integrity_check'` and restore from a backup), \
                         so the partial answer was discarded"
                        .into(),
            })
        }
    }
}

crate::access::impl_access_store!(SqliteStore, "?", "?", "?", "?", "?", "?", "?", "?");

//! `SqliteStore`: the embedded default — one file, WAL, mode 0600, migrations,
//! and a busy timeout so several processes can share the vault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};
use crate::sql::{
    RawRecord, audit_from_parts, backend, bind_raw_record, is_unique_violation, micros,
    raw_record_from_row, select_keys,
};
use crate::store::{KeyStore, RetireOutcome};

/// Schema migrations, applied in order inside one `BEGIN IMMEDIATE` transaction.
const MIGRATIONS: &[(i64, &str)] = &[(
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
)];

/// The embedded key store: one SQLite file in WAL mode, created with mode 0600.
///
/// Safe to share between processes: writes are single statements or
/// `BEGIN IMMEDIATE` transactions, and a 10-second busy timeout waits for locks.
/// `synchronous = FULL`, so an acknowledged write survives a crash or power loss.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
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
            .connect_with(options)
            .await?;
        let store = SqliteStore {
            pool,
            path: path.to_path_buf(),
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

    async fn existing_for(&self, record: &KeyRecord) -> Result<String, StoreError> {
        if let Some(r) = self
            .find_by_lookup(&record.workspace, &record.lookup_hash)
            .await?
        {
            if r.id != record.id {
                return Ok(r.id.to_string());
            }
        }
        Ok(record.id.to_string())
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

/// The workspace's audit events matching `query`, with their sequence numbers.
async fn audit_rows(
    store: &SqliteStore,
    workspace: &WorkspaceId,
    query: &AuditQuery,
) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
    let after = query
        .after
        .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let rows = store
        .fetch_all(
            sqlx::query("SELECT seq, at, workspace, key_id, action, actor FROM byok_audit WHERE workspace = ? AND seq > ? AND at >= ? ORDER BY seq LIMIT ?")
                .bind(workspace.as_str())
                .bind(after)
                .bind(query.since.map_or(i64::MIN, micros))
                .bind(query.sql_limit()),
        )
        .await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq").map_err(backend)?;
            let event = audit_from_parts(
                row.try_get("at").map_err(backend)?,
                row.try_get("workspace").map_err(backend)?,
                row.try_get("key_id").map_err(backend)?,
                row.try_get("action").map_err(backend)?,
                row.try_get("actor").map_err(backend)?,
            )?;
            let seq = u64::try_from(seq)
                .map_err(|_| StoreError::malformed("negative audit sequence number"))?;
            Ok((seq, event))
        })
        .collect()
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
    async fn fetch_optional(&self, query: Statement<'_>) -> Result<Option<SqliteRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let row = query.fetch_optional(&mut *conn).await.map_err(backend);
        alive(conn).await?;
        row
    }

    /// Rows changed by `query`, or an error: never 0 for a statement that did not run.
    async fn execute(&self, query: Statement<'_>) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let done = query.execute(&mut *conn).await.map_err(backend);
        alive(conn).await?;
        Ok(done?.rows_affected())
    }
}

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

/// After a write statement in a transaction reported no changed row: prove it ran.
async fn ran(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
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

/// Append an audit event on `conn` (inside the caller's transaction, if any).
async fn append_audit_in(
    conn: &mut sqlx::SqliteConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO byok_audit (at, workspace, key_id, action, actor) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(micros(event.at))
    .bind(event.workspace.as_str())
    .bind(event.key_id.to_string())
    .bind(event.action.as_str())
    .bind(&event.actor)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert(&self, record: &KeyRecord, event: &AuditEvent) -> Result<(), StoreError> {
        let raw = RawRecord::from_record(record)?;
        let sql = "INSERT INTO byok_keys (id, workspace, provider, kind, label, role, ord, status, masked, fingerprint, \
             lookup_hash, created_at, updated_at, last_used_at, last_verdict, last_verdict_at, default_model, note, \
             version, kek_id, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        match bind_raw_record!(sqlx::query(sql), &raw)
            .execute(&mut *tx)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                return Err(StoreError::Duplicate {
                    existing: self.existing_for(record).await?,
                });
            }
            Err(e) => return Err(backend(e)),
        }
        append_audit_in(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyRecord, StoreError> {
        let row = self
            .fetch_optional(
                sqlx::query(select_keys!("WHERE workspace = ? AND id = ?"))
                    .bind(workspace.as_str())
                    .bind(id.to_string()),
            )
            .await?;
        match row {
            Some(row) => raw_record_from_row!(&row),
            None => Err(StoreError::not_found(id)),
        }
    }

    async fn find_by_lookup(
        &self,
        workspace: &WorkspaceId,
        hash: &LookupHash,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let row = self
            .fetch_optional(
                sqlx::query(select_keys!("WHERE workspace = ? AND lookup_hash = ?"))
                    .bind(workspace.as_str())
                    .bind(hash.0.to_vec()),
            )
            .await?;
        row.map(|row| raw_record_from_row!(&row)).transpose()
    }

    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = self
            .fetch_all(
                sqlx::query(select_keys!(
                    "WHERE workspace = ? ORDER BY CASE role WHEN 'primary' THEN 0 ELSE 1 END, ord, id"
                ))
                .bind(workspace.as_str()),
            )
            .await?;
        rows.iter().map(|row| raw_record_from_row!(row)).collect()
    }

    async fn update(
        &self,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let raw = RawRecord::from_record(record)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let result = sqlx::query(
            "UPDATE byok_keys SET provider = ?, kind = ?, label = ?, role = ?, ord = ?, status = ?, masked = ?, \
             fingerprint = ?, lookup_hash = ?, updated_at = ?, last_used_at = ?, last_verdict = ?, last_verdict_at = ?, \
             default_model = ?, note = ?, version = version + 1, kek_id = ?, sealed = ? \
             WHERE workspace = ? AND id = ? AND version = ?",
        )
        .bind(&raw.provider)
        .bind(&raw.kind)
        .bind(&raw.label)
        .bind(&raw.role)
        .bind(raw.ord)
        .bind(&raw.status)
        .bind(&raw.masked)
        .bind(&raw.fingerprint)
        .bind(&raw.lookup_hash)
        .bind(raw.updated_at)
        .bind(raw.last_used_at)
        .bind(&raw.last_verdict)
        .bind(raw.last_verdict_at)
        .bind(&raw.default_model)
        .bind(&raw.note)
        .bind(&raw.kek_id)
        .bind(&raw.sealed)
        .bind(&raw.workspace)
        .bind(&raw.id)
        .bind(raw.version)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 1 => {
                append_audit_in(&mut tx, event).await?;
                tx.commit().await.map_err(backend)?;
                let mut stored = record.clone();
                stored.version += 1;
                Ok(stored)
            }
            Ok(_) => {
                ran(&mut tx).await?;
                drop(tx);
                self.get(&record.workspace, record.id).await?;
                Err(StoreError::Conflict {
                    id: record.id.to_string(),
                    expected: record.version,
                })
            }
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                Err(StoreError::Duplicate {
                    existing: self.existing_for(record).await?,
                })
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM byok_keys WHERE workspace = ? AND id = ?")
            .bind(workspace.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            ran(&mut tx).await?;
            return Err(StoreError::not_found(id));
        }
        append_audit_in(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn mark_used(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let done =
            sqlx::query("UPDATE byok_keys SET last_used_at = ? WHERE workspace = ? AND id = ?")
                .bind(micros(event.at))
                .bind(workspace.as_str())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            ran(&mut tx).await?;
            return Err(StoreError::not_found(id));
        }
        append_audit_in(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn scan(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = self
            .fetch_all(
                sqlx::query(select_keys!("WHERE id > ? ORDER BY id LIMIT ?"))
                    .bind(after.map(|a| a.to_string()).unwrap_or_default())
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            )
            .await?;
        rows.iter().map(|row| raw_record_from_row!(row)).collect()
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let appended = append_audit_in(&mut conn, event).await;
        alive(conn).await?;
        appended
    }

    async fn audit(&self, workspace: &WorkspaceId) -> Result<Vec<AuditEvent>, StoreError> {
        let all = AuditQuery::first(usize::MAX - 1);
        Ok(audit_rows(self, workspace, &all)
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    async fn audit_page(
        &self,
        workspace: &WorkspaceId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError> {
        let events = audit_rows(self, workspace, &query.probe()).await?;
        Ok(AuditPage::from_probe(events, query.limit))
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .fetch_optional(sqlx::query("SELECT value FROM byok_meta WHERE name = ?").bind(name))
            .await?;
        row.map(|r| r.try_get("value").map_err(backend)).transpose()
    }

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let changed = match expected {
            None => {
                self.execute(
                    sqlx::query(
                        "INSERT INTO byok_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .bind(new),
                )
                .await?
            }
            Some(old) => {
                self.execute(
                    sqlx::query("UPDATE byok_meta SET value = ? WHERE name = ? AND value = ?")
                        .bind(new)
                        .bind(name)
                        .bind(old),
                )
                .await?
            }
        };
        Ok(changed == 1)
    }

    async fn retire_keks(
        &self,
        name: &str,
        expected: &[u8],
        new: &[u8],
        retired: &[String],
    ) -> Result<RetireOutcome, StoreError> {
        // BEGIN IMMEDIATE takes the write lock first: every other write waits for this one.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let mut records = 0i64;
        for kek in retired {
            records +=
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM byok_keys WHERE kek_id = ?")
                    .bind(kek)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
        }
        if records > 0 {
            return Ok(RetireOutcome::InUse {
                records: records.unsigned_abs(),
            });
        }
        let done = sqlx::query("UPDATE byok_meta SET value = ? WHERE name = ? AND value = ?")
            .bind(new)
            .bind(name)
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() != 1 {
            ran(&mut tx).await?;
            return Ok(RetireOutcome::MetaChanged);
        }
        tx.commit().await.map_err(backend)?;
        Ok(RetireOutcome::Retired)
    }
}

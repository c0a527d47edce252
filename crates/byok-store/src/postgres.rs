//! `PostgresStore`: for many application instances — a pool, migrations under an
//! advisory lock, a unique lookup hash per workspace, optimistic concurrency.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};
use crate::sql::{
    RawRecord, audit_from_parts, backend, bind_raw_record, is_unique_violation, micros,
    raw_record_from_row, select_keys,
};
use crate::store::{KeyStore, RetireOutcome};

/// Arbitrary constant key of the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6279_6f6b_7374_6f72; // "byokstor"

/// Schema migrations, applied in order inside one transaction holding [`MIGRATION_LOCK`].
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"CREATE TABLE byok_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        workspace TEXT NOT NULL,
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        ord BIGINT NOT NULL,
        status TEXT NOT NULL,
        masked TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        lookup_hash BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_used_at BIGINT,
        last_verdict TEXT,
        last_verdict_at BIGINT,
        default_model TEXT,
        note TEXT,
        version BIGINT NOT NULL,
        kek_id TEXT NOT NULL,
        sealed BYTEA NOT NULL,
        UNIQUE (workspace, lookup_hash)
    );
    CREATE INDEX byok_keys_workspace ON byok_keys (workspace);
    CREATE TABLE byok_audit (
        seq BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        workspace TEXT NOT NULL,
        key_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL
    );
    CREATE INDEX byok_audit_workspace ON byok_audit (workspace, seq);
    CREATE TABLE byok_meta (
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );"#,
)];

/// The shared key store for many application instances, on PostgreSQL.
///
/// Every write is one statement; concurrency control is the `version` column
/// (compare-and-set), so no row locks are held across calls.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl fmt::Debug for PostgresStore {
    // The pool's options hold the connection string (and maybe a password): never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user@host:port/db`) with a pool of up to 10
    /// connections, and migrate the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresStore::from_pool(PostgresStore::pool_for(url).await?).await
    }

    /// The pool `connect` uses: up to 10 connections, 10 s to acquire one.
    pub(crate) async fn pool_for(url: &str) -> Result<PgPool, StoreError> {
        PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(backend)
    }

    /// Use an existing pool (your own settings) and migrate the schema.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS byok_store_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let applied: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM byok_store_migrations",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO byok_store_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(micros(crate::record::now()))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
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

/// Whether the database behind `pool` already holds byok's tables (creates nothing).
pub(crate) async fn has_vault_tables(pool: &PgPool) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT to_regclass('byok_keys') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(backend)
}

/// The workspace's audit events matching `query`, with their sequence numbers.
async fn audit_rows(
    store: &PostgresStore,
    workspace: &WorkspaceId,
    query: &AuditQuery,
) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
    let after = query
        .after
        .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let rows = sqlx::query("SELECT seq, at, workspace, key_id, action, actor FROM byok_audit WHERE workspace = $1 AND seq > $2 AND at >= $3 ORDER BY seq LIMIT $4")
        .bind(workspace.as_str())
        .bind(after)
        .bind(query.since.map_or(i64::MIN, micros))
        .bind(query.sql_limit())
        .fetch_all(pool(store))
        .await
        .map_err(backend)?;
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

fn pool(s: &PostgresStore) -> &PgPool {
    &s.pool
}

/// Append an audit event on `conn` (inside the caller's transaction, if any).
async fn append_audit_in(
    conn: &mut sqlx::PgConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO byok_audit (at, workspace, key_id, action, actor) VALUES ($1, $2, $3, $4, $5)",
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
impl KeyStore for PostgresStore {
    async fn insert(&self, record: &KeyRecord, event: &AuditEvent) -> Result<(), StoreError> {
        let raw = RawRecord::from_record(record)?;
        let sql = "INSERT INTO byok_keys (id, workspace, provider, kind, label, role, ord, status, masked, fingerprint, \
             lookup_hash, created_at, updated_at, last_used_at, last_verdict, last_verdict_at, default_model, note, \
             version, kek_id, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        let row = sqlx::query(select_keys!("WHERE workspace = $1 AND id = $2"))
            .bind(workspace.as_str())
            .bind(id.to_string())
            .fetch_optional(pool(self))
            .await
            .map_err(backend)?;
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
        let row = sqlx::query(select_keys!("WHERE workspace = $1 AND lookup_hash = $2"))
            .bind(workspace.as_str())
            .bind(hash.0.to_vec())
            .fetch_optional(pool(self))
            .await
            .map_err(backend)?;
        row.map(|row| raw_record_from_row!(&row)).transpose()
    }

    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(select_keys!(
            "WHERE workspace = $1 ORDER BY CASE role WHEN 'primary' THEN 0 ELSE 1 END, ord, id"
        ))
        .bind(workspace.as_str())
        .fetch_all(pool(self))
        .await
        .map_err(backend)?;
        rows.iter().map(|row| raw_record_from_row!(row)).collect()
    }

    async fn update(
        &self,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let raw = RawRecord::from_record(record)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let result = sqlx::query(
            "UPDATE byok_keys SET provider = $1, kind = $2, label = $3, role = $4, ord = $5, status = $6, masked = $7, \
             fingerprint = $8, lookup_hash = $9, updated_at = $10, last_used_at = $11, last_verdict = $12, last_verdict_at = $13, \
             default_model = $14, note = $15, version = version + 1, kek_id = $16, sealed = $17 \
             WHERE workspace = $18 AND id = $19 AND version = $20",
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("DELETE FROM byok_keys WHERE workspace = $1 AND id = $2")
            .bind(workspace.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done =
            sqlx::query("UPDATE byok_keys SET last_used_at = $1 WHERE workspace = $2 AND id = $3")
                .bind(micros(event.at))
                .bind(workspace.as_str())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(id));
        }
        append_audit_in(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn scan(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(select_keys!("WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool(self))
            .await
            .map_err(backend)?;
        rows.iter().map(|row| raw_record_from_row!(row)).collect()
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        append_audit_in(&mut conn, event).await
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
        sqlx::query_scalar("SELECT value FROM byok_meta WHERE name = $1")
            .bind(name)
            .fetch_optional(pool(self))
            .await
            .map_err(backend)
    }

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let done = match expected {
            None => sqlx::query(
                "INSERT INTO byok_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(new)
            .execute(pool(self))
            .await,
            Some(old) => {
                sqlx::query("UPDATE byok_meta SET value = $1 WHERE name = $2 AND value = $3")
                    .bind(new)
                    .bind(name)
                    .bind(old)
                    .execute(pool(self))
                    .await
            }
        }
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn retire_keks(
        &self,
        name: &str,
        expected: &[u8],
        new: &[u8],
        retired: &[String],
    ) -> Result<RetireOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // SHARE mode waits for every open write on the table to commit and holds
        // new ones until this transaction ends, so the count below misses none,
        // and no record under a retired KEK commits before the metadata changes.
        sqlx::query("LOCK TABLE byok_keys IN SHARE MODE")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let records: i64 =
            sqlx::query_scalar("SELECT COUNT(*)::BIGINT FROM byok_keys WHERE kek_id = ANY($1)")
                .bind(retired)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if records > 0 {
            return Ok(RetireOutcome::InUse {
                records: records.unsigned_abs(),
            });
        }
        let done = sqlx::query("UPDATE byok_meta SET value = $1 WHERE name = $2 AND value = $3")
            .bind(new)
            .bind(name)
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(RetireOutcome::MetaChanged);
        }
        tx.commit().await.map_err(backend)?;
        Ok(RetireOutcome::Retired)
    }
}

//! `PostgresStore`: for many application instances — a pool, migrations under an
//! advisory lock, a unique lookup hash per workspace, optimistic concurrency.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow, Postgres};

use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};
use crate::sql::{backend, micros};
use crate::store::{KeyStore, RetireOutcome};

/// Arbitrary constant key of the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6279_6f6b_7374_6f72; // "byokstor"

/// Schema migrations, applied in order inside one transaction holding [`MIGRATION_LOCK`].
const MIGRATIONS: &[(i64, &str)] = &[
    (
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
    ),
    // 2: the record MAC (NULL until the vault is upgraded; see `Keyring::unlock`).
    (2, "ALTER TABLE byok_keys ADD COLUMN mac BYTEA"),
    // 3: key parameters, a JSON object of strings (NULL for a key without any).
    (3, "ALTER TABLE byok_keys ADD COLUMN params TEXT"),
    // 4: a server's API tokens (SHA-256 hashes only) and the workspaces it serves.
    (
        4,
        r#"CREATE TABLE byok_api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        scope TEXT NOT NULL,
        workspace TEXT,
        name TEXT NOT NULL,
        hash BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE byok_workspaces (
        id TEXT COLLATE "C" PRIMARY KEY,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL
    );"#,
    ),
];

/// The shared key store for many application instances, on PostgreSQL.
///
/// Every write is one statement; concurrency control is the `version` column
/// (compare-and-set), so no row locks are held across calls.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Key lists for [`KeyStore::list_recent`], shared by clones.
    lists: std::sync::Arc<crate::lists::ListCache>,
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
        let store = PostgresStore {
            pool,
            lists: Default::default(),
        };
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
}

/// Whether the database behind `pool` already holds byok's tables (creates nothing).
pub(crate) async fn has_vault_tables(pool: &PgPool) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT to_regclass('byok_keys') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(backend)
}

/// A statement of this backend, with its bound arguments.
type Statement<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

impl PostgresStore {
    async fn fetch_all(&self, query: Statement<'_>) -> Result<Vec<PgRow>, StoreError> {
        query.fetch_all(&self.pool).await.map_err(backend)
    }

    async fn fetch_optional(&self, query: Statement<'_>) -> Result<Option<PgRow>, StoreError> {
        query.fetch_optional(&self.pool).await.map_err(backend)
    }

    async fn execute(&self, query: Statement<'_>) -> Result<u64, StoreError> {
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected())
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(backend)
    }

    /// A batch of key uses in one transaction whose commit does not wait for
    /// the server's WAL flush (`synchronous_commit = off`, this transaction
    /// only). It is as atomic and as ordered as any other; a server crash in
    /// the next moments may lose it (never a key or a change: those commit
    /// in full).
    async fn commit_uses(&self, marks: &[crate::store::UseMark]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for m in marks {
            let done = sqlx::query(crate::sql::MARK_USED)
                .bind(micros(m.event.at))
                .bind(m.workspace.as_str())
                .bind(m.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            // A key deleted since its use: nothing to mark.
            if done.rows_affected() == 0 {
                continue;
            }
            crate::sql::insert_audit!(&m.event)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// A statement that changed no row did run: the driver reports failures.
    async fn wrote_nothing(_conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// SHARE mode waits for every open write on the table to commit and holds
    /// new ones until this transaction ends, so a count after it misses none,
    /// and no record under a retired KEK commits before the metadata changes.
    async fn lock_keys(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("LOCK TABLE byok_keys IN SHARE MODE")
            .execute(conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

crate::sql::impl_key_store!(PostgresStore);

crate::access::impl_access_store!(
    PostgresStore,
    "$1",
    "$2",
    "$3",
    "$4",
    "$5",
    "$6",
    "$7",
    "$8"
);

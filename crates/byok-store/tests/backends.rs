//! The conformance suite on every backend, plus backend-specific guarantees.

use std::sync::Arc;

use byok_store::{MemoryStore, conformance};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_record_macs_catch_altered_rows_and_old_vaults_upgrade() {
    conformance::record_macs_catch_altered_rows(&MemoryStore::new()).await;
    conformance::old_vaults_get_record_macs_on_unlock(&MemoryStore::new()).await;
    conformance::record_macs_cover_params(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_rewrap_with_concurrent_writers_strands_nothing() {
    conformance::rewrap_with_concurrent_writers(&MemoryStore::new(), false).await;
    conformance::rewrap_with_concurrent_writers(&MemoryStore::new(), true).await;
}

/// A real (fake) key added through `ring`, then revoked through it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn add_revoked(
    store: &dyn byok_store::KeyStore,
    ring: &byok_store::Keyring,
    ws: &byok_store::WorkspaceId,
    seed: u64,
) -> byok_store::KeyId {
    use byok_store::{AuditAction, AuditEvent, Status};
    let record = conformance::real_record(store, ring, ws, seed).await;
    let id = record.id;
    let event = |a| AuditEvent::now(ws.clone(), id, a, "test");
    let mut stored = ring
        .insert(store, &record, &event(AuditAction::Add))
        .await
        .unwrap();
    stored.status = Status::Revoked;
    ring.update(store, &stored, &event(AuditAction::Revoke))
        .await
        .unwrap();
    id
}

/// Every record of `ids` is `tampered` on open and in `check`; the rest pass.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn assert_tampered(
    store: &dyn byok_store::KeyStore,
    ring: &byok_store::Keyring,
    ws: &byok_store::WorkspaceId,
    ids: &[byok_store::KeyId],
) {
    for id in ids {
        let record = store.get(ws, *id).await.unwrap();
        assert_eq!(
            ring.open(&record).await.map(drop).map_err(|e| e.code()),
            Err("tampered"),
            "{record:?}"
        );
    }
    for outcome in ring.check(store, Some(ws)).await.unwrap() {
        let code = outcome.error.as_ref().map(byok_store::StoreError::code);
        let expected = ids.contains(&outcome.id).then_some("tampered");
        assert_eq!(code, expected, "{outcome:?}");
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use byok_store::KeyStore;
    use byok_store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("vault.db"))
            .await
            .unwrap();
        conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_rewrap_with_concurrent_writers_strands_nothing() {
        for with_old_only in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(dir.path().join("vault.db"))
                .await
                .unwrap();
            conformance::rewrap_with_concurrent_writers(&store, with_old_only).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_record_macs_catch_altered_rows_and_old_vaults_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("a.db")).await.unwrap();
        conformance::record_macs_catch_altered_rows(&store).await;
        let store = SqliteStore::open(dir.path().join("b.db")).await.unwrap();
        conformance::old_vaults_get_record_macs_on_unlock(&store).await;
        let store = SqliteStore::open(dir.path().join("c.db")).await.unwrap();
        conformance::record_macs_cover_params(&store).await;
    }

    /// Raw SQL on the vault file: a revoked key set active again, and (after the
    /// upgrade) a MAC set to NULL, are `tampered` on open and in `check`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_sql_un_revoking_or_dropping_a_mac_is_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let ring = byok_store::Keyring::unlock(
            &store,
            Arc::new(byok_store::MasterKey::generate().unwrap()),
            vec![],
        )
        .await
        .unwrap();
        let ws = byok_store::WorkspaceId::new("w").unwrap();
        let (revoked, stripped) = (
            super::add_revoked(&store, &ring, &ws, 1).await,
            super::add_revoked(&store, &ring, &ws, 2).await,
        );
        raw_sql(
            &path,
            format!(
                "UPDATE byok_keys SET status = 'active' WHERE id = '{revoked}'; \
                 UPDATE byok_keys SET mac = NULL WHERE id = '{stripped}';"
            ),
        )
        .await;
        super::assert_tampered(&store, &ring, &ws, &[revoked, stripped]).await;
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert!(store.swap_meta("x", None, b"1").await.unwrap());
        store.close().await;
        let again = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            again.get_meta("x").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn vault_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert!(store.swap_meta("x", None, b"1").await.unwrap());
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", entry.path().display());
        }
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() >= 2,
            "the WAL file exists and was checked"
        );
    }

    /// Replace one byte of the `CREATE TABLE byok_keys` text in `sqlite_master` with
    /// 0xFF: the column's declared type is no longer UTF-8, and sqlx's worker
    /// thread panics on every statement that reads the column.
    pub(super) async fn corrupt_schema_text(path: &std::path::Path) {
        raw_sql(
            path,
            "PRAGMA writable_schema = ON; \
             UPDATE sqlite_master SET sql = replace(sql, 'label TEXT', 'label T' || CAST(X'FF' AS TEXT) || 'XT') \
             WHERE name = 'byok_keys';"
                .into(),
        )
        .await;
    }

    /// A new vault file at `path` holding one sample record (no vault metadata).
    async fn with_one_record(
        path: &std::path::Path,
    ) -> (SqliteStore, byok_store::WorkspaceId, byok_store::KeyRecord) {
        with_one_record_of(path, byok_keys::Provider::OpenAi).await
    }

    /// `list_recent` keeps a list for `max_age`: a change by another store
    /// object (another process) on the same file is seen once it has passed,
    /// one through this store (or a clone) at once.
    #[tokio::test]
    async fn recent_lists_are_kept_for_their_max_age() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let (store, ws, rec) = with_one_record(&path).await;
        let other = SqliteStore::open(&path).await.unwrap();
        let max_age = Duration::from_millis(400);
        let status = |l: &[byok_store::KeyRecord]| l.iter().map(|r| r.status).collect::<Vec<_>>();
        let kept = store.list_recent(&ws, max_age).await.unwrap();
        assert_eq!(status(&kept), [byok_store::Status::Active]);
        let mut changed = other.get(&ws, rec.id).await.unwrap();
        changed.status = byok_store::Status::Revoked;
        other
            .update(
                &changed,
                &conformance::event(&changed, byok_store::AuditAction::Revoke),
            )
            .await
            .unwrap();
        let stale = store.list_recent(&ws, max_age).await.unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&kept, &stale),
            "another process's change is not seen within max_age"
        );
        assert_eq!(
            status(&store.list_recent(&ws, Duration::ZERO).await.unwrap()),
            [byok_store::Status::Revoked],
            "max_age zero reads the file"
        );
        tokio::time::sleep(max_age).await;
        assert_eq!(
            status(&store.list_recent(&ws, max_age).await.unwrap()),
            [byok_store::Status::Revoked],
            "seen once max_age has passed"
        );
        // A change through a clone of the store is seen at once.
        let kept = store
            .list_recent(&ws, Duration::from_secs(3600))
            .await
            .unwrap();
        let clone = store.clone();
        let mut back = clone.get(&ws, rec.id).await.unwrap();
        back.status = byok_store::Status::Active;
        clone
            .update(
                &back,
                &conformance::event(&back, byok_store::AuditAction::Enable),
            )
            .await
            .unwrap();
        let now = store
            .list_recent(&ws, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(!std::sync::Arc::ptr_eq(&kept, &now));
        assert_eq!(status(&now), [byok_store::Status::Active]);
    }

    /// [`with_one_record`] of a `provider` key.
    async fn with_one_record_of(
        path: &std::path::Path,
        provider: byok_keys::Provider,
    ) -> (SqliteStore, byok_store::WorkspaceId, byok_store::KeyRecord) {
        let store = SqliteStore::open(path).await.unwrap();
        let kek = byok_store::MasterKey::generate().unwrap();
        let ws = conformance::fresh_workspace();
        let rec = conformance::sample_record(&kek, &ws, provider, "s").await;
        store
            .insert(
                &rec,
                &conformance::event(&rec, byok_store::AuditAction::Add),
            )
            .await
            .unwrap();
        (store, ws, rec)
    }

    /// Run `sql` on the file at `path` through a connection of its own, as
    /// someone with write access to the file would.
    async fn raw_sql(path: &std::path::Path, sql: String) {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// A damaged schema (a declared type that is not UTF-8, on which the driver's
    /// worker thread would panic mid-read) is an error at open, never an empty answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_damaged_schema_is_an_error_never_an_empty_vault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let (store, _, _) = with_one_record(&path).await;
        assert!(store.swap_meta("vault", None, b"{}").await.unwrap());
        store.close().await;
        corrupt_schema_text(&path).await;
        // Refused at open, before any statement can make the driver's worker panic.
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(err.code(), "backend_error");
        assert!(err.to_string().contains("schema is damaged"), "{err}");
    }

    /// A verdict code this byok does not know reads as a damaged record
    /// (`malformed`, like an unknown status or kind), never as "no verdict".
    #[tokio::test]
    async fn an_unknown_stored_verdict_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let (store, ws, rec) = with_one_record(&path).await;
        assert_eq!(
            store.get(&ws, rec.id).await.unwrap().last_verdict,
            Some(byok_keys::VerdictCode::Valid),
            "stored as its code, read back typed"
        );
        raw_sql(&path, "UPDATE byok_keys SET last_verdict = 'valid?'".into()).await;
        let err = store.get(&ws, rec.id).await.unwrap_err();
        assert_eq!(err.code(), "malformed", "{err}");
        assert!(err.to_string().contains("verdict"), "{err}");
    }

    /// Stored parameters that fail their check (a value no longer valid, a name
    /// the provider does not have, not JSON) read as a damaged record
    /// (`malformed`, naming the parameter, never its value), never as no params.
    #[tokio::test]
    async fn stored_params_that_fail_the_check_are_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let (store, ws, rec) = with_one_record_of(&path, byok_keys::Provider::Bedrock).await;
        assert_eq!(
            store.get(&ws, rec.id).await.unwrap().params,
            rec.params,
            "stored as JSON, read back checked"
        );
        for (stored, shows) in [
            (r#"{"region":"Frankfurt am Main"}"#, "invalid_param"),
            (r#"{"region":"us-east-1","zone":"a"}"#, "unknown_param"),
            (r#"{}"#, "missing_param"),
            (r#"["region"]"#, "JSON object"),
            ("not json", "JSON object"),
        ] {
            raw_sql(
                &path,
                format!(
                    "UPDATE byok_keys SET params = '{stored}' WHERE id = '{}'",
                    rec.id
                ),
            )
            .await;
            let err = store.get(&ws, rec.id).await.unwrap_err();
            assert_eq!(err.code(), "malformed", "{stored}: {err}");
            assert!(err.to_string().contains(shows), "{stored}: {err}");
            assert!(!err.to_string().contains("Frankfurt"), "{err}");
            assert_eq!(
                store.list(&ws).await.map_err(|e| e.code()),
                Err("malformed"),
                "{stored}: list fails too, never drops the record"
            );
        }
    }

    /// A vault file written before parameters existed (schema version 2) is
    /// migrated when opened, and its records read back without params.
    #[tokio::test]
    async fn a_vault_from_before_params_opens_without_params() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let (store, ws, rec) = with_one_record(&path).await;
        store.close().await;
        // Back to the schema of version 2: no params column, no migration 3 (nor 4).
        raw_sql(
            &path,
            "ALTER TABLE byok_keys DROP COLUMN params; DROP TABLE byok_api_tokens; \
             DROP TABLE byok_workspaces; DELETE FROM byok_store_migrations WHERE version >= 3;"
                .into(),
        )
        .await;
        let store = SqliteStore::open(&path).await.unwrap();
        let back = store.get(&ws, rec.id).await.unwrap();
        assert_eq!(back.params, None);
        assert_eq!(back, rec);
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open(dir.path().join("no/such/dir/vault.db"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "io_error");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use byok_store::PostgresStore;

    /// The test server's URL, or `None` after a loud skip line (a panic when services are required).
    pub(super) fn url_for(test: &str) -> Option<String> {
        match std::env::var("BYOK_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("BYOK_REQUIRE_SERVICES=1 but BYOK_TEST_POSTGRES_URL is unset: {test}")
            }
            _ => {
                eprintln!("SKIPPED (set BYOK_TEST_POSTGRES_URL): {test}");
                None
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_store_conforms() {
        let Some(url) = url_for("postgres_store_conforms") else {
            return;
        };
        let store = PostgresStore::connect(&url).await.unwrap();
        conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_connects_migrate_once() {
        let Some(url) = url_for("concurrent_connects_migrate_once") else {
            return;
        };
        let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
        a.unwrap();
        b.unwrap();
    }

    #[tokio::test]
    async fn connection_errors_never_show_the_password() {
        for url in [
            "postgres://byok:hunter2-secret-pw@127.0.0.1:1/none",
            "postgres://byok:hunter2-secret-pw@127.0.0.1:notaport/none",
        ] {
            let err = PostgresStore::connect(url).await.unwrap_err();
            assert_eq!(err.code(), "backend_error");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[tokio::test]
    async fn debug_hides_the_connection_string() {
        let Some(url) = url_for("debug_hides_the_connection_string") else {
            return;
        };
        let store = PostgresStore::connect(&url).await.unwrap();
        let dbg = format!("{store:?}");
        assert!(
            !dbg.contains("postgres://") && !dbg.contains("127.0.0.1"),
            "{dbg}"
        );
    }
}

#[cfg(feature = "postgres")]
mod postgres_vault {
    //! Vault-level behaviour on PostgreSQL. The vault metadata is per database, so
    //! each test gets a database of its own, dropped at the end.
    use std::sync::Arc;

    use byok_keys::{KeyKind, Provider, fake};
    use byok_store::{
        AuditAction, AuditEvent, Binding, CheckOutcome, Kek, KeyId, KeyRecord, KeyStore, Keyring,
        MasterKey, PostgresStore, StoreError, WorkspaceId,
    };
    use secrecy::ExposeSecret;
    use sqlx::postgres::PgPoolOptions;

    struct TempDb {
        admin: String,
        name: String,
        url: String,
    }

    impl TempDb {
        async fn create(test: &str) -> Option<TempDb> {
            let admin = super::postgres::url_for(test)?;
            let name = format!("byok_store_{}", uuid::Uuid::now_v7().simple());
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
            let url = format!("{base}/{name}");
            Some(TempDb { admin, name, url })
        }

        async fn drop_db(self) {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&self.admin)
                .await
                .unwrap();
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_rewrap_with_concurrent_writers_strands_nothing() {
        for with_old_only in [false, true] {
            let Some(db) =
                TempDb::create("postgres_rewrap_with_concurrent_writers_strands_nothing").await
            else {
                return;
            };
            let store = PostgresStore::connect(&db.url).await.unwrap();
            byok_store::conformance::rewrap_with_concurrent_writers(&store, with_old_only).await;
            store.pool().close().await;
            db.drop_db().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_record_macs_catch_altered_rows_and_old_vaults_upgrade() {
        for case in 0..3 {
            let Some(db) =
                TempDb::create("postgres_record_macs_catch_altered_rows_and_old_vaults_upgrade")
                    .await
            else {
                return;
            };
            let store = PostgresStore::connect(&db.url).await.unwrap();
            match case {
                0 => byok_store::conformance::record_macs_catch_altered_rows(&store).await,
                1 => byok_store::conformance::old_vaults_get_record_macs_on_unlock(&store).await,
                _ => byok_store::conformance::record_macs_cover_params(&store).await,
            }
            store.pool().close().await;
            db.drop_db().await;
        }
    }

    /// Raw SQL: a revoked key set active again, and a MAC set to NULL, are `tampered`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_sql_un_revoking_or_dropping_a_mac_is_tampering() {
        let Some(db) = TempDb::create("raw_sql_un_revoking_or_dropping_a_mac_is_tampering").await
        else {
            return;
        };
        let store = PostgresStore::connect(&db.url).await.unwrap();
        let ring = Keyring::unlock(&store, Arc::new(MasterKey::generate().unwrap()), vec![])
            .await
            .unwrap();
        let ws = WorkspaceId::new("w").unwrap();
        let revoked = super::add_revoked(&store, &ring, &ws, 1).await;
        let stripped = super::add_revoked(&store, &ring, &ws, 2).await;
        sqlx::query("UPDATE byok_keys SET status = 'active' WHERE id = $1")
            .bind(revoked.to_string())
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE byok_keys SET mac = NULL WHERE id = $1")
            .bind(stripped.to_string())
            .execute(store.pool())
            .await
            .unwrap();
        super::assert_tampered(&store, &ring, &ws, &[revoked, stripped]).await;
        store.pool().close().await;
        db.drop_db().await;
    }

    async fn add(store: &dyn KeyStore, ring: &Keyring, ws: &WorkspaceId, secret: &str) -> KeyId {
        let id = KeyId::new();
        let (kek_id, sealed) = ring
            .seal(
                Binding {
                    workspace: ws,
                    id,
                    provider: Provider::OpenAi,
                },
                secret,
            )
            .await
            .unwrap();
        let hash = ring.lookup_hash(ws, secret);
        // The mask and fingerprint the secret implies: `check` compares them.
        let key = byok_keys::ApiKey::parse(secret).unwrap();
        let record = KeyRecord::new(id, ws.clone(), &key, "k", hash, kek_id, sealed);
        let event = AuditEvent::now(ws.clone(), id, AuditAction::Add, "test");
        ring.insert(store, &record, &event).await.unwrap();
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_app_instances_share_one_vault_and_rewrap_online() {
        let Some(db) = TempDb::create("two_app_instances_share_one_vault_and_rewrap_online").await
        else {
            return;
        };
        let (a, b) = tokio::join!(
            PostgresStore::connect(&db.url),
            PostgresStore::connect(&db.url)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let old: Arc<dyn Kek> = Arc::new(MasterKey::generate().unwrap());
        // Both instances initialise the new vault at once: they must agree on one lookup key.
        let (ra, rb) = tokio::join!(
            Keyring::unlock(&a, old.clone(), vec![]),
            Keyring::unlock(&b, old.clone(), vec![])
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let ws = WorkspaceId::new("tenant").unwrap();
        assert_eq!(
            ra.lookup_hash(&ws, "x"),
            rb.lookup_hash(&ws, "x"),
            "one lookup key for every instance"
        );
        let wrong: Arc<dyn Kek> = Arc::new(MasterKey::generate().unwrap());
        assert_eq!(
            Keyring::unlock(&b, wrong, vec![]).await.unwrap_err(),
            StoreError::WrongMasterKey
        );

        let mut ids = Vec::new();
        for seed in 0..20 {
            ids.push(
                add(
                    &a,
                    &ra,
                    &ws,
                    &fake::key(Provider::OpenAi, KeyKind::Project, seed),
                )
                .await,
            );
        }
        // Instance A rotates the master key while instance B (holding both keys) keeps reading.
        let new: Arc<dyn Kek> = Arc::new(MasterKey::generate().unwrap());
        let next_a = ra.begin_rewrap(&a, new.clone()).await.unwrap();
        let reader = Keyring::unlock(&b, new.clone(), vec![old.clone()])
            .await
            .unwrap();
        let rewrap = next_a.finish_rewrap(&a, "instance-a", |_| {});
        let reads = async {
            for id in &ids {
                let record = b.get(&ws, *id).await.unwrap();
                assert!(
                    reader
                        .open(&record)
                        .await
                        .unwrap()
                        .expose_secret()
                        .starts_with("sk-proj-")
                );
            }
        };
        let (report, ()) = tokio::join!(rewrap, reads);
        let report = report.unwrap();
        assert!(report.complete);
        assert_eq!(report.progress.rewrapped, 20);
        let only_new = Keyring::unlock(&b, new, vec![]).await.unwrap();
        assert!(
            only_new
                .check(&b, None)
                .await
                .unwrap()
                .iter()
                .all(CheckOutcome::ok)
        );
        assert_eq!(
            Keyring::unlock(&b, old, vec![]).await.unwrap_err(),
            StoreError::WrongMasterKey
        );
        a.pool().close().await;
        b.pool().close().await;
        db.drop_db().await;
    }
}

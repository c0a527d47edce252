//! The conformance suite on every backend, plus backend-specific guarantees.

use byok_store::{KeyStore, MemoryStore, conformance};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(&MemoryStore::new()).await;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use byok_store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("vault.db"))
            .await
            .unwrap();
        conformance::run_all(&store).await;
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
    fn url(test: &str) -> Option<String> {
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
        let Some(url) = url("postgres_store_conforms") else {
            return;
        };
        let store = PostgresStore::connect(&url).await.unwrap();
        conformance::run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_connects_migrate_once() {
        let Some(url) = url("concurrent_connects_migrate_once") else {
            return;
        };
        let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
        a.unwrap();
        b.unwrap();
    }

    #[tokio::test]
    async fn debug_hides_the_connection_string() {
        let Some(url) = url("debug_hides_the_connection_string") else {
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

//! `byok::Vault` on PostgreSQL: the same operations as on SQLite, then every row of
//! every table of a throwaway database, as JSON text, searched for every canary.
//!
//! Needs `BYOK_TEST_POSTGRES_URL`; skipped loudly without it, unless
//! `BYOK_REQUIRE_SERVICES=1`, which makes a missing server a failure.

use std::sync::Arc;

use byok::keys::{ExposeSecret, KeyKind, SecretString};
use byok::store::{KeyId, MasterKeySource, PostgresStore, WorkspaceId};
use byok::{NewKey, Purpose, Vault};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init};
use crate::{debugged, json};

/// The server of `BYOK_TEST_POSTGRES_URL`, or `None` (said on stderr) when it is unset;
/// with `BYOK_REQUIRE_SERVICES=1` an unset URL fails `test` instead.
pub(crate) fn url_for(test: &str) -> Option<String> {
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

/// A throwaway database of its own on the server, so its every table can be dumped
/// without meeting other tests' rows. Dropped by [`ScratchDb::drop_database`].
pub(crate) struct ScratchDb {
    admin: PgConnection,
    name: String,
    /// The URL of the new database.
    pub(crate) url: String,
}

impl ScratchDb {
    /// Create a database named `prefix` plus a v7 uuid (unique per run, so runs side
    /// by side never meet) on the server at `url`.
    pub(crate) async fn create(url: &str, prefix: &str) -> ScratchDb {
        let name = format!("{prefix}_{}", KeyId::new().to_string().replace('-', "_"));
        let mut admin = PgConnection::connect(url).await.expect("server");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create database");
        let url = with_database(url, &name);
        ScratchDb { admin, name, url }
    }

    /// Every row of every table, as JSON text, checked for every canary (labelled
    /// `label: table NAME`); how many rows there were.
    pub(crate) async fn assert_rows_clean(&self, label: &str) -> usize {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        let tables = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables");
        assert!(!tables.is_empty(), "{label}: the store made tables");
        let mut rows = 0;
        for t in tables {
            let name: String = t.get(0);
            let dump = sqlx::query(AssertSqlSafe(format!(
                "SELECT row_to_json(t)::text FROM \"{name}\" t"
            )))
            .fetch_all(&mut conn)
            .await
            .expect("dump");
            for row in dump {
                let text: String = row.get(0);
                assert_clean(&format!("{label}: table {name}"), text.as_bytes());
                rows += 1;
            }
        }
        rows
    }

    /// Drop the database (its pools must be closed first).
    pub(crate) async fn drop_database(mut self) {
        self.admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .await
            .expect("drop database");
    }
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, rest) = url.rsplit_once('/').expect("a database URL");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{db}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_on_postgres_leaves_no_trace_in_any_row() {
    init();
    let Some(url) = url_for("vault_on_postgres_leaves_no_trace_in_any_row") else {
        return;
    };
    let db = ScratchDb::create(&url, "byok_canary").await;
    let db_url = db.url.clone();

    let mut out = String::new();
    let store = PostgresStore::connect(&db_url).await.expect("connect");
    let vault = Vault::builder()
        .store(Arc::new(store.clone()))
        .master_key(MasterKeySource::Base64(SecretString::from(
            canary::master_key(0),
        )))
        .build()
        .await
        .expect("vault");
    let ws = WorkspaceId::new("pg").unwrap();
    let mut ids = Vec::new();
    for (_, kind, raw) in canary::keys(2) {
        let mut new = crate::flow::with_params(
            NewKey::new(ws.clone(), SecretString::from(format!("{raw}\n")), "pg"),
            &raw,
        );
        if kind == KeyKind::Admin {
            new = new.purpose(Purpose::UsageSync);
        }
        let view = vault.add(new).await.expect("add");
        out += &json(&view);
        ids.push((view.id, raw));
    }
    for (id, raw) in &ids {
        let secret = vault.secret(&ws, *id).await.expect("lease");
        assert_eq!(secret.expose_secret(), raw);
    }
    let (id, _) = ids[0];
    vault.disable(&ws, id).await.expect("disable");
    vault.revoke(&ws, id).await.expect("revoke");
    vault.delete(&ws, id).await.expect("delete");
    let report = vault
        .rewrap(
            MasterKeySource::Base64(SecretString::from(canary::master_key(1))),
            |_| {},
        )
        .await
        .expect("rewrap");
    out += &(debugged(&report) + &debugged(&vault));
    for record in vault.store().list(&ws).await.expect("list") {
        out += &debugged(&record);
    }

    let rows = db.assert_rows_clean("postgres").await;
    assert!(
        rows > ids.len(),
        "records and audit events were dumped: {rows}"
    );
    drop(vault);
    store.pool().close().await;
    db.drop_database().await;
    assert_clean("postgres: surfaces", out.as_bytes());
    assert_emitted_clean("postgres");
}

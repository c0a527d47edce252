//! Who may reach the vault over a network: the API tokens of a server in front of
//! it (`byok serve`), stored only as hashes, and the workspaces it serves.
//!
//! The store keeps rows; what a token looks like, how it is hashed and compared,
//! and what each scope may do belong to the server. A backend offers this through
//! [`KeyStore::access`](crate::KeyStore::access); SQLite and PostgreSQL do (their
//! migration 4 creates the tables).

use async_trait::async_trait;
use jiff::Timestamp;

use crate::error::StoreError;
use crate::record::WorkspaceId;

/// One stored API token: never the token, only its SHA-256 hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRow {
    /// The token's public id (part of the token; shown in lists and the audit trail).
    pub id: String,
    /// Its scope, as the server names it (`admin`, `workspace`, `app`).
    pub scope: String,
    /// The one workspace a workspace or app token is for (`None` for admin).
    pub workspace: Option<WorkspaceId>,
    /// A name for people.
    pub name: String,
    /// SHA-256 of the whole token.
    pub hash: [u8; 32],
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it (a token id, or `bootstrap`).
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl TokenRow {
    /// A new, unrevoked row created now.
    pub fn new(
        id: impl Into<String>,
        scope: impl Into<String>,
        workspace: Option<WorkspaceId>,
        name: impl Into<String>,
        hash: [u8; 32],
        created_by: impl Into<String>,
    ) -> TokenRow {
        TokenRow {
            id: id.into(),
            scope: scope.into(),
            workspace,
            name: name.into(),
            hash,
            created_at: crate::record::now(),
            created_by: created_by.into(),
            revoked_at: None,
        }
    }
}

impl core::fmt::Debug for TokenRow {
    // The hash is not the token, but it is what a guess is checked against: left out.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("workspace", &self.workspace)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A workspace a server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkspaceRow {
    /// Its id.
    pub id: WorkspaceId,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it.
    pub created_by: String,
}

impl WorkspaceRow {
    /// A workspace created now by `created_by`.
    pub fn new(id: WorkspaceId, created_by: impl Into<String>) -> WorkspaceRow {
        WorkspaceRow {
            id,
            created_at: crate::record::now(),
            created_by: created_by.into(),
        }
    }
}

/// Persistence of API tokens (as hashes) and workspaces.
///
/// # Contract
/// - `insert_token` fails with `Duplicate` when the id exists.
/// - `revoke_token` sets `revoked_at` once (true); on a revoked or missing id it
///   changes nothing (false). A revoked row stays, so its id is never reused.
/// - `insert_workspace` returns false, changing nothing, when the id exists.
/// - Lists are ordered by creation (then id); answers are complete or `Err`.
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Store a new token row.
    async fn insert_token(&self, row: &TokenRow) -> Result<(), StoreError>;
    /// The token with this id, revoked or not.
    async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError>;
    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError>;
    /// Revoke a token now; true when this call revoked it.
    async fn revoke_token(&self, id: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// Create a workspace; false when it exists already.
    async fn insert_workspace(&self, row: &WorkspaceRow) -> Result<bool, StoreError>;
    /// The workspace with this id.
    async fn workspace(&self, id: &WorkspaceId) -> Result<Option<WorkspaceRow>, StoreError>;
    /// Every workspace, oldest first.
    async fn workspaces(&self) -> Result<Vec<WorkspaceRow>, StoreError>;
    /// A cheap round trip to the database (readiness checks).
    async fn ping(&self) -> Result<(), StoreError>;
}

const _: fn(std::sync::Arc<dyn AccessStore>) = |_| {};

/// The `AccessStore` implementation of a SQL backend: `$store` with a `pool`
/// field, `$n` naming each placeholder in turn (`?` for SQLite, `$1`… for PostgreSQL).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! impl_access_store {
    ($store:ty, $p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal, $p7:literal, $p8:literal) => {
        #[async_trait::async_trait]
        impl $crate::access::AccessStore for $store {
            async fn insert_token(&self, row: &$crate::access::TokenRow) -> Result<(), $crate::error::StoreError> {
                let sql = concat!(
                    "INSERT INTO byok_api_tokens (id, scope, workspace, name, hash, created_at, created_by, revoked_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $p6, ", ", $p7, ", ", $p8, ")"
                );
                let done = sqlx::query(sql)
                    .bind(&row.id)
                    .bind(&row.scope)
                    .bind(row.workspace.as_ref().map(|w| w.as_str().to_owned()))
                    .bind(&row.name)
                    .bind(row.hash.to_vec())
                    .bind($crate::sql::micros(row.created_at))
                    .bind(&row.created_by)
                    .bind(row.revoked_at.map($crate::sql::micros))
                    .execute(&self.pool)
                    .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err($crate::error::StoreError::Duplicate { existing: row.id.clone() })
                    }
                    Err(e) => Err($crate::sql::backend(e)),
                }
            }

            async fn token(&self, id: &str) -> Result<Option<$crate::access::TokenRow>, $crate::error::StoreError> {
                let sql = concat!("SELECT id, scope, workspace, name, hash, created_at, created_by, revoked_at FROM byok_api_tokens WHERE id = ", $p1);
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await.map_err($crate::sql::backend)?;
                row.as_ref().map(|r| $crate::access::token_from_row!(r)).transpose()
            }

            async fn tokens(&self) -> Result<Vec<$crate::access::TokenRow>, $crate::error::StoreError> {
                let rows = sqlx::query("SELECT id, scope, workspace, name, hash, created_at, created_by, revoked_at FROM byok_api_tokens ORDER BY created_at, id")
                    .fetch_all(&self.pool).await.map_err($crate::sql::backend)?;
                rows.iter().map(|r| $crate::access::token_from_row!(r)).collect()
            }

            async fn revoke_token(&self, id: &str, at: jiff::Timestamp) -> Result<bool, $crate::error::StoreError> {
                let sql = concat!("UPDATE byok_api_tokens SET revoked_at = ", $p1, " WHERE id = ", $p2, " AND revoked_at IS NULL");
                let done = sqlx::query(sql).bind($crate::sql::micros(at)).bind(id)
                    .execute(&self.pool).await.map_err($crate::sql::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_workspace(&self, row: &$crate::access::WorkspaceRow) -> Result<bool, $crate::error::StoreError> {
                let sql = concat!("INSERT INTO byok_workspaces (id, created_at, created_by) VALUES (", $p1, ", ", $p2, ", ", $p3, ") ON CONFLICT (id) DO NOTHING");
                let done = sqlx::query(sql)
                    .bind(row.id.as_str())
                    .bind($crate::sql::micros(row.created_at))
                    .bind(&row.created_by)
                    .execute(&self.pool).await.map_err($crate::sql::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn workspace(&self, id: &$crate::record::WorkspaceId) -> Result<Option<$crate::access::WorkspaceRow>, $crate::error::StoreError> {
                let sql = concat!("SELECT id, created_at, created_by FROM byok_workspaces WHERE id = ", $p1);
                let row = sqlx::query(sql).bind(id.as_str()).fetch_optional(&self.pool).await.map_err($crate::sql::backend)?;
                row.as_ref().map(|r| $crate::access::workspace_from_row!(r)).transpose()
            }

            async fn workspaces(&self) -> Result<Vec<$crate::access::WorkspaceRow>, $crate::error::StoreError> {
                let rows = sqlx::query("SELECT id, created_at, created_by FROM byok_workspaces ORDER BY created_at, id")
                    .fetch_all(&self.pool).await.map_err($crate::sql::backend)?;
                rows.iter().map(|r| $crate::access::workspace_from_row!(r)).collect()
            }

            async fn ping(&self) -> Result<(), $crate::error::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err($crate::sql::backend)?;
                Ok(())
            }
        }
    };
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use impl_access_store;

/// A [`TokenRow`] from a row of `byok_api_tokens`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! token_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let malformed = |what: &str| $crate::error::StoreError::Malformed {
            detail: format!("an API token row has a bad {what}"),
        };
        (|| -> Result<$crate::access::TokenRow, $crate::error::StoreError> {
            let hash: Vec<u8> = row.try_get("hash").map_err($crate::sql::backend)?;
            let workspace: Option<String> =
                row.try_get("workspace").map_err($crate::sql::backend)?;
            let revoked: Option<i64> = row.try_get("revoked_at").map_err($crate::sql::backend)?;
            Ok($crate::access::TokenRow {
                id: row.try_get("id").map_err($crate::sql::backend)?,
                scope: row.try_get("scope").map_err($crate::sql::backend)?,
                workspace: workspace
                    .map($crate::record::WorkspaceId::new)
                    .transpose()
                    .map_err(|_| malformed("workspace"))?,
                name: row.try_get("name").map_err($crate::sql::backend)?,
                hash: hash.try_into().map_err(|_| malformed("hash"))?,
                created_at: $crate::sql::from_micros(
                    row.try_get("created_at").map_err($crate::sql::backend)?,
                )?,
                created_by: row.try_get("created_by").map_err($crate::sql::backend)?,
                revoked_at: revoked.map($crate::sql::from_micros).transpose()?,
            })
        })()
    }};
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use token_from_row;

/// A [`WorkspaceRow`] from a row of `byok_workspaces`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! workspace_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<$crate::access::WorkspaceRow, $crate::error::StoreError> {
            let id: String = row.try_get("id").map_err($crate::sql::backend)?;
            Ok($crate::access::WorkspaceRow {
                id: $crate::record::WorkspaceId::new(id).map_err(|_| {
                    $crate::error::StoreError::Malformed {
                        detail: "a workspace row has a bad id".into(),
                    }
                })?,
                created_at: $crate::sql::from_micros(
                    row.try_get("created_at").map_err($crate::sql::backend)?,
                )?,
                created_by: row.try_get("created_by").map_err($crate::sql::backend)?,
            })
        })()
    }};
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use workspace_from_row;

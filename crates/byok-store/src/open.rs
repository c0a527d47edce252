//! Opening a vault from one string — a file path or a database URL — the way a
//! command line, a config file or an environment variable (`BYOK_VAULT`) names it.
//!
//! Two rules protect the operator here:
//!
//! - **Nothing URL-shaped is ever echoed.** A connection string can carry a
//!   password (`postgres://app:s3cret@db/byok`) or secrets in its query; errors
//!   name at most the scheme. An unsupported scheme (`redis://…`, `mysql://…`) or a
//!   typo (`postgres:/…`) is refused as `invalid_vault_url` instead of being taken
//!   for a file name, created, and printed back.
//! - **Only creating opens create.** [`OpenMode::Existing`] (what read-only
//!   commands use) fails with `not_found` on a missing or empty file, or a database
//!   without byok's tables, so a typo in a restore test cannot pass as an empty vault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::store::KeyStore;

/// Environment variable that names the vault (path or URL), so a database URL
/// with a password need not be on the command line.
pub const VAULT_ENV: &str = "BYOK_VAULT";

/// Whether [`open`] may create a vault that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// Create the file (mode 0600) or the tables when missing (adding a key, `init`).
    Create,
    /// The vault must already exist: a missing or empty file, or a database without
    /// byok's tables, is `not_found`, and nothing is created.
    Existing,
}

/// Where a vault string points, parsed without touching the file system or network.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultLocation {
    /// A SQLite file (a plain path, or `sqlite:PATH` / `sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`), kept whole for the driver.
    Postgres(String),
}

impl core::fmt::Debug for VaultLocation {
    // A URL may hold a password: only its kind is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VaultLocation::Sqlite(path) => {
                f.debug_tuple("Sqlite").field(&display_path(path)).finish()
            }
            VaultLocation::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// Schemes that name a database (or a URL) people may try as a vault location.
/// Anything of the form `word:/…` is URL-shaped too; these are also caught
/// without the slash (`postgres:host/db`).
const KNOWN_SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "sqlite",
    "mysql",
    "mariadb",
    "redis",
    "rediss",
    "mongodb",
    "mongodb+srv",
    "mssql",
    "sqlserver",
    "memory",
    "http",
    "https",
    "file",
];

impl VaultLocation {
    /// Parse a vault string. Errors never repeat the string (it may hold a password).
    pub fn parse(target: &str) -> Result<Self, StoreError> {
        if target.trim().is_empty() {
            return Err(invalid_url("the vault location is empty"));
        }
        let Some((scheme, rest)) = url_shape(target) else {
            return Ok(VaultLocation::Sqlite(PathBuf::from(target)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" if rest.starts_with("//") => {
                Ok(VaultLocation::Postgres(target.to_owned()))
            }
            "postgres" | "postgresql" => Err(invalid_url(
                "a PostgreSQL URL starts with postgres:// (two slashes)",
            )),
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                // `sqlite:path?mode=…`: options are not ours to take; refuse rather than guess.
                if path.is_empty() || path.contains('?') {
                    return Err(invalid_url(
                        "a SQLite vault is sqlite:PATH or sqlite://PATH, with no query",
                    ));
                }
                Ok(VaultLocation::Sqlite(PathBuf::from(path)))
            }
            other => Err(invalid_url(&format!(
                "vaults are SQLite files or postgres:// URLs, not {}",
                scheme_name(other)
            ))),
        }
    }
}

/// `(scheme, rest)` when `target` looks like a URL: `scheme:` followed by `/`, or a
/// known database scheme. A one-letter scheme is a Windows drive (`C:\…`), not a URL.
fn url_shape(target: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = target.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if scheme.len() < 2
        || !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let known = KNOWN_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str());
    (known || rest.starts_with('/')).then_some((scheme, rest))
}

/// A scheme for an error message: known ones by name, others only as "this scheme".
fn scheme_name(scheme: &str) -> String {
    if KNOWN_SCHEMES.contains(&scheme) {
        format!("{scheme}:// URLs")
    } else {
        "URLs of this scheme".to_owned()
    }
}

fn invalid_url(reason: &str) -> StoreError {
    StoreError::InvalidVaultUrl {
        reason: reason.to_owned(),
    }
}

/// A path as it may be printed: any API key in it replaced by its mask.
pub(crate) fn display_path(path: &Path) -> String {
    byok_keys::redact(&path.display().to_string()).into_owned()
}

/// Open the vault `target` names (a SQLite path or `sqlite:`/`postgres://` URL).
///
/// With [`OpenMode::Existing`] nothing is created: a missing or empty file, or a
/// PostgreSQL database without byok's tables, is
/// [`StoreError::VaultNotFound`] (`not_found`). A backend compiled out is
/// `invalid_vault_url` with the feature to enable.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use byok_store::{OpenMode, open};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("vault.db");
/// let target = path.to_str().unwrap();
/// // A read-only command on a vault that is not there yet creates nothing:
/// let err = open(target, OpenMode::Existing).await.unwrap_err();
/// assert_eq!(err.code(), "not_found");
/// assert!(!path.exists());
/// // Adding a key may create it; afterwards it opens as existing.
/// open(target, OpenMode::Create).await.unwrap();
/// open(target, OpenMode::Existing).await.unwrap();
/// // A URL of another database is refused, and its password never printed.
/// let err = open("redis://:hunter2@cache:6379/0", OpenMode::Create).await.unwrap_err();
/// assert_eq!(err.code(), "invalid_vault_url");
/// assert!(!err.to_string().contains("hunter2"));
/// # });
/// ```
pub async fn open(target: &str, mode: OpenMode) -> Result<Arc<dyn KeyStore>, StoreError> {
    match VaultLocation::parse(target)? {
        VaultLocation::Sqlite(path) => open_sqlite(&path, mode).await,
        VaultLocation::Postgres(url) => open_postgres(&url, mode).await,
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &Path, mode: OpenMode) -> Result<Arc<dyn KeyStore>, StoreError> {
    if mode == OpenMode::Existing {
        let missing = || StoreError::VaultNotFound {
            location: display_path(path),
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() > 0 => {}
            Ok(m) if m.is_file() => return Err(missing()),
            Ok(_) => {
                return Err(StoreError::Io {
                    path: display_path(path),
                    detail: "not a regular file".into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => {
                return Err(StoreError::Io {
                    path: display_path(path),
                    detail: e.to_string(),
                });
            }
        }
        if !crate::sqlite::has_vault_tables(path).await? {
            return Err(missing());
        }
    }
    Ok(Arc::new(crate::sqlite::SqliteStore::open(path).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &Path, _: OpenMode) -> Result<Arc<dyn KeyStore>, StoreError> {
    Err(invalid_url(
        "SQLite vaults need byok-store's `sqlite` feature, which this build lacks",
    ))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, mode: OpenMode) -> Result<Arc<dyn KeyStore>, StoreError> {
    let pool = crate::postgres::PostgresStore::pool_for(url).await?;
    if mode == OpenMode::Existing && !crate::postgres::has_vault_tables(&pool).await? {
        return Err(StoreError::VaultNotFound {
            location: "the PostgreSQL database given".into(),
        });
    }
    Ok(Arc::new(
        crate::postgres::PostgresStore::from_pool(pool).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: OpenMode) -> Result<Arc<dyn KeyStore>, StoreError> {
    Err(invalid_url(
        "PostgreSQL vaults need byok-store's `postgres` feature, which this build lacks",
    ))
}

/// A warning when a file holding a vault or a master key can be read by other
/// local users (any group or other permission bit), `None` when it is private or
/// cannot be inspected. Never contains the file's content.
pub fn permissions_warning(path: &Path, what: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{what} {} is readable by other users (mode {mode:03o}); run `chmod 600` on it",
                display_path(path)
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, what);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart() {
        // `dir:name/…` is not URL-shaped: an unknown scheme with no slash after the colon.
        for path in [
            "vault.db",
            "./v.db",
            "/var/lib/byok/vault.db",
            "C:\\byok\\v.db",
            "dir:name/v.db",
        ] {
            assert_eq!(
                VaultLocation::parse(path).unwrap(),
                VaultLocation::Sqlite(path.into()),
                "{path}"
            );
        }
        assert_eq!(
            VaultLocation::parse("sqlite:///tmp/v.db").unwrap(),
            VaultLocation::Sqlite("/tmp/v.db".into())
        );
        assert_eq!(
            VaultLocation::parse("sqlite:v.db").unwrap(),
            VaultLocation::Sqlite("v.db".into())
        );
        assert!(matches!(
            VaultLocation::parse("postgres://u:p@h/db").unwrap(),
            VaultLocation::Postgres(_)
        ));
    }

    #[test]
    fn url_mistakes_are_refused_without_echo() {
        let secret = "Pa55w0rd-never-printed";
        for target in [
            format!("redis://:{secret}@cache:6379/0"),
            format!("rediss://u:{secret}@cache/0"),
            format!("mysql://root:{secret}@db/byok"),
            format!("postgres:/app:{secret}@db/byok"),
            format!("postgresql:app:{secret}@db/byok"),
            format!("sqlite:v.db?key={secret}"),
            format!("myproto://u:{secret}@h/x"),
            format!("https://u:{secret}@h/x"),
        ] {
            let err = VaultLocation::parse(&target).unwrap_err();
            assert_eq!(err.code(), "invalid_vault_url", "{target}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(
                !shown.contains("myproto"),
                "unknown schemes are not echoed: {shown}"
            );
        }
        let debug = format!(
            "{:?}",
            VaultLocation::parse(&format!("postgres://u:{secret}@h/db")).unwrap()
        );
        assert!(!debug.contains(secret), "{debug}");
    }

    #[test]
    fn a_key_in_a_path_is_masked_when_shown() {
        let key = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 7);
        let shown = display_path(&PathBuf::from(format!("/tmp/{key}/vault.db")));
        assert!(!shown.contains(&key[10..]), "{shown}");
        assert!(
            shown.starts_with("/tmp/") && shown.ends_with("/vault.db"),
            "{shown}"
        );
    }
}

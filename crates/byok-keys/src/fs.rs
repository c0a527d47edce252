//! Files that hold secrets or spending: created private, before anyone else
//! (SQLite, a logger) can create them with the process umask.
//!
//! The one filesystem rule of the workspace, shared by the SQLite key store,
//! the SQLite ledger and the CLI's default vault location.

use std::io;
use std::path::Path;

/// Create `path` as an empty file readable and writable by its owner only
/// (mode 0600 on Unix) if it does not exist yet. An existing file is left as it
/// is, contents and mode (the caller warns about a loose mode, see
/// `byok_store::permissions_warning`).
///
/// SQLite gives its `-wal` and `-shm` files the database file's mode, so
/// creating the database file this way keeps all three private.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("vault.db");
/// byok_keys::fs::create_private_file(&path).unwrap();
/// assert!(path.exists());
/// #[cfg(unix)]
/// {
///     use std::os::unix::fs::PermissionsExt;
///     let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
///     assert_eq!(mode, 0o600);
/// }
/// ```
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create `dir` and its missing parents, each new one with mode 0700 on Unix.
/// Directories that exist are left as they are.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_keeps_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"data").unwrap();
        create_private_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    #[test]
    fn a_missing_parent_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = create_private_file(&dir.path().join("no/such/f")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn new_dirs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        for d in [dir.path().join("a"), nested] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }
}

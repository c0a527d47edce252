//! The SQLite store's writer of key uses: its own connection (rusqlite),
//! `synchronous = NORMAL`.
//!
//! A batch of uses is the one write on the path of every call
//! ([`KeyStore::mark_used_many`](crate::KeyStore::mark_used_many)): the call
//! hands out its answer only once its use is committed. Through sqlx it was
//! four round trips to the connection's worker thread (`BEGIN`, the update,
//! the event, `COMMIT`), each a hand-off between threads and back, and on a
//! loaded two-core machine they took longer than the provider's answer
//! itself. Here a batch is tens of microseconds of SQLite on the task that
//! commits it, while the call's request is in flight:
//!
//! - **fast path**: when the connection is free and no other connection
//!   holds the file's write lock, the transaction runs right where it is
//!   asked for (`BEGIN IMMEDIATE` with no busy wait);
//! - otherwise on the blocking pool, waiting up to the busy timeout for the
//!   lock, as every other writer of the vault does.
//!
//! This connection never checkpoints inside a commit (`wal_autocheckpoint =
//! 0`, so no commit on the fast path pays a checkpoint's fsync): every
//! [`CHECKPOINT_EVERY`] commits a passive checkpoint runs on the blocking pool
//! instead, the work SQLite's own autocheckpoint would have done inline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::error::StoreError;
use crate::sql::{INSERT_AUDIT, MARK_USED, micros};
use crate::store::UseMark;

/// Commits between two background checkpoints: a few pages each, so about
/// the thousand pages at which SQLite would checkpoint by itself.
const CHECKPOINT_EVERY: u32 = 256;

/// The connection of a store's uses, opened on the first batch.
pub(super) struct UseWriter {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Slot>,
    /// Commits since the last checkpoint was started.
    commits: AtomicU32,
}

enum Slot {
    /// Not opened yet, or dropped after a failure (reopened by the next batch).
    Idle,
    Open(Connection),
    /// [`UseWriter::close`] ran: no more batches.
    Closed,
}

impl std::fmt::Debug for UseWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseWriter").finish_non_exhaustive()
    }
}

impl UseWriter {
    /// A writer for the vault file at `path` (which must exist), waiting up to
    /// `busy_timeout` for another connection's write lock.
    pub(super) fn new(path: &Path, busy_timeout: Duration) -> Arc<UseWriter> {
        Arc::new(UseWriter {
            path: path.to_path_buf(),
            busy_timeout,
            conn: Mutex::new(Slot::Idle),
            commits: AtomicU32::new(0),
        })
    }

    /// Commit `marks` in one transaction: each key's `last_used_at` and its
    /// `use` event; a key deleted since is skipped (no event). All or none.
    pub(super) async fn commit(self: &Arc<Self>, marks: &[UseMark]) -> Result<(), StoreError> {
        let done = match self.commit_here(marks) {
            Some(done) => done,
            None => {
                let writer = self.clone();
                let marks = marks.to_vec();
                tokio::task::spawn_blocking(move || writer.commit_waiting(&marks))
                    .await
                    .unwrap_or_else(|_| Err(failed("the writer of key uses panicked")))
            }
        };
        if done.is_ok() && self.commits.fetch_add(1, Ordering::Relaxed) + 1 >= CHECKPOINT_EVERY {
            self.commits.store(0, Ordering::Relaxed);
            let writer = self.clone();
            // Best effort: a checkpoint that fails (or finds readers in the
            // way) leaves the commits safe in the WAL; the next one copies them.
            drop(tokio::task::spawn_blocking(move || writer.checkpoint()));
        }
        done
    }

    /// Drop the connection; later batches fail.
    pub(super) fn close(&self) {
        *self.slot() = Slot::Closed;
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fast path: `None` when the connection is taken or not open yet, or
    /// when another connection holds the write lock (SQLite would wait).
    fn commit_here(&self, marks: &[UseMark]) -> Option<Result<(), StoreError>> {
        let mut slot = self.conn.try_lock().ok()?;
        let Slot::Open(conn) = &mut *slot else {
            return None;
        };
        if let Err(e) = conn.busy_timeout(Duration::ZERO) {
            *slot = Slot::Idle;
            return Some(Err(sqlite_error(e)));
        }
        let done = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => Some(write(tx, marks)),
            Err(e) if is_busy(&e) => None,
            Err(e) => Some(Err(e)),
        };
        let restored = conn.busy_timeout(self.busy_timeout);
        if restored.is_err() || matches!(done, Some(Err(_))) {
            // A fresh connection next time: its busy timeout is in doubt, or
            // its transaction failed (and rolled back when dropped). A busy
            // file (`None`) leaves it as it is, for the slow path to wait on.
            *slot = Slot::Idle;
        }
        Some(done?.map_err(sqlite_error))
    }

    /// The slow path, on the blocking pool: open the connection if needed and
    /// wait up to the busy timeout for the write lock.
    fn commit_waiting(&self, marks: &[UseMark]) -> Result<(), StoreError> {
        let mut slot = self.slot();
        if matches!(*slot, Slot::Idle) {
            *slot = Slot::Open(self.open()?);
        }
        let conn = match &mut *slot {
            Slot::Open(conn) => conn,
            Slot::Closed => return Err(failed("the vault is closed")),
            Slot::Idle => return Err(failed("the vault file could not be opened")),
        };
        let done = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| write(tx, marks));
        if done.is_err() {
            // The transaction rolled back when dropped; a fresh connection next
            // time, whatever state this one is in.
            *slot = Slot::Idle;
        }
        done.map_err(sqlite_error)
    }

    /// A passive checkpoint on this connection (never waits for readers or writers).
    fn checkpoint(&self) {
        if let Slot::Open(conn) = &mut *self.slot() {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            // rusqlite appends the file's path to an open error: the code only.
            let code = e
                .sqlite_error_code()
                .map_or_else(|| "unknown".to_owned(), |c| format!("{c:?}"));
            failed(&format!(
                "the vault file could not be opened for key uses ({code})"
            ))
        })?;
        conn.busy_timeout(self.busy_timeout).map_err(sqlite_error)?;
        // The file is in WAL mode (the store's pool set it at open): a NORMAL
        // commit is atomic and survives the process being killed.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_error)?;
        // Checkpoints run beside the commits, never inside one (see the module docs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sqlite_error)?;
        Ok(conn)
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED: another connection holds what this one needs.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn write(tx: rusqlite::Transaction<'_>, marks: &[UseMark]) -> rusqlite::Result<()> {
    {
        let mut mark = tx.prepare_cached(MARK_USED)?;
        let mut event = tx.prepare_cached(INSERT_AUDIT)?;
        for m in marks {
            let changed = mark.execute(params![
                micros(m.event.at),
                m.workspace.as_str(),
                m.id.to_string()
            ])?;
            // A key deleted since its use: nothing to mark.
            if changed == 0 {
                continue;
            }
            let e = &m.event;
            event.execute(params![
                micros(e.at),
                e.workspace.as_str(),
                e.key_id.to_string(),
                e.action.as_str(),
                e.actor
            ])?;
        }
    }
    tx.commit()
}

fn failed(detail: &str) -> StoreError {
    StoreError::Backend {
        detail: detail.to_owned(),
    }
}

/// SQLite's code and message (which names no path once the file is open),
/// with anything key-shaped masked.
fn sqlite_error(e: rusqlite::Error) -> StoreError {
    failed(&byok_keys::redact(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyStore as _;
    use crate::audit::AuditAction;
    use crate::conformance::{event, fresh_workspace, sample_record};

    fn use_of(r: &crate::KeyRecord) -> UseMark {
        UseMark {
            workspace: r.workspace.clone(),
            id: r.id,
            event: event(r, AuditAction::Use),
        }
    }

    async fn store_with_a_key(
        dir: &tempfile::TempDir,
    ) -> (crate::SqliteStore, crate::KeyRecord, PathBuf) {
        let path = dir.path().join("vault.db");
        let store = crate::SqliteStore::open(&path).await.unwrap();
        let kek = crate::MasterKey::generate().unwrap();
        let r = sample_record(&kek, &fresh_workspace(), byok_keys::Provider::OpenAi, "k").await;
        store
            .insert(&r, &event(&r, AuditAction::Add))
            .await
            .unwrap();
        (store, r, path)
    }

    async fn uses_of(store: &crate::SqliteStore, r: &crate::KeyRecord) -> usize {
        let all = store.audit(&r.workspace).await.unwrap();
        all.iter().filter(|e| e.action == AuditAction::Use).count()
    }

    /// An open failure names SQLite's code, never the file's path.
    #[tokio::test]
    async fn an_open_failure_keeps_the_path_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-name-9f2c").join("vault.db");
        let writer = UseWriter::new(&path, Duration::from_millis(10));
        let kek = crate::MasterKey::generate().unwrap();
        let r = sample_record(&kek, &fresh_workspace(), byok_keys::Provider::OpenAi, "k").await;
        let e = writer.commit(&[use_of(&r)]).await.unwrap_err().to_string();
        assert!(!e.contains("secret-name-9f2c"), "{e}");
        assert!(e.contains("CannotOpen"), "{e}");
    }

    /// After `close`, a batch fails instead of reopening the file.
    #[tokio::test]
    async fn a_closed_writer_takes_no_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, _) = store_with_a_key(&dir).await;
        store.mark_used_many(&[use_of(&r)]).await.unwrap();
        store.close().await;
        let e = store.mark_used_many(&[use_of(&r)]).await.unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
    }

    /// While another connection holds the file's write lock, a batch does not
    /// fail at once (the fast path's "busy"): it waits on the blocking pool for
    /// the lock and commits once it is free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_waits_for_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, path) = store_with_a_key(&dir).await;
        store.mark_used_many(&[use_of(&r)]).await.unwrap();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let mut other = Connection::open(&path).unwrap();
            let tx = other
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let released = std::time::Instant::now();
            tx.commit().unwrap();
            released
        });
        is_locked.recv().unwrap();
        store.mark_used_many(&[use_of(&r)]).await.unwrap();
        let committed = std::time::Instant::now();
        let released = holder.join().unwrap();
        assert!(
            committed >= released,
            "committed only after the lock was let go"
        );
        assert_eq!(uses_of(&store, &r).await, 2);
    }

    /// The connection never checkpoints inside a commit, and the background
    /// checkpoints keep the WAL from growing: 3,000 commits of at least two
    /// 4 KiB pages each would leave a WAL of 24 MiB or more without them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_checkpoints_bound_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, path) = store_with_a_key(&dir).await;
        for _ in 0..3_000 {
            store.mark_used_many(&[use_of(&r)]).await.unwrap();
        }
        let autocheckpoint: i64 = match &*store.uses.slot() {
            Slot::Open(c) => c
                .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
                .unwrap(),
            _ => panic!("the writer's connection is open"),
        };
        assert_eq!(autocheckpoint, 0);
        let wal = std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len();
        assert!(wal < 12 * 1024 * 1024, "WAL of {wal} bytes");
        assert_eq!(uses_of(&store, &r).await, 3_000);
    }
}

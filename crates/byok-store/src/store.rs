//! The `KeyStore` trait every backend implements.

use core::fmt::Debug;

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};

/// One use of a key, for [`KeyStore::mark_used_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseMark {
    /// The key's workspace.
    pub workspace: WorkspaceId,
    /// The key.
    pub id: KeyId,
    /// Its `use` event (`last_used_at` becomes `event.at`).
    pub event: AuditEvent,
}

/// Persistence of sealed key records, their audit trail and the vault's metadata.
///
/// Backends see only [`crate::SealedSecret`] bytes; sealing and opening happen
/// above them (in `byok::Vault` or the caller).
///
/// # Contract
/// Every backend must guarantee, and `byok_store::conformance::run_all` (feature
/// `conformance`) checks:
/// - **Workspace isolation**: every record call is scoped by a [`WorkspaceId`]; a
///   record of another workspace behaves exactly like a missing one (`NotFound`),
///   including for `update`, `delete` and `mark_used`.
/// - **Uniqueness**: `insert` fails with `Duplicate` when the id exists, or when the
///   workspace already holds a record with the same lookup hash (also for `update`).
/// - **Optimistic concurrency**: `update(record)` succeeds only when the stored
///   version equals `record.version`; it stores the record with `version + 1` and
///   returns it. Otherwise it fails with `Conflict`, and nothing changes. Of two
///   concurrent updates from the same version, exactly one wins.
/// - **Round trip**: what `insert`/`update` store is what `get`/`list`/`scan` return,
///   byte for byte (timestamps are whole microseconds).
/// - **Ordering**: `list` orders primaries first, then backups by `order`, then by
///   id; `scan` orders by id across all workspaces and returns ids strictly greater
///   than `after`.
/// - **Audit**: `insert`, `update`, `delete` and `mark_used` take the event that
///   describes them and commit it atomically with the change — both or neither
///   (a refused or failed change appends nothing). The log is append-only;
///   `audit` returns a workspace's events oldest first.
/// - **Metadata**: `swap_meta` is an atomic compare-and-set (`expected: None` means
///   "absent"); it returns `false`, changing nothing, when the current value differs.
/// - **Complete answers**: a read that fails part-way (a driver error, a crashed
///   driver thread, a damaged file) returns `Err` (`Backend`), never fewer rows,
///   `None` or "nothing changed" in its place.
/// - **Retiring a KEK**: `retire_keks` counts the records sealed under the given
///   KEKs and compare-and-sets the metadata in one atomic step: no record
///   committed before it is missed, and none written under those KEKs
///   commits between the count and the metadata change.
/// - **Durability**: a call that returned `Ok` survives a crash of the process.
#[async_trait]
pub trait KeyStore: Send + Sync + Debug + 'static {
    /// Store a new record (version 1) and its audit event, atomically.
    async fn insert(&self, record: &KeyRecord, event: &AuditEvent) -> Result<(), StoreError>;

    /// One record of the workspace.
    async fn get(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyRecord, StoreError>;

    /// The workspace's record with this lookup hash, if any.
    async fn find_by_lookup(
        &self,
        workspace: &WorkspaceId,
        hash: &LookupHash,
    ) -> Result<Option<KeyRecord>, StoreError>;

    /// Every record of the workspace (see the ordering in the contract).
    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>, StoreError>;

    /// [`list`](KeyStore::list), or the same list as read less than `max_age`
    /// ago when the store keeps lists: what a key selection reads on every call.
    ///
    /// A store that keeps lists forgets them on each change of a record it
    /// makes (insert, update, delete; before and after), so its own changes
    /// are seen at once; a change by another process on the same database is
    /// seen once `max_age` has passed. A use (`mark_used`) is not a change: a
    /// kept list may show an older `last_used_at`. The SQL stores keep lists;
    /// the default (and `max_age` zero) reads every time.
    async fn list_recent(
        &self,
        workspace: &WorkspaceId,
        max_age: std::time::Duration,
    ) -> Result<std::sync::Arc<Vec<KeyRecord>>, StoreError> {
        let _ = max_age;
        Ok(std::sync::Arc::new(self.list(workspace).await?))
    }

    /// Compare-and-set update from `record.version` with its audit event, atomically;
    /// returns the stored record.
    async fn update(&self, record: &KeyRecord, event: &AuditEvent)
    -> Result<KeyRecord, StoreError>;

    /// Remove a record and append its audit event, atomically.
    async fn delete(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Set `last_used_at` to `event.at` without changing the version (uses are not
    /// edits) and append the `use` event, atomically.
    async fn mark_used(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// [`mark_used`](KeyStore::mark_used) for each mark, in order, in as few
    /// commits as the backend can (the SQL stores: one transaction). A mark of
    /// a record that no longer exists (deleted since its use) is skipped, its
    /// event not appended; any other failure is `Err`, and then none of the
    /// marks is committed (the SQL stores) or the marks before it are (the
    /// default, one `mark_used` each).
    async fn mark_used_many(&self, marks: &[UseMark]) -> Result<(), StoreError> {
        for m in marks {
            match self.mark_used(&m.workspace, m.id, &m.event).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Up to `limit` records of every workspace with ids after `after`, by id.
    async fn scan(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<KeyRecord>, StoreError>;

    /// Append an audit event that goes with no record change.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// The workspace's audit events, oldest first. Loads the whole trail: prefer
    /// [`audit_page`](KeyStore::audit_page) for anything that may grow.
    async fn audit(&self, workspace: &WorkspaceId) -> Result<Vec<AuditEvent>, StoreError>;

    /// One page of the workspace's audit trail, oldest first, filtered by `query`.
    ///
    /// The provided implementation reads the whole trail with
    /// [`audit`](KeyStore::audit) and numbers the workspace's events from 1 (what
    /// `MemoryStore` uses); SQL backends override it to read only the page, in one
    /// indexed query, with the vault-wide sequence number as cursor.
    async fn audit_page(
        &self,
        workspace: &WorkspaceId,
        query: &AuditQuery,
    ) -> Result<AuditPage, StoreError> {
        let events = self
            .audit(workspace)
            .await?
            .into_iter()
            .zip(1u64..)
            .map(|(e, seq)| (seq, e))
            .filter(|(seq, e)| {
                query.after.is_none_or(|a| *seq > a) && query.since.is_none_or(|s| e.at >= s)
            })
            .take(query.probe().limit)
            .collect();
        Ok(AuditPage::from_probe(events, query.limit))
    }

    /// A vault metadata value.
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically replace a metadata value if it currently equals `expected`.
    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;

    /// Replace metadata `name` from `expected` to `new` only if no record is
    /// sealed under a KEK in `retired`, atomically (see the contract).
    ///
    /// The default counts with `scan`, then calls `swap_meta`: correct only when
    /// nothing writes in between. Every backend of this crate overrides it with
    /// one transaction; a backend of yours should too.
    async fn retire_keks(
        &self,
        name: &str,
        expected: &[u8],
        new: &[u8],
        retired: &[String],
    ) -> Result<RetireOutcome, StoreError> {
        let mut records = 0u64;
        let mut after = None;
        loop {
            let page = self.scan(after, 256).await?;
            records += page.iter().filter(|r| retired.contains(&r.kek_id)).count() as u64;
            match page.last() {
                Some(last) if page.len() == 256 => after = Some(last.id),
                _ => break,
            }
        }
        if records > 0 {
            return Ok(RetireOutcome::InUse { records });
        }
        Ok(match self.swap_meta(name, Some(expected), new).await? {
            true => RetireOutcome::Retired,
            false => RetireOutcome::MetaChanged,
        })
    }

    /// The API tokens and workspaces of a server in front of this store, when
    /// the backend keeps them (SQLite and PostgreSQL do; `None` by default).
    fn access(&self) -> Option<&dyn crate::access::AccessStore> {
        None
    }
}

/// What [`KeyStore::retire_keks`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetireOutcome {
    /// No record carried a retired KEK, and the metadata was replaced.
    Retired,
    /// The metadata no longer held the expected value; nothing changed.
    MetaChanged,
    /// This many records are still sealed under a retired KEK; nothing changed.
    InUse {
        /// How many.
        records: u64,
    },
}

// Compile-time check that the trait stays object safe.
const _: fn(std::sync::Arc<dyn KeyStore>) = |_| {};

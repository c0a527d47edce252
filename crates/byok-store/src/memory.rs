//! `MemoryStore`: a `KeyStore` in process memory, for tests and examples.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::audit::AuditEvent;
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId};
use crate::store::{KeyStore, RetireOutcome};

/// An in-memory [`KeyStore`]; everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<KeyId, KeyRecord>,
    audit: Vec<AuditEvent>,
    meta: HashMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another test thread must not hide this store's data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn in_workspace(&self, workspace: &WorkspaceId, id: KeyId) -> Option<&KeyRecord> {
        self.records.get(&id).filter(|r| &r.workspace == workspace)
    }

    fn hash_taken(&self, record: &KeyRecord) -> Option<KeyId> {
        self.records
            .values()
            .find(|r| {
                r.workspace == record.workspace
                    && r.lookup_hash == record.lookup_hash
                    && r.id != record.id
            })
            .map(|r| r.id)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert(&self, record: &KeyRecord, event: &AuditEvent) -> Result<(), StoreError> {
        record.check_params()?;
        let mut inner = self.lock();
        if inner.records.contains_key(&record.id) {
            return Err(StoreError::Duplicate {
                existing: record.id.to_string(),
            });
        }
        if let Some(existing) = inner.hash_taken(record) {
            return Err(StoreError::Duplicate {
                existing: existing.to_string(),
            });
        }
        inner.records.insert(record.id, record.clone());
        inner.audit.push(event.clone());
        Ok(())
    }

    async fn get(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyRecord, StoreError> {
        self.lock()
            .in_workspace(workspace, id)
            .cloned()
            .ok_or_else(|| StoreError::not_found(id))
    }

    async fn find_by_lookup(
        &self,
        workspace: &WorkspaceId,
        hash: &LookupHash,
    ) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self
            .lock()
            .records
            .values()
            .find(|r| &r.workspace == workspace && &r.lookup_hash == hash)
            .cloned())
    }

    async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>, StoreError> {
        let mut out: Vec<KeyRecord> = self
            .lock()
            .records
            .values()
            .filter(|r| &r.workspace == workspace)
            .cloned()
            .collect();
        out.sort_by_key(|r| (r.role != crate::Role::Primary, r.order, r.id));
        Ok(out)
    }

    async fn update(
        &self,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        record.check_params()?;
        let mut inner = self.lock();
        let current = inner
            .in_workspace(&record.workspace, record.id)
            .ok_or_else(|| StoreError::not_found(record.id))?;
        if current.version != record.version {
            return Err(StoreError::Conflict {
                id: record.id.to_string(),
                expected: record.version,
            });
        }
        if let Some(existing) = inner.hash_taken(record) {
            return Err(StoreError::Duplicate {
                existing: existing.to_string(),
            });
        }
        let mut stored = record.clone();
        stored.version += 1;
        inner.records.insert(stored.id, stored.clone());
        inner.audit.push(event.clone());
        Ok(stored)
    }

    async fn delete(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.in_workspace(workspace, id).is_none() {
            return Err(StoreError::not_found(id));
        }
        inner.records.remove(&id);
        inner.audit.push(event.clone());
        Ok(())
    }

    async fn mark_used(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        match inner
            .records
            .get_mut(&id)
            .filter(|r| &r.workspace == workspace)
        {
            Some(r) => {
                r.last_used_at = Some(event.at);
                inner.audit.push(event.clone());
                Ok(())
            }
            None => Err(StoreError::not_found(id)),
        }
    }

    async fn scan(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let inner = self.lock();
        let iter = inner
            .records
            .values()
            .filter(|r| after.is_none_or(|a| r.id > a));
        Ok(iter.take(limit).cloned().collect())
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.lock().audit.push(event.clone());
        Ok(())
    }

    async fn audit(&self, workspace: &WorkspaceId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|e| &e.workspace == workspace)
            .cloned()
            .collect())
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().meta.get(name).cloned())
    }

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.meta.get(name).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        inner.meta.insert(name.to_owned(), new.to_vec());
        Ok(true)
    }

    async fn retire_keks(
        &self,
        name: &str,
        expected: &[u8],
        new: &[u8],
        retired: &[String],
    ) -> Result<RetireOutcome, StoreError> {
        let mut inner = self.lock();
        let records = inner
            .records
            .values()
            .filter(|r| retired.contains(&r.kek_id))
            .count() as u64;
        if records > 0 {
            return Ok(RetireOutcome::InUse { records });
        }
        if inner.meta.get(name).map(Vec::as_slice) != Some(expected) {
            return Ok(RetireOutcome::MetaChanged);
        }
        inner.meta.insert(name.to_owned(), new.to_vec());
        Ok(RetireOutcome::Retired)
    }
}

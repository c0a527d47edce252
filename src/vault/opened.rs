//! Keys opened for use, kept so that the next call with the same key skips the
//! work of opening it: unwrapping the data key, opening the sealed secret,
//! checking the record's MAC and parsing the key (about a third of a call's
//! added time before this cache).
//!
//! A cached key is handed out only for a record equal, in every field its MAC
//! covers, to the one that was opened and authenticated
//! ([`KeyRecord::same_except_last_used`]): a rotated, re-wrapped, edited or
//! tampered row differs, misses, and is opened (and authenticated) afresh. A key
//! past its expiry (Bedrock short-term keys) misses too, so its expiry is
//! reported as when it was first opened. Entries are dropped when their key is
//! deleted, revoked or disabled through this vault, when the master key is
//! rotated, and all at once when the cache is full; every secret is zeroed when
//! its last holder drops it (`ApiKey`'s `SecretString`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::keys::ApiKey;
use crate::store::{KeyId, KeyRecord};

/// At most this many keys are kept open; the cache is emptied when it is full
/// (a workspace rarely has more than a few keys per provider, so a full cache
/// means many workspaces, where a rare reopening costs a microsecond).
const CAPACITY: usize = 4096;

/// The cache (one per vault, shared by its clones).
#[derive(Default)]
pub(super) struct OpenedKeys {
    keys: Mutex<HashMap<KeyId, Opened>>,
}

struct Opened {
    /// The record as authenticated (its `last_used_at` is not compared).
    record: KeyRecord,
    key: Arc<ApiKey>,
}

impl core::fmt::Debug for OpenedKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenedKeys")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl OpenedKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, Opened>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key opened from a record equal to `record` (but for `last_used_at`),
    /// unless it has expired since.
    pub(super) fn get(&self, record: &KeyRecord) -> Option<Arc<ApiKey>> {
        let keys = self.lock();
        let opened = keys.get(&record.id)?;
        if !opened.record.same_except_last_used(record) {
            return None;
        }
        if opened
            .key
            .expires_at()
            .is_some_and(|at| at <= SystemTime::now())
        {
            return None;
        }
        Some(opened.key.clone())
    }

    /// Keep `key`, opened and authenticated from `record`, replacing whatever
    /// was kept for that id.
    pub(super) fn put(&self, record: &KeyRecord, key: Arc<ApiKey>) {
        let mut keys = self.lock();
        if keys.len() >= CAPACITY && !keys.contains_key(&record.id) {
            keys.clear();
        }
        keys.insert(
            record.id,
            Opened {
                record: record.clone(),
                key,
            },
        );
    }

    /// Forget the key of `id` (deleted, revoked, disabled).
    pub(super) fn forget(&self, id: KeyId) {
        self.lock().remove(&id);
    }

    /// Forget every key (the master key changed).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// Whether no key is kept open.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, Provider, fake};
    use crate::store::{KeyId, LookupHash, SealedSecret, WorkspaceId};

    fn record() -> KeyRecord {
        let key = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 1)).unwrap();
        let mut r = KeyRecord::new(
            KeyId::new(),
            WorkspaceId::new("acme").unwrap(),
            &key,
            "k",
            LookupHash([1; 32]),
            "kek-1",
            SealedSecret::from_bytes(vec![1, 2, 3]),
        );
        r.mac = Some(vec![9; 32]);
        r
    }

    fn key() -> Arc<ApiKey> {
        Arc::new(ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 1)).unwrap())
    }

    #[test]
    fn hits_only_the_same_record_whatever_its_last_use() {
        let cache = OpenedKeys::default();
        let r = record();
        assert!(cache.get(&r).is_none());
        cache.put(&r, key());
        assert!(cache.get(&r).is_some());
        let mut used = r.clone();
        used.last_used_at = Some(crate::store::now());
        assert!(
            cache.get(&used).is_some(),
            "a use changes nothing the MAC covers"
        );
        // Any covered field changed (tampering, an edit, a rotation) misses.
        let changes: [fn(&mut KeyRecord); 6] = [
            |r| r.status = crate::store::Status::Revoked,
            |r| r.version += 1,
            |r| r.mac = Some(vec![8; 32]),
            |r| r.sealed = SealedSecret::from_bytes(vec![3, 2, 1]),
            |r| r.label.push('x'),
            |r| r.kek_id.push('x'),
        ];
        for change in changes {
            let mut other = r.clone();
            change(&mut other);
            assert!(cache.get(&other).is_none(), "{other:?}");
        }
        cache.forget(r.id);
        assert!(cache.get(&r).is_none());
        cache.put(&r, key());
        cache.clear();
        assert!(cache.get(&r).is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = OpenedKeys::default();
        let first = record();
        cache.put(&first, key());
        for _ in 1..CAPACITY {
            cache.put(&record(), key());
        }
        assert!(cache.get(&first).is_some());
        cache.put(&record(), key());
        assert!(cache.get(&first).is_none());
        assert_eq!(cache.lock().len(), 1);
    }
}

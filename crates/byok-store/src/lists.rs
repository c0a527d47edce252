//! Workspaces' key lists, kept for a moment for [`KeyStore::list_recent`]:
//! what a busy app's key selection reads on every call.
//!
//! A list is kept only as read, and every change of a key record (insert,
//! update, delete) through the same store object (and its clones) forgets
//! every kept list, before the change starts and again once it has ended: no
//! list read while a change was under way is kept. Uses (`last_used_at`) are
//! not changes and forget nothing, so a kept list may show an older use time. Writes by other processes on the same database are seen
//! once the kept list is older than the reader's `max_age`.
//!
//! [`KeyStore::list_recent`]: crate::KeyStore::list_recent

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::record::{KeyRecord, WorkspaceId};

/// Lists kept at most; past this the cache starts over.
const CAPACITY: usize = 4096;

type Kept = HashMap<WorkspaceId, (Arc<Vec<KeyRecord>>, Instant)>;

/// The kept lists of one store.
#[derive(Debug, Default)]
pub(crate) struct ListCache {
    /// Moves on at the start and the end of every write.
    generation: AtomicU64,
    kept: Mutex<Kept>,
}

impl ListCache {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        // A panic under the lock leaves lists as read: still valid.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The list of `workspace` read less than `max_age` ago, if kept.
    pub(crate) fn get(
        &self,
        workspace: &WorkspaceId,
        max_age: Duration,
    ) -> Option<Arc<Vec<KeyRecord>>> {
        let kept = self.kept();
        let (list, at) = kept.get(workspace)?;
        (at.elapsed() < max_age).then(|| list.clone())
    }

    /// Where the store is before a read: pass it to [`keep`](Self::keep).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keep a list read from `generation`, unless a write began since.
    pub(crate) fn keep(&self, workspace: &WorkspaceId, list: Arc<Vec<KeyRecord>>, generation: u64) {
        let mut kept = self.kept();
        // Checked under the lock a write takes to forget: a write that begins
        // after this check forgets what is kept here.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if kept.len() >= CAPACITY {
            kept.clear();
        }
        kept.insert(workspace.clone(), (list, Instant::now()));
    }

    /// A write is starting: forget every list now and when the guard drops.
    pub(crate) fn writing(&self) -> Writing<'_> {
        self.forget();
        Writing(self)
    }

    fn forget(&self) {
        let mut kept = self.kept();
        self.generation.fetch_add(1, Ordering::SeqCst);
        kept.clear();
    }
}

/// Held for the length of one write (see [`ListCache::writing`]).
pub(crate) struct Writing<'a>(&'a ListCache);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_read_across_a_write_is_not_kept() {
        let cache = ListCache::default();
        let ws = WorkspaceId::new("w").unwrap();
        let long = Duration::from_secs(60);
        let g = cache.generation();
        cache.keep(&ws, Arc::new(Vec::new()), g);
        assert!(cache.get(&ws, long).is_some(), "kept");
        assert!(
            cache.get(&ws, Duration::ZERO).is_none(),
            "too old for max_age 0"
        );
        {
            let _w = cache.writing();
            assert!(
                cache.get(&ws, long).is_none(),
                "forgotten when a write starts"
            );
            // A read that began before the write ends, while it is under way.
            cache.keep(&ws, Arc::new(Vec::new()), g);
            assert!(
                cache.get(&ws, long).is_none(),
                "not kept: a write began since"
            );
            // A read that began during the write.
            let during = cache.generation();
            cache.keep(&ws, Arc::new(Vec::new()), during);
        }
        assert!(
            cache.get(&ws, long).is_none(),
            "forgotten when the write ends"
        );
        let after = cache.generation();
        cache.keep(&ws, Arc::new(Vec::new()), after);
        assert!(cache.get(&ws, long).is_some());
    }
}

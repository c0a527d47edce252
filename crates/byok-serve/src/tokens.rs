//! Verified tokens' rows, kept for a moment so a busy app's calls do not each
//! read the token's row from the vault's database.
//!
//! What is kept is the stored row (the token's hash, scope, workspace and
//! revocation time), never the token: every request still hashes the presented
//! token and compares it with the row's hash in constant time, and checks the
//! scope and the revocation time. A revocation made through this process
//! forgets the row at once; one made by another instance sharing the database
//! is seen within the cache's lifetime ([`Options::read_cache`](crate::Options::read_cache),
//! 1 s by default; `Duration::ZERO` reads the row on every request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use byok::store::TokenRow;

/// Rows kept at most; past this the cache starts over (a flood of unknown
/// ids is never kept: only rows that exist are).
const CAPACITY: usize = 10_000;

/// Token id → (its row, when it was read).
#[derive(Debug)]
pub(crate) struct TokenCache {
    ttl: Duration,
    rows: Mutex<HashMap<String, (TokenRow, Instant)>>,
}

impl TokenCache {
    /// Rows kept for `ttl` after they were read (`ZERO`: none kept).
    pub(crate) fn new(ttl: Duration) -> TokenCache {
        TokenCache {
            ttl,
            rows: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TokenRow, Instant)>> {
        // A panic while holding the lock leaves only rows behind: still valid.
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The row of token `id`, if read less than the lifetime ago.
    pub(crate) fn get(&self, id: &str) -> Option<TokenRow> {
        if self.ttl.is_zero() {
            return None;
        }
        let rows = self.lock();
        let (row, at) = rows.get(id)?;
        (at.elapsed() < self.ttl).then(|| row.clone())
    }

    /// Keep a row just read from the database.
    pub(crate) fn put(&self, row: &TokenRow) {
        if self.ttl.is_zero() {
            return;
        }
        let mut rows = self.lock();
        if rows.len() >= CAPACITY {
            let ttl = self.ttl;
            rows.retain(|_, (_, at)| at.elapsed() < ttl);
            if rows.len() >= CAPACITY {
                rows.clear();
            }
        }
        rows.insert(row.id.clone(), (row.clone(), Instant::now()));
    }

    /// Forget token `id` (it was just revoked here).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> TokenRow {
        TokenRow::new(id, "admin", None, "t", [7; 32], "bootstrap")
    }

    #[test]
    fn rows_are_kept_for_their_lifetime_and_forgotten_on_revoke() {
        let cache = TokenCache::new(Duration::from_millis(200));
        assert!(cache.get("a").is_none());
        cache.put(&row("a"));
        assert_eq!(cache.get("a").map(|r| r.id), Some("a".to_owned()));
        cache.forget("a");
        assert!(
            cache.get("a").is_none(),
            "a revocation here forgets at once"
        );
        cache.put(&row("b"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            cache.get("b").is_none(),
            "past its lifetime the row is read again"
        );
        let off = TokenCache::new(Duration::ZERO);
        off.put(&row("c"));
        assert!(off.get("c").is_none(), "a zero lifetime keeps nothing");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::new(Duration::from_secs(60));
        for i in 0..CAPACITY + 5 {
            cache.put(&row(&format!("{i:032x}")));
        }
        assert!(cache.lock().len() <= CAPACITY);
    }
}

//! `Vault`: the glue type — a key store plus a master key, with key parsing and
//! policy in front and an audit trail behind.
//!
//! One file an idea: [`error`] (why an operation failed), [`new_key`] (what
//! callers hand in), [`builder`] (unlocking), [`lifecycle`] (add, rotate, edit,
//! status, delete, audit, check, rewrap) and [`using`] (select, lease, report,
//! the Test button).

mod builder;
mod error;
mod key_params;
mod lifecycle;
mod new_key;
mod opened;
mod uses;
mod using;

pub use builder::{VaultBuilder, VerifyPolicy};
pub use error::VaultError;
pub use lifecycle::Added;
pub use new_key::{KeyEdit, NewKey, Purpose};
pub(crate) use uses::{UseCommit, committed};
pub use using::Lease;

use std::sync::{Arc, RwLock};

use byok_guard::Guard;
use byok_verify::Verifier;

use crate::keys::{ApiKey, ExposeSecret, KeyError, Provider, SecretString, normalize};
use crate::store::{
    AuditAction, AuditEvent, KeyId, KeyRecord, KeyStore, Keyring, StoreError, WorkspaceId,
};

/// An unlocked key vault: add, list, rotate, disable, revoke, delete, check,
/// rewrap, and lease secrets for use. Cheap to clone.
///
/// Nothing here returns a plaintext secret except [`Vault::with_key`] and
/// [`Vault::secret`], which record a `use` audit event.
///
/// ```
/// use std::sync::Arc;
/// use byok::keys::{KeyKind, Provider, SecretString, fake};
/// use byok::store::{MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
/// use byok::{NewKey, Vault};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let master = MasterKey::generate()?.to_base64();
/// let vault = Vault::builder()
///     .store(Arc::new(MemoryStore::new()))
///     .master_key(MasterKeySource::Base64(master))
///     .actor("user:42")
///     .build()
///     .await?;
///
/// let ws = WorkspaceId::new("acme")?;
/// let pasted = SecretString::from(format!(" {}\n", fake::key(Provider::OpenAi, KeyKind::Project, 3)));
/// let view = vault.add(NewKey::new(ws.clone(), pasted, "production")).await?;
/// assert!(view.masked.starts_with("sk-proj-…"));
///
/// let len = vault.with_key(&ws, view.id, |key| key.expose_secret().len()).await?;
/// assert!(len > 100);
/// # Ok::<(), byok::VaultError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Vault {
    shared: Arc<Shared>,
    actor: Arc<str>,
    /// How old a key list key selection may reuse ([`Vault::with_key_list_cache`]).
    key_lists: std::time::Duration,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn KeyStore>,
    keyring: RwLock<Keyring>,
    verifier: Option<Verifier>,
    verify_policy: VerifyPolicy,
    guard: Option<Guard>,
    /// Keys opened for use, so a call with the same key does not open it again.
    opened: opened::OpenedKeys,
    /// Uses waiting for their commit (`last_used_at`, `use` events).
    uses: Arc<uses::UseLog>,
}

impl Vault {
    /// Start building a vault.
    pub fn builder() -> VaultBuilder {
        VaultBuilder::default()
    }

    /// The same vault acting for another actor in the audit trail. An API key in
    /// `actor` is stored masked (the builder's `actor` refuses one instead).
    pub fn with_actor(&self, actor: impl Into<String>) -> Vault {
        let actor = actor.into();
        Vault {
            shared: self.shared.clone(),
            actor: crate::keys::redact(&actor).into_owned().into(),
            key_lists: self.key_lists,
        }
    }

    /// The same vault, its key selection ([`select`](Vault::select),
    /// [`call`](Vault::call)) reusing a workspace's key list read less than
    /// `max_age` ago instead of reading it on every call (`Duration::ZERO`, the
    /// default: read every time). What a store keeps and when it forgets is
    /// [`KeyStore::list_recent`]'s: the SQL stores forget on every change made
    /// through the same store, so this process's changes (disable, revoke, a
    /// bench after `no_credits`) are seen at once, and another process's
    /// within `max_age`. Management reads ([`list`](Vault::list), …) always
    /// read the database.
    pub fn with_key_list_cache(&self, max_age: std::time::Duration) -> Vault {
        Vault {
            shared: self.shared.clone(),
            actor: self.actor.clone(),
            key_lists: max_age,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.shared.store
    }

    fn keyring(&self) -> Keyring {
        self.shared
            .keyring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn kv(&self) -> &dyn KeyStore {
        self.shared.store.as_ref()
    }

    /// Write `next`, a changed copy of `current` as it was read, stamped
    /// `updated_at` now, with its MAC (`ring`) and `action`'s audit event: the one
    /// read-modify-write of every change to a stored key.
    async fn write_change(
        &self,
        ring: &Keyring,
        current: &KeyRecord,
        mut next: KeyRecord,
        action: AuditAction,
    ) -> Result<KeyRecord, StoreError> {
        next.updated_at = crate::store::now();
        let event = self.event(&next.workspace, next.id, action);
        // Whatever the change, the key is opened afresh next time (a disabled or
        // revoked key's secret does not stay in memory).
        self.shared.opened.forget(next.id);
        ring.update_from(self.kv(), current, &next, &event).await
    }

    /// The audit event for `action` on a key, by this vault's actor, now.
    fn event(&self, workspace: &WorkspaceId, id: KeyId, action: AuditAction) -> AuditEvent {
        AuditEvent::now(workspace.clone(), id, action, self.actor.as_ref())
    }
}

/// How often an operation whose caller pinned no version is retried after a
/// concurrent edit won the record's compare-and-set. Each retry first yields to
/// the executor a random number of times, so the winner's write completes and two
/// writers do not stay in lockstep; the bound is generous because a busy editor
/// may still win many rounds in a row.
const UNPINNED_RETRIES: u32 = 64;

/// Run `op` (which reads the record afresh each time) until it does not lose a
/// compare-and-set to a concurrent edit, at most [`UNPINNED_RETRIES`] more times.
async fn unpinned<T, F, Fut>(mut op: F) -> Result<T, VaultError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, VaultError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(VaultError::Store(StoreError::Conflict { .. })) if attempt < UNPINNED_RETRIES => {
                attempt += 1;
                // A random number of turns: two writers in lockstep would
                // otherwise keep colliding in the same phase.
                for _ in 0..=jitter(attempt) {
                    YieldNow(false).await;
                }
            }
            other => return other,
        }
    }
}

/// A pseudo-random number below `2^min(attempt, 6)`, from the clock's nanoseconds
/// (good enough to break lockstep; nothing depends on its quality).
fn jitter(attempt: u32) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 7)) % (1 << attempt.min(6))
}

/// A future that is pending once (waking itself) and then ready: gives other tasks
/// on the executor a turn, without tying the facade to one async runtime.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// What a paste box does: normalise, then parse (for one provider if given).
fn parse(secret: &SecretString, provider: Option<Provider>) -> Result<ApiKey, KeyError> {
    let cleaned = normalize(secret.expose_secret());
    match provider {
        Some(p) => cleaned.parse_for(p),
        None => cleaned.parse(),
    }
}

#[cfg(test)]
mod tests;

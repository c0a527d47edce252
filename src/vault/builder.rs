//! [`VaultBuilder`]: a store, a master key (and older ones while a rewrap is
//! unfinished), an optional verifier with its [`VerifyPolicy`], an optional guard.

use std::sync::{Arc, RwLock};

use byok_guard::Guard;
use byok_verify::{Depth, Verifier};

use super::{Shared, Vault, VaultError};
use crate::store::{Kek, KeyStore, Keyring, MasterKeySource, StoreError, refuse_secrets};

/// Whether [`Vault::add`] tests a key with its provider before saving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyPolicy {
    /// Save without calling the provider (tests, offline imports, `--no-test`).
    Skip,
    /// Test at this depth first: an `invalid` key is refused; every other
    /// verdict is saved with the key, so a UI can warn about it.
    Test(Depth),
}

impl Default for VerifyPolicy {
    /// `Test(Depth::Billing)`: "valid" means the key works *and* has credits.
    fn default() -> Self {
        VerifyPolicy::Test(Depth::Billing)
    }
}

/// Builds a [`Vault`]: a store and a master key are required; a verifier (to
/// test keys on add and with [`Vault::test`]) and a spend guard are optional.
#[derive(Debug, Default)]
pub struct VaultBuilder {
    store: Option<Arc<dyn KeyStore>>,
    master: Option<MasterSpec>,
    previous: Vec<MasterSpec>,
    rewrap_target: Option<MasterSpec>,
    actor: Option<String>,
    verifier: Option<Verifier>,
    verify_policy: Option<VerifyPolicy>,
    guard: Option<Guard>,
    key_list_cache: std::time::Duration,
}

#[derive(Debug)]
enum MasterSpec {
    Source(MasterKeySource),
    Kek(Arc<dyn Kek>),
}

impl MasterSpec {
    async fn resolve(&self, store: &dyn KeyStore) -> Result<Arc<dyn Kek>, StoreError> {
        match self {
            MasterSpec::Source(s) => Ok(Arc::new(s.resolve(store).await?)),
            MasterSpec::Kek(k) => Ok(k.clone()),
        }
    }
}

impl VaultBuilder {
    /// Where sealed records live (`SqliteStore`, `PostgresStore`, `MemoryStore`, yours).
    pub fn store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The master key (e.g. [`MasterKeySource::from_default_env`] for `BYOK_MASTER_KEY`).
    pub fn master_key(mut self, source: MasterKeySource) -> Self {
        self.master = Some(MasterSpec::Source(source));
        self
    }

    /// A key-encryption key of your own (a KMS) instead of a local master key.
    pub fn kek(mut self, kek: Arc<dyn Kek>) -> Self {
        self.master = Some(MasterSpec::Kek(kek));
        self
    }

    /// An older master key, accepted for records not yet re-wrapped (resuming a rewrap).
    pub fn previous_master_key(mut self, source: MasterKeySource) -> Self {
        self.previous.push(MasterSpec::Source(source));
        self
    }

    /// The master key a rewrap is moving to, for resuming one: when the master
    /// key given no longer opens the vault because that rewrap already retired
    /// it, the vault opens with `target` as master key and the given one as
    /// previous, so running the same rewrap again finishes it.
    pub fn rewrap_target(mut self, target: MasterKeySource) -> Self {
        self.rewrap_target = Some(MasterSpec::Source(target));
        self
    }

    /// Who the audit trail names for this vault's actions (default `byok`).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Test keys with this verifier: on [`Vault::add`] (per the
    /// [`VerifyPolicy`], `Test(Depth::Billing)` by default once a verifier is
    /// set) and with [`Vault::test`]. Without one, `add` saves without testing.
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Whether and how deep `add` tests a key before saving it.
    pub fn verify_policy(mut self, policy: VerifyPolicy) -> Self {
        self.verify_policy = Some(policy);
        self
    }

    /// Let key selection ([`Vault::select`], [`Vault::call`]) reuse a
    /// workspace's key list read less than `max_age` ago (default zero: read on
    /// every call). See [`Vault::with_key_list_cache`].
    pub fn key_list_cache(mut self, max_age: std::time::Duration) -> Self {
        self.key_list_cache = max_age;
        self
    }

    /// The spend guard for calls made with this vault's keys ([`Vault::guard`]).
    pub fn guard(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Unlock the vault: fails with `wrong_master_key` before anything else if the key does not fit.
    pub async fn build(self) -> Result<Vault, VaultError> {
        let store = self
            .store
            .ok_or(VaultError::Incomplete { missing: "a store" })?;
        refuse_secrets("actor", self.actor.as_deref().unwrap_or(""))?;
        let master = self.master.ok_or(VaultError::Incomplete {
            missing: "a master key (VaultBuilder::master_key or VaultBuilder::kek)",
        })?;
        let current = master.resolve(store.as_ref()).await?;
        let mut previous = Vec::new();
        for p in &self.previous {
            previous.push(p.resolve(store.as_ref()).await?);
        }
        let keyring = match Keyring::unlock(store.as_ref(), current.clone(), previous.clone()).await
        {
            Err(StoreError::WrongMasterKey) if self.rewrap_target.is_some() => {
                let target = match &self.rewrap_target {
                    Some(t) => t.resolve(store.as_ref()).await?,
                    None => return Err(StoreError::WrongMasterKey.into()),
                };
                previous.insert(0, current);
                Keyring::unlock(store.as_ref(), target, previous).await?
            }
            other => other?,
        };
        Ok(Vault {
            shared: Arc::new(Shared {
                store,
                keyring: RwLock::new(keyring),
                verify_policy: self.verify_policy.unwrap_or(if self.verifier.is_some() {
                    VerifyPolicy::default()
                } else {
                    VerifyPolicy::Skip
                }),
                verifier: self.verifier,
                guard: self.guard,
                opened: Default::default(),
                uses: Default::default(),
            }),
            actor: self.actor.unwrap_or_else(|| "byok".into()).into(),
            key_lists: self.key_list_cache,
        })
    }
}

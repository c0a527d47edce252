//! `Vault`: the glue type — a key store plus a master key, with key parsing and
//! policy in front and an audit trail behind. The flow on top (test on add, the
//! Test button, select with fallback, outcomes reported back, the guard) is in
//! [`flow`].

mod flow;

pub use flow::{Added, Lease, VerifyPolicy};

use std::sync::{Arc, RwLock};

use crate::keys::{
    ApiKey, ExposeSecret, KeyError, KeyKind, Provider, SecretString, VerdictCode, normalize,
};
use crate::store::{
    AuditAction, AuditEvent, AuditPage, AuditQuery, Binding, CheckOutcome, Kek, KeyId, KeyRecord,
    KeyStore, KeyView, Keyring, LookupHash, MasterKeySource, RewrapProgress, RewrapReport, Role,
    Status, StoreError, WorkspaceId, now, refuse_secrets,
};
use byok_guard::Guard;
use byok_verify::{Report, Verifier};

use crate::select::Skipped;

/// Why a vault operation failed. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The pasted text is not a usable key (the code says why: `truncated`, `wrong_provider`, ...).
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The store or the encryption layer failed (`not_found`, `duplicate`, `conflict`, `corrupt`, `wrong_master_key`, ...).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An admin key was offered for inference.
    #[error(
        "{masked} is an organisation admin key, which is for usage and cost reporting only; add a normal API key for inference, or add this one with the usage-sync purpose"
    )]
    AdminKeyRefused {
        /// The key's mask.
        masked: String,
    },
    /// The key is disabled or revoked, so it cannot be used or changed that way.
    #[error("key {id} is {status}; enable it first (a revoked key can only be deleted)")]
    Inactive {
        /// The record id.
        id: String,
        /// Its status (`disabled` or `revoked`).
        status: &'static str,
    },
    /// The provider said the key does not work: it was not saved.
    #[error("the key was not saved: {}", report.message())]
    KeyRejected {
        /// The Test that refused it (verdict, reason, remediation).
        report: Box<Report>,
    },
    /// No key of the workspace can serve calls to this provider right now.
    #[error("no usable {} key in this workspace ({} passed over)", provider.display_name(), skipped.len())]
    NoUsableKey {
        /// The provider asked for.
        provider: Provider,
        /// Every candidate and why it was passed over (empty: there is no key at all).
        skipped: Vec<Skipped>,
    },
    /// `Vault::builder()` was not given what it needs.
    #[error("the vault builder needs {missing}")]
    Incomplete {
        /// What is missing.
        missing: &'static str,
    },
}

impl VaultError {
    /// Stable snake_case code: the key or store error's own code, or
    /// `admin_key_refused`, `key_inactive`, `incomplete_builder`.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Key(e) => e.code(),
            VaultError::Store(e) => e.code(),
            VaultError::AdminKeyRefused { .. } => "admin_key_refused",
            VaultError::Inactive { .. } => "key_inactive",
            VaultError::KeyRejected { .. } => "key_rejected",
            VaultError::NoUsableKey { .. } => "no_usable_key",
            VaultError::Incomplete { .. } => "incomplete_builder",
        }
    }
}

/// What a key will be used for; admin keys are accepted only for [`Purpose::UsageSync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Purpose {
    /// Calling models (the default).
    #[default]
    Inference,
    /// Reading an organisation's usage and costs (OpenAI / Anthropic admin APIs).
    UsageSync,
}

/// A key to add: the pasted secret and how to file it.
#[derive(Debug)]
pub struct NewKey {
    workspace: WorkspaceId,
    secret: SecretString,
    label: String,
    provider: Option<Provider>,
    role: Role,
    order: u32,
    purpose: Purpose,
    default_model: Option<String>,
    note: Option<String>,
}

impl NewKey {
    /// A primary key for inference; the provider is recognised from the key.
    pub fn new(workspace: WorkspaceId, secret: SecretString, label: impl Into<String>) -> Self {
        NewKey {
            workspace,
            secret,
            label: label.into(),
            provider: None,
            role: Role::Primary,
            order: 0,
            purpose: Purpose::Inference,
            default_model: None,
            note: None,
        }
    }

    /// Require the key to belong to `provider` (else `wrong_provider`).
    pub fn provider(mut self, provider: Provider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// File it as a backup, `order` among backups (lower first).
    pub fn backup(mut self, order: u32) -> Self {
        self.role = Role::Backup;
        self.order = order;
        self
    }

    /// State what the key is for (admin keys need [`Purpose::UsageSync`]).
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Model to use by default with this key.
    pub fn default_model(mut self, model: impl Into<String>) -> Self {
        self.default_model = Some(model.into());
        self
    }

    /// A free-form note (never put the secret here).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Changes to a key's non-secret fields, applied only if the key is still at the
/// version the caller saw (else `conflict`). Fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyEdit {
    /// New label.
    pub label: Option<String>,
    /// New role and order among backups.
    pub role: Option<(Role, u32)>,
    /// New default model (`Some(None)` clears it).
    pub default_model: Option<Option<String>>,
    /// New note (`Some(None)` clears it).
    pub note: Option<Option<String>>,
}

impl KeyEdit {
    /// No changes yet.
    pub fn new() -> Self {
        KeyEdit::default()
    }

    /// Set the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Make it the primary key.
    pub fn primary(mut self) -> Self {
        self.role = Some((Role::Primary, 0));
        self
    }

    /// Make it a backup, `order` among backups.
    pub fn backup(mut self, order: u32) -> Self {
        self.role = Some((Role::Backup, order));
        self
    }

    /// Set or clear the default model.
    pub fn default_model(mut self, model: Option<String>) -> Self {
        self.default_model = Some(model);
        self
    }

    /// Set or clear the note.
    pub fn note(mut self, note: Option<String>) -> Self {
        self.note = Some(note);
        self
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
        let master = self.master.ok_or(StoreError::MissingMasterKey)?;
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
            }),
            actor: self.actor.unwrap_or_else(|| "byok".into()).into(),
        })
    }
}

/// An unlocked key vault: add, list, rotate, disable, revoke, delete, check,
/// rewrap, and lease secrets for use. Cheap to clone.
///
/// Nothing here returns a plaintext secret except [`Vault::lease`] and
/// [`Vault::lease_secret`], which record a `use` audit event.
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
/// let len = vault.lease(&ws, view.id, |key| key.expose_secret().len()).await?;
/// assert!(len > 100);
/// # Ok::<(), byok::VaultError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Vault {
    shared: Arc<Shared>,
    actor: Arc<str>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn KeyStore>,
    keyring: RwLock<Keyring>,
    verifier: Option<Verifier>,
    verify_policy: VerifyPolicy,
    guard: Option<Guard>,
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

    /// The audit event for `action` on a key, by this vault's actor, now.
    fn event(&self, workspace: &WorkspaceId, id: KeyId, action: AuditAction) -> AuditEvent {
        AuditEvent::now(workspace.clone(), id, action, self.actor.as_ref())
    }

    /// Normalise, parse, apply the admin-key policy, refuse duplicates, test the
    /// key when a verifier is configured (see [`Vault::add_with_report`]), seal,
    /// store and audit; returns the masked view, whose `last_verdict` holds the
    /// test's verdict.
    pub async fn add(&self, new: NewKey) -> Result<KeyView, VaultError> {
        Ok(self.add_with_report(new).await?.key)
    }

    /// The checks before any provider call: parse, the admin-key policy, duplicates.
    async fn accept(&self, new: &NewKey) -> Result<(ApiKey, LookupHash), VaultError> {
        refuse_secrets("workspace", new.workspace.as_str())?;
        refuse_secrets("label", &new.label)?;
        refuse_secrets("default_model", new.default_model.as_deref().unwrap_or(""))?;
        refuse_secrets("note", new.note.as_deref().unwrap_or(""))?;
        let key = parse(&new.secret, new.provider)?;
        if key.is_admin() && new.purpose != Purpose::UsageSync {
            return Err(VaultError::AdminKeyRefused {
                masked: key.masked(),
            });
        }
        let hash = self
            .keyring()
            .lookup_hash(&new.workspace, key.expose_secret());
        if let Some(existing) = self.kv().find_by_lookup(&new.workspace, &hash).await? {
            return Err(StoreError::Duplicate {
                existing: existing.id.to_string(),
            }
            .into());
        }
        Ok((key, hash))
    }

    /// Seal, store and audit an accepted key, with its test's verdict if it had one.
    async fn store_new(
        &self,
        new: NewKey,
        key: &ApiKey,
        hash: LookupHash,
        verdict: Option<VerdictCode>,
    ) -> Result<KeyView, VaultError> {
        let ring = self.keyring();
        let ws = new.workspace;
        let id = KeyId::new();
        let binding = Binding {
            workspace: &ws,
            id,
            provider: key.provider(),
        };
        let (kek_id, sealed) = ring
            .seal_for(self.kv(), binding, key.expose_secret())
            .await?;
        let mut record = KeyRecord::new(id, ws.clone(), key, new.label, hash, kek_id, sealed);
        record.role = new.role;
        record.order = new.order;
        record.default_model = new.default_model;
        record.note = new.note;
        if let Some(v) = verdict {
            record.last_verdict = Some(v);
            record.last_verdict_at = Some(now());
        }
        let record = ring
            .insert(self.kv(), &record, &self.event(&ws, id, AuditAction::Add))
            .await?;
        ring.after_write(self.kv(), &record, &self.actor).await?;
        Ok(record.view())
    }

    /// Every key of the workspace: primaries, then backups by order.
    pub async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyView>, VaultError> {
        Ok(self
            .kv()
            .list(workspace)
            .await?
            .iter()
            .map(KeyRecord::view)
            .collect())
    }

    /// One key's view.
    pub async fn show(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyView, VaultError> {
        Ok(self.kv().get(workspace, id).await?.view())
    }

    /// Replace a key's secret, keeping its id, label and role; the old secret is gone.
    /// The new key must be of the same provider; a revoked key cannot be rotated.
    ///
    /// The caller pins no version, so a concurrent edit of the record is not a
    /// `conflict`: the record is read again and the rotation retried (a few times).
    pub async fn rotate(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        secret: SecretString,
    ) -> Result<KeyView, VaultError> {
        let secret = &secret;
        unpinned(move || self.rotate_once(workspace, id, secret)).await
    }

    async fn rotate_once(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        secret: &SecretString,
    ) -> Result<KeyView, VaultError> {
        let current = self.kv().get(workspace, id).await?;
        if current.status == Status::Revoked {
            return Err(VaultError::Inactive {
                id: id.to_string(),
                status: current.status.as_str(),
            });
        }
        let key = parse(secret, Some(current.provider))?;
        if key.is_admin() && current.kind != KeyKind::Admin {
            return Err(VaultError::AdminKeyRefused {
                masked: key.masked(),
            });
        }
        let ring = self.keyring();
        let hash = ring.lookup_hash(workspace, key.expose_secret());
        if let Some(existing) = self.kv().find_by_lookup(workspace, &hash).await? {
            if existing.id != id {
                return Err(StoreError::Duplicate {
                    existing: existing.id.to_string(),
                }
                .into());
            }
        }
        let binding = Binding {
            workspace,
            id,
            provider: current.provider,
        };
        let (kek_id, sealed) = ring
            .seal_for(self.kv(), binding, key.expose_secret())
            .await?;
        let mut next = current;
        next.kind = key.kind();
        next.masked = key.masked();
        next.fingerprint = key.fingerprint().to_string();
        next.lookup_hash = hash;
        next.kek_id = kek_id;
        next.sealed = sealed;
        next.last_verdict = None;
        next.last_verdict_at = None;
        next.updated_at = now();
        let stored = ring
            .update(
                self.kv(),
                &next,
                &self.event(workspace, id, AuditAction::Rotate),
            )
            .await?;
        ring.after_write(self.kv(), &stored, &self.actor).await?;
        Ok(stored.view())
    }

    /// Apply `edit` if the key is still at `expected_version` (the `version` of the
    /// view the caller edited); a stale edit fails with `conflict` and changes nothing.
    pub async fn edit(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        expected_version: u64,
        edit: KeyEdit,
    ) -> Result<KeyView, VaultError> {
        let mut next = self.kv().get(workspace, id).await?;
        if next.version != expected_version {
            return Err(StoreError::Conflict {
                id: id.to_string(),
                expected: expected_version,
            }
            .into());
        }
        refuse_secrets("label", edit.label.as_deref().unwrap_or(""))?;
        refuse_secrets(
            "default_model",
            edit.default_model
                .as_ref()
                .and_then(|m| m.as_deref())
                .unwrap_or(""),
        )?;
        refuse_secrets(
            "note",
            edit.note.as_ref().and_then(|n| n.as_deref()).unwrap_or(""),
        )?;
        if let Some(label) = edit.label {
            next.label = label;
        }
        if let Some((role, order)) = edit.role {
            next.role = role;
            next.order = order;
        }
        if let Some(model) = edit.default_model {
            next.default_model = model;
        }
        if let Some(note) = edit.note {
            next.note = note;
        }
        next.updated_at = now();
        let stored = self
            .keyring()
            .update(
                self.kv(),
                &next,
                &self.event(workspace, id, AuditAction::Update),
            )
            .await?;
        Ok(stored.view())
    }

    /// Set a key's status from whatever version it is at now (re-read and retried
    /// on a concurrent edit: the caller pinned no version).
    async fn set_status(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        status: Status,
        action: AuditAction,
    ) -> Result<KeyView, VaultError> {
        unpinned(move || self.set_status_once(workspace, id, status, action)).await
    }

    async fn set_status_once(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        status: Status,
        action: AuditAction,
    ) -> Result<KeyView, VaultError> {
        let current = self.kv().get(workspace, id).await?;
        if current.status == Status::Revoked && status != Status::Revoked {
            return Err(VaultError::Inactive {
                id: id.to_string(),
                status: current.status.as_str(),
            });
        }
        let mut next = current;
        next.status = status;
        next.updated_at = now();
        let stored = self
            .keyring()
            .update(self.kv(), &next, &self.event(workspace, id, action))
            .await?;
        Ok(stored.view())
    }

    /// Switch a key off (it can be enabled again).
    pub async fn disable(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyView, VaultError> {
        self.set_status(workspace, id, Status::Disabled, AuditAction::Disable)
            .await
    }

    /// Switch a disabled key on again (not a revoked one).
    pub async fn enable(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyView, VaultError> {
        self.set_status(workspace, id, Status::Active, AuditAction::Enable)
            .await
    }

    /// Mark a key revoked: never leased again; it can only be deleted.
    pub async fn revoke(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyView, VaultError> {
        self.set_status(workspace, id, Status::Revoked, AuditAction::Revoke)
            .await
    }

    /// Delete a key and its sealed secret.
    pub async fn delete(&self, workspace: &WorkspaceId, id: KeyId) -> Result<(), VaultError> {
        let event = self.event(workspace, id, AuditAction::Delete);
        Ok(self.kv().delete(workspace, id, &event).await?)
    }

    /// The workspace's audit trail, oldest first (the whole trail in memory: prefer
    /// [`audit_page`](Vault::audit_page) for a trail that may be long).
    pub async fn audit(&self, workspace: &WorkspaceId) -> Result<Vec<AuditEvent>, VaultError> {
        Ok(self.kv().audit(workspace).await?)
    }

    /// One page of the workspace's audit trail, oldest first; pass the page's
    /// `next` as [`AuditQuery::after`] for the following one.
    pub async fn audit_page(
        &self,
        workspace: &WorkspaceId,
        query: &AuditQuery,
    ) -> Result<AuditPage, VaultError> {
        Ok(self.kv().audit_page(workspace, query).await?)
    }

    /// Open every sealed secret (of one workspace, or all) and report which fail.
    pub async fn check(
        &self,
        workspace: Option<&WorkspaceId>,
    ) -> Result<Vec<CheckOutcome>, VaultError> {
        Ok(self.keyring().check(self.kv(), workspace).await?)
    }

    /// Rotate the master key: from now on new secrets are sealed under `new`, and
    /// every data key is re-wrapped, online (this vault reads old and new records
    /// throughout). After a crash, build the vault with `new` as master key and the
    /// old one as previous, and call `rewrap` with `new` again: it resumes.
    pub async fn rewrap(
        &self,
        new: MasterKeySource,
        progress: impl FnMut(RewrapProgress) + Send,
    ) -> Result<RewrapReport, VaultError> {
        let new: Arc<dyn Kek> = Arc::new(new.resolve(self.kv()).await?);
        self.rewrap_to(new, progress).await
    }

    /// [`Vault::rewrap`] to a KEK of your own (a KMS).
    pub async fn rewrap_to(
        &self,
        new: Arc<dyn Kek>,
        progress: impl FnMut(RewrapProgress) + Send,
    ) -> Result<RewrapReport, VaultError> {
        let current = self.keyring();
        let next = if current.current().id() == new.id() {
            current
        } else {
            current.begin_rewrap(self.kv(), new).await?
        };
        *self
            .shared
            .keyring
            .write()
            .unwrap_or_else(|p| p.into_inner()) = next.clone();
        Ok(next.finish_rewrap(self.kv(), &self.actor, progress).await?)
    }

    /// Hand an active key's secret to `f` and record the use (`last_used_at` and a `use` audit event).
    pub async fn lease<R>(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        f: impl FnOnce(&ApiKey) -> R,
    ) -> Result<R, VaultError> {
        let key = self.open_for_use(workspace, id).await?;
        Ok(f(&key))
    }

    /// Like [`Vault::lease`], returning the secret itself (zeroed when dropped).
    pub async fn lease_secret(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
    ) -> Result<SecretString, VaultError> {
        let key = self.open_for_use(workspace, id).await?;
        Ok(SecretString::from(key.expose_secret().to_owned()))
    }

    async fn open_for_use(&self, workspace: &WorkspaceId, id: KeyId) -> Result<ApiKey, VaultError> {
        self.open_checked(workspace, id, false).await
    }

    /// [`open_for_use`](Vault::open_for_use) for a call to the provider's API: an
    /// admin secret is refused (`admin_key_refused`) whatever its record's kind says,
    /// before any `use` is recorded.
    pub(crate) async fn open_for_inference(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
    ) -> Result<ApiKey, VaultError> {
        self.open_checked(workspace, id, true).await
    }

    async fn open_checked(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        inference: bool,
    ) -> Result<ApiKey, VaultError> {
        let record = self.kv().get(workspace, id).await?;
        if record.status != Status::Active {
            return Err(VaultError::Inactive {
                id: id.to_string(),
                status: record.status.as_str(),
            });
        }
        let secret = self.keyring().open(&record).await?;
        let key = ApiKey::from_secret(secret)?;
        if inference && key.is_admin() {
            return Err(VaultError::AdminKeyRefused {
                masked: key.masked(),
            });
        }
        self.kv()
            .mark_used(workspace, id, &self.event(workspace, id, AuditAction::Use))
            .await?;
        Ok(key)
    }
}

/// How often an operation whose caller pinned no version is retried after a
/// concurrent edit won the record's compare-and-set.
const UNPINNED_RETRIES: u32 = 8;

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
            }
            other => return other,
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
mod tests {
    use super::*;
    use crate::keys::fake;
    use crate::store::{MasterKey, MemoryStore};

    fn ws(name: &str) -> WorkspaceId {
        WorkspaceId::new(name).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    async fn vault_on(
        store: Arc<dyn KeyStore>,
        master: &SecretString,
    ) -> Result<Vault, VaultError> {
        Vault::builder()
            .store(store)
            .master_key(MasterKeySource::Base64(master.clone()))
            .actor("tester")
            .build()
            .await
    }

    async fn fresh() -> (Vault, SecretString) {
        let master = MasterKey::generate().unwrap().to_base64();
        (
            vault_on(Arc::new(MemoryStore::new()), &master)
                .await
                .unwrap(),
            master,
        )
    }

    #[tokio::test]
    async fn add_normalises_parses_and_returns_a_masked_view() {
        let (vault, _) = fresh().await;
        let raw = fake::key(Provider::OpenAi, KeyKind::Project, 1);
        let view = vault
            .add(NewKey::new(
                ws("a"),
                secret(&format!("\"Bearer {raw}\"\n")),
                "prod",
            ))
            .await
            .unwrap();
        assert_eq!(
            (view.provider, view.kind, view.version),
            (Provider::OpenAi, KeyKind::Project, 1)
        );
        let json = serde_json::to_string(&view).unwrap();
        for field in [
            "\"id\"",
            "\"workspace\"",
            "\"provider\"",
            "\"kind\"",
            "\"label\"",
            "\"role\"",
            "\"status\"",
            "\"masked\"",
            "\"fingerprint\"",
            "\"created_at\"",
        ] {
            assert!(json.contains(field), "{field} missing in {json}");
        }
        assert!(
            !json.contains(&raw[8..30]),
            "the view never carries the secret"
        );
        let leased = vault
            .lease(&ws("a"), view.id, |k| k.expose_secret() == raw)
            .await
            .unwrap();
        assert!(leased);
    }

    #[tokio::test]
    async fn bad_keys_wrong_providers_and_admin_keys_are_refused() {
        let (vault, _) = fresh().await;
        let err = vault
            .add(NewKey::new(ws("a"), secret("sk-..."), "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "placeholder");
        let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 2);
        let err = vault
            .add(NewKey::new(ws("a"), secret(&anthropic), "x").provider(Provider::OpenAi))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "wrong_provider");
        let admin = fake::key(Provider::OpenAi, KeyKind::Admin, 3);
        let err = vault
            .add(NewKey::new(ws("a"), secret(&admin), "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "admin_key_refused");
        assert!(!err.to_string().contains(&admin[10..40]));
        let view = vault
            .add(NewKey::new(ws("a"), secret(&admin), "costs").purpose(Purpose::UsageSync))
            .await
            .unwrap();
        assert_eq!(view.kind, KeyKind::Admin);
        let err = vault.select(&ws("a"), Provider::OpenAi).await.unwrap_err();
        assert_eq!(
            err.code(),
            "no_usable_key",
            "admin keys are never selected for inference"
        );
        assert!(matches!(err, VaultError::NoUsableKey { ref skipped, .. } if skipped.is_empty()));
    }

    #[tokio::test]
    async fn select_passes_over_keys_it_cannot_open_and_admin_secrets() {
        let store = Arc::new(MemoryStore::new());
        let master = MasterKey::generate().unwrap().to_base64();
        let vault = vault_on(store.clone(), &master).await.unwrap();
        let w = ws("a");
        let add = |key: String, label: &str, order: Option<u32>| {
            let mut new = NewKey::new(w.clone(), secret(&key), label);
            if let Some(o) = order {
                new = new.backup(o);
            }
            vault.add(new)
        };
        let primary = add(fake::key(Provider::OpenAi, KeyKind::Project, 81), "p", None)
            .await
            .unwrap();
        let backup1 = add(
            fake::key(Provider::OpenAi, KeyKind::Project, 82),
            "b1",
            Some(1),
        )
        .await
        .unwrap();
        let backup2 = add(
            fake::key(Provider::OpenAi, KeyKind::Project, 83),
            "b2",
            Some(2),
        )
        .await
        .unwrap();
        let admin = vault
            .add(
                NewKey::new(
                    w.clone(),
                    secret(&fake::key(Provider::OpenAi, KeyKind::Admin, 84)),
                    "adm",
                )
                .purpose(Purpose::UsageSync),
            )
            .await
            .unwrap();
        let event = |id| AuditEvent::now(w.clone(), id, AuditAction::Update, "attacker");
        // The primary's sealed secret is swapped for the backup's: it fails to open.
        let mut p = store.get(&w, primary.id).await.unwrap();
        p.sealed = store.get(&w, backup1.id).await.unwrap().sealed;
        store.update(&p, &event(p.id)).await.unwrap();
        // The admin key's row is altered to look like a backup for inference, with
        // a valid MAC (as only a holder of the vault's keys could write it): the
        // opened secret itself is what gives it away.
        let mut a = store.get(&w, admin.id).await.unwrap();
        a.kind = KeyKind::Project;
        a.role = Role::Backup;
        a.order = 0;
        vault
            .keyring()
            .update(store.as_ref(), &a, &event(a.id))
            .await
            .unwrap();

        let lease = vault.select(&w, Provider::OpenAi).await.unwrap();
        let reasons: Vec<(KeyId, &str)> = lease
            .skipped()
            .iter()
            .map(|s| (s.id, s.reason.code()))
            .collect();
        assert_eq!(
            reasons,
            vec![(primary.id, "corrupt"), (admin.id, "admin_secret")],
            "the damaged primary and the disguised admin key are passed over, in order"
        );
        assert_eq!(
            lease.id(),
            backup1.id,
            "the next usable key serves the call"
        );
        let used: Vec<KeyId> = vault
            .audit(&w)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == AuditAction::Use)
            .map(|e| e.key_id)
            .collect();
        assert_eq!(
            used,
            vec![backup1.id],
            "only the key handed out is recorded as used"
        );

        // With every inference key unusable, `no_usable_key` lists each with its reason.
        let mut b = store.get(&w, backup1.id).await.unwrap();
        b.sealed = store.get(&w, backup2.id).await.unwrap().sealed;
        store.update(&b, &event(b.id)).await.unwrap();
        let mut b = store.get(&w, backup2.id).await.unwrap();
        b.sealed = store.get(&w, primary.id).await.unwrap().sealed;
        store.update(&b, &event(b.id)).await.unwrap();
        let err = vault.select(&w, Provider::OpenAi).await.unwrap_err();
        let VaultError::NoUsableKey { skipped, .. } = err else {
            panic!("{err:?}")
        };
        let codes: Vec<&str> = skipped.iter().map(|s| s.reason.code()).collect();
        assert_eq!(codes, ["corrupt", "admin_secret", "corrupt", "corrupt"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unpinned_changes_survive_concurrent_edits() {
        let (vault, _) = fresh().await;
        let w = ws("a");
        let view = vault
            .add(NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Project, 91)),
                "k",
            ))
            .await
            .unwrap();
        let id = view.id;
        // (2,000 rounds each: without the retry, a run sees conflicts every time.)
        // One task toggles the key's status, the other edits its label from
        // whatever version it reads: every status change must land, none is a
        // `conflict` (the editor's pinned edits may lose and simply retry).
        let toggler = {
            let (vault, w) = (vault.clone(), w.clone());
            tokio::spawn(async move {
                for i in 0..2000 {
                    let done = if i % 2 == 0 {
                        vault.disable(&w, id).await
                    } else {
                        vault.enable(&w, id).await
                    };
                    done.expect("an unpinned status change never fails with conflict");
                }
            })
        };
        let editor = {
            let (vault, w) = (vault.clone(), w.clone());
            tokio::spawn(async move {
                let mut edits = 0;
                while edits < 2000 {
                    let v = vault.show(&w, id).await.unwrap();
                    let edit = KeyEdit::new().label(format!("label {edits}"));
                    match vault.edit(&w, id, v.version, edit).await {
                        Ok(_) => edits += 1,
                        Err(VaultError::Store(StoreError::Conflict { .. })) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        };
        toggler.await.unwrap();
        editor.await.unwrap();
        let last = vault.show(&w, id).await.unwrap();
        assert_eq!(last.status, Status::Active, "2,000 toggles end enabled");
        assert_eq!(last.version, 1 + 2000 + 2000, "every change landed once");
    }

    #[tokio::test]
    async fn check_finds_rows_that_do_not_match_their_secret() {
        let store = Arc::new(MemoryStore::new());
        let master = MasterKey::generate().unwrap().to_base64();
        let vault = vault_on(store.clone(), &master).await.unwrap();
        let w = ws("a");
        let mut ids = Vec::new();
        for seed in 0..5 {
            let new = NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Admin, 100 + seed)),
                "k",
            )
            .purpose(Purpose::UsageSync);
            ids.push(vault.add(new).await.unwrap().id);
        }
        let event = |id| AuditEvent::now(w.clone(), id, AuditAction::Update, "attacker");
        let alter = |i: usize, f: fn(&mut KeyRecord)| {
            let (store, id, event) = (store.clone(), ids[i], event(ids[i]));
            let w = w.clone();
            async move {
                let mut r = store.get(&w, id).await.unwrap();
                f(&mut r);
                store.update(&r, &event).await.unwrap();
            }
        };
        alter(0, |r| r.kind = KeyKind::Project).await;
        alter(1, |r| r.masked = "sk-proj-…Q8xA".into()).await;
        alter(2, |r| r.fingerprint = "sha256:0000000000000000".into()).await;
        alter(3, |r| r.lookup_hash = LookupHash([7; 32])).await;
        let outcomes = vault.check(Some(&w)).await.unwrap();
        let found: Vec<(KeyId, Option<String>)> = outcomes
            .iter()
            .map(|o| (o.id, o.error.as_ref().map(|e| e.to_string())))
            .collect();
        for (i, field) in ["kind", "masked", "fingerprint", "lookup_hash"]
            .iter()
            .enumerate()
        {
            let (_, error) = found.iter().find(|(id, _)| *id == ids[i]).unwrap();
            let error = error.as_deref().unwrap_or("ok");
            assert!(
                error.contains(&format!("({field} differs)")),
                "{field}: {error}"
            );
        }
        let codes: Vec<Option<&str>> = outcomes
            .iter()
            .map(|o| o.error.as_ref().map(StoreError::code))
            .collect();
        assert_eq!(codes.iter().filter(|c| **c == Some("tampered")).count(), 4);
        assert!(
            outcomes.iter().any(|o| o.id == ids[4] && o.ok()),
            "the untouched row is ok"
        );
    }

    #[tokio::test]
    async fn duplicates_are_per_workspace() {
        let (vault, _) = fresh().await;
        let raw = fake::key(Provider::Google, KeyKind::Standard, 4);
        let first = vault
            .add(NewKey::new(ws("a"), secret(&raw), "one"))
            .await
            .unwrap();
        let err = vault
            .add(NewKey::new(ws("a"), secret(&format!(" {raw} ")), "two"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            VaultError::Store(StoreError::Duplicate {
                existing: first.id.to_string()
            })
        );
        vault
            .add(NewKey::new(ws("b"), secret(&raw), "other tenant"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn lifecycle_and_audit_trail() {
        let (vault, _) = fresh().await;
        let w = ws("a");
        let k1 = fake::key(Provider::OpenAi, KeyKind::Project, 5);
        let k2 = fake::key(Provider::OpenAi, KeyKind::Project, 6);
        let view = vault
            .add(NewKey::new(w.clone(), secret(&k1), "prod"))
            .await
            .unwrap();
        let backup = vault
            .add(
                NewKey::new(
                    w.clone(),
                    secret(&fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 7)),
                    "b",
                )
                .backup(1),
            )
            .await
            .unwrap();
        assert_eq!(
            vault.select(&w, Provider::OpenAi).await.unwrap().id(),
            view.id
        );

        let rotated = vault.rotate(&w, view.id, secret(&k2)).await.unwrap();
        assert_eq!((rotated.id, rotated.version), (view.id, 2));
        assert_ne!(rotated.masked, view.masked);
        assert_eq!(
            vault
                .lease_secret(&w, view.id)
                .await
                .unwrap()
                .expose_secret(),
            k2
        );
        let err = vault
            .rotate(
                &w,
                view.id,
                secret(&fake::key(Provider::Google, KeyKind::Standard, 1)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "wrong_provider");

        vault.disable(&w, view.id).await.unwrap();
        assert_eq!(
            vault.lease(&w, view.id, |_| ()).await.unwrap_err().code(),
            "key_inactive"
        );
        assert_eq!(
            vault.select(&w, Provider::OpenAi).await.unwrap().id(),
            backup.id,
            "the backup takes over"
        );
        vault.enable(&w, view.id).await.unwrap();
        vault.revoke(&w, view.id).await.unwrap();
        assert_eq!(
            vault.enable(&w, view.id).await.unwrap_err().code(),
            "key_inactive"
        );
        assert_eq!(
            vault
                .rotate(&w, view.id, secret(&k1))
                .await
                .unwrap_err()
                .code(),
            "key_inactive"
        );
        vault.delete(&w, view.id).await.unwrap();
        assert_eq!(
            vault.show(&w, view.id).await.unwrap_err().code(),
            "not_found"
        );
        assert_eq!(
            vault
                .show(&ws("other"), backup.id)
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );

        let actions: Vec<_> = vault
            .audit(&w)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.key_id == view.id)
            .map(|e| (e.action, e.actor))
            .collect();
        // `select` leases the key, so it is audited as a use like `lease`.
        let expected = [
            AuditAction::Add,
            AuditAction::Use,
            AuditAction::Rotate,
            AuditAction::Use,
            AuditAction::Disable,
            AuditAction::Enable,
            AuditAction::Revoke,
            AuditAction::Delete,
        ];
        assert_eq!(
            actions,
            expected
                .iter()
                .map(|a| (*a, "tester".to_owned()))
                .collect::<Vec<_>>()
        );
        let other = vault.with_actor("admin:1");
        other.disable(&w, backup.id).await.unwrap();
        assert_eq!(
            vault.audit(&w).await.unwrap().last().unwrap().actor,
            "admin:1"
        );
    }

    #[tokio::test]
    async fn a_stale_edit_is_a_conflict_never_a_lost_update() {
        let (vault, _) = fresh().await;
        let w = ws("a");
        let view = vault
            .add(NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Project, 11)),
                "old",
            ))
            .await
            .unwrap();
        let edited = vault
            .edit(
                &w,
                view.id,
                view.version,
                KeyEdit::new().label("new").backup(3).note(Some("n".into())),
            )
            .await
            .unwrap();
        assert_eq!(
            (
                edited.label.as_str(),
                edited.role,
                edited.order,
                edited.version
            ),
            ("new", Role::Backup, 3, 2)
        );
        assert_eq!(edited.note.as_deref(), Some("n"));
        let err = vault
            .edit(&w, view.id, view.version, KeyEdit::new().label("stale"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "conflict");
        assert_eq!(vault.show(&w, view.id).await.unwrap().label, "new");
        let last = vault.audit(&w).await.unwrap().pop().unwrap();
        assert_eq!(last.action, AuditAction::Update);
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_edits_on_sqlite_have_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path().join("v.db"))
            .await
            .unwrap();
        let master = MasterKey::generate().unwrap().to_base64();
        let vault = vault_on(Arc::new(store), &master).await.unwrap();
        let w = ws("a");
        let view = vault
            .add(NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Project, 12)),
                "x",
            ))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (vault, w) = (vault.clone(), w.clone());
                tokio::spawn(async move {
                    vault
                        .edit(&w, view.id, 1, KeyEdit::new().label(format!("t{i}")))
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(e) => assert_eq!(e.code(), "conflict"),
            }
        }
        assert_eq!(
            wins, 1,
            "exactly one of eight concurrent edits from version 1 wins"
        );
        assert_eq!(vault.show(&w, view.id).await.unwrap().version, 2);
    }

    #[tokio::test]
    async fn lease_records_last_use() {
        let (vault, _) = fresh().await;
        let w = ws("a");
        let view = vault
            .add(NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::Anthropic, KeyKind::Api, 8)),
                "x",
            ))
            .await
            .unwrap();
        assert_eq!(view.last_used_at, None);
        vault
            .lease(&w, view.id, |k| {
                assert_eq!(k.provider(), Provider::Anthropic)
            })
            .await
            .unwrap();
        let after = vault.show(&w, view.id).await.unwrap();
        assert!(after.last_used_at.is_some());
        assert_eq!(after.version, 1, "a use is not an edit");
    }

    #[tokio::test]
    async fn wrong_master_key_fails_at_build_and_missing_parts_are_named() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let right = MasterKey::generate().unwrap().to_base64();
        vault_on(store.clone(), &right).await.unwrap();
        let wrong = MasterKey::generate().unwrap().to_base64();
        let err = vault_on(store.clone(), &wrong).await.unwrap_err();
        assert_eq!(err.code(), "wrong_master_key");
        assert!(!err.to_string().contains(wrong.expose_secret()));
        let err = Vault::builder().store(store).build().await.unwrap_err();
        assert_eq!(err.code(), "missing_master_key");
        let err = Vault::builder()
            .master_key(MasterKeySource::Base64(right))
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.code(), "incomplete_builder");
    }

    #[tokio::test]
    async fn passphrase_vaults_reopen_with_the_same_passphrase_only() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let open = |pass: &str| {
            let store = store.clone();
            let pass = secret(pass);
            async move {
                Vault::builder()
                    .store(store)
                    .master_key(MasterKeySource::Passphrase {
                        passphrase: pass,
                        cost: Some((64, 1, 1)),
                    })
                    .build()
                    .await
            }
        };
        let vault = open("a long passphrase").await.unwrap();
        let w = ws("a");
        let view = vault
            .add(NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Legacy, 9)),
                "x",
            ))
            .await
            .unwrap();
        let again = open("a long passphrase").await.unwrap();
        assert!(again.lease(&w, view.id, |_| ()).await.is_ok());
        assert_eq!(
            open("another passphrase").await.unwrap_err().code(),
            "wrong_master_key"
        );
    }

    #[tokio::test]
    async fn rewrap_keeps_every_key_readable_and_retires_the_old_master_key() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let old = MasterKey::generate().unwrap().to_base64();
        let vault = vault_on(store.clone(), &old).await.unwrap();
        let w = ws("a");
        let mut ids = Vec::new();
        for seed in 0..4 {
            ids.push(
                vault
                    .add(NewKey::new(
                        w.clone(),
                        secret(&fake::key(Provider::OpenAi, KeyKind::Project, 100 + seed)),
                        "k",
                    ))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let new = MasterKey::generate().unwrap().to_base64();
        let mut calls = 0;
        let report = vault
            .rewrap(MasterKeySource::Base64(new.clone()), |_| calls += 1)
            .await
            .unwrap();
        assert!(report.complete);
        assert_eq!((report.progress.rewrapped, calls), (4, 4));
        for id in &ids {
            vault
                .lease(&w, *id, |_| ())
                .await
                .expect("the same vault keeps reading");
        }
        assert_eq!(
            vault_on(store.clone(), &old).await.unwrap_err().code(),
            "wrong_master_key"
        );
        let reopened = vault_on(store, &new).await.unwrap();
        assert!(
            reopened
                .check(None)
                .await
                .unwrap()
                .iter()
                .all(CheckOutcome::ok)
        );
        let rewraps = reopened
            .audit(&w)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == AuditAction::Rewrap)
            .count();
        assert_eq!(rewraps, 4);
    }

    #[tokio::test]
    async fn errors_and_debug_output_never_contain_secrets() {
        let (vault, master) = fresh().await;
        let raw = fake::key(Provider::OpenAi, KeyKind::Project, 10);
        let w = ws("a");
        let view = vault
            .add(NewKey::new(w.clone(), secret(&raw), "x"))
            .await
            .unwrap();
        let dup = vault
            .add(NewKey::new(w.clone(), secret(&raw), "x"))
            .await
            .unwrap_err();
        let new = NewKey::new(w.clone(), secret(&raw), "x");
        let texts = [
            format!("{vault:?}"),
            format!("{dup:?} {dup}"),
            format!("{new:?}"),
            format!("{view:?}"),
            format!("{:?}", vault.store().get(&w, view.id).await.unwrap()),
            format!("{:?}", MasterKeySource::Base64(master.clone())),
        ];
        for text in texts {
            assert!(!text.contains(&raw[8..24]), "secret leaked into {text}");
            assert!(
                !text.contains(master.expose_secret()),
                "master key leaked into {text}"
            );
        }
    }
}

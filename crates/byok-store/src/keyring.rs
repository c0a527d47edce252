//! `Keyring`: the unlocked vault's keys (current KEK, previous KEKs, lookup key)
//! and the operations that need them: seal, open, lookup hash, check, rewrap.

use core::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::audit::{AuditAction, AuditEvent};
use crate::error::StoreError;
use crate::kek::{DataKey, Kek};
use crate::meta::{META_NAME, VaultMeta};
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId, now};
use crate::sealed::{Binding, SealedSecret};
use crate::store::{KeyStore, RetireOutcome};

mod mac;

/// AAD of the wrapped lookup key in the metadata of a vault from before record
/// MACs: its records may lack one (see [`Keyring::unlock`]).
pub(crate) const LOOKUP_AAD: &[u8] = b"byok/v1/lookup-key";
/// AAD of the wrapped lookup key in the metadata of a vault every record of
/// which carries a MAC. Only a holder of the KEK can wrap under either, so the
/// marker cannot be removed or forged with write access to the database alone.
const LOOKUP_AAD_MACS: &[u8] = b"byok/v1/lookup-key/record-macs";
/// The actor of the audit events written when an old vault's records get their MACs.
const UPGRADE_ACTOR: &str = "byok:record-mac";
/// Records read per page by `check` and `rewrap`.
const PAGE: usize = 256;
/// How many times `finish_rewrap` re-visits records written under an old KEK
/// while it ran, before it reports the rewrap incomplete.
const FINAL_ROUNDS: usize = 5;

/// The keys of an unlocked vault. Built by [`Keyring::unlock`], which fails with
/// `WrongMasterKey` before anything else when the master key does not fit.
///
/// Every record carries a MAC over its fields (status, role, order, kind, …)
/// under a key derived from the vault's lookup key: write records with
/// [`Keyring::insert`] and [`Keyring::update`], which compute it; every
/// [`open`](Keyring::open) and [`check`](Keyring::check) verifies it, so a row
/// altered with SQL access alone (a revoked key made active again, say) is
/// `tampered`.
#[derive(Clone)]
pub struct Keyring {
    current: Arc<dyn Kek>,
    previous: Vec<Arc<dyn Kek>>,
    lookup_key: Arc<Zeroizing<[u8; 32]>>,
    /// Derived from `lookup_key` (domain-separated); the key of record MACs.
    record_key: Arc<Zeroizing<[u8; 32]>>,
    /// Whether the vault's metadata says every record carries a MAC; only a
    /// vault from before record MACs that this keyring could not upgrade
    /// (it does not hold every KEK the vault lists) accepts a record without one.
    macs_required: bool,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field(
                "previous",
                &self.previous.iter().map(|k| k.id()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The result of opening one record during [`Keyring::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckOutcome {
    /// Record id.
    pub id: KeyId,
    /// Its workspace.
    pub workspace: WorkspaceId,
    /// Why it failed to open, or `None` when it opened.
    pub error: Option<StoreError>,
}

impl CheckOutcome {
    /// Whether the sealed secret opened.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Progress of a rewrap, reported after every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RewrapProgress {
    /// Records looked at so far.
    pub seen: u64,
    /// Of those, re-wrapped now.
    pub rewrapped: u64,
    /// Of those, already under the new KEK (an earlier, interrupted run).
    pub already: u64,
    /// Of those, failed (corrupt, or sealed under a KEK not supplied).
    pub failed: u64,
}

/// What a finished rewrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Final counts.
    pub progress: RewrapProgress,
    /// The records that could not be re-wrapped, with why.
    pub failures: Vec<CheckOutcome>,
    /// Records still sealed under an old KEK at the final check (written by
    /// processes that do not hold the new key while the rewrap ran); the old KEK
    /// was kept for them. Run the rewrap again once those processes hold the new key.
    pub remaining: u64,
    /// Whether the vault now uses only the new KEK: nothing failed, no record
    /// carries an old KEK, and the old KEKs were dropped in the same atomic step
    /// as that last check.
    pub complete: bool,
}

impl Keyring {
    /// Unlock the vault in `store` with `current` (and optionally `previous` KEKs,
    /// needed while a rewrap is unfinished). A new vault is initialised under `current`.
    ///
    /// Fails with [`StoreError::WrongMasterKey`] when `current` is not a KEK of this vault.
    pub async fn unlock(
        store: &dyn KeyStore,
        current: Arc<dyn Kek>,
        previous: Vec<Arc<dyn Kek>>,
    ) -> Result<Keyring, StoreError> {
        loop {
            let (mut meta, raw) = VaultMeta::load(store).await?;
            if meta.keks.is_empty() {
                if !store.scan(None, 1).await?.is_empty() {
                    // Records and no metadata: refuse, unless another process
                    // created both since the read above.
                    if VaultMeta::load(store).await?.0.keks.is_empty() {
                        return Err(StoreError::MissingMetadata);
                    }
                    continue;
                }
                let lookup = DataKey::generate()?;
                let wrapped = current.wrap(&lookup, LOOKUP_AAD_MACS).await?;
                meta.keks
                    .insert(current.id().to_owned(), STANDARD.encode(wrapped));
                meta.current = Some(current.id().to_owned());
                if meta.store(store, raw.as_deref()).await? {
                    return Ok(Keyring::new(
                        current.clone(),
                        previous.clone(),
                        lookup.as_bytes(),
                        true,
                    ));
                }
                continue;
            }
            let (lookup_key, upgraded) = unwrap_lookup(&meta, current.as_ref())
                .await?
                .ok_or(StoreError::WrongMasterKey)?;
            for p in &previous {
                // A previous key the vault does not know is simply held; one it
                // knows must open its entry.
                unwrap_lookup(&meta, p.as_ref()).await?;
            }
            let ring = Keyring::new(
                current.clone(),
                previous.clone(),
                lookup_key.as_bytes(),
                upgraded,
            );
            if upgraded || !meta.keks.keys().all(|id| ring.kek(id).is_some()) {
                return Ok(ring);
            }
            // A vault from before record MACs, and this keyring holds every KEK
            // it lists: give every record its MAC, then mark the vault (every
            // entry re-wrapped under the new AAD) in one compare-and-set.
            ring.backfill_macs(store).await?;
            let mut next = meta.clone();
            for (id, entry) in next.keks.iter_mut() {
                let kek = ring.kek(id).expect("held: checked above");
                *entry = STANDARD.encode(kek.wrap(&lookup_key, LOOKUP_AAD_MACS).await?);
            }
            if next.store(store, raw.as_deref()).await? {
                return Ok(Keyring {
                    macs_required: true,
                    ..ring
                });
            }
            // The metadata changed meanwhile (another process upgraded it, or
            // began a rewrap): read it again.
        }
    }

    /// A keyring over `lookup_key` (no metadata read or written).
    pub(crate) fn new(
        current: Arc<dyn Kek>,
        previous: Vec<Arc<dyn Kek>>,
        lookup_key: &[u8; 32],
        macs_required: bool,
    ) -> Keyring {
        Keyring {
            current,
            previous,
            lookup_key: Arc::new(Zeroizing::new(*lookup_key)),
            record_key: Arc::new(mac::derive_key(lookup_key)),
            macs_required,
        }
    }

    /// Give every record without a MAC one (an update, with an audit event
    /// by `byok:record-mac`), retrying on concurrent edits.
    async fn backfill_macs(&self, store: &dyn KeyStore) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let page = store.scan(after, PAGE).await?;
            for r in &page {
                let mut record = r.clone();
                while record.mac.is_none() {
                    let event = AuditEvent::now(
                        record.workspace.clone(),
                        record.id,
                        AuditAction::Update,
                        UPGRADE_ACTOR,
                    );
                    match self.write_update(store, &record, &event).await {
                        Ok(_) | Err(StoreError::NotFound { .. }) => break,
                        Err(StoreError::Conflict { .. }) => {
                            match store.get(&record.workspace, record.id).await {
                                Ok(fresh) => record = fresh,
                                Err(StoreError::NotFound { .. }) => break,
                                Err(e) => return Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.id),
                _ => return Ok(()),
            }
        }
    }

    /// Check `record`'s MAC: `tampered` (field `mac`) when it is missing or
    /// does not match its fields, that is, when the row was changed by anything
    /// but [`Keyring::insert`] / [`Keyring::update`] with this vault's keys.
    ///
    /// A record without a MAC passes only in a vault from before record MACs
    /// that could not be upgraded yet (see [`Keyring::unlock`]).
    pub fn authenticate(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let ok = match &record.mac {
            None => !self.macs_required,
            Some(tag) => mac::matches(&self.record_key, record, tag),
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::Tampered {
                id: record.id.to_string(),
                field: "mac".into(),
            })
        }
    }

    /// Store a new record with its MAC and its audit event (see
    /// [`KeyStore::insert`]); returns the record as stored.
    pub async fn insert(
        &self,
        store: &dyn KeyStore,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let mut stored = record.clone();
        stored.mac = Some(mac::compute(&self.record_key, record, record.version));
        store.insert(&stored, event).await?;
        Ok(stored)
    }

    /// Compare-and-set update of `record` from `record.version` (see
    /// [`KeyStore::update`]), with a MAC for the version it is stored at.
    ///
    /// The row being replaced is read and authenticated first, so an update
    /// never gives a fresh MAC to a row altered outside byok (`tampered`); a
    /// stored version other than `record.version` is `conflict`.
    pub async fn update(
        &self,
        store: &dyn KeyStore,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let current = store.get(&record.workspace, record.id).await?;
        self.update_from(store, &current, record, event).await
    }

    /// [`Keyring::update`] for a caller that already read the row it changes:
    /// `read` (as the store returned it) is authenticated instead of being read
    /// again, and `next` (the changed copy) must be at its version. One store read
    /// fewer, so a read-modify-write loses fewer compare-and-sets to concurrent
    /// writers.
    pub async fn update_from(
        &self,
        store: &dyn KeyStore,
        read: &KeyRecord,
        next: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        if next.id != read.id || next.workspace != read.workspace || next.version != read.version {
            return Err(StoreError::Conflict {
                id: next.id.to_string(),
                expected: next.version,
            });
        }
        self.authenticate(read)?;
        self.write_update(store, next, event).await
    }

    /// [`KeyStore::update`] with the MAC of the version the row will have.
    async fn write_update(
        &self,
        store: &dyn KeyStore,
        record: &KeyRecord,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let mut next = record.clone();
        next.mac = Some(mac::compute(
            &self.record_key,
            record,
            record.version.saturating_add(1),
        ));
        store.update(&next, event).await
    }

    /// The KEK new secrets are sealed under.
    pub fn current(&self) -> &dyn Kek {
        self.current.as_ref()
    }

    /// The KEK with this id, if this keyring holds it.
    pub fn kek(&self, id: &str) -> Option<&dyn Kek> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .map(|k| k.as_ref())
    }

    /// Keyed hash of `secret` within `workspace`, for duplicate detection.
    pub fn lookup_hash(&self, workspace: &WorkspaceId, secret: &str) -> LookupHash {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.lookup_key.as_slice())
            .expect("HMAC accepts 32-byte keys");
        mac.update(b"byok/v1/lookup");
        mac.update(&(workspace.as_str().len() as u32).to_be_bytes());
        mac.update(workspace.as_str().as_bytes());
        mac.update(secret.as_bytes());
        LookupHash(mac.finalize().into_bytes().into())
    }

    /// Seal `secret` under the current KEK; returns the KEK id to store with it.
    ///
    /// For a record about to be written to a vault that other processes may be
    /// re-wrapping, use [`Keyring::seal_for`], which follows the vault's metadata.
    pub async fn seal(
        &self,
        binding: Binding<'_>,
        secret: &str,
    ) -> Result<(String, SealedSecret), StoreError> {
        let sealed = SealedSecret::seal(self.current(), binding, secret).await?;
        Ok((self.current.id().to_owned(), sealed))
    }

    /// The KEK new records of the vault in `store` are to be sealed under, as its
    /// metadata says now: the target of an unfinished rewrap when this keyring
    /// holds it, else this keyring's current KEK while the vault still knows it,
    /// else the vault's current KEK if held. `WrongMasterKey` when this keyring
    /// holds no KEK the vault still accepts (it was retired by a rewrap: restart
    /// with the new master key).
    pub async fn sealing_kek(&self, store: &dyn KeyStore) -> Result<&dyn Kek, StoreError> {
        let (meta, _) = VaultMeta::load(store).await?;
        let held = |id: &Option<String>| id.as_deref().and_then(|id| self.kek(id));
        if let Some(target) = held(&meta.rewrap_to) {
            return Ok(target);
        }
        if meta.keks.contains_key(self.current.id()) {
            return Ok(self.current());
        }
        held(&meta.current)
            .filter(|k| meta.keks.contains_key(k.id()))
            .ok_or(StoreError::WrongMasterKey)
    }

    /// [`Keyring::seal`] under [`Keyring::sealing_kek`]: what to store in a vault
    /// that may be mid-rewrap. Follow the write with [`Keyring::after_write`].
    pub async fn seal_for(
        &self,
        store: &dyn KeyStore,
        binding: Binding<'_>,
        secret: &str,
    ) -> Result<(String, SealedSecret), StoreError> {
        let kek = self.sealing_kek(store).await?;
        let sealed = SealedSecret::seal(kek, binding, secret).await?;
        Ok((kek.id().to_owned(), sealed))
    }

    /// After writing `record` (sealed by [`Keyring::seal_for`]): if a rewrap
    /// retired its KEK in the meantime, move it to a KEK the vault accepts now.
    ///
    /// When this keyring holds none (a process that was never given the new
    /// master key), the record stays written under the retired KEK and this
    /// fails with `UnknownKek` naming it, so the write is never stranded
    /// silently: resume the rewrap with that key as previous to move it.
    pub async fn after_write(
        &self,
        store: &dyn KeyStore,
        record: &KeyRecord,
        actor: &str,
    ) -> Result<(), StoreError> {
        let (meta, _) = VaultMeta::load(store).await?;
        if meta.keks.contains_key(&record.kek_id) {
            return Ok(());
        }
        let stranded = || StoreError::UnknownKek {
            id: record.id.to_string(),
            kek_id: record.kek_id.clone(),
        };
        let Ok(target) = self.sealing_kek(store).await else {
            return Err(stranded());
        };
        let stored = match store.get(&record.workspace, record.id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.rewrap_one(store, stored, actor, target)
            .await
            .map(drop)
    }

    /// Open a record's secret, after its MAC is checked ([`Keyring::authenticate`]):
    /// `corrupt` when the sealed secret fails to open, `tampered` when the
    /// record's fields were altered.
    pub async fn open(&self, record: &KeyRecord) -> Result<SecretString, StoreError> {
        let secret = self.open_sealed(record).await?;
        self.authenticate(record)?;
        Ok(secret)
    }

    /// Open the sealed secret alone (its AEAD binds workspace, id and provider).
    async fn open_sealed(&self, record: &KeyRecord) -> Result<SecretString, StoreError> {
        let kek = self
            .kek(&record.kek_id)
            .ok_or_else(|| StoreError::UnknownKek {
                id: record.id.to_string(),
                kek_id: record.kek_id.clone(),
            })?;
        record.sealed.open(kek, binding(record)).await
    }

    /// Open every record (of one workspace, or of all) and report which fail.
    pub async fn check(
        &self,
        store: &dyn KeyStore,
        workspace: Option<&WorkspaceId>,
    ) -> Result<Vec<CheckOutcome>, StoreError> {
        let mut out = Vec::new();
        let mut visit = |r: &KeyRecord, e: Option<StoreError>| {
            out.push(CheckOutcome {
                id: r.id,
                workspace: r.workspace.clone(),
                error: e,
            })
        };
        match workspace {
            Some(ws) => {
                for r in store.list(ws).await? {
                    visit(&r, self.verify(&r).await.err());
                }
            }
            None => {
                let mut after = None;
                loop {
                    let page = store.scan(after, PAGE).await?;
                    for r in &page {
                        visit(r, self.verify(r).await.err());
                    }
                    match page.last() {
                        Some(last) if page.len() == PAGE => after = Some(last.id),
                        _ => break,
                    }
                }
            }
        }
        Ok(out)
    }

    /// Open `record` and check that its clear fields say what its secret is:
    /// provider, kind, mask, fingerprint and lookup hash are all derived from the
    /// key, so a row whose mask was spoofed or whose kind was changed (an admin key
    /// passed off as one for inference) is `tampered`, not "ok"; then check its
    /// MAC, which covers the rest (status, role, order, …).
    pub async fn verify(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let secret = self.open_sealed(record).await?;
        let tampered = |field: &str| StoreError::Tampered {
            id: record.id.to_string(),
            field: field.to_owned(),
        };
        let hash = self.lookup_hash(
            &record.workspace,
            secrecy::ExposeSecret::expose_secret(&secret),
        );
        // Parsed as the record's provider (some shapes fit several, Azure OpenAI's
        // and Mistral's); a secret of another provider does not parse as this one.
        let key = byok_keys::ApiKey::from_secret_for(record.provider, secret)
            .map_err(|_| tampered("provider"))?;
        if key.provider() != record.provider {
            return Err(tampered("provider"));
        }
        if key.kind() != record.kind {
            return Err(tampered("kind"));
        }
        if key.masked() != record.masked {
            return Err(tampered("masked"));
        }
        if key.fingerprint().to_string() != record.fingerprint {
            return Err(tampered("fingerprint"));
        }
        if hash != record.lookup_hash {
            return Err(tampered("lookup_hash"));
        }
        self.authenticate(record)
    }

    /// Start rotating the master key to `new`: records the new KEK in the vault
    /// (both keys are accepted from now on) and returns the keyring to use from now
    /// on — `new` current, this keyring's KEKs as previous. Follow with
    /// [`Keyring::finish_rewrap`] on the returned keyring.
    pub async fn begin_rewrap(
        &self,
        store: &dyn KeyStore,
        new: Arc<dyn Kek>,
    ) -> Result<Keyring, StoreError> {
        loop {
            let (mut meta, raw) = VaultMeta::load(store).await?;
            if !meta.keks.contains_key(self.current.id()) {
                return Err(StoreError::WrongMasterKey);
            }
            if !meta.keks.contains_key(new.id()) {
                // The new entry keeps the vault's form (with or without record MACs).
                let upgraded = match unwrap_lookup(&meta, self.current()).await? {
                    Some((_, upgraded)) => upgraded,
                    None => return Err(StoreError::WrongMasterKey),
                };
                let aad = if upgraded {
                    LOOKUP_AAD_MACS
                } else {
                    LOOKUP_AAD
                };
                let lookup = DataKey::from_bytes(Zeroizing::new(**self.lookup_key));
                let wrapped = new.wrap(&lookup, aad).await?;
                meta.keks
                    .insert(new.id().to_owned(), STANDARD.encode(wrapped));
            }
            meta.rewrap_to = Some(new.id().to_owned());
            if meta.store(store, raw.as_deref()).await? {
                break;
            }
        }
        let mut previous = vec![self.current.clone()];
        previous.extend(self.previous.iter().filter(|k| k.id() != new.id()).cloned());
        Ok(Keyring {
            current: new,
            previous,
            lookup_key: self.lookup_key.clone(),
            record_key: self.record_key.clone(),
            macs_required: self.macs_required,
        })
    }

    /// Re-wrap every record not yet under the current KEK (resumable: records
    /// already done are skipped), appending a `rewrap` audit event per record and
    /// calling `progress` after each. When nothing failed, the vault forgets every
    /// other KEK. Concurrent edits are retried, never overwritten.
    pub async fn finish_rewrap(
        &self,
        store: &dyn KeyStore,
        actor: &str,
        mut progress: impl FnMut(RewrapProgress) + Send,
    ) -> Result<RewrapReport, StoreError> {
        let mut counts = RewrapProgress::default();
        let mut failures = Vec::new();
        self.rewrap_pass(store, actor, &mut counts, &mut failures, &mut progress)
            .await?;
        let mut remaining = 0;
        let mut complete = false;
        if failures.is_empty() {
            // Retire every other KEK only in the same atomic step as the check that
            // no record carries one; records written under one while the pass ran
            // (by processes without the new key) are moved first, a few times over.
            let mut rounds = 0;
            loop {
                let (mut meta, raw) = VaultMeta::load(store).await?;
                let retired: Vec<String> = meta
                    .keks
                    .keys()
                    .filter(|id| *id != self.current.id())
                    .cloned()
                    .collect();
                meta.keks.retain(|id, _| id == self.current.id());
                meta.current = Some(self.current.id().to_owned());
                meta.rewrap_to = None;
                let new = meta.encode()?;
                let outcome = match raw.as_deref() {
                    Some(raw) => store.retire_keks(META_NAME, raw, &new, &retired).await?,
                    None => return Err(StoreError::WrongMasterKey),
                };
                match outcome {
                    RetireOutcome::Retired => {
                        complete = true;
                        break;
                    }
                    RetireOutcome::InUse { records } if rounds >= FINAL_ROUNDS => {
                        remaining = records;
                        break;
                    }
                    RetireOutcome::InUse { .. } => {
                        rounds += 1;
                        self.rewrap_pass(store, actor, &mut counts, &mut failures, &mut progress)
                            .await?;
                        if !failures.is_empty() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(RewrapReport {
            progress: counts,
            failures,
            remaining,
            complete,
        })
    }

    /// One pass over every record: re-wrap those not under the current KEK.
    async fn rewrap_pass(
        &self,
        store: &dyn KeyStore,
        actor: &str,
        counts: &mut RewrapProgress,
        failures: &mut Vec<CheckOutcome>,
        progress: &mut (impl FnMut(RewrapProgress) + Send),
    ) -> Result<(), StoreError> {
        let first = counts.seen == 0;
        let mut after = None;
        loop {
            let page = store.scan(after, PAGE).await?;
            for r in &page {
                // Later passes count only what they move.
                let moved = self
                    .rewrap_one(store, r.clone(), actor, self.current())
                    .await;
                match moved {
                    Ok(true) => counts.rewrapped += 1,
                    Ok(false) if first => counts.already += 1,
                    Ok(false) => continue,
                    Err(
                        e @ (StoreError::Corrupt { .. }
                        | StoreError::UnknownKek { .. }
                        | StoreError::Tampered { .. }),
                    ) => {
                        if failures.iter().any(|f| f.id == r.id) {
                            continue;
                        }
                        counts.failed += 1;
                        failures.push(CheckOutcome {
                            id: r.id,
                            workspace: r.workspace.clone(),
                            error: Some(e),
                        });
                    }
                    Err(e) => return Err(e),
                }
                counts.seen += 1;
                progress(*counts);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.id),
                _ => break,
            }
        }
        Ok(())
    }

    /// `Ok(true)` when re-wrapped to `target`, `Ok(false)` when already under it or deleted meanwhile.
    async fn rewrap_one(
        &self,
        store: &dyn KeyStore,
        mut record: KeyRecord,
        actor: &str,
        target: &dyn Kek,
    ) -> Result<bool, StoreError> {
        loop {
            if record.kek_id == target.id() {
                return Ok(false);
            }
            // Never give a fresh MAC to a row altered outside byok.
            self.authenticate(&record)?;
            let old = self
                .kek(&record.kek_id)
                .ok_or_else(|| StoreError::UnknownKek {
                    id: record.id.to_string(),
                    kek_id: record.kek_id.clone(),
                })?;
            let mut next = record.clone();
            next.sealed = record.sealed.rewrap(old, target, binding(&record)).await?;
            next.kek_id = target.id().to_owned();
            next.updated_at = now();
            let event = AuditEvent::now(
                record.workspace.clone(),
                record.id,
                AuditAction::Rewrap,
                actor,
            );
            match self.write_update(store, &next, &event).await {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict { .. }) => {
                    match store.get(&record.workspace, record.id).await {
                        Ok(fresh) => record = fresh,
                        Err(StoreError::NotFound { .. }) => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
                Err(StoreError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The binding of a stored record.
pub fn binding(record: &KeyRecord) -> Binding<'_> {
    Binding {
        workspace: &record.workspace,
        id: record.id,
        provider: record.provider,
    }
}

/// The lookup key wrapped under `kek`, and whether its entry says every record
/// carries a MAC: `None` when the vault does not know `kek`.
///
/// A KEK's id is derived from its key material, so an entry under `kek`'s id
/// that does not open under `kek` is damage to the metadata, not a wrong key.
async fn unwrap_lookup(
    meta: &VaultMeta,
    kek: &dyn Kek,
) -> Result<Option<(DataKey, bool)>, StoreError> {
    let Some(encoded) = meta.keks.get(kek.id()) else {
        return Ok(None);
    };
    let damaged = |what: &str| StoreError::CorruptMetadata {
        detail: format!("the check value of master key {} {what}", kek.id()),
    };
    let wrapped = STANDARD
        .decode(encoded)
        .map_err(|_| damaged("is not base64"))?;
    if let Some(key) = kek.unwrap(&wrapped, LOOKUP_AAD_MACS).await? {
        return Ok(Some((key, true)));
    }
    match kek.unwrap(&wrapped, LOOKUP_AAD).await? {
        Some(key) => Ok(Some((key, false))),
        None => Err(damaged("fails its integrity check")),
    }
}

#[cfg(test)]
mod tests;

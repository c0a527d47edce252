//! Using a stored key: [`Vault::select`] (the primary, else the next usable
//! backup) hands out a [`Lease`], [`Vault::report`] feeds the call's outcome
//! back, [`Vault::test`] is the Test button; [`Vault::with_key`] and
//! [`Vault::secret`] open a key by id. Every use is audited.

use std::sync::Arc;

use byok_guard::{Guard, Scope};
use byok_verify::{Depth, Report, Verdict, Verifier};

use super::uses::UseCommit;
use super::{Vault, VaultError};
use crate::keys::params::Params;
use crate::keys::{ApiKey, Provider, SecretString, VerdictCode};
use crate::select::{self, CallOutcome, Skipped};
use crate::store::{
    AuditAction, KeyId, KeyRecord, KeyView, Status, StoreError, UseMark, WorkspaceId,
};

/// A key chosen by [`Vault::select`], ready for one call.
///
/// Holds the secret (zeroed on drop); `Debug` shows only the mask.
pub struct Lease {
    key: Arc<ApiKey>,
    view: KeyView,
    params: Option<Params>,
    skipped: Vec<Skipped>,
    /// The `use` commit still under way, for a lease the call path sends
    /// itself (see [`Vault::select_excluding`]); `None` once committed.
    pending_use: Option<UseCommit>,
}

impl Lease {
    /// The `use` commit still under way, taken out to be awaited beside the
    /// request (see [`Vault::select_excluding`]).
    pub(crate) fn take_pending_use(&mut self) -> Option<UseCommit> {
        self.pending_use.take()
    }

    /// The chosen key's id.
    pub fn id(&self) -> KeyId {
        self.view.id
    }

    /// The chosen key's view (masked).
    pub fn view(&self) -> &KeyView {
        &self.view
    }

    /// The keys passed over before this one, and why (empty when the primary served).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The chosen key's parameters, checked (Azure OpenAI's resource and
    /// deployment, Bedrock's region); `None` for a key without any.
    pub fn params(&self) -> Option<&Params> {
        self.params.as_ref()
    }

    /// The key, for the provider call. The one way to the secret.
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The budget scopes a call with this key counts against: the key and its
    /// workspace ([`scopes_in`](Lease::scopes_in) adds the caller's project).
    pub fn scopes(&self) -> Vec<Scope> {
        vec![
            Scope::key(self.view.id),
            Scope::workspace(self.view.workspace.as_str()),
        ]
    }

    /// [`scopes`](Lease::scopes) plus the project the call is made for: keys
    /// belong to a workspace, projects are the application's own grouping.
    pub fn scopes_in(&self, project: &str) -> Vec<Scope> {
        let mut scopes = self.scopes();
        scopes.insert(1, Scope::project(project));
        scopes
    }
}

impl core::fmt::Debug for Lease {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.view.id)
            .field("masked", &self.view.masked)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// The one place the vault asks the verifier about a key: the Test button
/// ([`Vault::test`]) and the test before saving ([`Vault::add_with_report`]), with
/// the key's parameters (Azure OpenAI's resource, deployment and API version,
/// Bedrock's region), which a templated base URL needs.
///
/// The record's parameters (Azure's resource and deployment, Bedrock's region)
/// fill the provider's URL templates; without them a provider that needs them
/// answers `restricted (missing_param)` and nothing is sent.
pub(super) async fn verify_key(
    verifier: &Verifier,
    key: &ApiKey,
    params: Option<&Params>,
    depth: Depth,
) -> Report {
    match params {
        Some(p) => verifier.verify_with(key, p, depth).await,
        None => verifier.verify(key, depth).await,
    }
}

impl Vault {
    /// The Test button for a stored key: run the probes of `depth`, record the
    /// verdict and its time on the record, return the full report.
    ///
    /// Needs a verifier ([`VaultBuilder::verifier`](super::VaultBuilder::verifier)).
    pub async fn test(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        depth: Depth,
    ) -> Result<Report, VaultError> {
        let verifier = self
            .shared
            .verifier
            .as_ref()
            .ok_or(VaultError::Incomplete {
                missing: "a verifier (VaultBuilder::verifier) to test keys",
            })?;
        let record = self.kv().get(workspace, id).await?;
        let key = self.open_record(workspace, &record, false).await?;
        let report = verify_key(verifier, &key, record.params.as_ref(), depth).await;
        if select::worth_recording(&report.verdict) || report.verdict.is_valid() {
            self.record_verdict(workspace, id, report.verdict.verdict_code())
                .await?;
        }
        Ok(report)
    }

    /// A key for a call to `provider`: the primary, or when it is disabled,
    /// revoked, or its last verdict says `invalid` / `no_credits`, the next backup
    /// in order. The lease says which keys were skipped and why; the use is audited.
    ///
    /// [`VaultError::NoUsableKey`] lists every candidate and its reason when none
    /// can serve (the list is empty when the workspace has no key for `provider`).
    pub async fn select(
        &self,
        workspace: &WorkspaceId,
        provider: Provider,
    ) -> Result<Lease, VaultError> {
        let mut lease = self.select_excluding(workspace, provider, &[]).await?;
        super::uses::committed(lease.take_pending_use()).await?;
        Ok(lease)
    }

    /// [`select`](Vault::select) passing over the keys `tried` (a call's
    /// fallbacks: a key refused once in a call is not tried again in it).
    ///
    /// The lease comes back with its `use` commit still under way
    /// ([`Lease::take_pending_use`] hands it to the one who waits): the call path sends the
    /// request to the provider meanwhile and withholds the answer if the use
    /// could not be recorded; every lease that reaches an app is committed first.
    pub(crate) async fn select_excluding(
        &self,
        workspace: &WorkspaceId,
        provider: Provider,
        tried: &[KeyId],
    ) -> Result<Lease, VaultError> {
        let records = self.kv().list_recent(workspace, self.key_lists).await?;
        let mut views: Vec<KeyView> = records
            .iter()
            .map(|r| r.view())
            .filter(|v| !tried.contains(&v.id))
            .collect();
        let mut passed = Vec::new();
        loop {
            let (view, skipped) = match select::choose(&views, provider) {
                Ok(found) => found,
                Err(skipped) => {
                    passed.extend(skipped);
                    return Err(VaultError::NoUsableKey {
                        provider,
                        skipped: passed,
                    });
                }
            };
            passed.extend(skipped);
            // A key that cannot be opened now is passed over with its reason, and
            // the next one in order is tried; other failures are the caller's.
            // The record as listed: no second read of it.
            let Some(record) = records.iter().find(|r| r.id == view.id) else {
                return Err(VaultError::NoUsableKey {
                    provider,
                    skipped: passed,
                });
            };
            let reason = match self.open_record_queued(workspace, record, true).await {
                Ok((key, pending)) => {
                    return Ok(Lease {
                        key,
                        view,
                        params: record.params.clone(),
                        skipped: passed,
                        pending_use: Some(pending),
                    });
                }
                Err(e) => match select::skip_reason_for(&e) {
                    Some(reason) => reason,
                    None => return Err(e),
                },
            };
            passed.push(Skipped {
                id: view.id,
                masked: view.masked.clone(),
                label: view.label.clone(),
                role: view.role,
                reason,
            });
            views.retain(|v| v.id != view.id);
        }
    }

    /// Renamed [`record_outcome`](Vault::record_outcome) (a name that cannot be
    /// confused with `byok_verify::Report`).
    #[deprecated(since = "0.1.0", note = "renamed `record_outcome`")]
    pub async fn report(
        &self,
        lease: &Lease,
        outcome: CallOutcome<'_>,
    ) -> Result<Verdict, VaultError> {
        self.record_outcome(lease, outcome).await
    }

    /// Feed back what a real call with a leased key returned. An `invalid` or
    /// `no_credits` answer benches the key (the next [`select`](Vault::select)
    /// falls back); a success clears such a mark. Rate limits, outages and
    /// unknown answers say nothing about the key and change nothing.
    /// Returns the verdict the outcome amounts to.
    ///
    /// [`Vault::call`] does this itself; this is for calls an app makes on its own.
    pub async fn record_outcome(
        &self,
        lease: &Lease,
        outcome: CallOutcome<'_>,
    ) -> Result<Verdict, VaultError> {
        let verdict = outcome.verdict(lease.view.provider);
        let benched = lease
            .view
            .last_verdict
            .is_some_and(VerdictCode::benches_key);
        // A success is written only when it lifts a bench: no write per successful call.
        let record = select::worth_recording(&verdict) && (benched || !verdict.is_valid());
        if record {
            self.record_verdict(&lease.view.workspace, lease.view.id, verdict.verdict_code())
                .await?;
        }
        Ok(verdict)
    }

    /// The verifier configured with [`VaultBuilder::verifier`](super::VaultBuilder::verifier), if any.
    pub fn verifier(&self) -> Option<&byok_verify::Verifier> {
        self.shared.verifier.as_ref()
    }

    /// The verifier's configuration (base URLs, retry policy, deadline), or the
    /// defaults without a verifier.
    pub(crate) fn verifier_config(&self) -> &byok_verify::VerifierConfig {
        static DEFAULT: std::sync::LazyLock<byok_verify::VerifierConfig> =
            std::sync::LazyLock::new(byok_verify::VerifierConfig::default);
        self.shared
            .verifier
            .as_ref()
            .map_or(&*DEFAULT, |v| v.config())
    }

    /// The spend guard configured with [`VaultBuilder::guard`](super::VaultBuilder::guard), if any.
    pub fn guard(&self) -> Option<&Guard> {
        self.shared.guard.as_ref()
    }

    /// Write `verdict` and now onto the record, retrying once if another writer
    /// moved the record's version in between.
    async fn record_verdict(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        verdict: VerdictCode,
    ) -> Result<(), VaultError> {
        for attempt in 0..2 {
            let current = self.kv().get(workspace, id).await?;
            let mut next = current.clone();
            next.last_verdict = Some(verdict);
            next.last_verdict_at = Some(byok_store::now());
            match self
                .write_change(&self.keyring(), &current, next, AuditAction::Update)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt == 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Hand an active key's secret to `f` and return what `f` returns, recording
    /// the use (`last_used_at` and a `use` audit event). The secret never leaves
    /// the closure.
    pub async fn with_key<R>(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        f: impl FnOnce(&ApiKey) -> R,
    ) -> Result<R, VaultError> {
        let key = self.open_for_use(workspace, id).await?;
        Ok(f(&key))
    }

    /// An active key's secret itself (zeroed when dropped), recording the use
    /// like [`Vault::with_key`].
    pub async fn secret(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
    ) -> Result<SecretString, VaultError> {
        let key = self.open_for_use(workspace, id).await?;
        Ok(SecretString::from(key.expose_secret().to_owned()))
    }

    /// The old name of [`Vault::with_key`] (it returns `f`'s result, not a [`Lease`]).
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::with_key`")]
    pub async fn lease<R>(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        f: impl FnOnce(&ApiKey) -> R,
    ) -> Result<R, VaultError> {
        self.with_key(workspace, id, f).await
    }

    /// The old name of [`Vault::secret`].
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::secret`")]
    pub async fn lease_secret(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
    ) -> Result<SecretString, VaultError> {
        self.secret(workspace, id).await
    }

    async fn open_for_use(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
    ) -> Result<Arc<ApiKey>, VaultError> {
        let record = self.kv().get(workspace, id).await?;
        self.open_record(workspace, &record, false).await
    }

    /// Open `record`, just read from `workspace`, for use, and wait for the
    /// commit of its `use` ([`open_record_queued`](Vault::open_record_queued)).
    async fn open_record(
        &self,
        workspace: &WorkspaceId,
        record: &KeyRecord,
        inference: bool,
    ) -> Result<Arc<ApiKey>, VaultError> {
        let (key, pending) = self
            .open_record_queued(workspace, record, inference)
            .await?;
        pending.committed().await?;
        Ok(key)
    }

    /// Open `record`, just read from `workspace`, for use: it must be active;
    /// the key comes from the cache of opened keys when the record is unchanged
    /// (see [`opened`](super::opened)), else it is opened and authenticated
    /// afresh; an admin key is refused for `inference`; the use is queued for
    /// the next commit ([`uses`](super::uses)), which the caller waits for
    /// before the secret leaves the vault (or, on the call path, beside the
    /// request to the provider).
    async fn open_record_queued(
        &self,
        workspace: &WorkspaceId,
        record: &KeyRecord,
        inference: bool,
    ) -> Result<(Arc<ApiKey>, UseCommit), VaultError> {
        if record.status != Status::Active {
            return Err(VaultError::Inactive {
                id: record.id.to_string(),
                status: record.status,
            });
        }
        let key = match self.shared.opened.get(record) {
            Some(key) => key,
            None => {
                let secret = self.keyring().open(record).await?;
                // Read as the record's provider: a prefix-less key (Mistral, Cohere,
                // Azure) does not say whose it is.
                let key = Arc::new(ApiKey::from_secret_for(record.provider, secret)?);
                self.shared.opened.put(record, key.clone());
                key
            }
        };
        if inference && key.is_admin() {
            return Err(VaultError::AdminKeyRefused {
                masked: key.masked(),
            });
        }
        // Committed with the uses of the calls made at the same time (see `uses`).
        let mark = UseMark {
            workspace: workspace.clone(),
            id: record.id,
            event: self.event(workspace, record.id, AuditAction::Use),
        };
        let pending = self.shared.uses.queue_use(&self.shared.store, mark);
        Ok((key, pending))
    }
}

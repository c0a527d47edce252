//! The BYOK flow on top of storage: test on add, the Test button, select with
//! fallback, outcomes reported back, and the guard tied to the chosen key.

use byok_guard::{Guard, Scope};
use byok_keys::{ApiKey, Provider, VerdictCode};
use byok_store::{AuditAction, KeyId, KeyView, StoreError, WorkspaceId};
use byok_verify::{Depth, Report, Verdict};
use serde::Serialize;

use super::{Vault, VaultError};
use crate::NewKey;
use crate::select::{self, CallOutcome, Skipped};

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

/// What [`Vault::add`] did: the stored key and, when it was tested, the report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Added {
    /// The stored key (masked).
    pub key: KeyView,
    /// The Test made before saving, if any.
    pub report: Option<Report>,
}

impl Added {
    /// A line a UI can show when the key was saved but does not work right now
    /// (`no_credits`, `rate_limited`, `restricted`, provider down, ...).
    pub fn warning(&self) -> Option<String> {
        let report = self.report.as_ref().filter(|r| !r.verdict.is_valid())?;
        Some(format!(
            "saved, but: {} {}",
            report.message(),
            report.remediation()
        ))
    }
}

/// A key chosen by [`Vault::select`], ready for one call.
///
/// Holds the secret (zeroed on drop); `Debug` shows only the mask.
pub struct Lease {
    key: ApiKey,
    view: KeyView,
    skipped: Vec<Skipped>,
}

impl Lease {
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

impl Vault {
    /// [`add`](Vault::add), returning the Test report as well.
    ///
    /// When a verifier is configured and the [`VerifyPolicy`] says so (the
    /// default once a verifier is set), the key is tested before anything is
    /// stored: an `invalid` verdict refuses it ([`VaultError::KeyRejected`]
    /// carries the report); any other verdict is saved on the record and
    /// returned, so `no_credits` or `rate_limited` keys are kept with a warning
    /// ([`Added::warning`]), as users expect from a paste box. Admin keys added
    /// for usage sync are not tested (they cannot make inference calls).
    pub async fn add_with_report(&self, new: NewKey) -> Result<Added, VaultError> {
        let (key, hash) = self.accept(&new).await?;
        let report = match (&self.shared.verifier, self.shared.verify_policy) {
            (Some(verifier), VerifyPolicy::Test(depth)) if !key.is_admin() => {
                Some(verifier.verify(&key, depth).await)
            }
            _ => None,
        };
        if let Some(r) = report
            .as_ref()
            .filter(|r| matches!(r.verdict, Verdict::Invalid(_)))
        {
            return Err(VaultError::KeyRejected {
                report: Box::new(r.clone()),
            });
        }
        let verdict = report.as_ref().map(|r| r.verdict.verdict_code());
        let view = self.store_new(new, &key, hash, verdict).await?;
        Ok(Added { key: view, report })
    }

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
        let key = self.open_for_use(workspace, id).await?;
        let report = verifier.verify(&key, depth).await;
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
        let mut views: Vec<KeyView> = self
            .kv()
            .list(workspace)
            .await?
            .iter()
            .map(|r| r.view())
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
            let reason = match self.open_for_inference(workspace, view.id).await {
                Ok(key) => {
                    return Ok(Lease {
                        key,
                        view,
                        skipped: passed,
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

    /// Feed back what a real call with a leased key returned. An `invalid` or
    /// `no_credits` answer benches the key (the next [`select`](Vault::select)
    /// falls back); a success clears such a mark. Rate limits, outages and
    /// unknown answers say nothing about the key and change nothing.
    /// Returns the verdict the outcome amounts to.
    pub async fn report(
        &self,
        lease: &Lease,
        outcome: CallOutcome<'_>,
    ) -> Result<Verdict, VaultError> {
        let verdict = outcome.verdict(lease.view.provider);
        let benched = lease
            .view
            .last_verdict
            .as_deref()
            .is_some_and(|v| select::BENCHING_VERDICTS.contains(&v));
        // A success is written only when it lifts a bench: no write per successful call.
        let record = select::worth_recording(&verdict) && (benched || !verdict.is_valid());
        if record {
            self.record_verdict(&lease.view.workspace, lease.view.id, verdict.verdict_code())
                .await?;
        }
        Ok(verdict)
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
            let mut next = self.kv().get(workspace, id).await?;
            next.last_verdict = Some(verdict);
            next.last_verdict_at = Some(byok_store::now());
            next.updated_at = byok_store::now();
            match self
                .keyring()
                .update(
                    self.kv(),
                    &next,
                    &self.event(workspace, id, AuditAction::Update),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt == 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

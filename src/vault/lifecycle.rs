//! A key's life in the vault: add (tested first when a verifier is set), list,
//! show, rotate, edit, disable, enable, revoke, delete; the audit trail; and the
//! vault-wide operations `check` and `rewrap`.

use std::sync::Arc;

use byok_verify::{Report, Verdict};
use serde::Serialize;

use super::key_params::{self, Given};
use super::using::verify_key;
use super::{Vault, VaultError, VerifyPolicy, parse, unpinned};
use crate::keys::params::Params;
use crate::keys::{ApiKey, KeyKind, SecretString, VerdictCode};
use crate::store::{
    AuditAction, AuditEvent, AuditPage, AuditQuery, Binding, CheckOutcome, Kek, KeyId, KeyRecord,
    KeyView, LookupHash, MasterKeySource, RewrapProgress, RewrapReport, Status, StoreError,
    WorkspaceId, now, refuse_secrets,
};
use crate::{KeyEdit, NewKey, Purpose};

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
        let (key, hash, params) = self.accept(&new).await?;
        let report = match (&self.shared.verifier, self.shared.verify_policy) {
            (Some(verifier), VerifyPolicy::Test(depth)) if !key.is_admin() => {
                Some(verify_key(verifier, &key, params.as_ref(), depth).await)
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
        let view = self.store_new(new, &key, hash, params, verdict).await?;
        Ok(Added { key: view, report })
    }

    /// Normalise, parse, apply the admin-key policy, refuse duplicates, test the
    /// key when a verifier is configured (see [`Vault::add_with_report`]), seal,
    /// store and audit; returns the masked view, whose `last_verdict` holds the
    /// test's verdict.
    pub async fn add(&self, new: NewKey) -> Result<KeyView, VaultError> {
        Ok(self.add_with_report(new).await?.key)
    }

    /// The checks before any provider call: parse, the parameters, the admin-key
    /// policy, duplicates.
    async fn accept(
        &self,
        new: &NewKey,
    ) -> Result<(ApiKey, LookupHash, Option<Params>), VaultError> {
        refuse_secrets("workspace", new.workspace.as_str())?;
        refuse_secrets("label", &new.label)?;
        refuse_secrets("default_model", new.default_model.as_deref().unwrap_or(""))?;
        refuse_secrets("note", new.note.as_deref().unwrap_or(""))?;
        let key = parse(&new.secret, new.provider)?;
        let params = key_params::for_key(&key, new.params.as_ref(), Given::Explicitly)?;
        let hash = self
            .admit(
                &new.workspace,
                &key,
                new.purpose == Purpose::UsageSync,
                None,
            )
            .await?;
        Ok((key, hash, params))
    }

    /// The rules a parsed secret meets before it is stored, for a new key and a
    /// rotation alike: an admin key only where `admin_allowed`, and no other record
    /// of the workspace (`except` is the one being rotated) holding the same key.
    /// Returns the secret's lookup hash.
    async fn admit(
        &self,
        workspace: &WorkspaceId,
        key: &ApiKey,
        admin_allowed: bool,
        except: Option<KeyId>,
    ) -> Result<LookupHash, VaultError> {
        if key.is_admin() && !admin_allowed {
            return Err(VaultError::AdminKeyRefused {
                masked: key.masked(),
            });
        }
        let hash = self.keyring().lookup_hash(workspace, key.expose_secret());
        match self.kv().find_by_lookup(workspace, &hash).await? {
            Some(existing) if Some(existing.id) != except => Err(StoreError::Duplicate {
                existing: existing.id.to_string(),
            }
            .into()),
            _ => Ok(hash),
        }
    }

    /// Seal, store and audit an accepted key, with its test's verdict if it had one.
    async fn store_new(
        &self,
        new: NewKey,
        key: &ApiKey,
        hash: LookupHash,
        params: Option<Params>,
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
        record.params = params;
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

    /// Replace a key's secret, keeping its id, label, role and parameters; the old
    /// secret is gone. The new key must be of the same provider; a revoked key
    /// cannot be rotated. A Bedrock short-term key's region follows the new token.
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
        unpinned(move || self.rotate_once(workspace, id, secret, None)).await
    }

    /// [`rotate`](Vault::rotate) to a key that works with other parameters
    /// (another Azure resource, another region), checked like
    /// [`NewKey::params`].
    pub async fn rotate_with_params(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        secret: SecretString,
        params: Params,
    ) -> Result<KeyView, VaultError> {
        let (secret, params) = (&secret, &params);
        unpinned(move || self.rotate_once(workspace, id, secret, Some(params))).await
    }

    async fn rotate_once(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        secret: &SecretString,
        params: Option<&Params>,
    ) -> Result<KeyView, VaultError> {
        let current = self.kv().get(workspace, id).await?;
        if current.status == Status::Revoked {
            return Err(VaultError::Inactive {
                id: id.to_string(),
                status: current.status,
            });
        }
        let key = parse(secret, Some(current.provider))?;
        let params = match params {
            Some(given) => key_params::for_key(&key, Some(given), Given::Explicitly)?,
            None => key_params::for_key(&key, current.params.as_ref(), Given::Kept)?,
        };
        // An admin key may replace an admin key (usage sync), never a key for calls.
        let hash = self
            .admit(workspace, &key, current.kind == KeyKind::Admin, Some(id))
            .await?;
        let ring = self.keyring();
        let binding = Binding {
            workspace,
            id,
            provider: current.provider,
        };
        let (kek_id, sealed) = ring
            .seal_for(self.kv(), binding, key.expose_secret())
            .await?;
        let mut next = current.clone();
        next.kind = key.kind();
        next.masked = key.masked();
        next.fingerprint = key.fingerprint().to_string();
        next.lookup_hash = hash;
        next.kek_id = kek_id;
        next.sealed = sealed;
        next.params = params;
        next.last_verdict = None;
        next.last_verdict_at = None;
        let stored = self
            .write_change(&ring, &current, next, AuditAction::Rotate)
            .await?;
        ring.after_write(self.kv(), &stored, &self.actor).await?;
        Ok(stored.view())
    }

    /// Apply `edit` if the key is still at `expected_version` (the `version` of the
    /// view the caller edited); a stale edit fails with `conflict` and changes nothing.
    /// New parameters are checked like [`NewKey::params`] and audited as an
    /// `update`, like every other edit.
    pub async fn edit(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        expected_version: u64,
        edit: KeyEdit,
    ) -> Result<KeyView, VaultError> {
        let current = self.kv().get(workspace, id).await?;
        if current.version != expected_version {
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
        let mut next = current.clone();
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
        if let Some(params) = &edit.params {
            // The key itself decides what fits (a short-term key's region): open
            // it here, without recording a use, as nothing leaves the vault.
            let secret = self.keyring().open(&current).await?;
            let key = ApiKey::from_secret_for(current.provider, secret)?;
            next.params = key_params::for_key(&key, Some(params), Given::Explicitly)?;
        }
        let stored = self
            .write_change(&self.keyring(), &current, next, AuditAction::Update)
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
                status: current.status,
            });
        }
        let mut next = current.clone();
        next.status = status;
        let stored = self
            .write_change(&self.keyring(), &current, next, action)
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
        self.shared.opened.forget(id);
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
        self.shared.opened.clear();
        Ok(next.finish_rewrap(self.kv(), &self.actor, progress).await?)
    }
}

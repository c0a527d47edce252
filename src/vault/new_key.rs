//! What callers hand the vault: a key to add ([`NewKey`], its [`Purpose`]) and
//! changes to a stored key's non-secret fields ([`KeyEdit`]).

use crate::keys::params::Params;
use crate::keys::{Provider, SecretString};
use crate::store::{Role, WorkspaceId};

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
    pub(super) workspace: WorkspaceId,
    pub(super) secret: SecretString,
    pub(super) label: String,
    pub(super) provider: Option<Provider>,
    pub(super) role: Role,
    pub(super) order: u32,
    pub(super) purpose: Purpose,
    pub(super) default_model: Option<String>,
    pub(super) note: Option<String>,
    pub(super) params: Option<Params>,
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
            params: None,
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

    /// What the key alone does not say about where it works: Azure OpenAI's
    /// `resource` and `deployment` (and `api_version`), Bedrock's `region`.
    /// Required for those providers (else `missing_param`), except a Bedrock
    /// short-term key, whose region is read from the token (a different region
    /// given here is `invalid_param`); another provider's names are `unknown_param`.
    ///
    /// ```
    /// use byok::keys::{Provider, SecretString, params::Params};
    /// use byok::store::WorkspaceId;
    /// use byok::NewKey;
    ///
    /// let params = Params::new(Provider::AzureOpenAi, [("resource", "contoso"), ("deployment", "gpt-4o-mini")])?;
    /// let new = NewKey::new(WorkspaceId::new("acme").unwrap(), SecretString::from("…".to_owned()), "azure")
    ///     .provider(Provider::AzureOpenAi)
    ///     .params(params);
    /// # let _ = new;
    /// # Ok::<(), byok::keys::params::ParamError>(())
    /// ```
    pub fn params(mut self, params: Params) -> Self {
        self.params = Some(params);
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
    /// New parameters, replacing the key's (checked like [`NewKey::params`]:
    /// a provider that needs parameters cannot be left without).
    pub params: Option<Params>,
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

    /// Replace the key's parameters (every value the key keeps: give them all).
    pub fn params(mut self, params: Params) -> Self {
        self.params = Some(params);
        self
    }
}

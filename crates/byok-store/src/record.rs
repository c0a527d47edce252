//! The stored record of one key, its identifiers, and the masked view for UIs.

use core::fmt;
use core::str::FromStr;

use std::collections::BTreeMap;

use byok_keys::params::{Params, UncheckedParams};
use byok_keys::{ApiKey, KeyKind, Provider, VerdictCode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::sealed::SealedSecret;

/// The tenant a key belongs to. Every store call is scoped by one.
///
/// Any non-empty string of at most 200 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Check and wrap a workspace name.
    pub fn new(name: impl Into<String>) -> Result<Self, StoreError> {
        let name = name.into();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(StoreError::InvalidInput {
                detail: "a workspace id must be 1 to 200 characters without control characters"
                    .into(),
            });
        }
        Ok(WorkspaceId(name))
    }

    /// The workspace name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        WorkspaceId::new(value)
    }
}

impl From<WorkspaceId> for String {
    fn from(value: WorkspaceId) -> Self {
        value.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Refuse a plain-text `value` (stored in clear: a label, a note, a workspace or
/// actor name) in which [`byok_keys::scan`] finds an API key: `secret_in_field`,
/// naming the field and never the value.
///
/// ```
/// use byok_store::refuse_secrets;
/// assert!(refuse_secrets("label", "production (EU)").is_ok());
/// let key = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 1);
/// let err = refuse_secrets("note", &format!("old one was {key}")).unwrap_err();
/// assert_eq!(err.code(), "secret_in_field");
/// assert!(!err.to_string().contains(&key[8..]));
/// ```
pub fn refuse_secrets(field: &str, value: &str) -> Result<(), StoreError> {
    if byok_keys::scan(value).next().is_some() {
        return Err(StoreError::SecretInField {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// A record id: a UUID v7 (time-ordered), chosen when the key is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(Uuid);

impl KeyId {
    /// A fresh time-ordered id.
    pub fn new() -> Self {
        KeyId(Uuid::now_v7())
    }

    /// Wrap an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        KeyId(uuid)
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for KeyId {
    fn default() -> Self {
        KeyId::new()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for KeyId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(KeyId)
            .map_err(|_| StoreError::InvalidInput {
                detail: format!("{s:?} is not a key id (a UUID such as 0190f5c2-…)"),
            })
    }
}

/// Whether a key is the one to use first or a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Used first.
    Primary,
    /// Used when the primary fails, in ascending [`KeyRecord::order`].
    Backup,
}

impl Role {
    /// Stable name: `primary` or `backup`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(Role::Primary),
            "backup" => Ok(Role::Backup),
            _ => Err(StoreError::InvalidInput {
                detail: format!("role must be primary or backup, not {s:?}"),
            }),
        }
    }
}

/// Lifecycle state of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Usable.
    Active,
    /// Switched off by its owner; may be switched on again.
    Disabled,
    /// Known compromised or withdrawn; never used again.
    Revoked,
}

impl Status {
    /// Stable name: `active`, `disabled` or `revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Revoked => "revoked",
        }
    }
}

impl FromStr for Status {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Status::Active),
            "disabled" => Ok(Status::Disabled),
            "revoked" => Ok(Status::Revoked),
            _ => Err(StoreError::malformed(format!("unknown status {s:?}"))),
        }
    }
}

/// Keyed hash of a secret (HMAC-SHA-256 under the vault's lookup key, bound to the
/// workspace): finds duplicates without storing anything that can be reversed or
/// brute-forced without the master key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupHash(pub [u8; 32]);

impl fmt::Debug for LookupHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LookupHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

impl TryFrom<&[u8]> for LookupHash {
    type Error = StoreError;
    fn try_from(value: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(value)
            .map(LookupHash)
            .map_err(|_| StoreError::malformed("lookup hash is not 32 bytes"))
    }
}

/// One stored key: everything a backend persists. Plaintext never appears here,
/// only the [`SealedSecret`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// UUID v7, chosen at add time; also bound into the sealed secret.
    pub id: KeyId,
    /// Owning workspace; also bound into the sealed secret.
    pub workspace: WorkspaceId,
    /// Provider; also bound into the sealed secret.
    pub provider: Provider,
    /// Kind of key (project, admin, ...).
    pub kind: KeyKind,
    /// Owner-chosen name.
    pub label: String,
    /// Primary or backup.
    pub role: Role,
    /// Order among backups (lower first); 0 for a primary.
    pub order: u32,
    /// Lifecycle state.
    pub status: Status,
    /// The key's mask, e.g. `sk-proj-…Q8xA`.
    pub masked: String,
    /// The key's public fingerprint, e.g. `sha256:1a2b…`.
    pub fingerprint: String,
    /// Keyed hash for duplicate detection.
    pub lookup_hash: LookupHash,
    /// When added.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// When the secret was last leased for use.
    pub last_used_at: Option<Timestamp>,
    /// Code of the last verification verdict (`valid`, `invalid`, ...).
    pub last_verdict: Option<VerdictCode>,
    /// When that verdict was obtained.
    pub last_verdict_at: Option<Timestamp>,
    /// Model to use by default with this key.
    pub default_model: Option<String>,
    /// Free-form owner note (never the secret).
    pub note: Option<String>,
    /// What the key alone does not say about where it works (Azure OpenAI's
    /// resource and deployment, Bedrock's region), checked against `provider`:
    /// `None` when none were stored (every record written before parameters
    /// existed). Backends refuse to write parameters checked for another
    /// provider ([`KeyRecord::check_params`]) and check them again on every read
    /// (a stored value that fails is `malformed`). Covered by the MAC when not empty.
    pub params: Option<Params>,
    /// Optimistic-concurrency version: 1 when added, +1 on every update.
    pub version: u64,
    /// Id of the key-encryption key that wraps this record's data key.
    pub kek_id: String,
    /// The envelope-encrypted secret.
    pub sealed: SealedSecret,
    /// HMAC-SHA-256 over every other field except `last_used_at`, under a key
    /// derived from the vault's lookup key: set by [`crate::Keyring::insert`] and
    /// [`crate::Keyring::update`], checked by [`crate::Keyring::authenticate`] (on
    /// every open and check). `None` only in a vault not yet upgraded to record
    /// MACs; after the upgrade a missing or wrong MAC is `tampered`.
    pub mac: Option<Vec<u8>>,
}

impl KeyRecord {
    /// A new active primary record at version 1 for `key`: its provider, kind,
    /// mask and fingerprint come from the key. `id`, `lookup_hash` and
    /// `(kek_id, sealed)` must be those the key was sealed and hashed for
    /// ([`crate::Keyring::seal_for`], [`crate::Keyring::lookup_hash`]).
    pub fn new(
        id: KeyId,
        workspace: WorkspaceId,
        key: &ApiKey,
        label: impl Into<String>,
        lookup_hash: LookupHash,
        kek_id: impl Into<String>,
        sealed: SealedSecret,
    ) -> Self {
        let now = now();
        KeyRecord {
            id,
            workspace,
            provider: key.provider(),
            kind: key.kind(),
            label: label.into(),
            role: Role::Primary,
            order: 0,
            status: Status::Active,
            masked: key.masked(),
            fingerprint: key.fingerprint().to_string(),
            lookup_hash,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            last_verdict: None,
            last_verdict_at: None,
            default_model: None,
            note: None,
            params: None,
            version: 1,
            kek_id: kek_id.into(),
            sealed,
            mac: None,
        }
    }

    /// Whether `other` is this record in every field its MAC covers: all but
    /// `last_used_at`, which a use moves without a new version. A record equal
    /// in these to one that authenticated would authenticate too (same fields,
    /// same tag), so a cache of opened keys may trust it without a second HMAC.
    ///
    /// Written as an exhaustive destructuring: a new field fails to compile here
    /// until it is compared (or deliberately left out, as `last_used_at` is).
    pub fn same_except_last_used(&self, other: &KeyRecord) -> bool {
        let KeyRecord {
            id,
            workspace,
            provider,
            kind,
            label,
            role,
            order,
            status,
            masked,
            fingerprint,
            lookup_hash,
            created_at,
            updated_at,
            last_used_at: _,
            last_verdict,
            last_verdict_at,
            default_model,
            note,
            params,
            version,
            kek_id,
            sealed,
            mac,
        } = self;
        *id == other.id
            && *version == other.version
            && *mac == other.mac
            && *sealed == other.sealed
            && *workspace == other.workspace
            && *provider == other.provider
            && *kind == other.kind
            && *label == other.label
            && *role == other.role
            && *order == other.order
            && *status == other.status
            && *masked == other.masked
            && *fingerprint == other.fingerprint
            && *lookup_hash == other.lookup_hash
            && *created_at == other.created_at
            && *updated_at == other.updated_at
            && *last_verdict == other.last_verdict
            && *last_verdict_at == other.last_verdict_at
            && *default_model == other.default_model
            && *note == other.note
            && *params == other.params
            && *kek_id == other.kek_id
    }

    /// The masked, serde-ready view of this record.
    pub fn view(&self) -> KeyView {
        KeyView {
            id: self.id,
            workspace: self.workspace.clone(),
            provider: self.provider,
            kind: self.kind,
            label: self.label.clone(),
            role: self.role,
            order: self.order,
            status: self.status,
            masked: self.masked.clone(),
            fingerprint: self.fingerprint.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_used_at: self.last_used_at,
            last_verdict: self.last_verdict,
            last_verdict_at: self.last_verdict_at,
            default_model: self.default_model.clone(),
            note: self.note.clone(),
            params: self
                .params
                .as_ref()
                .map(|p| UncheckedParams::from(p).0)
                .unwrap_or_default(),
            version: self.version,
        }
    }

    /// `invalid_input` when [`params`](KeyRecord::params) were checked for a
    /// provider other than the record's: what every backend refuses to write.
    pub fn check_params(&self) -> Result<(), StoreError> {
        match &self.params {
            Some(p) if p.provider() != self.provider => Err(StoreError::InvalidInput {
                detail: format!(
                    "the parameters of key {} are for {}, the key is a {} key",
                    self.id,
                    p.provider(),
                    self.provider
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// What a UI or the CLI may show about a stored key: the mask, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyView {
    /// Record id.
    pub id: KeyId,
    /// Owning workspace.
    pub workspace: WorkspaceId,
    /// Provider (`openai`, `anthropic`, `google`).
    pub provider: Provider,
    /// Kind (`project`, `admin`, ...).
    pub kind: KeyKind,
    /// Owner-chosen name.
    pub label: String,
    /// `primary` or `backup`.
    pub role: Role,
    /// Order among backups.
    pub order: u32,
    /// `active`, `disabled` or `revoked`.
    pub status: Status,
    /// The mask, e.g. `sk-proj-…Q8xA`.
    pub masked: String,
    /// Public fingerprint.
    pub fingerprint: String,
    /// When added.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// When last leased for use.
    pub last_used_at: Option<Timestamp>,
    /// Last verification verdict code (the [`VerdictCode`] string).
    pub last_verdict: Option<VerdictCode>,
    /// When that verdict was obtained.
    pub last_verdict_at: Option<Timestamp>,
    /// Default model.
    pub default_model: Option<String>,
    /// Owner note.
    pub note: Option<String>,
    /// The key's parameters as given (`{"resource":"contoso","deployment":"gpt-4o-mini"}`;
    /// defaults such as Azure's `api_version` are not listed), `{}` when it has none.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Optimistic-concurrency version.
    pub version: u64,
}

/// Now, truncated to whole microseconds: what every backend can store exactly.
pub fn now() -> Timestamp {
    let micros = Timestamp::now().as_microsecond();
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Parse a stored provider name.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn parse_provider(s: &str) -> Result<Provider, StoreError> {
    s.parse()
        .map_err(|_| StoreError::malformed(format!("unknown provider {s:?}")))
}

/// Parse a stored verdict code.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn parse_verdict(s: &str) -> Result<VerdictCode, StoreError> {
    s.parse()
        .map_err(|_| StoreError::malformed(format!("unknown verdict code {s:?}")))
}

/// Parse stored parameters (a JSON object of strings) and check them against
/// the record's `provider`: `malformed` when they do not parse or fail the check
/// (the message names the parameter, never a value).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn parse_params(json: &str, provider: Provider) -> Result<Params, StoreError> {
    let unchecked: UncheckedParams = serde_json::from_str(json).map_err(|_| {
        StoreError::malformed("stored key parameters are not a JSON object of strings")
    })?;
    unchecked
        .check(provider)
        .map_err(|e| StoreError::malformed(format!("stored key parameters ({}): {e}", e.code())))
}

/// Stored parameters as text: a JSON object of strings.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn params_json(params: &Params) -> String {
    serde_json::to_string(params).unwrap_or_else(|_| "{}".to_owned())
}

/// Parse a stored key-kind name.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn parse_kind(s: &str) -> Result<KeyKind, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::malformed(format!("unknown key kind {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_are_checked() {
        assert!(WorkspaceId::new("acme").is_ok());
        assert_eq!(WorkspaceId::new("").unwrap_err().code(), "invalid_input");
        assert_eq!(
            WorkspaceId::new("a\nb").unwrap_err().code(),
            "invalid_input"
        );
        assert!(serde_json::from_str::<WorkspaceId>("\"\"").is_err());
    }

    #[test]
    fn names_round_trip() {
        for r in [Role::Primary, Role::Backup] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        for s in [Status::Active, Status::Disabled, Status::Revoked] {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        for k in [
            KeyKind::Project,
            KeyKind::Admin,
            KeyKind::ServiceAccount,
            KeyKind::Auth,
        ] {
            assert_eq!(parse_kind(k.as_str()).unwrap(), k);
        }
        let id = KeyId::new();
        assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        assert_eq!("nope".parse::<KeyId>().unwrap_err().code(), "invalid_input");
    }

    proptest::proptest! {
        #[test]
        fn workspace_ids_accept_exactly_printable_names(name in "\\PC{0,220}") {
            let ok = !name.is_empty() && name.chars().count() <= 200;
            match WorkspaceId::new(name.clone()) {
                Ok(ws) => {
                    proptest::prop_assert!(ok);
                    let json = serde_json::to_string(&ws).unwrap();
                    proptest::prop_assert_eq!(serde_json::from_str::<WorkspaceId>(&json).unwrap(), ws);
                }
                Err(e) => {
                    proptest::prop_assert!(!ok);
                    proptest::prop_assert_eq!(e.code(), "invalid_input");
                }
            }
        }

        #[test]
        fn control_characters_are_refused(prefix in "[a-z]{0,10}", c in proptest::char::range('\u{0}', '\u{1f}')) {
            let name = format!("{prefix}{c}");
            proptest::prop_assert!(WorkspaceId::new(name).is_err());
        }

        #[test]
        fn key_ids_round_trip(bytes in proptest::array::uniform16(proptest::prelude::any::<u8>())) {
            let id = KeyId::from_uuid(Uuid::from_bytes(bytes));
            proptest::prop_assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        }
    }

    #[test]
    fn now_is_whole_microseconds() {
        assert_eq!(now().subsec_nanosecond() % 1000, 0);
    }
}

//! What the SQL backends share: the row shape of a record and of an audit event,
//! conversions to and from the model, and the driver-error mapping.

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::error::StoreError;
use crate::record::{KeyId, KeyRecord, LookupHash, WorkspaceId, parse_kind, parse_provider};
use crate::sealed::SealedSecret;

/// `SELECT <every byok_keys column> FROM byok_keys <tail>` as a `&'static str`.
macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT id, workspace, provider, kind, label, role, ord, status, masked, fingerprint, ",
            "lookup_hash, created_at, updated_at, last_used_at, last_verdict, last_verdict_at, ",
            "default_model, note, version, kek_id, sealed FROM byok_keys ",
            $tail
        )
    };
}
pub(crate) use select_keys;

/// A `byok_keys` row in portable column types.
pub(crate) struct RawRecord {
    pub(crate) id: String,
    pub(crate) workspace: String,
    pub(crate) provider: String,
    pub(crate) kind: String,
    pub(crate) label: String,
    pub(crate) role: String,
    pub(crate) ord: i64,
    pub(crate) status: String,
    pub(crate) masked: String,
    pub(crate) fingerprint: String,
    pub(crate) lookup_hash: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) last_verdict: Option<String>,
    pub(crate) last_verdict_at: Option<i64>,
    pub(crate) default_model: Option<String>,
    pub(crate) note: Option<String>,
    pub(crate) version: i64,
    pub(crate) kek_id: String,
    pub(crate) sealed: Vec<u8>,
}

/// Reads a [`RawRecord`] from any sqlx row whose driver decodes the portable types.
macro_rules! raw_record_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<$crate::sql::RawRecord, sqlx::Error> {
            Ok($crate::sql::RawRecord {
                id: row.try_get("id")?,
                workspace: row.try_get("workspace")?,
                provider: row.try_get("provider")?,
                kind: row.try_get("kind")?,
                label: row.try_get("label")?,
                role: row.try_get("role")?,
                ord: row.try_get("ord")?,
                status: row.try_get("status")?,
                masked: row.try_get("masked")?,
                fingerprint: row.try_get("fingerprint")?,
                lookup_hash: row.try_get("lookup_hash")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                last_used_at: row.try_get("last_used_at")?,
                last_verdict: row.try_get("last_verdict")?,
                last_verdict_at: row.try_get("last_verdict_at")?,
                default_model: row.try_get("default_model")?,
                note: row.try_get("note")?,
                version: row.try_get("version")?,
                kek_id: row.try_get("kek_id")?,
                sealed: row.try_get("sealed")?,
            })
        })()
        .map_err($crate::sql::backend)
        .and_then($crate::sql::RawRecord::into_record)
    }};
}
pub(crate) use raw_record_from_row;

/// Binds the columns of a [`RawRecord`] in `KEY_COLUMNS` order.
macro_rules! bind_raw_record {
    ($query:expr, $raw:expr) => {{
        let r = $raw;
        $query
            .bind(r.id.clone())
            .bind(r.workspace.clone())
            .bind(r.provider.clone())
            .bind(r.kind.clone())
            .bind(r.label.clone())
            .bind(r.role.clone())
            .bind(r.ord)
            .bind(r.status.clone())
            .bind(r.masked.clone())
            .bind(r.fingerprint.clone())
            .bind(r.lookup_hash.clone())
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.last_used_at)
            .bind(r.last_verdict.clone())
            .bind(r.last_verdict_at)
            .bind(r.default_model.clone())
            .bind(r.note.clone())
            .bind(r.version)
            .bind(r.kek_id.clone())
            .bind(r.sealed.clone())
    }};
}
pub(crate) use bind_raw_record;

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us)
        .map_err(|_| StoreError::malformed(format!("timestamp {us} out of range")))
}

pub(crate) fn version_to_sql(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidInput {
        detail: "version out of range".into(),
    })
}

impl RawRecord {
    pub(crate) fn from_record(r: &KeyRecord) -> Result<Self, StoreError> {
        Ok(RawRecord {
            id: r.id.to_string(),
            workspace: r.workspace.as_str().to_owned(),
            provider: r.provider.as_str().to_owned(),
            kind: r.kind.as_str().to_owned(),
            label: r.label.clone(),
            role: r.role.as_str().to_owned(),
            ord: i64::from(r.order),
            status: r.status.as_str().to_owned(),
            masked: r.masked.clone(),
            fingerprint: r.fingerprint.clone(),
            lookup_hash: r.lookup_hash.0.to_vec(),
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
            last_used_at: r.last_used_at.map(micros),
            last_verdict: r.last_verdict.clone(),
            last_verdict_at: r.last_verdict_at.map(micros),
            default_model: r.default_model.clone(),
            note: r.note.clone(),
            version: version_to_sql(r.version)?,
            kek_id: r.kek_id.clone(),
            sealed: r.sealed.as_bytes().to_vec(),
        })
    }

    pub(crate) fn into_record(self) -> Result<KeyRecord, StoreError> {
        Ok(KeyRecord {
            id: self
                .id
                .parse::<KeyId>()
                .map_err(|_| StoreError::malformed("record id"))?,
            workspace: WorkspaceId::new(self.workspace)
                .map_err(|_| StoreError::malformed("workspace"))?,
            provider: parse_provider(&self.provider)?,
            kind: parse_kind(&self.kind)?,
            label: self.label,
            role: self
                .role
                .parse()
                .map_err(|_| StoreError::malformed("role"))?,
            order: u32::try_from(self.ord).map_err(|_| StoreError::malformed("order"))?,
            status: self.status.parse()?,
            masked: self.masked,
            fingerprint: self.fingerprint,
            lookup_hash: LookupHash::try_from(self.lookup_hash.as_slice())?,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            last_used_at: self.last_used_at.map(from_micros).transpose()?,
            last_verdict: self.last_verdict,
            last_verdict_at: self.last_verdict_at.map(from_micros).transpose()?,
            default_model: self.default_model,
            note: self.note,
            version: u64::try_from(self.version).map_err(|_| StoreError::malformed("version"))?,
            kek_id: self.kek_id,
            sealed: SealedSecret::from_bytes(self.sealed),
        })
    }
}

/// Portable columns of one audit row.
pub(crate) fn audit_from_parts(
    at: i64,
    workspace: String,
    key_id: String,
    action: String,
    actor: String,
) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        at: from_micros(at)?,
        workspace: WorkspaceId::new(workspace)
            .map_err(|_| StoreError::malformed("audit workspace"))?,
        key_id: key_id
            .parse()
            .map_err(|_| StoreError::malformed("audit key id"))?,
        action: action.parse()?,
        actor,
    })
}

/// A driver error as a store error (the message never includes a connection string).
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    let detail = match e {
        // Configuration errors can repeat the URL or one of its query values, which
        // may hold a password: a fixed message instead.
        sqlx::Error::Configuration(_) => {
            "the connection settings are invalid (check the URL's form and options)".to_owned()
        }
        other => byok_keys::redact(&other.to_string()).into_owned(),
    };
    StoreError::Backend { detail }
}

/// Whether a driver error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

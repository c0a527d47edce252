//! What the SQL backends share: every statement and the `KeyStore` implementation
//! ([`impl_key_store!`]), the row shape of a record and of an audit event,
//! conversions to and from the model, and the driver-error mapping.

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::error::StoreError;
use crate::record::{
    KeyId, KeyRecord, LookupHash, WorkspaceId, params_json, parse_kind, parse_params,
    parse_provider, parse_verdict,
};
use crate::sealed::SealedSecret;

/// `SELECT <every byok_keys column> FROM byok_keys <tail>` as a `&'static str`.
macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT id, workspace, provider, kind, label, role, ord, status, masked, fingerprint, ",
            "lookup_hash, created_at, updated_at, last_used_at, last_verdict, last_verdict_at, ",
            "default_model, note, version, kek_id, sealed, mac, params FROM byok_keys ",
            $tail
        )
    };
}
pub(crate) use select_keys;

/// `INSERT INTO byok_keys` of every column, in [`bind_raw_record!`] order.
macro_rules! insert_keys {
    () => {
        concat!(
            "INSERT INTO byok_keys (id, workspace, provider, kind, label, role, ord, status, masked, fingerprint, ",
            "lookup_hash, created_at, updated_at, last_used_at, last_verdict, last_verdict_at, default_model, note, ",
            "version, kek_id, sealed, mac, params) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, ",
            "$14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        )
    };
}
pub(crate) use insert_keys;

/// The compare-and-set `UPDATE` of a record, with [`bind_update!`]'s arguments:
/// every mutable column, `version` bumped, if the stored version is the caller's.
macro_rules! update_keys {
    () => {
        concat!(
            "UPDATE byok_keys SET provider = $1, kind = $2, label = $3, role = $4, ord = $5, status = $6, ",
            "masked = $7, fingerprint = $8, lookup_hash = $9, updated_at = $10, last_used_at = $11, ",
            "last_verdict = $12, last_verdict_at = $13, default_model = $14, note = $15, ",
            "version = version + 1, kek_id = $16, sealed = $17, mac = $18, params = $19 ",
            "WHERE workspace = $20 AND id = $21 AND version = $22"
        )
    };
}
pub(crate) use update_keys;

/// Binds a [`RawRecord`] to [`update_keys!`].
macro_rules! bind_update {
    ($query:expr, $raw:expr) => {{
        let r = $raw;
        $query
            .bind(&r.provider)
            .bind(&r.kind)
            .bind(&r.label)
            .bind(&r.role)
            .bind(r.ord)
            .bind(&r.status)
            .bind(&r.masked)
            .bind(&r.fingerprint)
            .bind(&r.lookup_hash)
            .bind(r.updated_at)
            .bind(r.last_used_at)
            .bind(&r.last_verdict)
            .bind(r.last_verdict_at)
            .bind(&r.default_model)
            .bind(&r.note)
            .bind(&r.kek_id)
            .bind(&r.sealed)
            .bind(&r.mac)
            .bind(&r.params)
            .bind(&r.workspace)
            .bind(&r.id)
            .bind(r.version)
    }};
}
pub(crate) use bind_update;

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
    pub(crate) mac: Option<Vec<u8>>,
    /// JSON object of strings; `NULL` when the record has no parameters.
    pub(crate) params: Option<String>,
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
                mac: row.try_get("mac")?,
                params: row.try_get("params")?,
            })
        })()
        .map_err($crate::sql::backend)
        .and_then($crate::sql::RawRecord::into_record)
    }};
}
pub(crate) use raw_record_from_row;

/// Binds the columns of a [`RawRecord`] in [`insert_keys!`] order.
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
            .bind(r.mac.clone())
            .bind(r.params.clone())
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
        r.check_params()?;
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
            last_verdict: r.last_verdict.map(|v| v.as_str().to_owned()),
            last_verdict_at: r.last_verdict_at.map(micros),
            default_model: r.default_model.clone(),
            note: r.note.clone(),
            version: version_to_sql(r.version)?,
            kek_id: r.kek_id.clone(),
            sealed: r.sealed.as_bytes().to_vec(),
            mac: r.mac.clone(),
            params: r.params.as_ref().map(params_json),
        })
    }

    pub(crate) fn into_record(self) -> Result<KeyRecord, StoreError> {
        let provider = parse_provider(&self.provider)?;
        Ok(KeyRecord {
            id: self
                .id
                .parse::<KeyId>()
                .map_err(|_| StoreError::malformed("record id"))?,
            workspace: WorkspaceId::new(self.workspace)
                .map_err(|_| StoreError::malformed("workspace"))?,
            provider,
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
            last_verdict: self
                .last_verdict
                .as_deref()
                .map(parse_verdict)
                .transpose()?,
            last_verdict_at: self.last_verdict_at.map(from_micros).transpose()?,
            default_model: self.default_model,
            note: self.note,
            params: self
                .params
                .as_deref()
                .map(|json| parse_params(json, provider))
                .transpose()?,
            version: u64::try_from(self.version).map_err(|_| StoreError::malformed("version"))?,
            kek_id: self.kek_id,
            sealed: SealedSecret::from_bytes(self.sealed),
            mac: self.mac,
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

/// Append an audit event: `at` (µs), workspace, key id, action, actor. Every
/// driver binds the `$n` placeholders in order ([`insert_audit`] with sqlx,
/// the SQLite store's use writer with rusqlite).
pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO byok_audit (at, workspace, key_id, action, actor) VALUES ($1, $2, $3, $4, $5)";

/// Mark a key used: `last_used_at` (µs), workspace, key id.
pub(crate) const MARK_USED: &str =
    "UPDATE byok_keys SET last_used_at = $1 WHERE workspace = $2 AND id = $3";

/// The `INSERT` of one audit event, for any executor (a transaction or a pooled
/// connection).
macro_rules! insert_audit {
    ($event:expr) => {{
        let e: &$crate::audit::AuditEvent = $event;
        sqlx::query($crate::sql::INSERT_AUDIT)
            .bind($crate::sql::micros(e.at))
            .bind(e.workspace.as_str())
            .bind(e.key_id.to_string())
            .bind(e.action.as_str())
            .bind(&e.actor)
    }};
}
pub(crate) use insert_audit;

/// The [`KeyStore`](crate::KeyStore) implementation of both SQL backends, each
/// statement written once (`$n` placeholders, which sqlx's SQLite driver binds
/// too). What differs between the backends is supplied by `$store`'s inherent
/// methods, all returning `Result<_, StoreError>`:
///
/// - `begin(&self)`: a write transaction (SQLite `BEGIN IMMEDIATE`, which takes
///   the write lock first; PostgreSQL a plain `BEGIN`);
/// - `fetch_all`, `fetch_optional`, `execute(&self, query)`: one statement on a
///   pooled connection, never a partial answer in place of an error;
/// - `wrote_nothing(conn)`: after a write in a transaction changed no row, prove
///   the statement ran (SQLite's driver thread may have died);
/// - `lock_keys(conn)`: in `retire_keks`, hold every writer of `byok_keys` off
///   until the transaction ends;
/// - `commit_uses(marks)`: [`MARK_USED`] and [`INSERT_AUDIT`] for each of a
///   non-empty batch of uses, in one transaction committed without waiting
///   for the disk;
///
/// and its module a `Statement<'q>` type: a query of its driver with bound arguments.
macro_rules! impl_key_store {
    ($store:ty) => {
        impl $store {
            /// The id a unique violation of `record` collided with.
            async fn existing_for(&self, record: &KeyRecord) -> Result<String, StoreError> {
                if let Some(r) = self
                    .find_by_lookup(&record.workspace, &record.lookup_hash)
                    .await?
                {
                    if r.id != record.id {
                        return Ok(r.id.to_string());
                    }
                }
                Ok(record.id.to_string())
            }

            /// Run `change` (a statement on record `id`) and append `event`, in one
            /// transaction; `NotFound` when it changed no row.
            async fn change_row(
                &self,
                change: Statement<'_>,
                id: KeyId,
                event: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let done = change
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::backend)?;
                if done.rows_affected() == 0 {
                    Self::wrote_nothing(&mut tx).await?;
                    return Err(StoreError::not_found(id));
                }
                $crate::sql::insert_audit!(event)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::backend)?;
                tx.commit().await.map_err($crate::sql::backend)
            }

            /// The workspace's audit events matching `query`, with their sequence numbers.
            async fn audit_rows(
                &self,
                workspace: &WorkspaceId,
                query: &AuditQuery,
            ) -> Result<Vec<(u64, AuditEvent)>, StoreError> {
                use sqlx::Row as _;
                let after = query
                    .after
                    .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
                let rows = self
                    .fetch_all(
                        sqlx::query(
                            "SELECT seq, at, workspace, key_id, action, actor FROM byok_audit \
                             WHERE workspace = $1 AND seq > $2 AND at >= $3 ORDER BY seq LIMIT $4",
                        )
                        .bind(workspace.as_str())
                        .bind(after)
                        .bind(query.since.map_or(i64::MIN, $crate::sql::micros))
                        .bind(query.sql_limit()),
                    )
                    .await?;
                rows.iter()
                    .map(|row| {
                        let seq: i64 = row.try_get("seq").map_err($crate::sql::backend)?;
                        let event = $crate::sql::audit_from_parts(
                            row.try_get("at").map_err($crate::sql::backend)?,
                            row.try_get("workspace").map_err($crate::sql::backend)?,
                            row.try_get("key_id").map_err($crate::sql::backend)?,
                            row.try_get("action").map_err($crate::sql::backend)?,
                            row.try_get("actor").map_err($crate::sql::backend)?,
                        )?;
                        let seq = u64::try_from(seq)
                            .map_err(|_| StoreError::malformed("negative audit sequence number"))?;
                        Ok((seq, event))
                    })
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl KeyStore for $store {
            fn access(&self) -> Option<&dyn $crate::access::AccessStore> {
                Some(self)
            }

            async fn insert(&self, record: &KeyRecord, event: &AuditEvent) -> Result<(), StoreError> {
                let _writing = self.lists.writing();
                let raw = $crate::sql::RawRecord::from_record(record)?;
                let sql = $crate::sql::insert_keys!();
                let mut tx = self.begin().await?;
                match $crate::sql::bind_raw_record!(sqlx::query(sql), &raw)
                    .execute(&mut *tx)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if $crate::sql::is_unique_violation(&e) => {
                        drop(tx);
                        return Err(StoreError::Duplicate {
                            existing: self.existing_for(record).await?,
                        });
                    }
                    Err(e) => return Err($crate::sql::backend(e)),
                }
                $crate::sql::insert_audit!(event)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::backend)?;
                tx.commit().await.map_err($crate::sql::backend)
            }

            async fn get(&self, workspace: &WorkspaceId, id: KeyId) -> Result<KeyRecord, StoreError> {
                let row = self
                    .fetch_optional(
                        sqlx::query($crate::sql::select_keys!("WHERE workspace = $1 AND id = $2"))
                            .bind(workspace.as_str())
                            .bind(id.to_string()),
                    )
                    .await?;
                match row {
                    Some(row) => $crate::sql::raw_record_from_row!(&row),
                    None => Err(StoreError::not_found(id)),
                }
            }

            async fn find_by_lookup(
                &self,
                workspace: &WorkspaceId,
                hash: &LookupHash,
            ) -> Result<Option<KeyRecord>, StoreError> {
                let row = self
                    .fetch_optional(
                        sqlx::query($crate::sql::select_keys!(
                            "WHERE workspace = $1 AND lookup_hash = $2"
                        ))
                        .bind(workspace.as_str())
                        .bind(hash.0.to_vec()),
                    )
                    .await?;
                row.map(|row| $crate::sql::raw_record_from_row!(&row)).transpose()
            }

            async fn list(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>, StoreError> {
                let rows = self
                    .fetch_all(
                        sqlx::query($crate::sql::select_keys!(
                            "WHERE workspace = $1 ORDER BY CASE role WHEN 'primary' THEN 0 ELSE 1 END, ord, id"
                        ))
                        .bind(workspace.as_str()),
                    )
                    .await?;
                rows.iter().map(|row| $crate::sql::raw_record_from_row!(row)).collect()
            }

            async fn list_recent(
                &self,
                workspace: &WorkspaceId,
                max_age: std::time::Duration,
            ) -> Result<std::sync::Arc<Vec<KeyRecord>>, StoreError> {
                if max_age.is_zero() {
                    return Ok(std::sync::Arc::new(self.list(workspace).await?));
                }
                if let Some(list) = self.lists.get(workspace, max_age) {
                    return Ok(list);
                }
                let generation = self.lists.generation();
                let list = std::sync::Arc::new(self.list(workspace).await?);
                self.lists.keep(workspace, list.clone(), generation);
                Ok(list)
            }

            async fn update(
                &self,
                record: &KeyRecord,
                event: &AuditEvent,
            ) -> Result<KeyRecord, StoreError> {
                let _writing = self.lists.writing();
                let raw = $crate::sql::RawRecord::from_record(record)?;
                let mut tx = self.begin().await?;
                let result = $crate::sql::bind_update!(sqlx::query($crate::sql::update_keys!()), &raw)
                    .execute(&mut *tx)
                    .await;
                match result {
                    Ok(done) if done.rows_affected() == 1 => {
                        $crate::sql::insert_audit!(event)
                            .execute(&mut *tx)
                            .await
                            .map_err($crate::sql::backend)?;
                        tx.commit().await.map_err($crate::sql::backend)?;
                        let mut stored = record.clone();
                        stored.version += 1;
                        Ok(stored)
                    }
                    Ok(_) => {
                        Self::wrote_nothing(&mut tx).await?;
                        drop(tx);
                        self.get(&record.workspace, record.id).await?;
                        Err(StoreError::Conflict {
                            id: record.id.to_string(),
                            expected: record.version,
                        })
                    }
                    Err(e) if $crate::sql::is_unique_violation(&e) => {
                        drop(tx);
                        Err(StoreError::Duplicate {
                            existing: self.existing_for(record).await?,
                        })
                    }
                    Err(e) => Err($crate::sql::backend(e)),
                }
            }

            async fn delete(
                &self,
                workspace: &WorkspaceId,
                id: KeyId,
                event: &AuditEvent,
            ) -> Result<(), StoreError> {
                let _writing = self.lists.writing();
                self.change_row(
                    sqlx::query("DELETE FROM byok_keys WHERE workspace = $1 AND id = $2")
                        .bind(workspace.as_str())
                        .bind(id.to_string()),
                    id,
                    event,
                )
                .await
            }

            async fn mark_used(
                &self,
                workspace: &WorkspaceId,
                id: KeyId,
                event: &AuditEvent,
            ) -> Result<(), StoreError> {
                self.change_row(
                    sqlx::query($crate::sql::MARK_USED)
                    .bind($crate::sql::micros(event.at))
                    .bind(workspace.as_str())
                    .bind(id.to_string()),
                    id,
                    event,
                )
                .await
            }

            async fn mark_used_many(
                &self,
                marks: &[$crate::store::UseMark],
            ) -> Result<(), StoreError> {
                if marks.is_empty() {
                    return Ok(());
                }
                self.commit_uses(marks).await
            }

            async fn scan(
                &self,
                after: Option<KeyId>,
                limit: usize,
            ) -> Result<Vec<KeyRecord>, StoreError> {
                let rows = self
                    .fetch_all(
                        sqlx::query($crate::sql::select_keys!("WHERE id > $1 ORDER BY id LIMIT $2"))
                            .bind(after.map(|a| a.to_string()).unwrap_or_default())
                            .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
                    )
                    .await?;
                rows.iter().map(|row| $crate::sql::raw_record_from_row!(row)).collect()
            }

            async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
                self.execute($crate::sql::insert_audit!(event)).await.map(drop)
            }

            async fn audit(&self, workspace: &WorkspaceId) -> Result<Vec<AuditEvent>, StoreError> {
                let all = AuditQuery::first(usize::MAX - 1);
                Ok(self
                    .audit_rows(workspace, &all)
                    .await?
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect())
            }

            async fn audit_page(
                &self,
                workspace: &WorkspaceId,
                query: &AuditQuery,
            ) -> Result<AuditPage, StoreError> {
                let events = self.audit_rows(workspace, &query.probe()).await?;
                Ok(AuditPage::from_probe(events, query.limit))
            }

            async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
                use sqlx::Row as _;
                let row = self
                    .fetch_optional(
                        sqlx::query("SELECT value FROM byok_meta WHERE name = $1").bind(name),
                    )
                    .await?;
                row.map(|r| r.try_get("value").map_err($crate::sql::backend))
                    .transpose()
            }

            async fn swap_meta(
                &self,
                name: &str,
                expected: Option<&[u8]>,
                new: &[u8],
            ) -> Result<bool, StoreError> {
                let changed = match expected {
                    None => {
                        self.execute(
                            sqlx::query(
                                "INSERT INTO byok_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                            )
                            .bind(name)
                            .bind(new),
                        )
                        .await?
                    }
                    Some(old) => {
                        self.execute(
                            sqlx::query(
                                "UPDATE byok_meta SET value = $1 WHERE name = $2 AND value = $3",
                            )
                            .bind(new)
                            .bind(name)
                            .bind(old),
                        )
                        .await?
                    }
                };
                Ok(changed == 1)
            }

            async fn retire_keks(
                &self,
                name: &str,
                expected: &[u8],
                new: &[u8],
                retired: &[String],
            ) -> Result<RetireOutcome, StoreError> {
                let mut tx = self.begin().await?;
                Self::lock_keys(&mut tx).await?;
                let mut records = 0i64;
                for kek in retired {
                    records += sqlx::query_scalar::<_, i64>(
                        "SELECT CAST(COUNT(*) AS BIGINT) FROM byok_keys WHERE kek_id = $1",
                    )
                    .bind(kek)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::sql::backend)?;
                }
                if records > 0 {
                    return Ok(RetireOutcome::InUse {
                        records: records.unsigned_abs(),
                    });
                }
                let done =
                    sqlx::query("UPDATE byok_meta SET value = $1 WHERE name = $2 AND value = $3")
                        .bind(new)
                        .bind(name)
                        .bind(expected)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::sql::backend)?;
                if done.rows_affected() != 1 {
                    Self::wrote_nothing(&mut tx).await?;
                    return Ok(RetireOutcome::MetaChanged);
                }
                tx.commit().await.map_err($crate::sql::backend)?;
                Ok(RetireOutcome::Retired)
            }
        }
    };
}
pub(crate) use impl_key_store;

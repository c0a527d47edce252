//! The one public error of this crate, with stable codes.

/// Everything that can go wrong storing, sealing or opening a key.
///
/// Messages say what happened and what to do; none ever contains a secret,
/// a master key, a passphrase or a connection string's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No record with this id in this workspace (another workspace's record is also "not found").
    #[error(
        "no key with id {id} in this workspace; list the workspace's keys to find the right id"
    )]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The same key (or the same record id) is already stored in this workspace.
    #[error(
        "this key is already stored in this workspace as {existing}; rotate or delete that record instead"
    )]
    Duplicate {
        /// Id of the record that already holds it.
        existing: String,
    },
    /// An optimistic-concurrency check failed: the record changed since it was read.
    #[error(
        "key {id} was changed by someone else (expected version {expected}); read it again and retry"
    )]
    Conflict {
        /// The record id.
        id: String,
        /// The version the caller expected.
        expected: u64,
    },
    /// A sealed secret failed authentication: tampered, truncated, or moved from another row.
    #[error(
        "the sealed secret of key {id} failed its integrity check (tampered, damaged, or copied from another record); restore it from a backup or delete and re-add the key"
    )]
    Corrupt {
        /// The record id.
        id: String,
    },
    /// A record's clear fields (provider, kind, mask, fingerprint, lookup hash) do
    /// not match the secret it seals, or its fields do not match their MAC
    /// (`field` is `mac`: status, role, order, … changed, or the MAC removed):
    /// the row was altered outside byok.
    #[error(
        "the record of key {id} does not match its sealed secret or its MAC ({field} differs): its row was altered outside byok; restore it from a backup, or delete and re-add the key"
    )]
    Tampered {
        /// The record id.
        id: String,
        /// The first field found to differ.
        field: String,
    },
    /// The master key given does not open this vault.
    #[error(
        "the master key does not open this vault; use the master key the vault was created with"
    )]
    WrongMasterKey,
    /// The vault's metadata (check values, KDF parameters) is damaged: the master
    /// key given is one the vault knows, but its entry does not open.
    #[error(
        "the vault metadata is damaged ({detail}); restore the byok_meta table from a backup (the keys' records are not affected)"
    )]
    CorruptMetadata {
        /// What is damaged (never key material).
        detail: String,
    },
    /// The vault holds records but no metadata: opening it would make the
    /// master key given the vault's key, whatever key sealed the records.
    #[error(
        "this vault holds keys but its metadata (the byok_meta row `vault`) is missing, so no master key can be checked against it; restore byok_meta from a backup"
    )]
    MissingMetadata,
    /// No master key was supplied.
    #[error(
        "no master key given; set BYOK_MASTER_KEY to the base64 of 32 random bytes (or use a key file or passphrase)"
    )]
    MissingMasterKey,
    /// A master key was supplied but is malformed (not base64, not 32 bytes, empty passphrase).
    #[error(
        "the master key is malformed: {reason}; it must be the base64 of exactly 32 random bytes"
    )]
    InvalidMasterKey {
        /// What is wrong, never the key itself.
        reason: String,
    },
    /// A record is sealed under a key-encryption key this vault instance does not hold.
    #[error(
        "key {id} is sealed under master key {kek_id}, which was not supplied; pass it as the previous master key (a rewrap may be in progress)"
    )]
    UnknownKek {
        /// The record id.
        id: String,
        /// The id of the key-encryption key the record needs.
        kek_id: String,
    },
    /// Stored data does not have the expected shape (unknown enum value, bad vault metadata).
    #[error(
        "stored data is malformed: {detail}; the vault may be from a newer version of byok or damaged"
    )]
    Malformed {
        /// What could not be read.
        detail: String,
    },
    /// The input given to the store is not acceptable.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed; retry, and check the OS entropy source")]
    Random,
    /// The key-encryption key (for example a KMS) failed for a reason other than authentication.
    #[error("the key-encryption key failed: {detail}; check the KMS or key provider and retry")]
    Kek {
        /// What the KEK reported.
        detail: String,
    },
    /// A file-system error (vault file, key file).
    #[error("I/O error on {path}: {detail}")]
    Io {
        /// The path involved.
        path: String,
        /// The OS error.
        detail: String,
    },
    /// No vault where one was expected: a missing or empty file, or a database
    /// without byok's tables. Read-only commands never create a vault.
    #[error(
        "no vault at {location}; check the path or URL (BYOK_VAULT / --vault), or create one by adding a key or with `byok vault init`"
    )]
    VaultNotFound {
        /// The path (any key in it masked) or "the PostgreSQL database given"; never a URL.
        location: String,
    },
    /// The vault location is URL-shaped but not one byok opens (another database's
    /// scheme, a typo such as `postgres:/…`). The location itself is never repeated.
    #[error("the vault location is not usable: {reason}")]
    InvalidVaultUrl {
        /// What is wrong, naming at most the scheme.
        reason: String,
    },
    /// A plain-text field (label, note, default model, workspace, actor) holds
    /// what the scanner recognises as an API key. Those fields are stored in clear,
    /// so the value is refused (and never repeated).
    #[error(
        "the {field} holds what looks like an API key; fields are stored in clear, so pass the key only as the secret (stdin), never in the {field}"
    )]
    SecretInField {
        /// Which field (`label`, `note`, `default_model`, `workspace`, `actor`).
        field: String,
    },
    /// The database failed (connection, query, migration).
    #[error("database error: {detail}; check that the database is reachable and retry")]
    Backend {
        /// The driver's message (never a connection string).
        detail: String,
    },
}

impl StoreError {
    /// Stable snake_case code for machines (CLI `--json`, HTTP APIs, UIs).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Duplicate { .. } => "duplicate",
            StoreError::Conflict { .. } => "conflict",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::WrongMasterKey => "wrong_master_key",
            StoreError::CorruptMetadata { .. } => "corrupt_metadata",
            StoreError::MissingMetadata => "metadata_missing",
            StoreError::MissingMasterKey => "missing_master_key",
            StoreError::InvalidMasterKey { .. } => "invalid_master_key",
            StoreError::UnknownKek { .. } => "unknown_kek",
            StoreError::Malformed { .. } => "malformed",
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::Random => "random_failure",
            StoreError::Kek { .. } => "kek_error",
            StoreError::Io { .. } => "io_error",
            StoreError::Backend { .. } => "backend_error",
            // The same code as a missing record: what was asked for is not there.
            StoreError::VaultNotFound { .. } => "not_found",
            StoreError::InvalidVaultUrl { .. } => "invalid_vault_url",
            StoreError::SecretInField { .. } => "secret_in_field",
            StoreError::Tampered { .. } => "tampered",
        }
    }

    pub(crate) fn not_found(id: impl ToString) -> Self {
        StoreError::NotFound { id: id.to_string() }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        StoreError::Malformed {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let all = [
            StoreError::not_found("x"),
            StoreError::Duplicate {
                existing: "x".into(),
            },
            StoreError::Conflict {
                id: "x".into(),
                expected: 1,
            },
            StoreError::Corrupt { id: "x".into() },
            StoreError::WrongMasterKey,
            StoreError::CorruptMetadata { detail: "d".into() },
            StoreError::MissingMetadata,
            StoreError::MissingMasterKey,
            StoreError::InvalidMasterKey { reason: "r".into() },
            StoreError::UnknownKek {
                id: "x".into(),
                kek_id: "k".into(),
            },
            StoreError::malformed("m"),
            StoreError::InvalidInput { detail: "d".into() },
            StoreError::Random,
            StoreError::Kek { detail: "d".into() },
            StoreError::Io {
                path: "p".into(),
                detail: "d".into(),
            },
            StoreError::Backend { detail: "d".into() },
            StoreError::InvalidVaultUrl { reason: "r".into() },
            StoreError::SecretInField {
                field: "label".into(),
            },
            StoreError::Tampered {
                id: "x".into(),
                field: "kind".into(),
            },
        ];
        let mut codes: Vec<_> = all.iter().map(StoreError::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "every variant has its own code");
        assert_eq!(StoreError::WrongMasterKey.code(), "wrong_master_key");
        // A missing vault shares `not_found` with a missing record, by design.
        let missing = StoreError::VaultNotFound {
            location: "v.db".into(),
        };
        assert_eq!(missing.code(), "not_found");
    }
}

//! Where the master key comes from: base64 text, an environment variable, a key
//! file, or a passphrase stretched with the vault's stored Argon2id parameters.

use core::fmt;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::error::StoreError;
use crate::kek::{KdfParams, MasterKey};
use crate::meta::kdf_params;
use crate::store::KeyStore;

/// A way to obtain the [`MasterKey`] of a vault. `Debug` never shows secrets.
#[derive(Clone)]
#[non_exhaustive]
pub enum MasterKeySource {
    /// Base64 of 32 bytes, as given.
    Base64(SecretString),
    /// The named environment variable holds the base64 (usually `BYOK_MASTER_KEY`).
    Env(String),
    /// A key file: base64 text or 32 raw bytes.
    File(PathBuf),
    /// A passphrase; Argon2id with the salt and costs stored in the vault
    /// (created with `cost` on first use, [`KdfParams::recommended`] if `None`).
    Passphrase {
        /// The passphrase.
        passphrase: SecretString,
        /// `(m_cost KiB, t_cost, p_cost)` for a new vault.
        cost: Option<(u32, u32, u32)>,
    },
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Base64(_) => f.write_str("Base64(..)"),
            MasterKeySource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            MasterKeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            MasterKeySource::Passphrase { cost, .. } => f
                .debug_struct("Passphrase")
                .field("cost", cost)
                .finish_non_exhaustive(),
        }
    }
}

/// Environment variable naming a master key file, used when `BYOK_MASTER_KEY` is unset or empty.
pub const MASTER_KEY_FILE_ENV: &str = "BYOK_MASTER_KEY_FILE";

impl MasterKeySource {
    /// The master key from `BYOK_MASTER_KEY`.
    pub fn from_default_env() -> Self {
        MasterKeySource::Env(crate::kek::MASTER_KEY_ENV.to_owned())
    }

    /// The master key as the environment names it: `BYOK_MASTER_KEY`, or the file
    /// named by `BYOK_MASTER_KEY_FILE`.
    ///
    /// A variable that is set but empty counts as unset (a deployment template that
    /// leaves `BYOK_MASTER_KEY=` blank does not hide the file). Both set and non-empty
    /// is ambiguous and refused (`invalid_master_key`) rather than silently
    /// preferring one. With neither, unlocking reports `missing_master_key`.
    pub fn from_env() -> Result<Self, StoreError> {
        Self::from_vars(
            std::env::var_os(crate::kek::MASTER_KEY_ENV),
            std::env::var_os(MASTER_KEY_FILE_ENV),
        )
    }

    fn from_vars(
        key: Option<std::ffi::OsString>,
        file: Option<std::ffi::OsString>,
    ) -> Result<Self, StoreError> {
        let key = key.filter(|k| !k.is_empty());
        let file = file.filter(|f| !f.is_empty());
        match (key, file) {
            (Some(_), Some(_)) => Err(StoreError::InvalidMasterKey {
                reason: format!(
                    "both {} and {MASTER_KEY_FILE_ENV} are set; unset one of them",
                    crate::kek::MASTER_KEY_ENV
                ),
            }),
            (None, Some(file)) => Ok(MasterKeySource::File(PathBuf::from(file))),
            _ => Ok(Self::from_default_env()),
        }
    }

    /// Produce the key (for a passphrase, reading or creating the vault's KDF parameters).
    pub async fn resolve(&self, store: &dyn KeyStore) -> Result<MasterKey, StoreError> {
        match self {
            MasterKeySource::Base64(text) => MasterKey::from_base64(text),
            MasterKeySource::Env(name) => MasterKey::from_env_var(name),
            MasterKeySource::File(path) => MasterKey::from_file(path),
            MasterKeySource::Passphrase { passphrase, cost } => {
                let params = kdf_params(store, || match cost {
                    Some((m, t, p)) => KdfParams::with_cost(*m, *t, *p),
                    None => KdfParams::recommended(),
                })
                .await?;
                MasterKey::from_passphrase(passphrase, &params)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &Result<MasterKeySource, StoreError>) -> String {
        match s {
            Ok(MasterKeySource::Env(n)) => format!("env:{n}"),
            Ok(MasterKeySource::File(p)) => format!("file:{}", p.display()),
            Ok(other) => format!("{other:?}"),
            Err(e) => e.code().to_owned(),
        }
    }

    #[test]
    fn the_file_rule() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        let from = MasterKeySource::from_vars;
        assert_eq!(kind(&from(None, None)), "env:BYOK_MASTER_KEY");
        assert_eq!(kind(&from(os("k"), None)), "env:BYOK_MASTER_KEY");
        assert_eq!(kind(&from(None, os("/run/mk"))), "file:/run/mk");
        // Set but empty hides nothing.
        assert_eq!(kind(&from(os(""), os("/run/mk"))), "file:/run/mk");
        assert_eq!(kind(&from(os(""), os(""))), "env:BYOK_MASTER_KEY");
        let both = from(os("k"), os("/run/mk"));
        assert_eq!(kind(&both), "invalid_master_key");
        assert!(!both.unwrap_err().to_string().contains("/run/mk"));
    }
}

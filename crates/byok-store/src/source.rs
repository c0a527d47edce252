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

impl MasterKeySource {
    /// The master key from `BYOK_MASTER_KEY`.
    pub fn from_default_env() -> Self {
        MasterKeySource::Env(crate::kek::MASTER_KEY_ENV.to_owned())
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

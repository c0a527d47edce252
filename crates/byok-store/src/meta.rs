//! Vault-level metadata, kept in the store itself under the name `vault`:
//! format version, passphrase KDF parameters, and per KEK the vault's lookup key
//! wrapped under that KEK (which doubles as the check value for `wrong_master_key`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::kek::KdfParams;
use crate::store::KeyStore;

/// Name of the metadata entry.
pub(crate) const META_NAME: &str = "vault";
/// Current metadata format.
pub(crate) const META_FORMAT: u32 = 1;

/// The metadata document (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VaultMeta {
    /// Format version of the vault.
    pub(crate) format: u32,
    /// Argon2id parameters when the master key comes from a passphrase.
    #[serde(default)]
    pub(crate) kdf: Option<KdfParams>,
    /// KEK id -> base64 of the lookup key wrapped under that KEK.
    #[serde(default)]
    pub(crate) keks: BTreeMap<String, String>,
    /// The KEK new records are sealed under, once a rewrap has finished.
    #[serde(default)]
    pub(crate) current: Option<String>,
    /// Target KEK of an unfinished rewrap.
    #[serde(default)]
    pub(crate) rewrap_to: Option<String>,
}

impl Default for VaultMeta {
    fn default() -> Self {
        VaultMeta {
            format: META_FORMAT,
            kdf: None,
            keks: BTreeMap::new(),
            current: None,
            rewrap_to: None,
        }
    }
}

impl VaultMeta {
    /// Read the metadata and its raw bytes (for a later compare-and-set).
    pub(crate) async fn load(
        store: &dyn KeyStore,
    ) -> Result<(VaultMeta, Option<Vec<u8>>), StoreError> {
        let raw = store.get_meta(META_NAME).await?;
        let meta = match &raw {
            None => VaultMeta::default(),
            Some(bytes) => serde_json::from_slice::<VaultMeta>(bytes).map_err(|e| {
                StoreError::CorruptMetadata {
                    detail: format!("not a vault metadata document: {e}"),
                }
            })?,
        };
        if meta.format > META_FORMAT {
            return Err(StoreError::malformed(format!(
                "vault format {} is newer than this byok supports ({META_FORMAT})",
                meta.format
            )));
        }
        Ok((meta, raw))
    }

    /// The stored form.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::malformed(e.to_string()))
    }

    /// Compare-and-set against the bytes read by [`VaultMeta::load`].
    pub(crate) async fn store(
        &self,
        store: &dyn KeyStore,
        expected: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        store.swap_meta(META_NAME, expected, &self.encode()?).await
    }
}

/// The vault's passphrase KDF parameters, created (from `fresh`) on first use.
/// Concurrent first uses agree on one salt.
pub async fn kdf_params(
    store: &dyn KeyStore,
    fresh: impl Fn() -> Result<KdfParams, StoreError>,
) -> Result<KdfParams, StoreError> {
    loop {
        let (mut meta, raw) = VaultMeta::load(store).await?;
        if let Some(p) = meta.kdf {
            return Ok(p);
        }
        let params = fresh()?;
        meta.kdf = Some(params.clone());
        if meta.store(store, raw.as_deref()).await? {
            return Ok(params);
        }
    }
}

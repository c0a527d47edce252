//! Key-encryption keys: the `Kek` trait and the local `MasterKey`.

use core::fmt;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead;
use crate::error::StoreError;

/// Environment variable holding the base64 of the 32-byte master key.
pub const MASTER_KEY_ENV: &str = "BYOK_MASTER_KEY";

/// The largest master-key file [`MasterKey::from_file`] reads (base64 of 32 bytes
/// is 44 characters; the rest is room for whitespace and a trailing newline).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A 256-bit data key (or any 32-byte secret a KEK wraps). Zeroed on drop; its
/// `Debug` shows nothing.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// 32 fresh bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| StoreError::Random)?;
        Ok(DataKey(bytes))
    }

    /// Take ownership of 32 bytes (a KEK's unwrap result).
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        DataKey(bytes)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A key-encryption key: wraps and unwraps 32-byte data keys.
///
/// The local implementation is [`MasterKey`]; a cloud KMS or a Vault transit
/// engine plugs in by implementing this trait.
///
/// # Contract
/// - [`Kek::id`] is stable for the same key material, distinct for different
///   material, and safe to store and show (it reveals nothing about the key).
/// - `wrap` is authenticated encryption bound to `aad`: `unwrap` with the same
///   KEK and the same `aad` returns the same bytes; any other KEK, any other
///   `aad`, or any change to the wrapped bytes gives `Ok(None)`, never other bytes.
/// - `Err` is for infrastructure failures only (KMS unreachable, no entropy);
///   neither result nor error ever contains key material.
#[async_trait]
pub trait Kek: Send + Sync + fmt::Debug + 'static {
    /// Stable, non-secret identifier stored with every record this KEK wraps.
    fn id(&self) -> &str;

    /// Wrap a data key, binding it to `aad`.
    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Unwrap a data key; `Ok(None)` when it does not authenticate under this KEK and `aad`.
    async fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Option<DataKey>, StoreError>;
}

const _: fn(Box<dyn Kek>) = |_| {};

/// Argon2id parameters and salt for a passphrase-derived master key; stored in
/// the vault's metadata so the same passphrase gives the same key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Algorithm name, always `argon2id`.
    pub algorithm: String,
    /// Random salt, base64.
    pub salt: String,
    /// Memory cost in KiB.
    pub m_cost: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl fmt::Debug for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KdfParams")
            .field("algorithm", &self.algorithm)
            .field("m_cost", &self.m_cost)
            .field("t_cost", &self.t_cost)
            .field("p_cost", &self.p_cost)
            .finish_non_exhaustive()
    }
}

impl KdfParams {
    /// The default cost: 64 MiB, 3 passes, 1 lane (above OWASP's Argon2id minimum), fresh salt.
    pub fn recommended() -> Result<Self, StoreError> {
        KdfParams::with_cost(64 * 1024, 3, 1)
    }

    /// Chosen costs with a fresh 16-byte salt. Low costs are for tests only.
    pub fn with_cost(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, StoreError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| StoreError::Random)?;
        Ok(KdfParams {
            algorithm: "argon2id".into(),
            salt: STANDARD.encode(salt),
            m_cost,
            t_cost,
            p_cost,
        })
    }
}

/// The local 256-bit master key (KEK): from `BYOK_MASTER_KEY`, a key file, or a
/// passphrase through Argon2id. Zeroed on drop; `Debug` shows only its id.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl MasterKey {
    /// Use 32 bytes as the master key.
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        // The id is a keyed hash of a constant: it identifies the key without revealing it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes.as_ref())
            .expect("HMAC accepts 32-byte keys");
        mac.update(b"byok/v1/kek-id");
        let tag = mac.finalize().into_bytes();
        let id = format!("mk-{}", hex(&tag[..8]));
        MasterKey { key: bytes, id }
    }

    /// A fresh random master key (for `byok vault` setup and tests).
    pub fn generate() -> Result<Self, StoreError> {
        Ok(MasterKey::from_bytes(DataKey::generate()?.0))
    }

    /// Parse the base64 (standard alphabet, padding optional) of exactly 32 bytes.
    pub fn from_base64(encoded: &SecretString) -> Result<Self, StoreError> {
        let text = encoded.expose_secret().trim();
        if text.is_empty() {
            return Err(StoreError::MissingMasterKey);
        }
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| StoreError::InvalidMasterKey {
                    reason: "it is not valid base64".into(),
                })?,
        );
        let mut bytes = Zeroizing::new([0u8; 32]);
        if decoded.len() != 32 {
            return Err(StoreError::InvalidMasterKey {
                reason: format!("it decodes to {} bytes, not 32", decoded.len()),
            });
        }
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Read `BYOK_MASTER_KEY` (or another variable) from the environment.
    pub fn from_env_var(name: &str) -> Result<Self, StoreError> {
        match std::env::var(name) {
            Ok(v) if v.trim().is_empty() => Err(StoreError::InvalidMasterKey {
                reason: format!("{name} is set but empty"),
            }),
            Ok(v) => MasterKey::from_base64(&SecretString::from(v)),
            Err(std::env::VarError::NotPresent) => Err(StoreError::MissingMasterKey),
            Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::InvalidMasterKey {
                reason: format!("{name} is not valid UTF-8"),
            }),
        }
    }

    /// Read a key file: the base64 of 32 bytes (surrounding whitespace ignored), or exactly 32 raw bytes.
    ///
    /// At most [`MAX_KEY_FILE_BYTES`] are read: a larger file (a device, a log, a
    /// whole disk image named by mistake) is refused without being read further.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        use std::io::Read;
        let io = |e: std::io::Error| StoreError::Io {
            path: crate::open::display_path(path),
            detail: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut raw = Zeroizing::new(Vec::with_capacity(64));
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(StoreError::InvalidMasterKey {
                reason: format!(
                    "the key file is larger than {MAX_KEY_FILE_BYTES} bytes; it must hold only the key"
                ),
            });
        }
        // Base64 of 32 bytes is 43+ characters, so a 32-byte file can only be raw key bytes.
        if raw.len() == 32 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(&raw);
            return Ok(MasterKey::from_bytes(bytes));
        }
        let text = std::str::from_utf8(&raw).map_err(|_| StoreError::InvalidMasterKey {
            reason: "the key file is neither 32 raw bytes nor base64 text".into(),
        })?;
        MasterKey::from_base64(&SecretString::from(text.to_owned()))
    }

    /// Derive the key from a passphrase with Argon2id and the vault's stored parameters.
    pub fn from_passphrase(
        passphrase: &SecretString,
        params: &KdfParams,
    ) -> Result<Self, StoreError> {
        if passphrase.expose_secret().is_empty() {
            return Err(StoreError::InvalidMasterKey {
                reason: "the passphrase is empty".into(),
            });
        }
        if params.algorithm != "argon2id" {
            return Err(StoreError::malformed(format!(
                "unknown passphrase KDF {:?}",
                params.algorithm
            )));
        }
        let salt = STANDARD
            .decode(&params.salt)
            .map_err(|_| StoreError::malformed("KDF salt is not base64"))?;
        let argon_params =
            argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
                .map_err(|e| StoreError::malformed(format!("bad Argon2id parameters: {e}")))?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon_params,
        );
        let mut bytes = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.expose_secret().as_bytes(), &salt, bytes.as_mut())
            .map_err(|e| StoreError::malformed(format!("Argon2id failed: {e}")))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key as base64, for writing a freshly generated key to a secret manager.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.key.as_ref()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Kek for MasterKey {
    fn id(&self) -> &str {
        &self.id
    }

    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(seal_bytes(&self.key, key.as_bytes(), aad)?)
    }

    async fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Option<DataKey>, StoreError> {
        let Some(plain) = open_bytes(&self.key, wrapped, aad) else {
            return Ok(None);
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Ok(None);
        }
        bytes.copy_from_slice(&plain);
        Ok(Some(DataKey(bytes)))
    }
}

/// `nonce || ciphertext || tag` under `key`, with a fresh random nonce.
pub(crate) fn seal_bytes(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| StoreError::Random)?;
    seal_with_nonce(key, &nonce, plain, aad)
}

/// [`seal_bytes`] with a nonce the caller drew from the OS (batched with other randomness).
pub(crate) fn seal_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; aead::NONCE_LEN],
    plain: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, StoreError> {
    aead::seal(key, nonce, plain, aad).ok_or_else(|| StoreError::InvalidInput {
        detail: "secret too long to encrypt".into(),
    })
}

/// Inverse of [`seal_bytes`]; `None` when it does not authenticate.
pub(crate) fn open_bytes(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    aead::open(key, sealed, aad)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_b64(byte: u8) -> SecretString {
        SecretString::from(STANDARD.encode([byte; 32]))
    }

    #[tokio::test]
    async fn wrap_unwrap_round_trip_and_binding() {
        let mk = MasterKey::from_base64(&key_b64(7)).unwrap();
        let dk = DataKey::generate().unwrap();
        let wrapped = mk.wrap(&dk, b"aad-1").await.unwrap();
        let back = mk.unwrap(&wrapped, b"aad-1").await.unwrap().unwrap();
        assert_eq!(back.as_bytes(), dk.as_bytes());
        assert!(mk.unwrap(&wrapped, b"aad-2").await.unwrap().is_none());
        let other = MasterKey::from_base64(&key_b64(8)).unwrap();
        assert!(other.unwrap(&wrapped, b"aad-1").await.unwrap().is_none());
        assert_ne!(mk.id(), other.id());
        assert_eq!(mk.id(), MasterKey::from_base64(&key_b64(7)).unwrap().id());
    }

    #[test]
    fn malformed_master_keys_are_refused_without_echoing_them() {
        let short = SecretString::from(STANDARD.encode([1u8; 16]));
        let err = MasterKey::from_base64(&short).unwrap_err();
        assert_eq!(err.code(), "invalid_master_key");
        assert!(!err.to_string().contains(short.expose_secret()));
        let not_b64 = SecretString::from("not base64 at all!!".to_owned());
        let err = MasterKey::from_base64(&not_b64).unwrap_err();
        assert!(!err.to_string().contains("not base64 at all"));
        assert_eq!(
            MasterKey::from_base64(&SecretString::from(String::new())).unwrap_err(),
            StoreError::MissingMasterKey
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let mk = MasterKey::from_base64(&key_b64(9)).unwrap();
        let dbg = format!("{mk:?}");
        assert!(dbg.contains(mk.id()));
        assert!(!dbg.contains(mk.to_base64().expose_secret()));
        assert!(!dbg.contains("9, 9"));
        assert_eq!(format!("{:?}", DataKey::generate().unwrap()), "DataKey(..)");
    }

    #[test]
    fn passphrase_derivation_is_deterministic_per_salt() {
        let p = KdfParams::with_cost(64, 1, 1).unwrap();
        let pass = SecretString::from("correct horse battery staple".to_owned());
        let a = MasterKey::from_passphrase(&pass, &p).unwrap();
        let b = MasterKey::from_passphrase(&pass, &p).unwrap();
        assert_eq!(a.id(), b.id());
        let other_salt = KdfParams::with_cost(64, 1, 1).unwrap();
        assert_ne!(
            a.id(),
            MasterKey::from_passphrase(&pass, &other_salt).unwrap().id()
        );
        let wrong = SecretString::from("correct horse battery stapler".to_owned());
        assert_ne!(a.id(), MasterKey::from_passphrase(&wrong, &p).unwrap().id());
        assert!(!format!("{p:?}").contains(&p.salt));
    }

    #[test]
    fn key_files_accept_base64_and_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = dir.path().join("b64");
        std::fs::write(&b64, format!("{}\n", key_b64(3).expose_secret())).unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [3u8; 32]).unwrap();
        let a = MasterKey::from_file(&b64).unwrap();
        let b = MasterKey::from_file(&raw).unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(
            MasterKey::from_file(&dir.path().join("missing"))
                .unwrap_err()
                .code(),
            "io_error"
        );
    }
}

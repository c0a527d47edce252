//! Envelope encryption of one secret: a random data key seals the secret, a KEK
//! wraps the data key, and both layers are bound to the record they belong to.

use core::fmt;

use byok_keys::Provider;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::aead::NONCE_LEN;
use crate::error::StoreError;
use crate::kek::{DataKey, Kek, open_bytes, seal_with_nonce};
use crate::record::{KeyId, WorkspaceId};

/// Version of the sealed format; bound into the AAD of both layers.
pub const FORMAT_VERSION: u8 = 1;

/// What a sealed secret is bound to: opening it under any other binding fails.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// Owning workspace.
    pub workspace: &'a WorkspaceId,
    /// Record id.
    pub id: KeyId,
    /// Provider of the key.
    pub provider: Provider,
}

impl Binding<'_> {
    /// `"byok/v1" | layer | len(workspace) | workspace | id | provider`, unambiguous by construction.
    fn aad(&self, layer: &[u8]) -> Vec<u8> {
        let ws = self.workspace.as_str().as_bytes();
        let mut aad = Vec::with_capacity(16 + layer.len() + ws.len() + 16 + 12);
        aad.extend_from_slice(b"byok/v");
        aad.push(FORMAT_VERSION);
        aad.push(layer.len() as u8);
        aad.extend_from_slice(layer);
        aad.extend_from_slice(&(ws.len() as u32).to_be_bytes());
        aad.extend_from_slice(ws);
        aad.extend_from_slice(self.id.as_uuid().as_bytes());
        aad.extend_from_slice(self.provider.as_str().as_bytes());
        aad
    }
}

/// An envelope-encrypted secret, the only form in which a key reaches a backend.
///
/// Layout: `version (1) | wrapped-key length (2, BE) | wrapped data key | nonce (24) | ciphertext | tag (16)`.
/// `Debug` shows the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

impl SealedSecret {
    /// Wrap stored bytes (from a backend). Checked when opened, not here.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SealedSecret(bytes)
    }

    /// The bytes a backend stores.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Seal `secret` for the record described by `binding`, under `kek`.
    pub async fn seal(
        kek: &dyn Kek,
        binding: Binding<'_>,
        secret: &str,
    ) -> Result<Self, StoreError> {
        // The data key and the secret's nonce in one call to the OS: the
        // syscall costs as much as the cipher for a key-sized secret.
        let mut fresh = Zeroizing::new([0u8; 32 + NONCE_LEN]);
        getrandom::fill(fresh.as_mut()).map_err(|_| StoreError::Random)?;
        let (key_bytes, nonce) = fresh.split_at(32);
        let mut data_key = Zeroizing::new([0u8; 32]);
        data_key.copy_from_slice(key_bytes);
        let data_key = DataKey::from_bytes(data_key);
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Random)?;
        let body = seal_with_nonce(
            data_key.as_bytes(),
            nonce,
            secret.as_bytes(),
            &binding.aad(b"secret"),
        )?;
        let wrapped = kek.wrap(&data_key, &binding.aad(b"data-key")).await?;
        SealedSecret::assemble(&wrapped, &body)
    }

    /// Open the secret. Any change to the bytes, another binding (row, workspace,
    /// provider) or another KEK gives [`StoreError::Corrupt`].
    pub async fn open(
        &self,
        kek: &dyn Kek,
        binding: Binding<'_>,
    ) -> Result<SecretString, StoreError> {
        let corrupt = || StoreError::Corrupt {
            id: binding.id.to_string(),
        };
        let (wrapped, body) = self.split().ok_or_else(corrupt)?;
        let data_key = kek
            .unwrap(wrapped, &binding.aad(b"data-key"))
            .await?
            .ok_or_else(corrupt)?;
        let plain =
            open_bytes(data_key.as_bytes(), body, &binding.aad(b"secret")).ok_or_else(corrupt)?;
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt())?;
        // Exact capacity, so turning it into a boxed str does not reallocate and leave a copy.
        let mut exact = String::with_capacity(text.len());
        exact.push_str(text);
        Ok(SecretString::from(exact))
    }

    /// Re-wrap the data key from `old` to `new`; the secret's ciphertext is unchanged.
    pub async fn rewrap(
        &self,
        old: &dyn Kek,
        new: &dyn Kek,
        binding: Binding<'_>,
    ) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt {
            id: binding.id.to_string(),
        };
        let (wrapped, body) = self.split().ok_or_else(corrupt)?;
        let aad = binding.aad(b"data-key");
        let data_key = old.unwrap(wrapped, &aad).await?.ok_or_else(corrupt)?;
        // Prove the body still opens before committing to the new wrapping.
        open_bytes(data_key.as_bytes(), body, &binding.aad(b"secret")).ok_or_else(corrupt)?;
        let rewrapped = new.wrap(&data_key, &aad).await?;
        SealedSecret::assemble(&rewrapped, body)
    }

    fn assemble(wrapped: &[u8], body: &[u8]) -> Result<Self, StoreError> {
        let len = u16::try_from(wrapped.len()).map_err(|_| StoreError::Kek {
            detail: "wrapped data key longer than 65535 bytes".into(),
        })?;
        let mut out = Vec::with_capacity(3 + wrapped.len() + body.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(wrapped);
        out.extend_from_slice(body);
        Ok(SealedSecret(out))
    }

    fn split(&self) -> Option<(&[u8], &[u8])> {
        let (&version, rest) = self.0.split_first()?;
        if version != FORMAT_VERSION || rest.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let rest = &rest[2..];
        (rest.len() >= len).then(|| rest.split_at(len))
    }
}

#[cfg(test)]
mod tests;

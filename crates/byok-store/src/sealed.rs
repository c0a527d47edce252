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
mod tests {
    use super::*;
    use crate::kek::MasterKey;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn ws(s: &str) -> WorkspaceId {
        WorkspaceId::new(s).unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_every_binding_field_matters() {
        let kek = MasterKey::generate().unwrap();
        let (a, b) = (ws("a"), ws("b"));
        let id = KeyId::new();
        let bind = Binding {
            workspace: &a,
            id,
            provider: Provider::OpenAi,
        };
        let secret = byok_keys::fake::key(Provider::OpenAi, byok_keys::KeyKind::Project, 1);
        let sealed = SealedSecret::seal(&kek, bind, &secret).await.unwrap();
        assert_eq!(
            sealed.open(&kek, bind).await.unwrap().expose_secret(),
            secret
        );

        let others = [
            Binding {
                workspace: &b,
                ..bind
            },
            Binding {
                id: KeyId::new(),
                ..bind
            },
            Binding {
                provider: Provider::Anthropic,
                ..bind
            },
        ];
        for other in others {
            assert_eq!(
                sealed.open(&kek, other).await.unwrap_err().code(),
                "corrupt"
            );
        }
        let other_kek = MasterKey::generate().unwrap();
        assert_eq!(
            sealed.open(&other_kek, bind).await.unwrap_err().code(),
            "corrupt"
        );
        assert!(!format!("{sealed:?}").contains(&secret[..10]));
    }

    #[tokio::test]
    async fn rewrap_changes_kek_and_keeps_secret() {
        let (old, new) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        let w = ws("w");
        let bind = Binding {
            workspace: &w,
            id: KeyId::new(),
            provider: Provider::Google,
        };
        let sealed = SealedSecret::seal(&old, bind, "AIza-secret").await.unwrap();
        let moved = sealed.rewrap(&old, &new, bind).await.unwrap();
        assert_eq!(
            moved.open(&new, bind).await.unwrap().expose_secret(),
            "AIza-secret"
        );
        assert_eq!(moved.open(&old, bind).await.unwrap_err().code(), "corrupt");
        assert_eq!(
            sealed.rewrap(&new, &old, bind).await.unwrap_err().code(),
            "corrupt"
        );
    }

    /// A value sealed with the `chacha20poly1305` crate (the implementation
    /// before `aead.rs`) opens unchanged, and ours opens with that crate.
    #[tokio::test]
    async fn compatible_with_values_sealed_by_the_chacha20poly1305_crate() {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let seal_with = |key: &[u8; 32], nonce: [u8; 24], msg: &[u8], aad: &[u8]| {
            let ct = XChaCha20Poly1305::new(key.into())
                .encrypt(&XNonce::from(nonce), Payload { msg, aad })
                .unwrap();
            [&nonce[..], &ct].concat()
        };
        let master = [0x42u8; 32];
        let kek = MasterKey::from_bytes(Zeroizing::new(master));
        let w = ws("legacy");
        let bind = Binding {
            workspace: &w,
            id: KeyId::new(),
            provider: Provider::Anthropic,
        };
        let data_key = [0x17u8; 32];
        let wrapped = seal_with(&master, [1; 24], &data_key, &bind.aad(b"data-key"));
        let body = seal_with(&data_key, [2; 24], b"sk-ant-legacy", &bind.aad(b"secret"));
        let old = SealedSecret::assemble(&wrapped, &body).unwrap();
        assert_eq!(
            old.open(&kek, bind).await.unwrap().expose_secret(),
            "sk-ant-legacy"
        );

        let ours = SealedSecret::seal(&kek, bind, "sk-ant-new").await.unwrap();
        let (wrapped, body) = ours.split().unwrap();
        let open_with = |key: &[u8; 32], sealed: &[u8], aad: &[u8]| {
            XChaCha20Poly1305::new(key.into())
                .decrypt(
                    &XNonce::try_from(&sealed[..24]).unwrap(),
                    Payload {
                        msg: &sealed[24..],
                        aad,
                    },
                )
                .unwrap()
        };
        let dk: [u8; 32] = open_with(&master, wrapped, &bind.aad(b"data-key"))
            .try_into()
            .unwrap();
        assert_eq!(open_with(&dk, body, &bind.aad(b"secret")), b"sk-ant-new");
    }

    #[tokio::test]
    async fn the_same_secret_seals_differently_each_time() {
        let kek = MasterKey::generate().unwrap();
        let w = ws("w");
        let bind = Binding {
            workspace: &w,
            id: KeyId::new(),
            provider: Provider::OpenAi,
        };
        let x = SealedSecret::seal(&kek, bind, "same").await.unwrap();
        let y = SealedSecret::seal(&kek, bind, "same").await.unwrap();
        assert_ne!(x, y);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bit_flip_is_detected(secret in "[A-Za-z0-9_-]{1,200}", pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            rt().block_on(async {
                let kek = MasterKey::generate().unwrap();
                let w = ws("w");
                let bind = Binding { workspace: &w, id: KeyId::new(), provider: Provider::OpenAi };
                let sealed = SealedSecret::seal(&kek, bind, &secret).await.unwrap();
                let mut bytes = sealed.as_bytes().to_vec();
                let i = pos.index(bytes.len());
                bytes[i] ^= 1 << bit;
                let err = SealedSecret::from_bytes(bytes).open(&kek, bind).await.unwrap_err();
                prop_assert_eq!(err.code(), "corrupt");
                Ok(())
            })?;
        }

        #[test]
        fn truncation_is_detected(secret in "[A-Za-z0-9]{1,80}", cut in any::<prop::sample::Index>()) {
            rt().block_on(async {
                let kek = MasterKey::generate().unwrap();
                let w = ws("w");
                let bind = Binding { workspace: &w, id: KeyId::new(), provider: Provider::OpenAi };
                let sealed = SealedSecret::seal(&kek, bind, &secret).await.unwrap();
                let n = cut.index(sealed.as_bytes().len());
                let err = SealedSecret::from_bytes(sealed.as_bytes()[..n].to_vec()).open(&kek, bind).await.unwrap_err();
                prop_assert_eq!(err.code(), "corrupt");
                Ok(())
            })?;
        }

        #[test]
        fn arbitrary_bytes_never_open_and_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            rt().block_on(async {
                let kek = MasterKey::generate().unwrap();
                let w = ws("w");
                let bind = Binding { workspace: &w, id: KeyId::new(), provider: Provider::OpenAi };
                let err = SealedSecret::from_bytes(bytes).open(&kek, bind).await.unwrap_err();
                prop_assert_eq!(err.code(), "corrupt");
                Ok(())
            })?;
        }

        #[test]
        fn round_trip_any_text(secret in "\\PC{0,300}") {
            rt().block_on(async {
                let kek = MasterKey::generate().unwrap();
                let w = ws("w");
                let bind = Binding { workspace: &w, id: KeyId::new(), provider: Provider::Anthropic };
                let sealed = SealedSecret::seal(&kek, bind, &secret).await.unwrap();
                let opened = sealed.open(&kek, bind).await.unwrap();
                prop_assert_eq!(opened.expose_secret(), secret.as_str());
                Ok(())
            })?;
        }
    }
}

//! Tests of `sealed.rs`.

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

//! # byok-store — encrypted storage of users' LLM API keys
//!
//! - [`KeyStore`]: the persistence trait (object safe, `Arc<dyn KeyStore>`), with a
//!   written contract and a public conformance suite any backend can run
#![cfg_attr(
    feature = "conformance",
    doc = "  ([`conformance`], feature `conformance`)."
)]
#![cfg_attr(
    not(feature = "conformance"),
    doc = "  (`conformance`, feature `conformance`, off in this build)."
)]
//! - Envelope encryption: per record a random 256-bit data key seals the secret
//!   with XChaCha20-Poly1305; a [`Kek`] (the local [`MasterKey`], or a KMS you plug
//!   in) wraps the data key. Both layers bind format version, workspace, record id
//!   and provider as AAD, so a sealed value copied to another row fails to open.
//! - [`Keyring`]: an unlocked vault — fails first with `wrong_master_key`, seals,
//!   opens, computes keyed lookup hashes for duplicate detection, writes records
//!   with a MAC over their fields and verifies it on every open (a row altered
//!   with SQL access alone is `tampered`), checks every record, and rotates the
//!   master key online and resumably (rewrap).
//! - Backends: [`MemoryStore`] always;
#![cfg_attr(
    feature = "sqlite",
    doc = "   [`SqliteStore`] (feature `sqlite`, default): one file, WAL, mode 0600;"
)]
#![cfg_attr(
    not(feature = "sqlite"),
    doc = "   `SqliteStore` (feature `sqlite`, off in this build);"
)]
#![cfg_attr(
    feature = "postgres",
    doc = "   [`PostgresStore`] (feature `postgres`) for many app instances."
)]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "   `PostgresStore` (feature `postgres`, off in this build)."
)]
//!
//! Most applications use `byok::Vault`, which adds key parsing and policy on top.
//!
//! ```
//! use std::sync::Arc;
//! use byok_store::{AuditAction, AuditEvent, Binding, KeyId, KeyRecord, KeyStore, Keyring, MasterKey, MemoryStore, WorkspaceId};
//! use byok_keys::{ApiKey, ExposeSecret, KeyKind, Provider, fake};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let keyring = Keyring::unlock(&store, Arc::new(MasterKey::generate()?), vec![]).await?;
//!
//! let key = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 1)).unwrap();
//! let ws = WorkspaceId::new("acme")?;
//! let id = KeyId::new();
//! let (kek_id, sealed) = keyring
//!     .seal(Binding { workspace: &ws, id, provider: key.provider() }, key.expose_secret())
//!     .await?;
//! let hash = keyring.lookup_hash(&ws, key.expose_secret());
//! let record = KeyRecord::new(id, ws.clone(), &key, "prod", hash, kek_id, sealed);
//! // Written through the keyring, which adds the record's MAC.
//! keyring.insert(&store, &record, &AuditEvent::now(ws.clone(), id, AuditAction::Add, "user:42")).await?;
//!
//! let stored = store.get(&ws, id).await?;
//! assert_eq!(keyring.open(&stored).await?.expose_secret(), key.expose_secret());
//! # Ok::<(), byok_store::StoreError>(())
//! # }).unwrap();
//! ```
//!
//! ## What this crate does not do
//! It does not protect a secret from a process that holds the master key (a
//! compromised application server can open every record), and it does not hide
//! which workspace holds how many keys of which provider. Record MACs catch a
//! row changed field by field, not a whole row put back from an older copy (a
//! backup from before a revoke still carries a valid MAC). See `docs/SECURITY.md`.
//!
//! ## Security
//! Plaintext never reaches a backend; decrypted bytes live only in zeroizing
//! buffers and `SecretString`; no error, `Debug` output or log line contains a
//! secret, a master key or a passphrase.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access;
mod aead;
mod audit;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod error;
mod kek;
mod keyring;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod lists;
mod memory;
mod meta;
mod open;
mod outcome_json;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod sealed;
mod source;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use access::{AccessStore, TokenRow, WorkspaceRow};
pub use audit::{AuditAction, AuditEvent, AuditPage, AuditQuery};
pub use error::StoreError;
pub use kek::{DataKey, KdfParams, Kek, MASTER_KEY_ENV, MAX_KEY_FILE_BYTES, MasterKey};
pub use keyring::{CheckOutcome, Keyring, RewrapProgress, RewrapReport, binding};
pub use memory::MemoryStore;
pub use meta::kdf_params;
pub use open::{OpenMode, VAULT_ENV, VaultLocation, open, permissions_warning};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use record::{
    KeyId, KeyRecord, KeyView, LookupHash, Role, Status, WorkspaceId, now, refuse_secrets,
};
pub use sealed::{Binding, FORMAT_VERSION, SealedSecret};
pub use source::{MASTER_KEY_FILE_ENV, MasterKeySource};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{KeyStore, RetireOutcome, UseMark};

//! `byok::Vault` over `byok::store::SqliteStore` in a temporary directory: every
//! operation and error path, then every file the store wrote.

use std::path::Path;
use std::sync::Arc;

use byok::keys::{ExposeSecret, KeyKind, Provider, SecretString};
use byok::store::{
    KeyId, MasterKey, MasterKeySource, MemoryStore, SqliteStore, StoreError, WorkspaceId,
};
use byok::{KeyEdit, NewKey, Purpose, Vault, VaultError};

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::{debugged, json, shown};

pub(crate) fn master(n: u64) -> MasterKeySource {
    MasterKeySource::Base64(SecretString::from(canary::master_key(n)))
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A vault on the SQLite file at `path`, and its store so the caller can close it
/// (and let SQLite fold its -wal and -shm files back) before reading the files.
async fn open(path: &Path, source: MasterKeySource) -> Result<(Vault, SqliteStore), VaultError> {
    let store = SqliteStore::open(path).await?;
    let built = Vault::builder()
        .store(Arc::new(store.clone()))
        .master_key(source)
        .actor("canary")
        .build()
        .await;
    match built {
        Ok(vault) => Ok((vault, store)),
        Err(e) => {
            store.close().await;
            Err(e)
        }
    }
}

/// Every error a caller can see, every way it can see it.
pub(crate) fn error_surfaces(e: &VaultError) -> String {
    let mut out = format!("{}{}\n", shown(e), e.code());
    if let VaultError::Store(s) = e {
        out += &format!("{}{}\n", shown(s), s.code());
    }
    out + &unwrap_panic(Err::<(), _>(e.clone()))
}

/// Run `result`, expecting an error with `code`, and return what it shows.
#[track_caller]
pub(crate) fn expect_error<T: std::fmt::Debug>(
    result: Result<T, VaultError>,
    code: &str,
) -> String {
    match result {
        Ok(v) => panic!("expected {code}, got {v:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            error_surfaces(&e)
        }
    }
}

/// Every file under `dir`, read whole, checked.
pub(crate) fn assert_files_clean(label: &str, dir: &Path) -> usize {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            seen += assert_files_clean(label, &path);
        } else {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    assert_clean(&format!("{label}: file {}", path.display()), &bytes);
                    seen += 1;
                }
                // Removed since it was listed (SQLite drops its -shm on close): nothing to leak.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }
    seen
}

#[test]
fn every_vault_operation_on_sqlite_leaves_no_trace() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vault.db");
    let mut out = String::new();
    let ws = WorkspaceId::new("canary-ws").unwrap();
    let other_ws = WorkspaceId::new("other-ws").unwrap();
    rt().block_on(async {
        let (vault, store) = open(&db, master(0)).await.expect("a new vault");
        let mut ids: Vec<(Provider, KeyKind, KeyId, String)> = Vec::new();

        // add: every shape, pasted the messy way people paste.
        for (i, (provider, kind, raw)) in canary::keys(4).into_iter().enumerate() {
            let pasted = SecretString::from(format!(" \"Bearer {raw}\"\n"));
            let mut new = NewKey::new(ws.clone(), pasted, format!("label {i}"))
                .default_model("gpt-4o-mini")
                .note("a note");
            new = crate::flow::with_params(new, &raw);
            if i % 2 == 1 {
                new = new.backup(i as u32);
            }
            out += &debugged(&new);
            if kind == KeyKind::Admin {
                let refused = vault.add(new).await;
                out += &expect_error(refused, "admin_key_refused");
                let new = NewKey::new(ws.clone(), SecretString::from(raw.clone()), "usage sync")
                    .purpose(Purpose::UsageSync);
                let view = vault.add(new).await.expect("admin key for usage sync");
                ids.push((provider, kind, view.id, raw));
                out += &(debugged(&view) + &json(&view));
            } else {
                let view = vault.add(new).await.expect("added");
                ids.push((provider, kind, view.id, raw));
                out += &(debugged(&view) + &json(&view));
            }
        }

        // add: duplicate, wrong provider, malformed, empty, placeholder.
        let (provider, _, _, raw) = ids[1].clone();
        out += &expect_error(
            vault
                .add(NewKey::new(
                    ws.clone(),
                    SecretString::from(raw.clone()),
                    "again",
                ))
                .await,
            "duplicate",
        );
        let wrong = if provider == Provider::OpenAi {
            Provider::Anthropic
        } else {
            Provider::OpenAi
        };
        let e = vault
            .add(NewKey::new(ws.clone(), SecretString::from(raw.clone()), "wrong").provider(wrong))
            .await
            .expect_err("wrong provider");
        out += &error_surfaces(&e);
        for broken in [
            raw[..raw.len() - 3].to_owned(),
            format!("{raw}xyz"),
            format!("{} {}", &raw[..30], &raw[30..]),
            String::new(),
        ] {
            let e = vault
                .add(NewKey::new(
                    ws.clone(),
                    SecretString::from(broken),
                    "broken",
                ))
                .await
                .expect_err("malformed");
            out += &error_surfaces(&e);
        }

        // list, show, select, audit.
        for view in vault.list(&ws).await.expect("list") {
            out += &(debugged(&view) + &json(&view));
        }
        for (_, _, id, _) in &ids {
            let view = vault.show(&ws, *id).await.expect("show");
            out += &(debugged(&view) + &json(&view));
        }
        for provider in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
            out += &debugged(&vault.select(&ws, provider).await.expect("select"));
        }
        out += &expect_error(vault.show(&other_ws, ids[0].2).await, "not_found");
        out += &expect_error(vault.show(&ws, KeyId::new()).await, "not_found");

        // lease: the secret is the canary, and nothing else shows it.
        for (_, _, id, raw) in &ids {
            let same = vault
                .with_key(&ws, *id, |k| k.expose_secret() == raw)
                .await
                .expect("lease");
            assert!(same, "the vault returns the very canary");
            let secret = vault.secret(&ws, *id).await.expect("lease_secret");
            assert_eq!(secret.expose_secret(), raw);
            out += &debugged(&secret);
        }

        // rotate: to another canary of the same provider; to another provider; malformed.
        let (provider, kind, id, _) = ids[0].clone();
        let next = canary::key(provider, kind, 5);
        let view = vault
            .rotate(&ws, id, SecretString::from(format!("{next}\n")))
            .await
            .expect("rotate");
        out += &(debugged(&view) + &json(&view));
        let foreign = canary::key(Provider::Google, KeyKind::Standard, 5);
        out += &error_surfaces(
            &vault
                .rotate(&ws, id, SecretString::from(foreign))
                .await
                .expect_err("other provider"),
        );
        out += &error_surfaces(
            &vault
                .rotate(
                    &ws,
                    id,
                    SecretString::from(next[..next.len() - 2].to_owned()),
                )
                .await
                .expect_err("truncated"),
        );
        // Rotating to a key that is already in the vault.
        let (_, _, _, taken) = ids[1].clone();
        if let Err(e) = vault.rotate(&ws, id, SecretString::from(taken)).await {
            out += &error_surfaces(&e);
        }

        // disable, enable, revoke, and what a disabled or revoked key refuses.
        let (_, _, id, _) = ids[2].clone();
        out += &debugged(&vault.disable(&ws, id).await.expect("disable"));
        out += &expect_error(vault.with_key(&ws, id, |_| ()).await, "key_inactive");
        out += &debugged(&vault.enable(&ws, id).await.expect("enable"));
        vault.revoke(&ws, id).await.expect("revoke");
        out += &expect_error(vault.secret(&ws, id).await, "key_inactive");
        out += &expect_error(
            vault
                .rotate(
                    &ws,
                    id,
                    SecretString::from(canary::key(Provider::OpenAi, KeyKind::Project, 6)),
                )
                .await,
            "key_inactive",
        );
        vault.delete(&ws, id).await.expect("delete");
        out += &expect_error(vault.show(&ws, id).await, "not_found");
        out += &expect_error(vault.delete(&ws, id).await, "not_found");

        // edit: labels, role, model, note; a stale version is a conflict.
        let (_, _, id, _) = ids[3].clone();
        let current = vault.show(&ws, id).await.expect("show");
        let edited = vault
            .edit(
                &ws,
                id,
                current.version,
                KeyEdit::new()
                    .label("renamed")
                    .backup(7)
                    .default_model(Some("claude-haiku-4-5".into()))
                    .note(None),
            )
            .await
            .expect("edit");
        out += &(debugged(&edited) + &json(&edited));
        out += &debugged(&KeyEdit::new().label("x").primary());
        out += &expect_error(
            vault
                .edit(&ws, id, current.version, KeyEdit::new().label("stale"))
                .await,
            "conflict",
        );

        // The raw records and their sealed secrets.
        let (_, _, id, _) = ids[3].clone();
        let record = vault.store().get(&ws, id).await.expect("record");
        out += &(debugged(&record) + &debugged(&record.sealed) + &debugged(&record.lookup_hash));
        for record in vault.store().list(&ws).await.expect("records") {
            out += &debugged(&record);
        }
        for record in vault.store().scan(None, 100).await.expect("scan") {
            out += &debugged(&record);
        }

        // check, rewrap to a new master key, check again.
        for outcome in vault.check(None).await.expect("check") {
            assert!(outcome.ok(), "{outcome:?}");
            out += &debugged(&outcome);
        }
        let mut progress = Vec::new();
        let report = vault
            .rewrap(master(1), |p| progress.push(p))
            .await
            .expect("rewrap");
        assert!(report.complete, "{report:?}");
        out += &(debugged(&report) + &debugged(&progress));
        for outcome in vault.check(Some(&ws)).await.expect("check") {
            out += &debugged(&outcome);
        }
        for event in vault.audit(&ws).await.expect("audit") {
            out += &(debugged(&event) + &json(&event));
        }
        out += &(debugged(&vault) + &debugged(vault.store()));
        out += &(debugged(&master(1)) + &debugged(&MasterKeySource::from_default_env()));

        // Files mid-flight: the WAL holds the recent writes.
        assert!(assert_files_clean("vault (open)", dir.path()) >= 1);
        assert!(
            dir.path().join("vault.db-wal").exists(),
            "the write-ahead log was there to be searched"
        );
        drop(vault);
        store.close().await;

        // Wrong master key: the old one after the rewrap, and one never used.
        for n in [0, 2] {
            out += &expect_error(open(&db, master(n)).await, "wrong_master_key");
        }
        let (reopened, store) = open(&db, master(1))
            .await
            .expect("the new master key opens it");
        let (_, _, id, raw) = &ids[1];
        let back = reopened.secret(&ws, *id).await.expect("lease");
        assert_eq!(back.expose_secret(), raw);
        let bad =
            MasterKeySource::Base64(SecretString::from(format!("{}!", canary::master_key(2))));
        out += &error_surfaces(&open(&db, bad).await.expect_err("malformed master key"));
        drop(reopened);
        store.close().await;
    });
    assert_clean("vault: surfaces", out.as_bytes());
    assert!(assert_files_clean("vault (closed)", dir.path()) >= 1);
    assert_emitted_clean("vault");
}

#[test]
fn passphrase_vault_and_master_key_errors() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        let source = MasterKeySource::Passphrase {
            passphrase: SecretString::from(canary::passphrase()),
            cost: Some((64, 1, 1)),
        };
        out += &debugged(&source);
        let db = dir.path().join("pass.db");
        let (vault, store) = open(&db, source.clone()).await.expect("a passphrase vault");
        let ws = WorkspaceId::new("p").unwrap();
        let raw = canary::key(Provider::Anthropic, KeyKind::Api, 6);
        let view = vault
            .add(NewKey::new(ws.clone(), SecretString::from(raw), "p"))
            .await
            .expect("add");
        out += &json(&view);
        drop(vault);
        store.close().await;
        let wrong = MasterKeySource::Passphrase {
            passphrase: SecretString::from(format!("{}x", canary::passphrase())),
            cost: Some((64, 1, 1)),
        };
        out += &expect_error(open(&db, wrong).await, "wrong_master_key");
        out += &expect_error(open(&db, master(0)).await, "wrong_master_key");

        // Master key sources that fail before any store is touched.
        let memory = MemoryStore::new();
        let missing_file = dir.path().join("no-such-key-file");
        for source in [
            MasterKeySource::Env("BYOK_CANARY_UNSET_VARIABLE".into()),
            MasterKeySource::File(missing_file),
            MasterKeySource::Base64(SecretString::from(canary::passphrase())),
        ] {
            out += &debugged(&source);
            match source.resolve(&memory).await {
                Ok(k) => out += &debugged(&k),
                Err(e) => out += &error_surfaces(&VaultError::Store(e)),
            }
        }
        let key_file = dir.path().join("master.key");
        std::fs::write(&key_file, canary::master_key(2)).unwrap();
        let from_file = MasterKey::from_file(&key_file).expect("a key file");
        out += &debugged(&from_file);
        let e: StoreError =
            MasterKey::from_base64(&SecretString::from(format!("{}#", canary::master_key(1))))
                .expect_err("not base64");
        out += &error_surfaces(&VaultError::Store(e));
        out += &error_surfaces(
            &Vault::builder()
                .master_key(master(0))
                .build()
                .await
                .expect_err("no store"),
        );
        let e = Vault::builder()
            .store(Arc::new(MemoryStore::new()))
            .build()
            .await
            .expect_err("no master key");
        out += &error_surfaces(&e);
        std::fs::remove_file(&key_file).unwrap();
    });
    assert_clean("vault: master key surfaces", out.as_bytes());
    assert_files_clean("passphrase vault", dir.path());
    assert_emitted_clean("vault: master keys");
}

#[test]
fn sealing_every_shape_and_every_way_opening_fails() {
    use byok::store::{Binding, Kek, SealedSecret};
    init();
    let mut out = String::new();
    rt().block_on(async {
        let kek = MasterKey::from_base64(&SecretString::from(canary::master_key(2))).expect("kek");
        let other = MasterKey::from_base64(&SecretString::from(canary::master_key(1))).unwrap();
        out += &(debugged(&kek) + &format!("{}\n", kek.id()));
        let ws = WorkspaceId::new("seal").unwrap();
        let other_ws = WorkspaceId::new("seal-other").unwrap();
        for (provider, _, raw) in canary::keys(6) {
            let id = KeyId::new();
            let binding = Binding {
                workspace: &ws,
                id,
                provider,
            };
            let sealed = SealedSecret::seal(&kek, binding, &raw).await.expect("seal");
            assert_clean("sealed bytes", sealed.as_bytes());
            out += &(debugged(&sealed) + &debugged(&binding));
            let opened = sealed.open(&kek, binding).await.expect("open");
            assert_eq!(opened.expose_secret(), raw, "the canary went in");
            out += &debugged(&opened);

            // Every way opening fails: another KEK, another binding, tampered bytes.
            let moved = Binding {
                workspace: &other_ws,
                ..binding
            };
            let mut tampered = sealed.as_bytes().to_vec();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            let tampered = SealedSecret::from_bytes(tampered);
            let truncated = SealedSecret::from_bytes(sealed.as_bytes()[..10].to_vec());
            for result in [
                sealed.open(&other, binding).await,
                sealed.open(&kek, moved).await,
                tampered.open(&kek, binding).await,
                truncated.open(&kek, binding).await,
            ] {
                let e = result.expect_err("does not open");
                out += &error_surfaces(&VaultError::Store(e));
            }
            let rewrapped = sealed.rewrap(&kek, &other, binding).await.expect("rewrap");
            assert_clean("rewrapped bytes", rewrapped.as_bytes());
            out += &debugged(&rewrapped);
            if let Err(e) = rewrapped.rewrap(&kek, &other, binding).await {
                out += &error_surfaces(&VaultError::Store(e));
            }
        }
    });
    assert_clean("store: sealing surfaces", out.as_bytes());
    assert_emitted_clean("store: sealing");
}

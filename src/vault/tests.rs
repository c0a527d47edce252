//! Unit tests of the vault (its public behaviour is in tests/flow.rs).

use super::*;
use crate::keys::{KeyKind, fake};
use crate::store::{
    AuditAction, CheckOutcome, KeyRecord, LookupHash, MasterKey, MasterKeySource, MemoryStore,
    Role, Status,
};
use crate::{KeyEdit, NewKey};

fn ws(name: &str) -> WorkspaceId {
    WorkspaceId::new(name).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

async fn vault_on(store: Arc<dyn KeyStore>, master: &SecretString) -> Result<Vault, VaultError> {
    Vault::builder()
        .store(store)
        .master_key(MasterKeySource::Base64(master.clone()))
        .actor("tester")
        .build()
        .await
}

async fn fresh() -> (Vault, SecretString) {
    let master = MasterKey::generate().unwrap().to_base64();
    (
        vault_on(Arc::new(MemoryStore::new()), &master)
            .await
            .unwrap(),
        master,
    )
}

#[tokio::test]
async fn add_normalises_parses_and_returns_a_masked_view() {
    let (vault, _) = fresh().await;
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let view = vault
        .add(NewKey::new(
            ws("a"),
            secret(&format!("\"Bearer {raw}\"\n")),
            "prod",
        ))
        .await
        .unwrap();
    assert_eq!(
        (view.provider, view.kind, view.version),
        (Provider::OpenAi, KeyKind::Project, 1)
    );
    let json = serde_json::to_string(&view).unwrap();
    for field in [
        "\"id\"",
        "\"workspace\"",
        "\"provider\"",
        "\"kind\"",
        "\"label\"",
        "\"role\"",
        "\"status\"",
        "\"masked\"",
        "\"fingerprint\"",
        "\"created_at\"",
    ] {
        assert!(json.contains(field), "{field} missing in {json}");
    }
    assert!(
        !json.contains(&raw[8..30]),
        "the view never carries the secret"
    );
    let leased = vault
        .with_key(&ws("a"), view.id, |k| k.expose_secret() == raw)
        .await
        .unwrap();
    assert!(leased);
}

#[tokio::test]
async fn bad_keys_wrong_providers_and_admin_keys_are_refused() {
    let (vault, _) = fresh().await;
    let err = vault
        .add(NewKey::new(ws("a"), secret("sk-..."), "x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "placeholder");
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 2);
    let err = vault
        .add(NewKey::new(ws("a"), secret(&anthropic), "x").provider(Provider::OpenAi))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "wrong_provider");
    let admin = fake::key(Provider::OpenAi, KeyKind::Admin, 3);
    let err = vault
        .add(NewKey::new(ws("a"), secret(&admin), "x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "admin_key_refused");
    assert!(!err.to_string().contains(&admin[10..40]));
    let view = vault
        .add(NewKey::new(ws("a"), secret(&admin), "costs").purpose(Purpose::UsageSync))
        .await
        .unwrap();
    assert_eq!(view.kind, KeyKind::Admin);
    let err = vault.select(&ws("a"), Provider::OpenAi).await.unwrap_err();
    assert_eq!(
        err.code(),
        "no_usable_key",
        "admin keys are never selected for inference"
    );
    assert!(matches!(err, VaultError::NoUsableKey { ref skipped, .. } if skipped.is_empty()));
}

#[tokio::test]
async fn select_passes_over_keys_it_cannot_open_and_admin_secrets() {
    let store = Arc::new(MemoryStore::new());
    let master = MasterKey::generate().unwrap().to_base64();
    let vault = vault_on(store.clone(), &master).await.unwrap();
    let w = ws("a");
    let add = |key: String, label: &str, order: Option<u32>| {
        let mut new = NewKey::new(w.clone(), secret(&key), label);
        if let Some(o) = order {
            new = new.backup(o);
        }
        vault.add(new)
    };
    let primary = add(fake::key(Provider::OpenAi, KeyKind::Project, 81), "p", None)
        .await
        .unwrap();
    let backup1 = add(
        fake::key(Provider::OpenAi, KeyKind::Project, 82),
        "b1",
        Some(1),
    )
    .await
    .unwrap();
    let backup2 = add(
        fake::key(Provider::OpenAi, KeyKind::Project, 83),
        "b2",
        Some(2),
    )
    .await
    .unwrap();
    let admin = vault
        .add(
            NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::Admin, 84)),
                "adm",
            )
            .purpose(Purpose::UsageSync),
        )
        .await
        .unwrap();
    let event = |id| AuditEvent::now(w.clone(), id, AuditAction::Update, "attacker");
    // The primary's sealed secret is swapped for the backup's: it fails to open.
    let mut p = store.get(&w, primary.id).await.unwrap();
    p.sealed = store.get(&w, backup1.id).await.unwrap().sealed;
    store.update(&p, &event(p.id)).await.unwrap();
    // The admin key's row is altered to look like a backup for inference, with
    // a valid MAC (as only a holder of the vault's keys could write it): the
    // opened secret itself is what gives it away.
    let mut a = store.get(&w, admin.id).await.unwrap();
    a.kind = KeyKind::Project;
    a.role = Role::Backup;
    a.order = 0;
    vault
        .keyring()
        .update(store.as_ref(), &a, &event(a.id))
        .await
        .unwrap();

    let lease = vault.select(&w, Provider::OpenAi).await.unwrap();
    let reasons: Vec<(KeyId, &str)> = lease
        .skipped()
        .iter()
        .map(|s| (s.id, s.reason.code()))
        .collect();
    assert_eq!(
        reasons,
        vec![(primary.id, "corrupt"), (admin.id, "admin_secret")],
        "the damaged primary and the disguised admin key are passed over, in order"
    );
    assert_eq!(
        lease.id(),
        backup1.id,
        "the next usable key serves the call"
    );
    let used: Vec<KeyId> = vault
        .audit(&w)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::Use)
        .map(|e| e.key_id)
        .collect();
    assert_eq!(
        used,
        vec![backup1.id],
        "only the key handed out is recorded as used"
    );

    // With every inference key unusable, `no_usable_key` lists each with its reason.
    let mut b = store.get(&w, backup1.id).await.unwrap();
    b.sealed = store.get(&w, backup2.id).await.unwrap().sealed;
    store.update(&b, &event(b.id)).await.unwrap();
    let mut b = store.get(&w, backup2.id).await.unwrap();
    b.sealed = store.get(&w, primary.id).await.unwrap().sealed;
    store.update(&b, &event(b.id)).await.unwrap();
    let err = vault.select(&w, Provider::OpenAi).await.unwrap_err();
    let VaultError::NoUsableKey { skipped, .. } = err else {
        panic!("{err:?}")
    };
    let codes: Vec<&str> = skipped.iter().map(|s| s.reason.code()).collect();
    assert_eq!(codes, ["corrupt", "admin_secret", "corrupt", "corrupt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_changes_survive_concurrent_edits() {
    let (vault, _) = fresh().await;
    let w = ws("a");
    let view = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 91)),
            "k",
        ))
        .await
        .unwrap();
    let id = view.id;
    // (2,000 rounds each: without the retry, a run sees conflicts every time.)
    // One task toggles the key's status, the other edits its label from
    // whatever version it reads, about once a millisecond (an editor writing
    // flat out, back to back, would win every round against any writer whose
    // read-to-write window is as long as its own cycle: optimistic concurrency
    // cannot serve that, only locks could): every status change must land, none
    // is a `conflict` (the editor's pinned edits may lose and simply retry).
    let toggler = {
        let (vault, w) = (vault.clone(), w.clone());
        tokio::spawn(async move {
            for i in 0..2000 {
                let done = if i % 2 == 0 {
                    vault.disable(&w, id).await
                } else {
                    vault.enable(&w, id).await
                };
                done.expect("an unpinned status change never fails with conflict");
            }
        })
    };
    let editor = {
        let (vault, w) = (vault.clone(), w.clone());
        tokio::spawn(async move {
            let mut edits = 0;
            while edits < 2000 {
                let v = vault.show(&w, id).await.unwrap();
                let edit = KeyEdit::new().label(format!("label {edits}"));
                match vault.edit(&w, id, v.version, edit).await {
                    Ok(_) => {
                        edits += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    Err(VaultError::Store(StoreError::Conflict { .. })) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    toggler.await.unwrap();
    editor.await.unwrap();
    let last = vault.show(&w, id).await.unwrap();
    assert_eq!(last.status, Status::Active, "2,000 toggles end enabled");
    assert_eq!(last.version, 1 + 2000 + 2000, "every change landed once");
}

#[tokio::test]
async fn check_finds_rows_that_do_not_match_their_secret() {
    let store = Arc::new(MemoryStore::new());
    let master = MasterKey::generate().unwrap().to_base64();
    let vault = vault_on(store.clone(), &master).await.unwrap();
    let w = ws("a");
    let mut ids = Vec::new();
    for seed in 0..5 {
        let new = NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Admin, 100 + seed)),
            "k",
        )
        .purpose(Purpose::UsageSync);
        ids.push(vault.add(new).await.unwrap().id);
    }
    let event = |id| AuditEvent::now(w.clone(), id, AuditAction::Update, "attacker");
    let alter = |i: usize, f: fn(&mut KeyRecord)| {
        let (store, id, event) = (store.clone(), ids[i], event(ids[i]));
        let w = w.clone();
        async move {
            let mut r = store.get(&w, id).await.unwrap();
            f(&mut r);
            store.update(&r, &event).await.unwrap();
        }
    };
    alter(0, |r| r.kind = KeyKind::Project).await;
    alter(1, |r| r.masked = "sk-proj-…Q8xA".into()).await;
    alter(2, |r| r.fingerprint = "sha256:0000000000000000".into()).await;
    alter(3, |r| r.lookup_hash = LookupHash([7; 32])).await;
    let outcomes = vault.check(Some(&w)).await.unwrap();
    let found: Vec<(KeyId, Option<String>)> = outcomes
        .iter()
        .map(|o| (o.id, o.error.as_ref().map(|e| e.to_string())))
        .collect();
    for (i, field) in ["kind", "masked", "fingerprint", "lookup_hash"]
        .iter()
        .enumerate()
    {
        let (_, error) = found.iter().find(|(id, _)| *id == ids[i]).unwrap();
        let error = error.as_deref().unwrap_or("ok");
        assert!(
            error.contains(&format!("({field} differs)")),
            "{field}: {error}"
        );
    }
    let codes: Vec<Option<&str>> = outcomes
        .iter()
        .map(|o| o.error.as_ref().map(StoreError::code))
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == Some("tampered")).count(), 4);
    assert!(
        outcomes.iter().any(|o| o.id == ids[4] && o.ok()),
        "the untouched row is ok"
    );
}

#[tokio::test]
async fn duplicates_are_per_workspace() {
    let (vault, _) = fresh().await;
    let raw = fake::key(Provider::Google, KeyKind::Standard, 4);
    let first = vault
        .add(NewKey::new(ws("a"), secret(&raw), "one"))
        .await
        .unwrap();
    let err = vault
        .add(NewKey::new(ws("a"), secret(&format!(" {raw} ")), "two"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        VaultError::Store(StoreError::Duplicate {
            existing: first.id.to_string()
        })
    );
    vault
        .add(NewKey::new(ws("b"), secret(&raw), "other tenant"))
        .await
        .unwrap();
}

#[tokio::test]
async fn lifecycle_and_audit_trail() {
    let (vault, _) = fresh().await;
    let w = ws("a");
    let k1 = fake::key(Provider::OpenAi, KeyKind::Project, 5);
    let k2 = fake::key(Provider::OpenAi, KeyKind::Project, 6);
    let view = vault
        .add(NewKey::new(w.clone(), secret(&k1), "prod"))
        .await
        .unwrap();
    let backup = vault
        .add(
            NewKey::new(
                w.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 7)),
                "b",
            )
            .backup(1),
        )
        .await
        .unwrap();
    assert_eq!(
        vault.select(&w, Provider::OpenAi).await.unwrap().id(),
        view.id
    );

    let rotated = vault.rotate(&w, view.id, secret(&k2)).await.unwrap();
    assert_eq!((rotated.id, rotated.version), (view.id, 2));
    assert_ne!(rotated.masked, view.masked);
    assert_eq!(vault.secret(&w, view.id).await.unwrap().expose_secret(), k2);
    let err = vault
        .rotate(
            &w,
            view.id,
            secret(&fake::key(Provider::Google, KeyKind::Standard, 1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "wrong_provider");

    vault.disable(&w, view.id).await.unwrap();
    assert_eq!(
        vault
            .with_key(&w, view.id, |_| ())
            .await
            .unwrap_err()
            .code(),
        "key_inactive"
    );
    assert_eq!(
        vault.select(&w, Provider::OpenAi).await.unwrap().id(),
        backup.id,
        "the backup takes over"
    );
    vault.enable(&w, view.id).await.unwrap();
    vault.revoke(&w, view.id).await.unwrap();
    assert_eq!(
        vault.enable(&w, view.id).await.unwrap_err().code(),
        "key_inactive"
    );
    assert_eq!(
        vault
            .rotate(&w, view.id, secret(&k1))
            .await
            .unwrap_err()
            .code(),
        "key_inactive"
    );
    vault.delete(&w, view.id).await.unwrap();
    assert_eq!(
        vault.show(&w, view.id).await.unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        vault
            .show(&ws("other"), backup.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );

    let actions: Vec<_> = vault
        .audit(&w)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.key_id == view.id)
        .map(|e| (e.action, e.actor))
        .collect();
    // `select` leases the key, so it is audited as a use like `lease`.
    let expected = [
        AuditAction::Add,
        AuditAction::Use,
        AuditAction::Rotate,
        AuditAction::Use,
        AuditAction::Disable,
        AuditAction::Enable,
        AuditAction::Revoke,
        AuditAction::Delete,
    ];
    assert_eq!(
        actions,
        expected
            .iter()
            .map(|a| (*a, "tester".to_owned()))
            .collect::<Vec<_>>()
    );
    let other = vault.with_actor("admin:1");
    other.disable(&w, backup.id).await.unwrap();
    assert_eq!(
        vault.audit(&w).await.unwrap().last().unwrap().actor,
        "admin:1"
    );
}

#[tokio::test]
async fn a_stale_edit_is_a_conflict_never_a_lost_update() {
    let (vault, _) = fresh().await;
    let w = ws("a");
    let view = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 11)),
            "old",
        ))
        .await
        .unwrap();
    let edited = vault
        .edit(
            &w,
            view.id,
            view.version,
            KeyEdit::new().label("new").backup(3).note(Some("n".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            edited.label.as_str(),
            edited.role,
            edited.order,
            edited.version
        ),
        ("new", Role::Backup, 3, 2)
    );
    assert_eq!(edited.note.as_deref(), Some("n"));
    let err = vault
        .edit(&w, view.id, view.version, KeyEdit::new().label("stale"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    assert_eq!(vault.show(&w, view.id).await.unwrap().label, "new");
    let last = vault.audit(&w).await.unwrap().pop().unwrap();
    assert_eq!(last.action, AuditAction::Update);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_on_sqlite_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::SqliteStore::open(dir.path().join("v.db"))
        .await
        .unwrap();
    let master = MasterKey::generate().unwrap().to_base64();
    let vault = vault_on(Arc::new(store), &master).await.unwrap();
    let w = ws("a");
    let view = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 12)),
            "x",
        ))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (vault, w) = (vault.clone(), w.clone());
            tokio::spawn(async move {
                vault
                    .edit(&w, view.id, 1, KeyEdit::new().label(format!("t{i}")))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.code(), "conflict"),
        }
    }
    assert_eq!(
        wins, 1,
        "exactly one of eight concurrent edits from version 1 wins"
    );
    assert_eq!(vault.show(&w, view.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn lease_records_last_use() {
    let (vault, _) = fresh().await;
    let w = ws("a");
    let view = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::Anthropic, KeyKind::Api, 8)),
            "x",
        ))
        .await
        .unwrap();
    assert_eq!(view.last_used_at, None);
    vault
        .with_key(&w, view.id, |k| {
            assert_eq!(k.provider(), Provider::Anthropic)
        })
        .await
        .unwrap();
    let after = vault.show(&w, view.id).await.unwrap();
    assert!(after.last_used_at.is_some());
    assert_eq!(after.version, 1, "a use is not an edit");
}

#[tokio::test]
async fn wrong_master_key_fails_at_build_and_missing_parts_are_named() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
    let right = MasterKey::generate().unwrap().to_base64();
    vault_on(store.clone(), &right).await.unwrap();
    let wrong = MasterKey::generate().unwrap().to_base64();
    let err = vault_on(store.clone(), &wrong).await.unwrap_err();
    assert_eq!(err.code(), "wrong_master_key");
    assert!(!err.to_string().contains(wrong.expose_secret()));
    // One code for every part the builder was not given.
    let err = Vault::builder().store(store).build().await.unwrap_err();
    assert_eq!(err.code(), "incomplete_builder");
    assert!(err.to_string().contains("master key"), "{err}");
    let err = Vault::builder()
        .master_key(MasterKeySource::Base64(right))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "incomplete_builder");
}

#[tokio::test]
async fn passphrase_vaults_reopen_with_the_same_passphrase_only() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
    let open = |pass: &str| {
        let store = store.clone();
        let pass = secret(pass);
        async move {
            Vault::builder()
                .store(store)
                .master_key(MasterKeySource::Passphrase {
                    passphrase: pass,
                    cost: Some((64, 1, 1)),
                })
                .build()
                .await
        }
    };
    let vault = open("a long passphrase").await.unwrap();
    let w = ws("a");
    let view = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Legacy, 9)),
            "x",
        ))
        .await
        .unwrap();
    let again = open("a long passphrase").await.unwrap();
    assert!(again.with_key(&w, view.id, |_| ()).await.is_ok());
    assert_eq!(
        open("another passphrase").await.unwrap_err().code(),
        "wrong_master_key"
    );
}

#[tokio::test]
async fn rewrap_keeps_every_key_readable_and_retires_the_old_master_key() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
    let old = MasterKey::generate().unwrap().to_base64();
    let vault = vault_on(store.clone(), &old).await.unwrap();
    let w = ws("a");
    let mut ids = Vec::new();
    for seed in 0..4 {
        ids.push(
            vault
                .add(NewKey::new(
                    w.clone(),
                    secret(&fake::key(Provider::OpenAi, KeyKind::Project, 100 + seed)),
                    "k",
                ))
                .await
                .unwrap()
                .id,
        );
    }
    let new = MasterKey::generate().unwrap().to_base64();
    let mut calls = 0;
    let report = vault
        .rewrap(MasterKeySource::Base64(new.clone()), |_| calls += 1)
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!((report.progress.rewrapped, calls), (4, 4));
    for id in &ids {
        vault
            .with_key(&w, *id, |_| ())
            .await
            .expect("the same vault keeps reading");
    }
    assert_eq!(
        vault_on(store.clone(), &old).await.unwrap_err().code(),
        "wrong_master_key"
    );
    let reopened = vault_on(store, &new).await.unwrap();
    assert!(
        reopened
            .check(None)
            .await
            .unwrap()
            .iter()
            .all(CheckOutcome::ok)
    );
    let rewraps = reopened
        .audit(&w)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == AuditAction::Rewrap)
        .count();
    assert_eq!(rewraps, 4);
}

#[tokio::test]
async fn errors_and_debug_output_never_contain_secrets() {
    let (vault, master) = fresh().await;
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 10);
    let w = ws("a");
    let view = vault
        .add(NewKey::new(w.clone(), secret(&raw), "x"))
        .await
        .unwrap();
    let dup = vault
        .add(NewKey::new(w.clone(), secret(&raw), "x"))
        .await
        .unwrap_err();
    let new = NewKey::new(w.clone(), secret(&raw), "x");
    let texts = [
        format!("{vault:?}"),
        format!("{dup:?} {dup}"),
        format!("{new:?}"),
        format!("{view:?}"),
        format!("{:?}", vault.store().get(&w, view.id).await.unwrap()),
        format!("{:?}", MasterKeySource::Base64(master.clone())),
    ];
    for text in texts {
        assert!(!text.contains(&raw[8..24]), "secret leaked into {text}");
        assert!(
            !text.contains(master.expose_secret()),
            "master key leaked into {text}"
        );
    }
}

fn azure_params(resource: &str) -> crate::keys::params::Params {
    crate::keys::params::Params::new(
        Provider::AzureOpenAi,
        [("resource", resource), ("deployment", "gpt-4o-mini")],
    )
    .unwrap()
}

fn region(r: &str) -> crate::keys::params::Params {
    crate::keys::params::Params::new(Provider::Bedrock, [("region", r)]).unwrap()
}

fn short_term(seed: u64, region: &str) -> String {
    fake::bedrock_short_term(
        seed,
        region,
        fake::short_term_issued(),
        std::time::Duration::from_secs(12 * 3600),
    )
}

#[tokio::test]
async fn params_are_required_checked_stored_edited_and_kept_on_rotation() {
    let (vault, _) = fresh().await;
    let w = ws("p");
    let azure = |seed| {
        NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::AzureOpenAi, KeyKind::Standard, seed)),
            "azure",
        )
        .provider(Provider::AzureOpenAi)
    };
    // Without the required parameters: refused, naming the first with an example.
    let err = vault.add(azure(1)).await.unwrap_err();
    assert_eq!(err.code(), "missing_param");
    assert!(
        err.hint().unwrap().contains("resource=my-resource"),
        "{:?}",
        err.hint()
    );
    // Another provider's parameters: refused.
    let err = vault
        .add(azure(1).params(region("us-east-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_param");
    assert!(
        vault.list(&w).await.unwrap().is_empty(),
        "nothing was stored"
    );

    let view = vault
        .add(azure(1).params(azure_params("contoso")))
        .await
        .unwrap();
    assert_eq!(
        view.params.get("resource").map(String::as_str),
        Some("contoso")
    );
    assert_eq!(vault.show(&w, view.id).await.unwrap().params, view.params);
    let lease = vault.select(&w, Provider::AzureOpenAi).await.unwrap();
    assert_eq!(lease.params(), Some(&azure_params("contoso")));
    drop(lease);

    // Edit: new parameters, checked; the audit trail says `update`, as for any edit.
    let edited = vault
        .edit(
            &w,
            view.id,
            view.version,
            KeyEdit::new().params(azure_params("fabrikam")),
        )
        .await
        .unwrap();
    assert_eq!(
        edited.params.get("resource").map(String::as_str),
        Some("fabrikam")
    );
    let last = vault.audit(&w).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action, last.actor.as_str()),
        (AuditAction::Update, "tester")
    );
    let err = vault
        .edit(
            &w,
            view.id,
            edited.version,
            KeyEdit::new().params(region("us-east-1")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_param");

    // Rotation keeps them, unless new ones are given.
    let rotated = vault
        .rotate(
            &w,
            view.id,
            secret(&fake::key(Provider::AzureOpenAi, KeyKind::Standard, 2)),
        )
        .await
        .unwrap();
    assert_eq!(rotated.params, edited.params);
    let moved = vault
        .rotate_with_params(
            &w,
            view.id,
            secret(&fake::key(Provider::AzureOpenAi, KeyKind::Standard, 3)),
            azure_params("northwind"),
        )
        .await
        .unwrap();
    assert_eq!(
        moved.params.get("resource").map(String::as_str),
        Some("northwind")
    );
    // The record's MAC covers them: the vault's own check passes.
    assert!(
        vault
            .check(Some(&w))
            .await
            .unwrap()
            .iter()
            .all(|o| o.error.is_none())
    );

    // A provider without parameters needs none and shows `{}`.
    let openai = vault
        .add(NewKey::new(
            w.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 4)),
            "o",
        ))
        .await
        .unwrap();
    assert!(openai.params.is_empty());
    assert!(
        serde_json::to_string(&openai)
            .unwrap()
            .contains("\"params\":{}")
    );
}

#[tokio::test]
async fn a_bedrock_short_term_keys_region_comes_from_its_token() {
    let (vault, _) = fresh().await;
    let w = ws("b");
    let add =
        |raw: String| NewKey::new(w.clone(), secret(&raw), "bedrock").provider(Provider::Bedrock);
    let view = vault.add(add(short_term(1, "eu-central-1"))).await.unwrap();
    assert_eq!(view.kind, KeyKind::ShortTerm);
    assert_eq!(
        view.params.get("region").map(String::as_str),
        Some("eu-central-1")
    );
    // The same region given: fine; another: refused, the hint names the token's.
    vault
        .add(add(short_term(2, "eu-central-1")).params(region("eu-central-1")))
        .await
        .unwrap();
    let err = vault
        .add(add(short_term(3, "eu-central-1")).params(region("us-west-2")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_param");
    assert!(
        err.hint().unwrap().contains("region=eu-central-1"),
        "{:?}",
        err.hint()
    );
    let err = vault
        .edit(
            &w,
            view.id,
            view.version,
            KeyEdit::new().params(region("us-west-2")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_param");
    // A rotation to a token of another region follows the new token.
    let rotated = vault
        .rotate(&w, view.id, secret(&short_term(4, "ap-south-1")))
        .await
        .unwrap();
    assert_eq!(
        rotated.params.get("region").map(String::as_str),
        Some("ap-south-1")
    );
    // A long-term key has no region inside: it must be given.
    let long = || add(fake::key(Provider::Bedrock, KeyKind::LongTerm, 5));
    assert_eq!(vault.add(long()).await.unwrap_err().code(), "missing_param");
    let view = vault.add(long().params(region("us-east-2"))).await.unwrap();
    assert_eq!(
        view.params.get("region").map(String::as_str),
        Some("us-east-2")
    );
}

/// The cache of opened keys never outlives what it was opened from: a row
/// altered outside byok after a use (its MAC left as it was) is caught as
/// `tampered` on the next use, a rotated key serves its new secret, a revoked
/// one is refused and no longer kept open.
#[tokio::test]
async fn opened_keys_are_served_only_for_the_record_they_were_opened_from() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
    let master = MasterKey::generate().unwrap().to_base64();
    let vault = vault_on(store.clone(), &master).await.unwrap();
    let w = ws("a");
    let raw = |seed| fake::key(Provider::OpenAi, KeyKind::Project, seed);
    let mut ids = Vec::new();
    for seed in [1, 2] {
        let new = NewKey::new(w.clone(), secret(&raw(seed)), "k");
        ids.push(vault.add(new).await.unwrap().id);
    }
    // Each opened once (and kept), then again from the cache.
    for _ in 0..2 {
        for (id, seed) in ids.iter().zip([1, 2]) {
            let opened = vault.secret(&w, *id).await.unwrap();
            assert_eq!(opened.expose_secret(), raw(seed));
        }
    }
    // The first altered outside byok: its label, with the old MAC.
    let mut row = store.get(&w, ids[0]).await.unwrap();
    row.label = "attacker".into();
    let event = AuditEvent::now(w.clone(), ids[0], AuditAction::Update, "attacker");
    store.update(&row, &event).await.unwrap();
    let err = vault
        .secret(&w, ids[0])
        .await
        .map(|_| ())
        .expect_err("a tampered row is caught after a cached use");
    assert_eq!(err.code(), "tampered");
    // The second rotated through the vault: the new secret, not the kept one.
    vault.rotate(&w, ids[1], secret(&raw(3))).await.unwrap();
    assert_eq!(
        vault.secret(&w, ids[1]).await.unwrap().expose_secret(),
        raw(3)
    );
    // Revoked: refused, and no longer kept open.
    vault.revoke(&w, ids[1]).await.unwrap();
    assert_eq!(
        vault.secret(&w, ids[1]).await.unwrap_err().code(),
        "key_inactive"
    );
    vault.delete(&w, ids[0]).await.unwrap();
    assert!(vault.shared.opened.is_empty());
}

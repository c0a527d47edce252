//! Tests of `keyring.rs`.

use super::*;
use crate::kek::MasterKey;
use crate::memory::MemoryStore;
use byok_keys::{KeyKind, Provider};
use secrecy::ExposeSecret;

fn mk() -> Arc<dyn Kek> {
    Arc::new(MasterKey::generate().unwrap())
}

/// A real (fake) OpenAI key standing for `name`, so records carry the mask,
/// fingerprint and kind their secret implies (`check` compares them).
fn key_for(name: &str) -> String {
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    byok_keys::fake::key(Provider::OpenAi, KeyKind::Project, seed)
}

async fn add(store: &MemoryStore, ring: &Keyring, ws: &WorkspaceId, name: &str) -> KeyRecord {
    let key = byok_keys::ApiKey::parse(&key_for(name)).unwrap();
    let secret = key.expose_secret();
    let id = KeyId::new();
    let (kek_id, sealed) = ring
        .seal(
            Binding {
                workspace: ws,
                id,
                provider: Provider::OpenAi,
            },
            secret,
        )
        .await
        .unwrap();
    let r = KeyRecord::new(
        id,
        ws.clone(),
        &key,
        "l",
        ring.lookup_hash(ws, secret),
        kek_id,
        sealed,
    );
    ring.insert(
        store,
        &r,
        &AuditEvent::now(ws.clone(), id, AuditAction::Add, "t"),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn wrong_master_key_fails_first() {
    let store = MemoryStore::new();
    let right = mk();
    Keyring::unlock(&store, right.clone(), vec![])
        .await
        .unwrap();
    let err = Keyring::unlock(&store, mk(), vec![]).await.unwrap_err();
    assert_eq!(err, StoreError::WrongMasterKey);
    Keyring::unlock(&store, right, vec![])
        .await
        .expect("the right key still opens");
}

/// Records without metadata: no master key may claim the vault.
#[tokio::test]
async fn records_without_metadata_are_refused_not_claimed() {
    let store = MemoryStore::new();
    let right = mk();
    let ring = Keyring::unlock(&store, right.clone(), vec![])
        .await
        .unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    add(&store, &ring, &ws, "secret").await;
    let saved = store
        .get_meta(crate::meta::META_NAME)
        .await
        .unwrap()
        .unwrap();
    let stripped = MemoryStore::new();
    for r in store.list(&ws).await.unwrap() {
        stripped
            .insert(
                &r,
                &AuditEvent::now(ws.clone(), r.id, AuditAction::Add, "t"),
            )
            .await
            .unwrap();
    }
    let err = Keyring::unlock(&stripped, mk(), vec![]).await.unwrap_err();
    assert_eq!(err.code(), "metadata_missing");
    assert!(err.to_string().contains("backup"), "{err}");
    assert!(
        stripped
            .get_meta(crate::meta::META_NAME)
            .await
            .unwrap()
            .is_none()
    );
    // Restored from a backup, the real key opens it again.
    assert!(
        stripped
            .swap_meta(crate::meta::META_NAME, None, &saved)
            .await
            .unwrap()
    );
    let back = Keyring::unlock(&stripped, right, vec![]).await.unwrap();
    assert!(
        back.check(&stripped, None)
            .await
            .unwrap()
            .iter()
            .all(CheckOutcome::ok)
    );
}

/// Damage to the metadata is `corrupt_metadata`; `wrong_master_key` is kept
/// for a key the intact document does not know.
#[tokio::test]
async fn damaged_metadata_is_not_a_wrong_master_key() {
    let store = MemoryStore::new();
    let key = mk();
    Keyring::unlock(&store, key.clone(), vec![]).await.unwrap();
    let (meta, raw) = VaultMeta::load(&store).await.unwrap();
    // Not JSON any more.
    assert!(
        store
            .swap_meta(
                crate::meta::META_NAME,
                raw.as_deref(),
                b"{\"format\":1,\"keks\":{"
            )
            .await
            .unwrap()
    );
    let err = Keyring::unlock(&store, key.clone(), vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "corrupt_metadata");
    assert!(
        meta.store(&store, Some(b"{\"format\":1,\"keks\":{"))
            .await
            .unwrap()
    );
    // The check value of the key given is not base64.
    let (mut bad, raw) = VaultMeta::load(&store).await.unwrap();
    bad.keks.insert(key.id().to_owned(), "%%%".into());
    assert!(bad.store(&store, raw.as_deref()).await.unwrap());
    let err = Keyring::unlock(&store, key.clone(), vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "corrupt_metadata");
    assert!(
        meta.store(&store, Some(&bad.encode().unwrap()))
            .await
            .unwrap()
    );
    assert_eq!(
        Keyring::unlock(&store, mk(), vec![]).await.unwrap_err(),
        StoreError::WrongMasterKey,
        "a key the intact document does not know"
    );
    Keyring::unlock(&store, key, vec![])
        .await
        .expect("intact again");
}

/// A bit flipped in the check value of the key given: that key is the
/// vault's (its id is listed), so the document is damaged.
#[tokio::test]
async fn a_tampered_check_value_is_corrupt_metadata() {
    let store = MemoryStore::new();
    let key = mk();
    Keyring::unlock(&store, key.clone(), vec![]).await.unwrap();
    let (mut meta, raw) = VaultMeta::load(&store).await.unwrap();
    let wrapped = meta.keks.get_mut(key.id()).unwrap();
    let mut bytes = STANDARD.decode(&*wrapped).unwrap();
    bytes[30] ^= 1;
    *wrapped = STANDARD.encode(bytes);
    assert!(meta.store(&store, raw.as_deref()).await.unwrap());
    assert_eq!(
        Keyring::unlock(&store, key, vec![])
            .await
            .unwrap_err()
            .code(),
        "corrupt_metadata"
    );
}

#[tokio::test]
async fn lookup_hash_is_keyed_and_workspace_bound() {
    let store = MemoryStore::new();
    let ring = Keyring::unlock(&store, mk(), vec![]).await.unwrap();
    let other = Keyring::unlock(&MemoryStore::new(), mk(), vec![])
        .await
        .unwrap();
    let (a, b) = (
        WorkspaceId::new("a").unwrap(),
        WorkspaceId::new("b").unwrap(),
    );
    assert_eq!(ring.lookup_hash(&a, "k"), ring.lookup_hash(&a, "k"));
    assert_ne!(ring.lookup_hash(&a, "k"), ring.lookup_hash(&b, "k"));
    assert_ne!(ring.lookup_hash(&a, "k"), other.lookup_hash(&a, "k"));
}

#[tokio::test]
async fn rewrap_moves_every_record_and_survives_an_interruption() {
    let store = MemoryStore::new();
    let (old, new) = (mk(), mk());
    let ring = Keyring::unlock(&store, old.clone(), vec![]).await.unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let mut recs = Vec::new();
    for i in 0..5 {
        recs.push(add(&store, &ring, &ws, &format!("secret-{i}")).await);
    }
    let next = ring.begin_rewrap(&store, new.clone()).await.unwrap();
    // Simulate a crash after two records: rewrap them by hand, then resume from a fresh unlock.
    for r in &recs[..2] {
        let mut moved = r.clone();
        moved.sealed = r
            .sealed
            .rewrap(old.as_ref(), new.as_ref(), binding(r))
            .await
            .unwrap();
        moved.kek_id = new.id().to_owned();
        next.update(
            &store,
            &moved,
            &AuditEvent::now(ws.clone(), r.id, AuditAction::Update, "t"),
        )
        .await
        .unwrap();
    }
    drop(next);
    // During the rewrap both keys open the vault.
    Keyring::unlock(&store, old.clone(), vec![]).await.unwrap();
    let resumed = Keyring::unlock(&store, new.clone(), vec![old.clone()])
        .await
        .unwrap();
    assert!(
        resumed
            .check(&store, None)
            .await
            .unwrap()
            .iter()
            .all(CheckOutcome::ok)
    );
    let mut seen = Vec::new();
    let report = resumed
        .finish_rewrap(&store, "test", |p| seen.push(p))
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!((report.progress.rewrapped, report.progress.already), (3, 2));
    assert_eq!(seen.len(), 5, "progress after every record");
    for r in store.list(&ws).await.unwrap() {
        assert_eq!(r.kek_id, new.id());
    }
    let only_new = Keyring::unlock(&store, new.clone(), vec![]).await.unwrap();
    for r in store.list(&ws).await.unwrap().iter() {
        assert!(
            only_new
                .open(r)
                .await
                .unwrap()
                .expose_secret()
                .starts_with("sk-proj-")
        );
    }
    assert_eq!(
        Keyring::unlock(&store, old, vec![]).await.unwrap_err(),
        StoreError::WrongMasterKey,
        "the old key is retired"
    );
    let rewraps = store
        .audit(&ws)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == AuditAction::Rewrap)
        .count();
    assert_eq!(rewraps, 3);
}

#[tokio::test]
async fn rewrap_reports_corrupt_records_and_keeps_both_keys() {
    let store = MemoryStore::new();
    let (old, new) = (mk(), mk());
    let ring = Keyring::unlock(&store, old.clone(), vec![]).await.unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let good = add(&store, &ring, &ws, "good").await;
    let mut bad = add(&store, &ring, &ws, "bad").await;
    let mut bytes = bad.sealed.as_bytes().to_vec();
    bytes[10] ^= 4;
    bad.sealed = SealedSecret::from_bytes(bytes);
    store
        .update(
            &bad,
            &AuditEvent::now(ws.clone(), bad.id, AuditAction::Update, "t"),
        )
        .await
        .unwrap();
    let next = ring.begin_rewrap(&store, new.clone()).await.unwrap();
    let report = next.finish_rewrap(&store, "test", |_| {}).await.unwrap();
    assert!(!report.complete);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].id, bad.id);
    assert_eq!(store.get(&ws, good.id).await.unwrap().kek_id, new.id());
    Keyring::unlock(&store, old, vec![])
        .await
        .expect("an incomplete rewrap keeps the old key valid");
    let checks = next.check(&store, Some(&ws)).await.unwrap();
    assert_eq!(checks.iter().filter(|c| !c.ok()).count(), 1);
}

#[tokio::test]
async fn a_stale_instance_is_caught_by_check_and_repaired_by_a_resumed_rewrap() {
    let store = MemoryStore::new();
    let (old, new) = (mk(), mk());
    let stale = Keyring::unlock(&store, old.clone(), vec![]).await.unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    add(&store, &stale, &ws, "before").await;
    let next = stale.begin_rewrap(&store, new.clone()).await.unwrap();
    assert!(
        next.finish_rewrap(&store, "a", |_| {})
            .await
            .unwrap()
            .complete
    );
    // An instance never restarted keeps sealing under the retired key.
    let late = add(&store, &stale, &ws, "late").await;
    let only_new = Keyring::unlock(&store, new.clone(), vec![]).await.unwrap();
    let failed: Vec<_> = only_new
        .check(&store, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| !c.ok())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].id, failed[0].error.as_ref().map(StoreError::code)),
        (late.id, Some("unknown_kek"))
    );
    let repair = Keyring::unlock(&store, new.clone(), vec![old])
        .await
        .unwrap();
    let report = repair.finish_rewrap(&store, "a", |_| {}).await.unwrap();
    assert_eq!((report.complete, report.progress.rewrapped), (true, 1));
    assert!(
        only_new
            .check(&store, None)
            .await
            .unwrap()
            .iter()
            .all(CheckOutcome::ok)
    );
}

#[tokio::test]
async fn readers_keep_working_during_a_rewrap() {
    let store = MemoryStore::new();
    let ring = Keyring::unlock(&store, mk(), vec![]).await.unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let a = add(&store, &ring, &ws, "a").await;
    let next = ring.begin_rewrap(&store, mk()).await.unwrap();
    let b = add(&store, &next, &ws, "b").await;
    // Half-way: `a` still under the old KEK, `b` under the new one; `next` opens both.
    assert_eq!(
        next.open(&store.get(&ws, a.id).await.unwrap())
            .await
            .unwrap()
            .expose_secret(),
        key_for("a")
    );
    assert_eq!(
        next.open(&store.get(&ws, b.id).await.unwrap())
            .await
            .unwrap()
            .expose_secret(),
        key_for("b")
    );
    assert_eq!(ring.open(&b).await.unwrap_err().code(), "unknown_kek");
}

/// The MAC covers every field but `last_used_at`, and `None` differs from an
/// empty value (the encoding is unambiguous).
#[tokio::test]
async fn the_record_mac_covers_every_field_but_last_use() {
    let store = MemoryStore::new();
    let ring = Keyring::unlock(&store, mk(), vec![]).await.unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let stored = add(&store, &ring, &ws, "mac").await;
    ring.authenticate(&stored).unwrap();
    type Change = Box<dyn Fn(&mut KeyRecord)>;
    let changes: Vec<(&str, Change)> = vec![
        ("id", Box::new(|r| r.id = KeyId::new())),
        (
            "workspace",
            Box::new(|r| r.workspace = WorkspaceId::new("x").unwrap()),
        ),
        ("provider", Box::new(|r| r.provider = Provider::Anthropic)),
        ("kind", Box::new(|r| r.kind = KeyKind::Admin)),
        ("label", Box::new(|r| r.label.push('!'))),
        ("role", Box::new(|r| r.role = crate::Role::Backup)),
        ("order", Box::new(|r| r.order += 1)),
        ("status", Box::new(|r| r.status = crate::Status::Disabled)),
        ("masked", Box::new(|r| r.masked.push('!'))),
        ("fingerprint", Box::new(|r| r.fingerprint.push('0'))),
        ("lookup_hash", Box::new(|r| r.lookup_hash.0[0] ^= 1)),
        (
            "created_at",
            Box::new(|r| r.created_at = jiff::Timestamp::UNIX_EPOCH),
        ),
        (
            "updated_at",
            Box::new(|r| r.updated_at = jiff::Timestamp::UNIX_EPOCH),
        ),
        (
            "last_verdict",
            Box::new(|r| r.last_verdict = Some(byok_keys::VerdictCode::NoCredits)),
        ),
        (
            "last_verdict_at",
            Box::new(|r| r.last_verdict_at = Some(now())),
        ),
        (
            "default_model",
            Box::new(|r| r.default_model = Some(String::new())),
        ),
        ("note", Box::new(|r| r.note = Some(String::new()))),
        ("version", Box::new(|r| r.version += 1)),
        ("kek_id", Box::new(|r| r.kek_id.push('x'))),
        (
            "sealed",
            Box::new(|r| {
                let mut b = r.sealed.as_bytes().to_vec();
                b[5] ^= 1;
                r.sealed = SealedSecret::from_bytes(b);
            }),
        ),
    ];
    for (field, change) in &changes {
        let mut r = stored.clone();
        change(&mut r);
        assert_eq!(
            ring.authenticate(&r).map_err(|e| e.code()),
            Err("tampered"),
            "{field} is covered"
        );
    }
    let mut used = stored.clone();
    used.last_used_at = Some(now());
    ring.authenticate(&used)
        .expect("last_used_at is not covered (mark_used changes it)");
    let other = Keyring::unlock(&MemoryStore::new(), mk(), vec![])
        .await
        .unwrap();
    assert_eq!(
        other.authenticate(&stored).unwrap_err().code(),
        "tampered",
        "another vault's keys do not vouch for this record"
    );
    assert_ne!(
        stored.mac.as_deref(),
        Some(&ring.lookup_key[..]),
        "the MAC key is derived, never the lookup key"
    );
}

/// An old vault in the middle of a rewrap (two KEKs listed): a keyring holding
/// only one cannot re-wrap the other's entry, so it back-fills nothing and
/// accepts records without a MAC; one holding both upgrades the vault.
#[tokio::test]
async fn an_old_vault_is_upgraded_only_by_a_keyring_holding_every_kek() {
    let store = MemoryStore::new();
    let (a, b) = (mk(), mk());
    let lookup = DataKey::generate().unwrap();
    let mut meta = VaultMeta::default();
    for k in [&a, &b] {
        let wrapped = k.wrap(&lookup, LOOKUP_AAD).await.unwrap();
        meta.keks
            .insert(k.id().to_owned(), STANDARD.encode(wrapped));
    }
    meta.current = Some(a.id().to_owned());
    meta.rewrap_to = Some(b.id().to_owned());
    assert!(meta.store(&store, None).await.unwrap());
    let old = Keyring::new(a.clone(), vec![], lookup.as_bytes(), false);
    let ws = WorkspaceId::new("w").unwrap();
    let key = byok_keys::ApiKey::parse(&key_for("old")).unwrap();
    let id = KeyId::new();
    let bind = Binding {
        workspace: &ws,
        id,
        provider: key.provider(),
    };
    let (kek_id, sealed) = old.seal(bind, key.expose_secret()).await.unwrap();
    let hash = old.lookup_hash(&ws, key.expose_secret());
    let record = KeyRecord::new(id, ws.clone(), &key, "l", hash, kek_id, sealed);
    let event = AuditEvent::now(ws.clone(), id, AuditAction::Add, "t");
    store.insert(&record, &event).await.unwrap();

    let partial = Keyring::unlock(&store, a.clone(), vec![]).await.unwrap();
    let stored = store.get(&ws, id).await.unwrap();
    assert_eq!(
        (stored.mac.as_deref(), stored.version),
        (None, 1),
        "nothing back-filled"
    );
    partial
        .open(&stored)
        .await
        .expect("an old vault not yet upgraded");
    assert_eq!(
        VaultMeta::load(&store).await.unwrap().0,
        meta,
        "metadata untouched"
    );

    let full = Keyring::unlock(&store, a, vec![b]).await.unwrap();
    let stored = store.get(&ws, id).await.unwrap();
    assert!(stored.mac.is_some());
    full.open(&stored).await.unwrap();
    let mut stripped = stored.clone();
    stripped.mac = None;
    assert_eq!(full.authenticate(&stripped).unwrap_err().code(), "tampered");
}

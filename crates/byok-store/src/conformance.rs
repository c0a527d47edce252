//! The `KeyStore` contract as runnable checks, for every backend — ours and yours
//! (feature `conformance`).
//!
//! Each check panics with a message naming the broken rule. Checks use fresh
//! random workspaces and metadata names, so they can run concurrently and
//! repeatedly against one shared database. The shape matches
//! `byok_guard::conformance`: [`run_all`] takes the backend as
//! `Arc<dyn KeyStore>`, each case takes `&dyn KeyStore` (a case that spawned
//! tasks would take the `Arc`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! byok_store::conformance::run_all(Arc::new(byok_store::MemoryStore::new())).await;
//! # });
//! ```
//!
//! ## Semver
//! The suite may gain cases in minor releases. A new case that fails against
//! your backend has found a bug in it (a rule of the contract it breaks), not
//! a breaking change in this crate; the signatures of existing cases change
//! only in a major release.

use std::sync::Arc;

use byok_keys::params::Params;
use byok_keys::{ApiKey, KeyKind, Provider, VerdictCode};
use secrecy::ExposeSecret;

use crate::audit::{AuditAction, AuditEvent, AuditQuery};
use crate::error::StoreError;
use crate::kek::{DataKey, MasterKey};
use crate::record::{KeyId, KeyRecord, LookupHash, Role, Status, WorkspaceId, now};
use crate::sealed::{Binding, SealedSecret};
use crate::store::{KeyStore, RetireOutcome};

/// Run every check below against `backend`.
pub async fn run_all(backend: Arc<dyn KeyStore>) {
    let backend = backend.as_ref();
    round_trip(backend).await;
    workspace_isolation(backend).await;
    duplicates(backend).await;
    optimistic_concurrency(backend).await;
    concurrent_updates_have_one_winner(backend).await;
    ordering_and_scan(backend).await;
    delete_and_mark_used(backend).await;
    mark_used_many(backend).await;
    audit_log(backend).await;
    metadata_compare_and_set(backend).await;
    tamper_and_swap_detection(backend).await;
    retire_keks_is_a_checked_compare_and_set(backend).await;
    params_round_trip(backend).await;
    recent_lists_see_the_stores_own_writes(backend).await;
}

/// A fresh workspace with a random name.
pub fn fresh_workspace() -> WorkspaceId {
    WorkspaceId::new(format!("conformance-{}", uuid::Uuid::now_v7())).expect("valid workspace")
}

fn random_hash() -> LookupHash {
    LookupHash(*DataKey::generate().expect("entropy").as_bytes())
}

/// A record with a really sealed secret, every optional field set.
pub async fn sample_record(
    kek: &MasterKey,
    workspace: &WorkspaceId,
    provider: Provider,
    secret: &str,
) -> KeyRecord {
    let id = KeyId::new();
    let sealed = SealedSecret::seal(
        kek,
        Binding {
            workspace,
            id,
            provider,
        },
        secret,
    )
    .await
    .expect("seal");
    let kind = match provider {
        Provider::Anthropic => KeyKind::Api,
        Provider::Google | Provider::AzureOpenAi => KeyKind::Standard,
        Provider::Bedrock => KeyKind::LongTerm,
        _ => KeyKind::Project,
    };
    // The clear fields of a real key of the provider; the sealed secret is `secret`.
    let key = ApiKey::parse_for(
        provider,
        &byok_keys::fake::key(provider, kind, id.as_uuid().as_u64_pair().1),
    )
    .expect("a fake key parses");
    let mut r = KeyRecord::new(
        id,
        workspace.clone(),
        &key,
        "label ✓ with unicode",
        random_hash(),
        kek_id(kek),
        sealed,
    );
    r.last_verdict = Some(VerdictCode::Valid);
    r.last_verdict_at = Some(now());
    r.default_model = Some("gpt-4o-mini".into());
    r.note = Some("note".into());
    r.params = sample_params(provider);
    r.mac = Some(random_hash().0.to_vec());
    r
}

/// Parameters for a sample record of `provider`: every one it has (Azure OpenAI
/// with an API version, Bedrock a region), `None` for a provider without any.
fn sample_params(provider: Provider) -> Option<Params> {
    let pairs: &[(&str, &str)] = match provider {
        Provider::AzureOpenAi => &[
            ("resource", "contoso-eu"),
            ("deployment", "gpt-4o-mini"),
            ("api_version", "2025-04-01-preview"),
        ],
        Provider::Bedrock => &[("region", "eu-central-1")],
        _ => return None,
    };
    Some(Params::new(provider, pairs.iter().copied()).expect("sample params are valid"))
}

/// The audit event that goes with a change to `record`.
pub fn event(record: &KeyRecord, action: AuditAction) -> AuditEvent {
    AuditEvent::now(record.workspace.clone(), record.id, action, "conformance")
}

fn kek_id(kek: &MasterKey) -> String {
    crate::kek::Kek::id(kek).to_owned()
}

/// What is stored is what comes back, through every read path.
pub async fn round_trip(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let mut rec = sample_record(&kek, &ws, Provider::OpenAi, "secret-round-trip").await;
    rec.role = Role::Backup;
    rec.order = 7;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    assert_eq!(
        backend.get(&ws, rec.id).await.expect("get"),
        rec,
        "get returns the inserted record"
    );
    assert_eq!(
        backend.list(&ws).await.expect("list"),
        vec![rec.clone()],
        "list returns it"
    );
    assert_eq!(
        backend
            .find_by_lookup(&ws, &rec.lookup_hash)
            .await
            .expect("find"),
        Some(rec.clone()),
        "find_by_lookup finds it"
    );
    assert_eq!(
        backend
            .find_by_lookup(&ws, &random_hash())
            .await
            .expect("find"),
        None
    );
    let mut minimal = sample_record(&kek, &ws, Provider::Google, "secret-2").await;
    minimal.last_verdict = None;
    minimal.last_verdict_at = None;
    minimal.default_model = None;
    minimal.note = None;
    minimal.mac = None;
    backend
        .insert(&minimal, &event(&minimal, AuditAction::Add))
        .await
        .expect("insert minimal");
    assert_eq!(
        backend.get(&ws, minimal.id).await.expect("get"),
        minimal,
        "None fields round-trip"
    );
    let got = backend.get(&ws, rec.id).await.expect("get");
    let opened = got
        .sealed
        .open(
            &kek,
            Binding {
                workspace: &ws,
                id: rec.id,
                provider: rec.provider,
            },
        )
        .await;
    assert_eq!(
        opened.expect("open").expose_secret(),
        "secret-round-trip",
        "sealed bytes round-trip"
    );
}

/// Key parameters come back as written through every read path, are changed
/// (and removed) by an update, and parameters checked for another provider than
/// the record's are refused (`invalid_input`) on insert and update.
pub async fn params_round_trip(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let azure = sample_record(&kek, &ws, Provider::AzureOpenAi, "secret-azure").await;
    let bedrock = sample_record(&kek, &ws, Provider::Bedrock, "secret-bedrock").await;
    let plain = sample_record(&kek, &ws, Provider::OpenAi, "secret-plain").await;
    assert!(azure.params.is_some() && bedrock.params.is_some() && plain.params.is_none());
    for rec in [&azure, &bedrock, &plain] {
        backend
            .insert(rec, &event(rec, AuditAction::Add))
            .await
            .expect("insert");
        assert_eq!(
            backend.get(&ws, rec.id).await.expect("get"),
            *rec,
            "{}: params round-trip through get",
            rec.provider
        );
        assert_eq!(
            backend
                .find_by_lookup(&ws, &rec.lookup_hash)
                .await
                .expect("find")
                .as_ref(),
            Some(rec),
            "{}: and find_by_lookup",
            rec.provider
        );
    }
    let mut listed = backend.list(&ws).await.expect("list");
    listed.sort_by_key(|r| r.id);
    let mut expected = vec![azure.clone(), bedrock.clone(), plain.clone()];
    expected.sort_by_key(|r| r.id);
    assert_eq!(listed, expected, "params round-trip through list");
    let scanned: Vec<KeyRecord> = backend
        .scan(None, usize::MAX / 2)
        .await
        .expect("scan")
        .into_iter()
        .filter(|r| r.workspace == ws)
        .collect();
    assert_eq!(scanned.len(), 3, "scan reads records with params");

    let mut next = bedrock.clone();
    next.params = Some(Params::new(Provider::Bedrock, [("region", "ap-south-1")]).expect("valid"));
    let stored = backend
        .update(&next, &event(&next, AuditAction::Update))
        .await
        .expect("update params");
    assert_eq!(backend.get(&ws, bedrock.id).await.expect("get"), stored);
    assert_eq!(
        stored.params.as_ref().and_then(|p| p.get("region")),
        Some("ap-south-1")
    );
    let mut cleared = stored.clone();
    cleared.params = None;
    let cleared = backend
        .update(&cleared, &event(&cleared, AuditAction::Update))
        .await
        .expect("update without params");
    assert_eq!(
        backend.get(&ws, bedrock.id).await.expect("get").params,
        None
    );

    // Parameters checked for another provider never reach the store.
    let mut wrong = sample_record(&kek, &ws, Provider::OpenAi, "secret-wrong").await;
    wrong.params = sample_params(Provider::Bedrock);
    assert_eq!(
        backend
            .insert(&wrong, &event(&wrong, AuditAction::Add))
            .await
            .map_err(|e| e.code()),
        Err("invalid_input"),
        "insert refuses another provider's params"
    );
    assert_eq!(
        backend.get(&ws, wrong.id).await.map_err(|e| e.code()),
        Err("not_found")
    );
    let mut wrong_update = cleared.clone();
    wrong_update.params = sample_params(Provider::AzureOpenAi);
    assert_eq!(
        backend
            .update(&wrong_update, &event(&wrong_update, AuditAction::Update))
            .await
            .map(drop)
            .map_err(|e| e.code()),
        Err("invalid_input"),
        "update refuses another provider's params"
    );
    assert_eq!(backend.get(&ws, bedrock.id).await.expect("get"), cleared);
}

/// Another workspace's record is indistinguishable from a missing one.
pub async fn workspace_isolation(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let (a, b) = (fresh_workspace(), fresh_workspace());
    let rec = sample_record(&kek, &a, Provider::OpenAi, "isolated").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    let nf = |r: Result<(), StoreError>, what: &str| {
        assert_eq!(
            r.map_err(|e| e.code()),
            Err("not_found"),
            "{what} across workspaces must be not_found"
        );
    };
    nf(backend.get(&b, rec.id).await.map(|_| ()), "get");
    let mut moved = rec.clone();
    moved.workspace = b.clone();
    nf(
        backend
            .update(&moved, &event(&moved, AuditAction::Update))
            .await
            .map(|_| ()),
        "update",
    );
    nf(
        backend
            .delete(&b, rec.id, &event(&moved, AuditAction::Delete))
            .await,
        "delete",
    );
    nf(
        backend
            .mark_used(&b, rec.id, &event(&moved, AuditAction::Use))
            .await,
        "mark_used",
    );
    assert!(
        backend.audit(&b).await.expect("audit").is_empty(),
        "refused changes append no audit event"
    );
    assert!(
        backend.list(&b).await.expect("list").is_empty(),
        "list shows only the workspace's records"
    );
    assert_eq!(
        backend
            .find_by_lookup(&b, &rec.lookup_hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        backend.get(&a, rec.id).await.expect("still there"),
        rec,
        "nothing changed in the owner workspace"
    );
    let mut same_hash = sample_record(&kek, &b, Provider::OpenAi, "isolated").await;
    same_hash.lookup_hash = rec.lookup_hash;
    backend
        .insert(&same_hash, &event(&same_hash, AuditAction::Add))
        .await
        .expect("the same lookup hash may exist in another workspace");
}

/// Ids and lookup hashes are unique (per workspace for hashes).
pub async fn duplicates(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let rec = sample_record(&kek, &ws, Provider::OpenAi, "dup").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    let err = backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect_err("same id twice");
    assert_eq!(err.code(), "duplicate");
    let mut same_hash = sample_record(&kek, &ws, Provider::OpenAi, "dup").await;
    same_hash.lookup_hash = rec.lookup_hash;
    let err = backend
        .insert(&same_hash, &event(&same_hash, AuditAction::Add))
        .await
        .expect_err("same lookup hash in one workspace");
    assert_eq!(
        err,
        StoreError::Duplicate {
            existing: rec.id.to_string()
        }
    );
    let other = sample_record(&kek, &ws, Provider::OpenAi, "other").await;
    backend
        .insert(&other, &event(&other, AuditAction::Add))
        .await
        .expect("insert other");
    let mut clash = other.clone();
    clash.lookup_hash = rec.lookup_hash;
    let err = backend
        .update(&clash, &event(&clash, AuditAction::Update))
        .await
        .expect_err("update onto a taken lookup hash");
    assert_eq!(err.code(), "duplicate");
    assert_eq!(
        backend.get(&ws, other.id).await.expect("get"),
        other,
        "a refused update changes nothing"
    );
}

/// A stale update is a conflict, never a lost update.
pub async fn optimistic_concurrency(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let rec = sample_record(&kek, &ws, Provider::Anthropic, "occ").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    let mut first = rec.clone();
    first.label = "first".into();
    let stored = backend
        .update(&first, &event(&first, AuditAction::Update))
        .await
        .expect("update from version 1");
    assert_eq!(stored.version, 2, "update bumps the version");
    assert_eq!(backend.get(&ws, rec.id).await.expect("get"), stored);
    let mut stale = rec.clone();
    stale.label = "stale".into();
    let err = backend
        .update(&stale, &event(&stale, AuditAction::Update))
        .await
        .expect_err("stale update");
    assert_eq!(
        err,
        StoreError::Conflict {
            id: rec.id.to_string(),
            expected: 1
        }
    );
    assert_eq!(
        backend.get(&ws, rec.id).await.expect("get").label,
        "first",
        "the stale write is not applied"
    );
    let actions: Vec<AuditAction> = backend
        .audit(&ws)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [AuditAction::Add, AuditAction::Update],
        "each change has its event; a refused one has none"
    );
}

/// Two updates racing from the same version: exactly one wins.
pub async fn concurrent_updates_have_one_winner(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let rec = sample_record(&kek, &ws, Provider::OpenAi, "race").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    for round in 0..5u64 {
        let base = backend.get(&ws, rec.id).await.expect("get");
        let (mut x, mut y) = (base.clone(), base.clone());
        x.label = format!("x{round}");
        y.label = format!("y{round}");
        let (rx, ry) = futures_join(
            backend.update(&x, &event(&x, AuditAction::Update)),
            backend.update(&y, &event(&y, AuditAction::Update)),
        )
        .await;
        let wins = [&rx, &ry].iter().filter(|r| r.is_ok()).count();
        let conflicts = [&rx, &ry]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
            .count();
        assert_eq!(
            (wins, conflicts),
            (1, 1),
            "one winner and one conflict, got {rx:?} / {ry:?}"
        );
        let after = backend.get(&ws, rec.id).await.expect("get");
        assert_eq!(after.version, base.version + 1);
        let winner = if rx.is_ok() { &x.label } else { &y.label };
        assert_eq!(&after.label, winner, "the stored record is the winner's");
    }
}

/// Polls two futures together on the current task (no runtime dependency).
async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    use core::pin::pin;
    use core::task::Poll;
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    core::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("ready"), rb.expect("ready"))
}

/// `list` puts primaries first, then backups by order; `scan` pages by id.
pub async fn ordering_and_scan(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let mut ids = Vec::new();
    for (role, order) in [(Role::Backup, 2), (Role::Primary, 0), (Role::Backup, 1)] {
        let mut r = sample_record(&kek, &ws, Provider::OpenAi, "order").await;
        r.role = role;
        r.order = order;
        backend
            .insert(&r, &event(&r, AuditAction::Add))
            .await
            .expect("insert");
        ids.push(r.id);
    }
    let listed: Vec<KeyId> = backend
        .list(&ws)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        listed,
        vec![ids[1], ids[2], ids[0]],
        "primary, then backups by order"
    );

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = backend.scan(after, 2).await.expect("scan");
        assert!(page.len() <= 2, "scan honours the limit");
        assert!(
            page.windows(2).all(|w| w[0].id < w[1].id),
            "scan is ordered by id"
        );
        if let (Some(a), Some(first)) = (after, page.first()) {
            assert!(first.id > a, "scan starts after `after`");
        }
        seen.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.id),
            _ => break,
        }
    }
    for id in &ids {
        assert!(
            seen.contains(id),
            "scan visits every record of every workspace"
        );
    }
}

/// Deleted records are gone; `mark_used` records the use without a new version.
pub async fn delete_and_mark_used(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let rec = sample_record(&kek, &ws, Provider::Google, "used").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    let used = event(&rec, AuditAction::Use);
    let at = used.at;
    backend
        .mark_used(&ws, rec.id, &used)
        .await
        .expect("mark_used");
    let got = backend.get(&ws, rec.id).await.expect("get");
    assert_eq!(
        (got.last_used_at, got.version),
        (Some(at), 1),
        "mark_used sets the time, keeps the version"
    );
    let mut changed = got.clone();
    changed.status = Status::Revoked;
    backend
        .update(&changed, &event(&changed, AuditAction::Update))
        .await
        .expect("update after mark_used");
    backend
        .delete(&ws, rec.id, &event(&rec, AuditAction::Delete))
        .await
        .expect("delete");
    assert_eq!(
        backend.get(&ws, rec.id).await.expect_err("gone").code(),
        "not_found"
    );
    assert_eq!(
        backend
            .delete(&ws, rec.id, &event(&rec, AuditAction::Delete))
            .await
            .expect_err("gone")
            .code(),
        "not_found"
    );
    assert_eq!(
        backend
            .update(&changed, &event(&changed, AuditAction::Update))
            .await
            .expect_err("gone")
            .code(),
        "not_found"
    );
    assert_eq!(
        backend
            .find_by_lookup(&ws, &rec.lookup_hash)
            .await
            .expect("find"),
        None
    );
    let actions: Vec<AuditAction> = backend
        .audit(&ws)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.action)
        .collect();
    let expected = [
        AuditAction::Add,
        AuditAction::Use,
        AuditAction::Update,
        AuditAction::Delete,
    ];
    assert_eq!(
        actions, expected,
        "every successful change, and only those, appended its event"
    );
}

/// `mark_used_many` marks each key and appends each event in order, skips a
/// deleted key's mark (and its event), and marks nothing of another workspace.
pub async fn mark_used_many(backend: &dyn KeyStore) {
    use crate::store::UseMark;
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let other = fresh_workspace();
    let a = sample_record(&kek, &ws, Provider::OpenAi, "a").await;
    let b = sample_record(&kek, &ws, Provider::Anthropic, "b").await;
    let gone = sample_record(&kek, &ws, Provider::Google, "gone").await;
    for r in [&a, &b, &gone] {
        backend
            .insert(r, &event(r, AuditAction::Add))
            .await
            .expect("insert");
    }
    backend
        .delete(&ws, gone.id, &event(&gone, AuditAction::Delete))
        .await
        .expect("delete");
    let mark = |r: &KeyRecord, workspace: &WorkspaceId| {
        let mut e = event(r, AuditAction::Use);
        e.workspace = workspace.clone();
        UseMark {
            workspace: workspace.clone(),
            id: r.id,
            event: e,
        }
    };
    let marks = [
        mark(&a, &ws),
        mark(&gone, &ws),
        mark(&b, &ws),
        mark(&a, &ws),
        mark(&b, &other),
    ];
    backend
        .mark_used_many(&marks)
        .await
        .expect("mark_used_many");
    backend.mark_used_many(&[]).await.expect("nothing to mark");
    for (r, m) in [(&a, &marks[3]), (&b, &marks[2])] {
        let got = backend.get(&ws, r.id).await.expect("get");
        assert_eq!(
            (got.last_used_at, got.version),
            (Some(m.event.at), 1),
            "the last mark's time, the version kept"
        );
    }
    let uses: Vec<KeyId> = backend
        .audit(&ws)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == AuditAction::Use)
        .map(|e| e.key_id)
        .collect();
    assert_eq!(
        uses,
        [a.id, b.id, a.id],
        "each mark's event, in order; none for the deleted key"
    );
    assert!(
        backend.audit(&other).await.expect("audit").is_empty(),
        "another workspace's mark appends nothing"
    );
}

/// Audit events are appended and listed per workspace, oldest first.
pub async fn audit_log(backend: &dyn KeyStore) {
    let (a, b) = (fresh_workspace(), fresh_workspace());
    let id = KeyId::new();
    let events = [
        AuditAction::Add,
        AuditAction::Use,
        AuditAction::Rotate,
        AuditAction::Delete,
    ];
    let mut expected = Vec::new();
    for action in events {
        let e = AuditEvent::now(a.clone(), id, action, "conformance@test");
        backend.append_audit(&e).await.expect("append");
        expected.push(e);
    }
    backend
        .append_audit(&AuditEvent::now(
            b.clone(),
            KeyId::new(),
            AuditAction::Add,
            "other",
        ))
        .await
        .expect("append");
    assert_eq!(
        backend.audit(&a).await.expect("audit"),
        expected,
        "events come back in order, per workspace"
    );
    assert_eq!(backend.audit(&b).await.expect("audit").len(), 1);

    // Paged: the same events, in order, two at a time, with no page past the end.
    let mut paged = Vec::new();
    let mut query = AuditQuery::first(2);
    let mut pages = 0;
    loop {
        let page = backend.audit_page(&a, &query).await.expect("audit page");
        assert!(
            page.events.len() <= 2,
            "a page holds at most `limit` events"
        );
        pages += 1;
        let cursors: Vec<u64> = page.events.iter().map(|(seq, _)| *seq).collect();
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "cursors increase");
        paged.extend(page.events.into_iter().map(|(_, e)| e));
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    assert_eq!(paged, expected, "pages add up to the whole trail");
    assert_eq!(pages, 2, "four events in pages of two: no empty third page");
    // `since`: events at or after a time (the last two share the same or a later time).
    let since = expected[2].at;
    let late = backend
        .audit_page(&a, &AuditQuery::first(100).since(since))
        .await
        .expect("audit since");
    assert!(late.events.iter().all(|(_, e)| e.at >= since));
    assert!(late.events.iter().any(|(_, e)| e == &expected[3]));
    assert!(!late.events.iter().any(|(_, e)| e.at < since));
    assert_eq!(late.next, None);
    assert_eq!(
        backend
            .audit_page(&b, &AuditQuery::first(0))
            .await
            .expect("audit b")
            .events
            .len(),
        1,
        "a limit of 0 still reads one event"
    );
}

/// `swap_meta` is a compare-and-set.
pub async fn metadata_compare_and_set(backend: &dyn KeyStore) {
    let name = format!("conformance-{}", uuid::Uuid::now_v7());
    assert_eq!(backend.get_meta(&name).await.expect("get"), None);
    assert!(
        backend.swap_meta(&name, None, b"one").await.expect("swap"),
        "create when absent"
    );
    assert!(
        !backend.swap_meta(&name, None, b"two").await.expect("swap"),
        "absent expected but present"
    );
    assert!(
        !backend
            .swap_meta(&name, Some(b"zzz"), b"two")
            .await
            .expect("swap"),
        "wrong expected value"
    );
    assert_eq!(
        backend.get_meta(&name).await.expect("get").as_deref(),
        Some(&b"one"[..])
    );
    assert!(
        backend
            .swap_meta(&name, Some(b"one"), b"two")
            .await
            .expect("swap")
    );
    assert_eq!(
        backend.get_meta(&name).await.expect("get").as_deref(),
        Some(&b"two"[..])
    );
}

/// A flipped bit and swapped sealed values are detected per record; the rest stays readable.
pub async fn tamper_and_swap_detection(backend: &dyn KeyStore) {
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let mut recs = Vec::new();
    for i in 0..5 {
        let r = sample_record(&kek, &ws, Provider::OpenAi, &format!("tamper-secret-{i}")).await;
        backend
            .insert(&r, &event(&r, AuditAction::Add))
            .await
            .expect("insert");
        recs.push(r);
    }
    let mut flipped = recs[1].clone();
    let mut bytes = flipped.sealed.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    flipped.sealed = SealedSecret::from_bytes(bytes);
    backend
        .update(&flipped, &event(&flipped, AuditAction::Update))
        .await
        .expect("store flipped bytes");
    let (mut x, mut y) = (recs[2].clone(), recs[3].clone());
    core::mem::swap(&mut x.sealed, &mut y.sealed);
    backend
        .update(&x, &event(&x, AuditAction::Update))
        .await
        .expect("store swapped");
    backend
        .update(&y, &event(&y, AuditAction::Update))
        .await
        .expect("store swapped");

    for (i, r) in recs.iter().enumerate() {
        let got = backend.get(&ws, r.id).await.expect("get");
        let opened = got
            .sealed
            .open(
                &kek,
                Binding {
                    workspace: &ws,
                    id: r.id,
                    provider: r.provider,
                },
            )
            .await;
        if (1..=3).contains(&i) {
            assert_eq!(
                opened.expect_err("tampered"),
                StoreError::Corrupt {
                    id: r.id.to_string()
                }
            );
        } else {
            assert_eq!(
                opened.expect("untouched record opens").expose_secret(),
                format!("tamper-secret-{i}")
            );
        }
    }
}

/// `retire_keks` refuses while a record carries a retired KEK, and is a compare-and-set otherwise.
pub async fn retire_keks_is_a_checked_compare_and_set(backend: &dyn KeyStore) {
    let name = format!("conformance-{}", uuid::Uuid::now_v7());
    assert!(backend.swap_meta(&name, None, b"one").await.expect("swap"));
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let rec = sample_record(&kek, &ws, Provider::OpenAi, "retire").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    let retired = [
        rec.kek_id.clone(),
        format!("unused-{}", uuid::Uuid::now_v7()),
    ];
    assert_eq!(
        backend
            .retire_keks(&name, b"one", b"two", &retired)
            .await
            .expect("retire"),
        RetireOutcome::InUse { records: 1 },
        "a record still carries the KEK"
    );
    assert_eq!(
        backend.get_meta(&name).await.expect("get").as_deref(),
        Some(&b"one"[..]),
        "a refused retirement changes nothing"
    );
    backend
        .delete(&ws, rec.id, &event(&rec, AuditAction::Delete))
        .await
        .expect("delete");
    assert_eq!(
        backend
            .retire_keks(&name, b"stale", b"two", &retired)
            .await
            .expect("retire"),
        RetireOutcome::MetaChanged
    );
    assert_eq!(
        backend
            .retire_keks(&name, b"one", b"two", &retired)
            .await
            .expect("retire"),
        RetireOutcome::Retired
    );
    assert_eq!(
        backend.get_meta(&name).await.expect("get").as_deref(),
        Some(&b"two"[..])
    );
}

/// Writes one record per call (an add or a rotation), as `byok::Vault` does:
/// sealed for the vault's state now, then settled after the write.
struct Writer<'a> {
    store: &'a dyn KeyStore,
    ring: crate::Keyring,
    ws: WorkspaceId,
    name: &'static str,
    ids: Vec<KeyId>,
    refused: u64,
    /// Written under a KEK retired meanwhile, and reported so by `after_write`.
    stranded: Vec<KeyId>,
}

impl Writer<'_> {
    async fn write(&mut self, i: u64) {
        let secret = format!("conformance-rewrap-{}-{i}", self.name);
        let rotate = i % 2 == 1 && !self.ids.is_empty();
        let mut record = if rotate {
            let id = self.ids[(i as usize / 2) % self.ids.len()];
            self.store.get(&self.ws, id).await.expect("get")
        } else {
            sample_record(
                &MasterKey::generate().expect("key"),
                &self.ws,
                Provider::OpenAi,
                "x",
            )
            .await
        };
        let bind = Binding {
            workspace: &self.ws,
            id: record.id,
            provider: record.provider,
        };
        let (kek_id, sealed) = match self.ring.seal_for(self.store, bind, &secret).await {
            Ok(v) => v,
            Err(StoreError::WrongMasterKey) => {
                self.refused += 1;
                return;
            }
            Err(e) => panic!("seal_for: {e}"),
        };
        record.kek_id = kek_id;
        record.sealed = sealed;
        record.lookup_hash = self.ring.lookup_hash(&self.ws, &secret);
        let stored = if rotate {
            match self
                .ring
                .update(self.store, &record, &event(&record, AuditAction::Rotate))
                .await
            {
                Ok(stored) => stored,
                Err(StoreError::Conflict { .. }) => return,
                Err(e) => panic!("rotate: {e}"),
            }
        } else {
            let stored = self
                .ring
                .insert(self.store, &record, &event(&record, AuditAction::Add))
                .await
                .expect("insert");
            self.ids.push(record.id);
            stored
        };
        match self
            .ring
            .after_write(self.store, &stored, "conformance")
            .await
        {
            Ok(()) => {}
            Err(StoreError::UnknownKek { .. }) => self.stranded.push(stored.id),
            Err(e) => panic!("after_write: {e}"),
        }
    }

    async fn run(&mut self, writes: u64) {
        for i in 0..writes {
            self.write(i).await;
            yield_now().await;
        }
    }
}

/// Lets the other futures of a join run.
async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            core::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            core::task::Poll::Pending
        }
    })
    .await;
}

/// An online rewrap with processes adding and rotating keys all the while never
/// strands a record: every record stays under a KEK the vault still accepts,
/// and a rewrap that reports `complete` left none under the old one.
///
/// One writer holds both keys, the old one current (as an operator deploys them
/// before a rotation), and must end up entirely under the new key; a second one
/// (when `with_old_only`) holds only the old key, as an instance not yet
/// redeployed: its writes are moved, kept under a still-accepted old key
/// (`complete: false`), or refused once the old key is retired.
///
/// Uses the vault metadata of `store`: give it a store of its own (a fresh
/// file or database), not one shared with other tests.
pub async fn rewrap_with_concurrent_writers(backend: &dyn KeyStore, with_old_only: bool) {
    use std::sync::Arc;
    let old: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let new: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let admin = crate::Keyring::unlock(backend, old.clone(), vec![])
        .await
        .expect("unlock");
    let ws = fresh_workspace();
    let mut both = Writer {
        store: backend,
        ring: crate::Keyring::unlock(backend, old.clone(), vec![new.clone()])
            .await
            .expect("unlock with both keys"),
        ws: ws.clone(),
        name: "both",
        ids: Vec::new(),
        refused: 0,
        stranded: Vec::new(),
    };
    let mut old_only = Writer {
        store: backend,
        ring: admin.clone(),
        ws: ws.clone(),
        name: "old",
        ids: Vec::new(),
        refused: 0,
        stranded: Vec::new(),
    };
    both.run(10).await;
    old_only.run(if with_old_only { 10 } else { 0 }).await;
    let rewrap = async {
        let next = admin
            .begin_rewrap(backend, new.clone())
            .await
            .expect("begin");
        next.finish_rewrap(backend, "conformance", |_| {})
            .await
            .expect("finish")
    };
    let writers = async {
        futures_join(both.run(60), async {
            if with_old_only {
                old_only.run(60).await;
            }
        })
        .await
    };
    let (report, _) = futures_join(rewrap, writers).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let (meta, _) = crate::meta::VaultMeta::load(backend).await.expect("meta");
    let mut after = None;
    let mut records = Vec::new();
    loop {
        let page = backend.scan(after, 256).await.expect("scan");
        records.extend(page.iter().filter(|r| r.workspace == ws).cloned());
        match page.last() {
            Some(last) if page.len() == 256 => after = Some(last.id),
            _ => break,
        }
    }
    assert!(
        both.stranded.is_empty(),
        "a writer with the new key strands nothing"
    );
    for r in &records {
        assert!(
            meta.keks.contains_key(&r.kek_id) || old_only.stranded.contains(&r.id),
            "record {} is sealed under {}, which the vault no longer accepts, and its writer was not told (complete: {})",
            r.id,
            r.kek_id,
            report.complete
        );
    }
    if !old_only.stranded.is_empty() {
        // What the error tells the operator: resume with the old key as previous.
        let resumed = crate::Keyring::unlock(backend, new.clone(), vec![old.clone()])
            .await
            .expect("unlock to resume");
        let again = resumed
            .finish_rewrap(backend, "conformance", |_| {})
            .await
            .expect("resume");
        assert!(again.complete, "{again:?}");
        records.clear();
        let mut after = None;
        loop {
            let page = backend.scan(after, 256).await.expect("scan");
            records.extend(page.iter().filter(|r| r.workspace == ws).cloned());
            match page.last() {
                Some(last) if page.len() == 256 => after = Some(last.id),
                _ => break,
            }
        }
        for r in &records {
            assert_eq!(r.kek_id, new.id(), "the resumed rewrap moved every record");
        }
        return;
    }
    assert_eq!(
        report.complete,
        !meta.keks.contains_key(old.id()),
        "complete exactly when the old KEK was retired"
    );
    if !with_old_only {
        assert!(
            report.complete,
            "writers holding the new key seal under it: nothing is left behind ({report:?})"
        );
    }
    if report.complete {
        let only_new = crate::Keyring::unlock(backend, new.clone(), vec![])
            .await
            .expect("the new key opens the vault");
        for r in &records {
            assert_eq!(r.kek_id, new.id());
            only_new.open(r).await.expect("opens under the new key");
        }
    }
}

/// A stored record for a real (fake) key, written through `ring` with its MAC:
/// its clear fields match its secret, so `check` passes it.
async fn add_real(
    backend: &dyn KeyStore,
    ring: &crate::Keyring,
    ws: &WorkspaceId,
    seed: u64,
) -> KeyRecord {
    let record = real_record(backend, ring, ws, seed).await;
    ring.insert(backend, &record, &event(&record, AuditAction::Add))
        .await
        .expect("insert")
}

/// A new record for the (fake) key of `seed`, sealed and hashed by `ring` for
/// the vault in `backend`, not yet written (so without a MAC): its clear fields
/// match its secret, so once written with [`crate::Keyring::insert`] it passes
/// `check`.
pub async fn real_record(
    backend: &dyn KeyStore,
    ring: &crate::Keyring,
    ws: &WorkspaceId,
    seed: u64,
) -> KeyRecord {
    let key = ApiKey::parse(&byok_keys::fake::key(
        Provider::OpenAi,
        KeyKind::Project,
        seed,
    ))
    .expect("a fake key parses");
    sealed_record(backend, ring, ws, &key, "real").await
}

/// A new record of `key` labelled `label`, its secret sealed by `ring` as a vault
/// seals it (not yet inserted).
async fn sealed_record(
    backend: &dyn KeyStore,
    ring: &crate::Keyring,
    ws: &WorkspaceId,
    key: &ApiKey,
    label: &str,
) -> KeyRecord {
    let id = KeyId::new();
    let bind = Binding {
        workspace: ws,
        id,
        provider: key.provider(),
    };
    let (kek_id, sealed) = ring
        .seal_for(backend, bind, key.expose_secret())
        .await
        .expect("seal");
    let hash = ring.lookup_hash(ws, key.expose_secret());
    KeyRecord::new(id, ws.clone(), key, label, hash, kek_id, sealed)
}

/// The error code of `check` for record `id`, `None` when it passed.
async fn check_code(
    backend: &dyn KeyStore,
    ring: &crate::Keyring,
    ws: &WorkspaceId,
    id: KeyId,
) -> Option<&'static str> {
    ring.check(backend, Some(ws))
        .await
        .expect("check")
        .into_iter()
        .find(|o| o.id == id)
        .expect("checked")
        .error
        .map(|e| e.code())
}

/// A change made to a row behind the keyring's back.
type Alteration = fn(&mut KeyRecord);

/// Record MACs catch rows altered with write access to the store alone: a
/// revoked key made active again, a changed role, order, kind, mask or label,
/// a MAC removed. Each is `tampered` on open (what selecting a key uses), in
/// `check`, and for `Keyring::update` (which never re-authenticates an altered
/// row); a rewrap refuses to move it. `mark_used` keeps the MAC valid.
///
/// Uses the vault metadata of `backend`: give it a store of its own.
pub async fn record_macs_catch_altered_rows(backend: &dyn KeyStore) {
    use std::sync::Arc;
    let kek: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let ring = crate::Keyring::unlock(backend, kek.clone(), vec![])
        .await
        .expect("unlock");
    let ws = fresh_workspace();
    let untouched = add_real(backend, &ring, &ws, 1000).await;
    let revoked = add_real(backend, &ring, &ws, 1001).await;
    let mut next = revoked.clone();
    next.status = Status::Revoked;
    ring.update(backend, &next, &event(&next, AuditAction::Revoke))
        .await
        .expect("revoke through the keyring");
    backend
        .mark_used(&ws, untouched.id, &event(&untouched, AuditAction::Use))
        .await
        .expect("mark_used");
    let alterations: [(&str, Alteration); 7] = [
        ("un-revoked", |r| r.status = Status::Active),
        ("role", |r| r.role = Role::Backup),
        ("order", |r| r.order = 9),
        ("kind", |r| r.kind = KeyKind::Admin),
        ("masked", |r| r.masked = "sk-proj-…Q8xA".into()),
        ("label", |r| r.label = "renamed".into()),
        ("mac removed", |r| r.mac = None),
    ];
    let mut altered = Vec::new();
    for (seed, (what, alter)) in (2000..).zip(alterations) {
        let id = if what == "un-revoked" {
            revoked.id
        } else {
            add_real(backend, &ring, &ws, seed).await.id
        };
        let mut row = backend.get(&ws, id).await.expect("get");
        alter(&mut row);
        // A write that bypasses the keyring, as SQL access would: the old MAC stays.
        let row = backend
            .update(&row, &event(&row, AuditAction::Update))
            .await
            .expect("raw update");
        let stored = backend.get(&ws, id).await.expect("get");
        assert_eq!(stored, row);
        assert_eq!(
            ring.open(&stored).await.map(drop).map_err(|e| e.code()),
            Err("tampered"),
            "{what}: refused on open"
        );
        assert_eq!(
            check_code(backend, &ring, &ws, id).await,
            Some("tampered"),
            "{what}: check"
        );
        let mut edit = stored.clone();
        edit.note = Some("edited".into());
        assert_eq!(
            ring.update(backend, &edit, &event(&edit, AuditAction::Update))
                .await
                .map(drop)
                .map_err(|e| e.code()),
            Err("tampered"),
            "{what}: an update never gives an altered row a fresh MAC"
        );
        altered.push(id);
    }
    let used = backend.get(&ws, untouched.id).await.expect("get");
    assert!(used.last_used_at.is_some());
    ring.open(&used).await.expect("a use keeps the MAC valid");
    assert_eq!(check_code(backend, &ring, &ws, untouched.id).await, None);
    let revoked_ok = crate::Keyring::unlock(backend, kek, vec![])
        .await
        .expect("unlock again");
    assert_eq!(
        revoked_ok
            .open(&backend.get(&ws, revoked.id).await.expect("get"))
            .await
            .map(drop)
            .map_err(|e| e.code()),
        Err("tampered"),
        "a fresh unlock still refuses the un-revoked row"
    );

    // A rewrap moves the intact record (with a fresh MAC) and refuses the others.
    let new: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let moved = ring.begin_rewrap(backend, new).await.expect("begin");
    let report = moved
        .finish_rewrap(backend, "conformance", |_| {})
        .await
        .expect("finish");
    assert!(!report.complete);
    let mut failed: Vec<(KeyId, &str)> = report
        .failures
        .iter()
        .map(|f| (f.id, f.error.as_ref().map_or("ok", StoreError::code)))
        .collect();
    failed.sort();
    let mut expected: Vec<(KeyId, &str)> = altered.iter().map(|id| (*id, "tampered")).collect();
    expected.sort();
    assert_eq!(
        failed, expected,
        "every altered row, and only those, is refused"
    );
    let intact = backend.get(&ws, untouched.id).await.expect("get");
    assert_eq!(intact.kek_id, moved.current().id());
    moved
        .open(&intact)
        .await
        .expect("re-wrapped with a fresh MAC");
}

/// The record MAC covers key parameters: a region changed, parameters added to a
/// record written without, or removed from one written with them, with write
/// access to the store alone, is `tampered` on open and in `check`; a change
/// through the keyring gets a fresh MAC. A record without parameters verifies
/// as before.
///
/// Uses the vault metadata of `backend`: give it a store of its own.
pub async fn record_macs_cover_params(backend: &dyn KeyStore) {
    use std::sync::Arc;
    let kek: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let ring = crate::Keyring::unlock(backend, kek, vec![])
        .await
        .expect("unlock");
    let ws = fresh_workspace();
    let region = |r: &str| Some(Params::new(Provider::Bedrock, [("region", r)]).expect("valid"));
    let add_bedrock = |seed: u64, params: Option<Params>| {
        let ring = &ring;
        let ws = &ws;
        async move {
            let key = ApiKey::parse_for(
                Provider::Bedrock,
                &byok_keys::fake::key(Provider::Bedrock, KeyKind::LongTerm, seed),
            )
            .expect("a fake key parses");
            let mut record = sealed_record(backend, ring, ws, &key, "bedrock").await;
            record.params = params;
            ring.insert(backend, &record, &event(&record, AuditAction::Add))
                .await
                .expect("insert")
        }
    };
    let with = add_bedrock(3000, region("us-east-1")).await;
    ring.open(&with)
        .await
        .expect("a record with params verifies");
    let without = add_bedrock(3001, None).await;
    ring.open(&without)
        .await
        .expect("a record without params verifies");

    // Through the keyring: a fresh MAC.
    let mut moved = with.clone();
    moved.params = region("eu-west-1");
    let moved = ring
        .update(backend, &moved, &event(&moved, AuditAction::Update))
        .await
        .expect("update through the keyring");
    ring.open(&backend.get(&ws, moved.id).await.expect("get"))
        .await
        .expect("params changed through the keyring verify");

    let changed = moved.clone();
    let added = without.clone();
    let removed = add_bedrock(3002, region("us-west-2")).await;
    let alterations: [(&str, KeyRecord, Option<Params>); 3] = [
        ("region changed", changed, region("us-east-1")),
        ("params added", added, region("us-east-1")),
        ("params removed", removed, None),
    ];
    for (what, record, params) in alterations {
        let mut row = backend.get(&ws, record.id).await.expect("get");
        row.params = params;
        let row = backend
            .update(&row, &event(&row, AuditAction::Update))
            .await
            .expect("raw update");
        assert_eq!(
            ring.open(&row).await.map(drop).map_err(|e| e.code()),
            Err("tampered"),
            "{what}: refused on open"
        );
        assert_eq!(
            check_code(backend, &ring, &ws, row.id).await,
            Some("tampered"),
            "{what}: check"
        );
    }
}

/// A vault written before record MACs (records without one, metadata of the
/// old form) gets a MAC for every record when a keyring holding every KEK it
/// lists unlocks it, and is marked so in its metadata in the same step; from
/// then on a record without a MAC (set back to none with write access alone)
/// is `tampered`, and the old form of the metadata cannot be restored without
/// the master key.
///
/// Uses the vault metadata of `backend`: give it a store of its own.
pub async fn old_vaults_get_record_macs_on_unlock(backend: &dyn KeyStore) {
    use base64::Engine as _;
    use std::sync::Arc;
    let kek: Arc<dyn crate::Kek> = Arc::new(MasterKey::generate().expect("key"));
    let lookup = DataKey::generate().expect("entropy");
    // What an older byok wrote: the lookup key under the old AAD, no MACs.
    let old = crate::Keyring::new(kek.clone(), vec![], lookup.as_bytes(), false);
    let mut meta = crate::meta::VaultMeta::default();
    let wrapped = kek
        .wrap(&lookup, crate::keyring::LOOKUP_AAD)
        .await
        .expect("wrap");
    meta.keks.insert(
        kek.id().to_owned(),
        base64::engine::general_purpose::STANDARD.encode(wrapped),
    );
    meta.current = Some(kek.id().to_owned());
    assert!(
        meta.store(backend, None).await.expect("meta"),
        "a fresh store"
    );
    let ws = fresh_workspace();
    let mut ids = Vec::new();
    for seed in 0..3 {
        let r = real_record(backend, &old, &ws, 3000 + seed).await;
        backend
            .insert(&r, &event(&r, AuditAction::Add))
            .await
            .expect("insert");
        ids.push(r.id);
    }
    for id in &ids {
        assert_eq!(backend.get(&ws, *id).await.expect("get").mac, None);
        old.open(&backend.get(&ws, *id).await.expect("get"))
            .await
            .expect("an old vault accepts records without a MAC");
    }

    let ring = crate::Keyring::unlock(backend, kek.clone(), vec![])
        .await
        .expect("unlock upgrades");
    for id in &ids {
        let r = backend.get(&ws, *id).await.expect("get");
        assert!(r.mac.is_some(), "every record got its MAC");
        assert_eq!(r.version, 2, "written as an update");
        ring.open(&r).await.expect("and opens");
    }
    assert!(
        ring.check(backend, Some(&ws))
            .await
            .expect("check")
            .iter()
            .all(crate::CheckOutcome::ok)
    );
    let upgrades = backend
        .audit(&ws)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == AuditAction::Update && e.actor == "byok:record-mac")
        .count();
    assert_eq!(upgrades, ids.len(), "one audit event per record");
    let (after, _) = crate::meta::VaultMeta::load(backend).await.expect("meta");
    let entry = base64::engine::general_purpose::STANDARD
        .decode(&after.keks[kek.id()])
        .expect("base64");
    assert!(
        kek.unwrap(&entry, crate::keyring::LOOKUP_AAD)
            .await
            .expect("unwrap")
            .is_none(),
        "the metadata no longer has the old form"
    );
    // Works as any vault: add, edit, open.
    let added = add_real(backend, &ring, &ws, 3100).await;
    ring.open(&added).await.expect("a new record opens");

    // A MAC removed afterwards is tampering, for this keyring and a fresh one.
    let mut stripped = backend.get(&ws, ids[0]).await.expect("get");
    stripped.mac = None;
    backend
        .update(&stripped, &event(&stripped, AuditAction::Update))
        .await
        .expect("raw update");
    let stripped = backend.get(&ws, ids[0]).await.expect("get");
    let again = crate::Keyring::unlock(backend, kek, vec![])
        .await
        .expect("unlock");
    for r in [&ring, &again] {
        assert_eq!(
            r.open(&stripped).await.map(drop).map_err(|e| e.code()),
            Err("tampered")
        );
        assert_eq!(check_code(backend, r, &ws, ids[0]).await, Some("tampered"));
    }
    assert_eq!(
        backend.get(&ws, ids[0]).await.expect("get").mac,
        None,
        "unlocking an upgraded vault back-fills nothing"
    );
}

/// `list_recent` with any `max_age` answers what `list` does once this store
/// object has changed a record: an insert, an update or a delete through it is
/// seen at once, never an older kept list.
pub async fn recent_lists_see_the_stores_own_writes(backend: &dyn KeyStore) {
    let long = std::time::Duration::from_secs(3600);
    let kek = MasterKey::generate().expect("key");
    let ws = fresh_workspace();
    let ids = |l: &[KeyRecord]| l.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>();
    let recent = |ws: &WorkspaceId| {
        let ws = ws.clone();
        async move { backend.list_recent(&ws, long).await.expect("list_recent") }
    };
    assert!(recent(&ws).await.is_empty());
    let rec = sample_record(&kek, &ws, Provider::OpenAi, "listed").await;
    backend
        .insert(&rec, &event(&rec, AuditAction::Add))
        .await
        .expect("insert");
    assert_eq!(
        ids(&recent(&ws).await),
        ids(std::slice::from_ref(&rec)),
        "an insert is seen at once"
    );
    let mut changed = backend.get(&ws, rec.id).await.expect("get");
    changed.status = Status::Disabled;
    let changed = backend
        .update(&changed, &event(&changed, AuditAction::Disable))
        .await
        .expect("update");
    assert_eq!(
        ids(&recent(&ws).await),
        ids(std::slice::from_ref(&changed)),
        "an update is seen at once"
    );
    assert_eq!(
        *backend
            .list_recent(&ws, std::time::Duration::ZERO)
            .await
            .expect("list_recent"),
        backend.list(&ws).await.expect("list"),
        "max_age zero reads what list reads"
    );
    backend
        .delete(&ws, rec.id, &event(&rec, AuditAction::Delete))
        .await
        .expect("delete");
    assert!(recent(&ws).await.is_empty(), "a delete is seen at once");
}

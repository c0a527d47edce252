//! The whole BYOK flow through `Vault` against mock providers: test on add,
//! refusal of invalid keys, select with fallback, outcomes reported back, the
//! Test button, and the guard tied to the chosen key.

use std::sync::Arc;

use byok::guard::{Admission, Budget, Guard, MemoryLedger, Period, Scope, Usd};
use byok::keys::{KeyKind, Provider, SecretString, fake};
use byok::select::CallOutcome;
use byok::store::{MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
use byok::verify::{Depth, Verdict, Verifier, VerifierConfig};
use byok::{NewKey, Vault, VaultError, VerifyPolicy};
use byok_testkit::{MockOpenAi, MockProvider, Scenario};

const QUOTA: &[u8] = br#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
const SLOW_DOWN: &[u8] = br#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;

fn secret(raw: &str) -> SecretString {
    SecretString::from(raw.to_owned())
}

async fn vault_with(mock: Option<&MockProvider>, guard: Option<Guard>) -> Vault {
    let mut b = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ));
    if let Some(m) = mock {
        b = b.verifier(
            Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &m.uri())).unwrap(),
        );
    }
    if let Some(g) = guard {
        b = b.guard(g);
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn add_tests_keys_refuses_invalid_ones_and_keeps_the_rest_with_their_verdict() {
    let invalid = fake::key(Provider::OpenAi, KeyKind::Project, 3);
    let mock = MockOpenAi::builder()
        .scenario_for_key(&invalid, Scenario::InvalidKey)
        .start()
        .await;
    let vault = vault_with(Some(&mock), None).await;
    let ws = WorkspaceId::new("acme").unwrap();

    let good = vault
        .add_with_report(NewKey::new(
            ws.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 1)),
            "prod",
        ))
        .await
        .unwrap();
    assert_eq!(
        good.key.last_verdict.map(byok::keys::VerdictCode::as_str),
        Some("valid")
    );
    assert!(good.key.last_verdict_at.is_some());
    assert_eq!(
        good.report.as_ref().unwrap().depth,
        Depth::Billing,
        "billing depth by default"
    );
    assert!(good.warning().is_none());

    let err = vault
        .add(NewKey::new(ws.clone(), secret(&invalid), "typo"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_rejected");
    let VaultError::KeyRejected { report } = &err else {
        unreachable!()
    };
    assert_eq!(report.verdict.code(), "invalid");
    assert!(
        !format!("{err} {err:?}").contains(&invalid[8..40]),
        "no key material in the error"
    );
    assert_eq!(
        vault.list(&ws).await.unwrap().len(),
        1,
        "the invalid key was not saved"
    );

    mock.set_scenario(Scenario::NoCredits);
    let broke = vault
        .add_with_report(NewKey::new(
            ws.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 2)),
            "broke",
        ))
        .await
        .unwrap();
    assert_eq!(
        broke.key.last_verdict.map(byok::keys::VerdictCode::as_str),
        Some("no_credits"),
        "kept, with its verdict"
    );
    assert!(broke.warning().unwrap().contains("credits"));
}

#[tokio::test]
async fn select_falls_back_and_report_benches_keys() {
    let mock = MockOpenAi::start().await;
    let vault = vault_with(Some(&mock), None).await;
    let ws = WorkspaceId::new("acme").unwrap();
    let primary = vault
        .add(NewKey::new(
            ws.clone(),
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 10)),
            "primary",
        ))
        .await
        .unwrap();
    let backup = vault
        .add(
            NewKey::new(
                ws.clone(),
                secret(&fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 11)),
                "backup",
            )
            .backup(1),
        )
        .await
        .unwrap();

    let lease = vault.select(&ws, Provider::OpenAi).await.unwrap();
    assert_eq!((lease.id(), lease.skipped().len()), (primary.id, 0));
    assert!(!format!("{lease:?}").contains(&lease.key().expose_secret()[10..40]));

    // The real call said "no credits": the primary is benched, the backup takes over.
    let verdict = vault
        .record_outcome(
            &lease,
            CallOutcome::HttpError {
                status: 429,
                body: QUOTA,
            },
        )
        .await
        .unwrap();
    assert_eq!(verdict.code(), "no_credits");
    let lease = vault.select(&ws, Provider::OpenAi).await.unwrap();
    assert_eq!(lease.id(), backup.id);
    assert_eq!(lease.skipped()[0].id, primary.id);
    assert_eq!(lease.skipped()[0].reason.code(), "last_verdict");

    // A rate limit says nothing about the key: nothing changes.
    let verdict = vault
        .record_outcome(
            &lease,
            CallOutcome::HttpError {
                status: 429,
                body: SLOW_DOWN,
            },
        )
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::RateLimited { .. }));
    assert_eq!(
        vault.select(&ws, Provider::OpenAi).await.unwrap().id(),
        backup.id
    );

    // The backup is revoked at the provider: nothing usable is left, and the error says why for each.
    vault
        .record_outcome(
            &lease,
            CallOutcome::Verdict(Verdict::Invalid(byok::verify::InvalidReason::Unauthorized)),
        )
        .await
        .unwrap();
    let err = vault.select(&ws, Provider::OpenAi).await.unwrap_err();
    let VaultError::NoUsableKey { skipped, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(skipped.len(), 2);
    assert_eq!(err.code(), "no_usable_key");

    // Credits were added: the Test button records `valid` and the primary serves again.
    let report = vault.test(&ws, primary.id, Depth::Billing).await.unwrap();
    assert!(report.verdict.is_valid());
    assert_eq!(
        vault
            .show(&ws, primary.id)
            .await
            .unwrap()
            .last_verdict
            .map(byok::keys::VerdictCode::as_str),
        Some("valid")
    );
    let lease = vault.select(&ws, Provider::OpenAi).await.unwrap();
    assert_eq!((lease.id(), lease.skipped().len()), (primary.id, 0));

    // A success on a benched key clears its mark.
    assert_eq!(
        vault
            .record_outcome(&lease, CallOutcome::Success)
            .await
            .unwrap(),
        Verdict::Valid
    );
}

#[tokio::test]
async fn the_guard_counts_a_leased_key_against_its_own_and_its_workspace_budgets() {
    let guard = Guard::new(Arc::new(MemoryLedger::new()));
    let vault = vault_with(None, Some(guard)).await;
    let ws = WorkspaceId::new("acme").unwrap();
    let view = vault
        .add(NewKey::new(
            ws.clone(),
            secret(&fake::key(Provider::Google, KeyKind::Auth, 20)),
            "gemini",
        ))
        .await
        .unwrap();
    assert_eq!(view.last_verdict, None, "no verifier: saved untested");
    let lease = vault.select(&ws, Provider::Google).await.unwrap();
    let guard = vault.guard().expect("configured");
    let key_scope = Scope::key(view.id);
    assert_eq!(
        lease.scopes(),
        vec![key_scope.clone(), Scope::workspace("acme")]
    );
    assert_eq!(
        lease.scopes_in("support-bot"),
        vec![
            key_scope.clone(),
            Scope::project("support-bot"),
            Scope::workspace("acme")
        ]
    );
    guard
        .set_budget(&Budget::new(
            key_scope.clone(),
            "0.01".parse::<Usd>().unwrap(),
            Period::Total,
        ))
        .await
        .unwrap();

    let ok = guard
        .reserve_amount(&lease.scopes(), "0.006".parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(ok, Admission::Reserved(_)));
    let no = guard
        .reserve_amount(&lease.scopes(), "0.006".parse().unwrap())
        .await
        .unwrap();
    let Admission::Denied(d) = no else {
        panic!("the key's budget must refuse")
    };
    assert_eq!(d.budget, key_scope);

    let err = vault.test(&ws, view.id, Depth::Auth).await.unwrap_err();
    assert_eq!(
        err.code(),
        "incomplete_builder",
        "the Test button needs a verifier"
    );
}

#[tokio::test]
async fn skip_policy_saves_without_calling_the_provider() {
    let mock = MockOpenAi::start().await;
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .verifier(
            Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &mock.uri()))
                .unwrap(),
        )
        .verify_policy(VerifyPolicy::Skip)
        .build()
        .await
        .unwrap();
    let ws = WorkspaceId::new("acme").unwrap();
    let added = vault
        .add_with_report(NewKey::new(
            ws,
            secret(&fake::key(Provider::OpenAi, KeyKind::Project, 30)),
            "offline import",
        ))
        .await
        .unwrap();
    assert!(added.report.is_none());
    assert_eq!(mock.requests().await.len(), 0, "no request was sent");
}

/// A revoked key made active again behind the vault's back (a raw store write
/// that keeps the old MAC, as SQL access would) is never leased: `select`
/// passes it over for the next key, `lease` and `check` say `tampered`.
#[tokio::test]
async fn a_key_un_revoked_behind_the_vaults_back_is_never_leased() {
    use byok::store::{AuditAction, AuditEvent, KeyStore, Status};
    let store = Arc::new(MemoryStore::new());
    let vault = Vault::builder()
        .store(store.clone())
        .master_key(MasterKeySource::Base64(
            MasterKey::generate().unwrap().to_base64(),
        ))
        .build()
        .await
        .unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let key = |seed| SecretString::from(fake::key(Provider::OpenAi, KeyKind::Project, seed));
    let primary = vault
        .add(NewKey::new(ws.clone(), key(501), "primary"))
        .await
        .unwrap();
    let backup = vault
        .add(NewKey::new(ws.clone(), key(502), "backup").backup(1))
        .await
        .unwrap();
    vault.revoke(&ws, primary.id).await.unwrap();
    let mut row = store.get(&ws, primary.id).await.unwrap();
    row.status = Status::Active;
    let event = AuditEvent::now(ws.clone(), row.id, AuditAction::Update, "attacker");
    store.update(&row, &event).await.unwrap();

    let lease = vault.select(&ws, Provider::OpenAi).await.unwrap();
    assert_eq!(lease.id(), backup.id, "the backup serves the call");
    let skipped: Vec<_> = lease
        .skipped()
        .iter()
        .map(|s| (s.id, s.reason.code()))
        .collect();
    assert_eq!(skipped, [(primary.id, "corrupt")]);
    let err = vault.with_key(&ws, primary.id, |_| ()).await.unwrap_err();
    assert_eq!(err.code(), "tampered");
    let checked = vault.check(Some(&ws)).await.unwrap();
    let codes: Vec<_> = checked
        .iter()
        .map(|o| (o.id, o.error.as_ref().map(|e| e.code())))
        .collect();
    assert!(codes.contains(&(primary.id, Some("tampered"))), "{codes:?}");
    assert!(codes.contains(&(backup.id, None)), "{codes:?}");
}

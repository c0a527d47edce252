//! The Vault flow on SQLite against the testkit's mock providers: `add` with and
//! without a verifier and for every verdict, `add_with_report`, the Test button,
//! `select` with every fallback and the `NoUsableKey` error, the `Lease`, `report`
//! with every `CallOutcome` (bodies that quote the key included), and the guard
//! tied to a lease; on PostgreSQL too, when a server is given. Everything shown,
//! logged, panicked, sent to a mock, written to disk or stored in a row is checked
//! for the canaries.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use byok::guard::{
    Actual, Admission, Budget, CallRequest, Guard, Label, Period, Prompt, Scope, SqliteLedger,
    Usage, Usd,
};
use byok::keys::spec::Auth;
use byok::keys::{KeyKind, Provider, SecretString};
use byok::select::{self, CallOutcome, SkipReason};
use byok::store::{KeyId, SqliteStore, WorkspaceId};
use byok::verify::{
    Depth, InvalidReason, NetworkErrorKind, NoCreditsReason, RestrictedReason, RetryPolicy,
    Verdict, Verifier, VerifierConfig,
};
use byok::{Added, Lease, NewKey, Purpose, Vault, VaultError, VerifyPolicy};
use byok_testkit::{
    CannedAnswer, EchoAnswer, MockBuilder, MockProvider, Scenario, echo_forms, echo_refusal,
};

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::vault::{assert_files_clean, error_surfaces, expect_error, master, rt};
use crate::{debugged, json, shown};

/// A mock of every provider, one server each, all in `Valid` until told otherwise.
struct Mocks(Vec<MockProvider>);

impl Mocks {
    async fn start() -> Mocks {
        let mut mocks = Vec::new();
        for provider in Provider::ALL {
            mocks.push(MockBuilder::new(provider).start().await);
        }
        Mocks(mocks)
    }

    fn of(&self, provider: Provider) -> &MockProvider {
        self.0
            .iter()
            .find(|m| m.provider() == provider)
            .expect("a mock per provider")
    }

    fn verifier(&self) -> Verifier {
        let mut config = VerifierConfig::default()
            // A hang is cut here: short, so the suite stays fast, yet long enough
            // for a real answer on a busy machine.
            .request_timeout(Duration::from_millis(500))
            .deadline(Duration::from_secs(3))
            .retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
                    .with_max_wait(Duration::from_millis(50))
                    .with_max_attempts(2),
            );
        for mock in &self.0 {
            config = config.base_url(mock.provider(), &mock.uri());
        }
        Verifier::new(config).expect("config")
    }

    /// Every request each mock received carries a canary only in the provider's
    /// auth header: never in the path, the query, the body or another header.
    async fn assert_requests_clean(&self, label: &str) -> usize {
        let mut seen = 0;
        for mock in &self.0 {
            let auth = auth_header(mock.provider());
            for r in mock.requests().await {
                seen += 1;
                let what = format!("{label}: {} {}", mock.provider(), r.path);
                assert_clean(&format!("{what}: path"), r.path.as_bytes());
                let query = r.query.as_deref().unwrap_or_default();
                assert_clean(&format!("{what}: query"), query.as_bytes());
                assert_clean(&format!("{what}: body"), &r.body);
                for (name, value) in &r.headers {
                    if !name.eq_ignore_ascii_case(auth) {
                        assert_clean(&format!("{what}: header {name}"), value.as_bytes());
                    }
                }
            }
        }
        seen
    }
}

/// The header `provider`'s key travels in, per its spec.
pub(crate) fn auth_header(provider: Provider) -> &'static str {
    match provider.spec().auth {
        Auth::Bearer => "authorization",
        Auth::Header(name) => name,
        // An auth scheme newer than this suite: no header is exempt from the search.
        _ => "",
    }
}

/// Whether `provider` issues admin keys (usage and cost sync), per its spec.
pub(crate) fn has_admin_keys(provider: Provider) -> bool {
    provider.spec().kinds.contains(&KeyKind::Admin)
}

/// [`open`] with `verifier` and no Test on add (the call canaries' vaults).
pub(crate) async fn open_at(dir: &Path, verifier: Verifier) -> (Vault, SqliteStore) {
    open_with(dir, Some(verifier), Some(VerifyPolicy::Skip)).await
}

/// A vault on the SQLite file at `path` with a verifier on `mocks` (or none) and a
/// guard on a SQLite ledger beside it; the store is returned so it can be closed.
async fn open(
    dir: &Path,
    mocks: Option<&Mocks>,
    policy: Option<VerifyPolicy>,
) -> (Vault, SqliteStore) {
    open_with(dir, mocks.map(Mocks::verifier), policy).await
}

async fn open_with(
    dir: &Path,
    verifier: Option<Verifier>,
    policy: Option<VerifyPolicy>,
) -> (Vault, SqliteStore) {
    std::fs::create_dir_all(dir).expect("a directory");
    let store = SqliteStore::open(&dir.join("vault.db"))
        .await
        .expect("a new store");
    let ledger = SqliteLedger::open(&format!("sqlite:{}", dir.join("ledger.db").display()))
        .await
        .expect("a new ledger");
    let mut builder = Vault::builder()
        .store(Arc::new(store.clone()))
        .master_key(master(1))
        .actor("canary")
        .guard(Guard::new(Arc::new(ledger)));
    if let Some(verifier) = verifier {
        builder = builder.verifier(verifier);
    }
    if let Some(policy) = policy {
        builder = builder.verify_policy(policy);
    }
    let shown = debugged(&builder);
    assert_clean("flow: the builder", shown.as_bytes());
    (builder.build().await.expect("a vault"), store)
}

pub(crate) fn ws(name: impl std::fmt::Display) -> WorkspaceId {
    WorkspaceId::new(name.to_string()).expect("a workspace id")
}

pub(crate) fn new_key(workspace: &WorkspaceId, raw: &str, label: &str) -> NewKey {
    // Pasted the messy way people paste.
    let new = NewKey::new(
        workspace.clone(),
        SecretString::from(format!(" \"Bearer {raw}\"\n")),
        label,
    );
    // The shapes that need their provider named (DeepSeek, Mistral, Azure, Cohere)
    // are added the way their UI does: with the provider chosen.
    let new = match shape_of(raw) {
        Some((provider, _)) if !provider.spec().context_keywords.is_empty() => {
            new.provider(provider)
        }
        _ => new,
    };
    with_params(new, raw)
}

/// `new` with the parameters its key's provider needs (read from the key as the
/// vault reads it): Azure OpenAI's resource and deployment, a long-term Bedrock
/// key's region (a short-term key's is in its token).
pub(crate) fn with_params(new: NewKey, raw: &str) -> NewKey {
    use byok::keys::params::Params;
    let Some((provider, kind)) = shape_of(raw) else {
        return new;
    };
    let pairs: &[(&str, &str)] = match (provider, kind) {
        (Provider::AzureOpenAi, _) => &[("resource", "canary-res"), ("deployment", "gpt-4o-mini")],
        (Provider::Bedrock, KeyKind::LongTerm) => &[("region", "us-east-1")],
        _ => return new,
    };
    new.params(Params::new(provider, pairs.iter().copied()).expect("valid params"))
}

/// The first non-admin canary key of `provider` from seed number `n`.
pub(crate) fn key_of(provider: Provider, n: usize) -> String {
    let kind = *provider
        .spec()
        .kinds
        .iter()
        .find(|k| **k != KeyKind::Admin)
        .expect("every provider has a non-admin shape");
    let raw = canary::key(provider, kind, n);
    // Else every check below would pass vacuously.
    assert!(
        canary::find_leak(raw.as_bytes()).is_some(),
        "a key the detector knows"
    );
    raw
}

/// The provider and kind of canary key `raw`: named shapes are not told apart by
/// their text alone (an Azure legacy key also fits Mistral's shape).
pub(crate) fn shape_of(raw: &str) -> Option<(Provider, KeyKind)> {
    use byok::keys::fake::{NAMED_SHAPES, SHAPES};
    (0..byok_testkit::canary::standard::SEEDS.len()).find_map(|n| {
        SHAPES
            .iter()
            .chain(&NAMED_SHAPES)
            .find(|&&(p, k)| canary::key(p, k, n) == raw)
            .copied()
    })
}

/// Everything an `Added` shows.
fn added_surfaces(added: &Added) -> String {
    let mut out = debugged(added) + &json(added);
    out += &format!("{:?}\n", added.warning());
    if let Some(r) = &added.report {
        out += &format!("{}\n{}\n", r.message(), r.remediation());
    }
    out
}

/// Everything an error from `add` shows, the rejected report's JSON included.
fn rejected_surfaces(e: &VaultError) -> String {
    let mut out = error_surfaces(e);
    if let VaultError::KeyRejected { report } = e {
        out += &(json(&**report) + &debugged(report));
        out += &format!("{}\n{}\n", report.message(), report.remediation());
    }
    out
}

/// Everything a lease shows: Debug (plain and `{:#?}`), its view, what it skipped,
/// its budget scopes, and the panic of a caller expecting an error instead.
fn lease_surfaces(lease: &Lease) -> String {
    let mut out = debugged(lease);
    assert!(
        out.contains(&lease.view().masked),
        "a lease's Debug names its key by the mask"
    );
    out += &(debugged(lease.view()) + &json(lease.view()));
    out += &(debugged(&lease.skipped()) + &json(&lease.skipped()));
    for s in lease.skipped() {
        out += &format!("{} {}\n", s.reason.code(), s.reason.message());
    }
    let scopes = lease.scopes();
    out += &(debugged(&scopes) + &json(&scopes));
    for s in &scopes {
        out += &format!("{s}\n");
    }
    out += &format!("{:?} {:?}\n", lease.id(), lease.key());
    out
}

/// `select`, checked through every surface, including a caller's failed `expect_err`.
async fn select(
    vault: &Vault,
    workspace: &WorkspaceId,
    provider: Provider,
    out: &mut String,
) -> Lease {
    *out += &unwrap_panic(vault.select(workspace, provider).await);
    let lease = vault
        .select(workspace, provider)
        .await
        .expect("a usable key");
    *out += &lease_surfaces(&lease);
    lease
}

fn verdict_surfaces(v: &Verdict) -> String {
    format!("{}{:?} {:?}\n", shown(v), v.code(), v.reason())
}

#[test]
fn add_and_test_every_verdict_of_every_provider() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    let mut codes = BTreeSet::new();
    rt().block_on(async {
        let mocks = Mocks::start().await;
        let (vault, store) = open(dir.path(), Some(&mocks), None).await;
        for provider in Provider::ALL {
            let raw = key_of(provider, 1);
            for (i, scenario) in Scenario::catalogue().into_iter().enumerate() {
                if !scenario.supported_by(provider) {
                    continue;
                }
                let mock = mocks.of(provider);
                // `add`: the view, or the refusal.
                mock.set_scenario(scenario.clone());
                let plain = ws(format!("add-{provider}-{i}"));
                match vault.add(new_key(&plain, &raw, "plain add")).await {
                    Ok(view) => out += &(debugged(&view) + &json(&view)),
                    Err(e) => {
                        assert_eq!(e.code(), "key_rejected", "{e}");
                        out += &rejected_surfaces(&e);
                    }
                }

                // `add_with_report`: the verdict decides, and is kept on the record.
                mock.set_scenario(scenario.clone());
                let reported = ws(format!("report-{provider}-{i}"));
                let result = vault
                    .add_with_report(new_key(&reported, &raw, "with report"))
                    .await;
                let saved = vault.list(&reported).await.expect("list");
                match &result {
                    Ok(added) => {
                        let report = added.report.as_ref().expect("tested before saving");
                        codes.insert(report.verdict.code());
                        assert_ne!(report.verdict.code(), "invalid", "{scenario:?}");
                        assert_eq!(
                            added.key.last_verdict,
                            Some(report.verdict.verdict_code()),
                            "{scenario:?}: the verdict is kept on the record"
                        );
                        assert_eq!(
                            added.warning().is_some(),
                            !report.verdict.is_valid(),
                            "{scenario:?}: a warning exactly when the key does not work now"
                        );
                        assert_eq!(saved.len(), 1);
                        out += &added_surfaces(added);
                    }
                    Err(e) => {
                        let VaultError::KeyRejected { report } = e else {
                            panic!("{scenario:?}: {e}")
                        };
                        codes.insert(report.verdict.code());
                        assert_eq!(report.verdict.code(), "invalid", "{scenario:?}");
                        assert!(saved.is_empty(), "{scenario:?}: a refused key is not saved");
                        out += &rejected_surfaces(e);
                    }
                }
                out += &unwrap_panic(result);

                // The Test button on a stored key, for this scenario.
                let stored = ws(format!("test-{provider}-{i}"));
                mock.set_scenario(Scenario::Valid);
                let id = vault
                    .add(new_key(&stored, &raw, "tested later"))
                    .await
                    .expect("valid keys are saved")
                    .id;
                mock.set_scenario(scenario.clone());
                let report = vault
                    .test(&stored, id, Depth::Billing)
                    .await
                    .expect("a report");
                out += &(json(&report) + &debugged(&report) + &verdict_surfaces(&report.verdict));
                let recorded = vault.show(&stored, id).await.expect("show").last_verdict;
                let expected = if select::worth_recording(&report.verdict) {
                    report.verdict.code()
                } else {
                    "valid"
                };
                assert_eq!(recorded.map(|v| v.as_str()), Some(expected), "{scenario:?}");
                out += &unwrap_panic(vault.test(&stored, id, Depth::Auth).await);
            }
        }
        assert!(mocks.assert_requests_clean("flow: add and test").await > 50);
        out += &vault
            .audit(&ws("test-openai-0"))
            .await
            .expect("audit")
            .iter()
            .map(|e| debugged(e) + &json(e))
            .collect::<String>();
        store.close().await;
    });
    let every: BTreeSet<_> = [
        "valid",
        "invalid",
        "no_credits",
        "rate_limited",
        "restricted",
        "provider_unavailable",
        "network_error",
        "indeterminate",
    ]
    .into_iter()
    .collect();
    assert_eq!(codes, every, "every verdict was met");
    assert!(
        String::from_utf8_lossy(&crate::capture::logs()).contains("key verified"),
        "the verifier's events during add and test are captured"
    );
    assert_clean("flow: add and test", out.as_bytes());
    assert!(assert_files_clean("flow: add and test", dir.path()) >= 2);
    assert_emitted_clean("flow: add and test");
}

#[test]
fn add_without_a_verifier_with_skip_and_admin_keys() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        let mocks = Mocks::start().await;
        // No verifier: saved untested; the Test button says what is missing.
        let (vault, store) = open(&dir.path().join("none"), None, None).await;
        let space = ws("no-verifier");
        for (i, (_, kind, raw)) in canary::keys(2).into_iter().enumerate() {
            let mut new = new_key(&space, &raw, &format!("untested {i}"));
            if kind == KeyKind::Admin {
                new = new.purpose(Purpose::UsageSync);
            }
            let added = vault.add_with_report(new).await.expect("saved");
            assert!(added.report.is_none() && added.key.last_verdict.is_none());
            assert!(added.warning().is_none());
            out += &added_surfaces(&added);
            out += &expect_error(
                vault.test(&space, added.key.id, Depth::Billing).await,
                "incomplete_builder",
            );
        }
        store.close().await;

        // A verifier, but `VerifyPolicy::Skip`: nothing is sent.
        let (vault, store) = open(
            &dir.path().join("skip"),
            Some(&mocks),
            Some(VerifyPolicy::Skip),
        )
        .await;
        for mock in &mocks.0 {
            mock.set_scenario(Scenario::InvalidKey);
        }
        for (i, (_, kind, raw)) in canary::keys(3).into_iter().enumerate() {
            let mut new = new_key(&ws("skip"), &raw, &format!("offline {i}"));
            if kind == KeyKind::Admin {
                new = new.purpose(Purpose::UsageSync);
            }
            let added = vault.add_with_report(new).await.expect("saved untested");
            assert!(added.report.is_none());
            out += &added_surfaces(&added);
        }
        assert_eq!(mocks.assert_requests_clean("flow: skip").await, 0);
        store.close().await;

        // Testing at auth depth; admin keys for usage sync are saved untested.
        let (vault, store) = open(
            &dir.path().join("auth"),
            Some(&mocks),
            Some(VerifyPolicy::Test(Depth::Auth)),
        )
        .await;
        for mock in &mocks.0 {
            mock.set_scenario(Scenario::Valid);
        }
        for (i, (_, kind, raw)) in canary::keys(3).into_iter().enumerate() {
            let space = ws(format!("auth-{i}"));
            if kind == KeyKind::Admin {
                out += &expect_error(
                    vault.add(new_key(&space, &raw, "admin")).await,
                    "admin_key_refused",
                );
                let added = vault
                    .add_with_report(new_key(&space, &raw, "usage").purpose(Purpose::UsageSync))
                    .await
                    .expect("admin key for usage sync");
                assert!(added.report.is_none(), "admin keys are not tested");
                out += &added_surfaces(&added);
            } else {
                let added = vault
                    .add_with_report(new_key(&space, &raw, "auth depth"))
                    .await
                    .expect("valid");
                let report = added.report.as_ref().expect("tested");
                assert_eq!(report.depth, Depth::Auth);
                out += &added_surfaces(&added);
            }
        }
        assert!(mocks.assert_requests_clean("flow: auth depth").await > 0);
        store.close().await;
    });
    assert_clean("flow: add without testing", out.as_bytes());
    assert!(assert_files_clean("flow: add without testing", dir.path()) >= 6);
    assert_emitted_clean("flow: add without testing");
}

/// A mock of `provider` refusing every request with `answer`: a wrong-key refusal
/// in the provider's own shape (so it is recognised) that echoes the key.
async fn echoing(provider: Provider, answer: &EchoAnswer) -> MockProvider {
    let mock = MockBuilder::new(provider).start().await;
    mock.answer_with(CannedAnswer::from(answer));
    mock
}

#[test]
fn providers_quoting_the_key_in_their_refusal() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        // Every form of the key in every field that does not decide the verdict.
        for (provider, (n, (form, echoed))) in Provider::ALL.into_iter().flat_map(|p| {
            echo_forms(&key_of(p, 6))
                .into_iter()
                .enumerate()
                .map(move |f| (p, f))
        }) {
            let raw = key_of(provider, 6);
            let mock = echoing(provider, &echo_refusal(provider, form, &echoed)).await;
            let mocks = Mocks(vec![mock]);
            let at = dir.path().join(format!("{provider}-{n}"));
            let (vault, store) = open(&at, Some(&mocks), None).await;
            let space = ws("echo");
            let result = vault.add_with_report(new_key(&space, &raw, "echoed")).await;
            match &result {
                Err(e) => {
                    assert_eq!(e.code(), "key_rejected", "{e}");
                    out += &rejected_surfaces(e);
                }
                Ok(added) => out += &added_surfaces(added),
            }
            out += &unwrap_panic(result);
            assert!(vault.list(&space).await.expect("list").is_empty());
            assert!(mocks.assert_requests_clean("flow: echo").await > 0);
            store.close().await;
        }
    });
    assert_clean("flow: echoing providers", out.as_bytes());
    assert_files_clean("flow: echoing providers", dir.path());
    assert_emitted_clean("flow: echoing providers");
}

/// Bench or clear a key by feeding back a verdict through a fresh lease on it.
async fn feed(vault: &Vault, lease: &Lease, verdict: Verdict, out: &mut String) {
    let v = vault
        .record_outcome(lease, CallOutcome::Verdict(verdict))
        .await
        .expect("reported");
    *out += &verdict_surfaces(&v);
}

#[test]
fn select_with_every_fallback_and_no_usable_key() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        let mocks = Mocks::start().await;
        let (vault, store) = open(dir.path(), Some(&mocks), None).await;
        for provider in Provider::ALL {
            let space = ws(format!("fleet-{provider}"));
            let add = |raw: String, label: &'static str, order: Option<u32>| {
                let space = space.clone();
                let vault = &vault;
                async move {
                    let mut new = new_key(&space, &raw, label);
                    if let Some(order) = order {
                        new = new.backup(order);
                    }
                    vault.add(new).await.expect("added").id
                }
            };
            // Backups added first: order, not age, decides.
            let b2 = add(key_of(provider, 7), "backup two", Some(2)).await;
            let b1 = add(key_of(provider, 3), "backup one", Some(1)).await;
            let primary = add(key_of(provider, 2), "primary", None).await;
            // Only OpenAI and Anthropic issue admin keys (their spec's `kinds`).
            if has_admin_keys(provider) {
                let admin = canary::key(provider, KeyKind::Admin, 2);
                vault
                    .add(new_key(&space, &admin, "usage").purpose(Purpose::UsageSync))
                    .await
                    .expect("admin key");
            }
            let ids = |lease: &Lease| -> (KeyId, Vec<(KeyId, &'static str)>) {
                (
                    lease.id(),
                    lease
                        .skipped()
                        .iter()
                        .map(|s| (s.id, s.reason.code()))
                        .collect(),
                )
            };

            // The primary serves, and the lease holds exactly its key.
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(ids(&lease), (primary, vec![]));
            assert!(
                lease.key().expose_secret() == key_of(provider, 2),
                "the lease holds the primary's key"
            );
            // `select::choose` over the listed views picks the same key, and shows the same.
            let views = vault.list(&space).await.expect("list");
            let (chosen, skipped) = select::choose(&views, provider).expect("one usable");
            assert_eq!((chosen.id, skipped.len()), (primary, 0));
            out += &(debugged(&views) + &json(&views));

            // Disabled: the first backup, with the reason.
            out += &debugged(&vault.disable(&space, primary).await.expect("disable"));
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(ids(&lease), (b1, vec![(primary, "disabled")]));
            out += &debugged(&vault.enable(&space, primary).await.expect("enable"));

            // A call said invalid: benched.
            let lease = select(&vault, &space, provider, &mut out).await;
            feed(
                &vault,
                &lease,
                Verdict::Invalid(InvalidReason::Unauthorized),
                &mut out,
            )
            .await;
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(ids(&lease), (b1, vec![(primary, "last_verdict")]));

            // The backup has no credits: the next backup.
            feed(
                &vault,
                &lease,
                Verdict::NoCredits(NoCreditsReason::CreditBalance),
                &mut out,
            )
            .await;
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(
                ids(&lease),
                (b2, vec![(primary, "last_verdict"), (b1, "last_verdict")])
            );
            let reasons: Vec<_> = lease.skipped().iter().map(|s| s.reason.clone()).collect();
            assert_eq!(
                reasons,
                [
                    SkipReason::LastVerdict {
                        verdict: byok::keys::VerdictCode::Invalid
                    },
                    SkipReason::LastVerdict {
                        verdict: byok::keys::VerdictCode::NoCredits
                    }
                ]
            );
            out += &(debugged(&reasons) + &json(&reasons));

            // Passing states change nothing.
            for passing in [
                Verdict::RateLimited {
                    retry_after: Some(Duration::from_secs(30)),
                },
                Verdict::ProviderUnavailable,
                Verdict::NetworkError(NetworkErrorKind::Timeout),
                Verdict::Indeterminate,
                Verdict::Restricted(RestrictedReason::ModelAccess),
            ] {
                feed(&vault, &lease, passing, &mut out).await;
                assert_eq!(select(&vault, &space, provider, &mut out).await.id(), b2);
            }

            // The last one revoked: nothing usable, every candidate with its reason,
            // admin keys never among them.
            out += &debugged(&vault.revoke(&space, b2).await.expect("revoke"));
            let err = vault
                .select(&space, provider)
                .await
                .expect_err("none usable");
            let VaultError::NoUsableKey { skipped, .. } = &err else {
                panic!("{err}")
            };
            let got: Vec<_> = skipped.iter().map(|s| (s.id, s.reason.code())).collect();
            assert_eq!(
                got,
                [
                    (primary, "last_verdict"),
                    (b1, "last_verdict"),
                    (b2, "revoked")
                ]
            );
            out += &(error_surfaces(&err) + &debugged(skipped) + &json(skipped));
            out += &unwrap_panic(vault.select(&space, provider).await);

            // The Test button says the primary works again: it serves, no one skipped.
            mocks.of(provider).set_scenario(Scenario::Valid);
            let report = vault
                .test(&space, primary, Depth::Billing)
                .await
                .expect("tested");
            assert!(report.verdict.is_valid());
            out += &json(&report);
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(ids(&lease), (primary, vec![]));
        }

        // No key at all for a provider, and a workspace of admin keys only.
        let empty = ws("empty");
        out += &expect_error(
            vault.select(&empty, Provider::Google).await,
            "no_usable_key",
        );
        let admins = ws("admins-only");
        vault
            .add(
                new_key(
                    &admins,
                    &canary::key(Provider::OpenAi, KeyKind::Admin, 5),
                    "usage",
                )
                .purpose(Purpose::UsageSync),
            )
            .await
            .expect("admin key");
        let err = vault
            .select(&admins, Provider::OpenAi)
            .await
            .expect_err("no candidate");
        let VaultError::NoUsableKey { skipped, provider } = &err else {
            panic!("{err}")
        };
        assert!(skipped.is_empty() && *provider == Provider::OpenAi);
        out += &error_surfaces(&err);
        mocks.assert_requests_clean("flow: select").await;
        store.close().await;
    });
    assert_clean("flow: select", out.as_bytes());
    assert_files_clean("flow: select", dir.path());
    assert_emitted_clean("flow: select");
}

/// What real calls return, bodies quoting the key included: the first three
/// providers' shapes (what a proxy in front of any provider may answer) and
/// `provider`'s own wrong-key refusal quoting the key in every other field.
fn outcomes(provider: Provider, raw: &str) -> Vec<(u16, Vec<u8>)> {
    let refusal = echo_refusal(provider, "the whole key", raw);
    let quoted = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {raw}.","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
    );
    let mut garbage = b"\xff\xfe<html>".to_vec();
    garbage.extend_from_slice(raw.as_bytes());
    vec![
        (401, quoted.clone().into_bytes()),
        (403, quoted.clone().into_bytes()),
        (400, format!(r#"{{"error":{{"code":400,"message":"API key not valid: {raw}","status":"INVALID_ARGUMENT","details":[{{"reason":"API_KEY_INVALID"}}]}}}}"#).into_bytes()),
        (429, br#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#.to_vec()),
        (400, br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#.to_vec()),
        (429, br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.to_vec()),
        (500, quoted.into_bytes()),
        (503, Vec::new()),
        (502, garbage),
        (refusal.status, refusal.body.into_bytes()),
    ]
}

#[test]
fn report_every_outcome_and_the_guard_of_a_lease() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    let mut benched = 0;
    rt().block_on(async {
        let mocks = Mocks::start().await;
        let (vault, store) = open(dir.path(), Some(&mocks), None).await;
        for provider in Provider::ALL {
            let space = ws(format!("report-{provider}"));
            let raw = key_of(provider, 4);
            let id = vault
                .add(new_key(&space, &raw, "reported"))
                .await
                .expect("added")
                .id;
            let mut calls: Vec<CallOutcome<'_>> = vec![CallOutcome::Success];
            let bodies = outcomes(provider, &raw);
            calls.extend(bodies.iter().map(|(status, body)| CallOutcome::HttpError {
                status: *status,
                body,
            }));
            for v in [
                Verdict::Valid,
                Verdict::Invalid(InvalidReason::Deactivated),
                Verdict::Invalid(InvalidReason::Expired),
                Verdict::NoCredits(NoCreditsReason::InsufficientQuota),
                Verdict::NoCredits(NoCreditsReason::QuotaExhausted),
                Verdict::RateLimited { retry_after: None },
                Verdict::Restricted(RestrictedReason::Region),
                Verdict::ProviderUnavailable,
                Verdict::NetworkError(NetworkErrorKind::Connect),
                Verdict::Indeterminate,
            ] {
                calls.push(CallOutcome::Verdict(v));
            }
            for call in calls {
                let lease = select(&vault, &space, provider, &mut out).await;
                let verdict = vault.record_outcome(&lease, call).await.expect("reported");
                out += &verdict_surfaces(&verdict);
                let recorded = vault.show(&space, id).await.expect("show").last_verdict;
                if verdict.verdict_code().benches_key() {
                    benched += 1;
                    assert_eq!(recorded, Some(verdict.verdict_code()));
                    out += &expect_error(vault.select(&space, provider).await, "no_usable_key");
                    // Back in service after a good Test.
                    mocks.of(provider).set_scenario(Scenario::Valid);
                    let report = vault.test(&space, id, Depth::Auth).await.expect("tested");
                    assert!(report.verdict.is_valid());
                } else {
                    assert!(
                        recorded.is_none_or(|v| !v.benches_key()),
                        "{verdict:?} does not bench"
                    );
                }
            }

            // The guard tied to a lease: the key's and the workspace's budgets.
            let lease = select(&vault, &space, provider, &mut out).await;
            let guard = vault.guard().expect("configured");
            out += &debugged(guard);
            let scopes = lease.scopes();
            for (scope, cap) in [(&scopes[0], "0.010"), (&scopes[1], "1.00")] {
                let budget = Budget::new(scope.clone(), cap.parse::<Usd>().unwrap(), Period::Total);
                out += &(debugged(&budget) + &json(&budget));
                guard.set_budget(&budget).await.expect("budget");
            }
            let admitted = guard
                .reserve_amount(&scopes, "0.006".parse().unwrap())
                .await
                .expect("reserve");
            out += &debugged(&admitted);
            let Admission::Reserved(reservation) = admitted else {
                panic!("the first call fits")
            };
            out += &json(&reservation);
            let denied = guard
                .reserve_amount(&scopes, "0.006".parse().unwrap())
                .await
                .expect("reserve");
            out += &debugged(&denied);
            let Admission::Denied(d) = denied else {
                panic!("the key's budget refuses the second")
            };
            assert_eq!(d.budget, scopes[0]);
            out += &json(&d);
            let settled = guard
                .settle_amount(reservation.id, "0.004".parse().unwrap(), Label::Estimated)
                .await
                .expect("settled");
            out += &debugged(&settled);
            for scope in &scopes {
                let status = guard
                    .status(scope)
                    .await
                    .expect("status")
                    .expect("a budget");
                out += &(debugged(&status) + &json(&status));
            }
            out += &unwrap_panic(guard.reserve_amount(&scopes, "-1".parse().unwrap()).await);

            // A priced call on the lease's scopes plus a project, its prompt quoting
            // the key (a user pasting it into the chat), settled from the usage.
            let prompt = format!("my key is {raw}, why does it not work?");
            let call_scopes = lease.scopes_in("canary-project");
            let model = match provider {
                Provider::OpenAi => "gpt-4o".to_owned(),
                Provider::Anthropic => "claude-sonnet-4-5".to_owned(),
                Provider::Google => "gemini-2.5-pro".to_owned(),
                other => byok_testkit::compat::priced_model(other),
            };
            assert_eq!(
                call_scopes,
                [
                    scopes[0].clone(),
                    Scope::project("canary-project"),
                    scopes[1].clone()
                ]
            );
            out += &(debugged(&call_scopes) + &json(&call_scopes));
            let call = CallRequest {
                scopes: call_scopes,
                model: &model,
                prompt: Prompt::Text(&prompt),
                max_output_tokens: Some(100),
            };
            // Priced as `provider` bills it (OpenRouter's `openai/gpt-4o-mini` is its own entry).
            let admitted = guard.reserve_for(provider, &call).await.expect("reserve");
            out += &debugged(&admitted);
            let Admission::Reserved(reservation) = admitted else {
                panic!("{provider}: a small call fits the key's remaining budget")
            };
            assert_eq!(reservation.budgets.len(), 2, "the project has no budget");
            out += &json(&reservation);
            let usage = Usage {
                input_tokens: 20,
                output_tokens: 40,
                ..Usage::default()
            };
            let settled = guard
                .settle(&reservation, Actual::Usage(usage))
                .await
                .expect("settled");
            out += &debugged(&settled);
            out += &unwrap_panic(guard.reserve_for(provider, &call).await);
        }
        mocks.assert_requests_clean("flow: report").await;
        store.close().await;
    });
    assert!(
        benched >= 9,
        "invalid and no-credit outcomes bench the key: {benched}"
    );
    assert_clean("flow: report and guard", out.as_bytes());
    assert_files_clean("flow: report and guard", dir.path());
    assert_emitted_clean("flow: report and guard");
}

/// The flow on PostgreSQL with the guard's ledger in the same throwaway database:
/// then every row of every table, as JSON text, searched for every canary.
#[cfg(feature = "postgres")]
#[test]
fn flow_on_postgres_leaves_no_trace_in_any_row() {
    use byok::guard::PostgresLedger;
    use byok::store::PostgresStore;

    use crate::postgres::{ScratchDb, url_for};

    init();
    let Some(url) = url_for("flow_on_postgres_leaves_no_trace_in_any_row") else {
        return;
    };
    let mut out = String::new();
    rt().block_on(async {
        let db = ScratchDb::create(&url, "byok_canary_flow").await;
        let db_url = db.url.clone();
        let mocks = Mocks::start().await;
        let store = PostgresStore::connect(&db_url).await.expect("connect");
        let ledger = PostgresLedger::connect(&db_url).await.expect("ledger");
        let vault = Vault::builder()
            .store(Arc::new(store.clone()))
            .master_key(master(2))
            .verifier(mocks.verifier())
            .guard(Guard::new(Arc::new(ledger)))
            .build()
            .await
            .expect("vault");
        for provider in Provider::ALL {
            let space = ws(format!("pg-{provider}"));
            let mock = mocks.of(provider);
            mock.set_scenario(Scenario::InvalidKey);
            out += &rejected_surfaces(
                &vault
                    .add_with_report(new_key(&space, &key_of(provider, 5), "refused"))
                    .await
                    .expect_err("invalid"),
            );
            let added = if Scenario::NoCredits.supported_by(provider) {
                mock.set_scenario(Scenario::NoCredits);
                vault
                    .add_with_report(new_key(&space, &key_of(provider, 6), "broke"))
                    .await
                    .expect("saved with a warning")
            } else {
                // Groq, Bedrock and Perplexity have no no-credits answer (AWS bills
                // the account; PROVIDERS-MORE.md §3): the primary is disabled instead,
                // so the backup is chosen over it all the same.
                mock.set_scenario(Scenario::Valid);
                let added = vault
                    .add_with_report(new_key(&space, &key_of(provider, 6), "disabled"))
                    .await
                    .expect("valid");
                out += &debugged(&vault.disable(&space, added.key.id).await.expect("disable"));
                added
            };
            out += &added_surfaces(&added);
            mock.set_scenario(Scenario::Valid);
            let backup = vault
                .add_with_report(new_key(&space, &key_of(provider, 7), "backup").backup(1))
                .await
                .expect("valid");
            out += &added_surfaces(&backup);
            let lease = select(&vault, &space, provider, &mut out).await;
            assert_eq!(
                lease.id(),
                backup.key.id,
                "the broke primary is passed over"
            );
            let body = format!(
                r#"{{"error":{{"message":"bad key {}"}}}}"#,
                key_of(provider, 7)
            );
            let v = vault
                .record_outcome(
                    &lease,
                    CallOutcome::HttpError {
                        status: 401,
                        body: body.as_bytes(),
                    },
                )
                .await
                .expect("reported");
            out += &verdict_surfaces(&v);
            if !Scenario::NoCredits.supported_by(provider) {
                out += &debugged(&vault.enable(&space, added.key.id).await.expect("enable"));
            }
            out += &json(
                &vault
                    .test(&space, added.key.id, Depth::Billing)
                    .await
                    .expect("test"),
            );
            let guard = vault.guard().expect("guard");
            let budget = Budget::new(
                lease.scopes()[0].clone(),
                "0.01".parse().unwrap(),
                Period::Total,
            );
            guard.set_budget(&budget).await.expect("budget");
            if let Admission::Reserved(r) = guard
                .reserve_amount(&lease.scopes(), "0.002".parse().unwrap())
                .await
                .expect("reserve")
            {
                out += &debugged(
                    &guard
                        .settle_amount(r.id, "0.001".parse().unwrap(), Label::Estimated)
                        .await
                        .expect("settle"),
                );
            }
        }

        let rows = db.assert_rows_clean("postgres flow").await;
        assert!(
            rows > 6,
            "records, audit events and ledger rows were dumped: {rows}"
        );
        drop(vault);
        store.pool().close().await;
        db.drop_database().await;
    });
    assert_clean("postgres flow: surfaces", out.as_bytes());
    assert_emitted_clean("postgres flow");
}

//! Keeps `docs/DTOS.md` true to the real serialisation.
//!
//! Every JSON example in the document (a fenced `json` block right after a
//! `<!-- dto: Name -->` line) is compared with the JSON the real type produces when
//! built through the public API: same field names, same nesting, same JSON types,
//! and the same values for stable codes. Every field table (`<!-- fields: Name -->`)
//! must list exactly the real top-level fields, and every code table
//! (`<!-- codes: name -->`) exactly the codes the crates produce. A renamed or
//! removed field, or a changed code, fails here: these names are a public interface.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use byok::guard::{
    Actual, Admission, Budget, CallRequest, Guard, GuardError, Label, MemoryLedger, Period, Prompt,
    Scope, TokenCounting, Usage, Usd,
};
use byok::keys::params::Params;
use byok::keys::{
    ApiKey, FormatWarning, KeyError, KeyKind, Provider, SecretString, fake, normalize, scan,
};
use byok::select::{SkipReason, choose};
use byok::store::{
    AuditAction, AuditEvent, KeyView, Keyring, MasterKey, MasterKeySource, MemoryStore, Role,
    Status, StoreError, WorkspaceId, now,
};
use byok::verify::{
    Depth, InvalidReason, NetworkErrorKind, NoCreditsReason, Probe, RestrictedReason, Verdict,
    Verifier, VerifierConfig, VerifyError,
};
use byok::{NewKey, Vault, VaultError};
use byok_testkit::{MockOpenAi, Scenario};
use serde_json::Value;

const DOC: &str = include_str!("../docs/DTOS.md");

/// Keys whose string values are stable codes (or values the builders fix), compared exactly.
const EXACT: &[&str] = &[
    "code",
    "verdict",
    "reason",
    "provider",
    "kind",
    "role",
    "status",
    "depth",
    "probe",
    "label",
    "tier",
    "counting",
    "time_zone",
    "fixes",
    "workspace",
    "budget",
    "budgets",
    "scope",
    "model",
    "default_model",
    "last_verdict",
    "provider_code",
    "Fix",
];

// ---------------------------------------------------------------- markdown

/// `(marker name, text after the marker up to the next marker)` for `<!-- kind: name -->`.
fn sections<'a>(kind: &str) -> Vec<(String, &'a str)> {
    let open = format!("<!-- {kind}: ");
    let mut out = Vec::new();
    let mut rest = DOC;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let end = after.find(" -->").expect("a marker ends with ` -->`");
        let name = after[..end].trim().to_owned();
        let body = &after[end + 4..];
        let next = body.find("<!-- ").unwrap_or(body.len());
        out.push((name, &body[..next]));
        rest = body;
    }
    out
}

/// The JSON examples: the first fenced `json` block after each `dto` marker.
fn examples() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, body) in sections("dto") {
        let start = body
            .find("```json\n")
            .unwrap_or_else(|| panic!("dto {name}: no ```json block after its marker"));
        let json = &body[start + 8..];
        let end = json
            .find("\n```")
            .unwrap_or_else(|| panic!("dto {name}: unterminated ```json block"));
        let value: Value = serde_json::from_str(&json[..end])
            .unwrap_or_else(|e| panic!("dto {name}: the example is not JSON: {e}"));
        assert!(
            out.insert(name.clone(), value).is_none(),
            "dto {name} appears twice"
        );
    }
    out
}

/// First-column entries (in backticks) of the table right after a `kind` marker.
fn table(kind: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (name, body) in sections(kind) {
        let cells: BTreeSet<String> = body
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let first = l.trim_start_matches('|').split('|').next()?.trim();
                let inner = first.strip_prefix('`')?.strip_suffix('`')?;
                Some(inner.to_owned())
            })
            .collect();
        assert!(
            !cells.is_empty(),
            "{kind} {name}: no table rows with a `name` in the first column"
        );
        assert!(
            out.insert(name.clone(), cells).is_none(),
            "{kind} {name} appears twice"
        );
    }
    out
}

// ---------------------------------------------------------------- shapes

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every difference between a documented example and the real JSON.
fn compare(doc: &Value, real: &Value, path: &str, key: &str, diffs: &mut Vec<String>) {
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            for k in d.keys().filter(|k| !r.contains_key(*k)) {
                diffs.push(format!(
                    "{path}.{k}: documented, but the real JSON has no such field"
                ));
            }
            for k in r.keys().filter(|k| !d.contains_key(*k)) {
                diffs.push(format!(
                    "{path}.{k}: in the real JSON, but not in the example"
                ));
            }
            for (k, dv) in d {
                if let Some(rv) = r.get(k) {
                    compare(dv, rv, &format!("{path}.{k}"), k, diffs);
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if d.is_empty() != r.is_empty() {
                diffs.push(format!(
                    "{path}: example has {} elements, real JSON {} (both or neither must be empty)",
                    d.len(),
                    r.len()
                ));
            }
            for (i, (dv, rv)) in d.iter().zip(r).enumerate() {
                compare(dv, rv, &format!("{path}[{i}]"), key, diffs);
            }
        }
        (Value::String(d), Value::String(r)) if EXACT.contains(&key) && d != r => {
            diffs.push(format!("{path}: example says {d:?}, real JSON {r:?}"));
        }
        _ if type_name(doc) != type_name(real) => diffs.push(format!(
            "{path}: example is {} ({doc}), real JSON is {} ({real})",
            type_name(doc),
            type_name(real)
        )),
        _ => {}
    }
}

// ---------------------------------------------------------------- real values

struct Real {
    dtos: BTreeMap<String, Value>,
    codes: BTreeMap<String, BTreeSet<String>>,
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).expect("a DTO always serialises")
}

fn codes<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

fn serde_codes<T: serde::Serialize>(items: &[T]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| match json(i) {
            Value::String(s) => s,
            other => panic!("expected a string code, got {other}"),
        })
        .collect()
}

/// A vault, and a keyring of its master key for writing records directly.
async fn vault() -> (Vault, Keyring) {
    let master = MasterKey::generate().expect("OS randomness").to_base64();
    let vault = Vault::builder()
        .store(Arc::new(MemoryStore::new()))
        .master_key(MasterKeySource::Base64(master.clone()))
        .actor("user:42")
        .build()
        .await
        .expect("a memory vault opens");
    let kek = Arc::new(MasterKey::from_base64(&master).expect("just made"));
    let ring = Keyring::unlock(vault.store().as_ref(), kek, vec![])
        .await
        .expect("the same master key");
    (vault, ring)
}

/// A key as a UI lists it after it was added, tested and used once.
async fn key_view(vault: &Vault, ring: &Keyring, ws: &WorkspaceId) -> KeyView {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 11);
    let view = vault
        .add(
            NewKey::new(ws.clone(), SecretString::from(raw), "production")
                .default_model("gpt-4o-mini")
                .note("billing: team A"),
        )
        .await
        .expect("a well-formed key is added");
    // What a Test button records: the verdict code and when.
    let mut record = vault.store().get(ws, view.id).await.expect("just added");
    record.last_verdict = Some(byok::keys::VerdictCode::Valid);
    record.last_verdict_at = Some(now());
    let event = AuditEvent::now(ws.clone(), view.id, AuditAction::Update, "user:42");
    ring.update(vault.store().as_ref(), &record, &event)
        .await
        .expect("no concurrent edit");
    vault
        .with_key(ws, view.id, |key| key.kind())
        .await
        .expect("an active key is leased");
    vault.show(ws, view.id).await.expect("still there")
}

async fn real() -> Real {
    let mut dtos = BTreeMap::new();
    let mut codes_of = BTreeMap::new();

    // byok::store::KeyView, and byok::select::Skipped via the selection rules.
    let (vault, ring) = vault().await;
    let ws = WorkspaceId::new("acme").expect("a valid workspace id");
    let primary = key_view(&vault, &ring, &ws).await;
    dtos.insert("KeyView".to_owned(), json(&primary));
    let backup = vault
        .add(
            NewKey::new(
                ws.clone(),
                SecretString::from(fake::key(Provider::OpenAi, KeyKind::Project, 12)),
                "fallback",
            )
            .backup(1),
        )
        .await
        .expect("a second key is added");
    vault
        .disable(&ws, primary.id)
        .await
        .expect("an active key can be disabled");
    let (chosen, skipped) =
        choose(&vault.list(&ws).await.expect("list"), Provider::OpenAi).expect("backup usable");
    assert_eq!(chosen.id, backup.id);
    dtos.insert("Skipped".to_owned(), json(&skipped[0]));
    // The backup's last call said "no credits": now no key is usable, and both are listed.
    let mut record = vault.store().get(&ws, backup.id).await.expect("added");
    record.last_verdict = Some(byok::keys::VerdictCode::NoCredits);
    record.last_verdict_at = Some(now());
    let event = AuditEvent::now(ws.clone(), backup.id, AuditAction::Update, "user:42");
    ring.update(vault.store().as_ref(), &record, &event)
        .await
        .expect("no concurrent edit");
    let none = choose(&vault.list(&ws).await.expect("list"), Provider::OpenAi)
        .expect_err("neither key is usable");
    assert_eq!(none.len(), 2);
    dtos.insert("Skipped (last_verdict)".to_owned(), json(&none[1]));
    let trail = vault.audit(&ws).await.expect("audit trail");
    dtos.insert("AuditEvent".to_owned(), json(&trail[0]));
    codes_of.insert(
        "audit_action".to_owned(),
        serde_codes(&[
            AuditAction::Add,
            AuditAction::Rotate,
            AuditAction::Update,
            AuditAction::Disable,
            AuditAction::Enable,
            AuditAction::Revoke,
            AuditAction::Delete,
            AuditAction::Rewrap,
            AuditAction::Use,
        ]),
    );
    codes_of.insert(
        "skip_reason".to_owned(),
        codes([
            SkipReason::Disabled.code(),
            SkipReason::Revoked.code(),
            SkipReason::LastVerdict {
                verdict: byok::keys::VerdictCode::Invalid,
            }
            .code(),
            SkipReason::Corrupt.code(),
            SkipReason::UnknownKek.code(),
            SkipReason::Changed.code(),
            SkipReason::AdminSecret.code(),
        ]),
    );

    // byok::verify::Report from a mock OpenAI whose account has no credits.
    let mock = MockOpenAi::builder()
        .scenario(Scenario::NoCredits)
        .start()
        .await;
    let verifier = Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &mock.uri()))
        .expect("a verifier for the mock");
    let key = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 11)).expect("a key");
    let report = verifier.verify(&key, Depth::Billing).await;
    assert_eq!(report.code(), "no_credits");
    dtos.insert("Report".to_owned(), json(&report));

    // byok::guard: Cost, Reservation, BudgetStatus, Denied.
    let usage = Usage {
        input_tokens: 1200,
        output_tokens: 300,
        ..Usage::default()
    };
    let prices = byok::guard::PriceBook::embedded();
    dtos.insert(
        "Cost".to_owned(),
        json(&prices.cost("gpt-4o", &usage).expect("priced")),
    );
    dtos.insert(
        "Cost (unavailable)".to_owned(),
        json(
            &prices
                .cost("my-finetune", &usage)
                .expect("unpriced is not an error"),
        ),
    );
    let guard = Guard::new(Arc::new(MemoryLedger::new()));
    let project = Scope::project("p1");
    guard
        .set_budget(
            &Budget::new(project.clone(), Usd::from_dollars(5), Period::Month).alerts([50, 80]),
        )
        .await
        .expect("a valid budget");
    let call = CallRequest {
        scopes: vec![Scope::workspace("acme"), project.clone()],
        model: "gpt-4o",
        prompt: Prompt::Text("Summarise this ticket in one line."),
        max_output_tokens: Some(500),
    };
    let Admission::Reserved(reservation) = guard.reserve(&call).await.expect("reserve") else {
        panic!("a small call fits a $5 budget");
    };
    dtos.insert("Reservation".to_owned(), json(&reservation));
    guard
        .settle(&reservation, Actual::Usage(usage))
        .await
        .expect("settle");
    let status = guard
        .status(&project)
        .await
        .expect("status")
        .expect("a budget");
    dtos.insert("BudgetStatus".to_owned(), json(&status));
    let history = guard
        .daily_spend(&project, 2)
        .await
        .expect("daily spend")
        .expect("a budget");
    dtos.insert("DailySpend".to_owned(), json(&history));
    // A settle that crosses a soft threshold fires an alert (once per period).
    let team = Scope::project("p2");
    guard
        .set_budget(&Budget::new(team.clone(), Usd::from_dollars(10), Period::Month).alerts([50]))
        .await
        .expect("a valid budget");
    let Admission::Reserved(big) = guard
        .reserve_amount(std::slice::from_ref(&team), Usd::from_dollars(6))
        .await
        .expect("reserve")
    else {
        panic!("$6 fits a $10 budget");
    };
    let byok::guard::SettleOutcome::Settled { alerts, .. } = guard
        .settle_amount(big.id, Usd::from_dollars(6), Label::Estimated)
        .await
        .expect("settle")
    else {
        panic!("a first settle records the spend");
    };
    dtos.insert("Alert".to_owned(), json(&alerts[0]));
    let huge = CallRequest {
        max_output_tokens: Some(1_000_000),
        prompt: Prompt::Tokens(2_000_000),
        ..call
    };
    let Admission::Denied(denied) = guard.reserve(&huge).await.expect("reserve") else {
        panic!("a $20+ call cannot fit a $5 budget");
    };
    dtos.insert("Denied".to_owned(), json(&denied));
    codes_of.insert("label".to_owned(), serde_codes(&Label::ALL));
    codes_of.insert(
        "deny_reason".to_owned(),
        serde_codes(&[
            byok::guard::DenyReason::OverLimit,
            byok::guard::DenyReason::UnpricedModel,
        ]),
    );
    codes_of.insert(
        "period".to_owned(),
        serde_codes(&[Period::Day, Period::Week, Period::Month, Period::Total]),
    );
    codes_of.insert(
        "token_counting".to_owned(),
        serde_codes(&[
            TokenCounting::O200k,
            TokenCounting::Cl100k,
            TokenCounting::Conservative,
            TokenCounting::Given,
        ]),
    );

    // byok::keys: KeyError, FormatWarning, Fix, Finding.
    let project_key = fake::key(Provider::OpenAi, KeyKind::Project, 11);
    let cut = &project_key[..project_key.len() - 9];
    let error = ApiKey::parse(cut).expect_err("a truncated key is refused");
    assert_eq!(error.code(), "truncated");
    dtos.insert("KeyError".to_owned(), json(&error));
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 5).replacen("api03", "api04", 1);
    let key = ApiKey::parse(&anthropic).expect("a newer version is accepted");
    dtos.insert("FormatWarning".to_owned(), json(&key.warnings()[0]));
    let pasted = normalize(&format!("\"Bearer {project_key}\"\n"));
    dtos.insert("Fix".to_owned(), json(pasted.fixes()));
    let text = format!("OPENAI_API_KEY={project_key}\n");
    let finding = scan(&text).next().expect("the key is found");
    dtos.insert("Finding".to_owned(), json(&finding));

    codes_of.insert("key_error".to_owned(), codes(KeyError::CODES));
    codes_of.insert(
        "key_kind".to_owned(),
        serde_codes(&[
            KeyKind::Legacy,
            KeyKind::Project,
            KeyKind::ServiceAccount,
            KeyKind::Admin,
            KeyKind::Unscoped,
            KeyKind::Api,
            KeyKind::Standard,
            KeyKind::Auth,
        ]),
    );
    codes_of.insert(
        "format_warning".to_owned(),
        codes([
            FormatWarning::UnusualLength { length: 1 }.code(),
            FormatWarning::UnusualVersion {
                version: "api04".into(),
            }
            .code(),
        ]),
    );
    let mut fixes = BTreeSet::new();
    for raw in [
        " x ",
        "'x'",
        "Bearer x",
        "x-api-key: x",
        "KEY=x",
        "x;",
        "x\u{200b}",
    ] {
        fixes.extend(normalize(raw).fixes().iter().map(|f| f.code().to_owned()));
    }
    codes_of.insert("fix".to_owned(), fixes);

    // byok::verify codes.
    let verdicts = [
        Verdict::Valid,
        Verdict::Invalid(InvalidReason::Unauthorized),
        Verdict::NoCredits(NoCreditsReason::InsufficientQuota),
        Verdict::RateLimited { retry_after: None },
        Verdict::Restricted(RestrictedReason::ModelAccess),
        Verdict::ProviderUnavailable,
        Verdict::NetworkError(NetworkErrorKind::Dns),
        Verdict::Indeterminate,
    ];
    codes_of.insert(
        "verdict".to_owned(),
        codes(verdicts.iter().map(Verdict::code)),
    );
    let reasons = |vs: Vec<Verdict>| codes(vs.iter().filter_map(Verdict::reason));
    use InvalidReason as I;
    use NetworkErrorKind as N;
    use NoCreditsReason as C;
    use RestrictedReason as R;
    codes_of.insert(
        "invalid_reason".to_owned(),
        reasons(
            [
                I::Unauthorized,
                I::Deactivated,
                I::OrganizationMismatch,
                I::Expired,
                I::Suspended,
                I::KeyOrEndpoint,
                I::KeyOrQuota,
                I::Blocked,
            ]
            .map(Verdict::Invalid)
            .into(),
        ),
    );
    codes_of.insert(
        "no_credits_reason".to_owned(),
        reasons(
            [
                C::InsufficientQuota,
                C::SpendLimit,
                C::CreditBalance,
                C::Billing,
                C::PrepayDepleted,
                C::QuotaExhausted,
                C::KeyLimit,
                C::TrialQuota,
            ]
            .map(Verdict::NoCredits)
            .into(),
        ),
    );
    codes_of.insert(
        "restricted_reason".to_owned(),
        reasons(
            [
                R::MissingScope,
                R::ModelAccess,
                R::Region,
                R::Permission,
                R::ApiBlocked,
                R::ServiceDisabled,
                R::AdminKey,
                R::DeploymentNotFound,
                R::IamPermission,
                R::MissingParam,
            ]
            .map(Verdict::Restricted)
            .into(),
        ),
    );
    codes_of.insert(
        "network_error_kind".to_owned(),
        reasons(
            [N::Dns, N::Connect, N::Tls, N::Timeout, N::Io]
                .map(Verdict::NetworkError)
                .into(),
        ),
    );
    codes_of.insert(
        "depth".to_owned(),
        serde_codes(&[Depth::Auth, Depth::Billing]),
    );
    codes_of.insert(
        "probe".to_owned(),
        serde_codes(&[Probe::ListModels, Probe::Billable, Probe::KeyInfo]),
    );
    codes_of.insert(
        "verify_error".to_owned(),
        codes(
            [
                VerifyError::InvalidBaseUrl {
                    provider: Provider::OpenAi,
                    reason: "r",
                },
                VerifyError::InsecureBaseUrl {
                    provider: Provider::OpenAi,
                },
                VerifyError::InvalidModel {
                    provider: Provider::OpenAi,
                },
                VerifyError::ZeroTimeout { which: "request" },
                VerifyError::HttpClient("x".into()),
            ]
            .iter()
            .map(VerifyError::code),
        ),
    );

    // byok::store codes.
    codes_of.insert(
        "role".to_owned(),
        serde_codes(&[Role::Primary, Role::Backup]),
    );
    codes_of.insert(
        "status".to_owned(),
        serde_codes(&[Status::Active, Status::Disabled, Status::Revoked]),
    );
    let s = |x: &str| x.to_owned();
    let store_errors = [
        StoreError::NotFound { id: s("x") },
        StoreError::Duplicate { existing: s("x") },
        StoreError::Conflict {
            id: s("x"),
            expected: 1,
        },
        StoreError::Corrupt { id: s("x") },
        StoreError::WrongMasterKey,
        StoreError::MissingMasterKey,
        StoreError::InvalidMasterKey { reason: s("r") },
        StoreError::UnknownKek {
            id: s("x"),
            kek_id: s("k"),
        },
        StoreError::Malformed { detail: s("d") },
        StoreError::InvalidInput { detail: s("d") },
        StoreError::Random,
        StoreError::Kek { detail: s("d") },
        StoreError::Io {
            path: s("p"),
            detail: s("d"),
        },
        StoreError::Backend { detail: s("d") },
    ];
    codes_of.insert(
        "store_error".to_owned(),
        codes(store_errors.iter().map(StoreError::code)),
    );
    codes_of.insert(
        "vault_error".to_owned(),
        codes(
            [
                VaultError::AdminKeyRefused { masked: s("m") },
                VaultError::Inactive {
                    id: s("x"),
                    status: byok::store::Status::Disabled,
                },
                VaultError::Incomplete { missing: "a store" },
                VaultError::NoUsableKey {
                    provider: Provider::OpenAi,
                    skipped: vec![],
                },
                VaultError::InvalidRequest { reason: "r" },
                VaultError::BudgetDenied {
                    denied: Box::new(byok::guard::Denied {
                        budget: byok::guard::Scope::workspace("w"),
                        limit: byok::guard::Usd::ZERO,
                        spent: byok::guard::Usd::ZERO,
                        reserved: byok::guard::Usd::ZERO,
                        needed: None,
                        reason: byok::guard::DenyReason::OverLimit,
                    }),
                },
                VaultError::ProviderRefused {
                    provider: Provider::OpenAi,
                    verdict: byok::keys::VerdictCode::Invalid,
                    status: 401,
                    provider_code: None,
                    request_id: None,
                    message: None,
                    fallbacks: vec![],
                },
                VaultError::FallbackLimit { fallbacks: vec![] },
                VaultError::CallFailed { reason: s("r") },
                VaultError::TimedOut {
                    timeout: byok::call::Timeout::Headers,
                    after: std::time::Duration::from_secs(1),
                },
                VaultError::TimedOut {
                    timeout: byok::call::Timeout::Answer,
                    after: std::time::Duration::from_secs(1),
                },
                VaultError::TimedOut {
                    timeout: byok::call::Timeout::Stalled,
                    after: std::time::Duration::from_secs(1),
                },
                VaultError::ParamContradictsKey {
                    name: "region",
                    in_key: s("us-east-1"),
                },
            ]
            .into_iter()
            .chain(
                [
                    Params::none(Provider::Bedrock),
                    Params::new(Provider::Bedrock, [("region", "Frankfurt")]),
                    Params::new(Provider::OpenAi, [("region", "us-east-1")]),
                    Params::new(
                        Provider::Bedrock,
                        [("region", "us-east-1"), ("region", "us-east-2")],
                    ),
                ]
                .into_iter()
                .map(|r| VaultError::Param(r.unwrap_err())),
            )
            .collect::<Vec<_>>()
            .iter()
            .map(VaultError::code)
            // KeyRejected carries a real Test report; tests/flow.rs asserts its code on a real refusal.
            .chain(["key_rejected"]),
        ),
    );

    // byok::guard codes.
    let guard_errors = [
        GuardError::InvalidAmount {
            text: s("x"),
            reason: "r",
        },
        GuardError::Overflow,
        GuardError::InvalidPriceFile { reason: s("r") },
        GuardError::MissingUsage { reason: s("r") },
        GuardError::NegativeTokens { field: s("f") },
        GuardError::NonIntegerTokens { field: s("f") },
        GuardError::TooManyTokens { field: s("f") },
        GuardError::InconsistentUsage { reason: s("r") },
        GuardError::OutputCapUnknown { model: s("m") },
        GuardError::InvalidBudget { reason: s("r") },
        GuardError::InvalidTimeZone { name: s("n") },
        GuardError::InvalidHistory { reason: s("r") },
        GuardError::ReservationNotFound { id: s("x") },
        GuardError::ReservationReleased { id: s("x") },
        GuardError::ReservationSettled { id: s("x") },
        GuardError::InvalidLedgerUrl { reason: s("r") },
        GuardError::BackendDisabled { backend: "redis" },
        GuardError::Ledger {
            backend: "redis",
            message: s("m"),
        },
        GuardError::CorruptLedger {
            backend: "redis",
            message: s("m"),
        },
        GuardError::Sync { message: s("m") },
        GuardError::HoldTtlTooShort {
            ttl_ms: 0,
            min_secs: 60,
        },
        GuardError::AmountOutOfRange {
            backend: "redis",
            max: 1,
            max_total: 1,
        },
    ];
    codes_of.insert(
        "guard_error".to_owned(),
        codes(guard_errors.iter().map(GuardError::code)),
    );

    Real {
        dtos,
        codes: codes_of,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// ---------------------------------------------------------------- tests

#[test]
fn every_json_example_matches_the_real_serialisation() {
    let real = runtime().block_on(real());
    // `DTOS_DUMP=1 cargo test -p byok --test dtos` prints what to paste into the document.
    if std::env::var_os("DTOS_DUMP").is_some() {
        for (name, value) in &real.dtos {
            let pretty = serde_json::to_string_pretty(value).expect("JSON");
            eprintln!("<!-- dto: {name} -->\n```json\n{pretty}\n```");
        }
    }
    let documented = examples();
    let names = |m: &BTreeMap<String, Value>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        names(&documented),
        names(&real.dtos),
        "docs/DTOS.md must have one `<!-- dto: Name -->` example per DTO this test builds"
    );
    let mut diffs = Vec::new();
    for (name, doc) in &documented {
        let actual = &real.dtos[name];
        let before = diffs.len();
        compare(doc, actual, name, name, &mut diffs);
        if diffs.len() > before {
            diffs.push(format!(
                "{name}: the real JSON is\n{}",
                serde_json::to_string_pretty(actual).expect("JSON")
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "docs/DTOS.md is out of date:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn every_field_table_lists_exactly_the_real_fields() {
    let real = runtime().block_on(real());
    let tables = table("fields");
    assert!(!tables.is_empty());
    for (name, fields) in &tables {
        let example = real
            .dtos
            .get(name)
            .unwrap_or_else(|| panic!("fields {name}: no DTO of that name"));
        let top: BTreeSet<String> = fields
            .iter()
            .filter(|f| !f.contains('.'))
            .cloned()
            .collect();
        let actual: BTreeSet<String> = match example {
            Value::Object(o) => o.keys().cloned().collect(),
            other => panic!("fields {name}: the real JSON is not an object: {other}"),
        };
        assert_eq!(top, actual, "fields {name}: table vs real top-level fields");
        // Dotted rows (`rate_limits.requests`) must name real nested fields;
        // `days[].date` is the field of an array's elements (the first one's).
        for dotted in fields.iter().filter(|f| f.contains('.')) {
            let mut at = example;
            for part in dotted.split('.') {
                let (field, element) = match part.strip_suffix("[]") {
                    Some(f) => (f, true),
                    None => (part, false),
                };
                at = at
                    .get(field)
                    .and_then(|v| if element { v.get(0) } else { Some(v) })
                    .unwrap_or_else(|| panic!("fields {name}: `{dotted}` is not a real field"));
            }
        }
    }
    for dto in [
        "KeyView",
        "Report",
        "Cost",
        "BudgetStatus",
        "DailySpend",
        "Denied",
        "Reservation",
        "KeyError",
    ] {
        assert!(
            tables.contains_key(dto),
            "docs/DTOS.md has no field table for {dto}"
        );
    }
}

#[test]
fn every_code_table_lists_exactly_the_real_codes() {
    let real = runtime().block_on(real());
    let tables = table("codes");
    let names = |m: &BTreeMap<String, BTreeSet<String>>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        names(&tables),
        names(&real.codes),
        "docs/DTOS.md must have one `<!-- codes: name -->` table per code list"
    );
    for (name, documented) in &tables {
        assert_eq!(documented, &real.codes[name], "codes {name}");
    }
}

#[test]
fn no_example_holds_a_secret() {
    // Every fake key of every shape the test uses, and its body, is absent from the document.
    for seed in [5, 11, 12] {
        for (_, _, raw) in fake::all(seed) {
            let body = &raw[raw.len() - 24..];
            assert!(!DOC.contains(body), "docs/DTOS.md contains a key body");
        }
    }
    // Nor anything the scanner recognises as a key.
    assert_eq!(
        scan(DOC).count(),
        0,
        "docs/DTOS.md contains a key-shaped string"
    );
}

#[test]
fn the_comparison_catches_a_renamed_field_and_a_changed_code() {
    let real = serde_json::json!({"verdict": "valid", "masked": "sk-…", "attempts": 1});
    let mut diffs = Vec::new();
    let renamed = serde_json::json!({"verdict": "valid", "mask": "sk-…", "attempts": 1});
    compare(&renamed, &real, "R", "R", &mut diffs);
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    diffs.clear();
    let recoded = serde_json::json!({"verdict": "ok", "masked": "x", "attempts": 1});
    compare(&recoded, &real, "R", "R", &mut diffs);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    diffs.clear();
    let retyped = serde_json::json!({"verdict": "valid", "masked": "x", "attempts": "1"});
    compare(&retyped, &real, "R", "R", &mut diffs);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
}

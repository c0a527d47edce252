//! byok quickstart: the whole bring-your-own-key flow, on this machine, no setup.
//!
//! `cargo run --example quickstart`
//!
//! An encrypted SQLite vault in a temporary directory with a freshly generated
//! master key, mock OpenAI servers started in-process (no network), then: paste
//! keys (normalised, checked, tested, saved), list them masked, call the provider
//! with the primary until it runs out of credits, fall back to the backup, and
//! keep the spend inside a budget with a cost that says how sure it is.
//!
//! With `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GEMINI_API_KEY` set, it also
//! tests that real key against the real provider (one 1-token call at most).

use std::sync::Arc;

use byok::guard::{
    Actual, Admission, Budget, CallRequest, Guard, Period, Prompt, Scope, Usage, Usd, ledger,
};
use byok::keys::{KeyKind, Provider, SecretString, fake, normalize};
use byok::select::CallOutcome;
use byok::store::{MasterKey, MasterKeySource, SqliteStore, WorkspaceId};
use byok::verify::{Depth, Verifier, VerifierConfig};
use byok::{NewKey, Vault, VaultError};
use byok_testkit::{MockOpenAi, Scenario};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    println!("== 1. An encrypted vault and a budget ledger, embedded ==\n");
    let master = MasterKey::generate()?.to_base64(); // production: BYOK_MASTER_KEY, a key file, or a passphrase
    let store = SqliteStore::open(&dir.path().join("vault.db")).await?;
    // The keys we are about to "paste" (fake, with the exact shape of real ones).
    let primary_raw = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let backup_raw = fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 2);
    let revoked_raw = fake::key(Provider::OpenAi, KeyKind::Project, 3);
    let openai = MockOpenAi::builder()
        .scenario_for_key(&backup_raw, Scenario::Valid)
        .scenario_for_key(&revoked_raw, Scenario::InvalidKey)
        .start()
        .await;
    let guard = Guard::new(
        ledger::open(&format!(
            "sqlite:{}",
            dir.path().join("ledger.db").display()
        ))
        .await?,
    );
    let vault = Vault::builder()
        .store(Arc::new(store))
        .master_key(MasterKeySource::Base64(master))
        .verifier(Verifier::new(
            VerifierConfig::default().base_url(Provider::OpenAi, &openai.uri()),
        )?)
        .guard(guard)
        .actor("quickstart")
        .build()
        .await?;
    println!(
        "vault:  {}/vault.db (keys sealed with XChaCha20-Poly1305 under a generated master key)",
        dir.path().display()
    );
    println!(
        "mock:   OpenAI at {} (in-process; nothing leaves this machine)\n",
        openai.uri()
    );

    println!("== 2. Paste keys: normalise, check the format, Test, save encrypted ==\n");
    let ws = WorkspaceId::new("acme")?;
    let pastes = [
        (format!("  \"Bearer {primary_raw}\"\n"), "production", None),
        (format!("OPENAI_API_KEY={backup_raw}"), "fallback", Some(1)),
        (revoked_raw.clone(), "old key", Some(2)),
        (primary_raw[..120].to_owned(), "half a key", Some(3)),
    ];
    for (pasted, label, backup) in pastes {
        for fix in normalize(&pasted).fixes() {
            println!("  ({label}: {})", fix.message());
        }
        let mut new = NewKey::new(ws.clone(), SecretString::from(pasted), label);
        if let Some(order) = backup {
            new = new.backup(order);
        }
        match vault.add_with_report(new).await {
            Ok(added) => {
                let verdict = added.report.as_ref().map_or("untested", |r| r.code());
                println!(
                    "saved   {label:<11} {:<20} Test: {verdict}",
                    added.key.masked
                );
            }
            Err(VaultError::KeyRejected { report }) => {
                println!(
                    "refused {label:<11} {:<20} Test: {} — {}",
                    report.masked,
                    report.code(),
                    report.message()
                );
                println!("        what to do: {}", report.remediation());
            }
            Err(e) => println!("refused {label:<11} [{}] {e}", e.code()),
        }
    }

    println!("\n== 3. What a key-management UI shows (never the secret) ==\n");
    for k in vault.list(&ws).await? {
        let verdict = k.last_verdict.map_or("-", |v| v.as_str());
        println!(
            "{:<11} {:<8} {:<7} {:<20} last test: {verdict}",
            k.label,
            k.role.as_str(),
            k.status.as_str(),
            k.masked
        );
    }

    println!("\n== 4. Calls: reserve the budget, call with the selected key, settle ==\n");
    let budget = Scope::workspace("acme");
    let guard = vault.guard().expect("configured above");
    guard
        .set_budget(
            &Budget::new(budget.clone(), Usd::from_dollars(5), Period::Month).alerts([50, 80, 100]),
        )
        .await?;
    let http = reqwest::Client::new();
    for call in 1..=3 {
        if call == 2 {
            openai.set_scenario(Scenario::NoCredits); // the primary's account runs dry
            println!("(the primary's account runs out of credits)");
        }
        let lease = vault.select(&ws, Provider::OpenAi).await?;
        for s in lease.skipped() {
            println!(
                "call {call}: skipped {} {}: {}",
                s.label,
                s.masked,
                s.reason.message()
            );
        }
        // Hold the worst case for this model and prompt (every output token used).
        let request = CallRequest {
            scopes: lease.scopes(),
            model: "gpt-4o-mini",
            prompt: Prompt::Text("Hello"),
            max_output_tokens: Some(50),
        };
        let Admission::Reserved(hold) = guard.reserve(&request).await? else {
            println!("call {call}: over budget, not sent");
            continue;
        };
        let answer = http
            .post(format!("{}/v1/chat/completions", openai.uri()))
            .bearer_auth(lease.key().expose_secret())
            .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_completion_tokens": 50}))
            .send()
            .await?;
        let status = answer.status().as_u16();
        let body = answer.bytes().await?;
        let verdict = vault
            .report(
                &lease,
                CallOutcome::HttpError {
                    status,
                    body: &body,
                },
            )
            .await?;
        if status == 200 {
            let usage = Usage::from_json(std::str::from_utf8(&body)?)?;
            let cost = guard.prices().cost("gpt-4o-mini", &usage)?;
            guard.settle(&hold, Actual::Usage(usage)).await?;
            let usd = cost.usd.map_or_else(|| "n/a".into(), |u| format!("${u}"));
            println!(
                "call {call}: {} answered with {}: {usd} ({})",
                lease.view().label,
                lease.view().masked,
                cost.label.human()
            );
        } else {
            guard.release(hold.id).await?;
            println!(
                "call {call}: {} answered {status}: {} (reported; the key is benched)",
                lease.view().label,
                verdict.message()
            );
        }
    }
    let s = guard.status(&budget).await?.expect("set above");
    println!(
        "\nbudget {budget}: spent ${} of ${} this month, ${} held, ${} remaining",
        s.spent, s.budget.limit, s.held, s.remaining
    );
    for (label, usd) in &s.spent_by_label {
        println!("  {}: ${usd}", label.human());
    }

    test_real_keys().await?;
    Ok(())
}

/// With a real key in the environment, press the Test button against the real provider.
async fn test_real_keys() -> Result<(), Box<dyn std::error::Error>> {
    let vars = [
        ("OPENAI_API_KEY", Provider::OpenAi),
        ("ANTHROPIC_API_KEY", Provider::Anthropic),
        ("GEMINI_API_KEY", Provider::Google),
    ];
    let present: Vec<_> = vars
        .iter()
        .filter_map(|(v, p)| std::env::var(v).ok().map(|k| (*v, *p, k)))
        .collect();
    if present.is_empty() {
        println!(
            "\n(set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY to Test a real key as well)"
        );
        return Ok(());
    }
    println!("\n== 5. Your real keys, against the real providers ==\n");
    let verifier = Verifier::new(VerifierConfig::default())?;
    for (var, provider, raw) in present {
        match normalize(&raw).parse_for(provider) {
            Ok(key) => {
                let r = verifier.verify(&key, Depth::Billing).await;
                println!("{var}: {} {} — {}", r.masked, r.code(), r.message());
                if !r.verdict.is_valid() {
                    println!("  what to do: {}", r.remediation());
                }
            }
            Err(e) => println!("{var}: [{}] {e} — {}", e.code(), e.hint()),
        }
    }
    Ok(())
}

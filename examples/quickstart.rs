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

use byok::call::Call;
use byok::guard::{Budget, Guard, Period, Scope, Usd, ledger};
use byok::keys::{KeyKind, Provider, SecretString, fake, normalize};
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

    println!("\n== 4. Calls: one line from \"which key\" to \"what it cost\" ==\n");
    let budget = Scope::workspace("acme");
    let guard = vault.guard().expect("configured above");
    guard
        .set_budget(
            &Budget::new(budget.clone(), Usd::from_dollars(5), Period::Month).alerts([50, 80, 100]),
        )
        .await?;
    let body = serde_json::json!({"model": "gpt-4o-mini", "max_completion_tokens": 50,
        "messages": [{"role": "user", "content": "Hello"}]});
    for call in 1..=3 {
        if call == 2 {
            openai.set_scenario(Scenario::NoCredits); // the primary's account runs dry
            println!("(the primary's account runs out of credits)");
        }
        // Select the key, hold the worst case, send, fall back on a refused key, settle.
        match vault.call(&ws, Call::openai_chat(body.clone())).await {
            Ok(called) => {
                for f in &called.fallbacks {
                    println!(
                        "call {call}: {} {} refused ({}), benched; falling back",
                        f.key.label,
                        f.key.masked,
                        f.verdict.as_str()
                    );
                }
                let cost = called.cost.expect("a priced model");
                let usd = cost.usd.map_or_else(|| "n/a".into(), |u| format!("${u}"));
                println!(
                    "call {call}: {} answered with {}: {usd} ({})",
                    called.key.label,
                    called.key.masked,
                    cost.label.human()
                );
            }
            Err(e) => println!("call {call}: not made [{}] {e}", e.code()),
        }
    }

    // A streamed call: the provider's bytes as they arrive, metered on the way.
    let streamed = Call::openai_chat(body.clone()).stream(true);
    let mut stream = vault.call_stream(&ws, streamed).await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.next_chunk().await {
        bytes += chunk?.len();
    }
    let called = stream.finish().await?;
    let cost = called.cost.expect("a priced model");
    println!(
        "stream: {bytes} bytes passed through; {} tokens in, {} out: ${} ({})",
        called.usage.map_or(0, |u| u.prompt_tokens()),
        called.usage.map_or(0, |u| u.completion_tokens()),
        cost.usd.map_or_else(|| "n/a".into(), |u| u.to_string()),
        cost.label.human()
    );
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

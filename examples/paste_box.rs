//! byok-keys: what happens to a key from the moment it is pasted, and how keys
//! that leaked into text are found and masked.
//!
//! `cargo run --example paste_box` — no setup, no network, no environment.

use byok::keys::{KeyKind, Provider, fake, normalize, redact, scan};

fn main() {
    println!("== 1. The paste box: normalise, then parse ==\n");
    // Fake keys with the exact shape of real ones (no provider accepts them).
    let project = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 2);
    let gemini = fake::key(Provider::Google, KeyKind::Auth, 3);
    let pastes = [
        format!("  \"Bearer {project}\"\n"),
        format!("export ANTHROPIC_API_KEY='{anthropic}'"),
        format!("{gemini}\u{200B}"),
        format!("{}\n{}", &project[..60], &project[60..]),
        project[..120].to_string(),
        "sk-...".to_string(),
        anthropic.replace("api03", "oat01"),
    ];
    for (i, pasted) in pastes.iter().enumerate() {
        let normalized = normalize(pasted);
        match normalized.parse() {
            Ok(key) => {
                println!(
                    "paste {}: {} {} key {}  ({})",
                    i + 1,
                    key.provider().display_name(),
                    key.kind(),
                    key.masked(),
                    key.fingerprint()
                );
                for fix in normalized.fixes() {
                    println!("         fixed: {}", fix.message());
                }
            }
            Err(e) => {
                println!("paste {}: rejected [{}] {e}", i + 1, e.code());
                println!("         what to do: {}", e.hint());
            }
        }
    }

    println!("\n== 2. Keys that leaked into text: scan and redact ==\n");
    let log = format!(
        "2026-11-22T10:41:07Z ERROR upstream 401 for key {project} (task-runner)\n\
         GET /v1beta/models?key={gemini}&alt=json -> 400\n"
    );
    for f in scan(&log) {
        println!(
            "found {} {} key at bytes {:?}: {}",
            f.provider, f.kind, f.span, f.masked
        );
    }
    println!("\nredacted log:\n{}", redact(&log));
}

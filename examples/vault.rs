//! byok-store through the `Vault`: an encrypted SQLite vault, its life cycle and
//! its audit trail, and a master-key rotation.
//!
//! `cargo run --example vault` — a temporary directory, no network (keys are
//! saved without a provider Test here; see `quickstart` for that).

use std::sync::Arc;

use byok::keys::{KeyKind, Provider, SecretString, fake};
use byok::store::{MasterKey, MasterKeySource, SqliteStore, WorkspaceId};
use byok::{NewKey, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("vault.db");
    let (old_master, new_master) = (
        MasterKey::generate()?.to_base64(),
        MasterKey::generate()?.to_base64(),
    );
    let open = |master: SecretString| {
        let path = path.clone();
        async move {
            Vault::builder()
                .store(Arc::new(SqliteStore::open(&path).await?))
                .master_key(MasterKeySource::Base64(master))
                .actor("admin@acme")
                .build()
                .await
        }
    };
    let vault = open(old_master.clone()).await?;
    let ws = WorkspaceId::new("acme")?;

    println!("== Add, rotate, disable, revoke ==\n");
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 1);
    let key = vault
        .add(NewKey::new(
            ws.clone(),
            SecretString::from(raw.clone()),
            "claude prod",
        ))
        .await?;
    println!(
        "added   {} {} (version {})",
        key.label, key.masked, key.version
    );
    let dup = vault
        .add(NewKey::new(ws.clone(), SecretString::from(raw), "again"))
        .await
        .unwrap_err();
    println!("again   refused [{}]: {dup}", dup.code());
    let rotated = vault
        .rotate(
            &ws,
            key.id,
            SecretString::from(fake::key(Provider::Anthropic, KeyKind::Api, 2)),
        )
        .await?;
    println!(
        "rotated {} -> {} (same id, version {})",
        key.masked, rotated.masked, rotated.version
    );
    let len = vault
        .with_key(&ws, key.id, |k| k.expose_secret().len())
        .await?;
    println!("leased  the secret to a closure ({len} characters), audited as a use");
    vault.disable(&ws, key.id).await?;
    let refused = vault.with_key(&ws, key.id, |_| ()).await.unwrap_err();
    println!("disabled: a lease is refused [{}]", refused.code());
    vault.enable(&ws, key.id).await?;
    vault.revoke(&ws, key.id).await?;
    println!("revoked: it can only be deleted now");

    println!("\n== What is on disk ==\n");
    let mut on_disk = std::fs::read(&path)?;
    on_disk.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
    let secrets = [
        fake::key(Provider::Anthropic, KeyKind::Api, 1),
        fake::key(Provider::Anthropic, KeyKind::Api, 2),
    ];
    let leaked = secrets.iter().any(|k| {
        let body = &k.as_bytes()["sk-ant-api03-".len()..k.len() - 4];
        body.windows(12)
            .any(|piece| on_disk.windows(12).any(|w| w == piece))
    });
    println!(
        "vault.db + WAL: {} bytes; any 12-character piece of a key's body in them: {leaked}",
        on_disk.len()
    );
    let wrong = open(MasterKey::generate()?.to_base64()).await.unwrap_err();
    println!(
        "opening with another master key: [{}] {wrong}",
        wrong.code()
    );

    println!("\n== Rotate the master key (online, resumable) ==\n");
    vault
        .add(NewKey::new(
            ws.clone(),
            SecretString::from(fake::key(Provider::Google, KeyKind::Auth, 3)),
            "gemini",
        ))
        .await?;
    let report = vault
        .rewrap(MasterKeySource::Base64(new_master.clone()), |p| {
            println!("  progress: {} seen, {} re-wrapped", p.seen, p.rewrapped)
        })
        .await?;
    println!("rewrap complete: {}", report.complete);
    let vault = open(new_master).await?;
    let ok = vault
        .check(Some(&ws))
        .await?
        .iter()
        .filter(|c| c.error.is_none())
        .count();
    println!(
        "reopened with the new master key: {ok} of {} records open",
        vault.list(&ws).await?.len()
    );
    let old = open(old_master).await.unwrap_err();
    println!("the old master key is retired: [{}]", old.code());

    println!("\n== Audit trail (who, what, when; never the secret) ==\n");
    for e in vault.audit(&ws).await? {
        println!(
            "{} {:<8} {} by {}",
            e.at,
            e.action.as_str(),
            e.key_id,
            e.actor
        );
    }
    Ok(())
}

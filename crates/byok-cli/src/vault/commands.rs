//! One function per `byok vault` subcommand: arguments → one library call → print.
//! Each returns the exit code; errors go back to [`super::run`], which prints them.

use std::process::ExitCode;

use byok::store::{AuditQuery, MasterKeySource, Role};
use byok::{KeyEdit, NewKey, Purpose, Vault, VaultError};
use serde_json::json;

use super::print::{
    print_added, print_check, print_no_usable, print_rejected, print_rewrap, print_skipped,
    print_view,
};
use super::{
    AddArgs, AuditArgs, CheckArgs, EditArgs, KeyArg, NEW_MASTER_KEY_ENV, RotateArgs, SelectArgs,
    TestArgs, WorkspaceArg, key_id, read_secret, workspace,
};
use crate::output::{self, outln};
use crate::params_arg;
use crate::test_cmd::print_report;

type Exit = Result<ExitCode, VaultError>;

fn ok() -> Exit {
    Ok(ExitCode::from(output::OK))
}

fn negative() -> Exit {
    Ok(ExitCode::from(output::NEGATIVE))
}

/// `init`: the vault was opened (created if needed) before this runs.
pub(super) fn init(location: &str, json: bool) -> Exit {
    if json {
        output::print_json(&json!({ "vault": location, "ready": true }));
    } else {
        outln!("vault ready: {location}");
    }
    ok()
}

/// `add`: the key on stdin, tested first unless `--no-test`.
pub(super) async fn add(vault: &Vault, a: AddArgs, json: bool) -> Exit {
    let pairs = match params_arg::pairs(&a.params) {
        Ok(p) => p,
        Err(e) => return Ok(e.report(json)),
    };
    let params = params_arg::checked(a.provider, pairs)?;
    let secret = read_secret()?;
    let mut new = NewKey::new(workspace(&a.workspace)?, secret, a.label).provider(a.provider);
    if let Some(p) = params {
        new = new.params(p);
    }
    if a.role == Role::Backup.as_str() {
        new = new.backup(a.order);
    }
    if a.usage_sync {
        new = new.purpose(Purpose::UsageSync);
    }
    if let Some(m) = a.default_model {
        new = new.default_model(m);
    }
    if let Some(n) = a.note {
        new = new.note(n);
    }
    match vault.add_with_report(new).await {
        Ok(added) => {
            print_added(&added, json);
            ok()
        }
        Err(e) => match &e {
            VaultError::KeyRejected { report: r } => {
                print_rejected(&e, r, json);
                negative()
            }
            _ => Err(e),
        },
    }
}

/// `test`: the Test button for a stored key (exit 0 only when valid).
pub(super) async fn test(vault: &Vault, t: TestArgs, json: bool) -> Exit {
    let id = key_id(&t.key.id)?;
    let report = vault
        .test(&workspace(&t.key.workspace)?, id, t.verify.depth)
        .await?;
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["id"] = json!(id);
        output::print_json(&value);
    } else {
        print_report(&report, false);
    }
    if report.verdict.is_valid() {
        ok()
    } else {
        negative()
    }
}

/// `select`: which key a call would use, and which were passed over.
pub(super) async fn select(vault: &Vault, s: SelectArgs, json: bool) -> Exit {
    match vault.select(&workspace(&s.workspace)?, s.provider).await {
        Ok(lease) => {
            if json {
                let mut value = serde_json::to_value(lease.view()).unwrap_or_default();
                value["skipped"] = serde_json::to_value(lease.skipped()).unwrap_or_default();
                output::print_json(&value);
            } else {
                print_view(lease.view(), false);
                print_skipped(lease.skipped());
            }
            ok()
        }
        Err(e) => match &e {
            VaultError::NoUsableKey { skipped, .. } => {
                print_no_usable(&e, skipped, json);
                negative()
            }
            _ => Err(e),
        },
    }
}

/// `list`: the workspace's keys, primaries first.
pub(super) async fn list(vault: &Vault, w: WorkspaceArg, json: bool) -> Exit {
    for v in &vault.list(&workspace(&w.workspace)?).await? {
        print_view(v, json);
    }
    ok()
}

/// `show`: one key's view.
pub(super) async fn show(vault: &Vault, k: KeyArg, json: bool) -> Exit {
    let view = vault
        .show(&workspace(&k.workspace)?, key_id(&k.id)?)
        .await?;
    print_view(&view, json);
    ok()
}

/// `rotate`: the new secret on stdin, same id.
pub(super) async fn rotate(vault: &Vault, r: RotateArgs, json: bool) -> Exit {
    let (ws, id) = (workspace(&r.key.workspace)?, key_id(&r.key.id)?);
    let pairs = match params_arg::pairs(&r.params) {
        Ok(p) => p,
        Err(err) => return Ok(err.report(json)),
    };
    // Checked before the secret is read: a wrong parameter loses no pasted key.
    let params = if pairs.is_empty() {
        None
    } else {
        let current = vault.show(&ws, id).await?;
        params_arg::merged(current.provider, &current.params, pairs)?
    };
    let secret = read_secret()?;
    let view = match params {
        Some(p) => vault.rotate_with_params(&ws, id, secret, p).await?,
        None => vault.rotate(&ws, id, secret).await?,
    };
    print_view(&view, json);
    ok()
}

/// `edit`: non-secret fields, from the version the caller saw.
pub(super) async fn edit(vault: &Vault, e: EditArgs, json: bool) -> Exit {
    let mut edit = KeyEdit::new();
    if let Some(label) = e.label {
        edit = edit.label(label);
    }
    match e.role.as_deref() {
        Some("primary") => edit = edit.primary(),
        Some(_) => edit = edit.backup(e.order),
        None => {}
    }
    if let Some(model) = e.default_model {
        edit = edit.default_model(Some(model));
    }
    if let Some(note) = e.note {
        edit = edit.note(Some(note));
    }
    let (ws, id) = (workspace(&e.key.workspace)?, key_id(&e.key.id)?);
    let pairs = match params_arg::pairs(&e.params) {
        Ok(p) => p,
        Err(err) => return Ok(err.report(json)),
    };
    if !pairs.is_empty() {
        // Merged into the key's current parameters: the ones not named are kept.
        let current = vault.show(&ws, id).await?;
        if let Some(p) = params_arg::merged(current.provider, &current.params, pairs)? {
            edit = edit.params(p);
        }
    }
    print_view(&vault.edit(&ws, id, e.version, edit).await?, json);
    ok()
}

/// What `disable`, `enable` and `revoke` set.
#[derive(Debug, Clone, Copy)]
pub(super) enum StatusChange {
    Disable,
    Enable,
    Revoke,
}

/// `disable`, `enable`, `revoke`.
pub(super) async fn set_status(vault: &Vault, k: KeyArg, change: StatusChange, json: bool) -> Exit {
    let (ws, id) = (workspace(&k.workspace)?, key_id(&k.id)?);
    let view = match change {
        StatusChange::Disable => vault.disable(&ws, id).await?,
        StatusChange::Enable => vault.enable(&ws, id).await?,
        StatusChange::Revoke => vault.revoke(&ws, id).await?,
    };
    print_view(&view, json);
    ok()
}

/// `delete`: the record and its sealed secret.
pub(super) async fn delete(vault: &Vault, k: KeyArg, json: bool) -> Exit {
    let id = key_id(&k.id)?;
    vault.delete(&workspace(&k.workspace)?, id).await?;
    if json {
        output::print_json(&json!({ "id": id, "deleted": true }));
    } else {
        outln!("deleted {id}");
    }
    ok()
}

/// `check`: open every sealed secret (exit 1 if any fails).
pub(super) async fn check(vault: &Vault, c: CheckArgs, json: bool) -> Exit {
    let ws = c.workspace.as_deref().map(workspace).transpose()?;
    let outcomes = vault.check(ws.as_ref()).await?;
    for o in &outcomes {
        print_check(o, json);
    }
    if outcomes.iter().any(|o| !o.ok()) {
        negative()
    } else {
        ok()
    }
}

/// `rewrap`: every data key under the master key in `BYOK_NEW_MASTER_KEY`.
pub(super) async fn rewrap(vault: &Vault, json: bool) -> Exit {
    let report = vault
        .rewrap(MasterKeySource::Env(NEW_MASTER_KEY_ENV.into()), |p| {
            eprint!(
                "\rrewrap: {} seen, {} rewrapped, {} already done, {} failed",
                p.seen, p.rewrapped, p.already, p.failed
            );
        })
        .await?;
    eprintln!();
    print_rewrap(&report, json);
    if report.complete { ok() } else { negative() }
}

/// Events read per page by `audit`.
const AUDIT_PAGE: u64 = 1000;

/// `audit`: the trail, page by page, as `--since`, `--after` and `--limit` select.
pub(super) async fn audit(vault: &Vault, a: AuditArgs, json: bool) -> Exit {
    let ws = workspace(&a.workspace.workspace)?;
    let mut left = a.limit.unwrap_or(u64::MAX);
    let mut after = a.after;
    while left > 0 {
        let mut query = AuditQuery::first(usize::try_from(left.min(AUDIT_PAGE)).unwrap_or(1));
        if let Some(since) = a.since {
            query = query.since(since);
        }
        if let Some(seq) = after {
            query = query.after(seq);
        }
        let page = vault.audit_page(&ws, &query).await?;
        for (seq, e) in &page.events {
            if json {
                let mut value = serde_json::to_value(e).unwrap_or_default();
                value["seq"] = json!(seq);
                output::print_json(&value);
            } else {
                outln!(
                    "{} {} {} {} {}",
                    e.at,
                    e.workspace,
                    e.key_id,
                    e.action,
                    e.actor
                );
            }
        }
        left = left.saturating_sub(page.events.len() as u64);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    ok()
}

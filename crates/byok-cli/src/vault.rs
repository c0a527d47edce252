//! `byok vault`: the encrypted key vault from the command line.
//!
//! Secrets come from stdin only; the master key from `BYOK_MASTER_KEY` (base64 of
//! 32 bytes) or `BYOK_MASTER_KEY_FILE`; the new one for `rewrap` from
//! `BYOK_NEW_MASTER_KEY`; while a rewrap is unfinished, the older key may be given
//! in `BYOK_PREVIOUS_MASTER_KEY`. Printed views carry the mask, never the secret.
//!
//! `add` tests a key with its provider before saving it (`--no-test` skips that):
//! an `invalid` key is refused with the verdict (exit 1), any other verdict is saved
//! with the key and printed with it. `test` is the Test button for a stored key and
//! `select` shows which key a call would use, and which keys it passed over and why.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use byok::keys::{Provider, SecretString};
use byok::select::Skipped;
use byok::store::{
    AuditQuery, CheckOutcome, KeyId, KeyStore, KeyView, MasterKeySource, OpenMode, RewrapReport,
    Role, StoreError, VAULT_ENV, VaultLocation, WorkspaceId, permissions_warning,
};
use byok::verify::Report;
use byok::{Added, KeyEdit, NewKey, Purpose, Vault, VaultError, VerifyPolicy};
use serde_json::json;

use crate::output::{self, CliError, errln, outln};
use crate::test_cmd::print_report;
use crate::verify_args::VerifyArgs;

/// Environment variable with the master key for `rewrap` to move to.
const NEW_MASTER_KEY_ENV: &str = "BYOK_NEW_MASTER_KEY";
/// Environment variable with an older master key, accepted while a rewrap is unfinished.
const PREVIOUS_MASTER_KEY_ENV: &str = "BYOK_PREVIOUS_MASTER_KEY";

/// Arguments of `byok vault`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Vault file (SQLite, or sqlite:PATH) or a postgres:// URL. Default: $BYOK_VAULT
    /// (keeps a URL with a password off the command line), else
    /// $XDG_DATA_HOME/byok/vault.db, else $HOME/.local/share/byok/vault.db. Only
    /// `add` and `init` create a vault; every other command needs an existing one.
    #[arg(long, global = true, value_name = "PATH|URL")]
    vault: Option<String>,
    /// One JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    /// Who the audit trail names (default cli:$USER).
    #[arg(long, global = true, value_name = "NAME")]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create the vault (file or tables) and its metadata under the master key, if
    /// not there yet; prints where it is. Safe to run again.
    Init,
    /// Test the key read from stdin with its provider, then add it; prints its masked
    /// view and the verdict. An `invalid` key is refused (exit 1); `no_credits`,
    /// `rate_limited` and other verdicts are saved with a warning.
    Add(AddArgs),
    /// List a workspace's keys (primaries first, then backups by order).
    List(WorkspaceArg),
    /// Show one key.
    Show(KeyArg),
    /// Test a stored key with its provider and record the verdict on it
    /// (exit 0 only when valid).
    Test(TestArgs),
    /// Which key a call to a provider would use: the primary, or the first usable
    /// backup, with every key passed over and why (never the secret).
    Select(SelectArgs),
    /// Replace a key's secret with the one read from stdin (same id).
    Rotate(KeyArg),
    /// Change a key's label, role, default model or note, from the version you saw
    /// (a stale version is a `conflict`).
    Edit(EditArgs),
    /// Switch a key off (reversible with `enable`).
    Disable(KeyArg),
    /// Switch a disabled key on again.
    Enable(KeyArg),
    /// Revoke a key: never used again, can only be deleted.
    Revoke(KeyArg),
    /// Delete a key and its sealed secret.
    Delete(KeyArg),
    /// Open every sealed secret and report which fail (exit 1 if any).
    Check(CheckArgs),
    /// Re-wrap every data key under the master key in BYOK_NEW_MASTER_KEY. Resumable: after an
    /// interruption, run the same command again.
    Rewrap,
    /// Print a workspace's audit trail, oldest first, read page by page (memory stays
    /// small however long the trail). `--json` lines carry `seq`, for `--after`.
    Audit(AuditArgs),
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// Workspace (tenant) to add the key to.
    #[arg(long, value_name = "W")]
    workspace: String,
    /// Provider the key must belong to (openai, anthropic, google).
    #[arg(long, value_name = "P")]
    provider: Provider,
    /// A name for the key.
    #[arg(long, value_name = "L")]
    label: String,
    /// primary or backup.
    #[arg(long, default_value = "primary", value_parser = ["primary", "backup"])]
    role: String,
    /// Order among backups (lower first).
    #[arg(long, default_value_t = 1)]
    order: u32,
    /// The key is an admin key for usage and cost sync, not for inference.
    #[arg(long)]
    usage_sync: bool,
    /// Model to use by default with this key.
    #[arg(long, value_name = "MODEL")]
    default_model: Option<String>,
    /// A note (never the secret).
    #[arg(long)]
    note: Option<String>,
    /// Save without testing the key: no request is sent to the provider (offline
    /// imports). The key is then untested until `byok vault test`.
    #[arg(long)]
    no_test: bool,
    #[command(flatten)]
    verify: VerifyArgs,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    verify: VerifyArgs,
}

#[derive(Debug, clap::Args)]
struct SelectArgs {
    /// Workspace (tenant).
    #[arg(long, value_name = "W")]
    workspace: String,
    /// Provider the call is for (openai, anthropic, google).
    #[arg(long, value_name = "P")]
    provider: Provider,
}

#[derive(Debug, clap::Args)]
struct WorkspaceArg {
    /// Workspace (tenant).
    #[arg(long, value_name = "W")]
    workspace: String,
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    workspace: WorkspaceArg,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<jiff::Timestamp>,
    /// Only events after this `seq` (the last one a previous run printed).
    #[arg(long, value_name = "SEQ")]
    after: Option<u64>,
    /// Print at most this many events.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct KeyArg {
    /// Workspace (tenant) of the key.
    #[arg(long, value_name = "W")]
    workspace: String,
    /// Key id (from `add` or `list`).
    id: String,
}

#[derive(Debug, clap::Args)]
struct EditArgs {
    #[command(flatten)]
    key: KeyArg,
    /// The `version` of the key as last shown; the edit applies only if it is still current.
    #[arg(long, value_name = "N")]
    version: u64,
    /// New label.
    #[arg(long, value_name = "L")]
    label: Option<String>,
    /// New role: primary or backup.
    #[arg(long, value_parser = ["primary", "backup"])]
    role: Option<String>,
    /// Order among backups, with `--role backup`.
    #[arg(long, default_value_t = 1)]
    order: u32,
    /// New default model.
    #[arg(long, value_name = "MODEL")]
    default_model: Option<String>,
    /// New note (never the secret).
    #[arg(long)]
    note: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Only this workspace (default: every workspace).
    #[arg(long, value_name = "W")]
    workspace: Option<String>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let json = args.json;
    match output::block_on(execute(args)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => report(&e, json),
        Err(e) => e.report(json),
    }
}

/// Errors about the key given are negative results (exit 1); the rest are usage or I/O errors (exit 2).
fn report(e: &VaultError, json: bool) -> ExitCode {
    let mut err = CliError::new(e.code(), e.to_string());
    if let Some(hint) = e.hint() {
        err = err.hint(hint);
    }
    let code = err.report(json);
    match e {
        VaultError::Key(_)
        | VaultError::AdminKeyRefused { .. }
        | VaultError::KeyRejected { .. }
        | VaultError::NoUsableKey { .. } => ExitCode::from(output::NEGATIVE),
        _ => code,
    }
}

async fn execute(args: Args) -> Result<ExitCode, VaultError> {
    let json = args.json;
    let mode = match args.command {
        Command::Add(_) | Command::Init => OpenMode::Create,
        _ => OpenMode::Existing,
    };
    let (store, location) = open_store(args.vault.as_deref(), mode).await?;
    let actor = args.actor.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    });
    let master = MasterKeySource::from_env()?;
    if let MasterKeySource::File(path) = &master {
        warn_if_readable(path, "the master key file");
    }
    let mut builder = Vault::builder()
        .store(store.clone())
        .master_key(master)
        .actor(actor);
    if std::env::var_os(PREVIOUS_MASTER_KEY_ENV).is_some() {
        builder = builder.previous_master_key(MasterKeySource::Env(PREVIOUS_MASTER_KEY_ENV.into()));
    }
    if matches!(args.command, Command::Rewrap) && std::env::var_os(NEW_MASTER_KEY_ENV).is_none() {
        return Err(StoreError::InvalidInput {
            detail: format!("rewrap needs the new master key in {NEW_MASTER_KEY_ENV}"),
        }
        .into());
    }
    if matches!(args.command, Command::Rewrap) {
        // Resumes a rewrap killed after it retired the key in BYOK_MASTER_KEY.
        builder = builder.rewrap_target(MasterKeySource::Env(NEW_MASTER_KEY_ENV.into()));
    }
    // The provider the verifier is for: the one given to `add`, or the stored key's for `test`.
    let verify = match &args.command {
        Command::Add(a) if !a.no_test => Some((&a.verify, a.provider)),
        Command::Test(t) => {
            let ws = workspace(&t.key.workspace)?;
            let record = store.get(&ws, key_id(&t.key.id)?).await?;
            Some((&t.verify, record.provider))
        }
        _ => None,
    };
    if let Some((v, provider)) = verify {
        match v.verifier(provider) {
            Ok(verifier) => {
                builder = builder
                    .verifier(verifier)
                    .verify_policy(VerifyPolicy::Test(v.depth));
            }
            Err(e) => return Ok(e.report(json)),
        }
    }
    let vault = builder.build().await?;
    match args.command {
        Command::Init => {
            if json {
                output::print_json(&json!({ "vault": location, "ready": true }));
            } else {
                outln!("vault ready: {location}");
            }
        }
        Command::Add(a) => {
            let secret = read_secret()?;
            let mut new =
                NewKey::new(workspace(&a.workspace)?, secret, a.label).provider(a.provider);
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
                Ok(added) => print_added(&added, json),
                Err(e) => match &e {
                    VaultError::KeyRejected { report: r } => {
                        print_rejected(&e, r, json);
                        return Ok(ExitCode::from(output::NEGATIVE));
                    }
                    _ => return Err(e),
                },
            }
        }
        Command::Test(t) => {
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
            if !report.verdict.is_valid() {
                return Ok(ExitCode::from(output::NEGATIVE));
            }
        }
        Command::Select(s) => match vault.select(&workspace(&s.workspace)?, s.provider).await {
            Ok(lease) => {
                if json {
                    let mut value = serde_json::to_value(lease.view()).unwrap_or_default();
                    value["skipped"] = serde_json::to_value(lease.skipped()).unwrap_or_default();
                    output::print_json(&value);
                } else {
                    print_view(lease.view(), false);
                    print_skipped(lease.skipped());
                }
            }
            Err(e) => match &e {
                VaultError::NoUsableKey { skipped, .. } => {
                    print_no_usable(&e, skipped, json);
                    return Ok(ExitCode::from(output::NEGATIVE));
                }
                _ => return Err(e),
            },
        },
        Command::List(w) => {
            let views = vault.list(&workspace(&w.workspace)?).await?;
            for v in &views {
                print_view(v, json);
            }
        }
        Command::Show(k) => print_view(
            &vault
                .show(&workspace(&k.workspace)?, key_id(&k.id)?)
                .await?,
            json,
        ),
        Command::Rotate(k) => {
            let secret = read_secret()?;
            print_view(
                &vault
                    .rotate(&workspace(&k.workspace)?, key_id(&k.id)?, secret)
                    .await?,
                json,
            );
        }
        Command::Edit(e) => {
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
            print_view(&vault.edit(&ws, id, e.version, edit).await?, json);
        }
        Command::Disable(k) => print_view(
            &vault
                .disable(&workspace(&k.workspace)?, key_id(&k.id)?)
                .await?,
            json,
        ),
        Command::Enable(k) => print_view(
            &vault
                .enable(&workspace(&k.workspace)?, key_id(&k.id)?)
                .await?,
            json,
        ),
        Command::Revoke(k) => print_view(
            &vault
                .revoke(&workspace(&k.workspace)?, key_id(&k.id)?)
                .await?,
            json,
        ),
        Command::Delete(k) => {
            let id = key_id(&k.id)?;
            vault.delete(&workspace(&k.workspace)?, id).await?;
            if json {
                output::print_json(&json!({ "id": id, "deleted": true }));
            } else {
                outln!("deleted {id}");
            }
        }
        Command::Check(c) => {
            let ws = c.workspace.as_deref().map(workspace).transpose()?;
            let outcomes = vault.check(ws.as_ref()).await?;
            for o in &outcomes {
                print_check(o, json);
            }
            if outcomes.iter().any(|o| !o.ok()) {
                return Ok(ExitCode::from(output::NEGATIVE));
            }
        }
        Command::Rewrap => {
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
            if !report.complete {
                return Ok(ExitCode::from(output::NEGATIVE));
            }
        }
        Command::Audit(a) => print_audit(&vault, &a, json).await?,
    }
    Ok(ExitCode::from(output::OK))
}

/// Events read per page by `audit`.
const AUDIT_PAGE: u64 = 1000;

/// The audit trail, page by page, as `--since`, `--after` and `--limit` select.
async fn print_audit(vault: &Vault, a: &AuditArgs, json: bool) -> Result<(), VaultError> {
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
    Ok(())
}

/// A warning on stderr when `path` can be read by other local users.
fn warn_if_readable(path: &std::path::Path, what: &str) {
    if let Some(w) = permissions_warning(path, what) {
        errln!("warning: {w}");
    }
}

/// The store `--vault`, else `BYOK_VAULT`, else the default path names, and how
/// to show where it is (a path with any key masked; a URL only as "PostgreSQL").
async fn open_store(
    vault: Option<&str>,
    mode: OpenMode,
) -> Result<(Arc<dyn KeyStore>, String), VaultError> {
    let from_env = std::env::var(VAULT_ENV).ok().filter(|v| !v.is_empty());
    let target = match vault.map(str::to_owned).or(from_env) {
        Some(v) => v,
        None => {
            let path = default_path()?;
            if mode == OpenMode::Create {
                if let Some(parent) = path.parent() {
                    create_private_dir(parent)?;
                }
            }
            path.display().to_string()
        }
    };
    let location = VaultLocation::parse(&target)?;
    let store = byok::store::open(&target, mode).await?;
    let shown = match &location {
        VaultLocation::Sqlite(path) => {
            warn_if_readable(path, "the vault file");
            byok::keys::redact(&path.display().to_string()).into_owned()
        }
        _ => "PostgreSQL database".to_owned(),
    };
    Ok((store, shown))
}

/// `$XDG_DATA_HOME/byok/vault.db`, else `$HOME/.local/share/byok/vault.db`.
fn default_path() -> Result<PathBuf, VaultError> {
    let base = match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".local/share"),
        _ => {
            return Err(StoreError::InvalidInput {
                detail: "neither XDG_DATA_HOME nor HOME is set; pass --vault PATH".into(),
            }
            .into());
        }
    };
    Ok(base.join("byok").join("vault.db"))
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), VaultError> {
    byok::keys::fs::create_private_dir(dir).map_err(|e| {
        VaultError::Store(StoreError::Io {
            path: byok::keys::redact(&dir.display().to_string()).into_owned(),
            detail: e.to_string(),
        })
    })
}

/// The secret on stdin, held in zeroizing buffers until it becomes a `SecretString`.
fn read_secret() -> Result<SecretString, VaultError> {
    let bytes = output::read_stdin().map_err(|e| StoreError::Io {
        path: "stdin".into(),
        detail: e.message,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| StoreError::InvalidInput {
        detail: "the key on stdin is not UTF-8 text".into(),
    })?;
    let mut exact = String::with_capacity(text.len());
    exact.push_str(text);
    Ok(SecretString::from(exact))
}

fn workspace(name: &str) -> Result<WorkspaceId, VaultError> {
    Ok(WorkspaceId::new(name)?)
}

fn key_id(id: &str) -> Result<KeyId, VaultError> {
    Ok(id.parse::<KeyId>()?)
}

fn print_view(v: &KeyView, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(v).unwrap_or_default());
    } else {
        outln!(
            "{}  {}  {}/{}  {}  {}  {}{}  {}  {}",
            v.id,
            v.workspace,
            v.provider,
            v.kind,
            v.masked,
            v.label,
            v.role.as_str(),
            if v.role == Role::Backup {
                format!("#{}", v.order)
            } else {
                String::new()
            },
            v.status.as_str(),
            v.fingerprint
        );
    }
}

/// The saved key's view plus `verdict` (null when not tested) and, when the verdict
/// is not `valid`, `warning`.
fn print_added(added: &Added, json: bool) {
    let verdict = added.report.as_ref().map(|r| r.verdict.code());
    let warning = added.warning();
    if json {
        let mut value = serde_json::to_value(&added.key).unwrap_or_default();
        value["verdict"] = json!(verdict);
        if let Some(w) = &warning {
            value["warning"] = json!(w);
        }
        output::print_json(&value);
    } else {
        print_view(&added.key, false);
        match &added.report {
            Some(r) => outln!("verdict: {}: {}", r.verdict, r.message()),
            None => outln!("verdict: not tested (--no-test)"),
        }
        if let Some(w) = &warning {
            outln!("warning: {w}");
        }
    }
}

/// A key refused by its Test (`e`, with report `r`): the report's fields (as
/// `byok test` prints them) and the `key_rejected` error.
fn print_rejected(e: &VaultError, r: &Report, json: bool) {
    if json {
        let mut value = serde_json::to_value(r).unwrap_or_default();
        value["error"] = json!({
            "code": e.code(),
            "message": e.to_string(),
            "hint": r.remediation(),
        });
        output::print_json(&value);
    } else {
        print_report(r, false);
        report(e, false);
    }
}

/// `no_usable_key` (`e`): the error and every candidate passed over, in one JSON
/// object, or the error on stderr and one line per candidate on stdout.
fn print_no_usable(e: &VaultError, skipped: &[Skipped], json: bool) {
    if json {
        output::print_json(&json!({
            "error": { "code": e.code(), "message": e.to_string(), "hint": e.hint() },
            "skipped": skipped,
        }));
    } else {
        report(e, false);
        print_skipped(skipped);
    }
}

/// The keys `select` passed over, one text line each.
fn print_skipped(skipped: &[Skipped]) {
    for s in skipped {
        outln!(
            "skipped  {}  {}  {}  {}: {}",
            s.id,
            s.masked,
            s.label,
            s.role.as_str(),
            s.reason.message()
        );
    }
}

fn print_check(o: &CheckOutcome, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(o).unwrap_or_default());
    } else {
        match &o.error {
            None => outln!("ok    {}  {}", o.id, o.workspace),
            Some(e) => outln!("FAIL  {}  {}  {}: {}", o.id, o.workspace, e.code(), e),
        }
    }
}

fn print_rewrap(r: &RewrapReport, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(r).unwrap_or_default());
    } else {
        outln!(
            "rewrap {}: {} rewrapped, {} already done, {} failed",
            if r.complete { "complete" } else { "INCOMPLETE" },
            r.progress.rewrapped,
            r.progress.already,
            r.progress.failed
        );
        for o in &r.failures {
            print_check(o, false);
        }
    }
}

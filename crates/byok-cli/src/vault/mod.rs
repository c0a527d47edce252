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

mod commands;
mod print;

use byok::keys::{Provider, SecretString};
use byok::store::{
    KeyId, KeyStore, MasterKeySource, OpenMode, StoreError, VAULT_ENV, VaultLocation, WorkspaceId,
    permissions_warning,
};
use byok::{Vault, VaultBuilder, VaultError, VerifyPolicy};

use commands::StatusChange;

use crate::output::{self, CliError, errln};
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
    /// Replace a key's secret with the one read from stdin (same id); `--param`
    /// changes its parameters in the same step (another Azure resource, region).
    Rotate(RotateArgs),
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
    /// Provider the key must belong to (any provider code: openai, anthropic, google, openrouter, groq, xai, deepseek, mistral, together, fireworks, perplexity, azure_openai, bedrock, cohere).
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
    /// A key parameter, NAME=VALUE, repeatable: Azure OpenAI needs `resource` and
    /// `deployment` (`api_version` optional), Bedrock `region` (read from a
    /// short-term key itself).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
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
    /// Provider the call is for (any provider code: openai, anthropic, google, openrouter, groq, xai, deepseek, mistral, together, fireworks, perplexity, azure_openai, bedrock, cohere).
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
struct RotateArgs {
    #[command(flatten)]
    key: KeyArg,
    /// Set a key parameter for the new secret, NAME=VALUE, repeatable; the others
    /// are kept (`NAME=` removes an optional one). Checked before the key is read.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
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
    /// Set a key parameter, NAME=VALUE, repeatable; the others are kept
    /// (`NAME=` removes an optional one).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
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
    let Opened {
        mut builder,
        store,
        location,
    } = open(args.vault.as_deref(), args.actor, mode).await?;
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
        Command::Init => commands::init(&location, json),
        Command::Add(a) => commands::add(&vault, a, json).await,
        Command::Test(t) => commands::test(&vault, t, json).await,
        Command::Select(s) => commands::select(&vault, s, json).await,
        Command::List(w) => commands::list(&vault, w, json).await,
        Command::Show(k) => commands::show(&vault, k, json).await,
        Command::Rotate(k) => commands::rotate(&vault, k, json).await,
        Command::Edit(e) => commands::edit(&vault, e, json).await,
        Command::Disable(k) => commands::set_status(&vault, k, StatusChange::Disable, json).await,
        Command::Enable(k) => commands::set_status(&vault, k, StatusChange::Enable, json).await,
        Command::Revoke(k) => commands::set_status(&vault, k, StatusChange::Revoke, json).await,
        Command::Delete(k) => commands::delete(&vault, k, json).await,
        Command::Check(c) => commands::check(&vault, c, json).await,
        Command::Rewrap => commands::rewrap(&vault, json).await,
        Command::Audit(a) => commands::audit(&vault, a, json).await,
    }
}

/// A vault about to be unlocked: what `--vault`, `--actor` and the master-key
/// variables name, shared by every command that opens the vault (`vault`, `call`).
pub(crate) struct Opened {
    /// The builder with the store, the master key (and a previous one) and the actor.
    pub(crate) builder: VaultBuilder,
    /// The store itself.
    pub(crate) store: Arc<dyn KeyStore>,
    /// Where it is, fit to show.
    pub(crate) location: String,
}

/// Open the store `vault` names (see [`Args`]) and prepare its builder: the master
/// key from the environment, `BYOK_PREVIOUS_MASTER_KEY` when set, the actor
/// (default `cli:$USER`).
pub(crate) async fn open(
    vault: Option<&str>,
    actor: Option<String>,
    mode: OpenMode,
) -> Result<Opened, VaultError> {
    open_with_master(vault, actor, mode, MasterKeySource::from_env()?).await
}

/// [`open`] with the master key given (`byok serve` may generate one).
pub(crate) async fn open_with_master(
    vault: Option<&str>,
    actor: Option<String>,
    mode: OpenMode,
    master: MasterKeySource,
) -> Result<Opened, VaultError> {
    let (store, location) = open_store(vault, mode).await?;
    let actor = actor.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    });
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
    Ok(Opened {
        builder,
        store,
        location,
    })
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
pub(crate) fn default_path() -> Result<PathBuf, VaultError> {
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

//! `byok serve`: the management REST API (`byok_serve`) over a vault and a ledger.
//!
//! With no flags: a SQLite vault (`vault.db`) and ledger (`ledger.db`) in the data
//! directory, the master key from `BYOK_MASTER_KEY` / `BYOK_MASTER_KEY_FILE`, or
//! else `master.key` in the data directory, generated (mode 0600) on first start.
//! The first admin token is printed once, on the first start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byok::keys::{ExposeSecret, Provider};
use byok::store::{
    MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, MasterKey, MasterKeySource, OpenMode, StoreError,
};
use byok::verify::{Verifier, VerifierConfig};
use byok_serve::limit::Limit;
use byok_serve::{Options, RateLimits, Server};

use crate::output::{CliError, errln, outln};

/// Arguments of `byok serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on (loopback by default; use --tls-cert or put TLS in front for anything else).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Vault: a SQLite file or a postgres:// URL [default: $BYOK_VAULT, else DATA_DIR/vault.db].
    #[arg(long, value_name = "PATH|URL")]
    vault: Option<String>,
    /// Ledger URL: sqlite:PATH, postgres://…, redis://… [default: $BYOK_LEDGER, else sqlite:DATA_DIR/ledger.db].
    #[arg(long, value_name = "URL")]
    ledger: Option<String>,
    /// Where the default vault, ledger and generated master key live
    /// [default: $XDG_DATA_HOME/byok, else $HOME/.local/share/byok].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Browser origin allowed to call the API (CORS), repeatable; none by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Send one provider's Test requests to another origin, PROVIDER=URL, repeatable
    /// (e.g. openai=http://127.0.0.1:9000 for `byok mock serve`).
    #[arg(long = "base-url", value_name = "PROVIDER=URL")]
    base_urls: Vec<String>,
    /// Accept an http:// --base-url to another host than this machine.
    #[arg(long)]
    allow_http: bool,
    /// Seconds a proxied call's budget hold lasts if it is never settled (the
    /// server killed mid-call): at least 60, longer than the slowest call.
    #[arg(long = "hold-ttl", value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(60..))]
    hold_ttl: u64,
    /// Per-token limit on adding, testing and rotating keys (each one reaches the
    /// provider): PER_MINUTE, PER_MINUTE,BURST or `off`.
    #[arg(long, value_name = "RATE", default_value_t = Limit(RateLimits::default().key_tests))]
    rate_limit_tests: Limit,
    /// Per-token limit on the format check: PER_MINUTE, PER_MINUTE,BURST or `off`.
    #[arg(long, value_name = "RATE", default_value_t = Limit(RateLimits::default().format_checks))]
    rate_limit_format: Limit,
    /// How long a token's row and a workspace's key list read from the vault are
    /// reused (0: read on every request). Changes made through this server are
    /// seen at once; another instance's or process's within this time.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    read_cache_ms: u64,
    /// Log lines on stderr: `text` for people, `json` (one object per line) for a
    /// log pipeline. Levels from $BYOK_LOG (`info` by default; e.g. `debug`,
    /// `byok_serve=debug,info`).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// How `byok serve` writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event (`timestamp`, `level`, `fields`, `target`, `span`, `spans`).
    Json,
}

/// A line for the operator on stderr: plain text, or with `--log-format json`
/// a log event (a warning when `loud`), so a log pipeline reads every line.
fn notice(format: LogFormat, loud: bool, line: &str) {
    match (format, loud) {
        (LogFormat::Text, _) => errln!("{line}"),
        (LogFormat::Json, true) => tracing::warn!("{line}"),
        (LogFormat::Json, false) => tracing::info!("{line}"),
    }
}

/// Log to stderr, filtered by `$BYOK_LOG`. A bad filter is a usage error.
fn init_logging(format: LogFormat) -> Result<(), CliError> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("BYOK_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v.trim()).map_err(|_| {
            CliError::new("invalid_log_filter", "$BYOK_LOG is not a log filter")
                .hint("e.g. BYOK_LOG=info, BYOK_LOG=debug or BYOK_LOG=byok_serve=debug,warn")
        })?,
        _ => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let done = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    done.map_err(|e| CliError::new("io_error", format!("cannot start the log: {e}")))
}

pub(crate) fn run(args: Args) -> ExitCode {
    // A server wants both cores: a multi-threaded runtime, unlike the one-shot commands.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return CliError::new("io_error", format!("cannot start the async runtime: {e}"))
                .report(false);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(false),
    }
}

fn vault_error(e: byok::VaultError) -> CliError {
    let mut err = CliError::new(e.code(), e.to_string());
    if let Some(h) = e.hint() {
        err = err.hint(h);
    }
    err
}

async fn serve(args: Args) -> Result<(), CliError> {
    init_logging(args.log_format)?;
    // Read first: a bad certificate stops the start before a vault or token is made.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            byok_serve::TlsConfig::from_pem_files(cert, key).map_err(|e| {
                CliError::new(e.code(), e.to_string()).hint(
                    "--tls-cert takes a PEM certificate chain (leaf first), --tls-key the PEM private key it was made for",
                )
            })?,
        ),
        _ => None,
    };
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => crate::vault::default_path()
            .map_err(vault_error)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    byok::keys::fs::create_private_dir(&data_dir)
        .map_err(|e| CliError::new("io_error", format!("cannot create the data directory: {e}")))?;
    let vault_target = args
        .vault
        .or_else(|| {
            std::env::var(byok::store::VAULT_ENV)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| data_dir.join("vault.db").display().to_string());
    let ledger_url = args
        .ledger
        .or_else(|| std::env::var("BYOK_LEDGER").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("ledger.db").display()));
    let master = master_key(&data_dir, args.log_format).map_err(vault_error)?;
    let crate::vault::Opened { builder, .. } = crate::vault::open_with_master(
        Some(&vault_target),
        Some("byok-serve".into()),
        OpenMode::Create,
        master,
    )
    .await
    .map_err(vault_error)?;
    let ledger = crate::budget::open_ledger(Some(&ledger_url)).await?;
    // The proxy's calls are metered on the server's ledger.
    let vault = builder
        .verifier(verifier(&args.base_urls, args.allow_http)?)
        .guard(
            byok::guard::Guard::new(ledger.clone())
                .with_ttl(std::time::Duration::from_secs(args.hold_ttl)),
        )
        .build()
        .await
        .map_err(vault_error)?;
    let server = Server::new(vault, ledger)
        .map_err(|e| CliError::new(e.code(), e.to_string()))?
        .options(
            Options::default()
                .cors_origins(args.cors_origins)
                .rate_limits(
                    RateLimits::off()
                        .key_tests(args.rate_limit_tests.0)
                        .format_checks(args.rate_limit_format.0),
                )
                .read_cache(std::time::Duration::from_millis(args.read_cache_ms)),
        );
    if let Some(token) = server
        .bootstrap()
        .await
        .map_err(|e| CliError::new(e.code(), e.to_string()))?
    {
        notice(
            args.log_format,
            true,
            "first start: an admin token was made. It is shown this once (on stdout); keep it in a secret manager:",
        );
        outln!("{}", token.expose_secret());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::new("io_error", format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::new("io_error", e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    notice(
        args.log_format,
        false,
        &format!(
            "byok serve: listening on {scheme}://{addr} (the Provider Vault page: open {scheme}://{addr}/ and sign in with a token; OpenAPI at /openapi.json)"
        ),
    );
    let stop = crate::signal::stop()?;
    match &tls {
        Some(tls) => server.run_tls(listener, tls, stop).await,
        None => server.run(listener, stop).await,
    }
    .map_err(|e| CliError::new("io_error", format!("the server failed: {e}")))?;
    notice(args.log_format, false, "byok serve: stopped");
    Ok(())
}

/// The master key from the environment, else `DATA_DIR/master.key`, generated
/// (mode 0600) with a loud note when it does not exist.
fn master_key(data_dir: &Path, format: LogFormat) -> Result<MasterKeySource, byok::VaultError> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set(MASTER_KEY_ENV) || set(MASTER_KEY_FILE_ENV) {
        return Ok(MasterKeySource::from_env()?);
    }
    let path = data_dir.join("master.key");
    if !path.exists() {
        let io = |e: std::io::Error| StoreError::Io {
            path: byok::keys::redact(&path.display().to_string()).into_owned(),
            detail: e.to_string(),
        };
        byok::keys::fs::create_private_file(&path).map_err(io)?;
        let key = MasterKey::generate()?.to_base64();
        std::fs::write(&path, key.expose_secret().as_bytes()).map_err(io)?;
        let what = format!(
            "byok serve: generated a new master key in {}. BACK IT UP NOW (a secret manager, offline copy): without it the vault's keys can never be opened again.",
            path.display()
        );
        if format == LogFormat::Json {
            notice(format, true, &what);
        } else {
            errln!("==================================================================");
            errln!(
                "byok serve: generated a new master key in {}",
                path.display()
            );
            errln!("BACK IT UP NOW (a secret manager, offline copy): without it the");
            errln!("vault's keys can never be opened again.");
            errln!("==================================================================");
        }
    }
    Ok(MasterKeySource::File(path))
}

/// The Test button's verifier: the providers' own origins unless `--base-url` says otherwise.
fn verifier(base_urls: &[String], allow_http: bool) -> Result<Verifier, CliError> {
    let mut config = VerifierConfig::default().allow_http(allow_http);
    for (i, pair) in base_urls.iter().enumerate() {
        let bad = || {
            CliError::new(
                "invalid_base_url",
                format!("--base-url number {} is not PROVIDER=URL", i + 1),
            )
            .hint("e.g. --base-url openai=http://127.0.0.1:9000")
        };
        let (p, url) = pair.split_once('=').ok_or_else(bad)?;
        let provider: Provider = p.trim().parse().map_err(|_| bad())?;
        config = config.base_url(provider, url.trim());
    }
    Verifier::new(config).map_err(|e| CliError::new(e.code(), e.to_string()))
}

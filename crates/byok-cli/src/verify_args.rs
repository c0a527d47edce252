//! The verifier options shared by `byok test`, `byok vault add|test` and `byok call`:
//! `--depth`, `--base-url`, `--allow-http`, `--timeout`, and the one way they become
//! a [`Verifier`] ([`ConnectArgs::verifier`]).

use std::time::Duration;

use byok::keys::Provider;
use byok::verify::{Depth, Verifier, VerifierConfig, VerifyError};

use crate::output::CliError;

/// How to test a key with its provider.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct VerifyArgs {
    /// `auth`: the free list-models call only; `billing`: also a 1-token request,
    /// the only way to learn whether the account has credits.
    #[arg(long, value_name = "auth|billing", default_value = "billing")]
    pub(crate) depth: Depth,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// Where and how long requests to a provider go: the options of every command that
/// sends a key to its provider (`byok call` has no `--depth`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Send requests to this origin (optionally with a path prefix) instead of the provider's.
    /// Must be https, or http to this machine (127.0.0.0/8, ::1, localhost).
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Accept an http:// --base-url to another host: the key then travels in cleartext.
    #[arg(long)]
    pub(crate) allow_http: bool,
    /// Overall deadline in seconds, all requests and retries included (default 30).
    #[arg(long, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,
}

impl VerifyArgs {
    /// A verifier for keys of `provider` (`--base-url` applies to that provider).
    pub(crate) fn verifier(&self, provider: Provider) -> Result<Verifier, CliError> {
        self.connect.verifier(provider)
    }
}

impl ConnectArgs {
    /// A verifier for keys of `provider` (`--base-url` applies to that provider).
    pub(crate) fn verifier(&self, provider: Provider) -> Result<Verifier, CliError> {
        self.verifier_with(provider, VerifierConfig::default())
    }

    /// As [`verifier`](ConnectArgs::verifier), starting from `config` (`byok call`'s timeouts).
    pub(crate) fn verifier_with(
        &self,
        provider: Provider,
        config: VerifierConfig,
    ) -> Result<Verifier, CliError> {
        let mut config = config.allow_http(self.allow_http);
        if let Some(url) = &self.base_url {
            config = config.base_url(provider, url);
        }
        if let Some(secs) = self.timeout {
            if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
                return Err(CliError::new(
                    "invalid_timeout",
                    format!("--timeout {secs} is not a number of seconds between 0 and 3600"),
                )
                .hint("e.g. --timeout 10"));
            }
            let deadline = Duration::from_secs_f64(secs);
            config = config
                .deadline(deadline)
                .request_timeout(deadline.min(Duration::from_secs(10)));
        }
        Verifier::new(config).map_err(|e| {
            let err = CliError::new(e.code(), e.to_string());
            match e {
                VerifyError::InsecureBaseUrl { .. } => {
                    err.hint("use an https:// URL; for a trusted network only, add --allow-http")
                }
                _ => err,
            }
        })
    }
}

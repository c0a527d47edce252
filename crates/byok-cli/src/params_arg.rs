//! `--param NAME=VALUE`: the key parameters a key alone does not give (Azure
//! OpenAI's resource and deployment, a long-term Bedrock key's region), shared by
//! `byok test` and `byok vault add|edit|rotate`.

use std::collections::BTreeMap;

use byok::keys::Provider;
use byok::keys::params::{ParamError, Params};

use crate::output::CliError;

/// `--param NAME=VALUE` arguments as pairs: `invalid_param_syntax` (exit 2)
/// for one without `=` or without a name. Never quotes the argument: a key
/// pasted into the wrong flag must not be printed back.
pub(crate) fn pairs(args: &[String]) -> Result<Vec<(String, String)>, CliError> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| match arg.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(CliError::new(
                "invalid_param_syntax",
                format!("--param number {} is not NAME=VALUE", i + 1),
            )
            .hint("write each parameter as --param NAME=VALUE, e.g. --param region=us-east-1")),
        })
        .collect()
}

/// The checked parameters of `pairs` for `provider`, `None` when none were given.
pub(crate) fn checked(
    provider: Provider,
    pairs: Vec<(String, String)>,
) -> Result<Option<Params>, ParamError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    Params::new(provider, pairs).map(Some)
}

/// `pairs` laid over a key's `current` parameters (the ones not named are kept;
/// `NAME=` removes an optional one), checked for `provider`; `None` when no
/// pair was given, so the current ones stay as they are.
pub(crate) fn merged(
    provider: Provider,
    current: &BTreeMap<String, String>,
    pairs: Vec<(String, String)>,
) -> Result<Option<Params>, ParamError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut all = current.clone();
    all.extend(pairs);
    checked(provider, all.into_iter().collect())
}

/// A [`ParamError`] as the CLI reports it (exit 2, its stable code and hint).
pub(crate) fn cli_error(e: &ParamError) -> CliError {
    CliError::new(e.code(), e.to_string()).hint(e.hint())
}

//! `byok cost`: what a call cost, from its usage, with an honest label.

use std::process::ExitCode;

use byok::guard::{Cost, GuardError, PriceBook, Usage, reported_cost_from_json};
use byok::keys::Provider;

use crate::output::{self, CliError, outln};

/// Arguments of `byok cost`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model, as the provider spells it (e.g. gpt-4o, claude-sonnet-4-5, gemini-2.5-pro).
    #[arg(long)]
    model: String,
    /// The provider that billed the call (any provider code): the model is priced at
    /// that provider's rate, `--usage` is read in its shape, and a cost the provider
    /// reported in the body (xAI, OpenRouter, Perplexity) is the answer,
    /// `verified_by_provider`. Without it the model is looked up by name (OpenAI,
    /// Anthropic, Gemini, or any provider's prefixed name: `groq/llama-3.1-8b-instant`).
    #[arg(long, value_name = "P")]
    provider: Option<Provider>,
    /// A usage object or whole response body; `-` for stdin.
    #[arg(long, conflicts_with_all = ["input_tokens", "output_tokens"])]
    usage: Option<String>,
    /// Uncached input tokens (excluding cached reads and cache writes).
    #[arg(long, value_parser = crate::cost::token_count, requires = "output_tokens")]
    input_tokens: Option<u64>,
    /// Visible output tokens (excluding reasoning tokens).
    #[arg(long, value_parser = crate::cost::token_count, requires = "input_tokens")]
    output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[arg(long, value_parser = crate::cost::token_count, default_value_t = 0)]
    cached_input_tokens: u64,
    /// Input tokens written to a 5-minute cache.
    #[arg(long, value_parser = crate::cost::token_count, default_value_t = 0)]
    cache_write_tokens: u64,
    /// Input tokens written to a 1-hour cache.
    #[arg(long, value_parser = crate::cost::token_count, default_value_t = 0)]
    cache_write_1h_tokens: u64,
    /// Reasoning (thinking) tokens.
    #[arg(long, value_parser = crate::cost::token_count, default_value_t = 0)]
    reasoning_tokens: u64,
    /// A LiteLLM-format price file to use instead of the embedded prices.
    #[arg(long, value_name = "FILE")]
    prices: Option<String>,
    /// One JSON object: {"model","usd","label","tier"} (and "provider" when given).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match cost(&args) {
        Ok(cost) => {
            print(&args.model, args.provider, &cost, args.json);
            ExitCode::from(output::OK)
        }
        Err(e) => e.report(args.json),
    }
}

fn cost(args: &Args) -> Result<Cost, CliError> {
    let usage = match (&args.usage, args.input_tokens, args.output_tokens) {
        (Some(path), _, _) => {
            let text = read_usage_text(path)?;
            let usage = match args.provider {
                Some(p) => Usage::from_provider_json(p, &text).map_err(guard_error)?,
                None => Usage::from_json(&text).map_err(guard_error)?,
            };
            if let Some(reported) = args
                .provider
                .and_then(|p| reported_cost_from_json(p, &text))
            {
                return Ok(reported);
            }
            usage
        }
        (None, Some(input), Some(output)) => Usage {
            input_tokens: input,
            cached_input_tokens: args.cached_input_tokens,
            cache_write_5m_tokens: args.cache_write_tokens,
            cache_write_1h_tokens: args.cache_write_1h_tokens,
            output_tokens: output,
            reasoning_tokens: args.reasoning_tokens,
        },
        _ => {
            return Err(CliError::new("missing_usage", "no usage given").hint(
                "pass --usage FILE (or - for stdin), or --input-tokens N --output-tokens N",
            ));
        }
    };
    let book = prices(args.prices.as_deref())?;
    match args.provider {
        Some(p) => book.cost_for(p, &args.model, &usage),
        None => book.cost(&args.model, &usage),
    }
    .map_err(guard_error)
}

fn print(model: &str, provider: Option<Provider>, cost: &Cost, json: bool) {
    if json {
        let mut line = serde_json::json!({
            "model": model,
            "usd": cost.usd.map(|u| u.to_string()),
            "label": cost.label.as_str(),
            "tier": cost.tier.map(|t| t.to_string()),
        });
        if let Some(p) = provider {
            line["provider"] = p.as_str().into();
        }
        output::print_json(&line);
        return;
    }
    match (cost.usd, cost.tier) {
        (Some(usd), Some(tier)) => {
            outln!("{model}: ${usd} ({}, tier {tier})", cost.label.human())
        }
        _ => outln!(
            "{model}: {} (no price known for this model)",
            cost.label.human()
        ),
    }
}

/// The price book: a LiteLLM-format file, or the embedded one.
pub(crate) fn prices(path: Option<&str>) -> Result<std::borrow::Cow<'static, PriceBook>, CliError> {
    match path {
        None => Ok(std::borrow::Cow::Borrowed(PriceBook::embedded())),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                CliError::new("io_error", format!("cannot read price file {p}: {e}"))
            })?;
            PriceBook::from_litellm_json(&text)
                .map(std::borrow::Cow::Owned)
                .map_err(guard_error)
        }
    }
}

/// Usage from a file or stdin (`-`).
pub(crate) fn read_usage(path: &str) -> Result<Usage, CliError> {
    Usage::from_json(&read_usage_text(path)?).map_err(guard_error)
}

/// The text of a usage file or stdin (`-`).
fn read_usage_text(path: &str) -> Result<String, CliError> {
    if path == "-" {
        String::from_utf8(output::read_stdin()?.to_vec())
            .map_err(|_| CliError::new("missing_usage", "stdin is not UTF-8 text"))
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::new("io_error", format!("cannot read usage file {path}: {e}")))
    }
}

/// A token-count flag: a whole number from 0 to 2^64 - 1; the message starts with a stable code.
pub(crate) fn token_count(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid_token_count: a token count is a whole number >= 0".to_owned());
    }
    text.parse().map_err(|_| {
        "token_count_too_large: a token count is at most 18446744073709551615 (2^64 - 1)".to_owned()
    })
}

/// A guard error as a CLI error with the same stable code.
pub(crate) fn guard_error(e: GuardError) -> CliError {
    let hint = match e.code() {
        "invalid_amount" => Some("amounts are decimal dollars, e.g. 0.25"),
        "ledger_unavailable" => Some("check that the ledger server is running and reachable"),
        "hold_ttl_too_short" => {
            Some("pass --ttl-secs 60 or more (default 600), longer than the slowest call")
        }
        _ => None,
    };
    let err = CliError::new(e.code(), e.to_string());
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

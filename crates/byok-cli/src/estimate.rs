//! `byok estimate`: the worst-case cost of a call before it is made; prompt on stdin.

use std::process::ExitCode;

use byok::guard::{Estimate, Prompt};
use byok::keys::Provider;

use crate::cost::{guard_error, prices};
use crate::output::{self, CliError, outln};

/// Arguments of `byok estimate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model, as the provider spells it.
    #[arg(long)]
    model: String,
    /// The provider the call goes to (any provider code): the model at that provider's
    /// price, its prompt counted with that provider's tokenizer or conservatively.
    #[arg(long, value_name = "P")]
    provider: Option<Provider>,
    /// The request's output cap (default: the model's maximum output).
    #[arg(long, value_parser = crate::cost::token_count)]
    max_output_tokens: Option<u64>,
    /// A known prompt token count instead of reading the prompt from stdin.
    #[arg(long, value_parser = crate::cost::token_count)]
    input_tokens: Option<u64>,
    /// A LiteLLM-format price file to use instead of the embedded prices.
    #[arg(long, value_name = "FILE")]
    prices: Option<String>,
    /// One JSON object: {"model","input_tokens","counting","output_tokens","usd","label","tier"}
    /// (and "provider" when given).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match estimate(&args) {
        Ok(e) => {
            print(&args.model, args.provider, &e, args.json);
            ExitCode::from(output::OK)
        }
        Err(e) => e.report(args.json),
    }
}

fn estimate(args: &Args) -> Result<Estimate, CliError> {
    let book = prices(args.prices.as_deref())?;
    let bytes;
    let prompt = match args.input_tokens {
        Some(n) => Prompt::Tokens(n),
        None => {
            bytes = output::read_stdin()?;
            Prompt::Text(std::str::from_utf8(&bytes).map_err(|_| {
                CliError::new("invalid_prompt", "the prompt on stdin is not UTF-8 text")
            })?)
        }
    };
    match args.provider {
        Some(p) => book.estimate_for(p, &args.model, prompt, args.max_output_tokens),
        None => book.estimate(&args.model, prompt, args.max_output_tokens),
    }
    .map_err(guard_error)
}

fn print(model: &str, provider: Option<Provider>, e: &Estimate, json: bool) {
    let counting = serde_json::to_value(e.counting).unwrap_or_default();
    if json {
        let mut line = serde_json::json!({
            "model": model,
            "input_tokens": e.input_tokens,
            "counting": counting,
            "output_tokens": e.output_tokens,
            "usd": e.cost.usd.map(|u| u.to_string()),
            "label": e.cost.label.as_str(),
            "tier": e.cost.tier.map(|t| t.to_string()),
        });
        if let Some(p) = provider {
            line["provider"] = p.as_str().into();
        }
        output::print_json(&line);
        return;
    }
    let how = counting.as_str().unwrap_or("counted");
    match e.cost.usd {
        Some(usd) => outln!(
            "{model}: at most ${usd} ({} input tokens {how}, up to {} output tokens)",
            e.input_tokens,
            e.output_tokens
        ),
        None => outln!(
            "{model}: {} ({} input tokens {how}; no price known for this model)",
            e.cost.label.human(),
            e.input_tokens
        ),
    }
}

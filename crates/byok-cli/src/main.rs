//! `byok`: the command-line face of the byok crates.
//!
//! Secrets are read only from stdin, a file or the environment, never from argv.
//! Every command has `--json` (one object per line). Exit codes: 0 ok / nothing
//! found, 1 a negative result (invalid key, key found by scan, verdict other than
//! valid, budget denied), 2 usage or I/O error.
//!
//! One module per command: each defines `Args` (clap) and `run(Args) -> ExitCode`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod budget;
mod call;
mod cost;
mod estimate;
mod inspect;
mod mock;
mod output;
mod params_arg;
mod redact;
mod scan;
mod serve;
mod signal;
mod test_cmd;
mod vault;
mod verify_args;

/// Bring-your-own-key tooling for LLM API keys.
#[derive(Debug, Parser)]
#[command(name = "byok", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check keys read from stdin (one per line): provider, kind, mask, problems.
    Inspect(inspect::Args),
    /// Find API keys in files, directories (recursively) or stdin.
    Scan(scan::Args),
    /// Copy stdin to stdout with every API key replaced by its mask.
    Redact(redact::Args),
    /// Test the key on stdin against its provider: valid, invalid, no credits, rate limited, ...
    Test(test_cmd::Args),
    /// The encrypted key vault: add (tested first), list, show, test, select, rotate, disable,
    /// revoke, delete, check, rewrap.
    Vault(vault::Args),
    /// What a call cost, from its usage: amount, label (estimated / unavailable / ...) and price tier.
    Cost(cost::Args),
    /// The worst-case cost of a call before it is made; prompt on stdin.
    Estimate(estimate::Args),
    /// Budgets on a ledger: set, status, reserve, settle, release.
    Budget(budget::Args),
    /// One LLM call with the vault's keys under the ledger's budgets: prompt on stdin,
    /// the answer (streamed with --stream), then the key used, fallbacks, usage and cost.
    Call(call::Args),
    /// The management REST API (workspaces, keys, Test, budgets, audit, tokens; OpenAPI at
    /// /openapi.json) over a vault and a ledger.
    Serve(serve::Args),
    /// Mock OpenAI, Anthropic and Gemini servers for tests in any language, with a control API.
    Mock(mock::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::argument_error(&e),
    };
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Redact(args) => redact::run(args),
        Command::Test(args) => test_cmd::run(args),
        Command::Vault(args) => vault::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Estimate(args) => estimate::run(args),
        Command::Budget(args) => budget::run(args),
        Command::Call(args) => call::run(args),
        Command::Mock(args) => mock::run(args),
        Command::Serve(args) => serve::run(args),
    }
}

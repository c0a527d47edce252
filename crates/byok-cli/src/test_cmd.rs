//! `byok test`: the Test button on the command line. One key on stdin.

use std::process::ExitCode;

use byok::keys::{Provider, normalize};
use byok::verify::Report;

use crate::output::{self, CliError, errln, outln};
use crate::params_arg;
use crate::verify_args::VerifyArgs;

/// Arguments of `byok test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The key's provider (any provider code: openai, anthropic, google, openrouter, ...);
    /// detected from the key when not given.
    #[arg(long, value_name = "P")]
    provider: Option<Provider>,
    /// A key parameter, NAME=VALUE, repeatable: what the key alone does not say
    /// (Azure OpenAI `resource` and `deployment`, `api_version` optional; a long-term
    /// Bedrock key's `region`). Without them such a key is `restricted` (`missing_param`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    verify: VerifyArgs,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match test(&args) {
        Ok(report) => {
            print_report(&report, args.json);
            ExitCode::from(if report.verdict.is_valid() {
                output::OK
            } else {
                output::NEGATIVE
            })
        }
        Err(e) => e.report(args.json),
    }
}

fn test(args: &Args) -> Result<Report, CliError> {
    // Checked before stdin is read: a wrong flag loses no piped key.
    let pairs = params_arg::pairs(&args.params)?;
    let input = output::read_stdin()?;
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&input).into_owned());
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(line) = lines.next() else {
        return Err(CliError::new("empty", "no key on stdin").hint(
            "pipe the key in, e.g. `byok test < key.txt` or `printenv OPENAI_API_KEY | byok test`",
        ));
    };
    if lines.next().is_some() {
        return Err(CliError::new(
            "too_many_keys",
            "byok test reads one key, stdin holds several lines",
        )
        .hint("test keys one at a time; `byok inspect` checks many keys offline"));
    }
    let normalized = normalize(line);
    let parsed = match args.provider {
        Some(p) => normalized.parse_for(p),
        None => normalized.parse(),
    };
    let key = parsed.map_err(|e| {
        let hint = e.hint().to_owned();
        CliError::new(e.code(), e.to_string()).hint(hint)
    })?;

    let params =
        params_arg::checked(key.provider(), pairs).map_err(|e| params_arg::cli_error(&e))?;
    let verifier = args.verify.verifier(key.provider())?;
    output::block_on(async {
        match &params {
            Some(p) => verifier.verify_with(&key, p, args.verify.depth).await,
            None => verifier.verify(&key, args.verify.depth).await,
        }
    })
}

/// The report as `byok test` prints it (also used by `byok vault test`).
pub(crate) fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_value(report) {
            Ok(v) => output::print_json(&v),
            Err(e) => errln!("error[io_error]: cannot encode the report: {e}"),
        }
        return;
    }
    outln!("{}: {}", report.verdict, report.message());
    outln!("key: {} ({})", report.masked, report.provider);
    let mut facts = vec![format!(
        "{} request{} in {} ms",
        report.attempts,
        if report.attempts == 1 { "" } else { "s" },
        report.elapsed.as_millis()
    )];
    if let Some(status) = report.http_status {
        facts.push(format!("HTTP {status}"));
    }
    if let Some(code) = &report.provider_code {
        facts.push(format!("provider code {code}"));
    }
    if let Some(id) = &report.request_id {
        facts.push(format!("request id {id}"));
    }
    outln!("details: {}", facts.join(", "));
    if let Some(message) = &report.provider_message {
        outln!("provider says: {message}");
    }
    if !report.verdict.is_valid() {
        outln!("what to do: {}", report.remediation());
    }
}

//! `byok inspect`: check pasted keys, one per stdin line.

use std::process::ExitCode;

use byok::keys::{ApiKey, KeyError, Provider, normalize};
use serde_json::json;

use crate::output::{self, CliError, outln};

/// Arguments of `byok inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// One JSON object per input line.
    #[arg(long)]
    json: bool,
    /// Require keys of this provider (any provider code: openai, anthropic, google, openrouter, groq, xai, deepseek, mistral, together, fireworks, perplexity, azure_openai, bedrock, cohere).
    #[arg(long, value_name = "P")]
    provider: Option<Provider>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let input = match output::read_stdin() {
        Ok(b) => b,
        Err(e) => return e.report(args.json),
    };
    let mut checked = 0usize;
    let mut bad = 0usize;
    for (i, raw_line) in input.split(|&b| b == b'\n').enumerate() {
        let line = zeroize::Zeroizing::new(String::from_utf8_lossy(raw_line).into_owned());
        if line.trim().is_empty() {
            continue;
        }
        checked += 1;
        let normalized = normalize(&line);
        let parsed = match args.provider {
            Some(p) => normalized.parse_for(p),
            None => normalized.parse(),
        };
        if parsed.is_err() {
            bad += 1;
        }
        report_line(i + 1, &parsed, normalized.fixes(), args.json);
    }
    if checked == 0 {
        return CliError::new("empty", "no key on stdin")
            .hint("pipe keys one per line, e.g. `byok inspect < keys.txt`")
            .report(args.json);
    }
    ExitCode::from(if bad == 0 {
        output::OK
    } else {
        output::NEGATIVE
    })
}

fn report_line(
    line: usize,
    parsed: &Result<ApiKey, KeyError>,
    fixes: &[byok::keys::Fix],
    json: bool,
) {
    let fix_codes: Vec<&str> = fixes.iter().map(|f| f.code()).collect();
    match (parsed, json) {
        (Ok(key), true) => output::print_json(&json!({
            "line": line, "ok": true,
            "provider": key.provider(), "kind": key.kind(),
            "masked": key.masked(), "fingerprint": key.fingerprint(),
            "warnings": key.warnings(), "fixes": fix_codes, "error": null,
        })),
        (Err(e), true) => output::print_json(&json!({
            "line": line, "ok": false,
            "provider": null, "kind": null, "masked": null, "fingerprint": null,
            "warnings": [], "fixes": fix_codes, "error": e,
        })),
        (Ok(key), false) => {
            outln!(
                "line {line}: ok {} {} {} {}",
                key.provider(),
                key.kind(),
                key.masked(),
                key.fingerprint()
            );
            for w in key.warnings() {
                outln!("  warning[{}]: {w}", w.code());
            }
            for f in fixes {
                outln!("  fixed: {}", f.message());
            }
        }
        (Err(e), false) => {
            outln!("line {line}: error[{}]: {e}", e.code());
            outln!("  hint: {}", e.hint());
            for f in fixes {
                outln!("  fixed: {}", f.message());
            }
        }
    }
}

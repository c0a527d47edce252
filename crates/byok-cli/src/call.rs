//! `byok call`: one LLM call with the vault's keys, under the ledger's budgets.
//!
//! The prompt is stdin (the whole of it is the user message), or `--body FILE`
//! gives the provider's full request body. The vault picks the key (primary,
//! then backups; `invalid` and `no_credits` fall back to the next key), the
//! ledger holds the worst case before anything is sent and settles the actual
//! cost once. The answer goes to stdout (streamed as it arrives with
//! `--stream`), then one summary: the key (masked), the fallbacks and why,
//! usage, the labelled cost, the workspace's budget after the call — on stderr
//! as text, or as the last `--json` line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use byok::call::{Api, Call, CallStream, Called, FallbackPolicy};
use byok::guard::{BudgetStatus, Guard, Scope};
use byok::keys::Provider;
use byok::store::{OpenMode, WorkspaceId};
use byok::verify::{CallTimeouts, VerifierConfig};
use byok::{Vault, VaultError};
use serde_json::{Value, json};

use crate::output::{self, CliError, errln};
use crate::verify_args::ConnectArgs;

/// Anthropic requires an output cap: this one unless `--max-output-tokens` says otherwise.
const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 1024;

/// Arguments of `byok call`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The provider to call (any provider code: openai, anthropic, google, openrouter, groq, xai, deepseek, mistral, together, fireworks, perplexity, azure_openai, bedrock, cohere).
    #[arg(long, value_name = "P")]
    provider: Provider,
    /// The provider API: chat (OpenAI Chat Completions, OpenAI's default), responses
    /// (OpenAI Responses), messages (Anthropic), generate (Gemini generateContent).
    #[arg(long, value_enum, value_name = "API")]
    api: Option<ApiArg>,
    /// The model. Default: the body's (`--body`), else the default model of the key
    /// the call would use (`byok vault add|edit --default-model`).
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Workspace (tenant) whose keys and budgets the call uses.
    #[arg(long, value_name = "W")]
    workspace: String,
    /// Count the call against this project's budget too.
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
    /// Stream the answer: printed as it arrives, metered as it passes.
    #[arg(long)]
    stream: bool,
    /// The output cap (Anthropic's default 1024); priced as the worst case before sending.
    #[arg(long, value_name = "N", value_parser = crate::cost::token_count)]
    max_output_tokens: Option<u64>,
    /// The full request body, JSON, instead of a prompt on stdin (`-`: stdin).
    /// `--model`, `--max-output-tokens` and `--stream` still apply to it.
    #[arg(long, value_name = "FILE")]
    body: Option<String>,
    /// Stop at the first refused key instead of falling back to the next one.
    #[arg(long)]
    no_fallback: bool,
    /// Print the provider's bytes as they are (the body or the event stream)
    /// instead of the answer's text.
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// A stream: the longest silence, in seconds, before byok stops reading and
    /// settles with what was seen (default 60; keep-alives count as activity).
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<f64>,
    /// A stream: the longest wait, in seconds, for the answer to start (default 120).
    #[arg(long, value_name = "SECS")]
    headers_timeout: Option<f64>,
    /// Not streamed: the longest wait, in seconds, for the whole answer (default 600).
    #[arg(long, value_name = "SECS")]
    answer_timeout: Option<f64>,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Vault file (SQLite, or sqlite:PATH) or a postgres:// URL, as for `byok vault`
    /// (default: $BYOK_VAULT, else the default vault path).
    #[arg(long, value_name = "PATH|URL")]
    vault: Option<String>,
    /// Ledger URL, as for `byok budget` [default: $BYOK_LEDGER, else sqlite:byok-ledger.db].
    #[arg(long, value_name = "URL")]
    ledger: Option<String>,
    /// Who the audit trail names (default cli:$USER).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// One JSON object per line: chunks or the answer, then the summary.
    #[arg(long)]
    json: bool,
}

/// `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ApiArg {
    /// OpenAI Chat Completions.
    Chat,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Messages,
    /// Gemini generateContent.
    Generate,
    /// Amazon Bedrock Converse.
    Converse,
    /// Cohere v2 chat.
    V2,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let json = args.json;
    match output::block_on(call(args)).and_then(|r| r) {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(json),
    }
}

/// Why the call failed, as the CLI reports it; exit 1 for a negative answer
/// (refused, denied, no usable key, no answer), else 2.
struct Failed {
    error: CliError,
    negative: bool,
}

impl From<CliError> for Failed {
    fn from(error: CliError) -> Self {
        Failed {
            error,
            negative: false,
        }
    }
}

impl From<VaultError> for Failed {
    fn from(e: VaultError) -> Self {
        let negative = matches!(
            e,
            VaultError::BudgetDenied { .. }
                | VaultError::ProviderRefused { .. }
                | VaultError::FallbackLimit { .. }
                | VaultError::NoUsableKey { .. }
                | VaultError::CallFailed { .. }
                | VaultError::TimedOut { .. }
                | VaultError::KeyRejected { .. }
                | VaultError::AdminKeyRefused { .. }
        );
        let mut error = CliError::new(e.code(), e.to_string());
        if let Some(hint) = e.hint() {
            error = error.hint(hint);
        }
        Failed { error, negative }
    }
}

impl Failed {
    fn report(&self, json: bool) -> u8 {
        let _ = self.error.report(json);
        if self.negative {
            output::NEGATIVE
        } else {
            output::USAGE
        }
    }
}

async fn call(args: Args) -> Result<u8, CliError> {
    let json = args.json;
    match make(args).await {
        Ok(code) => Ok(code),
        Err((failed, details)) => {
            if !json {
                for line in details {
                    errln!("{line}");
                }
            }
            Ok(failed.report(json))
        }
    }
}

/// What went wrong, and lines of detail for a person (fallbacks taken, the
/// provider's message, keys passed over).
type Failure = (Failed, Vec<String>);

fn fail(e: impl Into<Failed>) -> Failure {
    (e.into(), Vec::new())
}

/// The lines a person wants under a vault error.
fn vault_failure(e: VaultError) -> Failure {
    let mut details = Vec::new();
    match &e {
        VaultError::ProviderRefused {
            fallbacks, message, ..
        } => {
            details.extend(fallbacks.iter().map(fallback_line));
            if let Some(m) = message {
                details.push(format!("provider said: {m}"));
            }
        }
        VaultError::FallbackLimit { fallbacks } => {
            details.extend(fallbacks.iter().map(fallback_line));
        }
        VaultError::NoUsableKey { skipped, .. } => {
            details.extend(skipped.iter().map(|s| {
                format!(
                    "passed over {} {:?} ({}): {}",
                    s.masked,
                    s.label,
                    s.role.as_str(),
                    s.reason.message()
                )
            }));
        }
        _ => {}
    }
    (e.into(), details)
}

fn fallback_line(f: &byok::call::FellBack) -> String {
    format!(
        "fell back from {} {:?}: {} (HTTP {}{})",
        f.key.masked,
        f.key.label,
        f.verdict.as_str(),
        f.status,
        f.provider_code
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default()
    )
}

async fn make(args: Args) -> Result<u8, Failure> {
    let api = api_of(args.provider, args.api).map_err(fail)?;
    let workspace = WorkspaceId::new(&args.workspace).map_err(|e| fail(VaultError::from(e)))?;
    // The input first: a usage error costs no vault or ledger access.
    let input = read_input(args.body.as_deref()).map_err(fail)?;
    let verifier = args
        .connect
        .verifier_with(args.provider, timeouts(&args).map_err(fail)?)
        .map_err(fail)?;
    let ledger = crate::budget::open_ledger(args.ledger.as_deref())
        .await
        .map_err(fail)?;
    let opened = crate::vault::open(
        args.vault.as_deref(),
        args.actor.clone(),
        OpenMode::Existing,
    )
    .await
    .map_err(vault_failure)?;
    let vault = opened
        .builder
        .verifier(verifier)
        .guard(Guard::new(ledger))
        .build()
        .await
        .map_err(vault_failure)?;
    let model = model_of(&args, &input, &vault, &workspace, args.provider).await?;
    let asked = matches!(&input, Input::Body(b) if b.get("stream") == Some(&Value::Bool(true)));
    let call = build_call(api, &args, input, &model);
    let out = Printer {
        api,
        json: args.json,
        raw: args.raw,
    };
    let stream = args.stream || asked;
    if stream {
        let running = vault
            .call_stream(&workspace, call.stream(true))
            .await
            .map_err(vault_failure)?;
        streamed(&vault, &workspace, running, &out).await
    } else {
        let called = vault.call(&workspace, call).await.map_err(vault_failure)?;
        out.answer(&called);
        let budget = budget_after(&vault, &workspace).await;
        out.summary(&called, budget.as_ref(), false);
        Ok(output::OK)
    }
}

/// Read the stream to its end, printing as it comes; then the summary.
async fn streamed(
    vault: &Vault,
    workspace: &WorkspaceId,
    mut running: CallStream,
    out: &Printer,
) -> Result<u8, Failure> {
    let mut deltas = Deltas::new(out.api);
    let mut broke = None;
    let mut printed_text = false;
    // Ctrl-C (or SIGTERM) stops reading: the call is then settled with what was
    // received (`abandoned`), so no hold outlives it, and the summary still prints.
    let mut stop = std::pin::pin!(crate::signal::stop().map_err(fail)?);
    let mut interrupted = false;
    loop {
        let chunk = tokio::select! {
            chunk = running.next_chunk() => chunk,
            () = &mut stop => {
                interrupted = true;
                break;
            }
        };
        match chunk {
            None => break,
            Some(Ok(bytes)) => printed_text |= out.chunk(&mut deltas, &bytes, false),
            Some(Err(e)) => {
                broke = Some(e);
                break;
            }
        }
    }
    printed_text |= out.chunk(&mut deltas, &[], true);
    if printed_text && !out.json {
        // The answer's text rarely ends its line: the prompt must not follow on it.
        out.text("\n");
    }
    let called = running.finish().await.map_err(vault_failure)?;
    let budget = budget_after(vault, workspace).await;
    out.summary(&called, budget.as_ref(), interrupted);
    if interrupted {
        if !out.json {
            errln!("interrupted: stopped reading; settled with what was received");
        }
        return Ok(output::INTERRUPTED);
    }
    let end = called.stream.as_ref();
    let failed = match (broke, end) {
        (Some(e), _) => Some(Failed::from(e)),
        (None, Some(end)) if end.error.is_some() => Some(Failed {
            error: CliError::new(
                "stream_error",
                format!(
                    "the provider ended the stream with an error ({})",
                    end.error.as_deref().unwrap_or_default()
                ),
            )
            .hint("the answer is cut short; the cost is estimated from what was received"),
            negative: true,
        }),
        (None, Some(end)) if !end.complete => Some(Failed {
            error: CliError::new(
                "stream_incomplete",
                "the stream ended without the provider's final event",
            )
            .hint("the answer may be cut short; the cost is estimated from what was received"),
            negative: true,
        }),
        _ => None,
    };
    Ok(match failed {
        Some(f) => f.report(out.json),
        None => output::OK,
    })
}

/// `--idle-timeout`, `--headers-timeout`, `--answer-timeout` as the verifier's call timeouts.
fn timeouts(args: &Args) -> Result<VerifierConfig, CliError> {
    let secs = |flag: &str, value: Option<f64>| -> Result<Option<Duration>, CliError> {
        match value {
            None => Ok(None),
            Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                Ok(Some(Duration::from_secs_f64(s)))
            }
            Some(s) => Err(CliError::new(
                "invalid_timeout",
                format!("--{flag} {s} is not a number of seconds between 0 and 86400"),
            )
            .hint(format!("e.g. --{flag} 60"))),
        }
    };
    let mut t = CallTimeouts::default();
    if let Some(d) = secs("idle-timeout", args.idle_timeout)? {
        t = t.idle(d);
    }
    if let Some(d) = secs("headers-timeout", args.headers_timeout)? {
        t = t.headers(d);
    }
    if let Some(d) = secs("answer-timeout", args.answer_timeout)? {
        t = t.answer(d);
    }
    Ok(VerifierConfig::default().call_timeouts(t))
}

/// The budget of the workspace after the call, if one covers it.
async fn budget_after(vault: &Vault, workspace: &WorkspaceId) -> Option<BudgetStatus> {
    let guard = vault.guard()?;
    match guard.status(&Scope::workspace(workspace.as_str())).await {
        Ok(status) => status,
        Err(e) => {
            errln!(
                "warning[{}]: the budget after the call is unknown: {e}",
                e.code()
            );
            None
        }
    }
}

fn api_of(provider: Provider, api: Option<ApiArg>) -> Result<Api, CliError> {
    use byok::keys::spec::Wire;
    // The provider's own API by default: its wire dialect.
    let native = match provider.spec().wire {
        Wire::AnthropicMessages => Api::AnthropicMessages,
        Wire::GeminiGenerate => Api::GeminiGenerate,
        Wire::OpenAiResponses => Api::OpenAiResponses,
        Wire::BedrockConverse => Api::BedrockConverse,
        Wire::CohereChat => Api::CohereChat,
        _ => Api::OpenAiChat,
    };
    let chosen = match api {
        None => native,
        Some(ApiArg::Chat) => Api::OpenAiChat,
        Some(ApiArg::Responses) => Api::OpenAiResponses,
        Some(ApiArg::Messages) => Api::AnthropicMessages,
        Some(ApiArg::Generate) => Api::GeminiGenerate,
        Some(ApiArg::Converse) => Api::BedrockConverse,
        Some(ApiArg::V2) => Api::CohereChat,
    };
    if chosen.served_by(provider) {
        return Ok(chosen);
    }
    Err(CliError::new(
        "api_mismatch",
        format!(
            "{} does not serve the API --api {}",
            provider.display_name(),
            api.map_or("?", ApiArg::name)
        ),
    )
    .hint("chat: OpenAI and the OpenAI-compatible providers (and Cohere's compatibility API); responses: openai, perplexity; messages: anthropic; generate: google; converse: bedrock; v2: cohere"))
}

impl ApiArg {
    fn name(self) -> &'static str {
        match self {
            ApiArg::Chat => "chat",
            ApiArg::Responses => "responses",
            ApiArg::Messages => "messages",
            ApiArg::Generate => "generate",
            ApiArg::Converse => "converse",
            ApiArg::V2 => "v2",
        }
    }
}

/// What stdin or `--body` gave.
enum Input {
    /// The user message.
    Prompt(String),
    /// A whole request body.
    Body(Value),
}

fn read_input(body: Option<&str>) -> Result<Input, CliError> {
    match body {
        Some(path) => {
            let bytes = if path == "-" {
                output::read_stdin()?.to_vec()
            } else {
                std::fs::read(path).map_err(|e| {
                    CliError::new(
                        "io_error",
                        format!("cannot read --body {}: {e}", byok::keys::redact(path)),
                    )
                })?
            };
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                CliError::new("invalid_body", format!("the request body is not JSON: {e}"))
                    .hint("--body takes the provider's full request body, as JSON")
            })?;
            if !value.is_object() {
                return Err(CliError::new(
                    "invalid_body",
                    "the request body is not a JSON object",
                ));
            }
            Ok(Input::Body(value))
        }
        None => {
            let stdin = output::read_stdin()?;
            let text = std::str::from_utf8(&stdin).map_err(|_| {
                CliError::new("invalid_prompt", "the prompt on stdin is not UTF-8 text")
            })?;
            if text.trim().is_empty() {
                return Err(CliError::new("missing_prompt", "no prompt on stdin")
                    .hint("e.g. echo 'Say hi' | byok call --provider openai --model gpt-4o-mini --workspace W"));
            }
            Ok(Input::Prompt(text.to_owned()))
        }
    }
}

/// `--model`, else the body's, else the default model of the key `select` would use.
async fn model_of(
    args: &Args,
    input: &Input,
    vault: &Vault,
    workspace: &WorkspaceId,
    provider: Provider,
) -> Result<String, Failure> {
    if let Some(m) = &args.model {
        return Ok(m.clone());
    }
    if let Input::Body(body) = input
        && let Some(m) = body.get("model").and_then(Value::as_str)
    {
        return Ok(m.to_owned());
    }
    let views = vault.list(workspace).await.map_err(vault_failure)?;
    let default = byok::select::choose(&views, provider)
        .ok()
        .and_then(|(view, _)| view.default_model);
    default.ok_or_else(|| {
        fail(
            CliError::new("missing_model", "the call names no model")
                .hint("pass --model M, or give the key a default model with `byok vault edit --default-model M`"),
        )
    })
}

/// The call: the body given or the API's minimal one, with the flags applied.
fn build_call(api: Api, args: &Args, input: Input, model: &str) -> Call {
    let provider = args.provider;
    let mut body = match input {
        Input::Body(body) => body,
        Input::Prompt(prompt) => minimal_body(api, &prompt),
    };
    let model_in_path = matches!(api, Api::GeminiGenerate | Api::BedrockConverse);
    if !model_in_path && let Some(obj) = body.as_object_mut() {
        obj.insert("model".into(), Value::String(model.to_owned()));
    }
    let cap = args.max_output_tokens.or_else(|| {
        (api == Api::AnthropicMessages && body.get("max_tokens").is_none())
            .then_some(ANTHROPIC_DEFAULT_MAX_TOKENS)
    });
    if let (Some(cap), Some(obj)) = (cap, body.as_object_mut()) {
        match api {
            Api::OpenAiResponses => {
                obj.insert("max_output_tokens".into(), json!(cap));
            }
            Api::AnthropicMessages => {
                obj.insert("max_tokens".into(), json!(cap));
            }
            Api::GeminiGenerate => {
                let config = obj.entry("generationConfig").or_insert_with(|| json!({}));
                if let Some(config) = config.as_object_mut() {
                    config.remove("max_output_tokens");
                    config.insert("maxOutputTokens".into(), json!(cap));
                }
            }
            Api::BedrockConverse => {
                let config = obj.entry("inferenceConfig").or_insert_with(|| json!({}));
                if let Some(config) = config.as_object_mut() {
                    config.insert("maxTokens".into(), json!(cap));
                }
            }
            // OpenAI's own name for the cap; the compatible providers all take `max_tokens`.
            Api::OpenAiChat if provider == Provider::OpenAi => {
                obj.remove("max_tokens");
                obj.insert("max_completion_tokens".into(), json!(cap));
            }
            _ => {
                obj.remove("max_completion_tokens");
                obj.insert("max_tokens".into(), json!(cap));
            }
        }
    }
    let call = match api {
        Api::OpenAiChat => Call::chat(provider, body),
        Api::OpenAiResponses => Call::responses(provider, body),
        _ => Call::new(api, body),
    };
    let mut call = call.model(model);
    if let Some(p) = &args.project {
        call = call.project(p);
    }
    if args.no_fallback {
        call = call.fallback(FallbackPolicy::Never);
    }
    call
}

/// The smallest body of `api` with `prompt` as the user message.
fn minimal_body(api: Api, prompt: &str) -> Value {
    match api {
        Api::OpenAiResponses => json!({ "input": prompt }),
        Api::GeminiGenerate => {
            json!({ "contents": [{ "role": "user", "parts": [{ "text": prompt }] }] })
        }
        Api::BedrockConverse => {
            json!({ "messages": [{ "role": "user", "content": [{ "text": prompt }] }] })
        }
        _ => json!({ "messages": [{ "role": "user", "content": prompt }] }),
    }
}

/// How the answer and the summary are printed.
struct Printer {
    api: Api,
    json: bool,
    raw: bool,
}

impl Printer {
    /// Text on stdout, as it comes (controls that could drive the terminal escaped).
    fn text(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", output::InertText(text));
        let _ = out.flush();
    }

    /// A stream's bytes: the text deltas in them (or the bytes, `--raw`).
    /// `end`: the stream is over, flush what is held. Whether text was printed.
    fn chunk(&self, deltas: &mut Deltas, bytes: &[u8], end: bool) -> bool {
        if self.raw {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
            return false;
        }
        let mut text = String::new();
        deltas.feed(bytes, &mut text);
        if end {
            deltas.finish(&mut text);
        }
        if text.is_empty() {
            return false;
        }
        if self.json {
            output::print_json(&json!({ "type": "chunk", "text": text }));
        } else {
            self.text(&text);
        }
        true
    }

    /// A whole answer: its text (or body, `--raw`), or the `answer` line.
    fn answer(&self, called: &Called) {
        let body = called.json();
        let text = body.as_ref().map(|b| answer_text(self.api, b));
        if self.json {
            let body =
                body.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&called.body).into()));
            output::print_json(&json!({
                "type": "answer", "status": called.status, "body": body, "text": text,
            }));
        } else if self.raw {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&called.body);
            let _ = out.flush();
        } else {
            let text = text.unwrap_or_else(|| String::from_utf8_lossy(&called.body).into_owned());
            self.text(&text);
            if !text.ends_with('\n') {
                self.text("\n");
            }
        }
    }

    /// The one summary: the last JSON line, or lines on stderr. `interrupted`:
    /// a stop signal ended the reading of a stream.
    fn summary(&self, called: &Called, budget: Option<&BudgetStatus>, interrupted: bool) {
        if self.json {
            output::print_json(&summary_json(called, budget, interrupted));
            return;
        }
        let k = &called.key;
        errln!(
            "key: {} {:?} ({}), model {}, {} request{}",
            k.masked,
            k.label,
            k.role.as_str(),
            called.model,
            called.attempts,
            if called.attempts == 1 { "" } else { "s" }
        );
        for s in &called.skipped {
            errln!(
                "passed over {} {:?} ({}): {}",
                s.masked,
                s.label,
                s.role.as_str(),
                s.reason.message()
            );
        }
        for f in &called.fallbacks {
            errln!("{}", fallback_line(f));
        }
        match &called.usage {
            Some(u) => errln!(
                "usage: {} input tokens ({} cached, {} written to cache), {} output tokens ({} reasoning)",
                u.input_tokens
                    + u.cached_input_tokens
                    + u.cache_write_5m_tokens
                    + u.cache_write_1h_tokens,
                u.cached_input_tokens,
                u.cache_write_5m_tokens + u.cache_write_1h_tokens,
                u.output_tokens + u.reasoning_tokens,
                u.reasoning_tokens
            ),
            None => errln!("usage: not reported"),
        }
        match &called.cost {
            Some(c) => match c.usd {
                Some(usd) => errln!("cost: ${usd} ({})", c.label.human()),
                None => errln!("cost: {}", c.label.human()),
            },
            None => errln!("cost: Cost unavailable (no usage to price)"),
        }
        if let Some(end) = &called.stream
            && !(end.complete && end.reported)
        {
            errln!(
                "stream: {}{}; usage estimated from {} bytes of text received",
                if end.complete {
                    "complete"
                } else {
                    "cut short"
                },
                end.error
                    .as_deref()
                    .map(|e| format!(", provider error {e}"))
                    .unwrap_or_default(),
                end.output_text_bytes
            );
        }
        if let Some(b) = budget {
            errln!(
                "budget {}: spent ${} of ${} per {}, held ${}, remaining ${}",
                b.budget.scope,
                b.spent,
                b.budget.limit,
                b.budget.period.as_str(),
                b.held,
                b.remaining
            );
        }
    }
}

/// The `summary` line of `--json`.
fn summary_json(called: &Called, budget: Option<&BudgetStatus>, interrupted: bool) -> Value {
    json!({
        "type": "summary",
        "status": called.status,
        "model": called.model,
        "key": called.key,
        "fallbacks": called.fallbacks,
        "skipped": called.skipped,
        "usage": called.usage,
        "cost": called.cost,
        "attempts": called.attempts,
        "stream": called.stream,
        "budget": budget,
        "interrupted": interrupted,
    })
}

/// The answer's text in a whole response body of `api`.
fn answer_text(api: Api, body: &Value) -> String {
    let mut text = String::new();
    let strs = |v: &Value, text: &mut String| {
        if let Some(s) = v.as_str() {
            text.push_str(s);
        }
    };
    match api {
        Api::OpenAiChat => strs(&body["choices"][0]["message"]["content"], &mut text),
        Api::OpenAiResponses => {
            for item in body["output"].as_array().into_iter().flatten() {
                for part in item["content"].as_array().into_iter().flatten() {
                    if part["type"] == "output_text" {
                        strs(&part["text"], &mut text);
                    }
                }
            }
        }
        Api::AnthropicMessages => {
            for block in body["content"].as_array().into_iter().flatten() {
                if block["type"] == "text" {
                    strs(&block["text"], &mut text);
                }
            }
        }
        Api::BedrockConverse => {
            for block in body["output"]["message"]["content"]
                .as_array()
                .into_iter()
                .flatten()
            {
                strs(&block["text"], &mut text);
            }
        }
        Api::CohereChat => {
            for part in body["message"]["content"].as_array().into_iter().flatten() {
                if part["type"] == "text" {
                    strs(&part["text"], &mut text);
                }
            }
        }
        _ => gemini_parts(body, &mut text),
    }
    text
}

/// The visible text of a Gemini response or stream chunk (thoughts left out).
fn gemini_parts(body: &Value, text: &mut String) {
    for part in body["candidates"][0]["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if part["thought"] != Value::Bool(true)
            && let Some(s) = part["text"].as_str()
        {
            text.push_str(s);
        }
    }
}

/// The text deltas of a stream, read across chunk boundaries: each complete
/// `data:` line's JSON and the API's delta field (server-sent events), or
/// each whole frame's payload (Bedrock's binary event stream).
struct Deltas {
    api: Api,
    /// The line so far (an event stream: the frames so far).
    line: Vec<u8>,
    /// A Bedrock frame length made no sense: nothing after it is read.
    lost: bool,
}

impl Deltas {
    fn new(api: Api) -> Deltas {
        Deltas {
            api,
            line: Vec::new(),
            lost: false,
        }
    }

    fn feed(&mut self, bytes: &[u8], text: &mut String) {
        if self.api == Api::BedrockConverse {
            if !self.lost {
                self.line.extend_from_slice(bytes);
                self.frames(text);
            }
            return;
        }
        let mut rest = bytes;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..at]);
            self.line_done(text);
            rest = &rest[at + 1..];
        }
        self.line.extend_from_slice(rest);
    }

    fn finish(&mut self, text: &mut String) {
        if self.api == Api::BedrockConverse {
            // A cut frame at the end carries nothing readable.
            self.line.clear();
            return;
        }
        if !self.line.is_empty() {
            self.line_done(text);
        }
    }

    /// Bedrock's event stream (held in `line`): each whole frame's JSON
    /// payload, a `contentBlockDelta`'s `delta.text`. The frames were checked
    /// (CRCs) by the call's meter; here only their lengths are read, and a
    /// length that cannot be a frame stops the reading.
    fn frames(&mut self, text: &mut String) {
        loop {
            let buf = &self.line;
            if buf.len() < 12 {
                return;
            }
            let total = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            let headers = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
            if total < 16 || headers > total - 16 {
                // Not a frame: the stream cannot be followed past it.
                self.line.clear();
                self.lost = true;
                return;
            }
            if buf.len() < total {
                return;
            }
            let payload = &buf[12 + headers..total - 4];
            if let Ok(event) = serde_json::from_slice::<Value>(payload)
                && let Some(s) = event["delta"]["text"].as_str()
            {
                text.push_str(s);
            }
            self.line.drain(..total);
        }
    }

    fn line_done(&mut self, text: &mut String) {
        let line = std::mem::take(&mut self.line);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return; // `[DONE]`, or not JSON
        };
        let delta = match self.api {
            Api::OpenAiChat => &event["choices"][0]["delta"]["content"],
            Api::OpenAiResponses if event["type"] == "response.output_text.delta" => {
                &event["delta"]
            }
            Api::AnthropicMessages
                if event["type"] == "content_block_delta"
                    && event["delta"]["type"] == "text_delta" =>
            {
                &event["delta"]["text"]
            }
            Api::GeminiGenerate => {
                gemini_parts(&event, text);
                return;
            }
            Api::CohereChat if event["type"] == "content-delta" => {
                &event["delta"]["message"]["content"]["text"]
            }
            _ => return,
        };
        if let Some(s) = delta.as_str() {
            text.push_str(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_survive_any_split() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hé\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        for split in 0..stream.len() {
            let mut d = Deltas::new(Api::OpenAiChat);
            let mut text = String::new();
            d.feed(&stream[..split], &mut text);
            d.feed(&stream[split..], &mut text);
            d.finish(&mut text);
            assert_eq!(text, "Héllo", "split at {split}");
        }
    }

    #[test]
    fn anthropic_responses_and_gemini_deltas() {
        let mut text = String::new();
        let mut d = Deltas::new(Api::AnthropicMessages);
        d.feed(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n", &mut text);
        d.feed(b"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n", &mut text);
        let mut d = Deltas::new(Api::OpenAiResponses);
        d.feed(
            b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"b\"}\n",
            &mut text,
        );
        let mut d = Deltas::new(Api::GeminiGenerate);
        d.feed(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t\",\"thought\":true},{\"text\":\"c\"}]}}]}", &mut text);
        d.finish(&mut text);
        assert_eq!(text, "abc");
    }

    #[test]
    fn cohere_deltas_and_bedrock_frames_across_any_split() {
        let mut text = String::new();
        let mut d = Deltas::new(Api::CohereChat);
        d.feed(
            b"event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n",
            &mut text,
        );
        d.feed(
            b"data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n",
            &mut text,
        );
        assert_eq!(text, "Hi");
        let frame = |kind: &str, payload: &str| {
            byok::guard::meter::event_stream_frame(
                &[(":event-type", kind), (":message-type", "event")],
                payload.as_bytes(),
            )
        };
        let stream = [
            frame("messageStart", r#"{"role":"assistant"}"#),
            frame(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hé"}}"#,
            ),
            frame(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"llo"}}"#,
            ),
            frame(
                "metadata",
                r#"{"usage":{"inputTokens":1,"outputTokens":2}}"#,
            ),
        ]
        .concat();
        for split in 0..stream.len() {
            let mut d = Deltas::new(Api::BedrockConverse);
            let mut text = String::new();
            d.feed(&stream[..split], &mut text);
            d.feed(&stream[split..], &mut text);
            d.finish(&mut text);
            assert_eq!(text, "Héllo", "split at {split}");
        }
        // A length that cannot be a frame stops the reading, without a panic.
        let mut d = Deltas::new(Api::BedrockConverse);
        let mut text = String::new();
        d.feed(&[0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0, 1], &mut text);
        d.feed(&stream, &mut text);
        assert_eq!(text, "");
    }
}

//! Providers as data: one [`ProviderSpec`] per [`Provider`], read by every byok crate.
//!
//! A provider is described once, here: its codes and names, key kinds and key
//! shapes ([`KeyFormat`]: what the paste box, the scanner and redaction read), where its
//! API lives and how a key authenticates, which probes the Test button may send,
//! how its errors, rate-limit headers and usage are shaped, where it reports an
//! exact cost, and which price-table entries are its own. `byok-verify` builds
//! its requests and reads its answers from this description, `byok-guard` its
//! usage and prices, `byok-testkit` its mocks and the CLI its `--provider`
//! names, so adding a provider is one entry here plus the small code its
//! dialects need (a new error or usage shape), never five crates' `match`es.
//!
//! ```
//! use byok_keys::Provider;
//! use byok_keys::spec::{Auth, Wire};
//!
//! let groq = Provider::Groq.spec();
//! assert_eq!(groq.code, "groq");
//! assert_eq!(groq.auth, Auth::Bearer);
//! assert_eq!(groq.wire, Wire::OpenAiChat);
//! assert_eq!(groq.chat_path, Some("/openai/v1/chat/completions"));
//! // Every spec belongs to its provider, and codes are unique.
//! for p in Provider::ALL {
//!     assert_eq!(p.spec().provider, p);
//! }
//! ```

use crate::{KeyKind, Provider};

/// Everything byok knows about one provider, as data.
///
/// Paths are absolute from the origin (`/v1/models`), so a configured base URL
/// (an origin, optionally with a gateway prefix) is joined with them unchanged.
/// Templates in braces (`{resource}`, `{region}`, `{deployment}`, `{api_version}`)
/// are filled from the key's [`params`](ProviderSpec::params).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderSpec {
    /// The provider described.
    pub provider: Provider,
    /// Stable snake_case code (`openai`, `azure_openai`, ...).
    pub code: &'static str,
    /// Name for people (`OpenAI`, `xAI`, ...).
    pub display_name: &'static str,
    /// Other spellings `--provider` and [`Provider::from_str`](core::str::FromStr) accept, lowercase.
    pub aliases: &'static [&'static str],
    /// The key kinds this provider issues ([`KeyKind::belongs_to`]).
    pub kinds: &'static [KeyKind],
    /// Words that, near a prefix-less key, say it is this provider's (`mistral`,
    /// `CO_API_KEY`, ...). Empty for providers whose keys carry a prefix.
    pub context_keywords: &'static [&'static str],
    /// The shapes of this provider's keys, one per kind (some kinds have more than
    /// one shape: Azure's legacy and current keys). The paste-box check, the
    /// scanner and redaction read these ([`KeyFormat`]).
    pub key_formats: &'static [KeyFormat],
    /// The production origin (`https://api.openai.com`), possibly a template.
    pub origin: &'static str,
    /// Parameters a key alone does not give (Azure resource, deployment and API
    /// version; Bedrock region), stored with the key and used in templates.
    pub params: &'static [ParamSpec],
    /// How a key authenticates. Never in a URL.
    pub auth: Auth,
    /// Headers every request carries besides the auth (`anthropic-version`).
    pub fixed_headers: &'static [(&'static str, &'static str)],
    /// The inference dialect byok speaks to this provider.
    pub wire: Wire,
    /// The OpenAI-compatible chat completions path, where the provider has one.
    pub chat_path: Option<&'static str>,
    /// The free "list models" probe (`GET`), where the provider has one.
    pub models_path: Option<&'static str>,
    /// A free probe that says more than "valid" (credit left, blocked flags).
    pub key_info: Option<KeyInfo>,
    /// The default model of the billable probe (one output token): cheap and dated.
    pub probe_model: &'static str,
    /// How error bodies are shaped.
    pub errors: ErrorDialect,
    /// Which rate-limit headers the provider sends.
    pub rate_limits: RateLimitDialect,
    /// Where a response carries its token usage.
    pub usage: UsageDialect,
    /// How the provider streams.
    pub stream: StreamTraits,
    /// Where a response reports its exact cost, if it does.
    pub reported_cost: Option<ReportedCost>,
    /// The `litellm_provider` values of this provider's entries in the
    /// LiteLLM-format price table, and the model-name prefix its keys use
    /// (`groq/llama-3.1-8b-instant`).
    pub price_providers: &'static [&'static str],
    /// The provider's console pages, for remediation hints.
    pub console: Console,
}

/// A parameter a key alone does not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamSpec {
    /// The name used in templates and stored records (`resource`, `region`).
    pub name: &'static str,
    /// What it is, for people.
    pub description: &'static str,
    /// The value used when none is stored, if any (`api_version`).
    pub default: Option<&'static str>,
    /// What a valid value looks like.
    pub check: ParamCheck,
}

/// What a valid parameter value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamCheck {
    /// A DNS label: 2 to 64 of `a-z 0-9 -`, not starting or ending with `-`.
    DnsLabel,
    /// An Azure deployment name: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    DeploymentName,
    /// A date-like API version: `YYYY-MM-DD`, optionally `-preview`.
    ApiVersion,
    /// An AWS region (`us-east-1`).
    AwsRegion,
}

impl ParamCheck {
    /// Whether `value` is acceptable.
    pub fn accepts(self, value: &str) -> bool {
        let b = value.as_bytes();
        match self {
            ParamCheck::DnsLabel => {
                (2..=64).contains(&b.len())
                    && b.iter()
                        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && b[0] != b'-'
                    && b[b.len() - 1] != b'-'
            }
            ParamCheck::DeploymentName => {
                (1..=64).contains(&b.len())
                    && b.iter()
                        .all(|&c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            }
            ParamCheck::ApiVersion => {
                let date = value.strip_suffix("-preview").unwrap_or(value).as_bytes();
                date.len() == 10
                    && date.iter().enumerate().all(|(i, &c)| {
                        if i == 4 || i == 7 {
                            c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    })
            }
            ParamCheck::AwsRegion => {
                // `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: letters, then dash-
                // separated parts, the last one a number.
                let mut parts = value.split('-');
                let first = parts.next().unwrap_or("");
                let rest: Vec<&str> = parts.collect();
                (2..=3).contains(&first.len())
                    && first.bytes().all(|c| c.is_ascii_lowercase())
                    && rest.len() >= 2
                    && rest[..rest.len() - 1]
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
                    && rest[rest.len() - 1].len() == 1
                    && rest[rest.len() - 1].bytes().all(|c| c.is_ascii_digit())
            }
        }
    }
}

/// How a key authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// The key alone in the named header (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header(&'static str),
}

/// The inference dialect byok speaks to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI Chat Completions (and, for OpenAI itself, the Responses API).
    OpenAiChat,
    /// OpenAI Responses only (Perplexity after Sonar chat completions ended).
    OpenAiResponses,
    /// Anthropic Messages.
    AnthropicMessages,
    /// Gemini `generateContent`.
    GeminiGenerate,
    /// Amazon Bedrock Converse (`POST /model/{id}/converse`).
    BedrockConverse,
    /// Cohere v2 chat (`POST /v2/chat`).
    CohereChat,
}

/// A free probe that tells more than "the key is valid".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Absolute path from the origin.
    pub path: &'static str,
    /// How to read the answer.
    pub reader: KeyInfoReader,
}

/// How to read a key-info answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyInfoReader {
    /// OpenRouter `GET /api/v1/key`: `data.{limit, limit_remaining, expires_at, ...}`.
    OpenRouterKey,
    /// xAI `GET /v1/api-key`: `api_key_blocked`, `api_key_disabled`, `team_blocked`, `acls`.
    XAiApiKey,
    /// DeepSeek `GET /user/balance`: `is_available`, `balance_infos[]`.
    DeepSeekBalance,
    /// Cohere `POST /v1/check-api-key`: `{"valid": bool}`.
    CohereCheck,
}

/// How a provider shapes its error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorDialect {
    /// `{"error":{"message","type","code"}}` (OpenAI and the compatible providers).
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// Google `{"error":{"code","status","message","details"}}`.
    Gemini,
    /// OpenRouter `{"error":{"code": <int>, "message", "metadata"}}`.
    OpenRouter,
    /// xAI `{"code": "...", "error": "..."}`: the message decides before the status.
    XAi,
    /// Mistral `{"message"}`, `{"detail"}` or `{"object":"error","code":"1300",...}`.
    Mistral,
    /// Azure `{"error":{"code": "<string>", "message"}}`.
    Azure,
    /// AWS `{"Message"}` with the type in `x-amzn-ErrorType`.
    Aws,
    /// Cohere `{"message"}` (or `{"id","message"}`).
    Cohere,
}

/// Which rate-limit headers a provider sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitDialect {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations.
    OpenAi,
    /// `anthropic-ratelimit-*`, resets as RFC 3339 times.
    Anthropic,
    /// `X-RateLimit-{Limit,Remaining,Reset}`, reset as epoch milliseconds (OpenRouter).
    Single,
    /// Mistral `x-ratelimit-{limit,remaining}-{tokens,req}-minute`.
    Mistral,
    /// No rate-limit headers (only `retry-after`, if that).
    None,
}

/// Where a response carries its token usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageDialect {
    /// OpenAI chat `usage` (`prompt_tokens`, `completion_tokens`, `*_details`), with
    /// the compatible providers' extras (DeepSeek `prompt_cache_hit_tokens`, ...).
    OpenAiChat,
    /// OpenAI Responses `usage` (`input_tokens`, `output_tokens`).
    OpenAiResponses,
    /// Anthropic `usage` (`input_tokens` excludes the cache).
    Anthropic,
    /// Gemini `usageMetadata`.
    Gemini,
    /// Bedrock Converse `usage` (`inputTokens` excludes cache reads and writes).
    Converse,
    /// Cohere v2 `usage.billed_units`.
    CohereV2,
}

/// How a provider streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamTraits {
    /// Usage comes only when asked with `stream_options.include_usage`.
    pub needs_stream_options: bool,
    /// `stream_options` is refused: never add it.
    pub rejects_stream_options: bool,
    /// After a 200 has started, an error arrives as an event (OpenRouter
    /// `finish_reason: "error"`).
    pub error_event_after_200: bool,
    /// Under load the provider holds the connection with blank lines or
    /// `: keep-alive` comments (DeepSeek: up to 30 minutes).
    pub keepalive: bool,
}

const STREAM_OPENAI: StreamTraits = StreamTraits {
    needs_stream_options: true,
    rejects_stream_options: false,
    error_event_after_200: false,
    keepalive: false,
};

const STREAM_NATIVE: StreamTraits = StreamTraits {
    needs_stream_options: false,
    rejects_stream_options: false,
    error_event_after_200: false,
    keepalive: false,
};

/// Where a response reports its exact cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportedCost {
    /// xAI `usage.cost_in_usd_ticks`: an integer, 10¹⁰ ticks per USD (1 tick = 100 pUSD).
    XAiTicks,
    /// OpenRouter `usage.cost` in credits (= USD), and for BYOK
    /// `usage.cost_details.upstream_inference_cost`.
    OpenRouterCredits,
    /// Perplexity `usage.cost.total_cost` in USD (request, search and token fees).
    PerplexityUsd,
}

/// A provider's console pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Console {
    /// Where keys are created and revoked.
    pub keys: &'static str,
    /// Where credits are bought or the plan changed.
    pub billing: &'static str,
    /// The status page.
    pub status: &'static str,
}

/// One shape of a provider's keys: what the paste-box check, [`scan`](crate::scan)
/// and [`redact`](crate::redact) know about it.
///
/// Lengths count the body, the characters after the prefix. A body length in
/// [`body_len`](KeyFormat::body_len) but outside [`usual_len`](KeyFormat::usual_len)
/// is accepted with a warning ([`FormatWarning::UnusualLength`](crate::FormatWarning::UnusualLength),
/// or [`UnverifiedLength`](crate::FormatWarning::UnverifiedLength) when
/// [`length_verified`](KeyFormat::length_verified) is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyFormat {
    /// The kind of key this shape is.
    pub kind: KeyKind,
    /// The public prefix (`gsk_`, `sk-or-v1-`); empty for prefix-less keys.
    pub prefix: &'static str,
    /// Body lengths accepted, inclusive.
    pub body_len: (usize, usize),
    /// Body lengths seen in real keys, inclusive: no warning.
    pub usual_len: (usize, usize),
    /// False when no source confirms the length (Fireworks): other lengths get
    /// an "unverified" warning rather than an "unusual" one.
    pub length_verified: bool,
    /// The characters of the body.
    pub charset: Charset,
    /// Fixed text at a character offset from the start of the key (Azure's
    /// current keys: `JQQJ99` at 52, `ACOG` at 76).
    pub markers: &'static [(usize, &'static str)],
    /// How a key of this shape is recognised without the provider being named.
    pub detect: Detect,
    /// Prefixes apps invented for these keys, refused with a hint (Mistral `ms-`).
    pub invented_prefixes: &'static [&'static str],
    /// The literal the scanner looks for, a part of the prefix chosen to be rare
    /// in ordinary text (`-or-v1-`, `plx-`); `None` for prefix-less shapes (found
    /// by [`ProviderSpec::context_keywords`]) and for the original three providers'
    /// shapes, which the scanner anchors itself (the OpenAI marker, `-ant-`, `AIza`, `AQ.`).
    pub anchor: Option<&'static str>,
    /// What the body decodes to, when it can be checked offline.
    pub decode: Option<Decode>,
    /// Checked by dedicated code (the OpenAI marker in the middle of the body,
    /// Anthropic versions and the `AA` suffix, Google auth keys): the other fields
    /// describe the shape for people and tables, the code is the authority.
    pub builtin: bool,
}

/// The characters of a key body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Charset {
    /// `[0-9a-f]`.
    LowerHex,
    /// `[A-Za-z0-9]`.
    Alnum,
    /// `[A-Za-z0-9_]`.
    Word,
    /// `[A-Za-z0-9_-]` (base64url).
    WordDash,
    /// Standard base64 `[A-Za-z0-9+/]`, then up to two `=`.
    Base64,
}

impl Charset {
    /// Whether `b` may occur in a body (for [`Charset::Base64`], `=` counts: its
    /// place, at the end, is checked separately).
    pub const fn allows(self, b: u8) -> bool {
        match self {
            Charset::LowerHex => b.is_ascii_digit() || (b >= b'a' && b <= b'f'),
            Charset::Alnum => b.is_ascii_alphanumeric(),
            Charset::Word => b.is_ascii_alphanumeric() || b == b'_',
            Charset::WordDash => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Charset::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=',
        }
    }

    /// How people write it: `[0-9a-f]`, `[A-Za-z0-9]`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Charset::LowerHex => "[0-9a-f]",
            Charset::Alnum => "[A-Za-z0-9]",
            Charset::Word => "[A-Za-z0-9_]",
            Charset::WordDash => "[A-Za-z0-9_-]",
            Charset::Base64 => "[A-Za-z0-9+/] then ={0,2}",
        }
    }
}

/// How a key shape is recognised when the provider is not named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detect {
    /// By its prefix, anywhere.
    Prefix,
    /// By its shape, as the likely owner: DeepSeek's `sk-` + 32 lowercase hex (no
    /// OpenAI marker) is "probably DeepSeek" in the paste box. The prefix is too
    /// common in ordinary text to anchor a scan on, so the scanner needs a context
    /// keyword, as for [`Detect::Context`].
    Probable,
    /// Not by its shape: the paste box asks for the provider, the scanner needs a
    /// context keyword nearby or the provider named.
    Context,
}

/// What a key body decodes to, checked offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decode {
    /// Bedrock long-term: base64 of `BedrockAPIKey-…`.
    BedrockLongTerm,
    /// Bedrock short-term: base64 of a presigned URL
    /// ([`decode_short_term`](crate::bedrock::decode_short_term)).
    BedrockShortTerm,
}

impl ProviderSpec {
    /// The shapes of `kind` keys.
    pub fn formats_of(&self, kind: KeyKind) -> impl Iterator<Item = &'static KeyFormat> + use<> {
        self.key_formats.iter().filter(move |f| f.kind == kind)
    }
}

/// Every key shape of every provider, with its provider, in [`Provider::ALL`] order.
pub fn all_formats() -> impl Iterator<Item = (Provider, &'static KeyFormat)> {
    all().flat_map(|s| s.key_formats.iter().map(move |f| (s.provider, f)))
}

/// A shape checked by the generic code, with the defaults most shapes share.
const fn fmt(
    kind: KeyKind,
    prefix: &'static str,
    len: usize,
    charset: Charset,
    anchor: Option<&'static str>,
) -> KeyFormat {
    KeyFormat {
        kind,
        prefix,
        body_len: (len, len),
        usual_len: (len, len),
        length_verified: true,
        charset,
        markers: &[],
        detect: Detect::Prefix,
        invented_prefixes: &[],
        anchor,
        decode: None,
        builtin: false,
    }
}

/// A shape the dedicated code in `format.rs` checks.
const fn builtin(
    kind: KeyKind,
    prefix: &'static str,
    body_len: (usize, usize),
    usual_len: (usize, usize),
    charset: Charset,
    markers: &'static [(usize, &'static str)],
) -> KeyFormat {
    KeyFormat {
        kind,
        prefix,
        body_len,
        usual_len,
        length_verified: true,
        charset,
        markers,
        detect: Detect::Prefix,
        invented_prefixes: &[],
        anchor: None,
        decode: None,
        builtin: true,
    }
}

const OPENAI_FORMATS: &[KeyFormat] = &[
    // The marker `T3BlbkFJ` sits exactly in the middle of the body (offsets vary).
    builtin(
        KeyKind::Project,
        "sk-proj-",
        (40, 328),
        (156, 156),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::ServiceAccount,
        "sk-svcacct-",
        (100, 156),
        (124, 156),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::Admin,
        "sk-admin-",
        (40, 328),
        (124, 124),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::Unscoped,
        "sk-None-",
        (40, 328),
        (156, 156),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::Legacy,
        "sk-",
        (40, 328),
        (48, 48),
        Charset::Alnum,
        &[],
    ),
];
const ANTHROPIC_FORMATS: &[KeyFormat] = &[
    builtin(
        KeyKind::Api,
        "sk-ant-api03-",
        (64, 160),
        (95, 95),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::Admin,
        "sk-ant-admin01-",
        (64, 160),
        (95, 95),
        Charset::WordDash,
        &[],
    ),
];
const GOOGLE_FORMATS: &[KeyFormat] = &[
    builtin(
        KeyKind::Standard,
        "AIza",
        (35, 35),
        (35, 35),
        Charset::WordDash,
        &[],
    ),
    builtin(
        KeyKind::Auth,
        "AQ.",
        (32, 256),
        (50, 50),
        Charset::WordDash,
        &[],
    ),
];
const OPENROUTER_FORMATS: &[KeyFormat] = &[fmt(
    KeyKind::Standard,
    "sk-or-v1-",
    64,
    Charset::LowerHex,
    Some("-or-v1-"),
)];
const GROQ_FORMATS: &[KeyFormat] = &[fmt(
    KeyKind::Standard,
    "gsk_",
    52,
    Charset::Alnum,
    Some("gsk_"),
)];
const XAI_FORMATS: &[KeyFormat] = &[KeyFormat {
    body_len: (70, 120),
    ..fmt(
        KeyKind::Standard,
        "xai-",
        80,
        Charset::WordDash,
        Some("xai-"),
    )
}];
const DEEPSEEK_FORMATS: &[KeyFormat] = &[KeyFormat {
    detect: Detect::Probable,
    anchor: None,
    ..fmt(KeyKind::Standard, "sk-", 32, Charset::LowerHex, None)
}];
const MISTRAL_FORMATS: &[KeyFormat] = &[KeyFormat {
    detect: Detect::Context,
    invented_prefixes: &["mistral-", "mistral_", "ms-"],
    ..fmt(KeyKind::Standard, "", 32, Charset::Alnum, None)
}];
const TOGETHER_FORMATS: &[KeyFormat] = &[fmt(
    KeyKind::Standard,
    "tgp_v1_",
    43,
    Charset::WordDash,
    Some("tgp_v1_"),
)];
const FIREWORKS_FORMATS: &[KeyFormat] = &[KeyFormat {
    // No scanner rule exists; Warp's redaction uses 24. Accept 20 to 64.
    body_len: (20, 64),
    length_verified: false,
    ..fmt(KeyKind::Standard, "fw_", 24, Charset::Alnum, Some("fw_"))
}];
const PERPLEXITY_FORMATS: &[KeyFormat] = &[fmt(
    KeyKind::Standard,
    "pplx-",
    48,
    Charset::Alnum,
    Some("plx-"),
)];
const AZURE_FORMATS: &[KeyFormat] = &[
    KeyFormat {
        detect: Detect::Context,
        ..fmt(KeyKind::Legacy, "", 32, Charset::LowerHex, None)
    },
    KeyFormat {
        detect: Detect::Context,
        markers: &[(52, "JQQJ99"), (76, "ACOG")],
        ..fmt(KeyKind::Standard, "", 84, Charset::Alnum, None)
    },
];
const BEDROCK_FORMATS: &[KeyFormat] = &[
    KeyFormat {
        body_len: (109, 271),
        usual_len: (109, 271),
        decode: Some(Decode::BedrockLongTerm),
        ..fmt(KeyKind::LongTerm, "ABSK", 0, Charset::Base64, Some("ABSK"))
    },
    KeyFormat {
        // A presigned URL, longer with a session token in it.
        body_len: (200, 8192),
        usual_len: (200, 8192),
        decode: Some(Decode::BedrockShortTerm),
        ..fmt(
            KeyKind::ShortTerm,
            "bedrock-api-key-",
            0,
            Charset::Base64,
            Some("bedrock-api-key-"),
        )
    },
];
const COHERE_FORMATS: &[KeyFormat] = &[KeyFormat {
    detect: Detect::Context,
    ..fmt(KeyKind::Standard, "", 40, Charset::Alnum, None)
}];

const SK: &[KeyKind] = &[KeyKind::Standard];

/// The spec of `provider`.
pub const fn of(provider: Provider) -> &'static ProviderSpec {
    match provider {
        Provider::OpenAi => &OPENAI,
        Provider::Anthropic => &ANTHROPIC,
        Provider::Google => &GOOGLE,
        Provider::OpenRouter => &OPENROUTER,
        Provider::Groq => &GROQ,
        Provider::XAi => &XAI,
        Provider::DeepSeek => &DEEPSEEK,
        Provider::Mistral => &MISTRAL,
        Provider::Together => &TOGETHER,
        Provider::Fireworks => &FIREWORKS,
        Provider::Perplexity => &PERPLEXITY,
        Provider::AzureOpenAi => &AZURE,
        Provider::Bedrock => &BEDROCK,
        Provider::Cohere => &COHERE,
    }
}

/// Every spec, in [`Provider::ALL`] order.
pub fn all() -> impl Iterator<Item = &'static ProviderSpec> {
    Provider::ALL.into_iter().map(of)
}

const OPENAI: ProviderSpec = ProviderSpec {
    provider: Provider::OpenAi,
    code: "openai",
    display_name: "OpenAI",
    aliases: &["open-ai", "open_ai", "chatgpt"],
    kinds: &[
        KeyKind::Legacy,
        KeyKind::Project,
        KeyKind::ServiceAccount,
        KeyKind::Admin,
        KeyKind::Unscoped,
    ],
    context_keywords: &[],
    key_formats: OPENAI_FORMATS,
    origin: "https://api.openai.com",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/v1/chat/completions"),
    models_path: Some("/v1/models"),
    key_info: None,
    probe_model: "gpt-4o-mini-2024-07-18",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: None,
    price_providers: &["openai"],
    console: Console {
        keys: "https://platform.openai.com/api-keys",
        billing: "https://platform.openai.com/settings/organization/billing",
        status: "https://status.openai.com",
    },
};

const ANTHROPIC: ProviderSpec = ProviderSpec {
    provider: Provider::Anthropic,
    code: "anthropic",
    display_name: "Anthropic",
    aliases: &["claude"],
    kinds: &[KeyKind::Api, KeyKind::Admin],
    context_keywords: &[],
    key_formats: ANTHROPIC_FORMATS,
    origin: "https://api.anthropic.com",
    params: &[],
    auth: Auth::Header("x-api-key"),
    fixed_headers: &[("anthropic-version", "2023-06-01")],
    wire: Wire::AnthropicMessages,
    chat_path: None,
    models_path: Some("/v1/models"),
    key_info: None,
    probe_model: "claude-haiku-4-5",
    errors: ErrorDialect::Anthropic,
    rate_limits: RateLimitDialect::Anthropic,
    usage: UsageDialect::Anthropic,
    stream: STREAM_NATIVE,
    reported_cost: None,
    price_providers: &["anthropic"],
    console: Console {
        keys: "https://console.anthropic.com/settings/keys",
        billing: "https://console.anthropic.com/settings/billing",
        status: "https://status.anthropic.com",
    },
};

const GOOGLE: ProviderSpec = ProviderSpec {
    provider: Provider::Google,
    code: "google",
    display_name: "Google",
    aliases: &["gemini", "googleai", "google-ai", "google_ai", "aistudio"],
    kinds: &[KeyKind::Standard, KeyKind::Auth],
    context_keywords: &[],
    key_formats: GOOGLE_FORMATS,
    origin: "https://generativelanguage.googleapis.com",
    params: &[],
    auth: Auth::Header("x-goog-api-key"),
    fixed_headers: &[],
    wire: Wire::GeminiGenerate,
    chat_path: None,
    models_path: Some("/v1beta/models"),
    key_info: None,
    probe_model: "gemini-2.5-flash-lite",
    errors: ErrorDialect::Gemini,
    rate_limits: RateLimitDialect::None,
    usage: UsageDialect::Gemini,
    stream: STREAM_NATIVE,
    reported_cost: None,
    price_providers: &["gemini"],
    console: Console {
        keys: "https://aistudio.google.com/apikey",
        billing: "https://aistudio.google.com/usage",
        status: "https://aistudio.google.com/status",
    },
};

const OPENROUTER: ProviderSpec = ProviderSpec {
    provider: Provider::OpenRouter,
    code: "openrouter",
    display_name: "OpenRouter",
    aliases: &["open-router", "open_router"],
    kinds: SK,
    context_keywords: &[],
    key_formats: OPENROUTER_FORMATS,
    origin: "https://openrouter.ai",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/api/v1/chat/completions"),
    models_path: None,
    key_info: Some(KeyInfo {
        method: "GET",
        path: "/api/v1/key",
        reader: KeyInfoReader::OpenRouterKey,
    }),
    probe_model: "openai/gpt-4.1-nano",
    errors: ErrorDialect::OpenRouter,
    rate_limits: RateLimitDialect::Single,
    usage: UsageDialect::OpenAiChat,
    stream: StreamTraits {
        // Usage always comes in the last chunk; `stream_options` is accepted.
        needs_stream_options: false,
        rejects_stream_options: false,
        error_event_after_200: true,
        keepalive: true,
    },
    reported_cost: Some(ReportedCost::OpenRouterCredits),
    price_providers: &["openrouter"],
    console: Console {
        keys: "https://openrouter.ai/settings/keys",
        billing: "https://openrouter.ai/settings/credits",
        status: "https://status.openrouter.ai",
    },
};

const GROQ: ProviderSpec = ProviderSpec {
    provider: Provider::Groq,
    code: "groq",
    display_name: "Groq",
    aliases: &["groqcloud"],
    kinds: SK,
    context_keywords: &[],
    key_formats: GROQ_FORMATS,
    origin: "https://api.groq.com",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/openai/v1/chat/completions"),
    models_path: Some("/openai/v1/models"),
    key_info: None,
    probe_model: "llama-3.1-8b-instant",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: None,
    price_providers: &["groq"],
    console: Console {
        keys: "https://console.groq.com/keys",
        billing: "https://console.groq.com/settings/billing",
        status: "https://groqstatus.com",
    },
};

const XAI: ProviderSpec = ProviderSpec {
    provider: Provider::XAi,
    code: "xai",
    display_name: "xAI",
    aliases: &["x.ai", "x-ai", "grok"],
    kinds: SK,
    context_keywords: &[],
    key_formats: XAI_FORMATS,
    origin: "https://api.x.ai",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/v1/chat/completions"),
    models_path: Some("/v1/models"),
    key_info: Some(KeyInfo {
        method: "GET",
        path: "/v1/api-key",
        reader: KeyInfoReader::XAiApiKey,
    }),
    probe_model: "grok-3-mini",
    errors: ErrorDialect::XAi,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: Some(ReportedCost::XAiTicks),
    price_providers: &["xai"],
    console: Console {
        keys: "https://console.x.ai/team/default/api-keys",
        billing: "https://console.x.ai/team/default/billing",
        status: "https://status.x.ai",
    },
};

const DEEPSEEK: ProviderSpec = ProviderSpec {
    provider: Provider::DeepSeek,
    code: "deepseek",
    display_name: "DeepSeek",
    aliases: &["deep-seek", "deep_seek"],
    kinds: SK,
    context_keywords: &["deepseek", "DeepSeek"],
    key_formats: DEEPSEEK_FORMATS,
    origin: "https://api.deepseek.com",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/chat/completions"),
    models_path: Some("/models"),
    key_info: Some(KeyInfo {
        method: "GET",
        path: "/user/balance",
        reader: KeyInfoReader::DeepSeekBalance,
    }),
    probe_model: "deepseek-chat",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::None,
    usage: UsageDialect::OpenAiChat,
    stream: StreamTraits {
        needs_stream_options: true,
        rejects_stream_options: false,
        error_event_after_200: false,
        keepalive: true,
    },
    reported_cost: None,
    price_providers: &["deepseek"],
    console: Console {
        keys: "https://platform.deepseek.com/api_keys",
        billing: "https://platform.deepseek.com/top_up",
        status: "https://status.deepseek.com",
    },
};

const MISTRAL: ProviderSpec = ProviderSpec {
    provider: Provider::Mistral,
    code: "mistral",
    display_name: "Mistral",
    aliases: &["mistralai", "mistral-ai", "mistral_ai"],
    kinds: SK,
    context_keywords: &["mistral"],
    key_formats: MISTRAL_FORMATS,
    origin: "https://api.mistral.ai",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/v1/chat/completions"),
    models_path: Some("/v1/models"),
    key_info: None,
    probe_model: "mistral-small-latest",
    errors: ErrorDialect::Mistral,
    rate_limits: RateLimitDialect::Mistral,
    usage: UsageDialect::OpenAiChat,
    stream: StreamTraits {
        // Usage comes in the last chunk unasked; `stream_options` is refused.
        needs_stream_options: false,
        rejects_stream_options: true,
        error_event_after_200: false,
        keepalive: false,
    },
    reported_cost: None,
    price_providers: &["mistral"],
    console: Console {
        keys: "https://console.mistral.ai/api-keys",
        billing: "https://console.mistral.ai/billing",
        status: "https://status.mistral.ai",
    },
};

const TOGETHER: ProviderSpec = ProviderSpec {
    provider: Provider::Together,
    code: "together",
    display_name: "Together AI",
    aliases: &["together_ai", "together-ai", "togetherai"],
    kinds: SK,
    context_keywords: &[],
    key_formats: TOGETHER_FORMATS,
    origin: "https://api.together.xyz",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/v1/chat/completions"),
    models_path: Some("/v1/models"),
    key_info: None,
    probe_model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: None,
    price_providers: &["together_ai"],
    console: Console {
        keys: "https://api.together.ai/settings/api-keys",
        billing: "https://api.together.ai/settings/billing",
        status: "https://status.together.ai",
    },
};

const FIREWORKS: ProviderSpec = ProviderSpec {
    provider: Provider::Fireworks,
    code: "fireworks",
    display_name: "Fireworks AI",
    aliases: &["fireworks_ai", "fireworks-ai", "fireworksai"],
    kinds: SK,
    context_keywords: &[],
    key_formats: FIREWORKS_FORMATS,
    origin: "https://api.fireworks.ai",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/inference/v1/chat/completions"),
    // `/inference/v1/models` answers 500 for some accounts: the verifier must
    // never read a 500 there as Invalid.
    models_path: Some("/inference/v1/models"),
    key_info: None,
    probe_model: "accounts/fireworks/models/llama-v3p1-8b-instruct",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: None,
    price_providers: &["fireworks_ai"],
    console: Console {
        keys: "https://fireworks.ai/account/api-keys",
        billing: "https://fireworks.ai/account/billing",
        status: "https://status.fireworks.ai",
    },
};

const PERPLEXITY: ProviderSpec = ProviderSpec {
    provider: Provider::Perplexity,
    code: "perplexity",
    display_name: "Perplexity",
    aliases: &["pplx", "perplexity-ai", "perplexity_ai"],
    kinds: SK,
    context_keywords: &[],
    key_formats: PERPLEXITY_FORMATS,
    origin: "https://api.perplexity.ai",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::OpenAiResponses,
    chat_path: None,
    models_path: None,
    key_info: None,
    probe_model: "sonar",
    errors: ErrorDialect::OpenAi,
    rate_limits: RateLimitDialect::None,
    usage: UsageDialect::OpenAiResponses,
    stream: STREAM_NATIVE,
    reported_cost: Some(ReportedCost::PerplexityUsd),
    price_providers: &["perplexity"],
    console: Console {
        keys: "https://www.perplexity.ai/account/api/keys",
        billing: "https://www.perplexity.ai/account/api/billing",
        status: "https://status.perplexity.com",
    },
};

const AZURE: ProviderSpec = ProviderSpec {
    provider: Provider::AzureOpenAi,
    code: "azure_openai",
    display_name: "Azure OpenAI",
    aliases: &["azure", "azure-openai", "azureopenai", "aoai"],
    kinds: &[KeyKind::Legacy, KeyKind::Standard],
    context_keywords: &["azure", "openai.azure.com", "AZURE_OPENAI"],
    key_formats: AZURE_FORMATS,
    origin: "https://{resource}.openai.azure.com",
    params: &[
        ParamSpec {
            name: "resource",
            description: "the Azure OpenAI resource name ({resource}.openai.azure.com)",
            default: None,
            check: ParamCheck::DnsLabel,
        },
        ParamSpec {
            name: "deployment",
            description: "the model deployment name",
            default: None,
            check: ParamCheck::DeploymentName,
        },
        ParamSpec {
            name: "api_version",
            description: "the API version (YYYY-MM-DD[-preview])",
            default: Some("2024-10-21"),
            check: ParamCheck::ApiVersion,
        },
    ],
    auth: Auth::Header("api-key"),
    fixed_headers: &[],
    wire: Wire::OpenAiChat,
    chat_path: Some("/openai/deployments/{deployment}/chat/completions?api-version={api_version}"),
    models_path: Some("/openai/deployments?api-version=2023-03-15-preview"),
    key_info: None,
    probe_model: "{deployment}",
    errors: ErrorDialect::Azure,
    rate_limits: RateLimitDialect::OpenAi,
    usage: UsageDialect::OpenAiChat,
    stream: STREAM_OPENAI,
    reported_cost: None,
    price_providers: &["azure"],
    console: Console {
        keys: "https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/CognitiveServicesHub/~/OpenAI",
        billing: "https://portal.azure.com/#view/Microsoft_Azure_CostManagement/Menu/~/overview",
        status: "https://azure.status.microsoft",
    },
};

const BEDROCK: ProviderSpec = ProviderSpec {
    provider: Provider::Bedrock,
    code: "bedrock",
    display_name: "Amazon Bedrock",
    aliases: &["aws-bedrock", "aws_bedrock", "amazon-bedrock", "aws"],
    kinds: &[KeyKind::LongTerm, KeyKind::ShortTerm],
    context_keywords: &[],
    key_formats: BEDROCK_FORMATS,
    origin: "https://bedrock-runtime.{region}.amazonaws.com",
    params: &[ParamSpec {
        name: "region",
        description: "the AWS region the key is bound to (us-east-1)",
        default: None,
        check: ParamCheck::AwsRegion,
    }],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::BedrockConverse,
    chat_path: None,
    models_path: None,
    key_info: None,
    probe_model: "amazon.nova-micro-v1:0",
    errors: ErrorDialect::Aws,
    rate_limits: RateLimitDialect::None,
    usage: UsageDialect::Converse,
    stream: STREAM_NATIVE,
    reported_cost: None,
    price_providers: &["bedrock_converse", "bedrock"],
    console: Console {
        keys: "https://console.aws.amazon.com/bedrock/home#/api-keys",
        billing: "https://console.aws.amazon.com/billing/home",
        status: "https://health.aws.amazon.com/health/status",
    },
};

const COHERE: ProviderSpec = ProviderSpec {
    provider: Provider::Cohere,
    code: "cohere",
    display_name: "Cohere",
    aliases: &["cohere-ai", "cohere_ai"],
    kinds: SK,
    context_keywords: &["cohere", "CO_API_KEY"],
    key_formats: COHERE_FORMATS,
    origin: "https://api.cohere.com",
    params: &[],
    auth: Auth::Bearer,
    fixed_headers: &[],
    wire: Wire::CohereChat,
    chat_path: Some("/compatibility/v1/chat/completions"),
    models_path: Some("/v1/models"),
    key_info: Some(KeyInfo {
        method: "POST",
        path: "/v1/check-api-key",
        reader: KeyInfoReader::CohereCheck,
    }),
    probe_model: "command-r7b-12-2024",
    errors: ErrorDialect::Cohere,
    rate_limits: RateLimitDialect::None,
    usage: UsageDialect::CohereV2,
    stream: STREAM_NATIVE,
    reported_cost: None,
    price_providers: &["cohere_chat", "cohere"],
    console: Console {
        keys: "https://dashboard.cohere.com/api-keys",
        billing: "https://dashboard.cohere.com/billing",
        status: "https://status.cohere.com",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_aliases_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for spec in all() {
            assert!(seen.insert(spec.code), "{}", spec.code);
            for alias in spec.aliases {
                assert_eq!(alias.to_ascii_lowercase(), *alias, "{alias}");
                assert!(seen.insert(alias), "{alias} used twice");
            }
            assert!(
                spec.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!(!spec.kinds.is_empty());
        }
    }

    #[test]
    fn paths_are_absolute_and_keys_never_in_urls() {
        for spec in all() {
            for path in [
                spec.chat_path,
                spec.models_path,
                spec.key_info.map(|k| k.path),
            ]
            .into_iter()
            .flatten()
            {
                assert!(path.starts_with('/'), "{}: {path}", spec.code);
                assert!(!path.contains("key="), "{}: {path}", spec.code);
            }
            assert!(spec.origin.starts_with("https://"), "{}", spec.code);
            // Every template names a declared parameter.
            let templated = [Some(spec.origin), spec.chat_path, Some(spec.probe_model)];
            for text in templated.into_iter().flatten() {
                let mut rest = text;
                while let Some(open) = rest.find('{') {
                    let close = rest[open..].find('}').unwrap() + open;
                    let name = &rest[open + 1..close];
                    assert!(
                        spec.params.iter().any(|p| p.name == name),
                        "{}: {{{name}}} is not a parameter",
                        spec.code
                    );
                    rest = &rest[close + 1..];
                }
            }
        }
    }

    #[test]
    fn param_checks() {
        assert!(ParamCheck::DnsLabel.accepts("my-resource-1"));
        assert!(!ParamCheck::DnsLabel.accepts("-bad"));
        assert!(!ParamCheck::DnsLabel.accepts("Has.Dot"));
        assert!(!ParamCheck::DnsLabel.accepts("a"));
        assert!(ParamCheck::DeploymentName.accepts("gpt-4o_mini.v2"));
        assert!(!ParamCheck::DeploymentName.accepts("a/b"));
        assert!(!ParamCheck::DeploymentName.accepts(""));
        assert!(ParamCheck::ApiVersion.accepts("2024-10-21"));
        assert!(ParamCheck::ApiVersion.accepts("2025-04-01-preview"));
        assert!(!ParamCheck::ApiVersion.accepts("2024-1-21"));
        assert!(!ParamCheck::ApiVersion.accepts("latest"));
        assert!(ParamCheck::AwsRegion.accepts("us-east-1"));
        assert!(ParamCheck::AwsRegion.accepts("ap-southeast-2"));
        assert!(ParamCheck::AwsRegion.accepts("us-gov-west-1"));
        assert!(!ParamCheck::AwsRegion.accepts("us-east"));
        assert!(!ParamCheck::AwsRegion.accepts("US-EAST-1"));
        assert!(!ParamCheck::AwsRegion.accepts("us-east-1/evil"));
        for spec in all() {
            for param in spec.params {
                if let Some(default) = param.default {
                    assert!(param.check.accepts(default), "{}", param.name);
                }
            }
        }
    }
}

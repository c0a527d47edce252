//! The key shapes of the format table (DESIGN.md), as one classifier over ASCII bytes.
//!
//! Both [`crate::ApiKey::parse`] and the scanner call [`classify`]: what the parser
//! accepts and what the scanner reports can never drift apart.

use std::time::SystemTime;

use crate::spec::{self, Charset, Decode, Detect, KeyFormat};
use crate::{FormatWarning, KeyError, KeyKind, Provider};

/// base64 of "OpenAI": sits exactly in the middle of every OpenAI key body.
pub(crate) const OPENAI_MARKER: &[u8; 8] = b"T3BlbkFJ";

/// `[A-Za-z0-9_-]`, the alphabet of every key body.
static B64URL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

/// Whether `b` is in the key alphabet `[A-Za-z0-9_-]`.
#[inline(always)]
pub(crate) fn is_key_byte(b: u8) -> bool {
    B64URL[b as usize]
}

/// Whether every byte is a key byte or `.`: arithmetic rather than a table, and
/// no early exit, so the compiler can vectorise it (a parse checks 164 bytes).
pub(crate) fn all_key_bytes_or_dot(bytes: &[u8]) -> bool {
    bytes.chunks(32).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            let letter = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            ok & (letter | digit | (b == b'-') | (b == b'_') | (b == b'.'))
        })
    })
}

/// What [`classify`] learned about an accepted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) provider: Provider,
    pub(crate) kind: KeyKind,
    /// Length of the public prefix the mask may show (`sk-proj-`, `AIza`, …).
    pub(crate) prefix_len: usize,
    pub(crate) warning: Option<FormatWarning>,
    /// When the key stops working, for keys that say (Bedrock short-term).
    pub(crate) expires_at: Option<SystemTime>,
}

/// Which half-lengths (characters on each side of the OpenAI marker) have been seen.
#[derive(Clone, Copy)]
enum Known {
    Set(&'static [usize]),
    Range(usize, usize),
}

impl Known {
    fn contains(self, n: usize) -> bool {
        match self {
            Known::Set(s) => s.contains(&n),
            Known::Range(lo, hi) => (lo..=hi).contains(&n),
        }
    }
    fn min(self) -> usize {
        match self {
            Known::Set(s) => s.iter().copied().min().unwrap_or(20),
            Known::Range(lo, _) => lo,
        }
    }
}

/// OpenAI prefixes with a marker body, most specific first (`sk-` legacy is last).
const OPENAI_SHAPES: [(&[u8], KeyKind, Known); 4] = [
    (b"sk-proj-", KeyKind::Project, Known::Set(&[20, 58, 74])),
    (
        b"sk-svcacct-",
        KeyKind::ServiceAccount,
        Known::Range(46, 74),
    ),
    (b"sk-admin-", KeyKind::Admin, Known::Set(&[58])),
    (b"sk-None-", KeyKind::Unscoped, Known::Set(&[74])),
];
const LEGACY_KNOWN: Known = Known::Set(&[20, 42]);
/// Shortest and longest marker half we still believe could be a real key.
const MIN_HALF: usize = 16;
const MAX_HALF: usize = 160;

/// Anthropic: 93 characters then `AA`.
const ANTHROPIC_BODY: usize = 95;
/// Google: `AIza` + 35 = 39, exactly.
const GOOGLE_STANDARD_LEN: usize = 39;
/// Google auth keys: `AQ.` + 50 seen; other lengths in this range are accepted with a warning.
const GOOGLE_AUTH_BODY: usize = 50;
const GOOGLE_AUTH_RANGE: (usize, usize) = (32, 256);

/// Prefixes of other services' credentials, so the error can say what the string is.
const FOREIGN: [(&str, &str); 10] = [
    ("sk-lf-", "Langfuse"),
    ("sk_live_", "Stripe"),
    ("sk_test_", "Stripe"),
    ("hf_", "Hugging Face"),
    ("r8_", "Replicate"),
    ("csk-", "Cerebras"),
    ("ghp_", "GitHub"),
    ("github_pat_", "GitHub"),
    ("AKIA", "AWS"),
    ("xoxb-", "Slack"),
];

/// Classify a candidate checked against `named`'s shapes when a provider is named,
/// else recognised by its shape alone ([`classify`]).
///
/// With a provider named: a key of another provider is [`KeyError::WrongProvider`]
/// (also when it is a broken key whose prefix says whose it is); otherwise the
/// errors are that provider's, with positions.
pub(crate) fn classify_for(b: &[u8], named: Option<Provider>) -> Result<Shape, KeyError> {
    let Some(p) = named else {
        return classify(b);
    };
    match classify(b) {
        Ok(shape) if shape.provider == p => Ok(Shape {
            // Named, so no longer "probably".
            warning: shape
                .warning
                .filter(|w| !matches!(w, FormatWarning::ProbableProvider { .. })),
            ..shape
        }),
        Ok(shape) => Err(KeyError::WrongProvider {
            expected: p,
            found: shape.provider,
        }),
        Err(KeyError::AmbiguousProvider { candidates }) if candidates.contains(&p) => {
            check_named(b, p)
        }
        Err(e @ KeyError::InventedPrefix { provider, .. }) if provider == p => Err(e),
        Err(
            e @ (KeyError::Empty | KeyError::Placeholder { .. } | KeyError::NotAnApiKey { .. }),
        ) => Err(e),
        Err(e) => match claimed(b) {
            // `sk-` is both OpenAI's and DeepSeek's.
            Some(c) if c != p && !(c == Provider::OpenAi && p == Provider::DeepSeek) => {
                Err(KeyError::WrongProvider {
                    expected: p,
                    found: c,
                })
            }
            // The original three keep their errors; "name the provider" makes no
            // sense once one is named.
            _ if p.spec().key_formats.iter().all(|f| f.builtin) => match e {
                KeyError::AmbiguousProvider { .. } => {
                    Err(KeyError::UnknownFormat { looks_like: None })
                }
                e => Err(e),
            },
            _ => check_named(b, p),
        },
    }
}

/// The provider whose prefix `b` starts with (the longest such prefix), if any.
fn claimed(b: &[u8]) -> Option<Provider> {
    if b.starts_with(b"sk-or-") {
        return Some(Provider::OpenRouter);
    }
    spec::all_formats()
        .filter(|(_, f)| !f.prefix.is_empty() && b.starts_with(f.prefix.as_bytes()))
        .max_by_key(|(p, f)| (f.prefix.len(), core::cmp::Reverse(*p)))
        .map(|(p, _)| p)
}

/// `b` checked against the generic shapes of `p` (not a builtin provider): the
/// one whose prefix it has, else the prefix-less one nearest in length.
fn check_named(b: &[u8], p: Provider) -> Result<Shape, KeyError> {
    let formats = p.spec().key_formats;
    let by_prefix = formats
        .iter()
        .filter(|f| !f.builtin && !f.prefix.is_empty() && b.starts_with(f.prefix.as_bytes()))
        .max_by_key(|f| f.prefix.len());
    if let Some(f) = by_prefix {
        return generic(b, p, f);
    }
    let distance = |f: &&KeyFormat| {
        let (lo, hi) = f.body_len;
        lo.saturating_sub(b.len()).max(b.len().saturating_sub(hi))
    };
    match formats
        .iter()
        .filter(|f| !f.builtin && f.prefix.is_empty())
        .min_by_key(distance)
    {
        Some(f) => {
            if let Some(ip) = f
                .invented_prefixes
                .iter()
                .find(|ip| b.starts_with(ip.as_bytes()))
            {
                return Err(KeyError::InventedPrefix {
                    provider: p,
                    prefix: ip,
                });
            }
            generic(b, p, f)
        }
        None => Err(KeyError::MissingMarker {
            provider: p,
            marker: formats.first().map_or("", |f| f.prefix),
        }),
    }
}

/// The generic shapes with a prefix of their own (not `sk-`, which the OpenAI code
/// reads first). No prefix among them starts another (a test checks), so order
/// does not matter.
fn prefixed_formats() -> impl Iterator<Item = (Provider, &'static KeyFormat)> {
    PREFIXED.iter().copied()
}

static PREFIXED: std::sync::LazyLock<Vec<(Provider, &'static KeyFormat)>> =
    std::sync::LazyLock::new(|| prefixed_formats_uncached().collect());

fn prefixed_formats_uncached() -> impl Iterator<Item = (Provider, &'static KeyFormat)> {
    spec::all_formats().filter(|(_, f)| {
        !f.builtin
            && !f.prefix.is_empty()
            && f.detect == Detect::Prefix
            && !f.prefix.starts_with("sk-")
    })
}

/// Check `b` against one generic shape of `provider`; `b` starts with its prefix.
pub(crate) fn generic(b: &[u8], provider: Provider, f: &KeyFormat) -> Result<Shape, KeyError> {
    let pre = f.prefix.len();
    let body = &b[pre..];
    let (min, max) = f.body_len;
    // Characters first: one outside the charset after a whole body is extra text.
    let padding = if f.charset == Charset::Base64 {
        body.iter().rev().take_while(|&&c| c == b'=').count().min(2)
    } else {
        0
    };
    let bad = body[..body.len() - padding]
        .iter()
        .position(|&c| !f.charset.allows(c) || c == b'=');
    if let Some(at) = bad {
        if at >= max {
            return Err(KeyError::TooLong {
                position: pre + max,
                extra: body.len() - max,
            });
        }
        let c = body[at];
        return Err(if is_key_byte(c) || matches!(c, b'+' | b'/' | b'=') {
            KeyError::UnexpectedCharacter {
                position: pre + at,
                allowed: f.charset.as_str(),
            }
        } else {
            KeyError::InvalidCharacter {
                position: pre + at,
                character: c as char,
            }
        });
    }
    let len = body.len();
    if len < min {
        return Err(KeyError::Truncated {
            position: b.len(),
            missing: Some(f.usual_len.0.max(min) - len),
        });
    }
    if len > max {
        return Err(KeyError::TooLong {
            position: pre + max,
            extra: len - max,
        });
    }
    for &(at, marker) in f.markers {
        if b.get(at..at + marker.len()) != Some(marker.as_bytes()) {
            return Err(KeyError::MissingMarker { provider, marker });
        }
    }
    let mut expires_at = None;
    match f.decode {
        Some(Decode::BedrockLongTerm) => {
            let decoded = crate::bedrock::base64_decode(body).map(zeroize::Zeroizing::new);
            if !decoded.is_some_and(|d| d.starts_with(crate::bedrock::LONG_TERM_DECODED_PREFIX)) {
                return Err(KeyError::MissingMarker {
                    provider,
                    marker: "BedrockAPIKey-",
                });
            }
        }
        Some(Decode::BedrockShortTerm) => {
            let text = core::str::from_utf8(b).map_err(|_| KeyError::MalformedToken {
                reason: "it is not text",
            })?;
            expires_at = Some(crate::bedrock::decode_short_term(text)?.expires_at());
        }
        None if f.charset == Charset::LowerHex => placeholder_hex(body)?,
        None => placeholder_body(body)?,
    }
    let (lo, hi) = f.usual_len;
    let warning = if (lo..=hi).contains(&len) {
        None
    } else if f.length_verified {
        Some(FormatWarning::UnusualLength { length: b.len() })
    } else {
        Some(FormatWarning::UnverifiedLength { length: b.len() })
    };
    Ok(Shape {
        provider,
        kind: f.kind,
        prefix_len: pre,
        warning,
        expires_at,
    })
}

/// The placeholder check for hex bodies: only 16 characters, so runs, sequences and
/// variety are judged against that alphabet (thresholds a random body of 32 trips
/// with probability below 1e-8), plus a short period (`deadbeefdeadbeef…`).
fn placeholder_hex(body: &[u8]) -> Result<(), KeyError> {
    let mut seen = [false; 256];
    for &c in body {
        seen[c as usize] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    let longest = |step: &dyn Fn(u8, u8) -> bool| {
        let (mut best, mut cur) = (1, 1);
        for w in body.windows(2) {
            cur = if step(w[0], w[1]) { cur + 1 } else { 1 };
            best = best.max(cur);
        }
        best
    };
    let run = longest(&|a, b| a == b);
    let seq = longest(&|a, b| b.wrapping_sub(a) == 1 || a.wrapping_sub(b) == 1);
    let periodic =
        (1..=16.min(body.len() / 2)).any(|p| body.iter().zip(&body[p..]).all(|(a, b)| a == b));
    let reason = if body.len() >= 4 && distinct == 1 {
        "one character repeated"
    } else if run >= 9 {
        "a long run of one character"
    } else if seq >= 12 {
        "a sequence like 0123456789ab"
    } else if body.len() >= 16 && (distinct < 6 || periodic) {
        "too few different characters to be random"
    } else {
        return Ok(());
    };
    Err(KeyError::Placeholder { reason })
}

/// Classify a candidate made only of key bytes and `.` (and, after a Bedrock
/// prefix, base64's `+/=`), recognising the provider by the shape alone.
///
/// The caller has already rejected whitespace, invisible and other invalid
/// characters (with their positions); here only shape matters.
pub(crate) fn classify(b: &[u8]) -> Result<Shape, KeyError> {
    if b.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(dot) = memchr::memchr(b'.', b) {
        if b.starts_with(b"ya29.") {
            return Err(KeyError::NotAnApiKey {
                what: "a Google OAuth access token",
            });
        }
        let allowed = b.starts_with(b"AQ.") && dot == 2;
        let bad = if allowed {
            b[3..].iter().position(|&c| c == b'.').map(|p| p + 3)
        } else {
            Some(dot)
        };
        if let Some(position) = bad {
            return Err(KeyError::InvalidCharacter {
                position,
                character: '.',
            });
        }
    }
    if b.starts_with(b"sk-ant-") {
        return anthropic(b);
    }
    if b.starts_with(b"sk-") {
        for (prefix, kind, known) in OPENAI_SHAPES {
            if b.starts_with(prefix) {
                return openai_marker_body(b, prefix.len(), kind, known);
            }
        }
        if b.starts_with(b"sk-service-") {
            return openai_old_service(b);
        }
        if b.starts_with(b"sk-or-") {
            let f = &Provider::OpenRouter.spec().key_formats[0];
            if !b.starts_with(f.prefix.as_bytes()) {
                return Err(KeyError::MissingMarker {
                    provider: Provider::OpenRouter,
                    marker: f.prefix,
                });
            }
            return generic(b, Provider::OpenRouter, f);
        }
        if let Some(looks_like) = foreign(b) {
            return Err(KeyError::UnknownFormat {
                looks_like: Some(looks_like),
            });
        }
        // DeepSeek: `sk-` + 32 lowercase hex. An OpenAI legacy key always carries
        // the marker, which has capitals, so the two can never be confused: a body
        // with the marker is OpenAI's, an all-lowercase-hex one is DeepSeek's.
        let body = &b[3..];
        let deepseek = &Provider::DeepSeek.spec().key_formats[0];
        if (24..=40).contains(&body.len()) && body.iter().all(|&c| Charset::LowerHex.allows(c)) {
            return generic(b, Provider::DeepSeek, deepseek).map(|shape| Shape {
                warning: shape.warning.or(Some(FormatWarning::ProbableProvider {
                    provider: Provider::DeepSeek,
                })),
                ..shape
            });
        }
        return openai_marker_body(b, 3, KeyKind::Legacy, LEGACY_KNOWN);
    }
    if b.starts_with(b"AIza") {
        return google_standard(b);
    }
    if b.starts_with(b"AQ.") {
        return google_auth(b);
    }
    if let Some((p, f)) = prefixed_formats().find(|(_, f)| b.starts_with(f.prefix.as_bytes())) {
        return generic(b, p, f);
    }
    for (p, f) in spec::all_formats() {
        if let Some(ip) = f
            .invented_prefixes
            .iter()
            .find(|ip| b.starts_with(ip.as_bytes()))
        {
            return Err(KeyError::InventedPrefix {
                provider: p,
                prefix: ip,
            });
        }
    }
    let mut candidates: Vec<Provider> = spec::all_formats()
        .filter(|(_, f)| f.detect == Detect::Context && context_shape(b, f))
        .map(|(p, _)| p)
        .collect();
    candidates.dedup();
    if !candidates.is_empty() {
        return Err(KeyError::AmbiguousProvider { candidates });
    }
    Err(KeyError::UnknownFormat {
        looks_like: foreign(b),
    })
}

/// Whether `b` starts with the prefix of a shape whose body is standard base64
/// (Bedrock): its `+`, `/` and `=` are then key characters.
pub(crate) fn base64_prefixed(b: &[u8]) -> bool {
    spec::all_formats()
        .any(|(_, f)| f.charset == Charset::Base64 && b.starts_with(f.prefix.as_bytes()))
}

/// Whether `b` has the exact shape of a prefix-less format (length, charset, markers).
pub(crate) fn context_shape(b: &[u8], f: &KeyFormat) -> bool {
    let (lo, hi) = f.body_len;
    (lo..=hi).contains(&b.len())
        && b.iter().all(|&c| f.charset.allows(c) && c != b'=')
        && f.markers
            .iter()
            .all(|&(at, m)| b.get(at..at + m.len()) == Some(m.as_bytes()))
}

fn foreign(b: &[u8]) -> Option<&'static str> {
    FOREIGN
        .iter()
        .find(|(p, _)| b.starts_with(p.as_bytes()))
        .map(|&(_, name)| name)
}

fn accept(
    provider: Provider,
    kind: KeyKind,
    prefix_len: usize,
    warning: Option<FormatWarning>,
) -> Result<Shape, KeyError> {
    Ok(Shape {
        provider,
        kind,
        prefix_len,
        warning,
        expires_at: None,
    })
}

/// `prefix + N + T3BlbkFJ + N`: the marker sits exactly in the middle of the body.
fn openai_marker_body(
    b: &[u8],
    prefix_len: usize,
    kind: KeyKind,
    known: Known,
) -> Result<Shape, KeyError> {
    let body = &b[prefix_len..];
    placeholder_body(body)?;
    let len = body.len();
    if len >= 8 && (len - 8) % 2 == 0 {
        let n = (len - 8) / 2;
        if &body[n..n + 8] == OPENAI_MARKER {
            if n < MIN_HALF {
                return Err(KeyError::Truncated {
                    position: b.len(),
                    missing: Some(2 * (known.min() - n.min(known.min()))),
                });
            }
            if n > MAX_HALF {
                return Err(KeyError::TooLong {
                    position: prefix_len + 2 * MAX_HALF + 8,
                    extra: len - (2 * MAX_HALF + 8),
                });
            }
            let warning =
                (!known.contains(n)).then_some(FormatWarning::UnusualLength { length: b.len() });
            return accept(Provider::OpenAi, kind, prefix_len, warning);
        }
    }
    match find_marker(body) {
        Some(p) => {
            let (left, right) = (p, len - p - 8);
            if right < left {
                Err(KeyError::Truncated {
                    position: b.len(),
                    missing: Some(left - right),
                })
            } else {
                Err(KeyError::TooLong {
                    position: prefix_len + p + 8 + left,
                    extra: right - left,
                })
            }
        }
        None if len < known.min() + 8 => Err(KeyError::Truncated {
            position: b.len(),
            missing: Some(2 * known.min() + 8 - len),
        }),
        None => Err(KeyError::MissingMarker {
            provider: Provider::OpenAi,
            marker: "T3BlbkFJ",
        }),
    }
}

fn find_marker(body: &[u8]) -> Option<usize> {
    body.windows(8).position(|w| w == OPENAI_MARKER)
}

/// The older service-account shape: `sk-service-NAME-` + 20 + marker + 20.
fn openai_old_service(b: &[u8]) -> Result<Shape, KeyError> {
    const PREFIX: usize = "sk-service-".len();
    let rest = &b[PREFIX..];
    placeholder_body(rest)?;
    let Some(p) = find_marker(rest) else {
        return Err(KeyError::MissingMarker {
            provider: Provider::OpenAi,
            marker: "T3BlbkFJ",
        });
    };
    let right = rest.len() - p - 8;
    if right < MIN_HALF {
        return Err(KeyError::Truncated {
            position: b.len(),
            missing: Some(20usize.saturating_sub(right)),
        });
    }
    // NAME is at least one character, then '-', then a left half as long as the right one.
    if p < right + 2 || rest[p - right - 1] != b'-' {
        return Err(KeyError::UnknownFormat { looks_like: None });
    }
    let warning = (right != 20).then_some(FormatWarning::UnusualLength { length: b.len() });
    accept(Provider::OpenAi, KeyKind::ServiceAccount, PREFIX, warning)
}

/// `sk-ant-api03-` + 93 + `AA`; `sk-ant-admin01-` likewise; OAuth tokens refused.
fn anthropic(b: &[u8]) -> Result<Shape, KeyError> {
    const PREFIX: usize = "sk-ant-".len();
    let rest = &b[PREFIX..];
    let Some(dash) = rest.iter().position(|&c| c == b'-') else {
        return Err(KeyError::Truncated {
            position: b.len(),
            missing: None,
        });
    };
    let version = &rest[..dash];
    if version.starts_with(b"oat") {
        return Err(KeyError::NotAnApiKey {
            what: "an Anthropic OAuth access token",
        });
    }
    if version.starts_with(b"ort") {
        return Err(KeyError::NotAnApiKey {
            what: "an Anthropic OAuth refresh token",
        });
    }
    let numbered = |word: &[u8]| {
        version.len() > word.len()
            && version.starts_with(word)
            && version[word.len()..].iter().all(u8::is_ascii_digit)
    };
    let (kind, current): (KeyKind, &[u8]) = if numbered(b"api") {
        (KeyKind::Api, b"api03")
    } else if numbered(b"admin") {
        (KeyKind::Admin, b"admin01")
    } else {
        return Err(KeyError::UnknownFormat { looks_like: None });
    };
    let prefix_len = PREFIX + dash + 1;
    let body = &b[prefix_len..];
    placeholder_body(body)?;
    let len = body.len();
    let ends_aa = body.ends_with(b"AA");
    let warning = if len == ANTHROPIC_BODY && ends_aa {
        None
    } else if ends_aa && (64..=160).contains(&len) {
        Some(FormatWarning::UnusualLength { length: b.len() })
    } else if len < ANTHROPIC_BODY {
        return Err(KeyError::Truncated {
            position: b.len(),
            missing: Some(ANTHROPIC_BODY - len),
        });
    } else if len > ANTHROPIC_BODY {
        return Err(KeyError::TooLong {
            position: prefix_len + ANTHROPIC_BODY,
            extra: len - ANTHROPIC_BODY,
        });
    } else {
        return Err(KeyError::MissingMarker {
            provider: Provider::Anthropic,
            marker: "AA",
        });
    };
    // A version warning outranks a length warning: it explains the length too.
    let warning = if version != current {
        Some(FormatWarning::UnusualVersion {
            version: String::from_utf8_lossy(version).into_owned(),
        })
    } else {
        warning
    };
    accept(Provider::Anthropic, kind, prefix_len, warning)
}

/// `AIza` + 35, exactly 39.
fn google_standard(b: &[u8]) -> Result<Shape, KeyError> {
    placeholder_body(&b[4..])?;
    match b.len() {
        GOOGLE_STANDARD_LEN => accept(Provider::Google, KeyKind::Standard, 4, None),
        n if n < GOOGLE_STANDARD_LEN => Err(KeyError::Truncated {
            position: n,
            missing: Some(GOOGLE_STANDARD_LEN - n),
        }),
        n => Err(KeyError::TooLong {
            position: GOOGLE_STANDARD_LEN,
            extra: n - GOOGLE_STANDARD_LEN,
        }),
    }
}

/// `AQ.` + base64url.
fn google_auth(b: &[u8]) -> Result<Shape, KeyError> {
    let body = &b[3..];
    placeholder_body(body)?;
    let (lo, hi) = GOOGLE_AUTH_RANGE;
    match body.len() {
        n if n < lo => Err(KeyError::Truncated {
            position: b.len(),
            missing: Some(GOOGLE_AUTH_BODY - n),
        }),
        n if n > hi => Err(KeyError::TooLong {
            position: 3 + hi,
            extra: n - hi,
        }),
        n => {
            let warning =
                (n != GOOGLE_AUTH_BODY).then_some(FormatWarning::UnusualLength { length: b.len() });
            accept(Provider::Google, KeyKind::Auth, 3, warning)
        }
    }
}

/// Low-entropy bodies: `xxxx`, `000000`, `abcdefgh`, few distinct characters.
///
/// Thresholds are chosen so a random base64url body trips them with probability
/// below 1e-8 (a run of 6: 64^-5 per position; a sequence of 8: 64^-7; fewer than
/// min(len/4 + 2, 20) distinct characters, where a random body of 16 has ~14 and
/// one of 72 or more has ~43 to 64).
fn placeholder_body(body: &[u8]) -> Result<(), KeyError> {
    let Some(&first) = body.first() else {
        return Ok(());
    };
    // Branch-free on purpose: this is most of the cost of a parse and of each
    // scanner hit. Key bytes are ASCII, so 128 slots cover every character.
    let mut seen = [0u8; 128];
    seen[(first & 127) as usize] = 1;
    for &c in &body[1..] {
        seen[(c & 127) as usize] = 1;
    }
    let (long_run, long_seq) = runs_and_sequences(body);
    let distinct: usize = seen.iter().map(|&s| s as usize).sum();
    let reason = if body.len() >= 4 && distinct == 1 {
        "one character repeated"
    } else if long_run {
        "a long run of one character"
    } else if long_seq {
        "a sequence like abcdefgh or 12345678"
    } else if body.len() >= 16 && distinct < (body.len() / 4 + 2).min(20) {
        "too few different characters to be random"
    } else {
        return Ok(());
    };
    Err(KeyError::Placeholder { reason })
}

/// Whether `body` has 6 equal characters in a row, and whether it has a sequence of
/// 8 (each character one above or below the previous: `abcdefgh`, `87654321`).
///
/// In the key alphabet, neighbouring codes are always both letters or both digits
/// ('-' and '_' have no neighbours in it), so no class test is needed. Each step
/// between neighbours becomes one bit of a 64-step window (8 steps at a time with
/// SWAR arithmetic on `u64`s); runs are then found with shifts. Windows start every
/// 56 steps and the last one ends at the end, so every run of up to 8 steps lies
/// wholly inside some window.
fn runs_and_sequences(body: &[u8]) -> (bool, bool) {
    let steps = body.len().saturating_sub(1);
    if steps < 64 {
        let (eq, seq) = step_bits_scalar(body);
        return (has_run(eq, 5), has_run(seq, 7));
    }
    let (mut long_run, mut long_seq) = (false, false);
    let mut start = 0;
    loop {
        let (eq, seq) = step_bits_swar(&body[start..start + 65]);
        long_run |= has_run(eq, 5);
        long_seq |= has_run(seq, 7);
        if start + 64 == steps {
            return (long_run, long_seq);
        }
        start = (start + 56).min(steps - 64);
    }
}

/// `k` consecutive one bits anywhere in `m`.
fn has_run(m: u64, k: u32) -> bool {
    let mut acc = m;
    for i in 1..k {
        acc &= m >> i;
    }
    acc != 0
}

/// Step bits for fewer than 64 steps: bit `k` of `eq` when `body[k] == body[k+1]`,
/// of `seq` when they differ by exactly one.
fn step_bits_scalar(body: &[u8]) -> (u64, u64) {
    let (mut eq, mut seq) = (0u64, 0u64);
    for (k, w) in body.windows(2).take(64).enumerate() {
        let d = w[1].wrapping_sub(w[0]);
        eq |= u64::from(d == 0) << k;
        seq |= u64::from(d == 1 || d == 255) << k;
    }
    (eq, seq)
}

/// [`step_bits_scalar`] for exactly 64 steps (`window.len() == 65`), 8 at a time.
fn step_bits_swar(window: &[u8]) -> (u64, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // 0x80 in every byte of `x` that is zero, 0 elsewhere (exact: no carries between bytes).
    let zero = |x: u64| !(((x & !HIGH) + !HIGH) | x) & HIGH;
    // The top bit of each byte, gathered into 8 bits (byte j -> bit j).
    let pack = |flags: u64| ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
    let load = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&window[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (mut eq, mut seq) = (0u64, 0u64);
    for block in 0..8 {
        let (a, b) = (load(block * 8), load(block * 8 + 1));
        // Bytewise b - a, with no borrow crossing bytes.
        let d = ((b | HIGH) - (a & !HIGH)) ^ ((b ^ !a) & HIGH);
        eq |= pack(zero(a ^ b)) << (block * 8);
        seq |= pack(zero(d ^ ONES) | zero(!d)) << (block * 8);
    }
    (eq, seq)
}

/// Placeholders recognisable from the whole text, before any character check:
/// ellipses, mask dots, template variables, variable names, instructions.
pub(crate) fn placeholder_text(s: &str) -> Option<&'static str> {
    if s.contains("...") || s.contains('…') {
        return Some("contains an ellipsis: an example or a masked key");
    }
    if s.contains("***") || s.contains('•') || s.contains('●') {
        return Some("contains mask characters: a masked key");
    }
    let t = s.trim();
    if (t.starts_with('<') && t.ends_with('>')) || t.contains("${") || t.contains("{{") {
        return Some("a template variable");
    }
    let is_name = t.len() < 64
        && !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    if is_name && ["KEY", "TOKEN", "SECRET"].iter().any(|w| t.contains(w)) {
        return Some("an environment variable name");
    }
    let lower = t.to_ascii_lowercase();
    if lower.contains("your") && (lower.contains("key") || lower.contains("token")) {
        return Some("an instruction to paste your key");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_alphabet() {
        for b in 0..=255u8 {
            let expect = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(is_key_byte(b), expect, "byte {b}");
        }
    }

    /// The straightforward version of `placeholder_body`, as the oracle for the fast one.
    fn placeholder_body_reference(body: &[u8]) -> bool {
        let distinct = body.iter().collect::<std::collections::BTreeSet<_>>().len();
        let longest = |step: &dyn Fn(u8, u8) -> bool| {
            let (mut best, mut cur) = (1, 1);
            for w in body.windows(2) {
                cur = if step(w[0], w[1]) { cur + 1 } else { 1 };
                best = best.max(cur);
            }
            best
        };
        let run = longest(&|a, b| a == b);
        let seq = longest(&|a, b| b.wrapping_sub(a) == 1 || a.wrapping_sub(b) == 1);
        !body.is_empty()
            && ((body.len() >= 4 && distinct == 1)
                || run >= 6
                || seq >= 8
                || (body.len() >= 16 && distinct < (body.len() / 4 + 2).min(20)))
    }

    proptest::proptest! {
        #[test]
        fn placeholder_body_matches_its_reference(body in "[A-Za-z0-9_-]{0,40}|[A-Za-z0-9_-]{60,400}|[a-f0-3]{0,200}|[ab]{0,30}|[a-h]{50,300}") {
            proptest::prop_assert_eq!(placeholder_body(body.as_bytes()).is_err(), placeholder_body_reference(body.as_bytes()));
        }

        #[test]
        fn key_byte_check_matches_the_table(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let table = bytes.iter().all(|&b| is_key_byte(b) || b == b'.');
            proptest::prop_assert_eq!(all_key_bytes_or_dot(&bytes), table);
        }
    }

    #[test]
    fn runs_across_window_edges_are_found() {
        // A random-looking body of 300 with one planted run or sequence at every offset.
        let base: Vec<u8> = (0..300u32)
            .map(|i| b"Q7xK2mP9vR4tW8nZ3cF6hJ1"[(i as usize * 7) % 23])
            .collect();
        assert_eq!(runs_and_sequences(&base), (false, false));
        for at in 0..base.len() - 8 {
            let mut run = base.clone();
            run[at..at + 6].fill(b'z');
            assert!(runs_and_sequences(&run).0, "run at {at}");
            let mut seq = base.clone();
            seq[at..at + 8].copy_from_slice(b"abcdefgh");
            assert!(runs_and_sequences(&seq).1, "sequence at {at}");
        }
    }

    #[test]
    fn placeholder_bodies() {
        assert!(placeholder_body(b"xxxx").is_err());
        assert!(placeholder_body(b"abc000000def").is_err());
        assert!(placeholder_body(b"q1abcdefghz").is_err());
        assert!(placeholder_body(b"aAbBaAbBaAbBaAbBaAbB").is_err());
        assert!(placeholder_body(b"Zq8-v_3kP0").is_ok());
        assert!(placeholder_body(b"").is_ok());
    }

    #[test]
    fn placeholder_texts() {
        for s in [
            "sk-...",
            "sk-proj-…Q8xA",
            "YOUR_API_KEY",
            "OPENAI_API_KEY",
            "<api key>",
            "${OPENAI_API_KEY}",
            "sk-your-key-here",
            "sk-****",
        ] {
            assert!(placeholder_text(s).is_some(), "{s}");
        }
        assert!(placeholder_text("sk-proj-abc").is_none());
    }
}

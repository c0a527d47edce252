//! [`scan`] and [`redact`]: find keys inside arbitrary text.
//!
//! Two stages: a SIMD literal prefilter (aho-corasick's Teddy) finds the rare places
//! where the OpenAI marker `T3BlbkFJ`, `-ant-`, `AIza`, `AQ.`, the other providers'
//! anchors ([`KeyFormat::anchor`]: `-or-v1-`, `gsk_`, `xai-`, `tgp_v1_`, `fw_`,
//! `plx-`, `ABSK`, `bedrock-api-key-`) or a context keyword
//! ([`ProviderSpec::context_keywords`](crate::spec::ProviderSpec::context_keywords))
//! occur; the token around each anchor (the maximal run of key characters) is then
//! handed to the same classifier as [`ApiKey::parse`](crate::ApiKey::parse). No
//! regex, no fixed lengths.
//!
//! Keys without a prefix of their own (Mistral, Cohere, Azure OpenAI, and DeepSeek,
//! whose `sk-` is too common to anchor on) are reported only near a context keyword:
//! a token that starts within [`CONTEXT_WINDOW`] bytes after the end of one of the
//! provider's keywords (any case: `mistral`, `MISTRAL`, `Mistral`; not right after
//! a lowercase letter, so `incoherent` is no keyword), or anywhere when the caller
//! names the provider ([`scan_for`]).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, FindIter, Match, MatchKind};

use crate::format::{self, is_key_byte};
use crate::key::mask;
use crate::spec::{self, Charset, Detect, KeyFormat};
use crate::{KeyKind, Provider};

/// Rare anchors. `sk-` is common inside words (`task-`, `disk-`, `risk-`), and the
/// prefilter fingerprints a pattern by its first bytes, so no anchor starts with it:
/// OpenAI keys are found by the marker in their middle, Anthropic keys by `-ant-`.
/// The first two anchors sit inside the key; the others start it.
pub(crate) const ANCHORS: [&str; 4] = ["T3BlbkFJ", "-ant-", "AIza", "AQ."];
const INSIDE_ANCHORS: usize = 2;

/// How far after a context keyword a prefix-less key may start, in bytes: enough
/// for `MISTRAL_API_KEY = "…"`, a JSON object's next member or a YAML block's
/// next lines.
pub const CONTEXT_WINDOW: usize = 256;

/// Longest token looked at near a context keyword: the longest prefix-less key
/// (Azure's 84) with room to spare. Keeps what redaction reads after a keyword
/// within its bounded lookahead.
pub(crate) const CONTEXT_MAX_TOKEN: usize = 128;

/// What a prefilter pattern stands for.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    /// One of [`ANCHORS`].
    Builtin(usize),
    /// A generic shape's [`KeyFormat::anchor`]; `starts` when the anchor is the
    /// start of the key (else it sits inside the prefix: `-or-v1-`, `plx-`).
    Prefix {
        format: &'static KeyFormat,
        starts: bool,
    },
    /// A context keyword of `provider`.
    Keyword(Provider),
}

/// The prefilter's patterns and what each stands for.
pub(crate) struct Patterns {
    pub(crate) literals: Vec<String>,
    pub(crate) roles: Vec<Role>,
}

pub(crate) static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let mut literals: Vec<String> = ANCHORS.iter().map(|a| (*a).to_owned()).collect();
    let mut roles: Vec<Role> = (0..ANCHORS.len()).map(Role::Builtin).collect();
    for (_, f) in spec::all_formats() {
        if let Some(anchor) = f.anchor {
            literals.push(anchor.to_owned());
            roles.push(Role::Prefix {
                format: f,
                starts: f.prefix.starts_with(anchor),
            });
        }
    }
    for (p, word) in keywords() {
        literals.push(word);
        roles.push(Role::Keyword(p));
    }
    Patterns { literals, roles }
});

/// Every spelling of every provider's context keywords the prefilter looks for:
/// as written, lowercase, uppercase and capitalised; a spelling that contains
/// another of the same provider's is left out (`openai.azure.com` has `azure`).
pub(crate) fn keywords() -> Vec<(Provider, String)> {
    let mut out: Vec<(Provider, String)> = Vec::new();
    for s in spec::all() {
        let mut words: Vec<String> = Vec::new();
        for kw in s.context_keywords {
            let lower = kw.to_ascii_lowercase();
            let mut cap = lower.clone();
            cap[..1].make_ascii_uppercase();
            for w in [(*kw).to_owned(), lower, kw.to_ascii_uppercase(), cap] {
                if !words.contains(&w) {
                    words.push(w);
                }
            }
        }
        let kept: Vec<String> = words
            .iter()
            .filter(|w| !words.iter().any(|o| o != *w && w.contains(o.as_str())))
            .cloned()
            .collect();
        out.extend(kept.into_iter().map(|w| (s.provider, w)));
    }
    out
}

static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&PATTERNS.literals)
        .expect("literal patterns always build")
});

/// The prefilter of the three original providers alone (their four anchors), for
/// the bench's same-run baseline.
static PREFILTER_THREE: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(ANCHORS)
        .expect("literal patterns always build")
});

/// Every anchor but no context keyword, for the bench's same-run comparison.
static PREFILTER_NO_KEYWORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    let anchors = PATTERNS
        .literals
        .iter()
        .zip(&PATTERNS.roles)
        .filter(|(_, r)| !matches!(r, Role::Keyword(_)))
        .map(|(l, _)| l.as_str());
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(anchors)
        .expect("literal patterns always build")
});

/// Scanner variants measured against each other by `benches/keys.rs` in one run.
/// Not a stable API.
#[doc(hidden)]
pub mod variants {
    use super::*;

    /// The scanner restricted to the three original providers' anchors (what
    /// `scan` was before the eleven new providers): same classifier.
    pub fn scan_three_providers(text: &str) -> Findings<'_> {
        with_prefilter(text.as_bytes(), &PREFILTER_THREE)
    }

    /// The scanner with every provider's anchors but no context keyword.
    pub fn scan_without_keywords(text: &str) -> Findings<'_> {
        with_prefilter(text.as_bytes(), &PREFILTER_NO_KEYWORDS)
    }

    fn with_prefilter<'a>(text: &'a [u8], ac: &'static AhoCorasick) -> Findings<'a> {
        Findings {
            text,
            pos: 0,
            anchors: ac.find_iter(text),
            peeked: None,
            pending: VecDeque::new(),
        }
    }
}

/// Longest token worth classifying: the longest accepted shape is well under this.
pub(crate) const MAX_TOKEN: usize = 512;

/// A key found in text. Holds its location and public facts, never the secret:
/// slice the text with [`span`](Finding::span) if you need the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Finding {
    /// Byte range of the key in the scanned text.
    pub span: Range<usize>,
    /// The provider the key belongs to.
    pub provider: Provider,
    /// The kind of key.
    pub kind: KeyKind,
    /// The key's mask (`sk-proj-…Q8xA`).
    pub masked: String,
}

/// Every key in `text`, in order, with its byte span.
///
/// Finds keys in JSON, `.env` files, code, URLs (`?key=AIza…&alt=json`), HTML and
/// Markdown, followed by any character outside the key alphabet (`)`, `&`, `.`,
/// `<`, `"`, `\"`, `'`, …). A candidate glued to more key characters on either
/// side is not a key and is not reported; neither are placeholders.
///
/// ```
/// use byok_keys::{KeyKind, Provider, fake, scan};
///
/// let key = fake::key(Provider::Google, KeyKind::Standard, 9);
/// let url = format!("https://example.com/v1/models?key={key}&alt=json");
/// let found: Vec<_> = scan(&url).collect();
/// assert_eq!(found.len(), 1);
/// assert_eq!(&url[found[0].span.clone()], key);
/// ```
pub fn scan(text: &str) -> Findings<'_> {
    scan_bytes(text.as_bytes())
}

/// [`scan`] over bytes that need not be UTF-8 (keys are ASCII).
pub fn scan_bytes(text: &[u8]) -> Findings<'_> {
    scan_bytes_for(text, &[])
}

/// [`scan`], and the keys of the `named` providers that carry no prefix of their
/// own (Mistral, Cohere, Azure OpenAI, DeepSeek) are reported anywhere, not only
/// near a context keyword: for text known to hold such keys (a provider's config).
///
/// ```
/// use byok_keys::{KeyKind, Provider, fake, scan, scan_for};
///
/// let key = fake::key(Provider::Mistral, KeyKind::Standard, 1);
/// let text = format!("token: {key}\n");
/// assert_eq!(scan(&text).count(), 0); // no keyword nearby: could be anything
/// assert_eq!(scan(&format!("MISTRAL_API_KEY={key}")).count(), 1);
/// let found: Vec<_> = scan_for(&text, &[Provider::Mistral]).collect();
/// assert_eq!((found.len(), found[0].provider), (1, Provider::Mistral));
/// ```
pub fn scan_for<'a>(text: &'a str, named: &[Provider]) -> Findings<'a> {
    scan_bytes_for(text.as_bytes(), named)
}

/// [`scan_for`] over bytes that need not be UTF-8.
pub fn scan_bytes_for<'a>(text: &'a [u8], named: &[Provider]) -> Findings<'a> {
    let mut pending = VecDeque::new();
    if !named.is_empty() {
        let mut from = 0;
        while let Some(f) = context_key(text, 0, text.len(), &mut from, |p| named.contains(&p)) {
            pending.push_back(f);
        }
    }
    Findings {
        text,
        pos: 0,
        anchors: PREFILTER.find_iter(text),
        peeked: None,
        pending,
    }
}

/// The iterator returned by [`scan`] and [`scan_bytes`].
pub struct Findings<'a> {
    text: &'a [u8],
    /// Everything before `pos` has been consumed.
    pos: usize,
    anchors: FindIter<'static, 'a>,
    /// A prefilter hit read ahead while a context finding was emitted first.
    peeked: Option<Match>,
    /// Prefix-less keys found near a keyword (or named), in order, not yet emitted.
    pending: VecDeque<Finding>,
}

/// The next prefix-less key of a provider `wanted` says yes to, among the tokens
/// (maximal runs of key characters) that start in `[lo, hi)` and at or after
/// `*from`; `*from` is moved past every token looked at.
pub(crate) fn context_key(
    text: &[u8],
    lo: usize,
    hi: usize,
    from: &mut usize,
    wanted: impl Fn(Provider) -> bool,
) -> Option<Finding> {
    let mut i = lo.max(*from);
    let hi = hi.min(text.len());
    while i < hi {
        // The next token start: a key byte after a non-key byte (or the text start).
        let Some(off) = text[i..hi].iter().position(|&b| is_key_byte(b)) else {
            *from = hi;
            return None;
        };
        let run_start = i + off;
        let run_end = run_start
            + text[run_start..]
                .iter()
                .take(CONTEXT_MAX_TOKEN + 1)
                .position(|&b| !is_key_byte(b))
                .unwrap_or((text.len() - run_start).min(CONTEXT_MAX_TOKEN + 1));
        i = run_end.max(run_start + 1);
        *from = i;
        // A token glued to the text before the window (the keyword's own word) is not one.
        if run_start > 0 && is_key_byte(text[run_start - 1]) {
            continue;
        }
        let start = strip_context(text, run_start, run_end);
        if run_end - start > CONTEXT_MAX_TOKEN || run_end < text.len() && is_key_byte(text[run_end])
        {
            continue;
        }
        let token = &text[start..run_end];
        if let Some((provider, kind, prefix_len)) = context_shape(token, &wanted) {
            let masked = core::str::from_utf8(token)
                .map(|k| mask(k, prefix_len))
                .unwrap_or_default();
            return Some(Finding {
                span: start..run_end,
                provider,
                kind,
                masked,
            });
        }
    }
    None
}

/// Whether `token` is a key of a provider found only in context (`wanted`).
pub(crate) fn context_shape(
    token: &[u8],
    wanted: &impl Fn(Provider) -> bool,
) -> Option<(Provider, KeyKind, usize)> {
    for (p, f) in spec::all_formats() {
        if !matches!(f.detect, Detect::Context | Detect::Probable) || !wanted(p) {
            continue;
        }
        let ok = if f.prefix.is_empty() {
            // A lowercase hex string of an alphanumeric key's length is a digest
            // (a git SHA-1, an MD5) far more often than a key.
            let digest =
                f.charset == Charset::Alnum && token.iter().all(|&c| Charset::LowerHex.allows(c));
            format::context_shape(token, f) && !digest && format::generic(token, p, f).is_ok()
        } else {
            token.starts_with(f.prefix.as_bytes())
                && format::classify(token).is_ok_and(|s| s.provider == p)
        };
        if ok {
            return Some((p, f.kind, f.prefix.len()));
        }
    }
    None
}

impl Findings<'_> {
    /// The next pending context finding not inside what was already reported.
    fn pop_pending(&mut self) -> Option<Finding> {
        while let Some(f) = self.pending.pop_front() {
            if f.span.start >= self.pos {
                self.pos = f.span.end;
                return Some(f);
            }
        }
        None
    }

    /// Context keys after the keyword hit `m`, queued.
    fn keyword(&mut self, m: Match, provider: Provider) {
        let text = self.text;
        // Not right after a lowercase letter (`incoherent`).
        if m.start() > 0 && text[m.start() - 1].is_ascii_lowercase() {
            return;
        }
        let hi = m.end() + CONTEXT_WINDOW;
        let mut from = m.end();
        while let Some(f) = context_key(text, m.end(), hi, &mut from, |p| p == provider) {
            // In order; a token another keyword already queued is not queued twice.
            let at = self
                .pending
                .partition_point(|b| b.span.start < f.span.start);
            let overlaps = self
                .pending
                .get(at)
                .is_some_and(|n| n.span.start < f.span.end)
                || (at > 0 && self.pending[at - 1].span.end > f.span.start);
            if !overlaps {
                self.pending.insert(at, f);
            }
        }
    }
}

/// Shows the position only: the scanned text holds the keys.
impl core::fmt::Debug for Findings<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Findings")
            .field("text_len", &self.text.len())
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Iterator for Findings<'_> {
    type Item = Finding;

    fn next(&mut self) -> Option<Finding> {
        let text = self.text;
        loop {
            let Some(m) = self.peeked.take().or_else(|| self.anchors.next()) else {
                return self.pop_pending();
            };
            if self
                .pending
                .front()
                .is_some_and(|f| f.span.start <= m.start())
            {
                self.peeked = Some(m);
                if let Some(f) = self.pop_pending() {
                    return Some(f);
                }
                continue;
            }
            let role = PATTERNS.roles[m.pattern().as_usize()];
            let (max_token, b64, anchored_at_start) = match role {
                Role::Keyword(p) => {
                    self.keyword(m, p);
                    continue;
                }
                Role::Builtin(i) => (MAX_TOKEN, false, i >= INSIDE_ANCHORS),
                Role::Prefix { format, starts } => (
                    format.prefix.len() + format.body_len.1,
                    format.charset == Charset::Base64,
                    starts,
                ),
            };
            if m.start() < self.pos {
                continue;
            }
            // The token is the maximal run of key characters around the anchor (for
            // `AQ.`, the run after the dot); a key is always a whole token.
            let in_run = |b: u8| is_key_byte(b) || (b64 && matches!(b, b'+' | b'/'));
            let mut run_end = m.end()
                + text[m.end()..]
                    .iter()
                    .take(max_token + 1)
                    .position(|&b| !in_run(b))
                    .unwrap_or((text.len() - m.end()).min(max_token + 1));
            // The run goes on past the longest key of this anchor: its end is not
            // known here, and a later anchor in it (the `T3BlbkFJ` of an OpenAI key
            // whose random body holds a `plx-`) may still find the whole run a key.
            let truncated = run_end - m.end() > max_token;
            if b64 {
                // Base64 padding: as many `=` as the length needs (prefixes are a
                // multiple of 4 long), if they are there; more `=` are not the key's.
                let pads = text[run_end..]
                    .iter()
                    .take(2)
                    .take_while(|&&b| b == b'=')
                    .count();
                let needed = (4 - (run_end - m.start()) % 4) % 4;
                if needed <= pads {
                    run_end += needed;
                }
            }
            let lookback = m.start().saturating_sub(MAX_TOKEN);
            let mut start = m.start()
                - text[lookback..m.start()]
                    .iter()
                    .rev()
                    .position(|&b| !is_key_byte(b))
                    .unwrap_or(m.start() - lookback);
            // Context glued to the key (`\n`, `\u0022`, `%3D`, an ANSI colour) is not part of it.
            start = strip_context(text, start, m.start());
            // Nothing in a maximal run of key characters can be a key unless the run is
            // one as a whole, so a rejected token is skipped. Not after `AQ.`: a dot
            // ends runs, so the run after it may itself start the next `AQ.` key.
            let anchor_has_dot = matches!(role, Role::Builtin(i) if i == ANCHORS.len() - 1);
            if anchored_at_start && start != m.start() {
                // A prefix inside a longer run (`fw_` inside an OpenAI key) is not
                // where a key starts: leave the run to its own anchors.
                continue;
            }
            self.pos = if anchor_has_dot || truncated {
                m.end()
            } else {
                run_end.max(m.end())
            };
            if (anchored_at_start && start != m.start()) || run_end - start > max_token {
                continue;
            }
            let candidate = &text[start..run_end];
            if let Ok(shape) = format::classify(candidate) {
                // A found key consumes its whole span, whatever its anchor.
                self.pos = run_end;
                // Keys are ASCII, so this never fails; stay total anyway.
                let masked = core::str::from_utf8(candidate)
                    .map(|k| mask(k, shape.prefix_len))
                    .unwrap_or_default();
                return Some(Finding {
                    span: start..run_end,
                    provider: shape.provider,
                    kind: shape.kind,
                    masked,
                });
            }
        }
    }
}

/// Where a key may start in a run of key characters that begins at `start`, once a
/// known piece of context glued in front of it is skipped: the letter of a `\n`-style
/// escape, the `uXXXX` of a JSON `\uXXXX` escape, the two hex digits of a `%XX`
/// escape, the parameters and final letter of an ANSI escape (`\x1b[1;32m`, also
/// written out as `\x1b[`, `\033[`, `\e[`, `\u001b[` or `^[[`). Never past `limit`.
pub(crate) fn strip_context(text: &[u8], start: usize, limit: usize) -> usize {
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let hex = |i: usize| at(i).is_ascii_hexdigit();
    let before = if start == 0 { 0 } else { text[start - 1] };
    let skipped = match before {
        b'\\' if matches!(at(start), b'n' | b't' | b'r' | b'b' | b'f') => 1,
        b'\\' if at(start) == b'u' && (1..5).all(|k| hex(start + k)) => 5,
        b'%' if hex(start) && hex(start + 1) => 2,
        b'0'..=b'9' | b';' | b':' | b'?' | b'[' => ansi_tail(text, start),
        _ => 0,
    };
    if start + skipped <= limit {
        start + skipped
    } else {
        start
    }
}

/// Length of the `32m` that ends an ANSI escape whose `\x1b[` (or a spelling of it)
/// comes before `start`; 0 if there is none.
fn ansi_tail(text: &[u8], start: usize) -> usize {
    // Parameters before the run (`1;` of `\x1b[1;32m`), then `[`, then an escape.
    let mut k = start;
    while k > 0 && start - k < 32 && matches!(text[k - 1], b'0'..=b'9' | b';' | b':' | b'?') {
        k -= 1;
    }
    if k == 0 || text[k - 1] != b'[' {
        return 0;
    }
    let head = &text[..k - 1];
    const ESCAPES: [&[u8]; 8] = [
        b"\x1b", b"\\x1b", b"\\x1B", b"\\033", b"\\e", b"\\u001b", b"\\u001B", b"^[",
    ];
    if !ESCAPES.iter().any(|e| head.ends_with(e)) {
        return 0;
    }
    // In the run: more digits, then the final letter.
    let digits = text[start..]
        .iter()
        .take(16)
        .take_while(|b| b.is_ascii_digit())
        .count();
    match text.get(start + digits) {
        Some(b) if b.is_ascii_alphabetic() => digits + 1,
        _ => 0,
    }
}

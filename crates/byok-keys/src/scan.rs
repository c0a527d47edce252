//! [`scan`] and [`redact`]: find keys inside arbitrary text.
//!
//! Two stages: a SIMD literal prefilter (aho-corasick's Teddy) finds the few places
//! where `sk-`, `AIza` or `AQ.` occur, then each candidate is cut at the key
//! alphabet's boundaries and handed to the same classifier as
//! [`ApiKey::parse`](crate::ApiKey::parse). No regex, no fixed lengths.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use crate::format::{self, is_key_byte};
use crate::key::mask;
use crate::{KeyKind, Provider};

static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .build(["sk-", "AIza", "AQ."])
        .expect("three literal patterns always build")
});

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
    Findings { text, pos: 0 }
}

/// The iterator returned by [`scan`] and [`scan_bytes`].
#[derive(Debug, Clone)]
pub struct Findings<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Iterator for Findings<'_> {
    type Item = Finding;

    fn next(&mut self) -> Option<Finding> {
        let text = self.text;
        while self.pos < text.len() {
            let m = PREFILTER.find(Input::new(text).span(self.pos..text.len()))?;
            let start = m.start();
            // Resume after the literal; a rejected candidate may still hide a key later on.
            self.pos = m.end();
            if !left_boundary(text, start) {
                continue;
            }
            let body_from = m.end();
            let end = body_from
                + text[body_from..]
                    .iter()
                    .position(|&b| !is_key_byte(b))
                    .unwrap_or(text.len() - body_from);
            let candidate = &text[start..end];
            if let Ok(shape) = format::classify(candidate) {
                self.pos = end;
                // Keys are ASCII, so this never fails; stay total anyway.
                let masked = core::str::from_utf8(candidate)
                    .map(|k| mask(k, shape.prefix_len))
                    .unwrap_or_default();
                return Some(Finding {
                    span: start..end,
                    provider: shape.provider,
                    kind: shape.kind,
                    masked,
                });
            }
        }
        None
    }
}

/// A key starts a token: the byte before it is not a key character, or it is
/// the letter of a backslash escape (`\n`, `\t`, `\r`) inside a quoted string.
#[inline]
fn left_boundary(text: &[u8], start: usize) -> bool {
    match start.checked_sub(1).map(|i| text[i]) {
        None => true,
        Some(b) if !is_key_byte(b) => true,
        Some(b'n' | b't' | b'r') => start >= 2 && text[start - 2] == b'\\',
        Some(_) => false,
    }
}

/// `text` with every key replaced by its mask; borrowed when nothing was found.
///
/// ```
/// use byok_keys::{KeyKind, Provider, fake, redact};
///
/// let key = fake::key(Provider::OpenAi, KeyKind::Project, 2);
/// let log = format!("auth failed for {key}.");
/// let clean = redact(&log);
/// assert!(!clean.contains(&key));
/// assert!(clean.starts_with("auth failed for sk-proj-…"));
/// assert!(matches!(redact("nothing here"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn redact(text: &str) -> Cow<'_, str> {
    match redact_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Spans start and end on ASCII bytes and masks are UTF-8, so the result is UTF-8.
        Cow::Owned(bytes) => Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// [`redact`] over bytes that need not be UTF-8.
pub fn redact_bytes(text: &[u8]) -> Cow<'_, [u8]> {
    let mut found = scan_bytes(text).peekable();
    if found.peek().is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    for f in found {
        out.extend_from_slice(&text[last..f.span.start]);
        out.extend_from_slice(f.masked.as_bytes());
        last = f.span.end;
    }
    out.extend_from_slice(&text[last..]);
    Cow::Owned(out)
}

//! [`scan`] and [`redact`]: find keys inside arbitrary text.
//!
//! Two stages: a SIMD literal prefilter (aho-corasick's Teddy) finds the rare places
//! where the OpenAI marker `T3BlbkFJ`, `-ant-`, `AIza` or `AQ.` occur; the token
//! around each (the maximal run of key characters) is then handed to the same
//! classifier as [`ApiKey::parse`](crate::ApiKey::parse). No regex, no fixed lengths.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, FindIter, MatchKind};

use crate::format::{self, is_key_byte};
use crate::key::mask;
use crate::{KeyKind, Provider};

/// Rare anchors. `sk-` is common inside words (`task-`, `disk-`, `risk-`), and the
/// prefilter fingerprints a pattern by its first bytes, so no anchor starts with it:
/// OpenAI keys are found by the marker in their middle, Anthropic keys by `-ant-`.
/// The first two anchors sit inside the key; the others start it.
pub(crate) const ANCHORS: [&str; 4] = ["T3BlbkFJ", "-ant-", "AIza", "AQ."];
const INSIDE_ANCHORS: usize = 2;

static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(ANCHORS)
        .expect("four literal patterns always build")
});

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
    Findings {
        text,
        pos: 0,
        anchors: PREFILTER.find_iter(text),
    }
}

/// The iterator returned by [`scan`] and [`scan_bytes`].
pub struct Findings<'a> {
    text: &'a [u8],
    /// Everything before `pos` has been consumed.
    pos: usize,
    anchors: FindIter<'static, 'a>,
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
        for m in self.anchors.by_ref() {
            if m.start() < self.pos {
                continue;
            }
            // The token is the maximal run of key characters around the anchor (for
            // `AQ.`, the run after the dot); a key is always a whole token.
            let run_end = m.end()
                + text[m.end()..]
                    .iter()
                    .position(|&b| !is_key_byte(b))
                    .unwrap_or(text.len() - m.end());
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
            let anchor_has_dot = m.pattern().as_usize() == ANCHORS.len() - 1;
            self.pos = if anchor_has_dot {
                m.end()
            } else {
                run_end.max(m.end())
            };
            let anchored_at_start = m.pattern().as_usize() >= INSIDE_ANCHORS;
            if (anchored_at_start && start != m.start()) || run_end - start > MAX_TOKEN {
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
        None
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

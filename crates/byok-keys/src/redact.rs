//! [`redact`], [`redact_bytes`] and the streaming [`Redactor`]: mask keys in logs.
//!
//! [`scan`](crate::scan) is exact: it reports what parses as a key. Redaction is for
//! logs, where a false mask costs nothing and a leak costs a key, so it masks more:
//! anything that starts like a key and carries a key-like body, whatever its length,
//! whatever is glued after it, and with the characters a log writer or a paste box
//! slips into a key read as what they stand for (zero-width and bidi characters, JSON
//! `\uXXXX` escapes).
//!
//! Same two stages as the scanner: a literal prefilter (the scanner's four anchors
//! plus the commonest invisible characters and the start of `\uXXXX` escapes, so an
//! anchor split by one is still found), then a decision near each hit that reads at
//! most [`LOOKBACK`] bytes back and [`LOOKAHEAD`] bytes ahead. That bound is what lets
//! [`Redactor`] work in windows with bounded memory and give byte for byte the
//! output of the whole-text functions.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use zeroize::Zeroizing;

use crate::format::{self, is_key_byte};
use crate::key::{is_invisible, mask};
use crate::scan::{CONTEXT_WINDOW, MAX_TOKEN, PATTERNS, Role, strip_context};
use crate::spec::{Charset, KeyFormat};

/// Invisible characters (UTF-8) and escape starts that may sit inside a key, anchors
/// included: a hit on one is checked for an anchor split by it. Only characters
/// whose UTF-8 form has three bytes, so the prefilter keeps its 3-byte fingerprints.
const JOINERS: [&[u8]; 24] = [
    "\u{200B}".as_bytes(),
    "\u{200C}".as_bytes(),
    "\u{200D}".as_bytes(),
    "\u{200E}".as_bytes(),
    "\u{200F}".as_bytes(),
    "\u{202A}".as_bytes(),
    "\u{202B}".as_bytes(),
    "\u{202C}".as_bytes(),
    "\u{202D}".as_bytes(),
    "\u{202E}".as_bytes(),
    "\u{2060}".as_bytes(),
    "\u{2061}".as_bytes(),
    "\u{2062}".as_bytes(),
    "\u{2063}".as_bytes(),
    "\u{2064}".as_bytes(),
    "\u{2066}".as_bytes(),
    "\u{2067}".as_bytes(),
    "\u{2068}".as_bytes(),
    "\u{2069}".as_bytes(),
    "\u{FEFF}".as_bytes(),
    b"\\u00",
    b"\\u2",
    b"\\uf",
    b"\\uF",
];

/// The scanner's anchors (its four, then each shape's [`KeyFormat::anchor`]), as
/// (literal, the shape it anchors for the generic ones).
static ALL_ANCHORS: LazyLock<Vec<(&'static str, Option<&'static KeyFormat>)>> =
    LazyLock::new(|| {
        PATTERNS
            .literals
            .iter()
            .zip(&PATTERNS.roles)
            .filter_map(|(lit, role)| match *role {
                Role::Builtin(_) => Some((lit.as_str(), None)),
                Role::Prefix { format, .. } => Some((lit.as_str(), Some(format))),
                Role::Keyword(_) => None,
            })
            .collect()
    });

/// The scanner's context keywords, after the anchors and [`JOINERS`] in the prefilter.
static KEYWORDS: LazyLock<Vec<crate::Provider>> = LazyLock::new(|| {
    PATTERNS
        .roles
        .iter()
        .filter_map(|r| match *r {
            Role::Keyword(p) => Some(p),
            _ => None,
        })
        .collect()
});

static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    let keywords = PATTERNS
        .literals
        .iter()
        .zip(&PATTERNS.roles)
        .filter(|(_, r)| matches!(r, Role::Keyword(_)))
        .map(|(l, _)| l.as_bytes());
    let patterns: Vec<&[u8]> = ALL_ANCHORS
        .iter()
        .map(|a| a.0.as_bytes())
        .chain(JOINERS)
        .chain(keywords)
        .collect();
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(patterns)
        .expect("literal patterns always build")
});

/// How far back from an anchor a key may start (`sk-` before the OpenAI marker).
pub(crate) const LOOKBACK: usize = MAX_TOKEN;
/// Bytes after a hit that the decision on it may read.
pub(crate) const LOOKAHEAD: usize = MAX_TOKEN + 64;
/// Bytes kept before the next unread hit: the lookback plus room for escapes and context.
const KEEP: usize = LOOKBACK + 128;
/// How much a [`Redactor`] reads before it processes: with [`KEEP`] and
/// [`LOOKAHEAD`], the bound on what it holds.
const WINDOW: usize = 64 * 1024;
/// The smallest window [`Redactor::with_window`] takes: well above what is kept.
const MIN_WINDOW: usize = 4096;
/// Key characters after the public prefix that make a loose match a key.
const LOOSE_MIN_BODY: usize = 8;
/// The same for `AQ.` glued after other key characters: the shortest auth key body.
const GLUED_AUTH_MIN_BODY: usize = 32;

/// `text` with every key and everything that looks like one replaced by a mask;
/// borrowed when nothing was found.
///
/// Masks every key [`scan`](crate::scan) reports (as its mask: `sk-proj-…Q8xA`) and
/// also, as the public prefix and `…` (`sk-proj-…`): keys of an odd length (missing
/// their last characters), keys glued to more key characters (`…_OLD`), keys with a
/// zero-width, bidi or soft-hyphen character or a JSON `\uXXXX` escape inside, keys
/// glued after an ANSI colour code, a `%XX` or `\uXXXX` escape. What follows a known
/// prefix up to the next character that cannot be part of a key is masked whole.
/// byok's own API tokens ([`token`](crate::token)) are masked to their tag and
/// the end of their id (`byok_app_…1f2e3d4c`), anything token-like to its prefix
/// (`byok_app_…`).
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
///
/// // Near misses are masked too: a key cut short, or glued to more characters.
/// let cut = format!("key={} old={key}_OLD", &key[..key.len() - 2]);
/// assert_eq!(redact(&cut), "key=sk-proj-… old=sk-proj-…");
/// ```
pub fn redact(text: &str) -> Cow<'_, str> {
    match redact_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Masks replace whole characters with ASCII and `…`, so UTF-8 stays UTF-8;
        // stay total anyway.
        Cow::Owned(bytes) => Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// [`redact`] over bytes that need not be UTF-8.
pub fn redact_bytes(text: &[u8]) -> Cow<'_, [u8]> {
    let keys = redact_keys(text);
    if memchr::memmem::find(&keys, b"byok_").is_none() {
        return keys;
    }
    let mut out = Vec::with_capacity(keys.len());
    crate::token::redact_runs(&keys, true, &mut out);
    if out == *keys {
        return keys;
    }
    // The key pass's copy still holds the tokens in clear: zero it.
    if let Cow::Owned(v) = keys {
        drop(Zeroizing::new(v));
    }
    Cow::Owned(out)
}

/// The provider-key pass of [`redact_bytes`].
fn redact_keys(text: &[u8]) -> Cow<'_, [u8]> {
    let mut sink = Whole {
        text,
        out: None,
        pending: 0,
    };
    let mut state = State::default();
    step(text, &mut state, true, &mut sink);
    match sink.out {
        Some(out) => Cow::Owned(out),
        None => Cow::Borrowed(text),
    }
}

/// [`redact_bytes`] over a stream, in bounded memory: feed it pieces of any size with
/// [`push`](Redactor::push), then call [`finish`](Redactor::finish). The output is
/// byte for byte that of [`redact_bytes`] on the whole text, however it was split.
///
/// It holds at most about 67 KiB of input (a 64 KiB window, the 1.2 KiB of
/// context a key decision may read and the 0.5 KiB a token decision may), zeroed when dropped, whatever the length of a line; output is appended to `out`
/// as soon as it is decided.
///
/// ```
/// use byok_keys::{KeyKind, Provider, Redactor, fake, redact_bytes};
///
/// let key = fake::key(Provider::Anthropic, KeyKind::Api, 3);
/// let log = format!("a {key} b").into_bytes();
/// let mut r = Redactor::new();
/// let mut out = Vec::new();
/// for piece in log.chunks(7) {
///     r.push(piece, &mut out);
/// }
/// r.finish(&mut out);
/// assert_eq!(out, redact_bytes(&log).into_owned());
/// ```
pub struct Redactor {
    buf: Zeroizing<Vec<u8>>,
    state: State,
    window: usize,
    /// The key pass's output not yet written: what the token pass
    /// ([`crate::token`]) has not decided (at most its lookahead).
    tokens: Zeroizing<Vec<u8>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::with_window(WINDOW)
    }
}

/// Shows only sizes: the buffer holds text that may contain keys.
impl core::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Redactor")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor at the start of a stream, working in 64 KiB windows.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// A redactor that works in windows of `window` bytes (at least 4 KiB): it then
    /// holds at most `window` plus 1.2 KiB of input. The output does not depend on it.
    pub fn with_window(window: usize) -> Redactor {
        Redactor {
            buf: Zeroizing::new(Vec::new()),
            state: State::default(),
            window: window.max(MIN_WINDOW),
            tokens: Zeroizing::new(Vec::new()),
        }
    }

    /// Feed the next piece of the stream; what is decided is appended to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for piece in input.chunks(self.window) {
            self.buf.extend_from_slice(piece);
            if self.buf.len() >= self.window {
                self.process(false, out);
            }
        }
    }

    /// End of the stream: append the rest to `out`. The redactor can then start a
    /// new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.process(true, out);
        self.buf.clear();
        self.state = State::default();
    }

    /// The key pass over the buffer, then the token pass over what it wrote.
    fn process(&mut self, eof: bool, out: &mut Vec<u8>) {
        let mut keys_done = std::mem::take(&mut self.tokens);
        self.keys(eof, &mut keys_done);
        let decided = crate::token::redact_runs(&keys_done, eof, out);
        keys_done.drain(..decided);
        self.tokens = keys_done;
    }

    fn keys(&mut self, eof: bool, out: &mut Vec<u8>) {
        step(&self.buf, &mut self.state, eof, &mut Stream(out));
        if eof {
            return;
        }
        // Drop what is written and no later decision can look back at.
        let st = &mut self.state;
        let cut = st.emitted.min(st.scanned.saturating_sub(KEEP));
        self.buf.drain(..cut);
        st.emitted -= cut;
        st.scanned -= cut;
        st.memo = st.memo.and_then(|q| q.checked_sub(cut));
        for p in &mut st.pending {
            p.0 -= cut;
            p.1 -= cut;
        }
    }
}

/// Where redaction stands in the text it is given.
#[derive(Default, Clone)]
struct State {
    /// Everything before this has been written out.
    emitted: usize,
    /// Prefilter hits starting before this have been handled.
    scanned: usize,
    /// Inside a masked run whose end has not been seen yet.
    swallowing: bool,
    /// That run is base64 (`+`, `/` and `=` go on with it).
    swallow_b64: bool,
    /// Prefix-less keys found near a context keyword, in order, not yet written:
    /// (start, end, mask).
    pending: Vec<(usize, usize, String)>,
    /// The last OpenAI marker with no `sk-` before it: a later one in the same run
    /// need not look back past it (it would find nothing). Speed only.
    memo: Option<usize>,
}

/// Where redacted output goes.
trait Sink {
    /// Bytes of the input, unchanged.
    fn raw(&mut self, bytes: &[u8]);
    /// A mask in place of the bytes skipped.
    fn mask(&mut self, mask: &[u8]);
}

/// Whole-text output, allocated only at the first mask.
struct Whole<'a> {
    text: &'a [u8],
    out: Option<Vec<u8>>,
    /// Bytes of unchanged input before the first mask.
    pending: usize,
}

impl Sink for Whole<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        match &mut self.out {
            Some(out) => out.extend_from_slice(bytes),
            None => self.pending += bytes.len(),
        }
    }
    fn mask(&mut self, mask: &[u8]) {
        let out = self.out.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(self.text.len());
            out.extend_from_slice(&self.text[..self.pending]);
            out
        });
        out.extend_from_slice(mask);
    }
}

struct Stream<'a>(&'a mut Vec<u8>);

impl Sink for Stream<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn mask(&mut self, mask: &[u8]) {
        self.0.extend_from_slice(mask);
    }
}

/// Redact as much of `t` as can be decided: all of it at `eof`, else everything
/// whose decision cannot depend on bytes not yet seen.
fn step(t: &[u8], st: &mut State, eof: bool, sink: &mut impl Sink) {
    let limit = if eof {
        t.len()
    } else {
        t.len().saturating_sub(LOOKAHEAD)
    };
    if st.swallowing {
        match run_end(t, st.emitted, eof, st.swallow_b64) {
            Ok(end) => {
                st.emitted = end;
                st.swallowing = false;
                // Only an `AQ.` can start inside the run and end after it.
                st.scanned = end.saturating_sub(2);
            }
            Err(wait) => {
                st.emitted = wait;
                st.scanned = st.scanned.max(wait);
                return;
            }
        }
    }
    let mut next_scan = st.scanned.max(limit);
    if st.scanned < t.len() {
        let input = Input::new(t).span(st.scanned..t.len());
        for m in PREFILTER.find_iter(input) {
            if m.start() >= limit {
                next_scan = next_scan.min(m.start()).max(st.scanned);
                break;
            }
            next_scan = next_scan.max(m.end());
            flush_pending(t, st, m.start(), sink);
            let id = m.pattern().as_usize();
            let n_anchors = ALL_ANCHORS.len();
            if id >= n_anchors + JOINERS.len() {
                context_keys(
                    t,
                    m.start(),
                    m.end(),
                    KEYWORDS[id - n_anchors - JOINERS.len()],
                    st,
                );
                continue;
            }
            // An `AQ.` whose `AQ` ended the run masked before still starts a key.
            if m.start() < st.emitted && (m.pattern().as_usize() != AQ || m.end() <= st.emitted) {
                continue;
            }
            let mut anchors = [None; 4];
            if id < n_anchors {
                anchors[0] = Some(Anchor {
                    kind: id,
                    start: m.start(),
                    end: m.end(),
                });
            } else {
                split_anchors(t, m.start(), eof, &mut anchors);
            }
            for a in anchors.into_iter().flatten() {
                if a.start < st.emitted && (a.kind != AQ || a.end <= st.emitted) {
                    continue;
                }
                let Some(d) = decide(t, a, eof, &mut st.memo) else {
                    continue;
                };
                let from = d.start.max(st.emitted);
                sink.raw(&t[st.emitted..from]);
                sink.mask(d.mask.as_bytes());
                match d.end {
                    Some(end) => st.emitted = end,
                    None => match run_end(t, d.body, eof, d.b64) {
                        Ok(end) => st.emitted = end,
                        Err(wait) => {
                            st.emitted = wait;
                            st.swallowing = true;
                            st.swallow_b64 = d.b64;
                            st.scanned = wait;
                            return;
                        }
                    },
                }
            }
        }
    }
    st.scanned = next_scan;
    let safe = if eof {
        t.len()
    } else {
        limit.saturating_sub(KEEP)
    };
    flush_pending(t, st, safe, sink);
    if safe > st.emitted {
        sink.raw(&t[st.emitted..safe]);
        st.emitted = safe;
    }
}

/// Write the pending context keys that start before `before`.
fn flush_pending(t: &[u8], st: &mut State, before: usize, sink: &mut impl Sink) {
    let n = st.pending.partition_point(|p| p.0 < before);
    for (start, end, mask) in st.pending.drain(..n) {
        if start >= st.emitted {
            sink.raw(&t[st.emitted..start]);
            sink.mask(mask.as_bytes());
            st.emitted = end;
        }
    }
}

/// Queue the prefix-less keys of `provider` after its keyword at `kw..kw_end`,
/// exactly as the scanner finds them (only plain runs of key characters: no
/// invisible characters or escapes inside, unlike anchored keys).
fn context_keys(t: &[u8], kw: usize, kw_end: usize, provider: crate::Provider, st: &mut State) {
    if kw > 0 && t[kw - 1].is_ascii_lowercase() {
        return;
    }
    let mut from = kw_end;
    while let Some(f) =
        crate::scan::context_key(t, kw_end, kw_end + CONTEXT_WINDOW, &mut from, |p| {
            p == provider
        })
    {
        let (start, end) = (f.span.start, f.span.end);
        let at = st.pending.partition_point(|p| p.0 < start);
        let overlaps = st.pending.get(at).is_some_and(|n| n.0 < end)
            || (at > 0 && st.pending[at - 1].1 > start);
        if !overlaps {
            st.pending.insert(at, (start, end, f.masked));
        }
    }
}

/// An anchor in the text, possibly split by invisible characters or escapes.
#[derive(Clone, Copy)]
struct Anchor {
    /// Index into [`ALL_ANCHORS`] (the first four are [`ANCHORS`]).
    kind: usize,
    /// Where its first character starts.
    start: usize,
    /// Where its last character ends.
    end: usize,
}

const MARKER: usize = 0;
const ANT: usize = 1;
const AIZA: usize = 2;
const AQ: usize = 3;

/// What to mask: from `start`, with `mask`, to `end` if known, else to the end of the
/// run of key characters that goes on at `body`.
struct Decision {
    start: usize,
    end: Option<usize>,
    body: usize,
    mask: String,
    /// The run is base64 (Bedrock): `+`, `/` and `=` go on with it.
    b64: bool,
}

/// One step through a run of key characters, reading invisible characters and
/// `\uXXXX` escapes as what they stand for.
enum Step {
    /// A character of the run: the key byte it stands for (`None`: invisible), and
    /// where the next one starts.
    Char(Option<u8>, usize),
    /// The run ends here.
    End,
    /// Cannot tell before more input arrives.
    More,
}

fn next_char(t: &[u8], i: usize, eof: bool) -> Step {
    next_char_in(t, i, eof, false)
}

/// [`next_char`], with `+`, `/` and `=` in the run when `b64`.
fn next_char_in(t: &[u8], i: usize, eof: bool, b64: bool) -> Step {
    let Some(&b) = t.get(i) else {
        return if eof { Step::End } else { Step::More };
    };
    if is_key_byte(b) || (b64 && matches!(b, b'+' | b'/' | b'=')) {
        return Step::Char(Some(b), i + 1);
    }
    let n = match b {
        b'\\' => 6,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return Step::End,
    };
    if t.len() < i + n {
        return if eof { Step::End } else { Step::More };
    }
    match joiner(&t[i..i + n]) {
        Some(d) => Step::Char(d, i + n),
        None => Step::End,
    }
}

/// The character before `i` if it belongs to a run, and where it starts; not before `lo`.
fn prev_char(t: &[u8], i: usize, lo: usize) -> Option<(Option<u8>, usize)> {
    if i <= lo {
        return None;
    }
    if i >= lo + 6 && t[i - 6] == b'\\' && t[i - 5] == b'u' {
        if let Some(d) = escape(&t[i - 6..i]) {
            return Some((d, i - 6));
        }
        if t[i - 4..i].iter().all(u8::is_ascii_hexdigit) {
            // An escape of a character that ends runs.
            return None;
        }
    }
    let b = t[i - 1];
    if is_key_byte(b) {
        return Some((Some(b), i - 1));
    }
    if b & 0xC0 == 0x80 {
        for n in 2..=4 {
            if i >= lo + n && t[i - n] >= 0xC0 {
                return joiner(&t[i - n..i]).map(|d| (d, i - n));
            }
        }
    }
    None
}

/// An invisible character (`Some(None)`) or an escape of a key or invisible character.
fn joiner(bytes: &[u8]) -> Option<Option<u8>> {
    if bytes.first() == Some(&b'\\') {
        return escape(bytes);
    }
    let c = core::str::from_utf8(bytes).ok()?.chars().next()?;
    is_invisible(c).then_some(None)
}

/// `\uXXXX` standing for a key character (`Some(Some(b))`) or an invisible one.
fn escape(e: &[u8]) -> Option<Option<u8>> {
    if e.len() != 6 || e[0] != b'\\' || e[1] != b'u' {
        return None;
    }
    let mut cp = 0u32;
    for &h in &e[2..] {
        cp = cp * 16 + char::from(h).to_digit(16)?;
    }
    let c = char::from_u32(cp)?;
    if c.is_ascii() && is_key_byte(c as u8) {
        Some(Some(c as u8))
    } else if is_invisible(c) {
        Some(None)
    } else {
        None
    }
}

/// Where the run of key characters going on at `i` ends: `Err(at)` if that cannot be
/// told before more input arrives (everything before `at` is in the run).
fn run_end(t: &[u8], mut i: usize, eof: bool, b64: bool) -> Result<usize, usize> {
    loop {
        match next_char_in(t, i, eof, b64) {
            Step::Char(_, next) => i = next,
            Step::End => return Ok(i),
            Step::More => return Err(i),
        }
    }
}

/// Anchors split by the invisible character or escape at `j`: decode a few
/// characters on each side and look for an anchor across it.
fn split_anchors(t: &[u8], j: usize, eof: bool, found: &mut [Option<Anchor>; 4]) {
    // (decoded byte, start, end) of up to 15 characters before `j` and 16 from it
    // (the longest anchor, `bedrock-api-key-`, is 16).
    let mut chars: Vec<(u8, usize, usize)> = Vec::with_capacity(16);
    let mut i = j;
    let lo = j.saturating_sub(64);
    let mut visible = 0;
    while visible < 15 {
        let Some((d, at)) = prev_char(t, i, lo) else {
            break;
        };
        if let Some(b) = d {
            chars.push((b, at, i));
            visible += 1;
        }
        i = at;
    }
    chars.reverse();
    let before = chars.len();
    let mut i = j;
    let mut visible = 0;
    let mut split = false;
    while visible < 16 && i < j + 96 {
        match next_char(t, i, eof) {
            Step::Char(d, next) => {
                if let Some(b) = d {
                    chars.push((b, i, next));
                    visible += 1;
                }
                split |= i == j;
                i = next;
            }
            _ => {
                // `AQ.` ends with a dot, which ends runs (also written `\u002e`).
                let rest = &t[i.min(t.len())..];
                if rest.first() == Some(&b'.') {
                    chars.push((b'.', i, i + 1));
                } else if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"\\u002e") {
                    chars.push((b'.', i, i + 6));
                    split |= i == j;
                }
                break;
            }
        }
    }
    if !split {
        return;
    }
    let decoded: Vec<u8> = chars.iter().map(|c| c.0).collect();
    let mut n = 0;
    for (kind, (anchor, _)) in ALL_ANCHORS.iter().enumerate() {
        let a = anchor.as_bytes();
        // Starts before the split (or at it, an escape) and ends after it.
        for p in before.saturating_sub(a.len() - 1)..=before {
            if decoded.get(p..p + a.len()) == Some(a) {
                let (start, end) = (chars[p].1, chars[p + a.len() - 1].2);
                if end - start != a.len() && n < found.len() {
                    found[n] = Some(Anchor { kind, start, end });
                    n += 1;
                }
            }
        }
    }
    found[..n].sort_by_key(|a| a.map(|a| a.start));
}

/// Whether the anchor starts something to mask, and what.
fn decide(t: &[u8], a: Anchor, eof: bool, memo: &mut Option<usize>) -> Option<Decision> {
    let mut min_body = LOOSE_MIN_BODY;
    let start = match a.kind {
        MARKER => {
            let found = sk_before(t, a.start, *memo);
            if found.is_none() {
                *memo = Some(a.start);
            }
            found?
        }
        ANT => {
            // `sk` right before `-ant-`, invisible characters aside.
            let mut i = a.start;
            let mut want = [b'k', b's'].into_iter();
            let mut next = want.next();
            let lo = a.start.saturating_sub(64);
            while let Some(w) = next {
                let (d, at) = prev_char(t, i, lo)?;
                i = at;
                match d {
                    None => continue,
                    Some(b) if b == w => next = want.next(),
                    Some(_) => return None,
                }
            }
            i
        }
        AIZA => a.start,
        k if k > AQ => {
            // A generic shape: the part of its prefix before the anchor (`sk`
            // before `-or-v1-`, `pp` before `plx-`), invisible characters aside.
            let (anchor, f) = ALL_ANCHORS[k];
            let f = f?;
            min_body = LOOSE_MIN_BODY.max(f.body_len.0 / 2);
            let before = &f.prefix.as_bytes()[..f.prefix.find(anchor)?];
            let mut i = a.start;
            let mut want = before.iter().rev();
            let mut next = want.next();
            let lo = a.start.saturating_sub(64);
            while let Some(&w) = next {
                let (d, at) = prev_char(t, i, lo)?;
                i = at;
                match d {
                    None => continue,
                    Some(b) if b == w => next = want.next(),
                    Some(_) => return None,
                }
            }
            i
        }
        _ => {
            // `AQ.` glued after other characters (`FAQ.getAll`, or a key after
            // junk) needs as long a body as the shortest auth key, unless what is
            // glued before is known context.
            let mut r = a.start;
            while r > 0 && a.start - r < 32 && is_key_byte(t[r - 1]) {
                r -= 1;
            }
            if r != a.start && (a.start - r == 32 || strip_context(t, r, a.start) != a.start) {
                min_body = GLUED_AUTH_MIN_BODY;
            }
            a.start
        }
    };
    let hi = a.start + LOOKAHEAD - 32;
    let format = ALL_ANCHORS.get(a.kind).and_then(|x| x.1);
    let b64 = format.is_some_and(|f| f.charset == Charset::Base64);
    // The public prefix, decoded, and where the body starts.
    let (prefix, body) = if a.kind == AQ {
        (b"AQ.".to_vec(), a.end)
    } else {
        read_prefix(t, start, hi, eof, format.map(|f| f.prefix.as_bytes()))?
    };
    // Enough of a body to call it a key.
    let mut i = body;
    let mut seen = 0;
    while seen < min_body {
        if i >= hi {
            return None;
        }
        match next_char_in(t, i, eof, b64) {
            Step::Char(d, next) => {
                seen += usize::from(d.is_some());
                i = next;
            }
            _ => return None,
        }
    }
    // A whole key with nothing glued or slipped in: its own mask, as `scan` gives it.
    let plain = body
        + t[body..]
            .iter()
            .take(MAX_TOKEN + 1)
            .take_while(|&&b| is_key_byte(b))
            .count();
    // Base64 keys (Bedrock, up to 8 KiB) are always masked as their prefix and `…`:
    // deciding one exactly could need more than the bounded lookahead.
    if !b64
        && plain - start <= MAX_TOKEN
        && matches!(next_char(t, plain, eof), Step::End)
        && format::all_key_bytes_or_dot(&t[start..plain])
        && let Ok(shape) = format::classify(&t[start..plain])
    {
        let key = core::str::from_utf8(&t[start..plain]).unwrap_or_default();
        return Some(Decision {
            start,
            end: Some(plain),
            body,
            mask: mask(key, shape.prefix_len),
            b64,
        });
    }
    let mut masked = String::from_utf8(prefix).unwrap_or_default();
    masked.push('…');
    Some(Decision {
        start,
        end: None,
        body,
        mask: masked,
        b64,
    })
}

/// The leftmost `sk-` of the run before the OpenAI marker at `p`, within [`LOOKBACK`]
/// bytes; not looking past `memo`, a marker with none before it.
fn sk_before(t: &[u8], p: usize, memo: Option<usize>) -> Option<usize> {
    let lo = p
        .saturating_sub(LOOKBACK)
        .max(memo.filter(|&q| q < p).unwrap_or(0));
    let mut i = p;
    // The two visible characters after the one being read.
    let (mut c1, mut c2) = (0u8, 0u8);
    let mut found = None;
    while let Some((d, at)) = prev_char(t, i, lo) {
        i = at;
        let Some(c) = d else { continue };
        if (c, c1, c2) == (b's', b'k', b'-') {
            found = Some(at);
        }
        (c1, c2) = (c, c1);
    }
    found
}

/// The known prefix at `start` (decoded) and where the body after it starts.
fn read_prefix(
    t: &[u8],
    start: usize,
    hi: usize,
    eof: bool,
    known: Option<&[u8]>,
) -> Option<(Vec<u8>, usize)> {
    // Up to 24 visible characters with where each ends.
    let mut chars: Vec<(u8, usize)> = Vec::with_capacity(24);
    let mut i = start;
    while chars.len() < 24 && i < hi {
        match next_char(t, i, eof) {
            Step::Char(d, next) => {
                if let Some(b) = d {
                    chars.push((b, next));
                }
                i = next;
            }
            _ => break,
        }
    }
    let decoded: Vec<u8> = chars.iter().map(|c| c.0).collect();
    const PREFIXES: [&[u8]; 7] = [
        b"sk-proj-",
        b"sk-svcacct-",
        b"sk-admin-",
        b"sk-None-",
        b"sk-service-",
        b"sk-ant-",
        b"AIza",
    ];
    let mut len = match known {
        Some(known) => decoded.starts_with(known).then_some(known.len())?,
        None => PREFIXES
            .iter()
            .find(|p| decoded.starts_with(p))
            .map(|p| p.len())
            .or_else(|| decoded.starts_with(b"sk-").then_some(3))?,
    };
    if decoded.starts_with(b"sk-ant-") {
        // The version (`api03-`, `admin01-`) is public too.
        let word = decoded[len..]
            .iter()
            .take(12)
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if word > 0 && decoded.get(len + word) == Some(&b'-') {
            len += word + 1;
        }
    }
    Some((decoded[..len].to_vec(), chars[len - 1].1))
}

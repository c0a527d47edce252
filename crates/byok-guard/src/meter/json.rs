//! A minimal JSON walker for OpenAI chat chunks: it finds the few members the
//! meter needs (the deltas' text, `finish_reason`, `model`, `usage`, `error`)
//! and skips the rest without building values. Usage and error objects are
//! returned as raw slices, to be parsed fully (they occur once per stream).

use std::sync::LazyLock;

use memchr::{memchr, memchr2, memchr3, memmem};

/// How deep skipped values may nest.
const MAX_DEPTH: u32 = 128;

/// What a chat chunk says.
#[derive(Debug, Default)]
pub(super) struct ChatChunk<'a> {
    /// `model`.
    pub(super) model: Option<&'a str>,
    /// The raw `usage` object, when not null.
    pub(super) usage: Option<&'a [u8]>,
    /// `"usage": null` at the top level.
    pub(super) usage_null: bool,
    /// How many `choices` (None: no `choices` member).
    pub(super) choices: Option<usize>,
    /// A choice has a `finish_reason`.
    pub(super) finished: bool,
    /// A choice's `finish_reason` is `"error"` (OpenRouter's mid-stream error).
    pub(super) finish_error: bool,
    /// The raw `error` object, when there is one.
    pub(super) error: Option<&'a [u8]>,
    /// The raw `x_groq.usage` object (Groq), when there is one.
    pub(super) x_groq_usage: Option<&'a [u8]>,
}

/// Read a chat chunk (its `model` only when `want_model`: the first chunks say it), appending its text (content, refusal, reasoning, tool-call
/// arguments) to `text`. `None` when it is not a JSON object as chat chunks are
/// (the caller truncates `text` back).
pub(super) fn chat_chunk<'a>(
    data: &'a [u8],
    want_model: bool,
    text: &mut String,
) -> Option<ChatChunk<'a>> {
    let mut c = Cur { b: data, i: 0 };
    let mut chunk = ChatChunk::default();
    let resume = flat_prefix(data, want_model, &mut chunk);
    let members = |key: &'a [u8], c: &mut Cur<'a>| {
        match key {
            b"choices" => {
                if c.peek() == Some(b'n') {
                    return c.skip(1);
                }
                let mut n = 0;
                c.array(|c| {
                    n += 1;
                    choice(c, text, &mut chunk)
                })?;
                chunk.choices = Some(n);
            }
            b"model" if want_model => {
                if c.peek() == Some(b'"') {
                    let (raw, esc) = c.string()?;
                    if !esc {
                        chunk.model = Some(std::str::from_utf8(raw).ok()?);
                    }
                } else {
                    c.skip(1)?;
                }
            }
            b"usage" => {
                let start = c.at();
                if c.peek() == Some(b'n') {
                    c.skip(1)?;
                    chunk.usage_null = true;
                } else {
                    let obj = c.peek() == Some(b'{');
                    c.skip(1)?;
                    if obj {
                        chunk.usage = Some(c.since(start));
                    }
                }
            }
            b"error" => {
                let obj = c.peek() == Some(b'{');
                let start = c.at();
                c.skip(1)?;
                if obj {
                    chunk.error = Some(c.since(start));
                }
            }
            // Groq's last chunk carries its usage here (`x_groq.usage`) when not asked
            // for it at the top level.
            b"x_groq" if c.peek() == Some(b'{') => c.object(|key, c| {
                if key == b"usage" && c.peek() == Some(b'{') {
                    let start = c.at();
                    c.skip(2)?;
                    chunk.x_groq_usage = Some(c.since(start));
                    Some(())
                } else {
                    c.skip(2)
                }
            })?,
            _ => c.skip(1)?,
        }
        Some(())
    };
    match resume {
        Some(at) => {
            c.i = at;
            c.members(members)?;
        }
        None => c.object(members)?,
    }
    c.ws();
    (c.i == data.len()).then_some(chunk)
}

/// The fast path of the usual chunk (`{"id":…,"object":…,"created":…,"model":…,…,"choices":…}`):
/// when every member before `choices` is a plain scalar (no escapes, no object or array, no
/// `usage` or `error`), they need not be walked. Returns where the `"choices"` key starts,
/// with `chunk.model` read from the members before it when `want_model`; `None` to walk the
/// whole chunk.
fn flat_prefix<'a>(data: &'a [u8], want_model: bool, chunk: &mut ChatChunk<'a>) -> Option<usize> {
    static CHOICES: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"choices\":"));
    static MODEL: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"model\""));
    static USAGE: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"usage\""));
    let open = data.iter().position(|c| !c.is_ascii_whitespace())?;
    if data[open] != b'{' {
        return None;
    }
    let at = CHOICES.find(data)?;
    let prefix = data.get(open + 1..at)?;
    // No escapes: every quote delimits a string, so `"choices":` is a key; no brackets:
    // it is a top-level one and nothing before it holds text, a usage or an error object
    // (a `"usage":null` there is left to the full walk, for hiding).
    if memchr3(b'\\', b'{', b'[', prefix).is_some() || USAGE.find(prefix).is_some() {
        return None;
    }
    let before = prefix
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|i| prefix[i]);
    if !matches!(before, None | Some(b',')) {
        return None;
    }
    if !want_model {
        return Some(at);
    }
    if let Some(m) = MODEL.find(prefix) {
        let mut c = Cur { b: prefix, i: m };
        c.string()?;
        if !c.eat(b':') {
            return None;
        }
        if c.peek() == Some(b'"') {
            let (raw, _) = c.string()?;
            chunk.model = Some(std::str::from_utf8(raw).ok()?);
        }
    }
    Some(at)
}

/// One element of `choices`.
fn choice(c: &mut Cur<'_>, text: &mut String, chunk: &mut ChatChunk<'_>) -> Option<()> {
    if c.peek() != Some(b'{') {
        return None;
    }
    c.object(|key, c| match key {
        b"delta" | b"message" => delta(c, text),
        b"finish_reason" => {
            if c.peek() == Some(b'"') {
                let (raw, _) = c.string()?;
                chunk.finished = true;
                chunk.finish_error |= raw == b"error";
                Some(())
            } else {
                c.skip(2)
            }
        }
        _ => c.skip(2),
    })
}

fn delta(c: &mut Cur<'_>, text: &mut String) -> Option<()> {
    if c.peek() != Some(b'{') {
        return c.skip(2);
    }
    c.object(|key, c| match key {
        b"content" | b"refusal" | b"reasoning_content" | b"reasoning" => c.text(text),
        b"tool_calls" | b"function_call" => tool_calls(c, text, 3),
        _ => c.skip(3),
    })
}

/// Tool calls: the `arguments` strings anywhere inside (`tool_calls[].function.arguments`,
/// or the legacy `function_call.arguments`).
fn tool_calls(c: &mut Cur<'_>, text: &mut String, depth: u32) -> Option<()> {
    match c.peek()? {
        b'[' if depth < 8 => c.array(|c| tool_calls(c, text, depth + 1)),
        b'{' if depth < 8 => c.object(|key, c| {
            if key == b"arguments" {
                c.text(text)
            } else {
                tool_calls(c, text, depth + 1)
            }
        }),
        _ => c.skip(depth),
    }
}

/// A cursor over JSON bytes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn at(&mut self) -> usize {
        self.ws();
        self.i
    }

    fn since(&self, start: usize) -> &'a [u8] {
        &self.b[start.min(self.i)..self.i]
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A string: its raw bytes between the quotes, and whether it has escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let mut escaped = false;
        loop {
            let j = self.i + quote_or_backslash(self.b.get(self.i..)?)?;
            if self.b[j] == b'"' {
                self.i = j + 1;
                return Some((&self.b[start..j], escaped));
            }
            escaped = true;
            self.i = j + 2;
        }
    }

    /// A string value appended to `text`, or null (nothing); anything else fails.
    fn text(&mut self, text: &mut String) -> Option<()> {
        match self.peek()? {
            b'"' => {
                let (raw, escaped) = self.string()?;
                unescape(raw, escaped, text)
            }
            b'n' => self.skip(1),
            _ => None,
        }
    }

    /// An object's members: `f` is given each key (raw) and must read its value.
    fn object(&mut self, f: impl FnMut(&'a [u8], &mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        self.members(f)
    }

    /// An object's members from a key on, to its closing `}`.
    fn members(&mut self, mut f: impl FnMut(&'a [u8], &mut Self) -> Option<()>) -> Option<()> {
        loop {
            let (key, _) = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            f(key, self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// An array's elements: `f` must read each.
    fn array(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            f(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }

    /// Skip one value.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|_, c| c.skip(depth + 1)),
            b'[' => self.array(|c| c.skip(depth + 1)),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                (self.i > start).then_some(())
            }
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + w.len())? == w {
            self.i += w.len();
            Some(())
        } else {
            None
        }
    }
}

/// The first `"` or `\\` in `b`. Chunk strings are short (keys, ids, a token of text):
/// eight bytes at a time first, `memchr2` past 64.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const SLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut i = 0;
    while i + 8 <= b.len() && i < 64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        let w = u64::from_le_bytes(w);
        let hit = zero(w ^ QUOTES) | zero(w ^ SLASHES);
        if hit != 0 {
            // The lowest flagged byte is exact (false flags only sit above a true one).
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < 64 {
        return b[i..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            .map(|k| i + k);
    }
    memchr2(b'"', b'\\', &b[i..]).map(|k| i + k)
}

/// Append a JSON string's raw content, decoding escapes (a lone surrogate becomes U+FFFD).
fn unescape(raw: &[u8], escaped: bool, out: &mut String) -> Option<()> {
    if !escaped {
        out.push_str(std::str::from_utf8(raw).ok()?);
        return Some(());
    }
    let mut i = 0;
    while i < raw.len() {
        let j = memchr(b'\\', &raw[i..]).map_or(raw.len(), |k| i + k);
        out.push_str(std::str::from_utf8(&raw[i..j]).ok()?);
        if j == raw.len() {
            break;
        }
        let c = *raw.get(j + 1)?;
        i = j + 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    let lo = (raw.get(i..i + 2) == Some(b"\\u"))
                        .then(|| raw.get(i + 2..i + 6).and_then(hex4))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                .unwrap_or('\u{FFFD}')
                        }
                        None => '\u{FFFD}',
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            _ => return None,
        };
        out.push(ch);
    }
    Some(())
}

fn hex4(h: &[u8]) -> Option<u32> {
    let mut n = 0;
    for &c in h {
        n = n * 16 + char::from(c).to_digit(16)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text_of(json: &str) -> Option<String> {
        let mut t = String::new();
        chat_chunk(json.as_bytes(), true, &mut t).map(|_| t)
    }

    #[test]
    fn reads_the_members_needed() {
        let j = r#"{"id":"x","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"a\"b\u00e9\ud83d\ude00\n","tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"k\":1}"}}]},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#;
        let mut t = String::new();
        let c = chat_chunk(j.as_bytes(), true, &mut t).unwrap();
        assert_eq!(t, "a\"b\u{e9}\u{1F600}\n{\"k\":1}");
        assert_eq!(c.model, Some("gpt-4o"));
        assert!(c.usage_null && c.finished && !c.finish_error);
        assert_eq!(c.choices, Some(1));
        let u = r#"{"choices":[],"usage":{"prompt_tokens":1, "completion_tokens":2}}"#;
        let c = chat_chunk(u.as_bytes(), true, &mut t).unwrap();
        assert_eq!(
            c.usage,
            Some(&br#"{"prompt_tokens":1, "completion_tokens":2}"#[..])
        );
        assert_eq!(c.choices, Some(0));
        let e = r#"{"error":{"type":"server_error","message":"m"}}"#;
        assert!(
            chat_chunk(e.as_bytes(), true, &mut t)
                .unwrap()
                .error
                .is_some()
        );
    }

    #[test]
    fn rejects_what_is_not_a_chunk() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[{"delta":{"content":"\x"}}]}"#,
            r#"{"a":tru}"#,
        ] {
            assert_eq!(text_of(bad), None, "{bad}");
        }
        let deep = "[".repeat(1000);
        assert_eq!(text_of(&format!("{{\"a\":{deep}}}")), None);
    }

    #[test]
    fn fast_and_full_walks_agree() {
        let fast = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#;
        let mut chunk = ChatChunk::default();
        assert!(flat_prefix(fast.as_bytes(), true, &mut chunk).is_some());
        assert_eq!(chunk.model, Some("gpt-4o"));
        for slow in [
            r#"{"id":"c\"","model":"m","choices":[{"delta":{"content":"hi"}}],"usage":null}"#,
            r#"{"usage":null,"model":"m","choices":[{"delta":{"content":"hi"}}]}"#,
            r#"{"meta":{"choices":[]},"model":"m","choices":[{"delta":{"content":"hi"}}],"usage":null}"#,
            r#"{"x\"choices":1,"model":"m","choices":[{"delta":{"content":"hi"}}],"usage":null}"#,
        ] {
            let mut chunk = ChatChunk::default();
            assert_eq!(
                flat_prefix(slow.as_bytes(), true, &mut chunk),
                None,
                "{slow}"
            );
            let mut t = String::new();
            let c = chat_chunk(slow.as_bytes(), true, &mut t).unwrap();
            assert_eq!(
                (t.as_str(), c.model, c.choices),
                ("hi", Some("m"), Some(1)),
                "{slow}"
            );
        }
        let mut t = String::new();
        let c = chat_chunk(br#"{"usage":null,"choices":[]}"#, true, &mut t).unwrap();
        assert!(c.usage_null);
    }

    proptest! {
        #[test]
        fn quote_scan_agrees_with_memchr(b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(0x22 ^ 0x80), Just(0xA2), any::<u8>()], 0..200)) {
            prop_assert_eq!(quote_or_backslash(&b), memchr2(b'"', b'\\', &b));
        }

        /// On any valid JSON object the walker agrees with serde_json about the content text.
        #[test]
        fn content_matches_serde(s in "\\PC{0,40}", junk in "[a-z]{0,5}") {
            let v = serde_json::json!({"junk": junk, "choices": [{"index": 0, "delta": {"content": s}}], "usage": null});
            let text = text_of(&v.to_string()).unwrap();
            prop_assert_eq!(text, s);
        }
    }
}

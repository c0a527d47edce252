//! Leak checks: every form in which a secret must never come out, and a detector
//! that searches output for all of them at once.
//!
//! A *canary* is a secret your test knows in advance. Feed it to the code under test,
//! collect everything that code emits — return values' `Debug`/`Display`/JSON, logs,
//! panic messages, HTTP bodies, files — and let a [`Detector`] prove no form of the
//! canary is in there. The detector names the form and the position it found; it
//! never prints the secret, so a failing test does not leak it either.
//!
//! ```
//! use byok_testkit::canary::{Canary, Detector};
//! use byok_keys::{KeyKind, Provider, fake};
//!
//! let key = fake::key(Provider::OpenAi, KeyKind::Project, 7);
//! let detector = Detector::new([Canary::api_key("the user's key", &key)]);
//!
//! // What the code under test printed (here: the mask, which is safe to show).
//! let shown = byok_keys::ApiKey::parse(&key).unwrap().masked();
//! detector.assert_clean("the settings page", shown.as_bytes());
//!
//! // A log line holding the key's hex: found, and named without the key.
//! let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
//! let leak = detector.find(format!("debug: body={hex}")).expect("found");
//! assert!(leak.form().contains("hex"));
//! assert!(!leak.to_string().contains(&key));
//! ```
//!
//! ## The forms
//! The *secret part* of an API key is what follows its public prefix (the mask shows
//! the prefix and the last 4 characters; the part searched keeps those 4, so a window
//! may end in them); a secret with no public part ([`Canary::secret`]: master keys,
//! passphrases, tokens) is secret whole. For a window length `W` (default
//! [`WINDOW`]), the forms are:
//!
//! - the whole key; the *body* (the secret part without the last 4 characters);
//! - every `W`-character window of the secret part, at every offset, and of each
//!   window: its hex (lower and upper case), its UTF-16 (little and big endian), and
//!   its base64 (standard and URL-safe alphabets) — so any `W` characters of the
//!   secret are found raw, in hex or in UTF-16, and any `W + 2` inside a larger
//!   base64 encoding, whatever surrounds them;
//! - of the body: base64 (both alphabets, each of the 3 byte alignments the body can
//!   have inside a larger encoded buffer), hex, UTF-16, percent-encoding of every byte
//!   (upper and lower case), and JSON `\u00XX` escapes of every byte (both cases);
//! - of a [`Canary::secret`] that is itself base64 of at least `W` bytes (a master
//!   key): the decoded bytes and their hex.
//!
//! Forms that are equal byte for byte are searched once, under the first name.
//!
//! [`standard`] holds the fixed canaries byok's own test suites feed every operation.

use std::collections::HashSet;
use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

pub mod standard;

/// The default window length: any run of this many consecutive characters of a
/// secret's secret part, in any searched encoding, is a leak.
pub const WINDOW: usize = 12;

/// The shortest window [`Canary::window`] accepts: shorter pieces of a secret occur
/// in unrelated text by chance.
pub const MIN_WINDOW: usize = 6;

/// A secret to search for: a name to report (never the secret) and how to cut it.
///
/// `Debug` shows the name and the window, never the secret.
#[derive(Clone)]
pub struct Canary {
    name: String,
    secret: String,
    /// Length of the public prefix (`0` for opaque secrets).
    prefix: usize,
    /// Characters at the end the mask shows (`0` for opaque secrets).
    tail: usize,
    /// Whether the secret may be base64 whose decoded bytes are a form too.
    decodes: bool,
    window: usize,
}

impl Canary {
    /// An API key in any format `byok_keys` recognises (a prefix-less key for any
    /// provider whose shape it has): its public prefix and the 4 characters the
    /// mask shows at the end are not secret on their own.
    ///
    /// # Panics
    /// If `raw` is not a recognised key (the message does not show it).
    #[track_caller]
    pub fn api_key(name: impl Into<String>, raw: &str) -> Canary {
        let name = name.into();
        // A prefix-less key (Mistral, Cohere, Azure) is recognised only for a named
        // provider: any provider whose shape it has will do (its prefix is empty).
        let key = byok_keys::ApiKey::parse(raw)
            .or_else(|e| {
                byok_keys::Provider::ALL
                    .into_iter()
                    .find_map(|p| byok_keys::ApiKey::parse_for(p, raw).ok())
                    .ok_or(e)
            })
            .unwrap_or_else(|e| panic!("canary {name:?} is not a recognised API key: {e}"));
        Canary {
            name,
            secret: raw.to_owned(),
            prefix: key.prefix().len(),
            tail: 4,
            decodes: false,
            window: WINDOW,
        }
    }

    /// A secret with no public part (a master key, a passphrase, a token): all of it
    /// is secret. If it is base64 of at least the window's length of bytes, the
    /// decoded bytes are searched for too.
    ///
    /// # Panics
    /// If `secret` is empty.
    #[track_caller]
    pub fn secret(name: impl Into<String>, secret: &str) -> Canary {
        let name = name.into();
        assert!(!secret.is_empty(), "canary {name:?} is empty");
        Canary {
            name,
            secret: secret.to_owned(),
            prefix: 0,
            tail: 0,
            decodes: true,
            window: WINDOW,
        }
    }

    /// Search for windows of `len` characters instead of [`WINDOW`]: shorter finds
    /// smaller pieces, longer keeps a secret that starts with common words (a
    /// passphrase) from matching prose.
    ///
    /// # Panics
    /// If `len` is below [`MIN_WINDOW`].
    #[track_caller]
    pub fn window(mut self, len: usize) -> Canary {
        assert!(
            len >= MIN_WINDOW,
            "a canary window of {len} is shorter than {MIN_WINDOW}"
        );
        self.window = len;
        self
    }

    /// The name failure messages use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every form of this canary, as [`Detector`] searches for them.
    pub fn forms(&self) -> Vec<Form> {
        let mut forms = Forms::new(&self.name);
        let raw = self.secret.as_bytes();
        if self.prefix > 0 {
            forms.push("the whole key", raw.to_vec());
        }
        let secret = &raw[self.prefix..];
        let body = &secret[..secret.len().saturating_sub(self.tail)];
        forms.push("the body", body.to_vec());
        forms.encodings("the body", body);
        for align in 0..3.min(body.len()) {
            // Inside a larger buffer the body's bytes start at some offset mod 3; the
            // encoding of the 3-byte groups wholly inside the body is the same whatever
            // surrounds it. Group boundaries fall at `align` in the body.
            let groups = &body[align..align + (body.len() - align) / 3 * 3];
            forms.base64(&format!("the body (alignment {align})"), groups);
        }
        let pct: String = body.iter().map(|b| format!("%{b:02X}")).collect();
        forms.push("percent-encoded body", pct.clone().into_bytes());
        forms.push(
            "lower-case percent-encoded body",
            pct.to_lowercase().into_bytes(),
        );
        let escaped: String = body.iter().map(|b| format!("\\u{b:04X}")).collect();
        forms.push("JSON \\u-escaped body", escaped.into_bytes());
        let escaped: String = body.iter().map(|b| format!("\\u{b:04x}")).collect();
        forms.push("lower-case JSON \\u-escaped body", escaped.into_bytes());

        let window = self.window.min(secret.len());
        for start in 0..=secret.len() - window {
            let w = &secret[start..start + window];
            let at = self.prefix + start;
            let what = format!("characters {at}..{}", at + window);
            forms.push(&what, w.to_vec());
            forms.encodings(&what, w);
            // The whole 3-byte groups of the window: what a base64 encoding holds
            // wherever the window starts on a group boundary.
            forms.base64(&what, &w[..w.len() / 3 * 3]);
        }
        if self.decodes {
            if let Ok(decoded) = STANDARD.decode(&self.secret) {
                if decoded.len() >= self.window {
                    forms.push("the decoded bytes", decoded.clone());
                    forms.hex("the decoded bytes", &decoded);
                }
            }
        }
        forms.done()
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("name", &self.name)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// One form of a canary: a name such as `"the user's key: hex of characters 8..20"`
/// and the bytes searched for.
///
/// `Debug` shows the name and the length, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Form {
    name: String,
    bytes: Vec<u8>,
}

impl Form {
    /// `"<canary name>: <which form>"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bytes searched for. They hold the secret: never print them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Form")
            .field("name", &self.name)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Collects the forms of one canary, dropping empty and repeated ones.
struct Forms<'a> {
    canary: &'a str,
    seen: HashSet<Vec<u8>>,
    forms: Vec<Form>,
}

impl<'a> Forms<'a> {
    fn new(canary: &'a str) -> Self {
        Forms {
            canary,
            seen: HashSet::new(),
            forms: Vec::new(),
        }
    }

    fn push(&mut self, what: &str, bytes: Vec<u8>) {
        if !bytes.is_empty() && self.seen.insert(bytes.clone()) {
            self.forms.push(Form {
                name: format!("{}: {what}", self.canary),
                bytes,
            });
        }
    }

    fn hex(&mut self, what: &str, bytes: &[u8]) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let upper = hex.to_uppercase().into_bytes();
        self.push(&format!("hex of {what}"), hex.into_bytes());
        self.push(&format!("upper-case hex of {what}"), upper);
    }

    /// Standard and URL-safe base64 of `groups` (whole 3-byte groups: no padding).
    fn base64(&mut self, what: &str, groups: &[u8]) {
        self.push(
            &format!("base64 of {what}"),
            STANDARD_NO_PAD.encode(groups).into_bytes(),
        );
        self.push(
            &format!("URL-safe base64 of {what}"),
            URL_SAFE_NO_PAD.encode(groups).into_bytes(),
        );
    }

    /// Hex and UTF-16 of `bytes`.
    fn encodings(&mut self, what: &str, bytes: &[u8]) {
        self.hex(what, bytes);
        self.push(
            &format!("UTF-16LE of {what}"),
            bytes.iter().flat_map(|&b| [b, 0]).collect(),
        );
        self.push(
            &format!("UTF-16BE of {what}"),
            bytes.iter().flat_map(|&b| [0, b]).collect(),
        );
    }

    fn done(self) -> Vec<Form> {
        self.forms
    }
}

/// Every form of a set of canaries, searched for at once (one Aho-Corasick automaton).
pub struct Detector {
    automaton: AhoCorasick,
    names: Vec<String>,
}

impl Detector {
    /// A detector for every form of every one of `canaries`.
    pub fn new(canaries: impl IntoIterator<Item = Canary>) -> Detector {
        let mut seen = HashSet::new();
        let (names, patterns): (Vec<_>, Vec<_>) = canaries
            .into_iter()
            .flat_map(|canary| canary.forms())
            .filter(|form| seen.insert(form.bytes.clone()))
            .map(|form| (form.name, form.bytes))
            .unzip();
        Detector {
            // Longest first at a position, so a whole key is reported as the whole key.
            automaton: AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .expect("the canary patterns build"),
            names,
        }
    }

    /// How many distinct forms are searched for.
    pub fn forms(&self) -> usize {
        self.names.len()
    }

    /// The first form of any canary in `haystack` (leftmost; the longest there).
    pub fn find(&self, haystack: impl AsRef<[u8]>) -> Option<Leak> {
        let haystack = haystack.as_ref();
        let found = self.automaton.find(haystack)?;
        let at = found.start();
        let before = &haystack[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |n| n + 1)
            + 1;
        Some(Leak {
            form: self.names[found.pattern()].clone(),
            at,
            line,
            column,
        })
    }

    /// Whether `haystack` holds no form of any canary.
    pub fn is_clean(&self, haystack: impl AsRef<[u8]>) -> bool {
        self.find(haystack).is_none()
    }

    /// Panic if any form of any canary occurs in `haystack`, naming `label` (what the
    /// haystack is), the form and its position. The message never holds the secret.
    #[track_caller]
    pub fn assert_clean(&self, label: &str, haystack: impl AsRef<[u8]>) {
        if let Some(leak) = self.find(haystack) {
            panic!("LEAK in {label}: {leak}");
        }
    }
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field("forms", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl FromIterator<Canary> for Detector {
    fn from_iter<I: IntoIterator<Item = Canary>>(canaries: I) -> Detector {
        Detector::new(canaries)
    }
}

/// A form of a canary found in a haystack. `Display`:
/// `<canary>: <form> at byte <n> (line <l>, column <c>)`; never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    form: String,
    at: usize,
    line: usize,
    column: usize,
}

impl Leak {
    /// The name of the form found, `"<canary name>: <which form>"`.
    pub fn form(&self) -> &str {
        &self.form
    }

    /// The byte offset where it starts.
    pub fn at(&self) -> usize {
        self.at
    }

    /// The line it starts on (1-based; lines end at `\n`).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The byte column it starts at on that line (1-based).
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} (line {}, column {})",
            self.form, self.at, self.line, self.column
        )
    }
}

#[cfg(test)]
mod tests;

//! [`normalize`]: what a paste box should do before parsing.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::key::{check, is_invisible};
use crate::{ApiKey, KeyError, Provider};

/// One thing [`normalize`] removed from pasted text.
///
/// Serialised as a snake_case code (`trimmed_whitespace`, …); none holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// Whitespace or line breaks around the key.
    TrimmedWhitespace,
    /// Matching quotes around the key (`"…"`, `'…'`, `` `…` ``, `“…”`, `‘…’`).
    StrippedQuotes,
    /// A `Bearer ` or `Authorization: Bearer ` prefix.
    StrippedBearer,
    /// A header name such as `x-api-key:` or `x-goog-api-key:`.
    StrippedHeader,
    /// A `NAME=` / `export NAME=` / `NAME:` assignment, e.g. from a `.env` file.
    StrippedAssignment,
    /// A trailing `,` or `;` copied from code.
    StrippedTrailingPunctuation,
    /// Zero-width, byte-order-mark, soft-hyphen or bidi characters, anywhere.
    RemovedInvisible {
        /// How many were removed.
        count: usize,
    },
}

impl Fix {
    /// Stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            Fix::TrimmedWhitespace => "trimmed_whitespace",
            Fix::StrippedQuotes => "stripped_quotes",
            Fix::StrippedBearer => "stripped_bearer",
            Fix::StrippedHeader => "stripped_header",
            Fix::StrippedAssignment => "stripped_assignment",
            Fix::StrippedTrailingPunctuation => "stripped_trailing_punctuation",
            Fix::RemovedInvisible { .. } => "removed_invisible",
        }
    }

    /// What was done, for people.
    pub fn message(&self) -> String {
        match self {
            Fix::TrimmedWhitespace => "removed spaces or line breaks around the key".into(),
            Fix::StrippedQuotes => "removed quotes around the key".into(),
            Fix::StrippedBearer => "removed a \"Bearer\" prefix".into(),
            Fix::StrippedHeader => "removed a header name before the key".into(),
            Fix::StrippedAssignment => "removed a variable name before the key".into(),
            Fix::StrippedTrailingPunctuation => "removed a trailing comma or semicolon".into(),
            Fix::RemovedInvisible { count } => format!("removed {count} invisible character(s)"),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Fix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// Pasted text after [`normalize`]: the cleaned candidate and what was fixed.
///
/// Holds the candidate as a secret; `Debug` shows only the fixes.
pub struct Normalized {
    cleaned: SecretString,
    fixes: Vec<Fix>,
    /// For each character of `cleaned`, its character index in the original text.
    origin: Vec<usize>,
}

impl Normalized {
    /// What was removed, in the order it was done.
    pub fn fixes(&self) -> &[Fix] {
        &self.fixes
    }

    /// Parse the cleaned text. Error positions point into the *original* pasted
    /// text, which is what the user sees.
    pub fn parse(&self) -> Result<ApiKey, KeyError> {
        self.check(None, None)
    }

    /// Like [`parse`](Normalized::parse), checked against `provider`'s shapes
    /// ([`ApiKey::parse_for`]).
    pub fn parse_for(&self, provider: Provider) -> Result<ApiKey, KeyError> {
        self.check(Some(provider), None)
    }

    /// [`ApiKey::parse_at`] on the cleaned text: `provider` named or not, and
    /// `now` the time an expiring key is judged at.
    pub fn parse_at(
        &self,
        provider: Option<Provider>,
        now: std::time::SystemTime,
    ) -> Result<ApiKey, KeyError> {
        self.check(provider, Some(now))
    }

    fn check(
        &self,
        provider: Option<Provider>,
        now: Option<std::time::SystemTime>,
    ) -> Result<ApiKey, KeyError> {
        use secrecy::ExposeSecret;
        let shape =
            check(self.cleaned.expose_secret(), provider, now).map_err(|e| self.remap(e))?;
        Ok(ApiKey::from_shape(
            SecretString::from(self.cleaned.expose_secret().to_owned()),
            shape,
        ))
    }

    /// The cleaned text, still secret.
    pub fn into_secret(self) -> SecretString {
        self.cleaned
    }

    fn remap(&self, e: KeyError) -> KeyError {
        let map = |p: usize| match self.origin.get(p) {
            Some(&o) => o,
            None => self.origin.last().map_or(0, |&o| o + 1),
        };
        match e {
            KeyError::Whitespace { position, at_edge } => KeyError::Whitespace {
                position: map(position),
                at_edge,
            },
            KeyError::InvisibleCharacter {
                position,
                code_point,
            } => KeyError::InvisibleCharacter {
                position: map(position),
                code_point,
            },
            KeyError::InvalidCharacter {
                position,
                character,
            } => KeyError::InvalidCharacter {
                position: map(position),
                character,
            },
            KeyError::UnexpectedCharacter { position, allowed } => KeyError::UnexpectedCharacter {
                position: map(position),
                allowed,
            },
            KeyError::Truncated { position, missing } => KeyError::Truncated {
                position: map(position),
                missing,
            },
            KeyError::TooLong { position, extra } => KeyError::TooLong {
                position: map(position),
                extra,
            },
            other => other,
        }
    }
}

impl core::fmt::Debug for Normalized {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Normalized")
            .field("fixes", &self.fixes)
            .finish_non_exhaustive()
    }
}

/// Clean up pasted text the way a paste box should, and report each fix.
///
/// Removes surrounding whitespace and quotes, a `Bearer ` / `Authorization: Bearer `
/// prefix, header names (`x-api-key:`), `NAME=` / `export NAME=` / `NAME:`
/// assignments, a trailing `,` or `;`, and zero-width / BOM / bidi characters
/// anywhere. It never joins a key broken by *internal* whitespace: parsing reports
/// that with its position. Idempotent: normalising the result changes nothing.
///
/// ```
/// use byok_keys::{Fix, KeyKind, Provider, fake, normalize};
///
/// let raw = fake::key(Provider::Google, KeyKind::Standard, 3);
/// let n = normalize(&format!("export GEMINI_API_KEY=\"{raw}\"\n"));
/// assert_eq!(n.fixes(), [Fix::TrimmedWhitespace, Fix::StrippedAssignment, Fix::StrippedQuotes]);
/// assert_eq!(n.parse()?.expose_secret(), raw);
/// # Ok::<(), byok_keys::KeyError>(())
/// ```
pub fn normalize(raw: &str) -> Normalized {
    let mut fixes = Vec::new();
    let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut origin = Vec::with_capacity(raw.len());
    let mut invisible = 0;
    for (i, c) in raw.chars().enumerate() {
        if is_invisible(c) {
            invisible += 1;
        } else {
            chars.push(c);
            origin.push(i);
        }
    }
    let (mut start, mut end) = (0, chars.len());
    let fixed = |fixes: &mut Vec<Fix>, fix: Fix| {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    };
    loop {
        let before = (start, end);
        let s = &chars[start..end];
        let lead = s.iter().take_while(|c| c.is_whitespace()).count();
        if lead == s.len() {
            if !s.is_empty() {
                fixed(&mut fixes, Fix::TrimmedWhitespace);
            }
            start = end;
            break;
        }
        let trail = s.iter().rev().take_while(|c| c.is_whitespace()).count();
        if lead + trail > 0 {
            start += lead;
            end -= trail;
            fixed(&mut fixes, Fix::TrimmedWhitespace);
            continue;
        }
        if let Some(fix) = strip_once(&chars, &mut start, &mut end) {
            fixed(&mut fixes, fix);
        }
        if (start, end) == before {
            break;
        }
    }
    if invisible > 0 {
        fixes.push(Fix::RemovedInvisible { count: invisible });
    }
    let cleaned: Zeroizing<String> = Zeroizing::new(chars[start..end].iter().collect());
    Normalized {
        cleaned: SecretString::from(cleaned.as_str()),
        fixes,
        origin: origin[start..end].to_vec(),
    }
}

/// Remove one layer of wrapping from `chars[start..end]`, if any.
fn strip_once(chars: &[char], start: &mut usize, end: &mut usize) -> Option<Fix> {
    let s = &chars[*start..*end];
    const QUOTES: [(char, char); 5] =
        [('"', '"'), ('\'', '\''), ('`', '`'), ('“', '”'), ('‘', '’')];
    if s.len() >= 2 && QUOTES.contains(&(s[0], s[s.len() - 1])) {
        *start += 1;
        *end -= 1;
        return Some(Fix::StrippedQuotes);
    }
    if let Some(&last) = s.last()
        && (last == ',' || last == ';')
    {
        *end -= 1;
        return Some(Fix::StrippedTrailingPunctuation);
    }
    // A prefix takes the blanks after it along: they are part of it, not of the key.
    let blanks = |from: usize| {
        from + s[from..]
            .iter()
            .take_while(|c| **c == ' ' || **c == '\t')
            .count()
    };
    if let Some(n) = prefix_ci(s, "authorization:") {
        *start += blanks(n);
        return Some(Fix::StrippedBearer);
    }
    if let Some(n) = prefix_ci(s, "bearer").filter(|&n| s.get(n).is_some_and(|c| c.is_whitespace()))
    {
        *start += blanks(n);
        return Some(Fix::StrippedBearer);
    }
    // The auth headers of the providers' specs (`x-api-key`, `x-goog-api-key`, `api-key`).
    for spec in crate::spec::all() {
        if let crate::spec::Auth::Header(name) = spec.auth
            && let Some(n) = prefix_ci(s, name)
            && s.get(n) == Some(&':')
        {
            *start += blanks(n + 1);
            return Some(Fix::StrippedHeader);
        }
    }
    // `export NAME=`, `NAME=`, `NAME:`: keys never contain '=' or ':'.
    let skip = prefix_ci(s, "export ").unwrap_or(0);
    let name_len = s[skip..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .count();
    let first_ok = s
        .get(skip)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_');
    if first_ok && name_len > 0 {
        let mut n = skip + name_len;
        while s.get(n).is_some_and(|c| *c == ' ' || *c == '\t') {
            n += 1;
        }
        if matches!(s.get(n), Some('=' | ':')) {
            *start += blanks(n + 1);
            return Some(Fix::StrippedAssignment);
        }
    }
    None
}

/// Length of `word` at the start of `s`, compared ASCII-case-insensitively.
fn prefix_ci(s: &[char], word: &str) -> Option<usize> {
    let n = word.chars().count();
    (s.len() >= n
        && s.iter()
            .zip(word.chars())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b)))
    .then_some(n)
}

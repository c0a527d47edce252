//! [`ApiKey`]: a parsed key that can only be shown masked.

use core::fmt;
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::format::{self, Shape};
use crate::{FormatWarning, KeyError, KeyKind, Provider};

/// A well-formed API key of a known provider.
///
/// The secret lives in a [`SecretString`] (zeroed on drop). `Debug` and
/// `Display` show only the [mask](ApiKey::masked); there is no `Serialize`;
/// equality is constant-time. [`expose_secret`](ApiKey::expose_secret) is the one
/// way out, for the HTTP client.
///
/// ```
/// use byok_keys::{ApiKey, KeyKind, Provider, fake};
///
/// let raw = fake::key(Provider::Anthropic, KeyKind::Api, 1);
/// let key = ApiKey::parse(&raw)?;
/// assert_eq!((key.provider(), key.kind()), (Provider::Anthropic, KeyKind::Api));
/// assert_eq!(key.masked(), format!("sk-ant-api03-…{}", &raw[raw.len() - 4..]));
/// assert!(!format!("{key:?} {key}").contains(&raw));
/// # Ok::<(), byok_keys::KeyError>(())
/// ```
pub struct ApiKey {
    secret: SecretString,
    provider: Provider,
    kind: KeyKind,
    prefix_len: usize,
    warnings: Vec<FormatWarning>,
    expires_at: Option<SystemTime>,
}

impl ApiKey {
    /// Parse a clean key. Strict: surrounding whitespace, quotes or a `Bearer `
    /// prefix are errors here; run [`normalize`](crate::normalize) first on pasted text.
    ///
    /// The provider is recognised by the key's shape. A key without a prefix
    /// (Mistral, Cohere, Azure OpenAI) cannot be: that is
    /// [`KeyError::AmbiguousProvider`], listing the candidates; use
    /// [`parse_for`](ApiKey::parse_for). DeepSeek's `sk-` + 32 hex digits is
    /// accepted as DeepSeek with a [`FormatWarning::ProbableProvider`]. An expired
    /// Bedrock short-term key is [`KeyError::KeyExpired`] (by the system clock;
    /// [`parse_at`](ApiKey::parse_at) takes the time).
    pub fn parse(raw: &str) -> Result<ApiKey, KeyError> {
        let shape = check(raw, None, None)?;
        Ok(ApiKey::from_shape(SecretString::from(raw), shape))
    }

    /// Parse a key for `provider`: checked against that provider's shapes, so
    /// errors say what is wrong for it (with positions), and a key of another
    /// provider is [`KeyError::WrongProvider`] naming the provider it belongs to.
    pub fn parse_for(provider: Provider, raw: &str) -> Result<ApiKey, KeyError> {
        let shape = check(raw, Some(provider), None)?;
        Ok(ApiKey::from_shape(SecretString::from(raw), shape))
    }

    /// [`parse`](ApiKey::parse) (`provider: None`) or
    /// [`parse_for`](ApiKey::parse_for), with `now` as the time a key that
    /// carries its expiry is judged at.
    pub fn parse_at(
        raw: &str,
        provider: Option<Provider>,
        now: SystemTime,
    ) -> Result<ApiKey, KeyError> {
        let shape = check(raw, provider, Some(now))?;
        Ok(ApiKey::from_shape(SecretString::from(raw), shape))
    }

    /// Parse a key already held in a [`SecretString`], without copying it out.
    pub fn from_secret(secret: SecretString) -> Result<ApiKey, KeyError> {
        let shape = check(secret.expose_secret(), None, None)?;
        Ok(ApiKey::from_shape(secret, shape))
    }

    /// [`from_secret`](ApiKey::from_secret) for `provider`, like
    /// [`parse_for`](ApiKey::parse_for).
    pub fn from_secret_for(provider: Provider, secret: SecretString) -> Result<ApiKey, KeyError> {
        let shape = check(secret.expose_secret(), Some(provider), None)?;
        Ok(ApiKey::from_shape(secret, shape))
    }

    pub(crate) fn from_shape(secret: SecretString, shape: Shape) -> ApiKey {
        ApiKey {
            secret,
            provider: shape.provider,
            kind: shape.kind,
            prefix_len: shape.prefix_len,
            warnings: shape.warning.into_iter().collect(),
            expires_at: shape.expires_at,
        }
    }

    /// When the key stops working, for keys that carry their expiry (Bedrock
    /// short-term keys, [`crate::bedrock`]); `None` for every other key.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// `Err(WrongProvider)` unless this key belongs to `provider`.
    pub fn require_provider(&self, provider: Provider) -> Result<(), KeyError> {
        if self.provider == provider {
            Ok(())
        } else {
            Err(KeyError::WrongProvider {
                expected: provider,
                found: self.provider,
            })
        }
    }

    /// The provider the key belongs to.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The kind of key within its provider.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Whether this is an organisation admin key (usage and cost APIs only).
    pub fn is_admin(&self) -> bool {
        self.kind.is_admin()
    }

    /// Accepted-but-unusual shapes (a new length, another key version).
    pub fn warnings(&self) -> &[FormatWarning] {
        &self.warnings
    }

    /// The public prefix (`sk-proj-`, `sk-ant-api03-`, `AIza`, `AQ.`): not secret.
    pub fn prefix(&self) -> &str {
        &self.secret.expose_secret()[..self.prefix_len]
    }

    /// Length in characters (keys are ASCII).
    pub fn len(&self) -> usize {
        self.secret.expose_secret().len()
    }

    /// Always false: an `ApiKey` is never empty. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The public prefix, `…`, and the last four characters: `sk-proj-…Q8xA`.
    /// Never more of the body, whatever the key's length.
    pub fn masked(&self) -> String {
        mask(self.secret.expose_secret(), self.prefix_len)
    }

    /// A stable fingerprint, safe to log, store and show.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.secret.expose_secret())
    }

    /// The secret itself. Call it only to hand the key to the provider.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

/// `prefix + "…" + last 4`. `key` is ASCII and longer than `prefix_len + 4`
/// for every accepted shape; the `min`s keep the function total anyway.
pub(crate) fn mask(key: &str, prefix_len: usize) -> String {
    let tail_start = key.len().saturating_sub(4).max(prefix_len.min(key.len()));
    let mut out = String::with_capacity(prefix_len + 3 + 4);
    out.push_str(&key[..prefix_len.min(key.len())]);
    out.push('…');
    out.push_str(&key[tail_start..]);
    out
}

impl Clone for ApiKey {
    fn clone(&self) -> Self {
        ApiKey {
            // `to_owned` allocates exactly `len`, so no un-zeroed spare copy is left behind.
            secret: SecretString::from(self.secret.expose_secret().to_owned()),
            provider: self.provider,
            kind: self.kind,
            prefix_len: self.prefix_len,
            warnings: self.warnings.clone(),
            expires_at: self.expires_at,
        }
    }
}

impl PartialEq for ApiKey {
    /// Constant-time in the key's contents.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (
            self.secret.expose_secret().as_bytes(),
            other.secret.expose_secret().as_bytes(),
        );
        bool::from(a.ct_eq(b))
    }
}

impl Eq for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("provider", &self.provider)
            .field("kind", &self.kind)
            .field("masked", &self.masked())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A key's stable fingerprint: SHA-256 over a domain tag and the key.
///
/// Safe to show: keys carry far too much entropy to be recovered from their hash.
/// `Display` is `sha256:` and the first 16 hex digits; [`to_hex`](Fingerprint::to_hex)
/// gives all 64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    const DOMAIN: &'static [u8] = b"byok:fingerprint:v1:";

    /// Fingerprint of a key's text.
    pub fn of(key: &str) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(Self::DOMAIN);
        h.update(key.as_bytes());
        Fingerprint(h.finalize().into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// All 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex(&self.0[..8]))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Zero-width, BOM, soft hyphen, word joiner and bidi controls: what chat apps and
/// editors slip into copied text.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
    )
}

/// The strict check behind [`ApiKey::parse`]: characters first (with positions), then
/// shape (against `named`'s shapes when a provider is named), then expiry at `now`
/// (`None`: the system clock, read only for a key that carries its expiry).
///
/// Placeholder texts (`YOUR_API_KEY`, `sk-...`) can never pass the shape check, so
/// they are looked for only on the error path: a real key pays nothing for them.
pub(crate) fn check(
    raw: &str,
    named: Option<Provider>,
    now: Option<SystemTime>,
) -> Result<Shape, KeyError> {
    let bytes = raw.as_bytes();
    let result = if format::all_key_bytes_or_dot(bytes)
        || (format::base64_prefixed(bytes)
            && bytes
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"+/=-_".contains(&c)))
    {
        format::classify_for(bytes, named).and_then(|shape| match shape.expires_at {
            Some(expired_at) if now.unwrap_or_else(SystemTime::now) >= expired_at => {
                Err(KeyError::KeyExpired { expired_at })
            }
            _ => Ok(shape),
        })
    } else if raw.trim().is_empty() {
        Err(KeyError::Empty)
    } else {
        Err(first_bad_char(raw))
    };
    // An expired key passed the shape check: it is a key, whatever its random
    // part happens to contain (a short-term Bedrock token's base64 can hold a
    // placeholder-like run), so its expiry is never reported as a placeholder.
    result.map_err(|e| match format::placeholder_text(raw) {
        Some(reason)
            if !matches!(
                e,
                KeyError::Empty | KeyError::Placeholder { .. } | KeyError::KeyExpired { .. }
            ) =>
        {
            KeyError::Placeholder { reason }
        }
        _ => e,
    })
}

/// The first character that cannot be in a key, as an error with its char position.
fn first_bad_char(raw: &str) -> KeyError {
    let last_content = raw.trim_end().chars().count();
    let first_content = raw.chars().take_while(|c| c.is_whitespace()).count();
    for (position, c) in raw.chars().enumerate() {
        if c.is_ascii() && (format::is_key_byte(c as u8) || c == '.') {
            continue;
        }
        return if c.is_whitespace() {
            KeyError::Whitespace {
                position,
                at_edge: position < first_content || position >= last_content,
            }
        } else if is_invisible(c) {
            KeyError::InvisibleCharacter {
                position,
                code_point: c as u32,
            }
        } else {
            KeyError::InvalidCharacter {
                position,
                character: c,
            }
        };
    }
    // Unreachable for inputs that failed the byte check; stay total anyway.
    KeyError::UnknownFormat { looks_like: None }
}

//! Why a string is not (or not quite) a key: errors and warnings a UI can show.

use core::fmt;

use crate::Provider;

/// Why a string was rejected as an API key.
///
/// Every variant has a stable snake_case [`code`](KeyError::code), a message that
/// says what is wrong ([`Display`](fmt::Display)), a [`hint`](KeyError::hint) that
/// says what to do, and where it applies the 0-based character
/// [`position`](KeyError::position) in the string that was checked. No variant
/// holds any part of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Nothing (or only whitespace) was given.
    Empty,
    /// A placeholder, example or masked key (`sk-...`, `YOUR_API_KEY`, `sk-xxxx`,
    /// a low-entropy body) rather than a real secret.
    Placeholder {
        /// What gave it away, for people (`"contains \"...\""`).
        reason: &'static str,
    },
    /// A whitespace character inside (or around) the key.
    Whitespace {
        /// 0-based character position of the first whitespace character.
        position: usize,
        /// True when the whitespace is before or after the key rather than inside it.
        at_edge: bool,
    },
    /// A zero-width, byte-order-mark, soft-hyphen or bidi control character.
    InvisibleCharacter {
        /// 0-based character position.
        position: usize,
        /// The Unicode code point (e.g. `0x200B`).
        code_point: u32,
    },
    /// A character that never occurs in an API key (keys are `[A-Za-z0-9_-]`).
    InvalidCharacter {
        /// 0-based character position.
        position: usize,
        /// The offending character (never a key character, so never part of a secret).
        character: char,
    },
    /// A key character this provider's keys never contain at that place (an
    /// uppercase letter in a hex key, `_` in an alphanumeric one). The character
    /// itself is not shown: it may be part of a real key.
    UnexpectedCharacter {
        /// 0-based character position.
        position: usize,
        /// The characters the key is made of, for people (`[0-9a-f]`).
        allowed: &'static str,
    },
    /// The key ends too early.
    Truncated {
        /// 0-based position where the key ends (its length in characters).
        position: usize,
        /// How many characters seem to be missing, when the shape tells.
        missing: Option<usize>,
    },
    /// There are more characters than a key of this shape has.
    TooLong {
        /// 0-based position where the extra characters start.
        position: usize,
        /// How many characters are extra.
        extra: usize,
    },
    /// The provider's fixed marker is missing (`T3BlbkFJ` in OpenAI keys, the `AA`
    /// suffix of Anthropic keys).
    MissingMarker {
        /// The provider whose marker is missing.
        provider: Provider,
        /// The marker that was expected.
        marker: &'static str,
    },
    /// Not the shape of any key byok knows.
    UnknownFormat {
        /// The service the prefix belongs to, when byok recognises it (`"OpenRouter"`).
        looks_like: Option<&'static str>,
    },
    /// A well-formed key of another provider than the one expected.
    WrongProvider {
        /// The provider that was asked for.
        expected: Provider,
        /// The provider the key belongs to.
        found: Provider,
    },
    /// A credential that is not an API key (an OAuth access or refresh token).
    NotAnApiKey {
        /// What it is instead, for people (`"an Anthropic OAuth access token"`).
        what: &'static str,
    },
    /// A key without a prefix (Mistral, Cohere, Azure OpenAI): its shape alone
    /// cannot say whose it is, so the provider must be named.
    AmbiguousProvider {
        /// The providers whose keys have this shape, in [`Provider::ALL`] order.
        candidates: Vec<Provider>,
    },
    /// A prefix some app put before a key that has none (`mistral-`, `ms-`).
    InventedPrefix {
        /// The provider whose keys have no prefix.
        provider: Provider,
        /// The prefix found (public text, not part of the key).
        prefix: &'static str,
    },
    /// A key that carries its own expiry (Amazon Bedrock short-term) and has expired.
    KeyExpired {
        /// When it expired.
        expired_at: std::time::SystemTime,
    },
    /// A key whose body should decode (Amazon Bedrock short-term: a presigned URL)
    /// and does not.
    MalformedToken {
        /// What is wrong, for people (never the token's contents).
        reason: &'static str,
    },
}

impl KeyError {
    /// Every stable code, in declaration order.
    pub const CODES: [&'static str; 16] = [
        "empty",
        "placeholder",
        "whitespace",
        "invisible_character",
        "invalid_character",
        "truncated",
        "too_long",
        "missing_marker",
        "unknown_format",
        "wrong_provider",
        "not_an_api_key",
        "ambiguous_provider",
        "invented_prefix",
        "key_expired",
        "malformed_token",
        "unexpected_character",
    ];

    /// Stable snake_case code for programs (`"truncated"`); never changes meaning.
    pub const fn code(&self) -> &'static str {
        match self {
            KeyError::Empty => "empty",
            KeyError::Placeholder { .. } => "placeholder",
            KeyError::Whitespace { .. } => "whitespace",
            KeyError::InvisibleCharacter { .. } => "invisible_character",
            KeyError::InvalidCharacter { .. } => "invalid_character",
            KeyError::Truncated { .. } => "truncated",
            KeyError::TooLong { .. } => "too_long",
            KeyError::MissingMarker { .. } => "missing_marker",
            KeyError::UnknownFormat { .. } => "unknown_format",
            KeyError::WrongProvider { .. } => "wrong_provider",
            KeyError::NotAnApiKey { .. } => "not_an_api_key",
            KeyError::AmbiguousProvider { .. } => "ambiguous_provider",
            KeyError::InventedPrefix { .. } => "invented_prefix",
            KeyError::KeyExpired { .. } => "key_expired",
            KeyError::MalformedToken { .. } => "malformed_token",
            KeyError::UnexpectedCharacter { .. } => "unexpected_character",
        }
    }

    /// The 0-based character position the error points at, where one applies.
    pub const fn position(&self) -> Option<usize> {
        match *self {
            KeyError::Whitespace { position, .. }
            | KeyError::InvisibleCharacter { position, .. }
            | KeyError::InvalidCharacter { position, .. }
            | KeyError::UnexpectedCharacter { position, .. }
            | KeyError::Truncated { position, .. }
            | KeyError::TooLong { position, .. } => Some(position),
            _ => None,
        }
    }

    /// What the user should do about it, in one sentence.
    pub const fn hint(&self) -> &'static str {
        match self {
            KeyError::Empty => "Paste the whole key from your provider's dashboard.",
            KeyError::Placeholder { .. } => {
                "Create a key in your provider's dashboard and paste the real value; examples and masked keys cannot be used."
            }
            KeyError::Whitespace { at_edge: true, .. } => {
                "Remove the spaces or line breaks around the key."
            }
            KeyError::Whitespace { at_edge: false, .. } => {
                "The key was probably split across lines: copy it again in one piece."
            }
            KeyError::InvisibleCharacter { .. } => {
                "Copy the key again straight from the provider: a chat app or editor added an invisible character."
            }
            KeyError::InvalidCharacter { .. } => {
                "Copy the key again straight from the provider: keys contain only letters, digits, '-' and '_'."
            }
            KeyError::UnexpectedCharacter { .. } => {
                "Copy the key again straight from the provider, and check it is for the provider you chose."
            }
            KeyError::Truncated { .. } => {
                "Part of the key is missing: copy it again in full (use the copy button rather than selecting text)."
            }
            KeyError::TooLong { .. } => {
                "Something was pasted together with the key: copy only the key."
            }
            KeyError::MissingMarker { .. } => {
                "This is not a complete key from that provider: check that it was copied in full and from the right place."
            }
            KeyError::UnknownFormat {
                looks_like: Some(_),
            } => "Paste a key from one of the providers byok supports instead.",
            KeyError::UnknownFormat { looks_like: None } => {
                "Check that this is an API key of a provider byok supports; for a key without a prefix (Mistral, Cohere, Azure OpenAI), choose the provider first."
            }
            KeyError::WrongProvider { .. } => {
                "Paste it under the provider it belongs to, or paste a key for the provider you chose."
            }
            KeyError::NotAnApiKey { .. } => {
                "Create an API key in the provider's console; OAuth tokens cannot be used as API keys."
            }
            KeyError::AmbiguousProvider { .. } => {
                "Choose the provider this key is for: a key without a prefix cannot be recognised by its shape alone."
            }
            KeyError::InventedPrefix { .. } => {
                "Paste the key exactly as the provider's console shows it, without the prefix another app added."
            }
            KeyError::KeyExpired { .. } => {
                "Create a new short-term key (they last at most 12 hours), or use a long-term key."
            }
            KeyError::MalformedToken { .. } => {
                "Copy the key again in full from where it was generated; it may have been cut or edited."
            }
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KeyError::Empty => f.write_str("the key is empty"),
            KeyError::Placeholder { reason } => {
                write!(
                    f,
                    "this is a placeholder or example, not a real key ({reason})"
                )
            }
            KeyError::Whitespace {
                position,
                at_edge: true,
            } => {
                write!(f, "whitespace at position {position}, around the key")
            }
            KeyError::Whitespace {
                position,
                at_edge: false,
            } => write!(
                f,
                "space or line break at position {position}: the key was split across lines?"
            ),
            KeyError::InvisibleCharacter {
                position,
                code_point,
            } => write!(
                f,
                "invisible character U+{code_point:04X} at position {position}"
            ),
            KeyError::InvalidCharacter {
                position,
                character,
            } => write!(
                f,
                "character {character:?} (U+{:04X}) at position {position} cannot occur in an API key",
                character as u32
            ),
            KeyError::UnexpectedCharacter { position, allowed } => write!(
                f,
                "the character at position {position} cannot occur in this key (its characters are {allowed})"
            ),
            KeyError::Truncated {
                position,
                missing: Some(n),
            } => write!(
                f,
                "the key ends at position {position}, about {n} character{} too early",
                if n == 1 { "" } else { "s" }
            ),
            KeyError::Truncated {
                position,
                missing: None,
            } => {
                write!(f, "the key ends too early, at position {position}")
            }
            KeyError::TooLong { position, extra } => write!(
                f,
                "{extra} extra character{} from position {position}",
                if extra == 1 { "" } else { "s" }
            ),
            KeyError::MissingMarker { provider, marker } => write!(
                f,
                "this is not a complete {} key: the {marker:?} part every such key has is missing",
                provider.display_name()
            ),
            KeyError::UnknownFormat {
                looks_like: Some(service),
            } => {
                write!(
                    f,
                    "this looks like a {service} key, which byok does not support"
                )
            }
            KeyError::UnknownFormat { looks_like: None } => {
                f.write_str("this is not the format of any API key byok knows")
            }
            KeyError::AmbiguousProvider { ref candidates } => {
                f.write_str("this key has no prefix, so its shape cannot tell whose it is: ")?;
                if candidates.len() == 1 {
                    write!(
                        f,
                        "name the provider (it looks like a {} key)",
                        candidates[0].display_name()
                    )
                } else {
                    f.write_str("name the provider (it could be a ")?;
                    for (i, p) in candidates.iter().enumerate() {
                        if i > 0 {
                            f.write_str(if i + 1 == candidates.len() {
                                " or "
                            } else {
                                ", "
                            })?;
                        }
                        f.write_str(p.display_name())?;
                    }
                    f.write_str(" key)")
                }
            }
            KeyError::InventedPrefix { provider, prefix } => write!(
                f,
                "{} keys have no prefix: {prefix:?} was added by another app and is not part of the key",
                provider.display_name()
            ),
            KeyError::KeyExpired { expired_at } => write!(
                f,
                "this short-term key expired at {}",
                crate::bedrock::rfc3339(expired_at)
            ),
            KeyError::MalformedToken { reason } => {
                write!(f, "this short-term key cannot be decoded: {reason}")
            }
            KeyError::WrongProvider { expected, found } => write!(
                f,
                "this is a{} {} key, not a{} {} key",
                article(found),
                found.display_name(),
                article(expected),
                expected.display_name()
            ),
            KeyError::NotAnApiKey { what } => write!(f, "this is {what}, not an API key"),
        }
    }
}

impl std::error::Error for KeyError {}

/// "a" or "an" before the provider's name: by its sound, so "an xAI" and "an OpenAI".
fn article(p: Provider) -> &'static str {
    match p.display_name().as_bytes().first() {
        Some(b'A' | b'E' | b'I' | b'O' | b'U' | b'x') => "n",
        _ => "",
    }
}

/// A shape that was accepted but is unusual: the UI may show it, the key still works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatWarning {
    /// The key's length is not one seen so far for its kind (providers change lengths).
    UnusualLength {
        /// The key's length in characters.
        length: usize,
    },
    /// The key's length is within what its provider may issue, but no source
    /// confirms it (Fireworks publishes no key format).
    UnverifiedLength {
        /// The key's length in characters.
        length: usize,
    },
    /// The shape says whose key this probably is, not certainly: DeepSeek's
    /// `sk-` and 32 hex digits (other services issue `sk-` keys too). Given only
    /// when the provider was not named.
    ProbableProvider {
        /// The provider the key probably belongs to.
        provider: Provider,
    },
    /// An Anthropic key version other than the current one (`api03`, `admin01`).
    UnusualVersion {
        /// The version segment, e.g. `"api04"` (a public part of the prefix).
        version: String,
    },
}

impl FormatWarning {
    /// Stable snake_case code: `unusual_length`, `unverified_length`,
    /// `probable_provider` or `unusual_version`.
    pub const fn code(&self) -> &'static str {
        match self {
            FormatWarning::UnusualLength { .. } => "unusual_length",
            FormatWarning::UnverifiedLength { .. } => "unverified_length",
            FormatWarning::ProbableProvider { .. } => "probable_provider",
            FormatWarning::UnusualVersion { .. } => "unusual_version",
        }
    }
}

impl fmt::Display for FormatWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatWarning::UnusualLength { length } => write!(
                f,
                "the key is {length} characters long, a length not seen before for this kind; it is accepted, but check it was copied in full"
            ),
            FormatWarning::UnverifiedLength { length } => write!(
                f,
                "the key is {length} characters long; this provider publishes no key format, so the length is unverified; it is accepted"
            ),
            FormatWarning::ProbableProvider { provider } => write!(
                f,
                "this is probably a{} {} key, by its shape; other services issue keys of this shape too, so choose the provider to be sure",
                article(*provider),
                provider.display_name()
            ),
            FormatWarning::UnusualVersion { version } => {
                write!(
                    f,
                    "key version {version:?} is newer or older than the one byok knows; it is accepted"
                )
            }
        }
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::{FormatWarning, KeyError};
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    /// `{"code", "message", "hint", "position"}`: what a UI needs, never the key.
    impl Serialize for KeyError {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("KeyError", 4)?;
            st.serialize_field("code", self.code())?;
            st.serialize_field("message", &self.to_string())?;
            st.serialize_field("hint", self.hint())?;
            st.serialize_field("position", &self.position())?;
            st.end()
        }
    }

    /// `{"code", "message"}`.
    impl Serialize for FormatWarning {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("FormatWarning", 2)?;
            st.serialize_field("code", self.code())?;
            st.serialize_field("message", &self.to_string())?;
            st.end()
        }
    }
}

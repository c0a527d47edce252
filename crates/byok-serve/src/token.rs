//! API tokens: their shape, how they are made, hashed, checked and found in text.
//!
//! A token is `byok_<scope>_<id>_<secret>`: the scope tag (`adm`, `wsm`, `app`),
//! a 32-hex-digit id (public: lists and the audit trail name it) and 64 hex digits
//! of secret (256 random bits). Only the SHA-256 of the whole token is stored;
//! a presented token is found by its id and its hash compared in constant time.
//! The fixed shape is what scanners look for ([`find_tokens`], [`TOKEN_PATTERN`]).

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use byok::store::{TokenRow, WorkspaceId};

/// A regular expression of every byok API token, for secret scanners
/// (gitleaks, GitHub custom patterns, CI greps). The shape's one home is
/// [`byok::keys::token`], which `byok scan` and `byok redact` use.
pub const TOKEN_PATTERN: &str = byok::keys::token::TOKEN_PATTERN;

#[cfg(test)]
use byok::keys::token::TOKEN_LEN;
use byok::keys::token::{TOKEN_ID_LEN as ID_LEN, TOKEN_SECRET_LEN as SECRET_LEN};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
#[non_exhaustive]
pub enum TokenScope {
    /// Every workspace, its keys and budgets, and the tokens themselves.
    Admin,
    /// One workspace's keys, budgets and audit trail.
    Workspace,
    /// Only the proxy (`/proxy/…`), for one workspace: every management route
    /// refuses it, and the proxy refuses every other scope.
    App,
}

impl TokenScope {
    /// The stable code (`admin`, `workspace`, `app`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Workspace => "workspace",
            TokenScope::App => "app",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            TokenScope::Admin => "adm",
            TokenScope::Workspace => "wsm",
            TokenScope::App => "app",
        }
    }

    fn from_tag(tag: &str) -> Option<TokenScope> {
        match tag {
            "adm" => Some(TokenScope::Admin),
            "wsm" => Some(TokenScope::Workspace),
            "app" => Some(TokenScope::App),
            _ => None,
        }
    }

    /// The scope of a stored code.
    pub fn from_code(code: &str) -> Option<TokenScope> {
        match code {
            "admin" => Some(TokenScope::Admin),
            "workspace" => Some(TokenScope::Workspace),
            "app" => Some(TokenScope::App),
            _ => None,
        }
    }
}

/// A freshly made token: the value, shown once, and the row to store.
///
/// `Debug` shows the id and scope, never the value.
pub struct IssuedToken {
    value: String,
    row: TokenRow,
}

impl IssuedToken {
    /// Make a token of `scope` (for `workspace` unless admin) named `name`.
    pub fn generate(
        scope: TokenScope,
        workspace: Option<WorkspaceId>,
        name: &str,
        created_by: &str,
    ) -> Result<IssuedToken, getrandom::Error> {
        let mut id = [0u8; ID_LEN / 2];
        let mut secret = [0u8; SECRET_LEN / 2];
        getrandom::fill(&mut id)?;
        getrandom::fill(&mut secret)?;
        let id = hex(&id);
        let value = format!("byok_{}_{id}_{}", scope.tag(), hex(&secret));
        secret.fill(0);
        let row = TokenRow::new(
            id,
            scope.as_str(),
            workspace,
            name,
            hash(&value),
            created_by,
        );
        Ok(IssuedToken { value, row })
    }

    /// The token itself: give it to its user once; it cannot be shown again.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// The row to store (the hash, never the value).
    pub fn row(&self) -> &TokenRow {
        &self.row
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.row.id)
            .field("scope", &self.row.scope)
            .finish_non_exhaustive()
    }
}

impl Drop for IssuedToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

/// A presented token's public parts, when it has a token's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The scope its tag names (checked against the stored row's too).
    pub scope: TokenScope,
    /// Its id.
    pub id: &'a str,
}

/// The scope and id of `token` when it has the shape of a byok token.
pub fn parse(token: &str) -> Option<Presented<'_>> {
    let shape = byok::keys::token::parse_token(token)?;
    Some(Presented {
        scope: TokenScope::from_tag(shape.tag)?,
        id: shape.id,
    })
}

/// Whether `token` is the one `row` was made for: its hash, compared in constant time.
pub fn matches(token: &str, row: &TokenRow) -> bool {
    bool::from(hash(token).ct_eq(&row.hash))
}

/// SHA-256 of a token: what is stored.
fn hash(token: &str) -> [u8; 32] {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A token found in text by [`find_tokens`]: where, and its public parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFinding {
    /// Byte range of the token in the text (end exclusive).
    pub span: std::ops::Range<usize>,
    /// Its scope.
    pub scope: TokenScope,
    /// Its id (public), never the secret.
    pub id: String,
}

/// Every byok API token in `text` (leak detection, log scrubbing): the same
/// shape as [`TOKEN_PATTERN`], not glued to more hex digits.
///
/// ```
/// use byok_serve::token::{IssuedToken, TokenScope, find_tokens};
///
/// let issued = IssuedToken::generate(TokenScope::Admin, None, "ops", "bootstrap").unwrap();
/// let log = format!("curl -H 'Authorization: Bearer {}' …", issued.expose_secret());
/// let found = find_tokens(&log);
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].id, issued.row().id);
/// ```
pub fn find_tokens(text: &str) -> Vec<TokenFinding> {
    byok::keys::token::scan_tokens(text.as_bytes())
        .into_iter()
        .filter_map(|f| {
            Some(TokenFinding {
                scope: TokenScope::from_tag(f.tag)?,
                span: f.span,
                id: f.id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_parses_and_matches_only_itself() {
        let ws = WorkspaceId::new("acme").unwrap();
        let t = IssuedToken::generate(TokenScope::Workspace, Some(ws), "ui", "bootstrap").unwrap();
        let p = parse(t.expose_secret()).unwrap();
        assert_eq!(p.scope, TokenScope::Workspace);
        assert_eq!(p.id, t.row().id);
        assert!(matches(t.expose_secret(), t.row()));
        let mut other = t.expose_secret().to_owned();
        let last = if other.ends_with('0') { "1" } else { "0" };
        other.replace_range(TOKEN_LEN - 1.., last);
        assert!(parse(&other).is_some());
        assert!(!matches(&other, t.row()));
        assert!(!format!("{t:?}").contains(&t.expose_secret()[50..]));
        assert!(regex_like(t.expose_secret()));
    }

    fn regex_like(s: &str) -> bool {
        // TOKEN_PATTERN, checked by hand (no regex dependency here).
        parse(s).is_some() && s.starts_with("byok_")
    }

    #[test]
    fn malformed_tokens_are_not_tokens() {
        let t = IssuedToken::generate(TokenScope::Admin, None, "x", "bootstrap").unwrap();
        let v = t.expose_secret();
        for bad in [
            &v[..v.len() - 1],
            &v.replace("byok_adm_", "byok_xyz_"),
            &v.to_uppercase(),
            "byok_adm_",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_found_in_text_but_not_glued_runs() {
        let a = IssuedToken::generate(TokenScope::App, None, "a", "b").unwrap();
        let b = IssuedToken::generate(TokenScope::Admin, None, "a", "b").unwrap();
        let text = format!(
            "x={} y=\"{}\" z={}ff",
            a.expose_secret(),
            b.expose_secret(),
            a.expose_secret()
        );
        let found = find_tokens(&text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].scope, TokenScope::App);
        assert_eq!(found[1].id, b.row().id);
        assert_eq!(&text[found[1].span.clone()], b.expose_secret());
    }
}

//! The stable code of a Test verdict, shared by every crate that stores,
//! selects on or prints one.
//!
//! `byok-verify` decides verdicts (and re-exports this type); `byok-store`
//! keeps a key's last one; the facade benches a key on it. The code is the
//! snake_case string users script against (`last_verdict` in JSON, the
//! `verdict` of a report), so a stored value reads back as the same string.

use std::fmt;
use std::str::FromStr;

/// A verdict's stable code, without the reason or the provider's details.
///
/// ```
/// use byok_keys::VerdictCode;
/// let code: VerdictCode = "no_credits".parse().unwrap();
/// assert_eq!(code, VerdictCode::NoCredits);
/// assert_eq!(code.as_str(), "no_credits");
/// assert!(code.benches_key());
/// assert!(!VerdictCode::RateLimited.benches_key());
/// assert!("valid?".parse::<VerdictCode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum VerdictCode {
    /// The key works.
    Valid,
    /// The key is wrong, revoked, expired or its account disabled.
    Invalid,
    /// The key is accepted but the account cannot pay.
    NoCredits,
    /// The provider asked to slow down.
    RateLimited,
    /// The key works but may not do what was asked.
    Restricted,
    /// The provider is overloaded or failing.
    ProviderUnavailable,
    /// The provider could not be reached.
    NetworkError,
    /// An answer byok does not recognise.
    Indeterminate,
}

impl VerdictCode {
    /// Every code, in declaration order.
    pub const ALL: [VerdictCode; 8] = [
        VerdictCode::Valid,
        VerdictCode::Invalid,
        VerdictCode::NoCredits,
        VerdictCode::RateLimited,
        VerdictCode::Restricted,
        VerdictCode::ProviderUnavailable,
        VerdictCode::NetworkError,
        VerdictCode::Indeterminate,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            VerdictCode::Valid => "valid",
            VerdictCode::Invalid => "invalid",
            VerdictCode::NoCredits => "no_credits",
            VerdictCode::RateLimited => "rate_limited",
            VerdictCode::Restricted => "restricted",
            VerdictCode::ProviderUnavailable => "provider_unavailable",
            VerdictCode::NetworkError => "network_error",
            VerdictCode::Indeterminate => "indeterminate",
        }
    }

    /// Whether a key with this as its last verdict is passed over by key
    /// selection until a later success lifts it: `invalid` and `no_credits`.
    /// Rate limits, outages and unknown answers say nothing about the key.
    pub const fn benches_key(self) -> bool {
        matches!(self, VerdictCode::Invalid | VerdictCode::NoCredits)
    }
}

impl fmt::Display for VerdictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`VerdictCode`]s (kept, for the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict code {0:?}")]
pub struct UnknownVerdict(pub String);

impl FromStr for VerdictCode {
    type Err = UnknownVerdict;

    /// Exactly the stable codes, nothing else (they are machine-written).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerdictCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownVerdict(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_as_a_string_and_in_json() {
        for code in VerdictCode::ALL {
            assert_eq!(code.as_str().parse::<VerdictCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<VerdictCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn only_invalid_and_no_credits_bench() {
        let benching: Vec<_> = VerdictCode::ALL
            .into_iter()
            .filter(|c| c.benches_key())
            .collect();
        assert_eq!(benching, [VerdictCode::Invalid, VerdictCode::NoCredits]);
    }
}

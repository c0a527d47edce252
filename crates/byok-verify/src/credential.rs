//! The key as the verifier's internals see it: its provider, the secret for
//! the auth header, and what a report shows (mask, fingerprint).

use byok_keys::{ApiKey, Fingerprint, Provider};

/// A key on its way to a provider. Built from an [`ApiKey`]; `Debug` shows the
/// mask only.
pub(crate) struct Credential<'k> {
    pub(crate) provider: Provider,
    secret: &'k str,
    pub(crate) admin: bool,
    pub(crate) masked: String,
    pub(crate) fingerprint: Fingerprint,
}

impl<'k> Credential<'k> {
    pub(crate) fn of(key: &'k ApiKey) -> Credential<'k> {
        Credential {
            provider: key.provider(),
            secret: key.expose_secret(),
            admin: key.is_admin(),
            masked: key.masked(),
            fingerprint: key.fingerprint(),
        }
    }

    /// A secret of `provider` that byok-keys cannot parse yet (the tests of
    /// providers whose fake keys come with their key formats).
    #[cfg(test)]
    pub(crate) fn raw(provider: Provider, secret: &'k str) -> Credential<'k> {
        Credential {
            provider,
            secret,
            admin: false,
            masked: format!("…{}", &secret[secret.len().saturating_sub(4)..]),
            fingerprint: Fingerprint::of(secret),
        }
    }

    /// The secret itself, for the auth header only.
    pub(crate) fn expose_secret(&self) -> &'k str {
        self.secret
    }
}

impl core::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credential")
            .field("provider", &self.provider)
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

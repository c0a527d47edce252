//! The crate's one error type.

use byok_keys::Provider;

use crate::scenario::Scenario;

/// What the testkit refuses. Test builders usually want the panicking
/// [`MockBuilder::scenario`](crate::MockBuilder::scenario); programs that take a
/// scenario from their input use [`MockBuilder::try_scenario`](crate::MockBuilder::try_scenario).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// The provider has no answer for this scenario (see the table on [`Scenario`]).
    #[error("{scenario:?} has no {} answer; pick a scenario from the table on byok_testkit::Scenario", provider.display_name())]
    UnsupportedScenario {
        /// The scenario asked for.
        scenario: Scenario,
        /// The mock's provider.
        provider: Provider,
    },
}

impl TestkitError {
    /// Stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            TestkitError::UnsupportedScenario { .. } => "unsupported_scenario",
        }
    }
}

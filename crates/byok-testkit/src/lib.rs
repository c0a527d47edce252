//! `byok-testkit`: see the crate description; under construction in its own issue.

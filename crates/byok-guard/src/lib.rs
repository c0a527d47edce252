//! `byok-guard`: see the crate description; under construction in its own issue.

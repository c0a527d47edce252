//! `byok-store`: see the crate description; under construction in its own issue.

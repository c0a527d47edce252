//! The canary suite: run every public operation of every byok crate, error paths
//! included, with known canary secrets, and prove none of them ever comes out —
//! not in return values' `Debug`/`Display`/JSON, not in TRACE-level logs, not in
//! panic messages, not in any file written, not whole, not in part, not encoded.
//!
//! The canaries and the detector are `byok_testkit::canary::standard` plus the
//! shapes that need their provider named (`canaries.rs`), shared in the same way
//! with the CLI side in `crates/byok-cli/tests/canary.rs` (only that package can run
//! the binary), so both search for exactly the same forms. A leak found in another crate
//! is fixed there, with its canary case added here; none is left ignored.
//!
//! The flows drive all fourteen providers (`Provider::ALL`), each against its own
//! mock (`byok_testkit::MockBuilder`) and its own hostile answers: the echoing
//! refusals and fields of `byok_testkit::echo_*` are written in each provider's
//! error dialect, the broken streams in its wire's shape. Where a flow cannot
//! apply to a provider, it says so beside the skip, with the spec field that decides.

mod call;
mod canaries;
mod capture;
mod flow;
mod guard;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod selftest;
mod vault;
mod verify;

/// `Debug`, alternate `Debug` and `Display` of a value, one per line.
fn shown<T: std::fmt::Debug + std::fmt::Display>(value: &T) -> String {
    format!("{value:?}\n{value:#?}\n{value}\n")
}

/// `Debug` and alternate `Debug` of a value.
fn debugged<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}\n{value:#?}\n")
}

/// JSON of a DTO, compact and pretty.
fn json<T: serde::Serialize>(value: &T) -> String {
    format!(
        "{}\n{}\n",
        serde_json::to_string(value).expect("DTOs serialise"),
        serde_json::to_string_pretty(value).expect("DTOs serialise")
    )
}

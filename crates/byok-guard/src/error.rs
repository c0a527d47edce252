//! `GuardError`: every way a guard operation can fail, each with a stable code.

/// An error from pricing, usage parsing, budgets or a ledger.
///
/// `code()` is a stable snake_case string for machines; the message says what
/// happened and what to do. No message ever holds an API key or a ledger URL
/// (URLs can carry passwords).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// Text that should be a decimal amount is not one.
    #[error(
        "{text:?} is not an exact dollar amount: {reason}; write a decimal such as 0.0025 or 2.5e-06"
    )]
    InvalidAmount {
        /// The offending text (at most 40 characters).
        text: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An amount left the representable range (about ±1.7e26 dollars).
    #[error("the amount is too large to represent exactly; check the token counts and prices")]
    Overflow,
    /// A price file could not be read as LiteLLM-format JSON.
    #[error(
        "the price file is not valid LiteLLM-format JSON: {reason}; fix the file or use the embedded prices"
    )]
    InvalidPriceFile {
        /// What is wrong, naming the model and field where one applies.
        reason: String,
    },
    /// A usage object is not JSON or lacks the provider's usage fields.
    #[error(
        "no usage found: {reason}; pass the provider's usage object or the whole response body"
    )]
    MissingUsage {
        /// What was looked for.
        reason: String,
    },
    /// A token count is below zero.
    #[error("token count `{field}` is negative; usage counts must be whole numbers >= 0")]
    NegativeTokens {
        /// The JSON field.
        field: String,
    },
    /// A token count is not a whole number.
    #[error("token count `{field}` is not a whole number; usage counts must be integers")]
    NonIntegerTokens {
        /// The JSON field.
        field: String,
    },
    /// A token count is a whole number too large to count (2^64 or more).
    #[error(
        "token count `{field}` is too large: at most 18446744073709551615 (2^64 - 1); the usage object may be corrupted"
    )]
    TooManyTokens {
        /// The JSON field.
        field: String,
    },
    /// Token counts contradict each other (e.g. more cached tokens than prompt tokens).
    #[error(
        "inconsistent usage: {reason}; the usage object may be from another provider or corrupted"
    )]
    InconsistentUsage {
        /// Which counts disagree.
        reason: String,
    },
    /// An estimate needs an output cap and neither the request nor the price book has one.
    #[error("no output cap for model {model:?}; pass max_output_tokens")]
    OutputCapUnknown {
        /// The model.
        model: String,
    },
    /// A budget definition is invalid.
    #[error("invalid budget: {reason}")]
    InvalidBudget {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A spend-history request is malformed (no buckets, too many, or edges out of order).
    #[error("invalid spend history request: {reason}")]
    InvalidHistory {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A time zone name is not in the IANA database.
    #[error("unknown time zone {name:?}; use an IANA name such as UTC or Europe/Paris")]
    InvalidTimeZone {
        /// The name given.
        name: String,
    },
    /// No reservation has this id (never made, or already expired and purged).
    #[error("reservation {id} was not found; it was never made on this ledger")]
    ReservationNotFound {
        /// The reservation id.
        id: String,
    },
    /// Settle after release: the hold was given back, so there is nothing to settle.
    #[error("reservation {id} was released; make a new reservation before spending")]
    ReservationReleased {
        /// The reservation id.
        id: String,
    },
    /// Release after settle: the spend is recorded and cannot be undone by release.
    #[error("reservation {id} is already settled; its spend stays recorded")]
    ReservationSettled {
        /// The reservation id.
        id: String,
    },
    /// A ledger URL has an unknown scheme or is malformed.
    #[error("invalid ledger URL: {reason}; use memory:, sqlite:PATH, postgres://… or redis://…")]
    InvalidLedgerUrl {
        /// What is wrong (never the URL itself, which may hold a password).
        reason: String,
    },
    /// The ledger backend for a URL was compiled out.
    #[error(
        "the {backend} ledger is not compiled in; enable the `{backend}` feature of byok-guard"
    )]
    BackendDisabled {
        /// `sqlite`, `postgres` or `redis`.
        backend: &'static str,
    },
    /// The ledger's storage failed (connection lost, server restarted, disk error).
    #[error("the {backend} ledger failed: {message}; the operation did not complete, retry it")]
    Ledger {
        /// Which backend.
        backend: &'static str,
        /// The backend's error, without connection strings.
        message: String,
    },
    /// Stored ledger data could not be read back.
    #[error("the {backend} ledger holds unreadable data: {message}")]
    CorruptLedger {
        /// Which backend.
        backend: &'static str,
        /// What could not be decoded.
        message: String,
    },
    /// A hold would lapse sooner than [`MIN_HOLD_TTL`](crate::ledger::MIN_HOLD_TTL) after it is made.
    #[error(
        "a budget hold must last at least {min_secs} s, this one would last {ttl_ms} ms: a hold that lapses while its call runs frees its room for other calls and the limit no longer holds; use a TTL longer than the slowest call (the default is 600 s)"
    )]
    HoldTtlTooShort {
        /// The requested lifetime in milliseconds (`expires_at - now`, maybe negative).
        ttl_ms: i64,
        /// The floor in seconds.
        min_secs: u64,
    },
    /// A ledger cannot hold this amount exactly (the Redis ledger computes in
    /// Lua, whose numbers are doubles): refused rather than rounded.
    #[error(
        "the {backend} ledger keeps amounts exact only up to ${max} (budget limits, holds and settles) and ${max_total} of spend per period; this one is larger: use the SQLite or PostgreSQL ledger for such amounts"
    )]
    AmountOutOfRange {
        /// Which backend.
        backend: &'static str,
        /// The largest amount it accepts, in dollars.
        max: u64,
        /// The largest spend per period it accepts, in dollars.
        max_total: u64,
    },
    /// A provider cost API call failed.
    #[error("provider cost sync failed: {message}")]
    Sync {
        /// What happened (never the admin key).
        message: String,
    },
}

impl GuardError {
    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::InvalidAmount { .. } => "invalid_amount",
            GuardError::Overflow => "amount_overflow",
            GuardError::InvalidPriceFile { .. } => "invalid_price_file",
            GuardError::MissingUsage { .. } => "missing_usage",
            GuardError::NegativeTokens { .. } => "negative_token_count",
            GuardError::NonIntegerTokens { .. } => "non_integer_token_count",
            GuardError::TooManyTokens { .. } => "token_count_too_large",
            GuardError::InconsistentUsage { .. } => "inconsistent_usage",
            GuardError::OutputCapUnknown { .. } => "output_cap_unknown",
            GuardError::InvalidBudget { .. } => "invalid_budget",
            GuardError::InvalidHistory { .. } => "invalid_history",
            GuardError::InvalidTimeZone { .. } => "invalid_time_zone",
            GuardError::ReservationNotFound { .. } => "reservation_not_found",
            GuardError::ReservationReleased { .. } => "reservation_released",
            GuardError::ReservationSettled { .. } => "reservation_settled",
            GuardError::InvalidLedgerUrl { .. } => "invalid_ledger_url",
            GuardError::BackendDisabled { .. } => "ledger_backend_disabled",
            GuardError::Ledger { .. } => "ledger_unavailable",
            GuardError::CorruptLedger { .. } => "ledger_corrupt",
            GuardError::Sync { .. } => "provider_sync_failed",
            GuardError::HoldTtlTooShort { .. } => "hold_ttl_too_short",
            GuardError::AmountOutOfRange { .. } => "amount_out_of_range",
        }
    }
}

/// Where and what kind of JSON problem, never the offending text: serde's own
/// messages quote string values, and a value may be a key.
pub(crate) fn json_problem(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "an I/O error",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Eof => "an unexpected end of input",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Why an amount was rejected, without its text.
pub(crate) fn amount_problem(e: &GuardError) -> &'static str {
    match e {
        GuardError::InvalidAmount { reason, .. } => reason,
        GuardError::Overflow => "it is too large",
        _ => "it is not a decimal number",
    }
}

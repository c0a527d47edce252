//! The SQL ledgers' tables, defined once for SQLite and PostgreSQL.
//!
//! Amounts are exact decimal TEXT (i128 picodollars; SQLite integers are only
//! 64-bit), times are BIGINT milliseconds. Opening a ledger runs, in order,
//! [`tables`] (created if missing), the backend's addition of any missing
//! [`SETTLE_COLUMNS`], then [`indexes`]: a database written by any earlier
//! version opens unchanged but for those columns.

/// The tables, without `CREATE TABLE IF NOT EXISTS` (and SQLite's `WITHOUT ROWID`).
///
/// A settled reservation keeps its settle time (ms), amount and current
/// label, for relabelling ([`SETTLE_COLUMNS`]).
const TABLES: [&str; 5] = [
    "byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL)",
    "byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL, settled_at BIGINT, amount TEXT, label TEXT)",
    "byok_guard_holds (id TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, amount TEXT NOT NULL, expires_at BIGINT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY (id, scope))",
    "byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label))",
    "byok_guard_alerts (scope TEXT NOT NULL, period TEXT NOT NULL, percent TEXT NOT NULL, PRIMARY KEY (scope, period, percent))",
];

/// The columns of `byok_guard_reservations` that ledgers created before
/// relabelling existed lack (name, type); each backend adds the missing ones.
pub(crate) const SETTLE_COLUMNS: [(&str, &str); 3] = [
    ("settled_at", "BIGINT"),
    ("amount", "TEXT"),
    ("label", "TEXT"),
];

/// The indexes, without `CREATE INDEX IF NOT EXISTS`: PostgreSQL's.
///
/// Lapsed holds are simply not counted: `holds_live` range-scans only live
/// ones, so no cleanup write is needed on the hot path. `reservations_settled`
/// finds the calls a relabel covers.
const INDEXES: [&str; 2] = [
    "byok_guard_holds_live ON byok_guard_holds (scope, active, expires_at)",
    "byok_guard_reservations_settled ON byok_guard_reservations (settled_at)",
];

/// SQLite's indexes: the same two, partial. `holds_open` holds an entry per
/// live hold only (a hold adds it, its settle or release removes it), so it
/// stays a page or two however many calls the file has seen, and
/// `reservations_done` gets an entry only when a call is settled (at its
/// time-ordered right edge). Each hold and settle then rewrites three to five
/// pages of the WAL instead of six to eleven (a reserve + settle on three
/// budgets: 72 to 48 us at p50, docs/PERFORMANCE.md). PostgreSQL keeps the full
/// indexes: its settled holds leave dead entries in either kind until vacuum.
const SQLITE_INDEXES: [&str; 2] = [
    "byok_guard_holds_open ON byok_guard_holds (scope, expires_at) WHERE active = 1",
    "byok_guard_reservations_done ON byok_guard_reservations (settled_at) WHERE settled_at IS NOT NULL",
];

/// The full indexes a SQLite file made before [`SQLITE_INDEXES`] has; opening
/// it drops them once the partial ones exist (same transaction).
const SQLITE_REPLACED: [&str; 2] = ["byok_guard_holds_live", "byok_guard_reservations_settled"];

/// Which SQL the statements are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `WITHOUT ROWID` tables: rows live in their primary-key tree, so a write
    /// touches one tree instead of a table and its key index — fewer pages per
    /// commit in the WAL.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    /// Plain tables.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// `CREATE TABLE IF NOT EXISTS` for every table, one statement each.
pub(crate) fn tables(dialect: Dialect) -> impl Iterator<Item = String> {
    let suffix = match dialect {
        Dialect::Sqlite => " WITHOUT ROWID",
        Dialect::Postgres => "",
    };
    TABLES
        .iter()
        .map(move |t| format!("CREATE TABLE IF NOT EXISTS {t}{suffix}"))
}

/// `CREATE INDEX IF NOT EXISTS` for every index of `dialect`, one statement
/// each, then (SQLite) `DROP INDEX IF EXISTS` for the indexes they replaced.
pub(crate) fn indexes(dialect: Dialect) -> impl Iterator<Item = String> {
    let (create, drop): (&[&str], &[&str]) = match dialect {
        Dialect::Sqlite => (&SQLITE_INDEXES, &SQLITE_REPLACED),
        Dialect::Postgres => (&INDEXES, &[]),
    };
    let create = create
        .iter()
        .map(|i| format!("CREATE INDEX IF NOT EXISTS {i}"));
    create.chain(drop.iter().map(|i| format!("DROP INDEX IF EXISTS {i}")))
}

/// What SQLite ledgers ran at open before the schema had one definition (with
/// its `settled_at` index after the column additions): a database made by it
/// must open with its figures kept, its two full indexes replaced by the
/// partial ones.
#[cfg(test)]
pub(crate) const SQLITE_BEFORE: &str = "
CREATE TABLE IF NOT EXISTS byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL, settled_at BIGINT, amount TEXT, label TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS byok_guard_holds (id TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, amount TEXT NOT NULL, expires_at BIGINT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY (id, scope)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS byok_guard_holds_live ON byok_guard_holds (scope, active, expires_at);
CREATE TABLE IF NOT EXISTS byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS byok_guard_alerts (scope TEXT NOT NULL, period TEXT NOT NULL, percent TEXT NOT NULL, PRIMARY KEY (scope, period, percent)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS byok_guard_reservations_settled ON byok_guard_reservations (settled_at);";

/// What PostgreSQL ledgers ran at open before the schema had one definition
/// (after adding any missing settle columns).
#[cfg(test)]
pub(crate) const POSTGRES_BEFORE: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL, settled_at BIGINT, amount TEXT, label TEXT)",
    "CREATE INDEX IF NOT EXISTS byok_guard_reservations_settled ON byok_guard_reservations (settled_at)",
    "CREATE TABLE IF NOT EXISTS byok_guard_holds (id TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, amount TEXT NOT NULL, expires_at BIGINT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY (id, scope))",
    "CREATE INDEX IF NOT EXISTS byok_guard_holds_live ON byok_guard_holds (scope, active, expires_at)",
    "CREATE TABLE IF NOT EXISTS byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label))",
    "CREATE TABLE IF NOT EXISTS byok_guard_alerts (scope TEXT NOT NULL, period TEXT NOT NULL, percent TEXT NOT NULL, PRIMARY KEY (scope, period, percent))",
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Dialect, POSTGRES_BEFORE, SQLITE_BEFORE, indexes, tables};

    /// PostgreSQL runs the statements it ran before (only their order
    /// differs); SQLite its tables as before, and its indexes partial in place
    /// of the full ones.
    #[test]
    fn the_statements_are_those_of_the_previous_versions() {
        let now = |d: Dialect| -> BTreeSet<String> { tables(d).chain(indexes(d)).collect() };
        let pg: BTreeSet<String> = POSTGRES_BEFORE.iter().map(|s| s.to_string()).collect();
        assert_eq!(now(Dialect::Postgres), pg);
        let mut lite: BTreeSet<String> = SQLITE_BEFORE
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.starts_with("CREATE INDEX"))
            .map(str::to_owned)
            .collect();
        lite.extend([
            "CREATE INDEX IF NOT EXISTS byok_guard_holds_open ON byok_guard_holds (scope, expires_at) WHERE active = 1".to_owned(),
            "CREATE INDEX IF NOT EXISTS byok_guard_reservations_done ON byok_guard_reservations (settled_at) WHERE settled_at IS NOT NULL".to_owned(),
            "DROP INDEX IF EXISTS byok_guard_holds_live".to_owned(),
            "DROP INDEX IF EXISTS byok_guard_reservations_settled".to_owned(),
        ]);
        assert_eq!(now(Dialect::Sqlite), lite);
        // The replaced indexes are dropped after their replacements exist.
        let order: Vec<String> = indexes(Dialect::Sqlite).collect();
        assert!(order[..2].iter().all(|s| s.starts_with("CREATE")));
    }
}

//! `RedisLedger`: holds decided by one Lua script, one round trip.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use redis::Script;
use redis::aio::ConnectionManager;

use super::row::Rows;
use super::{
    Alert, Buckets, BudgetStatus, Denied, DenyReason, HistoryRequest, HoldOutcome, HoldRequest,
    Ledger, RelabelRequest, Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, SpendBucket,
    distinct_scopes, over_limit, status_of,
};
use crate::budget::{Budget, Scope};
use crate::cost::Label;
use crate::{GuardError, PICOS_PER_USD, Usd};

macro_rules! lua {
    ($file:literal) => {
        concat!(include_str!("lua/common.lua"), "\n", include_str!($file))
    };
}

/// A ledger in Redis (keys under `byok:guard:` by default).
///
/// A hold is one `EVALSHA` of a Lua script that reads every applicable
/// budget's spend and live holds and writes the hold, atomically (Redis runs
/// scripts one at a time). Amounts travel as exact `dollars:picodollars` pairs
/// because Lua numbers are doubles. Once per period per budget the script asks
/// the client to recompute the calendar window (time zones live in Rust), which
/// costs one extra round trip. Durability follows the server's persistence
/// settings: run Redis with AOF (`appendfsync always` or `everysec`) if settled
/// spend must survive a restart. Keys are built inside the scripts, so this
/// targets a single Redis node, not Redis Cluster.
#[derive(Clone)]
pub struct RedisLedger {
    con: ConnectionManager,
    prefix: String,
    scripts: std::sync::Arc<Scripts>,
}

struct Scripts {
    budget: Script,
    hold: Script,
    settle: Script,
    release: Script,
    status: Script,
    relabel: Script,
    history: Script,
}

impl std::fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No connection info: the URL may carry a password.
        f.debug_struct("RedisLedger")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn err(e: redis::RedisError) -> GuardError {
    let message = if e.kind() == redis::ErrorKind::InvalidClientConfig {
        "the connection settings are invalid".to_owned()
    } else {
        e.to_string()
    };
    GuardError::Ledger {
        backend: "redis",
        message,
    }
}

/// Reads stored text back (errors name the `redis` backend).
const ROWS: Rows = Rows::new("redis");

/// The largest amount (limit, hold, settle) in whole dollars: 10^12.
///
/// Lua numbers are doubles, exact only up to 2^53 (about 9 × 10^15). With
/// amounts at most 10^12 dollars and a period's spend at most [`MAX_TOTAL`]
/// (checked by `settle.lua`), every sum the scripts form, and `spent × 100`
/// and `limit × percent` of the alert test, stays below 2^53: exact.
const MAX_DOLLARS: u64 = 1_000_000_000_000;
/// The largest settled spend of one budget period, in whole dollars (`MAXT` in `common.lua`).
const MAX_TOTAL: u64 = 90_000_000_000_000;

// Every figure the scripts form stays below 2^53, checked at compile time:
// hold: spent + held + amount; alerts: spent × 100 and limit × 1000.
const _: () = {
    const EXACT: u64 = 1 << 53;
    assert!(MAX_TOTAL + 2 * MAX_DOLLARS < EXACT);
    assert!(MAX_TOTAL * 100 + 100 < EXACT);
    assert!(MAX_DOLLARS * 1000 + 1000 < EXACT);
};

fn out_of_range() -> GuardError {
    GuardError::AmountOutOfRange {
        backend: "redis",
        max: MAX_DOLLARS,
        max_total: MAX_TOTAL,
    }
}

/// `Usd` → `"D:P"` (non-negative amounts only reach the ledger, and at most `MAX_DOLLARS`).
fn limbs(usd: Usd) -> Result<String, GuardError> {
    if usd.is_negative() {
        return Err(GuardError::InvalidAmount {
            text: usd.to_string(),
            reason: "ledger amounts cannot be negative",
        });
    }
    if usd > Usd::from_picos(i128::from(MAX_DOLLARS) * PICOS_PER_USD) {
        return Err(out_of_range());
    }
    let p = usd.picos();
    Ok(format!("{}:{}", p / PICOS_PER_USD, p % PICOS_PER_USD))
}

fn from_limbs(s: &str) -> Result<Usd, GuardError> {
    let (d, p) = s
        .split_once(':')
        .ok_or_else(|| ROWS.corrupt(format!("amount {s:?}")))?;
    let d: i128 = d
        .parse()
        .map_err(|_| ROWS.corrupt(format!("amount {s:?}")))?;
    let p: i128 = p
        .parse()
        .map_err(|_| ROWS.corrupt(format!("amount {s:?}")))?;
    d.checked_mul(PICOS_PER_USD)
        .and_then(|v| v.checked_add(p))
        .map(Usd::from_picos)
        .ok_or(GuardError::Overflow)
}

impl RedisLedger {
    /// Connect to `redis://…` with the default key prefix.
    pub async fn connect(url: &str) -> Result<RedisLedger, GuardError> {
        RedisLedger::connect_with_prefix(url, "byok:guard:").await
    }

    /// Connect with a key prefix of your own (several apps on one server).
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<RedisLedger, GuardError> {
        let client = redis::Client::open(url).map_err(|_| GuardError::InvalidLedgerUrl {
            reason: "not a valid redis:// URL".into(),
        })?;
        // Under heavy contention scripts queue on the server: allow them time.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(30)))
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)));
        let con = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(err)?;
        Ok(RedisLedger {
            con,
            prefix: prefix.to_owned(),
            scripts: std::sync::Arc::new(Scripts {
                budget: Script::new(lua!("lua/budget.lua")),
                hold: Script::new(lua!("lua/hold.lua")),
                settle: Script::new(lua!("lua/settle.lua")),
                release: Script::new(lua!("lua/release.lua")),
                status: Script::new(lua!("lua/status.lua")),
                relabel: Script::new(lua!("lua/relabel.lua")),
                history: Script::new(lua!("lua/history.lua")),
            }),
        })
    }

    fn key(&self, kind: &str, scope: &Scope) -> String {
        format!("{}{kind}:{scope}", self.prefix)
    }

    /// Write the budget's current window (at `now`) next to its spec.
    async fn refresh_window(&self, budget: &Budget, now: Timestamp) -> Result<(), GuardError> {
        let w = budget.window(now)?;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key("budget", &budget.scope))
            .arg("win_key")
            .arg(w.key());
        let mut con = self.con.clone();
        match (w.start, w.end) {
            (Some(s), Some(e)) => {
                cmd.arg("win_start")
                    .arg(s.as_millisecond())
                    .arg("win_end")
                    .arg(e.as_millisecond());
                cmd.query_async::<()>(&mut con).await.map_err(err)
            }
            _ => {
                cmd.query_async::<()>(&mut con).await.map_err(err)?;
                redis::cmd("HDEL")
                    .arg(self.key("budget", &budget.scope))
                    .arg("win_start")
                    .arg("win_end")
                    .query_async::<()>(&mut con)
                    .await
                    .map_err(err)
            }
        }
    }
}

#[async_trait]
impl Ledger for RedisLedger {
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let spec = ROWS.spec(budget)?;
        let alerts: Vec<String> = budget.alert_percents.iter().map(u32::to_string).collect();
        let limit = limbs(budget.limit)?;
        // The script writes only if the stored spec is still the one the carry was computed from.
        for _ in 0..4 {
            let mut con = self.con.clone();
            let old: Option<String> = redis::cmd("HGET")
                .arg(self.key("budget", &budget.scope))
                .arg("spec")
                .query_async(&mut con)
                .await
                .map_err(err)?;
            let now = Timestamp::now();
            let (from, from_start) = match &old {
                Some(text) => {
                    let old = ROWS.budget(text)?;
                    match budget.carry_from(&old, now)? {
                        Some((from, _)) => {
                            let start = old.window(now)?.start;
                            (
                                from,
                                start.map_or("-inf".to_owned(), |s| s.as_millisecond().to_string()),
                            )
                        }
                        None => (String::new(), String::new()),
                    }
                }
                None => (String::new(), String::new()),
            };
            let w = budget.window(now)?;
            let ms =
                |t: Option<Timestamp>| t.map_or(String::new(), |t| t.as_millisecond().to_string());
            let reply: String = self
                .scripts
                .budget
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(budget.scope.as_str())
                .arg(old.as_deref().unwrap_or_default())
                .arg(&spec)
                .arg(&limit)
                .arg(alerts.join(","))
                .arg(w.key())
                .arg(ms(w.start))
                .arg(ms(w.end))
                .arg(from)
                .arg(from_start)
                .invoke_async(&mut con)
                .await
                .map_err(err)?;
            match reply.as_str() {
                "ok" => return Ok(()),
                "changed" => continue,
                other => return Err(ROWS.corrupt(format!("unexpected budget reply {other:?}"))),
            }
        }
        Err(GuardError::Ledger {
            backend: "redis",
            message: "the budget kept being replaced by other clients while it was set".to_owned(),
        })
    }

    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        let mut con = self.con.clone();
        let spec: Option<String> = redis::cmd("HGET")
            .arg(self.key("budget", scope))
            .arg("spec")
            .query_async(&mut con)
            .await
            .map_err(err)?;
        spec.map(|s| ROWS.budget(&s)).transpose()
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        let mut con = self.con.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.key("budget", scope))
            .query_async(&mut con)
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        req.check_ttl()?;
        let scopes = distinct_scopes(&req.scopes);
        let amount = limbs(req.amount)?;
        // At most a few passes: a stale window is refreshed, then the hold retried.
        for _ in 0..4 {
            let mut inv = self.scripts.hold.prepare_invoke();
            inv.arg(&self.prefix)
                .arg(req.id.to_string())
                .arg(&amount)
                .arg(req.now.as_millisecond())
                .arg(req.expires_at.as_millisecond());
            for s in &scopes {
                inv.arg(s.as_str());
            }
            let mut con = self.con.clone();
            let reply: Vec<String> = inv.invoke_async(&mut con).await.map_err(err)?;
            match reply.first().map(String::as_str) {
                Some("held") => {
                    let lines: Vec<&str> = reply.get(1).map_or(Vec::new(), |s| s.lines().collect());
                    let budgets = lines
                        .chunks(2)
                        .map(|c| ROWS.scope(c[0]))
                        .collect::<Result<_, _>>()?;
                    return Ok(HoldOutcome::Held { budgets });
                }
                Some("denied") if reply.len() == 5 => {
                    return Ok(HoldOutcome::Denied(Denied {
                        budget: ROWS.scope(&reply[1])?,
                        limit: from_limbs(&reply[2])?,
                        spent: from_limbs(&reply[3])?,
                        reserved: from_limbs(&reply[4])?,
                        needed: Some(req.amount),
                        reason: DenyReason::OverLimit,
                    }));
                }
                Some("stale") => {
                    for scope in &reply[1..] {
                        let scope = ROWS.scope(scope)?;
                        if let Some(b) = self.budget(&scope).await? {
                            self.refresh_window(&b, req.now).await?;
                        }
                    }
                }
                _ => return Err(ROWS.corrupt(format!("unexpected hold reply {reply:?}"))),
            }
        }
        Err(ROWS.corrupt("budget windows keep going stale; check the clocks of the clients"))
    }

    async fn settle(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        let mut con = self.con.clone();
        let reply: Vec<String> = self
            .scripts
            .settle
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(id.to_string())
            .arg(limbs(amount)?)
            .arg(label.as_str())
            .arg(now.as_millisecond())
            .invoke_async(&mut con)
            .await
            .map_err(err)?;
        match reply.first().map(String::as_str) {
            Some("not_found") => Err(GuardError::ReservationNotFound { id: id.to_string() }),
            Some("released") => Err(GuardError::ReservationReleased { id: id.to_string() }),
            Some("already") => Ok(SettleOutcome::AlreadySettled),
            Some("range") => Err(out_of_range()),
            Some("settled") if reply.len() >= 2 => {
                let expires: i64 = reply[1]
                    .parse()
                    .map_err(|_| ROWS.corrupt("reservation expiry"))?;
                let late = now.as_millisecond() >= expires;
                let (mut alerts, mut over) = (Vec::new(), Vec::new());
                let mut rest = &reply[2..];
                while let Some(tag) = rest.first() {
                    match (tag.as_str(), rest) {
                        ("alert", [_, s, pct, spent, limit, period, ..]) => {
                            alerts.push(Alert {
                                scope: ROWS.scope(s)?,
                                percent: ROWS.percent(pct)?,
                                spent: from_limbs(spent)?,
                                limit: from_limbs(limit)?,
                                period: period.clone(),
                            });
                            rest = &rest[6..];
                        }
                        ("spent", [_, s, spent, limit, period, ..]) => {
                            over.extend(over_limit(
                                (&ROWS.scope(s)?, from_limbs(limit)?),
                                from_limbs(spent)?,
                                amount,
                                period,
                                late,
                            ));
                            rest = &rest[5..];
                        }
                        _ => return Err(ROWS.corrupt(format!("unexpected settle reply {reply:?}"))),
                    }
                }
                Ok(SettleOutcome::Settled {
                    alerts,
                    over_limit: over,
                })
            }
            _ => Err(ROWS.corrupt(format!("unexpected settle reply {reply:?}"))),
        }
    }

    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        let mut con = self.con.clone();
        let reply: String = self
            .scripts
            .release
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(id.to_string())
            .invoke_async(&mut con)
            .await
            .map_err(err)?;
        match reply.as_str() {
            "released" => Ok(ReleaseOutcome::Released),
            "already" => Ok(ReleaseOutcome::AlreadyReleased),
            "settled" => Err(GuardError::ReservationSettled { id: id.to_string() }),
            "not_found" => Err(GuardError::ReservationNotFound { id: id.to_string() }),
            other => Err(ROWS.corrupt(format!("unexpected release reply {other:?}"))),
        }
    }

    async fn relabel(&self, req: &RelabelRequest) -> Result<Relabeled, GuardError> {
        let mut con = self.con.clone();
        let mut inv = self.scripts.relabel.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(req.scope.as_str())
            .arg(req.start.as_millisecond())
            .arg(req.end.as_millisecond())
            .arg(req.to.as_str());
        for l in &req.from {
            inv.arg(l.as_str());
        }
        let reply: Vec<String> = inv.invoke_async(&mut con).await.map_err(err)?;
        let [calls, total, moved_calls, moved] = <[String; 4]>::try_from(reply)
            .map_err(|r| ROWS.corrupt(format!("relabel reply {r:?}")))?;
        let count = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| ROWS.corrupt(format!("count {s:?}")))
        };
        Ok(Relabeled {
            calls: count(&calls)?,
            total: from_limbs(&total)?,
            moved_calls: count(&moved_calls)?,
            moved: from_limbs(&moved)?,
        })
    }

    async fn spend_history(&self, req: &HistoryRequest) -> Result<Vec<SpendBucket>, GuardError> {
        req.check()?;
        let mut con = self.con.clone();
        let reply: Vec<String> = self
            .scripts
            .history
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(req.scope.as_str())
            .arg(req.start().as_millisecond())
            .arg(req.end().as_millisecond())
            .invoke_async(&mut con)
            .await
            .map_err(err)?;
        if reply.len() % 3 != 0 {
            return Err(ROWS.corrupt(format!("history reply of {} items", reply.len())));
        }
        let mut buckets = Buckets::new(req);
        for call in reply.chunks_exact(3) {
            let at: i64 = call[0]
                .parse()
                .map_err(|_| ROWS.corrupt(format!("settle time {:?}", call[0])))?;
            buckets.add(
                ROWS.millis(at)?,
                from_limbs(&call[1])?,
                ROWS.label(&call[2])?,
            )?;
        }
        buckets.finish()
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let Some(budget) = self.budget(scope).await? else {
            return Ok(None);
        };
        let window = budget.window(now)?;
        let mut con = self.con.clone();
        let reply: Vec<String> = self
            .scripts
            .status
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(scope.as_str())
            .arg(window.key())
            .arg(now.as_millisecond())
            .invoke_async(&mut con)
            .await
            .map_err(err)?;
        let [spend, held, fired] = <[String; 3]>::try_from(reply)
            .map_err(|r| ROWS.corrupt(format!("status reply {r:?}")))?;
        let lines: Vec<&str> = spend.lines().collect();
        let mut by_label = BTreeMap::new();
        for pair in lines.chunks(2) {
            let [label, amount] = pair else {
                return Err(ROWS.corrupt("spend hash"));
            };
            by_label.insert(ROWS.label(label)?, from_limbs(amount)?);
        }
        let fired = fired
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| ROWS.percent(s))
            .collect::<Result<Vec<u32>, _>>()?;
        status_of(budget, window, by_label, from_limbs(&held)?, fired).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn limbs_round_trip(p in 0i128..=i128::from(MAX_DOLLARS) * PICOS_PER_USD) {
            let u = Usd::from_picos(p);
            prop_assert_eq!(from_limbs(&limbs(u).unwrap()).unwrap(), u);
        }

        #[test]
        fn amounts_past_the_exact_range_are_refused(p in i128::from(MAX_DOLLARS) * PICOS_PER_USD + 1..i128::MAX) {
            prop_assert_eq!(limbs(Usd::from_picos(p)).unwrap_err().code(), "amount_out_of_range");
        }
    }

    /// The Lua side uses the same bound as this file.
    #[test]
    fn the_bounds_keep_lua_exact() {
        let lua = include_str!("lua/common.lua");
        assert!(
            lua.contains(&format!("local MAXT = {MAX_TOTAL}\n")),
            "common.lua agrees"
        );
    }
}

//! `byok budget`: set and inspect budgets, reserve, settle and release by hand.

use std::process::ExitCode;
use std::sync::Arc;

use byok::guard::{
    Admission, Budget, CallRequest, Denied, Guard, Label, Ledger, Period, Prompt, ReservationId,
    Scope, SettleOutcome, Usd, ledger,
};
use clap::Subcommand;

use crate::cost::{guard_error, prices, read_usage};
use crate::output::{self, CliError, errln, outln};

/// Arguments of `byok budget`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Ledger URL: memory:, sqlite:PATH, postgres://…, redis://… [default: $BYOK_LEDGER, else sqlite:byok-ledger.db].
    #[arg(long)]
    ledger: Option<String>,
    /// One JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create or replace a budget.
    Set {
        /// The scope (workspace:ID, project:ID, key:ID or any string).
        #[arg(long)]
        scope: String,
        /// The hard limit per period in dollars (e.g. 25 or 0.50).
        #[arg(long)]
        limit_usd: String,
        /// day, week, month or total.
        #[arg(long, default_value = "month")]
        period: String,
        /// IANA time zone of calendar periods.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Alert thresholds in percent, comma-separated (e.g. 50,80,100).
        #[arg(long, value_delimiter = ',')]
        alerts: Vec<u32>,
    },
    /// Limit, spend by label, held, remaining and period end of a budget.
    Status {
        /// The scope.
        #[arg(long)]
        scope: String,
    },
    /// Settled spend per calendar day of the budget's time zone, by label, today last.
    History {
        /// The scope.
        #[arg(long)]
        scope: String,
        /// How many days, today included (1 to 400).
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Hold budget room: a dollar amount, or a model call's worst case (prompt on stdin).
    Reserve {
        /// Every scope the spend counts against (repeat the flag).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Hold this many dollars.
        #[arg(long, conflicts_with = "model")]
        usd: Option<String>,
        /// Hold the worst-case cost of a call to this model.
        #[arg(long)]
        model: Option<String>,
        /// Prompt tokens, instead of reading the prompt from stdin.
        #[arg(long, value_parser = crate::cost::token_count, requires = "model")]
        input_tokens: Option<u64>,
        /// The call's output cap.
        #[arg(long, value_parser = crate::cost::token_count, requires = "model")]
        max_output_tokens: Option<u64>,
        /// Seconds until the hold lapses if never settled or released (at least 60; longer than the call).
        #[arg(long, default_value_t = 600)]
        ttl_secs: u32,
    },
    /// Replace a hold with the actual cost, exactly once.
    Settle {
        /// The reservation id.
        #[arg(long)]
        id: String,
        /// The actual cost in dollars.
        #[arg(long, conflicts_with = "usage")]
        usd: Option<String>,
        /// The label of --usd: estimated, verified_by_provider, pending_provider_sync, unavailable.
        #[arg(long, default_value = "estimated")]
        label: String,
        /// A usage object or response body (`-` for stdin), priced for --model.
        #[arg(long, requires = "model")]
        usage: Option<String>,
        /// The model of --usage.
        #[arg(long)]
        model: Option<String>,
    },
    /// Give a hold back (the call failed or was cancelled).
    Release {
        /// The reservation id.
        #[arg(long)]
        id: String,
    },
}

pub(crate) fn run(args: Args) -> ExitCode {
    let json = args.json;
    match output::block_on(act(args)).and_then(|r| r) {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(json),
    }
}

/// The ledger `--ledger` names, else `$BYOK_LEDGER`, else `sqlite:byok-ledger.db`:
/// the one way every command that spends (`budget`, `call`) finds it.
pub(crate) async fn open_ledger(flag: Option<&str>) -> Result<Arc<dyn Ledger>, CliError> {
    // The URL may carry a password: it can come from the environment instead of argv.
    let url = flag
        .map(str::to_owned)
        .or_else(|| std::env::var("BYOK_LEDGER").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "sqlite:byok-ledger.db".to_owned());
    ledger::open(&url).await.map_err(guard_error)
}

fn scope(s: &str) -> Result<Scope, CliError> {
    Scope::custom(s).map_err(guard_error)
}

fn no_budget(s: &Scope) -> CliError {
    CliError::new("budget_not_found", format!("no budget for scope {s}"))
        .hint("create one with `byok budget set --scope … --limit-usd …`")
}

fn usd(s: &str) -> Result<Usd, CliError> {
    s.parse::<Usd>().map_err(guard_error)
}

async fn act(args: Args) -> Result<u8, CliError> {
    let json = args.json;
    let ledger = open_ledger(args.ledger.as_deref()).await?;
    match args.action {
        Action::Set {
            scope: s,
            limit_usd,
            period,
            time_zone,
            alerts,
        } => {
            let period: Period = period.parse().map_err(guard_error)?;
            let budget = Budget::new(scope(&s)?, usd(&limit_usd)?, period)
                .time_zone(time_zone)
                .alerts(alerts);
            ledger.put_budget(&budget).await.map_err(guard_error)?;
            if json {
                output::print_json(&serde_json::json!({ "budget": budget }));
            } else {
                outln!(
                    "budget {} set: ${} per {}",
                    budget.scope,
                    budget.limit,
                    period.as_str()
                );
            }
            Ok(output::OK)
        }
        Action::Status { scope: s } => {
            let s = scope(&s)?;
            let Some(st) = Guard::new(ledger).status(&s).await.map_err(guard_error)? else {
                return Err(no_budget(&s));
            };
            if json {
                output::print_json(&serde_json::to_value(&st).unwrap_or_default());
            } else {
                outln!(
                    "{}: limit ${} per {}",
                    s,
                    st.budget.limit,
                    st.budget.period.as_str()
                );
                outln!(
                    "  spent ${} (held ${}), remaining ${}",
                    st.spent,
                    st.held,
                    st.remaining
                );
                for (label, amount) in &st.spent_by_label {
                    outln!("  {}: ${amount}", label.human());
                }
                if let Some(end) = st.period_end {
                    outln!("  period ends {end}");
                }
            }
            Ok(output::OK)
        }
        Action::History { scope: s, days } => {
            let s = scope(&s)?;
            let Some(history) = Guard::new(ledger)
                .daily_spend(&s, days)
                .await
                .map_err(guard_error)?
            else {
                return Err(no_budget(&s));
            };
            if json {
                output::print_json(&serde_json::to_value(&history).unwrap_or_default());
            } else {
                outln!("{}: spend per day ({})", s, history.time_zone);
                for day in &history.days {
                    let d = &day.spend;
                    let labels: Vec<String> = d
                        .calls_by_label
                        .iter()
                        .map(|(label, n)| match d.spent_by_label.get(label) {
                            Some(usd) => format!("{}: ${usd} ({n})", label.human()),
                            None if *label == Label::Unavailable => {
                                format!("{}: {n} calls, no price known", label.human())
                            }
                            None => format!("{}: $0 ({n})", label.human()),
                        })
                        .collect();
                    outln!(
                        "  {}  {:>4} calls  ${}{}",
                        day.date,
                        d.calls,
                        d.spent,
                        if labels.is_empty() {
                            String::new()
                        } else {
                            format!("  {}", labels.join(", "))
                        }
                    );
                }
            }
            Ok(output::OK)
        }
        Action::Reserve {
            scopes,
            usd: amount,
            model,
            input_tokens,
            max_output_tokens,
            ttl_secs,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| scope(s))
                .collect::<Result<Vec<_>, _>>()?;
            let guard =
                Guard::new(ledger).with_ttl(std::time::Duration::from_secs(u64::from(ttl_secs)));
            let admission = match (amount, model) {
                (Some(a), None) => guard.reserve_amount(&scopes, usd(&a)?).await,
                (None, Some(m)) => {
                    let stdin;
                    let prompt = match input_tokens {
                        Some(n) => Prompt::Tokens(n),
                        None => {
                            stdin = output::read_stdin()?;
                            Prompt::Text(std::str::from_utf8(&stdin).map_err(|_| {
                                CliError::new(
                                    "invalid_prompt",
                                    "the prompt on stdin is not UTF-8 text",
                                )
                            })?)
                        }
                    };
                    let call = CallRequest {
                        scopes,
                        model: &m,
                        prompt,
                        max_output_tokens,
                    };
                    guard.reserve(&call).await
                }
                _ => {
                    return Err(CliError::new("missing_amount", "nothing to reserve")
                        .hint("pass --usd AMOUNT or --model MODEL"));
                }
            }
            .map_err(guard_error)?;
            match admission {
                Admission::Reserved(r) => {
                    if json {
                        output::print_json(&serde_json::json!({
                            "reserved": true, "id": r.id.to_string(), "usd": r.amount.to_string(),
                            "budgets": r.budgets, "uncovered": r.uncovered,
                            "expires_at": r.expires_at.to_string(),
                        }));
                    } else {
                        outln!(
                            "reserved ${} as {} (expires {})",
                            r.amount,
                            r.id,
                            r.expires_at
                        );
                        if !r.uncovered.is_empty() {
                            let names: Vec<&str> = r.uncovered.iter().map(Scope::as_str).collect();
                            let what = if r.budgets.is_empty() {
                                "nothing limits this reservation"
                            } else {
                                "only the other scopes' budgets limit it"
                            };
                            errln!(
                                "warning[uncovered_scope]: no budget covers {}: {what}; set one with `byok budget set --scope …`",
                                names.join(", ")
                            );
                        }
                    }
                    Ok(output::OK)
                }
                Admission::Denied(d) => {
                    print_denied(&d, json);
                    Ok(output::NEGATIVE)
                }
            }
        }
        Action::Settle {
            id,
            usd: amount,
            label,
            usage,
            model,
        } => {
            let id: ReservationId = id.parse().map_err(guard_error)?;
            let guard = Guard::new(ledger);
            let outcome = match (amount, usage, model) {
                (Some(a), None, _) => {
                    let label: Label = label.parse().map_err(|_| {
                        CliError::new("invalid_label", format!("unknown label {label:?}"))
                            .hint("use estimated, verified_by_provider, pending_provider_sync or unavailable")
                    })?;
                    guard.settle_amount(id, usd(&a)?, label).await
                }
                (None, Some(u), Some(m)) => {
                    let usage = read_usage(&u)?;
                    let cost = prices(None)?.cost(&m, &usage).map_err(guard_error)?;
                    let Some(amount) = cost.usd else {
                        return Err(CliError::new("cost_unavailable", format!("no price known for {m}"))
                            .hint("settle with --usd AMOUNT --label unavailable"));
                    };
                    guard.settle_amount(id, amount, cost.label).await
                }
                _ => {
                    return Err(CliError::new("missing_amount", "nothing to settle")
                        .hint("pass --usd AMOUNT, or --usage FILE --model MODEL"));
                }
            }
            .map_err(guard_error)?;
            let (settled, alerts, over_limit) = match outcome {
                SettleOutcome::Settled { alerts, over_limit } => (true, alerts, over_limit),
                SettleOutcome::AlreadySettled => (false, Vec::new(), Vec::new()),
            };
            if json {
                output::print_json(&serde_json::json!({
                    "settled": settled, "already_settled": !settled, "id": id.to_string(), "alerts": alerts,
                    "over_limit": over_limit,
                }));
            } else {
                outln!(
                    "{}",
                    if settled {
                        "settled"
                    } else {
                        "already settled: nothing changed"
                    }
                );
                for a in alerts {
                    outln!(
                        "alert: {} reached {}% of ${} (spent ${})",
                        a.scope,
                        a.percent,
                        a.limit,
                        a.spent
                    );
                }
                for o in &over_limit {
                    errln!("warning[over_limit]: {}", o.message());
                }
            }
            Ok(output::OK)
        }
        Action::Release { id } => {
            let id: ReservationId = id.parse().map_err(guard_error)?;
            let outcome = Guard::new(ledger).release(id).await.map_err(guard_error)?;
            let released = outcome == byok::guard::ReleaseOutcome::Released;
            if json {
                output::print_json(&serde_json::json!({
                    "released": released, "already_released": !released, "id": id.to_string(),
                }));
            } else {
                outln!(
                    "{}",
                    if released {
                        "released"
                    } else {
                        "already released: nothing changed"
                    }
                );
            }
            Ok(output::OK)
        }
    }
}

fn print_denied(d: &Denied, json: bool) {
    if json {
        output::print_json(&serde_json::json!({
            "reserved": false, "denied": d,
        }));
    } else {
        let needed = d
            .needed
            .map_or_else(|| "an unknown amount".to_owned(), |n| format!("${n}"));
        outln!(
            "denied by budget {}: limit ${}, spent ${}, reserved ${}, needed {needed}",
            d.budget,
            d.limit,
            d.spent,
            d.reserved
        );
    }
}

//! Race many tasks (run several copies at once for many processes) on one
//! budget and show that admissions stop exactly at the limit.
//!
//! ```text
//! cargo run --release --all-features --example budget_race -- \
//!     --ledger URL --scope S --budget-usd 1 --each-usd 0.001 --tasks 32 --per-task 100
//! ```
//!
//! Creates the budget (total period) if absent, runs `tasks` concurrent tasks
//! each calling `reserve_amount` `per-task` times — never settling or
//! releasing — and prints one JSON line `{"admitted":N,"denied":M,"ops_per_sec":X}`.
//! Several processes started at once on one ledger and scope admit exactly
//! `budget / each` in total.

use std::process::ExitCode;
use std::time::Instant;

use byok::guard::{Admission, Budget, Guard, Period, Scope, Usd, ledger};

struct Args {
    ledger: String,
    scope: String,
    budget: Usd,
    each: Usd,
    tasks: usize,
    per_task: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ledger: "memory:".into(),
        scope: "budget-race".into(),
        budget: Usd::from_dollars(1),
        each: Usd::from_picos(1_000_000_000),
        tasks: 32,
        per_task: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: {v:?} is not a count"))
        };
        let money = |v: &str| v.parse::<Usd>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--ledger" => args.ledger = value,
            "--scope" => args.scope = value,
            "--budget-usd" => args.budget = money(&value)?,
            "--each-usd" => args.each = money(&value)?,
            "--tasks" => args.tasks = number(&value)?,
            "--per-task" => args.per_task = number(&value)?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("budget_race: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("budget_race: error[{}]: {e}", e.code());
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<String, byok::guard::GuardError> {
    let ledger = ledger::open(&args.ledger).await?;
    let scope = Scope::custom(args.scope)?;
    if ledger.budget(&scope).await?.is_none() {
        ledger
            .put_budget(&Budget::new(scope.clone(), args.budget, Period::Total))
            .await?;
    }
    let guard = Guard::new(ledger);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(args.tasks);
    for _ in 0..args.tasks {
        let (guard, scopes, each, n) =
            (guard.clone(), vec![scope.clone()], args.each, args.per_task);
        handles.push(tokio::spawn(async move {
            let (mut admitted, mut denied) = (0u64, 0u64);
            for _ in 0..n {
                match guard.reserve_amount(&scopes, each).await? {
                    Admission::Reserved(_) => admitted += 1,
                    Admission::Denied(_) => denied += 1,
                }
            }
            Ok::<_, byok::guard::GuardError>((admitted, denied))
        }));
    }
    let (mut admitted, mut denied) = (0u64, 0u64);
    for h in handles {
        let (a, d) = h.await.expect("race task panicked")?;
        admitted += a;
        denied += d;
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = (admitted + denied) as f64 / secs.max(1e-9);
    Ok(format!(
        "{{\"admitted\":{admitted},\"denied\":{denied},\"ops_per_sec\":{ops:.1}}}"
    ))
}

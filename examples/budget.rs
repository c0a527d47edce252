//! Budgets that cannot be overspent, and costs that say how sure they are.
//!
//! `cargo run --example budget` — an embedded SQLite ledger in a temporary
//! directory, no setup. The same code runs on PostgreSQL or Redis by changing
//! the ledger URL (`postgres://…`, `redis://…`).

use byok::guard::{
    Actual, Admission, Budget, CallRequest, Guard, Period, PriceBook, Prompt, Scope, Usage, Usd,
    ledger,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("byok-budget-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite:{}", dir.join("ledger.db").display());
    let guard = Guard::new(ledger::open(&url).await?);

    // A key may spend 2 cents a day inside a project that may spend $1 a month.
    let (key, project) = (Scope::key("key-1"), Scope::project("support-bot"));
    guard
        .set_budget(
            &Budget::new(project.clone(), Usd::from_dollars(1), Period::Month)
                .alerts([50, 80, 100]),
        )
        .await?;
    guard
        .set_budget(
            &Budget::new(key.clone(), "0.02".parse::<Usd>()?, Period::Day)
                .time_zone("Europe/Paris"),
        )
        .await?;

    println!("== Reserve the worst case before calling, settle the real cost after ==\n");
    let prompt =
        "Summarise this support ticket in one sentence: the customer cannot log in since Tuesday.";
    let call = CallRequest {
        scopes: vec![key.clone(), project.clone()],
        model: "gpt-4o",
        prompt: Prompt::Text(prompt),
        max_output_tokens: Some(400),
    };
    let Admission::Reserved(hold) = guard.reserve(&call).await? else {
        unreachable!("an empty budget admits the first call")
    };
    println!(
        "held ${} on {} budgets (worst case: every one of 400 output tokens used)",
        hold.amount,
        hold.budgets.len()
    );

    // What OpenAI answered (only the usage object matters here).
    let body = r#"{"id":"chatcmpl-1","object":"chat.completion","usage":{"prompt_tokens":31,"completion_tokens":18,"total_tokens":49,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
    let usage = Usage::from_json(body)?;
    guard.settle(&hold, Actual::Usage(usage)).await?;
    let cost = PriceBook::embedded().cost("gpt-4o", &usage)?;
    println!(
        "settled: ${} ({})",
        cost.usd.map(|u| u.to_string()).unwrap_or_default(),
        cost.label.human()
    );

    println!("\n== A call that would break the key's daily budget is refused up front ==\n");
    let big = CallRequest {
        max_output_tokens: Some(16_000),
        ..call.clone()
    };
    match guard.reserve(&big).await? {
        Admission::Denied(d) => println!(
            "denied by {}: limit ${}, spent ${}, held ${}, needed ${}",
            d.budget,
            d.limit,
            d.spent,
            d.reserved,
            d.needed
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into())
        ),
        Admission::Reserved(r) => println!("unexpectedly admitted: {r:?}"),
    }

    println!("\n== An unknown model has no price: never counted as $0 ==\n");
    let unknown = PriceBook::embedded().cost("my-finetune-2027", &usage)?;
    println!(
        "cost of my-finetune-2027: {} ({})",
        unknown
            .usd
            .map(|u| u.to_string())
            .unwrap_or_else(|| "n/a".into()),
        unknown.label.human()
    );
    let odd = CallRequest {
        model: "my-finetune-2027",
        ..call.clone()
    };
    if let Admission::Denied(d) = guard.reserve(&odd).await? {
        println!(
            "reserving for it: denied ({:?}) unless the guard is configured to hold a fixed amount",
            d.reason
        );
    }

    println!("\n== Where each budget stands ==\n");
    for scope in [&key, &project] {
        let s = guard.status(scope).await?.expect("budget set above");
        println!(
            "{scope}: limit ${} spent ${} held ${} remaining ${} (period ends {})",
            s.budget.limit,
            s.spent,
            s.held,
            s.remaining,
            s.period_end
                .map(|t| t.to_string())
                .unwrap_or_else(|| "never".into())
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

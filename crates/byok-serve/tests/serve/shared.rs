//! Two servers on one PostgreSQL vault and one Redis ledger, as two `byok
//! serve` processes of one deployment are (in-process `Server`s on two ports,
//! each with its own store and ledger connections): a key added through one is
//! used by the other's proxy, and 2 × 1,000 proxied calls racing on one budget
//! through both admit exactly what fits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use byok::guard::Usd;
use byok::keys::{KeyKind, Provider};
use byok_serve::TokenScope;
use serde_json::json;

use crate::common::{Backend, Harness, key, postgres_url, redis_url};

const CALLS: usize = 1000;
/// Calls the budget has room for.
const FITS: u64 = 150;

fn times(usd: Usd, n: u64) -> Usd {
    (0..n).fold(Usd::ZERO, |sum, _| sum.checked_add(usd).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_and_redis_share_keys_and_one_budget() {
    let test = "two_servers_on_one_postgres_and_redis_share_keys_and_one_budget";
    let (Some(pg), Some(redis)) = (postgres_url(test), redis_url(test)) else {
        return;
    };
    let a = Harness::start_with(Backend::Postgres, Some(pg), &redis, &[]).await;
    let b = a.twin().await;
    let ws = a.workspace("twin").await;
    // A key added through A's API (tested before it is saved)...
    let (status, added) = a
        .call(
            "POST",
            &format!("/v1/workspaces/{ws}/keys"),
            Some(&a.admin),
            Some(json!({"key": key(Provider::OpenAi, KeyKind::Project, 0), "label": "main"})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["key"]["id"].as_str().unwrap().to_owned();
    a.budget(&ws, Some("1000")).await;
    // ...answers B's proxied call, with A's app token.
    let app = a.token(TokenScope::App, Some(&ws)).await;
    let body = json!({"model": "gpt-4o-mini", "max_completion_tokens": 5,
                      "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]});
    let auth = [("authorization".to_owned(), format!("Bearer {app}"))];
    let path = "/proxy/openai/v1/chat/completions";
    let (status, headers, answer) = a.post_raw(&format!("{}{path}", b.url), &auth, &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(headers["x-byok-key-id"].to_str().unwrap(), id);
    let one = Usd::parse(headers["x-byok-cost-usd"].to_str().unwrap()).unwrap();
    assert_eq!(
        a.budget(&ws, None).await,
        (one, Usd::ZERO),
        "A sees B's spend"
    );

    // Room for FITS more calls; 2 × 1,000 race for it through both servers.
    let limit = times(one, FITS + 1);
    a.budget(&ws, Some(&limit.to_string())).await;
    let admitted = Arc::new(AtomicUsize::new(0));
    let denied = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for n in 0..2 * CALLS {
        let url = format!("{}{path}", if n % 2 == 0 { &a.url } else { &b.url });
        let (client, gate, body, app) = (client.clone(), gate.clone(), body.clone(), app.clone());
        let (admitted, denied) = (admitted.clone(), denied.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let answer = client
                .post(&url)
                .bearer_auth(&app)
                .json(&body)
                .send()
                .await
                .unwrap();
            match answer.status().as_u16() {
                200 => admitted.fetch_add(1, Ordering::Relaxed),
                402 => denied.fetch_add(1, Ordering::Relaxed),
                other => panic!("{other}: {}", answer.text().await.unwrap_or_default()),
            };
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let admitted = admitted.load(Ordering::Relaxed) as u64;
    let denied = denied.load(Ordering::Relaxed) as u64;
    assert_eq!(admitted + denied, 2 * CALLS as u64);
    let (spent, held) = a.budget(&ws, None).await;
    assert_eq!(held, Usd::ZERO, "no hold left");
    // Every admitted call settled exactly once, at its cost; never past the limit.
    assert_eq!(spent, times(one, admitted + 1), "{admitted} admitted");
    assert!(spent <= limit);
    // A call holds its worst case, which is its cost here (the output is cut
    // at its cap; the input is counted as the mock counts it): exactly FITS fit.
    assert_eq!(admitted, FITS, "admitted {admitted}, denied {denied}");
    b.stop().await;
    a.stop().await;
}

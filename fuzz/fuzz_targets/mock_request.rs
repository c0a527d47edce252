//! byok-testkit's mock providers on any request: the first byte picks the
//! provider and the scenario, then `METHOD TARGET` on the first line, headers
//! `name: value` until a blank line, the rest the body (any bytes, JSON or not).
//! Never panics; every answer has a status a provider sends.
#![no_main]

use byok_keys::Provider;
use byok_testkit::{Scenario, fuzz_answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let provider = Provider::ALL[usize::from(pick % 3)];
    let scenarios: Vec<Scenario> = Scenario::catalogue()
        .into_iter()
        .filter(|s| s.supported_by(provider) && *s != Scenario::Hang)
        .collect();
    let scenario = scenarios[usize::from(pick / 3) % scenarios.len()].clone();
    let split = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(rest.len());
    let (head, body) = rest.split_at(split);
    let body = body.get(2..).unwrap_or_default().to_vec();
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or(("POST", first));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let (status, _) = fuzz_answer(provider, scenario, method, target, headers, body);
    assert!((200..600).contains(&status), "{status}");
});

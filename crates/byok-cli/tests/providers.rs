//! Every provider through every command that takes one: `inspect`, `scan`,
//! `test` and `vault add|list` against the provider's testkit mock, and `cost`
//! at the provider's own price (or the cost it reported).

mod common;

use byok::keys::{KeyKind, Provider, fake};
use byok_testkit::MockBuilder;
use byok_testkit::compat::priced_model;
use common::{assert_no_leak, byok, byok_with, json_line, json_lines};
use serde_json::{Value, json};

/// The parameters `provider`'s key of `kind` needs, as `--param` arguments.
fn params(provider: Provider, kind: KeyKind) -> Vec<&'static str> {
    match (provider, kind) {
        (Provider::AzureOpenAi, _) => vec![
            "--param",
            "resource=canary-res",
            "--param",
            "deployment=gpt-4o-mini",
        ],
        (Provider::Bedrock, KeyKind::LongTerm) => vec!["--param", "region=us-east-1"],
        _ => vec![],
    }
}

/// A key of every kind `provider` issues (a Bedrock short-term one is a token
/// that decodes to its region and expiry).
fn keys_of(provider: Provider, seed: u64) -> Vec<(KeyKind, String)> {
    provider
        .spec()
        .kinds
        .iter()
        .map(|&kind| {
            let key = if kind == KeyKind::ShortTerm {
                fake::bedrock_short_term(
                    seed,
                    "us-west-2",
                    fake::short_term_issued(),
                    std::time::Duration::from_secs(3600),
                )
            } else {
                fake::key(provider, kind, seed)
            };
            (kind, key)
        })
        .collect()
}

#[test]
fn every_provider_is_inspected_and_scanned_with_its_kind() {
    for provider in Provider::ALL {
        for (kind, key) in keys_of(provider, 7) {
            let what = format!("{provider} {kind:?}");
            // Named, every shape is recognised as the provider's.
            let out = byok(
                &["inspect", "--json", "--provider", provider.as_str()],
                &key,
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{what}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let j = json_line(&out);
            assert_eq!(j["provider"], provider.as_str(), "{what}");
            assert_eq!(j["kind"], kind.as_str(), "{what}");
            assert_no_leak(&out, &[&key]);

            // In a file: found with its own prefix, or beside the provider's
            // keyword when it has none.
            let line = match provider.spec().context_keywords.first() {
                Some(kw) => format!("{kw}_api_key = \"{key}\"\n"),
                None => format!("API_KEY=\"{key}\"\n"),
            };
            let out = byok(&["scan", "--json"], format!("# config\n{line}"));
            assert_eq!(out.status.code(), Some(1), "{what}: a key found exits 1");
            let found = json_lines(&out);
            assert_eq!(found.len(), 1, "{what}: {found:?}");
            assert_eq!(found[0]["provider"], provider.as_str(), "{what}");
            assert_eq!(found[0]["kind"], kind.as_str(), "{what}");
            assert_no_leak(&out, &[&key]);
        }
    }
}

#[test]
fn every_provider_is_tested_and_vaulted_against_its_mock() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault.db");
    let vault = vault.to_str().unwrap();
    let master = byok::store::MasterKey::generate().unwrap();
    let master = byok::keys::ExposeSecret::expose_secret(&master.to_base64()).to_owned();
    for provider in Provider::ALL {
        let mock = rt.block_on(MockBuilder::new(provider).start());
        let uri = mock.uri();
        let (kind, key) = keys_of(provider, 11)
            .into_iter()
            .find(|(k, _)| *k != KeyKind::Admin)
            .unwrap();
        let what = format!("{provider} {kind:?}");
        let extra = params(provider, kind);

        let mut args = vec![
            "test",
            "--provider",
            provider.as_str(),
            "--base-url",
            &uri,
            "--json",
        ];
        args.extend(&extra);
        let out = byok(&args, &key);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(json_line(&out)["verdict"], "valid", "{what}");
        assert_eq!(json_line(&out)["provider"], provider.as_str(), "{what}");
        assert_no_leak(&out, &[&key]);
        let sent = rt.block_on(mock.requests()).len();
        assert!(sent >= 1, "{what}: the mock was asked");

        let ws = format!("ws-{provider}");
        let mut args = vec![
            "vault",
            "--vault",
            vault,
            "add",
            "--json",
            "--workspace",
            &ws,
            "--provider",
            provider.as_str(),
            "--label",
            "main",
            "--base-url",
            &uri,
        ];
        args.extend(&extra);
        let out = byok_with(&args, &key, &[("BYOK_MASTER_KEY", &master)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let added = &json_lines(&out)[0];
        assert_eq!(added["verdict"], "valid", "{what}: tested before saving");
        assert_eq!(added["last_verdict"], "valid", "{what}: kept on the record");
        assert_no_leak(&out, &[&key]);
        assert!(
            rt.block_on(mock.requests()).len() > sent,
            "{what}: Test before saving"
        );
        let out = byok_with(
            &[
                "vault",
                "--vault",
                vault,
                "list",
                "--json",
                "--workspace",
                &ws,
            ],
            "",
            &[("BYOK_MASTER_KEY", &master)],
        );
        let listed = json_lines(&out);
        assert_eq!(listed.len(), 1, "{what}");
        assert_eq!(listed[0]["provider"], provider.as_str(), "{what}");
        assert_eq!(listed[0]["kind"], kind.as_str(), "{what}");
        assert_no_leak(&out, &[&key]);
    }
    let file = std::fs::read(dir.path().join("vault.db")).unwrap();
    for provider in Provider::ALL {
        let key = &keys_of(provider, 11)[0].1;
        assert!(
            !file.windows(key.len()).any(|w| w == key.as_bytes()),
            "{provider}: the vault file holds no key"
        );
    }
}

fn cost(args: &[&str], stdin: &str) -> Value {
    let mut all = vec!["cost", "--json"];
    all.extend_from_slice(args);
    let out = byok(&all, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    json_line(&out)
}

#[test]
fn every_provider_is_priced_at_its_own_rate_or_its_reported_cost() {
    for provider in Provider::ALL {
        let model = priced_model(provider);
        let c = cost(
            &[
                "--provider",
                provider.as_str(),
                "--model",
                &model,
                "--input-tokens",
                "1000",
                "--output-tokens",
                "1000",
            ],
            "",
        );
        assert_eq!(c["label"], "estimated", "{provider} {model}");
        assert!(c["usd"].is_string(), "{provider} {model}: {c}");
        assert_eq!(c["provider"], provider.as_str());

        // The worst case before the call, at the same provider's price.
        let args = [
            "estimate",
            "--json",
            "--provider",
            provider.as_str(),
            "--model",
            &model,
            "--max-output-tokens",
            "100",
        ];
        let out = byok(&args, "Say hello to the world");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{provider}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let e = json_line(&out);
        assert_eq!(e["provider"], provider.as_str());
        assert!(e["usd"].is_string(), "{provider} {model}: {e}");
        assert!(e["input_tokens"].as_u64().unwrap() > 0, "{provider}: {e}");
    }
    // A model another provider prices is not priced here.
    let c = cost(
        &[
            "--provider",
            "mistral",
            "--model",
            "llama-3.1-8b-instant",
            "--input-tokens",
            "1",
            "--output-tokens",
            "1",
        ],
        "",
    );
    assert_eq!(
        (c["usd"].clone(), c["label"].clone()),
        (Value::Null, json!("unavailable"))
    );

    // What the provider reported is the cost, exactly.
    let usage = |extra: Value| {
        let mut u = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
        u.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"id": "x", "usage": u}).to_string()
    };
    for (provider, model, body, usd) in [
        (
            "xai",
            "grok-3-mini",
            usage(json!({"cost_in_usd_ticks": 158_500})),
            "0.00001585",
        ),
        (
            "openrouter",
            "openai/gpt-4.1-nano",
            usage(json!({"cost": 0.000_123})),
            "0.000123",
        ),
        (
            "perplexity",
            "sonar",
            usage(json!({"cost": {"total_cost": 0.005_015}})),
            "0.005015",
        ),
    ] {
        let c = cost(
            &["--provider", provider, "--model", model, "--usage", "-"],
            &body,
        );
        assert_eq!(c["usd"], usd, "{provider}");
        assert_eq!(c["label"], "verified_by_provider", "{provider}");
    }
    // The same body from a provider that reports nothing is priced from its usage.
    let c = cost(
        &[
            "--provider",
            "groq",
            "--model",
            "llama-3.1-8b-instant",
            "--usage",
            "-",
        ],
        &usage(json!({"cost_in_usd_ticks": 158_500})),
    );
    assert_eq!(c["label"], "estimated");

    // Read in the provider's own shape: Cohere bills `billed_units`, Bedrock's
    // `inputTokens` excludes the cache.
    let flags = |provider: &str, model: &str, cached: &str| {
        cost(
            &[
                "--provider",
                provider,
                "--model",
                model,
                "--input-tokens",
                "1000",
                "--output-tokens",
                "500",
                "--cached-input-tokens",
                cached,
            ],
            "",
        )["usd"]
            .clone()
    };
    let cohere = json!({"message": {}, "usage": {"billed_units": {"input_tokens": 1000, "output_tokens": 500},
        "tokens": {"input_tokens": 1234, "output_tokens": 600}}});
    let model = priced_model(Provider::Cohere);
    assert_eq!(
        cost(
            &["--provider", "cohere", "--model", &model, "--usage", "-"],
            &cohere.to_string()
        )["usd"],
        flags("cohere", &model, "0")
    );
    let converse = json!({"output": {}, "usage": {"inputTokens": 1000, "outputTokens": 500,
        "cacheReadInputTokens": 200, "totalTokens": 1700}});
    let model = priced_model(Provider::Bedrock);
    assert_eq!(
        cost(
            &["--provider", "bedrock", "--model", &model, "--usage", "-"],
            &converse.to_string()
        )["usd"],
        flags("bedrock", &model, "200")
    );
}

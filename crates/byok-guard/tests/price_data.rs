//! The embedded price file stays in step with `../shared/data/model_prices.json`.
//!
//! Regenerate after the shared file changes:
//! `cargo test -p byok-guard --test price_data -- --ignored`.

use std::path::PathBuf;

fn shared_file() -> PathBuf {
    match std::env::var_os("BYOK_LITELLM_PRICES") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/model_prices.json")
        }
    }
}

fn embedded_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/model_prices.json")
}

#[test]
fn embedded_prices_match_the_shared_litellm_file() {
    let src = shared_file();
    let Ok(json) = std::fs::read_to_string(&src) else {
        eprintln!(
            "SKIPPED (no {}; set BYOK_LITELLM_PRICES): embedded_prices_match_the_shared_litellm_file",
            src.display()
        );
        return;
    };
    let expected = byok_guard::price::litellm_subset(&json).expect("shared file is LiteLLM JSON");
    let actual = std::fs::read_to_string(embedded_file()).expect("embedded file exists");
    assert!(
        expected == actual,
        "crates/byok-guard/data/model_prices.json is stale; run \
         `cargo test -p byok-guard --test price_data -- --ignored` to regenerate it"
    );
}

#[test]
#[ignore = "writes crates/byok-guard/data/model_prices.json from the shared LiteLLM file"]
fn regenerate_embedded_prices() {
    let json = std::fs::read_to_string(shared_file()).expect("shared LiteLLM file is readable");
    let subset = byok_guard::price::litellm_subset(&json).expect("shared file is LiteLLM JSON");
    std::fs::write(embedded_file(), subset).expect("write embedded file");
}

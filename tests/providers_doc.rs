//! docs/PROVIDERS.md's provider table stays true to the specs: one row per
//! provider, its code, and the capabilities the spec declares (key-info probe,
//! reported cost, a key that identifies its provider).

use byok::keys::Provider;
use byok::keys::spec::Detect;

const DOC: &str = include_str!("../docs/PROVIDERS.md");

/// The rows of the table under "## Providers and what byok does with each".
fn rows() -> Vec<Vec<String>> {
    let section = DOC
        .split("## Providers and what byok does with each")
        .nth(1)
        .expect("docs/PROVIDERS.md has the provider table");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| provider"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn every_provider_has_a_row_true_to_its_spec() {
    let rows = rows();
    assert_eq!(rows.len(), Provider::ALL.len(), "one row per provider");
    for (row, provider) in rows.iter().zip(Provider::ALL) {
        let spec = provider.spec();
        assert_eq!(row.len(), 10, "{row:?}");
        assert_eq!(row[0], spec.display_name, "rows in Provider::ALL order");
        assert_eq!(row[1], format!("`{}`", spec.code));
        assert_eq!(
            row[4] != "—",
            spec.key_info.is_some(),
            "{}: the key-info column says what the spec declares",
            spec.code
        );
        assert_eq!(
            row[6] != "—",
            spec.reported_cost.is_some(),
            "{}: the reported-cost column",
            spec.code
        );
        // A provider whose keys carry no prefix is recognised only when named or near a keyword.
        let by_context = !spec.key_formats.is_empty()
            && spec
                .key_formats
                .iter()
                .all(|f| matches!(f.detect, Detect::Context));
        assert_eq!(
            row[2].contains("keyword"),
            by_context,
            "{}: the format-check column",
            spec.code
        );
        assert!(row[9].starts_with("`Mock"), "{}", spec.code);
    }
}

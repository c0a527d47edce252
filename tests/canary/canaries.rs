//! The canaries of these suites: `byok_testkit::canary::standard` (every shape
//! recognised alone, `fake::SHAPES`) plus the shapes that need their provider
//! named (`fake::NAMED_SHAPES`: DeepSeek, Mistral, Azure OpenAI, Cohere), which the
//! standard set leaves out. Without them a flow of those four providers would
//! search for keys the detector does not know, and pass vacuously.

use std::sync::LazyLock;

use byok::keys::fake::NAMED_SHAPES;
use byok_testkit::canary::standard::{self, SEEDS};
use byok_testkit::canary::{Canary, Detector, Leak};

pub(crate) use byok_testkit::canary::standard::{
    key, keys, master_key, near_miss_keys, passphrase,
};

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| {
    let mut all = standard::canaries();
    for n in 0..SEEDS.len() {
        for (provider, kind) in NAMED_SHAPES {
            all.push(Canary::api_key(
                format!("{provider} {kind} key #{n}"),
                &key(provider, kind, n),
            ));
        }
    }
    Detector::new(all)
});

/// The first canary form in `haystack`, if any.
pub(crate) fn find_leak(haystack: impl AsRef<[u8]>) -> Option<Leak> {
    DETECTOR.find(haystack)
}

/// Panic, naming the form and where, if `haystack` holds any canary form.
pub(crate) fn assert_clean(what: &str, haystack: impl AsRef<[u8]>) {
    DETECTOR.assert_clean(what, haystack);
}

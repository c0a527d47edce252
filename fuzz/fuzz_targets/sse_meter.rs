//! byok-guard's stream meter on any bytes: the first byte picks the format (and
//! whether the injected usage is hidden, and which provider the meter is told,
//! for its token counting and reported cost) and how the rest is cut into pieces,
//! fed one after another. Never panics; without hiding, the bytes passed on
//! are exactly the bytes fed, and the pieces give what one chunk gives.
#![no_main]

use byok_guard::meter::{StreamFormat, StreamMeter};
use byok_keys::Provider;
use libfuzzer_sys::fuzz_target;

const FORMATS: [StreamFormat; 7] = [
    StreamFormat::OpenAiChat,
    StreamFormat::OpenAiResponses,
    StreamFormat::Anthropic,
    StreamFormat::GeminiSse,
    StreamFormat::GeminiJsonArray,
    StreamFormat::CohereV2,
    StreamFormat::BedrockEventStream,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let format = FORMATS[usize::from(pick % 7)];
    // None, or one of the providers (those with a reported cost among them).
    let provider = match usize::from(pick >> 3) % (Provider::ALL.len() + 1) {
        0 => None,
        i => Some(Provider::ALL[i - 1]),
    };
    let hide = pick & 0x08 != 0;
    // Piece sizes from 1 to 16 bytes, chosen by the high bits of the first byte.
    let step = usize::from(pick >> 4) + 1;
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let meter = match provider {
            Some(p) => StreamMeter::for_provider(p, format, "gpt-4o", 7),
            None => StreamMeter::new(format, "gpt-4o", 7),
        };
        let mut meter = meter.hide_injected_usage(hide);
        let mut out = Vec::new();
        for piece in pieces {
            meter.feed(piece, &mut out);
        }
        let metered = meter.finish(&mut out);
        (metered, out)
    };
    let split = run(&mut rest.chunks(step));
    let whole = run(&mut std::iter::once(rest));
    assert_eq!(split, whole);
    if !hide {
        assert_eq!(split.1, rest);
    }
});

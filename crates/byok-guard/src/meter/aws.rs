//! Bedrock `ConverseStream`: the AWS event stream (`application/vnd.amazon.eventstream`),
//! binary frames read as they arrive.
//!
//! A frame is a 12-byte prelude (total length, headers length, both big-endian
//! `u32`, and the CRC-32 of those 8 bytes), the headers, the payload and the
//! CRC-32 of everything before it. Headers are `name-length u8, name, type u8,
//! value`; the meter reads the string ones (`:message-type`, `:event-type`,
//! `:exception-type`, `:error-code`) and skips the rest by their sizes. A frame
//! whose CRC fails is skipped; a prelude whose CRC fails means the framing is
//! lost, so the rest of the stream is not read (and counted as one skipped event).

use serde_json::Value;

use super::{MAX_EVENT, StreamMeter};
use crate::usage::{Usage, UsageFormat};

/// The prelude's length: total length, headers length, prelude CRC.
const PRELUDE: usize = 12;

/// Where the frame reader is.
#[derive(Debug, Default)]
pub(super) struct AwsState {
    /// The frame so far (its prelude first), when it spans feeds.
    frame: Vec<u8>,
    /// Bytes of a frame larger than [`MAX_EVENT`] still to pass over.
    skip: usize,
    /// A prelude's CRC failed: frame boundaries are unknown from here on.
    lost: bool,
}

/// What a frame's headers say.
#[derive(Debug, Default)]
struct Headers<'a> {
    message_type: Option<&'a str>,
    event_type: Option<&'a str>,
    exception_type: Option<&'a str>,
    error_code: Option<&'a str>,
}

impl StreamMeter {
    pub(super) fn feed_aws(&mut self, mut rest: &[u8]) {
        while !rest.is_empty() && !self.aws.lost {
            if self.aws.skip > 0 {
                let n = self.aws.skip.min(rest.len());
                self.aws.skip -= n;
                rest = &rest[n..];
                continue;
            }
            let have = self.aws.frame.len();
            let want = if have < PRELUDE {
                PRELUDE - have
            } else {
                frame_len(&self.aws.frame) - have
            };
            let n = want.min(rest.len());
            self.aws.frame.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.aws.frame.len() == PRELUDE {
                let p = &self.aws.frame;
                let total = frame_len(p);
                let headers = be32(&p[4..8]) as usize;
                if crc32(&p[..8]) != be32(&p[8..12])
                    || total < PRELUDE + 4
                    || headers > total - PRELUDE - 4
                {
                    self.aws.lost = true;
                    self.aws.frame = Vec::new();
                    self.skipped += 1;
                    return;
                }
                if total > MAX_EVENT {
                    self.aws.skip = total - PRELUDE;
                    self.aws.frame.clear();
                    self.skipped += 1;
                    continue;
                }
            }
            if self.aws.frame.len() >= PRELUDE && self.aws.frame.len() == frame_len(&self.aws.frame)
            {
                let frame = std::mem::take(&mut self.aws.frame);
                self.on_aws_frame(&frame);
                self.aws.frame = frame;
                self.aws.frame.clear();
            }
        }
    }

    /// The end: a frame not yet whole was cut; nothing in it is read.
    pub(super) fn finish_aws(&mut self) {
        if !self.aws.frame.is_empty() {
            self.skipped += 1;
            self.aws.frame = Vec::new();
        }
    }

    fn on_aws_frame(&mut self, frame: &[u8]) {
        let (body, crc) = frame.split_at(frame.len() - 4);
        if crc32(body) != be32(crc) {
            self.skipped += 1;
            return;
        }
        let headers_len = be32(&frame[4..8]) as usize;
        let Some(headers) = headers(&body[PRELUDE..PRELUDE + headers_len]) else {
            self.skipped += 1;
            return;
        };
        let payload = &body[PRELUDE + headers_len..];
        match headers.message_type.unwrap_or("event") {
            "exception" => {
                let code = headers.exception_type.unwrap_or("exception");
                self.error = Some(code.to_owned());
            }
            "error" => {
                let code = headers.error_code.unwrap_or("error");
                self.error = Some(code.to_owned());
            }
            _ => {
                let name = headers.event_type.unwrap_or("");
                match serde_json::from_slice::<Value>(payload) {
                    Ok(v) if v.is_object() => {
                        self.on_converse(name, &v);
                        self.count_if_full();
                    }
                    _ => self.skipped += 1,
                }
            }
        }
    }

    fn on_converse(&mut self, name: &str, v: &Value) {
        match name {
            "contentBlockDelta" => {
                for p in [
                    "/delta/text",
                    "/delta/toolUse/input",
                    "/delta/reasoningContent/text",
                ] {
                    if let Some(t) = v.pointer(p).and_then(Value::as_str) {
                        self.push_text(t);
                    }
                }
            }
            "messageStop" => self.complete = true,
            // After `messageStop`: the usage of the whole call.
            "metadata" => {
                self.complete = true;
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    match Usage::from_format(UsageFormat::Converse, u) {
                        Ok(u) => {
                            self.latest = Some(u);
                            self.reported = true;
                        }
                        Err(_) => self.skipped += 1,
                    }
                }
            }
            _ => {}
        }
    }
}

/// The total length a prelude (at least 8 bytes in) declares.
fn frame_len(prelude: &[u8]) -> usize {
    be32(&prelude[..4]) as usize
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The string headers the meter reads; `None` when the headers are malformed.
fn headers(mut h: &[u8]) -> Option<Headers<'_>> {
    let mut out = Headers::default();
    while !h.is_empty() {
        let name_len = usize::from(*h.first()?);
        let name = h.get(1..1 + name_len)?;
        let ty = *h.get(1 + name_len)?;
        h = &h[2 + name_len..];
        let fixed = match ty {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return None,
        };
        let value = match fixed {
            Some(n) => {
                let v = h.get(..n)?;
                h = &h[n..];
                v
            }
            None => {
                let len = usize::from(u16::from_be_bytes([*h.first()?, *h.get(1)?]));
                let v = h.get(2..2 + len)?;
                h = &h[2 + len..];
                v
            }
        };
        if ty == 7 {
            let text = std::str::from_utf8(value).ok()?;
            match name {
                b":message-type" => out.message_type = Some(text),
                b":event-type" => out.event_type = Some(text),
                b":exception-type" => out.exception_type = Some(text),
                b":error-code" => out.error_code = Some(text),
                _ => {}
            }
        }
    }
    Some(out)
}

/// CRC-32 (IEEE 802.3, as the AWS event stream uses), bitwise from a table.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::LazyLock<[u32; 256]> = std::sync::LazyLock::new(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in bytes {
        crc = TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

/// An event-stream frame with string headers and `payload` ([`super::event_stream_frame`]).
pub(super) fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        h.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        h.push(7);
        let v = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v);
    }
    let total = PRELUDE + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Metered, StreamFormat};
    use super::*;
    use proptest::prelude::*;

    fn event(name: &str, payload: &str) -> Vec<u8> {
        frame(
            &[
                (":event-type", name),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.as_bytes(),
        )
    }

    fn converse() -> Vec<u8> {
        [
            event("messageStart", r#"{"p":"abcd","role":"assistant"}"#),
            event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"ab"}"#),
            event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":" world"}}"#),
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            event("messageStop", r#"{"stopReason":"end_turn"}"#),
            event(
                "metadata",
                r#"{"usage":{"inputTokens":100,"outputTokens":200,"totalTokens":2300,"cacheReadInputTokens":1500,"cacheWriteInputTokens":500},"metrics":{"latencyMs":300}}"#,
            ),
        ]
        .concat()
    }

    fn meter(pieces: &[&[u8]]) -> (Metered, Vec<u8>) {
        let mut m = StreamMeter::new(
            StreamFormat::BedrockEventStream,
            "amazon.nova-micro-v1:0",
            9,
        );
        let mut out = Vec::new();
        for p in pieces {
            m.feed(p, &mut out);
        }
        (m.finish(&mut out), out)
    }

    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn converse_stream_usage_from_metadata() {
        let bytes = converse();
        let (m, out) = meter(&[&bytes]);
        assert_eq!(out, bytes, "passed through unchanged");
        assert!(m.reported && m.complete && m.error.is_none());
        assert_eq!(m.skipped_events, 0);
        assert_eq!(
            m.usage,
            Usage {
                input_tokens: 100,
                cached_input_tokens: 1500,
                cache_write_5m_tokens: 500,
                output_tokens: 200,
                ..Usage::default()
            }
        );
        assert_eq!(m.output_text_bytes, "Hello world".len() as u64);
    }

    #[test]
    fn exception_frames_are_errors_and_the_call_estimated() {
        let bytes = [
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Partial"}}"#,
            ),
            frame(
                &[
                    (":message-type", "exception"),
                    (":exception-type", "modelStreamErrorException"),
                ],
                br#"{"message":"details never kept"}"#,
            ),
        ]
        .concat();
        let (m, _) = meter(&[&bytes]);
        assert_eq!(m.error.as_deref(), Some("modelStreamErrorException"));
        assert!(!m.reported);
        assert_eq!(m.usage.input_tokens, 9);
        assert!(m.usage.output_tokens >= 1);
    }

    #[test]
    fn a_bad_message_crc_skips_one_frame_a_bad_prelude_stops_reading() {
        let mut bad = event("contentBlockDelta", r#"{"delta":{"text":"lost"}}"#);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bytes = [bad, converse()].concat();
        let (m, _) = meter(&[&bytes]);
        assert_eq!(m.skipped_events, 1);
        assert!(m.reported);
        assert_eq!(m.output_text_bytes, "Hello world".len() as u64);

        let mut broken = converse();
        broken[8] ^= 1; // the first prelude's CRC
        let (m, _) = meter(&[&broken]);
        assert_eq!(m.skipped_events, 1);
        assert!(!m.reported && m.output_text_bytes == 0);
    }

    #[test]
    fn an_oversized_frame_is_passed_over_unbuffered() {
        let total = MAX_EVENT + 32;
        let mut big = Vec::with_capacity(total);
        big.extend_from_slice(&(total as u32).to_be_bytes());
        big.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&big);
        big.extend_from_slice(&crc.to_be_bytes());
        big.resize(total, b'x');
        let bytes = [big, converse()].concat();
        let (m, out) = meter(&[&bytes[..1000], &bytes[1000..]]);
        assert_eq!(out.len(), bytes.len());
        assert_eq!(m.skipped_events, 1);
        assert!(m.reported);
    }

    #[test]
    fn a_cut_frame_is_not_read() {
        let bytes = converse();
        let (m, _) = meter(&[&bytes[..bytes.len() - 3]]);
        assert!(
            m.complete && !m.reported,
            "messageStop came, metadata was cut"
        );
        assert_eq!(m.skipped_events, 1);
        assert_eq!(m.usage.input_tokens, 9);
    }

    proptest! {
        #[test]
        fn any_split_meters_the_same(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16)) {
            let bytes = converse();
            let whole = meter(&[&bytes]);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for a in at {
                pieces.push(&bytes[from..a]);
                from = a;
            }
            pieces.push(&bytes[from..]);
            prop_assert_eq!(meter(&pieces), whole);
        }

        #[test]
        fn never_panics(noise in proptest::collection::vec(any::<u8>(), 0..300), at in any::<prop::sample::Index>()) {
            let _ = meter(&[&noise]);
            // Noise after, or inside, real frames.
            let mut bytes = converse();
            let i = at.index(bytes.len());
            bytes.splice(i..i, noise.iter().copied());
            let (_, out) = meter(&[&bytes]);
            prop_assert_eq!(out, bytes);
        }

        #[test]
        fn headers_never_panic(h in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = headers(&h);
        }
    }
}

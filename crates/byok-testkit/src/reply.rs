//! What a mock sends back: a status, headers and a body that is either whole or
//! a stream of events, which the server can play out of order with the wire's
//! troubles (a pause, a cut, keep-alives) when a scenario asks for them.

use std::time::Duration;

use serde_json::Value;

use crate::server::{Plan, PlanBody, Step};

/// How long a keep-alive waits before the next one.
const KEEP_ALIVE_GAP: Duration = Duration::from_millis(100);

/// One answer, as the provider modules build it (the method names follow
/// wiremock's `ResponseTemplate`, which the mocks were first built on).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// In order; names lowercase.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
    /// How long the server waits before sending anything.
    pub(crate) delay: Duration,
    /// What goes wrong on the wire once the headers are out.
    pub(crate) trouble: Option<Trouble>,
}

/// A disturbance of a successful answer after its headers (the stream scenarios).
#[derive(Debug, Clone)]
pub(crate) enum Trouble {
    /// `after` events, then these (the provider's mid-stream error), then the end.
    Error { after: usize, last: Vec<Vec<u8>> },
    /// `after` events, then the connection drops.
    Cut { after: usize },
    /// `after` events, a silence of `pause`, then the rest.
    Stall { after: usize, pause: Duration },
    /// Keep-alives before (and, in SSE, between) the events, or before a whole body.
    KeepAlive,
}

/// A reply's body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Sent at once, with a `content-length`.
    Whole(Vec<u8>),
    /// Sent event by event (chunked), each flushed as it is written.
    Events(Events),
}

/// A streamed body: its events, each already framed for the wire (an SSE
/// event with its blank line, or one element of a JSON array with its comma),
/// and what closes the stream (`data: [DONE]`, `]`), if anything.
#[derive(Debug, Clone, Default)]
pub(crate) struct Events {
    pub(crate) events: Vec<Vec<u8>>,
    pub(crate) terminator: Option<Vec<u8>>,
    /// Whether the framing is SSE (so comments and blank lines may go between events).
    pub(crate) sse: bool,
}

impl Reply {
    /// An empty reply with `status`.
    pub(crate) fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Whole(Vec::new()),
            delay: Duration::ZERO,
            trouble: None,
        }
    }

    /// Disturb the answer on the wire (a no-op for a whole body, but keep-alives).
    pub(crate) fn with_trouble(mut self, trouble: Trouble) -> Reply {
        self.trouble = Some(trouble);
        self
    }

    /// How the server plays this reply.
    pub(crate) fn into_plan(self) -> Plan {
        let body = match (self.body, self.trouble) {
            (Body::Whole(bytes), Some(Trouble::KeepAlive)) => {
                // Blank lines before a JSON body (DeepSeek, under load): JSON allows them.
                let mut steps = Vec::new();
                for _ in 0..3 {
                    steps.push(Step::Send(b"\n".to_vec()));
                    steps.push(Step::Pause(KEEP_ALIVE_GAP));
                }
                steps.push(Step::Send(bytes));
                PlanBody::Steps(steps)
            }
            (Body::Whole(bytes), _) => PlanBody::Whole(bytes),
            (Body::Events(events), trouble) => PlanBody::Steps(events.steps(trouble)),
        };
        Plan {
            status: self.status,
            headers: self.headers,
            delay: self.delay,
            body,
        }
    }

    /// A JSON body, with `content-type: application/json`.
    pub(crate) fn set_body_json(self, body: Value) -> Reply {
        self.set_body_raw(body.to_string(), "application/json")
    }

    /// Raw bytes with their content type.
    pub(crate) fn set_body_raw(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Reply {
        self.body = Body::Whole(body.into());
        self.insert_header("content-type", content_type)
    }

    /// A streamed body with its content type.
    pub(crate) fn set_events(mut self, events: Events, content_type: &str) -> Reply {
        self.body = Body::Events(events);
        self.insert_header("content-type", content_type)
    }

    /// Set header `name`, replacing any earlier value.
    pub(crate) fn insert_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    /// Wait `delay` before answering.
    pub(crate) fn set_delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// The value of header `name`, if set (for tests).
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Events {
    /// Server-sent events as the providers frame them: an optional `event:` line,
    /// one `data:` line of JSON, a blank line (`\r\n` line ends when `crlf`, as
    /// Google sends them); `terminator` (OpenAI chat's `[DONE]`) as a last `data:` line.
    pub(crate) fn sse(
        events: &[(Option<&str>, Value)],
        terminator: Option<&str>,
        crlf: bool,
    ) -> Events {
        let end = if crlf { "\r\n" } else { "\n" };
        let frame = |name: Option<&str>, data: &str| {
            let mut out = String::new();
            if let Some(name) = name {
                out.push_str("event: ");
                out.push_str(name);
                out.push_str(end);
            }
            out.push_str("data: ");
            out.push_str(data);
            out.push_str(end);
            out.push_str(end);
            out.into_bytes()
        };
        Events {
            events: events
                .iter()
                .map(|(name, data)| frame(*name, &data.to_string()))
                .collect(),
            terminator: terminator.map(|t| frame(None, t)),
            sse: true,
        }
    }

    /// Binary frames sent one by one (Bedrock's event stream), no terminator.
    pub(crate) fn binary(frames: Vec<Vec<u8>>) -> Events {
        Events {
            events: frames,
            terminator: None,
            sse: false,
        }
    }

    /// A JSON array sent element by element: `[` with the first, `,` before
    /// each later one, `]` to close.
    pub(crate) fn json_array(elements: &[Value]) -> Events {
        let events = elements
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let lead = if n == 0 { "[" } else { ",\r\n" };
                format!("{lead}{e}").into_bytes()
            })
            .collect::<Vec<_>>();
        let terminator = if events.is_empty() { "[]" } else { "]" };
        Events {
            events,
            terminator: Some(terminator.as_bytes().to_vec()),
            sse: false,
        }
    }

    /// The steps that send these events, disturbed by `trouble`.
    fn steps(self, trouble: Option<Trouble>) -> Vec<Step> {
        let Events {
            events,
            terminator,
            sse,
        } = self;
        let send = |bytes: Vec<u8>| Step::Send(bytes);
        let mut steps = Vec::new();
        match trouble {
            None => steps.extend(events.into_iter().map(send)),
            Some(Trouble::Error { after, last }) => {
                steps.extend(events.into_iter().take(after).map(send));
                steps.extend(last.into_iter().map(send));
                return steps;
            }
            Some(Trouble::Cut { after }) => {
                steps.extend(events.into_iter().take(after).map(send));
                steps.push(Step::Cut);
                return steps;
            }
            Some(Trouble::Stall { after, pause }) => {
                let mut events = events.into_iter();
                steps.extend(events.by_ref().take(after).map(send));
                steps.push(Step::Pause(pause));
                steps.extend(events.map(send));
            }
            Some(Trouble::KeepAlive) => {
                let (comment, blank): (&[u8], &[u8]) = if sse {
                    (b": keep-alive\n\n", b"\n")
                } else {
                    (b"\n", b"\r\n")
                };
                for piece in [comment, blank, comment] {
                    steps.push(Step::Send(piece.to_vec()));
                    steps.push(Step::Pause(KEEP_ALIVE_GAP));
                }
                for (n, event) in events.into_iter().enumerate() {
                    if n > 0 {
                        steps.push(Step::Send(comment.to_vec()));
                    }
                    steps.push(Step::Send(event));
                }
            }
        }
        steps.extend(terminator.map(send));
        steps
    }

    /// Every byte of the stream as one body (what a client reads from a stream
    /// that was not disturbed).
    #[cfg(test)]
    pub(crate) fn concat(&self) -> String {
        let mut all: Vec<u8> = self.events.concat();
        all.extend(self.terminator.iter().flatten());
        String::from_utf8_lossy(&all).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sse_frames_named_and_unnamed_events() {
        let events = [
            (Some("ping"), json!({"type": "ping"})),
            (None, json!({"n": 1})),
        ];
        assert_eq!(
            Events::sse(&events, Some("[DONE]"), false).concat(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\ndata: {\"n\":1}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(
            Events::sse(&events[1..], None, true).concat(),
            "data: {\"n\":1}\r\n\r\n"
        );
    }

    #[test]
    fn json_arrays_parse_whole() {
        let a = Events::json_array(&[json!({"a": 1}), json!({"b": 2})]);
        let v: Value = serde_json::from_str(&a.concat()).unwrap();
        assert_eq!(v, json!([{"a": 1}, {"b": 2}]));
        assert_eq!(Events::json_array(&[]).concat(), "[]");
    }

    fn played(reply: Reply) -> Vec<Step> {
        match reply.into_plan().body {
            PlanBody::Steps(steps) => steps,
            PlanBody::Whole(bytes) => vec![Step::Send(bytes)],
        }
    }

    fn three() -> Reply {
        let events = Events::sse(
            &[(None, json!(1)), (None, json!(2)), (None, json!(3))],
            Some("[DONE]"),
            false,
        );
        Reply::new(200).set_events(events, "text/event-stream")
    }

    fn sent(steps: &[Step]) -> String {
        steps
            .iter()
            .map(|s| match s {
                Step::Send(b) => String::from_utf8_lossy(b).into_owned(),
                Step::Pause(_) => "|pause|".to_owned(),
                Step::Cut => "|cut|".to_owned(),
            })
            .collect()
    }

    #[test]
    fn troubles_play_where_they_say() {
        assert_eq!(
            sent(&played(three())),
            "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n"
        );
        let error = Trouble::Error {
            after: 1,
            last: vec![b"data: {\"error\":{}}\n\n".to_vec()],
        };
        assert_eq!(
            sent(&played(three().with_trouble(error))),
            "data: 1\n\ndata: {\"error\":{}}\n\n"
        );
        assert_eq!(
            sent(&played(three().with_trouble(Trouble::Cut { after: 2 }))),
            "data: 1\n\ndata: 2\n\n|cut|"
        );
        let stall = Trouble::Stall {
            after: 1,
            pause: Duration::from_millis(5),
        };
        assert_eq!(
            sent(&played(three().with_trouble(stall))),
            "data: 1\n\n|pause|data: 2\n\ndata: 3\n\ndata: [DONE]\n\n"
        );
        let kept = sent(&played(three().with_trouble(Trouble::KeepAlive)));
        assert_eq!(
            kept,
            ": keep-alive\n\n|pause|\n|pause|: keep-alive\n\n|pause|data: 1\n\n: keep-alive\n\ndata: 2\n\n: keep-alive\n\ndata: 3\n\ndata: [DONE]\n\n"
        );
        // Cuts and errors past the end come after every event, before the terminator.
        assert_eq!(
            sent(&played(three().with_trouble(Trouble::Cut { after: 9 }))),
            "data: 1\n\ndata: 2\n\ndata: 3\n\n|cut|"
        );
    }

    #[test]
    fn a_whole_body_is_disturbed_only_by_keep_alives() {
        let body = || Reply::new(200).set_body_json(json!({"a": 1}));
        let plain = body().with_trouble(Trouble::Cut { after: 0 }).into_plan();
        assert!(matches!(plain.body, PlanBody::Whole(ref b) if b == b"{\"a\":1}"));
        let kept = sent(&played(body().with_trouble(Trouble::KeepAlive)));
        assert_eq!(kept, "\n|pause|\n|pause|\n|pause|{\"a\":1}");
        let v: Value = serde_json::from_str(&kept.replace("|pause|", "")).unwrap();
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn headers_replace_case_insensitively() {
        let r = Reply::new(200)
            .insert_header("X-A", "1")
            .insert_header("x-a", "2")
            .set_body_json(json!({}));
        assert_eq!(r.header("x-a"), Some("2"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.headers.len(), 2);
    }
}

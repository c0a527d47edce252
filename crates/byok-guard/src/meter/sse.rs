//! Server-sent events, parsed incrementally: `event:` / `data:` fields, multi-line
//! data joined with `\n`, comments and blank keep-alive lines ignored, `\n`, `\r\n`
//! and `\r` line ends (a `\r\n` may be split between two feeds), an optional UTF-8
//! BOM at the very start.

use memchr::{memchr2, memmem};

use super::{Fate, MAX_EVENT, StreamMeter};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the SSE parser is.
#[derive(Debug, Default)]
pub(super) struct SseState {
    /// The line not yet ended (carried across feeds).
    pub(super) line: Vec<u8>,
    /// That line outgrew [`MAX_EVENT`]: the rest of it is not kept.
    line_over: bool,
    /// The last line ended in `\r`: a `\n` first in the next feed belongs to it.
    skip_lf: bool,
    /// At least one line has ended (the BOM may only lead the first).
    started: bool,
    /// The current event's `event:` name and `data:` lines.
    name: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// A field of an event not yet ended by its blank line has been read.
    in_event: bool,
    /// The current event is too large: it is skipped.
    event_over: bool,
    /// Hiding: the raw bytes not yet resolved, from `done` on (before it: passed or dropped,
    /// drained after each feed).
    pub(super) held: Vec<u8>,
    done: usize,
    /// Hiding: the last event resolved was dropped (so is a `\n` that completes its `\r\n`).
    dropped_last: bool,
}

impl StreamMeter {
    pub(super) fn feed_sse(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let base = self.sse.held.len();
        if self.hide {
            self.sse.held.extend_from_slice(chunk);
        }
        let mut pos = 0;
        if self.sse.skip_lf && !chunk.is_empty() {
            self.sse.skip_lf = false;
            if chunk[0] == b'\n' {
                pos = 1;
                if self.hide && !self.sse.in_event {
                    let fate = if self.sse.dropped_last {
                        Fate::Drop
                    } else {
                        Fate::Pass
                    };
                    self.resolve(base + 1, fate, out);
                }
            }
        }
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.keep_partial(rest);
                break;
            };
            let eol = self.line_end(rest, i);
            // The common case, without copying: a whole one-line `data:` event in this chunk.
            if self.sse.line.is_empty()
                && !self.sse.line_over
                && self.sse.started
                && !self.sse.has_data
                && !self.sse.event_over
                && !self.sse.skip_lf
                && rest[..i].starts_with(b"data:")
                && matches!(rest.get(i + eol), Some(b'\n' | b'\r'))
            {
                let value = &rest[5..i];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                let blank = self.line_end(rest, i + eol);
                let name = std::mem::take(&mut self.sse.name);
                let fate = self.on_event(&name, value);
                self.sse.name = name;
                self.sse.name.clear();
                self.sse.in_event = false;
                pos += i + eol + blank;
                if self.hide {
                    self.resolve(base + pos, fate, out);
                }
                continue;
            }
            let fate = if self.sse.line.is_empty() && !self.sse.line_over {
                self.on_line(&rest[..i])
            } else {
                self.keep_partial(&rest[..i]);
                let line = std::mem::take(&mut self.sse.line);
                let over = std::mem::take(&mut self.sse.line_over);
                let fate = if over {
                    self.sse.event_over = true;
                    self.sse.in_event = true;
                    None
                } else {
                    self.on_line(&line)
                };
                self.sse.line = line;
                self.sse.line.clear();
                fate
            };
            pos += i + eol;
            if self.hide {
                if let Some(fate) = fate {
                    self.resolve(base + pos, fate, out);
                }
            }
        }
        if self.hide {
            let s = &mut self.sse;
            s.held.drain(..s.done);
            s.done = 0;
            if s.held.len() > MAX_EVENT || s.event_over {
                // Too large to hold: passed on as it is (and skipped by the meter).
                s.event_over = true;
                out.extend_from_slice(&s.held);
                s.held.clear();
            }
        }
    }

    /// The end: a line not yet ended is read, an event not yet closed dispatched,
    /// and every byte still held passed on (or dropped, when it was the usage chunk).
    pub(super) fn finish_sse(&mut self, out: &mut Vec<u8>) {
        let mut fate = None;
        if !self.sse.line.is_empty() || self.sse.line_over {
            let line = std::mem::take(&mut self.sse.line);
            if self.sse.line_over {
                self.sse.event_over = true;
                self.sse.in_event = true;
            } else {
                fate = self.on_line(&line);
            }
        }
        if self.sse.in_event {
            fate = self.on_line(b"");
        }
        if self.hide {
            let end = self.sse.held.len();
            self.resolve(end, fate.unwrap_or(Fate::Pass), out);
        }
    }

    /// The length of the line end at `rest[i]` (`\n`, `\r\n` or `\r`); a `\r` last in the
    /// chunk may be followed by a `\n` in the next one.
    fn line_end(&mut self, rest: &[u8], i: usize) -> usize {
        if rest[i] == b'\r' {
            match rest.get(i + 1) {
                Some(b'\n') => return 2,
                Some(_) => {}
                None => self.sse.skip_lf = true,
            }
        }
        1
    }

    /// Keep part of a line not yet ended, up to the size limit.
    fn keep_partial(&mut self, part: &[u8]) {
        let s = &mut self.sse;
        if s.line_over {
            return;
        }
        if s.line.len() + part.len() > MAX_EVENT {
            s.line_over = true;
            s.line = Vec::new();
        } else {
            s.line.extend_from_slice(part);
        }
    }

    /// One whole line (without its end). Returns what to do with the bytes held so far
    /// when they may be resolved now (no event in progress), `None` while one is.
    fn on_line(&mut self, mut line: &[u8]) -> Option<Fate> {
        if !self.sse.started {
            self.sse.started = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            let s = &mut self.sse;
            s.in_event = false;
            let fate = if std::mem::take(&mut s.event_over) {
                self.skipped += 1;
                Fate::Pass
            } else if s.has_data {
                let name = std::mem::take(&mut s.name);
                let data = std::mem::take(&mut s.data);
                let fate = self.on_event(&name, &data);
                self.sse.name = name;
                self.sse.data = data;
                fate
            } else {
                Fate::Pass
            };
            let s = &mut self.sse;
            s.name.clear();
            s.data.clear();
            s.has_data = false;
            return Some(fate);
        }
        if line[0] == b':' {
            // A comment (`: keep-alive`).
            return (!self.sse.in_event).then_some(Fate::Pass);
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let s = &mut self.sse;
        s.in_event = true;
        if s.event_over {
            return None;
        }
        match field {
            b"data" => {
                if s.data.len() + value.len() + 1 > MAX_EVENT {
                    s.event_over = true;
                    s.data = Vec::new();
                    s.has_data = false;
                } else {
                    if s.has_data {
                        s.data.push(b'\n');
                    }
                    s.data.extend_from_slice(value);
                    s.has_data = true;
                }
            }
            b"event" => {
                s.name.clear();
                s.name.extend_from_slice(value);
            }
            _ => {}
        }
        None
    }

    /// Hiding: pass on or drop the held bytes up to `end`.
    fn resolve(&mut self, end: usize, fate: Fate, out: &mut Vec<u8>) {
        let s = &mut self.sse;
        let end = end.min(s.held.len()).max(s.done);
        let region = &s.held[s.done..end];
        match fate {
            Fate::Pass => out.extend_from_slice(region),
            Fate::Drop => {}
            Fate::StripUsageNull => {
                let cut = memmem::rfind(region, b",\"usage\":null")
                    .map(|i| (i, 13))
                    .or_else(|| memmem::find(region, b"\"usage\":null,").map(|i| (i, 13)));
                match cut {
                    Some((i, n)) => {
                        out.extend_from_slice(&region[..i]);
                        out.extend_from_slice(&region[i + n..]);
                    }
                    None => out.extend_from_slice(region),
                }
            }
        }
        s.dropped_last = fate == Fate::Drop;
        s.done = end;
    }
}

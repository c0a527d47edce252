//! Gemini's streamed JSON array (`streamGenerateContent` without `alt=sse`):
//! `[` then elements separated by `,`, then `]`. Elements are split as they
//! arrive by tracking depth and strings (with escapes), never by parsing the
//! whole body.

use super::{MAX_EVENT, StreamMeter};

/// Where the array splitter is.
#[derive(Debug, Default)]
pub(super) struct ArrayState {
    at: At,
    /// The element so far, when it spans feeds.
    elem: Vec<u8>,
    /// That element outgrew [`MAX_EVENT`]: it is skipped.
    over: bool,
    depth: u32,
    /// The element began with `{` or `[` (else it is a scalar, skipped when read).
    bracketed: bool,
    in_str: bool,
    escape: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum At {
    /// Before the `[` (whitespace and a BOM allowed).
    #[default]
    Before,
    /// Between elements.
    Between,
    /// Inside an element.
    In,
    /// After the `]`: the rest is ignored.
    After,
}

impl StreamMeter {
    pub(super) fn feed_array(&mut self, chunk: &[u8]) {
        let mut i = 0;
        // Where the current element started in this chunk.
        let mut start = (self.array.at == At::In).then_some(0);
        while i < chunk.len() {
            let b = chunk[i];
            match self.array.at {
                At::Before => match b {
                    b'[' => self.array.at = At::Between,
                    // A lone object (an error body instead of an array) is read as one element.
                    b'{' => {
                        self.begin_element(b);
                        start = Some(i);
                    }
                    _ if b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF) => {}
                    _ => {
                        // Not an array: nothing in it can be read.
                        self.array.at = At::After;
                        self.skipped += 1;
                    }
                },
                At::Between => match b {
                    b']' => {
                        self.array.at = At::After;
                        self.complete = true;
                    }
                    b',' => {}
                    _ if b.is_ascii_whitespace() => {}
                    _ => {
                        self.begin_element(b);
                        start = Some(i);
                    }
                },
                At::In => {
                    let a = &mut self.array;
                    if a.in_str {
                        // Jump to the next quote or backslash.
                        if a.escape {
                            a.escape = false;
                        } else if b == b'\\' {
                            a.escape = true;
                        } else if b == b'"' {
                            a.in_str = false;
                        } else if let Some(k) = memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                            i += k;
                            continue;
                        } else {
                            i = chunk.len();
                            continue;
                        }
                    } else {
                        match b {
                            b'"' => a.in_str = true,
                            b'{' | b'[' => a.depth += 1,
                            b'}' | b']' if a.depth > 0 => a.depth -= 1,
                            _ => {}
                        }
                        if a.bracketed && a.depth == 0 {
                            let s = start.take().unwrap_or(0);
                            self.end_element(&chunk[s..=i]);
                        } else if !a.bracketed
                            && a.depth == 0
                            && !a.in_str
                            && (b == b',' || b == b']' || b.is_ascii_whitespace())
                        {
                            // A scalar element ends at a separator, which is read again
                            // between elements.
                            let s = start.take().unwrap_or(0);
                            self.end_element(&chunk[s..i]);
                            continue;
                        }
                    }
                }
                At::After => return,
            }
            i += 1;
        }
        if let Some(s) = start {
            self.keep_element(&chunk[s..]);
        }
    }

    pub(super) fn finish_array(&mut self) {
        if self.array.at == At::In {
            // Cut inside an element: it cannot be read.
            self.skipped += 1;
        }
    }

    fn begin_element(&mut self, first: u8) {
        let a = &mut self.array;
        a.at = At::In;
        a.elem.clear();
        a.over = false;
        a.in_str = first == b'"';
        a.escape = false;
        a.bracketed = matches!(first, b'{' | b'[');
        a.depth = u32::from(a.bracketed);
    }

    fn keep_element(&mut self, part: &[u8]) {
        let a = &mut self.array;
        if a.over {
            return;
        }
        if a.elem.len() + part.len() > MAX_EVENT {
            a.over = true;
            a.elem = Vec::new();
        } else {
            a.elem.extend_from_slice(part);
        }
    }

    /// The element is whole: `tail` is its last part (from this chunk).
    fn end_element(&mut self, tail: &[u8]) {
        self.array.at = At::Between;
        if self.array.over {
            self.array.over = false;
            self.skipped += 1;
            return;
        }
        if self.array.elem.is_empty() {
            self.on_event(b"", tail);
        } else {
            let mut elem = std::mem::take(&mut self.array.elem);
            if elem.len() + tail.len() > MAX_EVENT {
                self.skipped += 1;
            } else {
                elem.extend_from_slice(tail);
                self.on_event(b"", &elem);
            }
            elem.clear();
            self.array.elem = elem;
        }
    }
}

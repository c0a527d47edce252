//! `byok scan`: find keys (and byok's own API tokens) in files, directories
//! (recursively) or stdin.
//!
//! Each file is sniffed from its first block before the rest is read: UTF-16 (with a
//! byte-order mark, or told by where its NUL bytes are) is decoded, other files with
//! a NUL byte there are skipped as binary. Text is then scanned in windows that
//! overlap by more than the longest key, so memory stays bounded whatever the size
//! of the file, and every key is reported once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byok::keys::token::scan_tokens;
use byok::keys::{Fingerprint, redact, scan_bytes};
use serde_json::json;
use zeroize::Zeroizing;

use crate::output::{self, CliError, errln, outln};

/// Arguments of `byok scan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files or directories to scan (recursively; `.git` directories and binary files are
    /// skipped, symbolic links are not followed). Stdin when none is given.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// One JSON object per finding.
    #[arg(long)]
    json: bool,
}

/// How many leading bytes decide whether a file is binary (a NUL byte among them).
const BINARY_SNIFF: usize = 8192;
/// How much text is scanned at a time.
const WINDOW: usize = 1 << 20;
/// Context kept on each side of a window's reporting range: more than a key decision
/// reads (the longest token, 512 bytes, plus the context before it).
const HALF_OVERLAP: usize = 1024;

/// Why a file was not scanned.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    Binary,
    Unreadable,
    Symlink,
    Special,
}

impl Skip {
    const ALL: [Skip; 4] = [Skip::Binary, Skip::Unreadable, Skip::Symlink, Skip::Special];

    fn code(self) -> &'static str {
        match self {
            Skip::Binary => "binary",
            Skip::Unreadable => "unreadable",
            Skip::Symlink => "symlink",
            Skip::Special => "not_a_file",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Skip::Binary => "binary (a NUL byte in the first 8 KiB, not UTF-16)",
            Skip::Unreadable => "unreadable (see the errors above)",
            Skip::Symlink => "symbolic link (not followed)",
            Skip::Special => "not a regular file",
        }
    }
}

#[derive(Default)]
struct Tally {
    findings: usize,
    io_errors: usize,
    files: usize,
    skipped: Vec<Skip>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let mut tally = Tally::default();
    if args.paths.is_empty() {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        if let Err(e) = scan_file(Path::new("-"), &mut input, false, args.json, &mut tally) {
            return CliError::new("io_error", format!("cannot read stdin: {e}")).report(args.json);
        }
    } else {
        for path in &args.paths {
            walk(path, args.json, &mut tally);
        }
        report_skipped(&tally, args.json);
    }
    let code = if tally.io_errors > 0 {
        output::USAGE
    } else if tally.findings > 0 {
        output::NEGATIVE
    } else {
        output::OK
    };
    ExitCode::from(code)
}

/// Paths are printed redacted: a file may be named after a key.
fn shown(path: &Path) -> String {
    redact(&path.display().to_string()).into_owned()
}

fn walk(path: &Path, json: bool, tally: &mut Tally) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return io_error(path, &e, json, tally),
    };
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return io_error(path, &e, json, tally),
        };
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            walk(&entry, json, tally);
        }
        return;
    }
    tally.files += 1;
    if meta.is_symlink() {
        tally.skipped.push(Skip::Symlink);
    } else if !meta.is_file() {
        tally.skipped.push(Skip::Special);
    } else {
        let result =
            std::fs::File::open(path).and_then(|mut f| scan_file(path, &mut f, true, json, tally));
        if let Err(e) = result {
            io_error(path, &e, json, tally);
        }
    }
}

fn io_error(path: &Path, e: &std::io::Error, json: bool, tally: &mut Tally) {
    tally.io_errors += 1;
    tally.skipped.push(Skip::Unreadable);
    let err = CliError::new("io_error", format!("{}: {e}", shown(path)));
    // Keep scanning the other paths: report now, exit 2 at the end.
    let _ = err.report(json);
}

/// On stderr, how many files were not scanned and why (stdout keeps only findings).
fn report_skipped(tally: &Tally, json: bool) {
    if tally.skipped.is_empty() {
        return;
    }
    let count = |s: Skip| tally.skipped.iter().filter(|&&k| k == s).count();
    if json {
        let by_reason: serde_json::Map<String, serde_json::Value> = Skip::ALL
            .iter()
            .map(|&s| (s.code().to_owned(), count(s).into()))
            .collect();
        errln!(
            "{}",
            json!({ "skipped": tally.skipped.len(), "files": tally.files, "reasons": by_reason })
        );
    } else {
        let reasons: Vec<String> = Skip::ALL
            .iter()
            .filter(|&&s| count(s) > 0)
            .map(|&s| format!("{} {}", count(s), s.words()))
            .collect();
        errln!(
            "byok scan: skipped {} of {} file(s): {}",
            tally.skipped.len(),
            tally.files,
            reasons.join(", ")
        );
    }
}

/// How a file's bytes are text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16 { big_endian: bool },
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 { big_endian: false } => "utf-16le",
            Encoding::Utf16 { big_endian: true } => "utf-16be",
        }
    }
}

/// The encoding of a file from its first block, `None` for binary; and how many
/// bytes of byte-order mark to drop.
fn sniff(head: &[u8]) -> Option<(Encoding, usize)> {
    match head {
        [0xFF, 0xFE, ..] => return Some((Encoding::Utf16 { big_endian: false }, 2)),
        [0xFE, 0xFF, ..] => return Some((Encoding::Utf16 { big_endian: true }, 2)),
        _ => {}
    }
    if !head.contains(&0) {
        return Some((Encoding::Utf8, 0));
    }
    // UTF-16 without a mark: mostly ASCII text has a NUL in every other byte.
    let pairs = head.len() / 2;
    let zero_high = |hi: usize, lo: usize| {
        head.chunks_exact(2)
            .filter(|p| p[hi] == 0 && p[lo] != 0)
            .count()
    };
    let (le, be) = (zero_high(1, 0), zero_high(0, 1));
    let mostly = |n: usize| pairs >= 2 && n * 10 >= pairs * 7;
    if mostly(le) {
        Some((Encoding::Utf16 { big_endian: false }, 0))
    } else if mostly(be) {
        Some((Encoding::Utf16 { big_endian: true }, 0))
    } else {
        None
    }
}

/// Text from a reader, in the file's encoding, as UTF-8.
struct Source<'r> {
    reader: &'r mut dyn Read,
    encoding: Encoding,
    /// Raw bytes read but not yet decoded (a UTF-16 unit cut in two).
    raw: Zeroizing<Vec<u8>>,
    /// A high surrogate waiting for its pair.
    high: Option<u16>,
    eof: bool,
}

impl Source<'_> {
    /// Append up to about `want` bytes of text to `out`; false at the end.
    fn fill(&mut self, out: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let start = self.raw.len();
        self.raw.resize(start + want, 0);
        let n = loop {
            match self.reader.read(&mut self.raw[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.raw.truncate(start + n);
        self.eof = n == 0;
        self.decode(out);
        Ok(!self.eof)
    }

    /// Move what is in `raw` to `out` as UTF-8.
    fn decode(&mut self, out: &mut Vec<u8>) {
        let Encoding::Utf16 { big_endian } = self.encoding else {
            out.extend_from_slice(&self.raw);
            self.raw.clear();
            return;
        };
        let whole = self.raw.len() / 2 * 2;
        let mut units: Vec<u16> = Vec::with_capacity(whole / 2 + 1);
        units.extend(self.high.take());
        units.extend(self.raw[..whole].chunks_exact(2).map(|p| {
            if big_endian {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                u16::from_le_bytes([p[0], p[1]])
            }
        }));
        // A high surrogate at the end waits for the next read, unless there is none.
        if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            self.high = units.pop();
        }
        let mut utf8 = [0u8; 4];
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        units.iter_mut().for_each(|u| *u = 0);
        self.raw.drain(..whole);
        if self.eof && !self.raw.is_empty() {
            // An odd byte at the very end.
            out.extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
            self.raw.clear();
        }
    }
}

/// Where the reporter stands: 1-based line, characters since the line began, and
/// the absolute text offset counted up to.
struct Position {
    line: usize,
    column: usize,
    counted_to: u64,
}

impl Position {
    /// Count `bytes` (the text from `counted_to` on).
    fn advance(&mut self, bytes: &[u8]) {
        let chars = |b: &[u8]| b.iter().filter(|&&x| x & 0xC0 != 0x80).count();
        match memchr::memrchr(b'\n', bytes) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', bytes).count();
                self.column = chars(&bytes[last + 1..]);
            }
            None => self.column += chars(bytes),
        }
        self.counted_to += bytes.len() as u64;
    }
}

/// One finding of `byok scan`: a provider key, or one of byok's own API tokens
/// (provider `byok`, kind `admin_token`, `workspace_token` or `app_token`).
struct Found {
    span: std::ops::Range<usize>,
    provider: String,
    kind: String,
    masked: String,
}

/// Every provider key and byok API token in `buf`, in order of where they start.
fn found_in(buf: &[u8]) -> Vec<Found> {
    let mut found: Vec<Found> = scan_bytes(buf)
        .map(|f| Found {
            span: f.span,
            provider: f.provider.to_string(),
            kind: f.kind.to_string(),
            masked: f.masked,
        })
        .collect();
    let tokens = scan_tokens(buf);
    if tokens.is_empty() {
        return found;
    }
    for t in tokens {
        // The scope's own name (`admin`, `workspace`, `app`) makes the kind.
        let Some(scope) = std::str::from_utf8(&buf[t.span.clone()])
            .ok()
            .and_then(byok_serve::token::parse)
            .map(|p| p.scope)
        else {
            continue;
        };
        // A token is never also a key (no key anchor fits in lowercase hex), but
        // keep the output free of overlaps whatever the scanners learn later.
        if found
            .iter()
            .any(|f| f.span.start < t.span.end && t.span.start < f.span.end)
        {
            continue;
        }
        found.push(Found {
            span: t.span,
            provider: "byok".into(),
            kind: format!("{}_token", scope.as_str()),
            masked: t.masked,
        });
    }
    found.sort_by_key(|f| f.span.start);
    found
}

/// Sniff, then scan a file (or stdin) window by window, printing each finding.
fn scan_file(
    path: &Path,
    reader: &mut dyn Read,
    skip_binary: bool,
    json: bool,
    tally: &mut Tally,
) -> std::io::Result<()> {
    let mut head = Zeroizing::new(Vec::with_capacity(BINARY_SNIFF));
    (&mut *reader)
        .take(BINARY_SNIFF as u64)
        .read_to_end(&mut head)?;
    let (encoding, bom) = match sniff(&head) {
        Some(found) => found,
        None if skip_binary => {
            tally.skipped.push(Skip::Binary);
            return Ok(());
        }
        None => (Encoding::Utf8, 0),
    };
    let mut source = Source {
        reader,
        encoding,
        raw: Zeroizing::new(head[bom..].to_vec()),
        high: None,
        eof: false,
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(WINDOW + 2 * HALF_OVERLAP));
    source.decode(&mut buf);
    let shown = shown(path);
    let mut pos = Position {
        line: 1,
        column: 0,
        counted_to: 0,
    };
    // Absolute text offset of `buf[0]`.
    let mut base = 0u64;
    loop {
        let mut more = true;
        while more && buf.len() < WINDOW {
            more = source.fill(&mut buf, WINDOW)?;
        }
        // Report what starts in [lo, hi): enough context on both sides to decide as
        // a scan of the whole text would; the next window reports from `hi` on.
        let lo = if base == 0 { 0 } else { HALF_OVERLAP };
        let hi = if more {
            buf.len() - HALF_OVERLAP
        } else {
            buf.len()
        };
        for f in found_in(&buf) {
            if f.span.start < lo {
                continue;
            }
            if f.span.start >= hi {
                break;
            }
            let from = (pos.counted_to - base) as usize;
            pos.advance(&buf[from..f.span.start]);
            let key = Zeroizing::new(String::from_utf8_lossy(&buf[f.span.clone()]).into_owned());
            let fingerprint = Fingerprint::of(&key);
            tally.findings += 1;
            let (line, column) = (pos.line, pos.column + 1);
            if json {
                output::print_json(&json!({
                    "path": shown, "line": line, "column": column,
                    "provider": f.provider, "kind": f.kind, "masked": f.masked,
                    "fingerprint": fingerprint, "encoding": encoding.name(),
                }));
            } else {
                outln!(
                    "{shown}:{line}:{column}: {} {} {}",
                    f.provider,
                    f.kind,
                    f.masked
                );
            }
        }
        if !more {
            return Ok(());
        }
        let from = (pos.counted_to - base) as usize;
        pos.advance(&buf[from..hi]);
        // Keep the overlap: what the next window needs before its `lo`.
        let keep_from = buf.len() - 2 * HALF_OVERLAP;
        buf.drain(..keep_from);
        base += keep_from as u64;
    }
}

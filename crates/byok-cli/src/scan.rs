//! `byok scan`: find keys in files, directories (recursively) or stdin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byok::keys::{Fingerprint, scan_bytes};
use serde_json::json;

use crate::output::{self, CliError};

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

#[derive(Default)]
struct Tally {
    findings: usize,
    io_errors: usize,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let mut tally = Tally::default();
    if args.paths.is_empty() {
        match output::read_stdin() {
            Ok(buf) => report(Path::new("-"), &buf, args.json, &mut tally),
            Err(e) => return e.report(args.json),
        }
    } else {
        for path in &args.paths {
            walk(path, args.json, &mut tally);
        }
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
    } else if meta.is_file() {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                if !bytes[..bytes.len().min(BINARY_SNIFF)].contains(&0) {
                    report(path, &bytes, json, tally);
                }
            }
            Err(e) => io_error(path, &e, json, tally),
        }
    }
}

fn io_error(path: &Path, e: &std::io::Error, json: bool, tally: &mut Tally) {
    tally.io_errors += 1;
    let err = CliError::new("io_error", format!("{}: {e}", path.display()));
    // Keep scanning the other paths: report now, exit 2 at the end.
    let _ = err.report(json);
}

/// Print every finding of `text` with 1-based line and character column.
fn report(path: &Path, text: &[u8], json: bool, tally: &mut Tally) {
    let shown = path.display().to_string();
    let (mut line, mut line_start, mut counted_to) = (1usize, 0usize, 0usize);
    for f in scan_bytes(text) {
        let before = &text[counted_to..f.span.start];
        for (i, _) in before.iter().enumerate().filter(|&(_, &b)| b == b'\n') {
            line += 1;
            line_start = counted_to + i + 1;
        }
        counted_to = f.span.start;
        // Characters, not bytes: count every byte that does not continue a UTF-8 sequence.
        let column = 1 + text[line_start..f.span.start]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        let key = String::from_utf8_lossy(&text[f.span.clone()]);
        let fingerprint = Fingerprint::of(&key);
        tally.findings += 1;
        if json {
            output::print_json(&json!({
                "path": shown, "line": line, "column": column,
                "provider": f.provider, "kind": f.kind, "masked": f.masked,
                "fingerprint": fingerprint,
            }));
        } else {
            println!(
                "{shown}:{line}:{column}: {} {} {}",
                f.provider, f.kind, f.masked
            );
        }
    }
}

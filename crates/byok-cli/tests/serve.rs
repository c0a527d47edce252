//! `byok serve` as a user runs it: first start with no flags but a data directory
//! (master key generated 0600, admin token printed once), a request with that
//! token, a clean stop on SIGTERM, and a second start that makes no new token.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(dir: &std::path::Path) -> (Child, String, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("BYOK_MASTER_KEY")
        .env_remove("BYOK_MASTER_KEY_FILE")
        .env_remove("BYOK_VAULT")
        .env_remove("BYOK_LEDGER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut made_token = false;
    let mut line = String::new();
    while addr.is_none() {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "byok serve ended early"
        );
        made_token |= line.contains("an admin token was made");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    // stderr announces the token before the listening line; stdout holds it.
    let token = made_token.then(|| {
        let mut out = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut out)
            .unwrap();
        out.trim().to_owned()
    });
    (child, addr.unwrap(), token)
}

fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_start_makes_a_master_key_and_an_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, addr, token) = start(&data);
    let token = token.expect("the first start prints an admin token");
    assert!(token.starts_with("byok_adm_"), "{token}");
    let answer = get(&addr, "/v1/workspaces", &token);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let refused = get(&addr, "/v1/workspaces", "byok_adm_nope");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    stop(child);

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (child, addr, again) = start(&data);
    assert_eq!(again, None, "a second start prints no token");
    let answer = get(&addr, "/readyz", "");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(get(&addr, "/v1/workspaces", &token).starts_with("HTTP/1.1 200"));
    stop(child);
}

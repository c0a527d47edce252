//! `byok serve` as a user runs it: first start with no flags but a data directory
//! (master key generated 0600, admin token printed once), a request with that
//! token, a clean stop on SIGTERM, and a second start that makes no new token;
//! and a SIGKILL with proxied streams in flight: after a restart nothing is
//! lost (keys, spend) and the killed calls' holds lapse at their TTL; HTTPS
//! with `--tls-cert`/`--tls-key`, and a clear `tls_config` error (exit 2,
//! nothing listening, nothing made) for bad files; the deployment recipes'
//! command lines (deploy/), with JSON logs and request ids; and two processes
//! of one deployment on PostgreSQL and Redis sharing keys and one budget.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(dir: &std::path::Path) -> (Child, String, Option<String>) {
    start_with(dir, &[])
}

/// `byok serve` on a free loopback port with `dir` as its data directory, none
/// of the environment's vault settings, stdout and stderr piped.
fn serve_command(dir: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_byok"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env_remove("BYOK_MASTER_KEY")
        .env_remove("BYOK_MASTER_KEY_FILE")
        .env_remove("BYOK_VAULT")
        .env_remove("BYOK_LEDGER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The address `byok serve` printed, and the scheme it printed it with.
fn listening(line: &str) -> Option<(&'static str, String)> {
    let rest = line.split("listening on ").nth(1)?;
    let (scheme, rest) = ["https", "http"]
        .into_iter()
        .find_map(|s| Some((s, rest.strip_prefix(s)?.strip_prefix("://")?)))?;
    Some((scheme, rest.split_whitespace().next()?.to_owned()))
}

fn start_with(dir: &std::path::Path, extra: &[&str]) -> (Child, String, Option<String>) {
    let extra: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    let (child, scheme, addr, token) = start_command(serve_command(dir, &extra));
    assert_eq!(scheme, "http");
    (child, addr, token)
}

/// Start `cmd` (a [`serve_command`]): the child, the scheme and address it
/// listens on, and the admin token when it made one.
fn start_command(mut cmd: Command) -> (Child, &'static str, String, Option<String>) {
    let mut child = cmd.spawn().unwrap();
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
        addr = listening(&line);
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
    let (scheme, addr) = addr.unwrap();
    (child, scheme, addr, token)
}

fn get(addr: &str, path: &str, token: &str) -> String {
    get_with(addr, path, token, "")
}

/// [`get`] with more header lines (each ending in `\r\n`).
fn get_with(addr: &str, path: &str, token: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{headers}Connection: close\r\n\r\n"
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

/// One request with `Connection: close`: the status and the body.
fn request(addr: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let body = body.map(|b| b.to_string());
    let (status, text) = request(addr, method, path, token, body.as_deref());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A proxied streamed call whose first event has arrived: the connection, left open.
fn stream_started(addr: &str, token: &str, body: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /proxy/openai/v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    s
}

/// The workspace budget's spent and held amounts, as the API shows them.
fn budget(addr: &str, admin: &str, ws: &str) -> (String, String) {
    let b = json(
        addr,
        "GET",
        &format!("/v1/workspaces/{ws}/budget"),
        admin,
        None,
    );
    (
        b["spent"].as_str().unwrap().to_owned(),
        b["held"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn sigkill_with_streams_in_flight_loses_nothing_and_holds_lapse() {
    use byok_testkit::{MockOpenAi, Scenario};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mock = MockOpenAi::builder()
        .start_on("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let base = format!("openai={}", mock.uri());
    let args = ["--base-url", base.as_str(), "--hold-ttl", "60"];
    let (child, addr, admin) = start_with(&data, &args);
    let admin = admin.unwrap();
    json(
        &addr,
        "POST",
        "/v1/workspaces",
        &admin,
        Some(serde_json::json!({"id": "killed"})),
    );
    let key = byok_testkit::canary::standard::key(
        byok::keys::Provider::OpenAi,
        byok::keys::KeyKind::Project,
        0,
    );
    let added = json(
        &addr,
        "POST",
        "/v1/workspaces/killed/keys",
        &admin,
        Some(serde_json::json!({"key": key, "label": "main"})),
    );
    let id = added["key"]["id"].as_str().unwrap().to_owned();
    json(
        &addr,
        "PUT",
        "/v1/workspaces/killed/budget",
        &admin,
        Some(serde_json::json!({"limit_usd": "10", "period": "total"})),
    );
    let app = json(
        &addr,
        "POST",
        "/v1/tokens",
        &admin,
        Some(serde_json::json!({"scope": "app", "workspace": "killed", "name": "app"})),
    );
    let app = app["token"].as_str().unwrap().to_owned();
    let call = serde_json::json!({"model": "gpt-4o-mini", "max_completion_tokens": 5,
        "messages": [{"role": "user", "content": "Say hi"}]});
    let (status, answer) = request(
        &addr,
        "POST",
        "/proxy/openai/v1/chat/completions",
        &app,
        Some(&call.to_string()),
    );
    assert_eq!(status, 200, "{answer}");
    let (spent, held) = budget(&addr, &admin, "killed");
    assert_ne!(spent, "0");
    assert_eq!(held, "0");

    // Three streams that stall after their first event, then SIGKILL.
    mock.set_scenario(Scenario::StreamStall {
        after: 1,
        stall: Duration::from_secs(300),
    });
    let mut streamed = call.clone();
    streamed["stream"] = serde_json::json!(true);
    let streams: Vec<TcpStream> = (0..3)
        .map(|_| stream_started(&addr, &app, &streamed.to_string()))
        .collect();
    let killed_at = Instant::now();
    let (_, in_flight) = budget(&addr, &admin, "killed");
    assert_ne!(in_flight, "0", "the streams hold their worst case");
    let mut child = child;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(streams);

    // Restarted: the key, the spend and the holds of the killed calls are there...
    mock.set_scenario(Scenario::Valid);
    let (child, addr, again) = start_with(&data, &args);
    assert_eq!(again, None);
    let keys = json(&addr, "GET", "/v1/workspaces/killed/keys", &admin, None);
    assert_eq!(keys[0]["id"], id.as_str());
    let (after, held) = budget(&addr, &admin, "killed");
    assert_eq!(after, spent, "no spend lost");
    assert_eq!(
        held, in_flight,
        "the killed calls' holds outlive the process"
    );
    // ...the server still serves calls...
    let (status, answer) = request(
        &addr,
        "POST",
        "/proxy/openai/v1/chat/completions",
        &app,
        Some(&call.to_string()),
    );
    assert_eq!(status, 200, "{answer}");
    // ...and the holds lapse at their TTL (60 s), not later.
    loop {
        let (_, held) = budget(&addr, &admin, "killed");
        if held == "0" {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(75),
            "a hold outlived its TTL: {held}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        killed_at.elapsed() >= Duration::from_secs(55),
        "the holds lapsed before their TTL"
    );
    stop(child);
}

/// `byok serve --tls-cert CERT --tls-key KEY`.
fn tls_command(dir: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Command {
    serve_command(
        dir,
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    )
}

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (child, scheme, addr, token) =
        start_command(tls_command(&dir.path().join("data"), &cert, &key));
    assert_eq!(scheme, "https");
    let token = token.expect("a first start makes an admin token");
    let addr: std::net::SocketAddr = addr.parse().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (health, workspaces) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap(),
            )
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let base = format!("https://localhost:{}", addr.port());
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        let workspaces = client
            .get(format!("{base}/v1/workspaces"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        (health.status().as_u16(), workspaces.status().as_u16())
    });
    assert_eq!((health, workspaces), (200, 200));
    stop(child);
}

#[test]
fn a_bad_certificate_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    let other_key = other.signing_key.serialize_pem();
    std::fs::write(&key, &other_key).unwrap();
    let out = tls_command(&dir.path().join("data"), &cert, &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tls_config") || stderr.contains("do not go together"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "no vault, master key or admin token is made before the certificate is read"
    );
    let body: String = other_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(&body[..24]), "the key is not quoted");

    // One flag without the other is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(["serve", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

/// The command line of a deployment recipe in `deploy/`: the unit's
/// `ExecStart=`, the Dockerfile's `ENTRYPOINT`.
fn recipe_command_line(file: &str) -> Vec<String> {
    let path = format!("{}/../../deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    if let Some(line) = text.lines().find_map(|l| l.strip_prefix("ExecStart=")) {
        return line.split_whitespace().map(str::to_owned).collect();
    }
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .unwrap_or_else(|| panic!("no ExecStart= or ENTRYPOINT in {path}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_deployment_recipes_command_lines_start_log_json_and_stop() {
    for recipe in ["byok.service", "Dockerfile"] {
        let argv = recipe_command_line(recipe);
        assert_eq!(argv[0], "/usr/local/bin/byok", "{recipe}");
        assert!(
            argv.windows(2).any(|w| w == ["--log-format", "json"]),
            "{recipe}"
        );
        // The recipe's own flags, with a free port and a temporary data directory.
        let dir = tempfile::tempdir().unwrap();
        let mut args = argv[1..].to_vec();
        for (flag, value) in [
            ("--listen", "127.0.0.1:0".to_owned()),
            ("--data-dir", dir.path().display().to_string()),
        ] {
            let at = args
                .iter()
                .position(|a| a == flag)
                .unwrap_or_else(|| panic!("{recipe}: {flag}"));
            args[at + 1] = value;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_byok"))
            .args(&args)
            .env_remove("BYOK_MASTER_KEY")
            .env_remove("BYOK_MASTER_KEY_FILE")
            .env_remove("BYOK_VAULT")
            .env_remove("BYOK_LEDGER")
            .env_remove("BYOK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, read) = std::sync::mpsc::channel::<String>();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let next = || {
            read.recv_timeout(Duration::from_secs(20))
                .expect("a log line")
        };
        let mut seen = Vec::new();
        let addr = loop {
            let line = next();
            let found = listening(&line).map(|(_, a)| a);
            seen.push(line);
            if let Some(a) = found {
                break a;
            }
        };
        let mut token = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut token)
            .unwrap();
        let token = token.trim().to_owned();
        assert!(
            token.starts_with("byok_adm_"),
            "{recipe}: the first start prints the token"
        );

        let answer = get_with(
            &addr,
            "/v1/workspaces",
            &token,
            "x-request-id: deploy-check-1\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains("x-byok-request-id: deploy-check-1"),
            "{answer}"
        );

        // The request's own line: its id, route template, status and token id.
        let token_id = token.split('_').nth(2).unwrap();
        let answered = loop {
            let line = next();
            seen.push(line.clone());
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["span"]["request_id"] == "deploy-check-1" && v["fields"]["message"] == "answered" {
                break v;
            }
        };
        assert_eq!(answered["level"], "INFO");
        assert_eq!(answered["span"]["route"], "/v1/workspaces");
        assert_eq!(answered["span"]["method"], "GET");
        assert_eq!(answered["fields"]["status"], 200);
        assert_eq!(answered["fields"]["token"], token_id);
        assert!(answered["fields"]["duration_ms"].as_f64().is_some());
        stop(child);
        while let Ok(line) = read.recv_timeout(Duration::from_secs(5)) {
            seen.push(line);
        }
        // Every line is JSON, the master key's note a warning; none holds the token.
        for line in &seen {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{recipe}: not a JSON line: {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
            assert!(
                !line.contains(&token[9..]),
                "{recipe}: the token's secret was logged"
            );
        }
        assert!(
            seen.iter()
                .any(|l| l.contains("master key") && l.contains("\"WARN\""))
        );
        assert!(
            seen.last().unwrap().contains("byok serve: stopped"),
            "{seen:?}"
        );
    }

    // The unit as systemd reads it.
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("SKIP systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(format!(
        "{}/../../deploy/byok.service",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("/usr/local/bin/byok", env!("CARGO_BIN_EXE_byok"));
    let path = dir.path().join("byok.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A program on `$PATH`.
fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// Two `byok serve` processes of one deployment: one PostgreSQL vault (a fresh
/// database), one Redis ledger, one master key. A key added through one is
/// used by the other's proxy, and 2 × 1,000 proxied calls racing on one budget
/// through both admit exactly what fits. Skipped loudly without
/// `BYOK_TEST_POSTGRES_URL` and `BYOK_TEST_REDIS_URL` (a failure under
/// `BYOK_REQUIRE_SERVICES=1`).
#[test]
fn two_processes_on_one_postgres_and_redis_share_keys_and_one_budget() {
    let (pg, redis) = match (
        std::env::var("BYOK_TEST_POSTGRES_URL"),
        std::env::var("BYOK_TEST_REDIS_URL"),
    ) {
        (Ok(pg), Ok(redis)) if !pg.is_empty() && !redis.is_empty() => (pg, redis),
        _ => {
            assert!(
                std::env::var("BYOK_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "BYOK_REQUIRE_SERVICES=1 but BYOK_TEST_POSTGRES_URL or BYOK_TEST_REDIS_URL is unset"
            );
            eprintln!(
                "SKIP two_processes_on_one_postgres_and_redis_share_keys_and_one_budget: set BYOK_TEST_POSTGRES_URL and BYOK_TEST_REDIS_URL"
            );
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A fresh vault database, and the mock both servers send to.
    let name = format!("byok_cli_twin_{}", std::process::id());
    let base = pg.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    let vault_url = format!("{base}/{name}");
    let admin_sql = |sql: String| {
        runtime.block_on(async {
            let pool = sqlx::PgPool::connect(&pg).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        })
    };
    admin_sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    admin_sql(format!("CREATE DATABASE {name}"));
    let mock = runtime.block_on(byok_testkit::MockOpenAi::start());
    let master = byok_testkit::canary::standard::master_key(0);
    let start = |dir: &std::path::Path| {
        let base_url = format!("openai={}", mock.uri());
        let mut cmd = serve_command(
            dir,
            &[
                "--vault".as_ref(),
                vault_url.as_ref(),
                "--ledger".as_ref(),
                redis.as_ref(),
                "--base-url".as_ref(),
                base_url.as_ref(),
                "--rate-limit-tests".as_ref(),
                "off".as_ref(),
            ],
        );
        cmd.env("BYOK_MASTER_KEY", &master);
        start_command(cmd)
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _, addr_a, token) = start(dir_a.path());
    let admin = token.expect("the first process makes the admin token");
    let (b, _, addr_b, again) = start(dir_b.path());
    assert_eq!(again, None, "one deployment, one first admin token");

    let body = serde_json::json!({"model": "gpt-4o-mini", "max_completion_tokens": 5,
        "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]});
    let (admitted, denied, one, spent, held, limit) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let api = |addr: &str, path: &str| format!("http://{addr}{path}");
        // Unique: the Redis ledger outlives the run.
        let ws = &format!(
            "twin-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let created = client
            .post(api(&addr_a, "/v1/workspaces"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "id": ws }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        // A key added (and tested) through A...
        let key = byok_testkit::canary::standard::key(
            byok::keys::Provider::OpenAi,
            byok::keys::KeyKind::Project,
            0,
        );
        let added: serde_json::Value = client
            .post(api(&addr_a, &format!("/v1/workspaces/{ws}/keys")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "key": key, "label": "main" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = added["key"]["id"].as_str().expect("added").to_owned();
        let set_budget = |limit: String| {
            let client = client.clone();
            let url = api(&addr_a, &format!("/v1/workspaces/{ws}/budget"));
            let admin = admin.clone();
            async move {
                let answer = client
                    .put(url)
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({ "limit_usd": limit, "period": "total" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
            }
        };
        set_budget("1000".into()).await;
        let app: serde_json::Value = client
            .post(api(&addr_a, "/v1/tokens"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "scope": "app", "workspace": ws, "name": "twin" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let app = app["token"].as_str().expect("an app token").to_owned();
        // ...answers B's proxied call.
        let path = "/proxy/openai/v1/chat/completions";
        let first = client
            .post(api(&addr_b, path))
            .bearer_auth(&app)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["x-byok-key-id"].to_str().unwrap(), id);
        let one =
            byok::guard::Usd::parse(first.headers()["x-byok-cost-usd"].to_str().unwrap()).unwrap();
        // Room for 150 more calls; 2 × 1,000 race for it through both processes.
        let times =
            |n: u64| (0..n).fold(byok::guard::Usd::ZERO, |s, _| s.checked_add(one).unwrap());
        let limit = times(151);
        set_budget(limit.to_string()).await;
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
        let mut tasks = Vec::new();
        for n in 0..2000 {
            let url = api(if n % 2 == 0 { &addr_a } else { &addr_b }, path);
            let (client, gate, body, app) =
                (client.clone(), gate.clone(), body.clone(), app.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let answer = client
                    .post(&url)
                    .bearer_auth(&app)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                answer.status().as_u16()
            }));
        }
        let (mut admitted, mut denied) = (0u64, 0u64);
        for t in tasks {
            match t.await.unwrap() {
                200 => admitted += 1,
                402 => denied += 1,
                other => panic!("a proxied call answered {other}"),
            }
        }
        let budget: serde_json::Value = client
            .get(api(&addr_b, &format!("/v1/workspaces/{ws}/budget")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let usd = |v: &serde_json::Value| byok::guard::Usd::parse(v.as_str().unwrap()).unwrap();
        let spent = usd(&budget["spent"]);
        let held = usd(&budget["held"]);
        assert_eq!(
            spent,
            times(admitted + 1),
            "every admitted call settled once, at its cost"
        );
        (admitted, denied, one, spent, held, limit)
    });
    assert_eq!(admitted + denied, 2000);
    assert_eq!(held, byok::guard::Usd::ZERO, "no hold left");
    assert!(
        spent <= limit,
        "{spent} spent past the limit {limit} ({one} a call)"
    );
    assert_eq!(
        admitted, 150,
        "exactly what fits: admitted {admitted}, denied {denied}"
    );
    stop(b);
    stop(a);
    drop(mock);
    admin_sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

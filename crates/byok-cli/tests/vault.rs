//! Black-box tests of `byok vault`: the CLI contract, and the vault's proofs —
//! the file never holds a key, tampering is caught per record, SIGKILL loses no
//! acknowledged write, and two processes can share one vault.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use byok::keys::{ExposeSecret, KeyKind, Provider, SecretString, fake};
use byok::store::{
    AuditAction, Kek, KeyStore, Keyring, MasterKey, SealedSecret, SqliteStore, WorkspaceId,
    binding, conformance,
};
use byok_testkit::canary::{Canary, Detector};
use common::{
    assert_error, assert_exit, assert_no_leak, assert_refused, byok_cmd, error_code, json_lines,
    run, text,
};
use serde_json::Value;

fn master() -> String {
    MasterKey::generate()
        .unwrap()
        .to_base64()
        .expose_secret()
        .to_owned()
}

struct Vault {
    _dir: tempfile::TempDir,
    path: PathBuf,
    master: String,
}

impl Vault {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        Vault {
            _dir: dir,
            path,
            master: master(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = byok_cmd();
        c.arg("vault").arg("--vault").arg(&self.path).args(args);
        c.env("BYOK_MASTER_KEY", &self.master);
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        run(self.cmd(args), stdin)
    }

    fn spawn(&self, args: &[&str], stdin: &str) -> Child {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child
    }

    /// `run` with the variables `vars` set too.
    fn run_with(&self, args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        c.envs(vars.iter().copied());
        run(c, stdin)
    }

    /// `vault add --no-test --json` of `key` (label `l`), which must succeed: its view.
    fn add(&self, ws: &str, provider: &str, key: &str) -> Value {
        let out = self.run(&add_args(ws, provider, "l"), key);
        assert_eq!(out.status.code(), Some(0), "add failed: {}", text(&out));
        json_lines(&out).remove(0)
    }

    /// `vault edit --json --workspace WS ID --version VERSION CHANGES...`.
    fn edit(&self, ws: &str, id: &str, version: &str, changes: &[&str]) -> Output {
        let mut args = vec![
            "edit",
            "--json",
            "--workspace",
            ws,
            id,
            "--version",
            version,
        ];
        args.extend_from_slice(changes);
        self.run(&args, "")
    }

    /// `vault select --json --workspace WS --provider PROVIDER`.
    fn select(&self, ws: &str, provider: &str) -> Output {
        let args = [
            "select",
            "--json",
            "--workspace",
            ws,
            "--provider",
            provider,
        ];
        self.run(&args, "")
    }

    /// One OpenAI project key per seed added to `ws`: their ids.
    fn add_seeded(&self, ws: &str, seeds: std::ops::Range<u64>) -> Vec<String> {
        seeds
            .map(|seed| {
                let view = self.add(
                    ws,
                    "openai",
                    &fake::key(Provider::OpenAi, KeyKind::Project, seed),
                );
                view["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn ids(&self, ws: &str) -> Vec<String> {
        let out = self.run(&["list", "--json", "--workspace", ws], "");
        assert_exit(&out, 0);
        json_lines(&out)
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// `add --no-test --json --workspace WS --provider PROVIDER --label LABEL`.
fn add_args<'a>(ws: &'a str, provider: &'a str, label: &'a str) -> Vec<&'a str> {
    vec![
        "add",
        "--no-test",
        "--json",
        "--workspace",
        ws,
        "--provider",
        provider,
        "--label",
        label,
    ]
}

/// A runtime for opening the vault file directly, beside the CLI.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn add_list_show_rotate_disable_revoke_delete() {
    let v = Vault::new();
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let view = v.add("acme", "openai", &format!("  {key}\n"));
    for field in [
        "id",
        "workspace",
        "provider",
        "kind",
        "label",
        "role",
        "status",
        "masked",
        "fingerprint",
        "created_at",
    ] {
        assert!(!view[field].is_null(), "{field} missing: {view}");
    }
    assert_eq!(
        (view["workspace"].as_str(), view["provider"].as_str()),
        (Some("acme"), Some("openai"))
    );
    assert_eq!(
        (
            view["kind"].as_str(),
            view["role"].as_str(),
            view["status"].as_str()
        ),
        (Some("project"), Some("primary"), Some("active"))
    );
    assert!(view["masked"].as_str().unwrap().starts_with("sk-proj-…"));
    let id = view["id"].as_str().unwrap().to_owned();

    let backup = fake::key(Provider::OpenAi, KeyKind::ServiceAccount, 2);
    let out = v.run(
        &[
            add_args("acme", "openai", "b"),
            vec!["--role", "backup", "--order", "2"],
        ]
        .concat(),
        &backup,
    );
    assert_eq!(json_lines(&out)[0]["role"], "backup");
    assert_eq!(v.ids("acme")[0], id, "primary listed first");
    assert!(v.ids("other").is_empty(), "workspaces are isolated");

    let out = v.run(&["show", "--json", "--workspace", "other", &id], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "not_found");

    let new_key = fake::key(Provider::OpenAi, KeyKind::Project, 3);
    let out = v.run(&["rotate", "--json", "--workspace", "acme", &id], &new_key);
    let rotated = &json_lines(&out)[0];
    assert_eq!(
        (rotated["id"].as_str(), rotated["version"].as_u64()),
        (Some(id.as_str()), Some(2))
    );
    assert_ne!(rotated["masked"], view["masked"]);
    assert_no_leak(&out, &[&new_key]);

    for (cmd, status) in [
        ("disable", "disabled"),
        ("enable", "active"),
        ("revoke", "revoked"),
    ] {
        let out = v.run(&[cmd, "--json", "--workspace", "acme", &id], "");
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", text(&out));
        assert_eq!(json_lines(&out)[0]["status"], status);
    }
    let out = v.run(&["enable", "--json", "--workspace", "acme", &id], "");
    assert_eq!(json_lines(&out)[0]["error"]["code"], "key_inactive");

    let out = v.run(&["delete", "--json", "--workspace", "acme", &id], "");
    assert_eq!(json_lines(&out)[0]["deleted"], true);
    assert_eq!(v.ids("acme").len(), 1);

    let out = v.run(&["audit", "--json", "--workspace", "acme"], "");
    let actions: Vec<String> = json_lines(&out)
        .iter()
        .filter(|e| e["key_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["add", "rotate", "disable", "enable", "revoke", "delete"]
    );
}

#[test]
fn edit_applies_only_from_the_current_version() {
    let v = Vault::new();
    let view = v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 8),
    );
    let id = view["id"].as_str().unwrap();
    let out = v.edit("w", id, "1", &["--label", "renamed"]);
    assert_exit(&out, 0);
    let edited = &json_lines(&out)[0];
    assert_eq!(
        (edited["label"].as_str(), edited["version"].as_u64()),
        (Some("renamed"), Some(2))
    );
    let out = v.edit("w", id, "1", &["--role", "backup", "--order", "4"]);
    assert_refused(&out, 2, "conflict");
    let out = v.edit("w", id, "2", &["--role", "backup", "--order", "4"]);
    let edited = &json_lines(&out)[0];
    assert_eq!(
        (
            edited["role"].as_str(),
            edited["order"].as_u64(),
            edited["label"].as_str()
        ),
        (Some("backup"), Some(4), Some("renamed"))
    );
}

#[test]
fn refusals_carry_codes_and_exit_codes() {
    let v = Vault::new();
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 4);
    v.add("w", "anthropic", &key);
    let dup = v.run(&add_args("w", "anthropic", "again"), &key);
    assert_refused(&dup, 2, "duplicate");
    assert_no_leak(&dup, &[&key]);

    let wrong = v.run(&add_args("w", "openai", "x"), &key);
    assert_refused(&wrong, 1, "wrong_provider");

    let admin = fake::key(Provider::OpenAi, KeyKind::Admin, 5);
    let refused = v.run(&add_args("w", "openai", "x"), &admin);
    assert_eq!(
        json_lines(&refused)[0]["error"]["code"],
        "admin_key_refused"
    );
    assert_no_leak(&refused, &[&admin]);
    let ok = v.run(
        &[
            "add",
            "--no-test",
            "--json",
            "--usage-sync",
            "--workspace",
            "w",
            "--provider",
            "openai",
            "--label",
            "costs",
        ],
        &admin,
    );
    assert_eq!(json_lines(&ok)[0]["kind"], "admin");

    let mut c = v.cmd(&["list", "--json", "--workspace", "w"]);
    c.env_remove("BYOK_MASTER_KEY");
    let out = run(c, "");
    assert_refused(&out, 2, "missing_master_key");

    let other = master();
    let out = v.run_with(
        &["list", "--json", "--workspace", "w"],
        "",
        &[("BYOK_MASTER_KEY", &other)],
    );
    assert_eq!(json_lines(&out)[0]["error"]["code"], "wrong_master_key");
    assert!(!text(&out).contains(&other) && !text(&out).contains(&v.master));

    let out = v.run(&["show", "--workspace", "w", "not-a-uuid"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[invalid_input]"));
}

#[test]
fn add_help_says_it_tests_and_how_to_skip() {
    let out = byok_cmd()
        .args(["vault", "add", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--no-test") && help.contains("no request is sent"),
        "{help}"
    );
    for flag in ["--depth", "--base-url", "--timeout"] {
        assert!(help.contains(flag), "{flag} missing: {help}");
    }
    assert!(!help.contains("arrives with"), "stale text: {help}");
}

#[test]
fn master_key_file_and_default_path() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, master()).unwrap();
    let data = dir.path().join("data");
    let mut c = byok_cmd();
    c.arg("vault")
        .args(add_args("w", "google", "g"))
        .env_remove("BYOK_MASTER_KEY")
        .env("BYOK_MASTER_KEY_FILE", &key_file)
        .env("XDG_DATA_HOME", &data);
    let out = run(c, fake::key(Provider::Google, KeyKind::Standard, 6));
    assert_exit(&out, 0);
    assert!(
        data.join("byok/vault.db").exists(),
        "default path under XDG_DATA_HOME"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("byok"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }
}

fn vault_files(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = path.parent().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vault.db")
        })
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

#[test]
fn the_vault_file_never_holds_a_key_in_any_encoding() {
    let v = Vault::new();
    // Hold a connection open so the last CLI process does not checkpoint and delete the WAL.
    let rt = runtime();
    let holder = rt.block_on(SqliteStore::open(&v.path)).unwrap();
    let mut keys = Vec::new();
    for (i, (p, k)) in [
        (Provider::OpenAi, KeyKind::Project),
        (Provider::OpenAi, KeyKind::Legacy),
        (Provider::Anthropic, KeyKind::Api),
        (Provider::Google, KeyKind::Standard),
        (Provider::Google, KeyKind::Auth),
    ]
    .into_iter()
    .enumerate()
    {
        let key = fake::key(p, k, 40 + i as u64);
        let view = v.add("w", p.as_str(), &key);
        keys.push(key.clone());
        if i == 0 {
            let rotated = fake::key(p, k, 99);
            let id = view["id"].as_str().unwrap();
            assert_eq!(
                v.run(&["rotate", "--workspace", "w", id], &rotated)
                    .status
                    .code(),
                Some(0)
            );
            keys.push(rotated);
        }
    }
    assert_eq!(v.run(&["check"], "").status.code(), Some(0));
    let files = vault_files(&v.path);
    let names: Vec<_> = files
        .iter()
        .map(|(p, b)| (p.display().to_string(), b.len()))
        .collect();
    let wal = files
        .iter()
        .find(|(p, _)| p.to_string_lossy().ends_with("-wal"));
    assert!(
        wal.is_some_and(|(_, b)| b.len() > 4096),
        "the WAL holds the writes and is checked too: {names:?}"
    );
    assert!(
        files.iter().map(|(_, b)| b.len()).sum::<usize>() > 4096,
        "the files hold data"
    );
    // Every form of every key: any 12 characters of its secret part (after the public
    // prefix, which the mask shows on purpose), raw, hex, base64 (every alignment),
    // UTF-16, escaped.
    let detector: Detector = keys
        .iter()
        .enumerate()
        .map(|(n, key)| Canary::api_key(format!("key #{n}"), key))
        .collect();
    for (path, bytes) in &files {
        detector.assert_clean(&path.display().to_string(), bytes);
    }
    // The search itself works: a piece of a key, base64-encoded inside the file, is found.
    let mut planted = files[0].1.clone();
    let piece = &keys[3][20..60];
    planted.extend(
        base64::engine::general_purpose::STANDARD
            .encode(piece)
            .bytes(),
    );
    let leak = detector.find(&planted).expect("a planted piece is found");
    assert!(leak.form().starts_with("key #3: base64"), "{leak}");
    // The search itself works: the mask, which is stored on purpose, is found.
    let mask_tail = keys[1].as_bytes()[keys[1].len() - 4..].to_vec();
    assert!(files.iter().any(|(_, b)| {
        b.windows(mask_tail.len())
            .any(|w| w == mask_tail.as_slice())
    }));
    rt.block_on(holder.close());
}

#[test]
fn bit_flips_and_swapped_rows_are_caught_per_record() {
    let v = Vault::new();
    let ids = v.add_seeded("w", 200..205);
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open(&v.path).await.unwrap();
        let ws = WorkspaceId::new("w").unwrap();
        let get = |i: usize| {
            let store = &store;
            let ws = &ws;
            let id = ids[i].parse().unwrap();
            async move { store.get(ws, id).await.unwrap() }
        };
        let mut flipped = get(1).await;
        let mut bytes = flipped.sealed.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        flipped.sealed = SealedSecret::from_bytes(bytes);
        store
            .update(&flipped, &conformance::event(&flipped, AuditAction::Update))
            .await
            .unwrap();
        let (mut a, mut b) = (get(2).await, get(3).await);
        std::mem::swap(&mut a.sealed, &mut b.sealed);
        store
            .update(&a, &conformance::event(&a, AuditAction::Update))
            .await
            .unwrap();
        store
            .update(&b, &conformance::event(&b, AuditAction::Update))
            .await
            .unwrap();
        store.close().await;
    });
    let out = v.run(&["check", "--json"], "");
    assert_exit(&out, 1);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 5);
    for line in &lines {
        let i = ids.iter().position(|id| line["id"] == id.as_str()).unwrap();
        assert_eq!(line["workspace"], "w");
        assert_eq!(line["ok"], !(1..=3).contains(&i), "record {i}: {line}");
        if (1..=3).contains(&i) {
            assert_eq!(line["error"]["code"], "corrupt");
        }
    }
    let out = v.run(&["check", "--json", "--workspace", "elsewhere"], "");
    assert_eq!((out.status.code(), json_lines(&out).len()), (Some(0), 0));
}

/// One byte of the schema text made invalid UTF-8 (sqlx's SQLite worker thread
/// panics on it): every read fails with `backend_error` and exit 2, never an
/// empty vault and exit 0.
#[test]
fn a_damaged_schema_fails_every_read_instead_of_showing_an_empty_vault() {
    let v = Vault::new();
    v.add_seeded("w", 300..302);
    // Closing the last connection folds the WAL back into the file.
    let rt = runtime();
    rt.block_on(async { SqliteStore::open(&v.path).await.unwrap().close().await });
    let mut bytes = std::fs::read(&v.path).unwrap();
    let needle = b"label TEXT";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the schema text is in the file");
    bytes[at + 7] = 0xFF;
    std::fs::write(&v.path, &bytes).unwrap();
    for args in [
        &["check", "--json"][..],
        &["check", "--json", "--workspace", "w"],
        &["list", "--json", "--workspace", "w"],
        &[
            "select",
            "--json",
            "--workspace",
            "w",
            "--provider",
            "openai",
        ],
    ] {
        let out = v.run(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("backend_error"),
            "{args:?}: {}",
            text(&out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("\"ok\":true"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn rewrap_moves_to_the_new_master_key() {
    let v = Vault::new();
    v.add_seeded("w", 300..303);
    let new = master();
    let out = v.run(&["rewrap", "--json"], "");
    assert_eq!(
        json_lines(&out)[0]["error"]["code"],
        "invalid_input",
        "rewrap needs BYOK_NEW_MASTER_KEY"
    );
    let out = v.run_with(&["rewrap", "--json"], "", &[("BYOK_NEW_MASTER_KEY", &new)]);
    assert_exit(&out, 0);
    let report = &json_lines(&out)[0];
    assert_eq!(
        (report["rewrapped"].as_u64(), report["complete"].as_bool()),
        (Some(3), Some(true))
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 seen"),
        "progress is reported"
    );
    assert!(!text(&out).contains(&new) && !text(&out).contains(&v.master));

    let out = v.run(&["check"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error[wrong_master_key]"),
        "the old key is retired: {}",
        text(&out)
    );
    let out = v.run_with(&["check", "--json"], "", &[("BYOK_MASTER_KEY", &new)]);
    assert_exit(&out, 0);
    assert!(json_lines(&out).iter().all(|l| l["ok"] == true));
}

/// A rewrap killed after it retired the old key (the last step) is resumed by
/// the command `rewrap --help` gives: the same command again.
#[test]
fn a_rewrap_killed_after_retiring_the_old_key_resumes_with_the_same_command() {
    let v = Vault::new();
    v.add_seeded("w", 320..322);
    let new = master();
    let rewrap = || v.run_with(&["rewrap", "--json"], "", &[("BYOK_NEW_MASTER_KEY", &new)]);
    // The first run got as far as retiring the old key; whether its report was
    // printed does not matter to the operator, who runs the same command again.
    let first = rewrap();
    assert_exit(&first, 0);
    let help = v.run(&["rewrap", "--help"], "");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("run the same command again"),
        "{}",
        text(&help)
    );
    let again = rewrap();
    assert_exit(&again, 0);
    let report = &json_lines(&again)[0];
    assert_eq!(
        (
            report["already"].as_u64(),
            report["remaining"].as_u64(),
            report["complete"].as_bool()
        ),
        (Some(2), Some(0), Some(true)),
        "{report}"
    );
}

#[test]
fn an_interrupted_rewrap_resumes_with_the_same_command() {
    let v = Vault::new();
    let ids = v.add_seeded("w", 400..404);
    let new = master();
    // Interrupt a rewrap by hand: new KEK registered, half the records moved, then "crash".
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open(&v.path).await.unwrap();
        let key = |b64: &str| -> Arc<dyn Kek> {
            Arc::new(MasterKey::from_base64(&SecretString::from(b64.to_owned())).unwrap())
        };
        let (old, next) = (key(&v.master), key(&new));
        let ring = Keyring::unlock(&store, old.clone(), vec![]).await.unwrap();
        ring.begin_rewrap(&store, next.clone()).await.unwrap();
        let ws = WorkspaceId::new("w").unwrap();
        for id in &ids[..2] {
            let mut r = store.get(&ws, id.parse().unwrap()).await.unwrap();
            r.sealed = r
                .sealed
                .rewrap(old.as_ref(), next.as_ref(), binding(&r))
                .await
                .unwrap();
            r.kek_id = next.id().to_owned();
            ring.update(&store, &r, &conformance::event(&r, AuditAction::Rewrap))
                .await
                .unwrap();
        }
        store.close().await;
    });
    let out = v.run_with(&["rewrap", "--json"], "", &[("BYOK_NEW_MASTER_KEY", &new)]);
    assert_exit(&out, 0);
    let report = &json_lines(&out)[0];
    assert_eq!(
        (
            report["rewrapped"].as_u64(),
            report["already"].as_u64(),
            report["complete"].as_bool()
        ),
        (Some(2), Some(2), Some(true))
    );
    let out = v.run_with(&["check", "--json"], "", &[("BYOK_MASTER_KEY", &new)]);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out).len(), 4);
}

#[test]
fn two_processes_writing_one_vault_lose_nothing() {
    let v = Vault::new();
    // Create the vault first so both writers race on writes, not on creation.
    v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 1000),
    );
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let args = (v.path.clone(), v.master.clone());
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..8u64 {
                    let mut c = byok_cmd();
                    c.args(["vault", "--vault"])
                        .arg(&args.0)
                        .args(add_args("w", "google", "x"));
                    c.env("BYOK_MASTER_KEY", &args.1);
                    let out = run(
                        c,
                        fake::key(Provider::Google, KeyKind::Standard, 2000 + w * 100 + i),
                    );
                    assert_exit(&out, 0);
                    ids.push(json_lines(&out)[0]["id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();
    let written: Vec<String> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let listed = v.ids("w");
    assert_eq!(listed.len(), 17);
    for id in &written {
        assert!(listed.contains(id), "lost write {id}");
    }
}

#[test]
fn processes_racing_to_create_a_new_vault_all_succeed() {
    for round in 0..3u64 {
        let v = Vault::new();
        let children: Vec<Child> = (0..4u64)
            .map(|i| {
                let key = fake::key(Provider::Anthropic, KeyKind::Api, 7000 + round * 10 + i);
                v.spawn(&add_args("w", "anthropic", "k"), &key)
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_exit(&out, 0);
        }
        assert_eq!(v.ids("w").len(), 4, "every creator's key is there");
    }
}

#[cfg(unix)]
#[test]
fn sigkill_in_the_middle_of_writes_loses_no_acknowledged_write() {
    let v = Vault::new();
    v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 5000),
    );
    let mut acknowledged = vec![];
    let mut killed = 0;
    for round in 0..6u64 {
        let mut children: Vec<Child> = (0..4u64)
            .map(|i| {
                let key = fake::key(Provider::OpenAi, KeyKind::Project, 6000 + round * 10 + i);
                v.spawn(&add_args("w", "openai", "k"), &key)
            })
            .collect();
        // Kill half of them at staggered moments while they open, migrate, seal and insert.
        std::thread::sleep(std::time::Duration::from_millis(3 * round));
        for child in children.iter_mut().step_by(2) {
            let _ = child.kill();
            killed += 1;
        }
        for child in children {
            let out = child.wait_with_output().unwrap();
            if out.status.code() == Some(0) {
                acknowledged.push(json_lines(&out)[0]["id"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(killed > 0);
    let out = v.run(&["check", "--json"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the vault opens and every record passes check: {}",
        text(&out)
    );
    let listed = v.ids("w");
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged write {id} lost");
    }
    assert!(
        acknowledged.len() >= 12,
        "the unkilled writers all succeeded"
    );
}

// ---- The Vault flow: test on add, `vault test`, `vault select`, against mock providers.

/// A mock OpenAI (its server runs on its own thread) and a runtime to read its records.
struct Mock {
    rt: tokio::runtime::Runtime,
    provider: byok_testkit::MockProvider,
}

impl Mock {
    fn start(builder: byok_testkit::MockBuilder) -> Mock {
        let rt = runtime();
        let provider = rt.block_on(builder.start());
        Mock { rt, provider }
    }

    fn uri(&self) -> String {
        self.provider.uri()
    }

    fn requests(&self) -> usize {
        self.rt.block_on(self.provider.requests()).len()
    }
}

/// `vault add --json` of `key` to workspace `ws`, tested against `mock`.
fn add_tested(v: &Vault, mock: &Mock, ws: &str, key: &str, extra: &[&str]) -> Output {
    add_tested_text(v, mock, ws, key, &[&["--json"], extra].concat())
}

/// `vault add` (text output) of `key` to workspace `ws`, tested against `mock`.
fn add_tested_text(v: &Vault, mock: &Mock, ws: &str, key: &str, extra: &[&str]) -> Output {
    let uri = mock.uri();
    let mut args = vec![
        "add",
        "--workspace",
        ws,
        "--provider",
        "openai",
        "--label",
        "l",
        "--base-url",
        &uri,
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    v.run(&args, key)
}

#[test]
fn add_tests_the_key_first_and_saves_a_valid_one_with_its_verdict() {
    let v = Vault::new();
    let mock = Mock::start(byok_testkit::MockOpenAi::builder());
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 11);
    let out = add_tested(&v, &mock, "w", &key, &[]);
    assert_exit(&out, 0);
    assert_no_leak(&out, &[&key]);
    let view = json_lines(&out).remove(0);
    assert_eq!(view["verdict"], "valid");
    assert_eq!(view["last_verdict"], "valid");
    assert!(view.get("warning").is_none(), "{view}");
    assert!(view["masked"].as_str().unwrap().starts_with("sk-proj-…"));
    assert!(
        mock.requests() >= 2,
        "billing depth: list models and a 1-token call"
    );

    // Text mode says the verdict under the view line.
    let key2 = fake::key(Provider::OpenAi, KeyKind::Project, 12);
    let out = add_tested_text(&v, &mock, "w", &key2, &["--depth", "auth"]);
    assert_exit(&out, 0);
    assert!(text(&out).contains("verdict: valid"), "{}", text(&out));
    assert_no_leak(&out, &[&key2]);
    assert_eq!(v.ids("w").len(), 2);
}

#[test]
fn an_invalid_key_is_refused_with_its_verdict_and_not_stored() {
    let v = Vault::new();
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 13);
    let mock = Mock::start(
        byok_testkit::MockOpenAi::builder()
            .scenario_for_key(&key, byok_testkit::Scenario::InvalidKey),
    );
    let out = add_tested(&v, &mock, "w", &key, &[]);
    assert_exit(&out, 1);
    assert_no_leak(&out, &[&key]);
    let refused = json_lines(&out).remove(0);
    assert_eq!(refused["error"]["code"], "key_rejected");
    assert_eq!(refused["verdict"], "invalid");
    for field in ["reason", "message", "remediation"] {
        assert!(refused[field].is_string(), "{field} missing: {refused}");
    }
    assert!(refused.get("id").is_none(), "nothing was saved: {refused}");
    assert!(v.ids("w").is_empty(), "an invalid key must not be stored");

    // Text mode: the report on stdout, the error code on stderr, exit 1.
    let out = add_tested_text(&v, &mock, "w", &key, &[]);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[key_rejected]"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("what to do:"));
    assert_no_leak(&out, &[&key]);
    assert!(v.ids("w").is_empty());
}

#[test]
fn a_key_without_credits_is_saved_with_a_warning() {
    let v = Vault::new();
    let mock = Mock::start(
        byok_testkit::MockOpenAi::builder().scenario(byok_testkit::Scenario::NoCredits),
    );
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 14);
    let out = add_tested(&v, &mock, "w", &key, &[]);
    assert_exit(&out, 0);
    assert_no_leak(&out, &[&key]);
    let view = json_lines(&out).remove(0);
    assert_eq!(view["verdict"], "no_credits");
    assert_eq!(view["last_verdict"], "no_credits");
    assert!(
        view["warning"].as_str().unwrap().starts_with("saved, but:"),
        "{view}"
    );
    assert_eq!(v.ids("w"), vec![view["id"].as_str().unwrap().to_owned()]);
}

#[test]
fn no_test_sends_no_request() {
    let v = Vault::new();
    let mock = Mock::start(byok_testkit::MockOpenAi::builder());
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 15);
    let out = add_tested(&v, &mock, "w", &key, &["--no-test"]);
    assert_exit(&out, 0);
    let view = json_lines(&out).remove(0);
    assert!(view["verdict"].is_null(), "{view}");
    assert!(view["last_verdict"].is_null(), "{view}");
    assert!(view.get("warning").is_none(), "{view}");
    assert_eq!(mock.requests(), 0, "--no-test must not call the provider");
}

#[test]
fn vault_test_records_the_verdict_on_the_key() {
    let v = Vault::new();
    let mock = Mock::start(byok_testkit::MockOpenAi::builder());
    let key = fake::key(Provider::OpenAi, KeyKind::Project, 16);
    let id = json_lines(&add_tested(&v, &mock, "w", &key, &["--no-test"]))[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = mock.uri();
    let test = |json: bool| {
        let mut args = vec!["test", "--workspace", "w", &id, "--base-url", &uri];
        if json {
            args.push("--json");
        }
        v.run(&args, "")
    };
    let show = || {
        let out = v.run(&["show", "--json", "--workspace", "w", &id], "");
        json_lines(&out).remove(0)
    };

    mock.provider
        .set_scenario(byok_testkit::Scenario::NoCredits);
    let out = test(true);
    assert_exit(&out, 1);
    assert_no_leak(&out, &[&key]);
    let report = json_lines(&out).remove(0);
    assert_eq!(
        (report["verdict"].as_str(), report["id"].as_str()),
        (Some("no_credits"), Some(id.as_str()))
    );
    for field in ["reason", "message", "remediation", "masked", "attempts"] {
        assert!(!report[field].is_null(), "{field} missing: {report}");
    }
    let shown = show();
    assert_eq!(shown["last_verdict"], "no_credits");
    assert!(shown["last_verdict_at"].is_string());

    mock.provider.set_scenario(byok_testkit::Scenario::Valid);
    let out = test(false);
    assert_exit(&out, 0);
    assert!(text(&out).starts_with("valid"), "{}", text(&out));
    assert_no_leak(&out, &[&key]);
    assert_eq!(show()["last_verdict"], "valid");

    // Usage errors: an unknown id, a bad timeout.
    let missing = "0190b1a2-0000-7000-8000-000000000000";
    let out = v.run(&["test", "--json", "--workspace", "w", missing], "");
    assert_exit(&out, 2);
    assert_eq!(json_lines(&out)[0]["error"]["code"], "not_found");
    let out = v.run(
        &["test", "--json", "--workspace", "w", &id, "--timeout", "0"],
        "",
    );
    assert_refused(&out, 2, "invalid_timeout");
}

#[test]
fn vault_select_falls_back_from_a_primary_without_credits() {
    let v = Vault::new();
    let primary = fake::key(Provider::OpenAi, KeyKind::Project, 17);
    let backup = fake::key(Provider::OpenAi, KeyKind::Project, 18);
    let mock = Mock::start(
        byok_testkit::MockOpenAi::builder()
            .scenario_for_key(&primary, byok_testkit::Scenario::NoCredits),
    );
    let p = json_lines(&add_tested(&v, &mock, "w", &primary, &[])).remove(0);
    assert_eq!(p["verdict"], "no_credits");
    let b = json_lines(&add_tested(
        &v,
        &mock,
        "w",
        &backup,
        &["--role", "backup", "--order", "1"],
    ))
    .remove(0);
    assert_eq!(b["verdict"], "valid");

    let out = v.select("w", "openai");
    assert_exit(&out, 0);
    assert_no_leak(&out, &[&primary, &backup]);
    let chosen = json_lines(&out).remove(0);
    assert_eq!(chosen["id"], b["id"]);
    assert_eq!(chosen["masked"], b["masked"]);
    let skipped = chosen["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{chosen}");
    assert_eq!(skipped[0]["id"], p["id"]);
    assert_eq!(skipped[0]["masked"], p["masked"]);
    assert_eq!(skipped[0]["role"], "primary");
    assert_eq!(skipped[0]["reason"]["code"], "last_verdict");
    assert_eq!(skipped[0]["reason"]["verdict"], "no_credits");
    assert!(skipped[0]["reason"]["message"].is_string());

    let out = v.run(&["select", "--workspace", "w", "--provider", "openai"], "");
    assert_exit(&out, 0);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.lines()
            .next()
            .unwrap()
            .starts_with(b["id"].as_str().unwrap()),
        "{t}"
    );
    assert!(t.contains("skipped") && t.contains("no credits"), "{t}");

    // With the backup disabled nothing can serve: exit 1, every candidate and why.
    let bid = b["id"].as_str().unwrap();
    assert_eq!(
        v.run(&["disable", "--workspace", "w", bid], "")
            .status
            .code(),
        Some(0)
    );
    let out = v.select("w", "openai");
    assert_exit(&out, 1);
    assert_no_leak(&out, &[&primary, &backup]);
    let none = json_lines(&out).remove(0);
    assert_eq!(none["error"]["code"], "no_usable_key");
    let reasons: Vec<&str> = none["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["last_verdict", "disabled"]);
    let out = v.run(
        &["select", "--workspace", "w", "--provider", "anthropic"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[no_usable_key]"));
}

#[test]
fn vault_test_sends_base_url_to_the_stored_keys_provider() {
    let v = Vault::new();
    let mock = Mock::start(
        byok_testkit::MockAnthropic::builder().scenario(byok_testkit::Scenario::InvalidKey),
    );
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 19);
    let view = v.add("w", "anthropic", &key);
    let id = view["id"].as_str().unwrap();
    let uri = mock.uri();
    let out = v.run(
        &[
            "test",
            "--json",
            "--workspace",
            "w",
            id,
            "--depth",
            "auth",
            "--base-url",
            &uri,
        ],
        "",
    );
    assert_exit(&out, 1);
    assert_no_leak(&out, &[&key]);
    let report = json_lines(&out).remove(0);
    assert_eq!(
        (report["verdict"].as_str(), report["provider"].as_str()),
        (Some("invalid"), Some("anthropic"))
    );
    assert_eq!(mock.requests(), 1, "auth depth: one list-models call");
    let out = v.run(&["show", "--json", "--workspace", "w", id], "");
    assert_eq!(json_lines(&out)[0]["last_verdict"], "invalid");
    // An invalid stored key is passed over by select.
    let out = v.select("w", "anthropic");
    assert_exit(&out, 1);
    assert_eq!(
        json_lines(&out)[0]["skipped"][0]["reason"]["verdict"],
        "invalid"
    );
}

#[test]
fn usage_sync_admin_keys_are_saved_untested() {
    let v = Vault::new();
    let mock = Mock::start(byok_testkit::MockOpenAi::builder());
    let admin = fake::key(Provider::OpenAi, KeyKind::Admin, 20);
    let out = add_tested(&v, &mock, "w", &admin, &["--usage-sync"]);
    assert_exit(&out, 0);
    assert_no_leak(&out, &[&admin]);
    let view = json_lines(&out).remove(0);
    assert_eq!(view["kind"], "admin");
    assert!(view["verdict"].is_null(), "{view}");
    assert_eq!(mock.requests(), 0, "admin keys cannot make inference calls");
}

// ---- Operator mistakes (hardening): read-only opens, URLs, key sources, permissions.

/// `byok vault ARGS` with exactly the environment given (no inherited BYOK_*).
fn bare(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Command {
    let mut c = byok_cmd();
    c.arg("vault").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[test]
fn read_only_commands_never_create_a_vault() {
    let v = Vault::new();
    let id = "0190b5a0-0000-7000-8000-000000000000";
    let read_only: [&[&str]; 7] = [
        &["check", "--json"],
        &["list", "--json", "--workspace", "w"],
        &["show", "--json", "--workspace", "w", id],
        &["audit", "--json", "--workspace", "w"],
        &[
            "select",
            "--json",
            "--workspace",
            "w",
            "--provider",
            "openai",
        ],
        &["test", "--json", "--workspace", "w", id],
        &["disable", "--json", "--workspace", "w", id],
    ];
    for args in read_only {
        // A path that does not exist: `not_found`, exit 2, and still no file.
        let out = v.run(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert_eq!(error_code(&out).as_deref(), Some("not_found"), "{args:?}");
        assert!(!v.path.exists(), "{args:?} created the vault");
    }
    // An empty file (the restore test's typo, `touch`, a failed copy): the same, untouched.
    std::fs::write(&v.path, b"").unwrap();
    for args in read_only {
        let out = v.run(args, "");
        assert_eq!(
            error_code(&out).as_deref(),
            Some("not_found"),
            "{args:?}: {}",
            text(&out)
        );
        assert_eq!(
            std::fs::metadata(&v.path).unwrap().len(),
            0,
            "{args:?} wrote to it"
        );
    }
    // A SQLite file that is not a vault is not turned into one either.
    std::fs::remove_file(&v.path).unwrap();
    {
        let rt = runtime();
        rt.block_on(async {
            use sqlx::Connection;
            let url = format!("sqlite://{}?mode=rwc", v.path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("CREATE TABLE other (x INTEGER)")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
    }
    let before = std::fs::read(&v.path).unwrap();
    let out = v.run(&["check", "--json"], "");
    assert_error(&out, "not_found");
    assert_eq!(std::fs::read(&v.path).unwrap(), before);
    std::fs::remove_file(&v.path).unwrap();

    // `init` creates it (idempotently); then the read-only commands work.
    for _ in 0..2 {
        let out = v.run(&["init", "--json"], "");
        assert_exit(&out, 0);
        assert_eq!(json_lines(&out)[0]["ready"], true);
    }
    let out = v.run(&["check", "--json"], "");
    assert_exit(&out, 0);
    let out = v.run(&["list", "--json", "--workspace", "w"], "");
    assert_exit(&out, 0);
    // `add` also creates a vault where there is none.
    let fresh = Vault::new();
    fresh.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 21),
    );
    assert_eq!(fresh.ids("w").len(), 1);
}

#[test]
fn vault_url_mistakes_never_print_the_password() {
    let secret = "Zq9-database-password-Xw2";
    let dir = tempfile::tempdir().unwrap();
    let master = master();
    let targets = [
        format!("redis://:{secret}@127.0.0.1:1/0"),
        format!("mysql://root:{secret}@127.0.0.1:1/byok"),
        format!("postgres:/app:{secret}@127.0.0.1:1/byok"),
        format!("postgresql:app:{secret}@127.0.0.1/byok"),
        format!("mongodb+srv://u:{secret}@cluster/x"),
    ];
    for target in &targets {
        for via_env in [false, true] {
            let mut c = if via_env {
                bare(
                    &["list", "--json", "--workspace", "w"],
                    &[
                        ("BYOK_VAULT", target.as_ref()),
                        ("BYOK_MASTER_KEY", master.as_ref()),
                    ],
                )
            } else {
                bare(
                    &[&["--vault", target][..], &add_args("w", "openai", "l")].concat(),
                    &[("BYOK_MASTER_KEY", master.as_ref())],
                )
            };
            c.current_dir(dir.path());
            // The URL is refused before the key is read: no stdin, no broken pipe.
            let out = run(c, "");
            assert_eq!(out.status.code(), Some(2), "{target}: {}", text(&out));
            assert_eq!(
                error_code(&out).as_deref(),
                Some("invalid_vault_url"),
                "{target}"
            );
            assert!(
                !text(&out).contains(secret),
                "password printed: {}",
                text(&out)
            );
            assert!(
                !text(&out).contains("127.0.0.1"),
                "URL printed: {}",
                text(&out)
            );
        }
    }
    // Nothing was created under any of those names.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A well-formed URL with options the driver rejects: a fixed message, no echo.
    let bad_option = format!("postgres://app:{secret}@127.0.0.1:1/byok?sslmode={secret}");
    let out = run(
        bare(
            &["--vault", &bad_option, "list", "--json", "--workspace", "w"],
            &[("BYOK_MASTER_KEY", master.as_ref())],
        ),
        "",
    );
    assert_exit(&out, 2);
    assert_eq!(error_code(&out).as_deref(), Some("backend_error"));
    assert!(!text(&out).contains(secret), "{}", text(&out));
    // Unreachable server: the driver's own message, still without the URL.
    let unreachable = format!("postgres://app:{secret}@127.0.0.1:1/byok");
    let out = run(
        bare(
            &[
                "--vault",
                &unreachable,
                "list",
                "--json",
                "--workspace",
                "w",
            ],
            &[("BYOK_MASTER_KEY", master.as_ref())],
        ),
        "",
    );
    assert_error(&out, "backend_error");
    assert!(!text(&out).contains(secret), "{}", text(&out));
}

#[test]
fn byok_vault_names_the_vault_without_argv() {
    let v = Vault::new();
    let env = [
        ("BYOK_VAULT", v.path.as_os_str()),
        ("BYOK_MASTER_KEY", v.master.as_ref()),
    ];
    let key = fake::key(Provider::Anthropic, KeyKind::Api, 31);
    let out = run(bare(&add_args("w", "anthropic", "a"), &env), &key);
    assert_exit(&out, 0);
    assert!(v.path.exists());
    assert_eq!(v.ids("w").len(), 1, "the same vault as --vault names");
    // --vault wins over BYOK_VAULT.
    let other = Vault::new();
    let mut c = bare(
        &[
            "--vault",
            other.path.to_str().unwrap(),
            "list",
            "--json",
            "--workspace",
            "w",
        ],
        &env,
    );
    c.env("BYOK_MASTER_KEY", &other.master);
    let out = run(c, "");
    assert_error(&out, "not_found");
}

#[test]
fn master_key_sources_are_unambiguous_and_bounded() {
    let v = Vault::new();
    v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 41),
    );
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, format!("{}\n", v.master)).unwrap();
    let list = [
        "--vault",
        v.path.to_str().unwrap(),
        "list",
        "--json",
        "--workspace",
        "w",
    ];

    // Set but empty does not hide the file.
    let out = run(
        bare(
            &list,
            &[
                ("BYOK_MASTER_KEY", "".as_ref()),
                ("BYOK_MASTER_KEY_FILE", key_file.as_os_str()),
            ],
        ),
        "",
    );
    assert_exit(&out, 0);
    // Set but empty and nothing else: said so, not a base64 error.
    let out = run(bare(&list, &[("BYOK_MASTER_KEY", "".as_ref())]), "");
    assert_error(&out, "invalid_master_key");
    assert!(text(&out).contains("empty"), "{}", text(&out));
    // Both given: refused, naming both variables (and neither value).
    let out = run(
        bare(
            &list,
            &[
                ("BYOK_MASTER_KEY", v.master.as_ref()),
                ("BYOK_MASTER_KEY_FILE", key_file.as_os_str()),
            ],
        ),
        "",
    );
    assert_error(&out, "invalid_master_key");
    assert!(
        text(&out).contains("BYOK_MASTER_KEY_FILE"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(&v.master), "{}", text(&out));
    // A huge "key file" is refused after reading at most a few KiB.
    let huge = dir.path().join("huge.key");
    let mut body = format!("{}\n", v.master).into_bytes();
    body.resize(64 << 20, b'A');
    std::fs::write(&huge, body).unwrap();
    let out = run(
        bare(&list, &[("BYOK_MASTER_KEY_FILE", huge.as_os_str())]),
        "",
    );
    assert_error(&out, "invalid_master_key");
    assert!(text(&out).contains("larger than"), "{}", text(&out));
}

#[cfg(unix)]
#[test]
fn readable_vault_and_key_files_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let v = Vault::new();
    v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 51),
    );
    let out = v.run(&["list", "--workspace", "w"], "");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "private by default"
    );

    std::fs::set_permissions(&v.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = v.run(&["list", "--workspace", "w"], "");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the vault file") && err.contains("chmod 600"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, &v.master).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(
        bare(
            &[
                "--vault",
                v.path.to_str().unwrap(),
                "list",
                "--workspace",
                "w",
            ],
            &[("BYOK_MASTER_KEY_FILE", key_file.as_os_str())],
        ),
        "",
    );
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: the master key file"), "{err}");
    assert!(!err.contains(&v.master), "{err}");
}

#[test]
fn audit_is_read_in_pages_and_filtered() {
    let v = Vault::new();
    let added = v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 61),
    );
    let id: byok::store::KeyId = added["id"].as_str().unwrap().parse().unwrap();
    let ws = WorkspaceId::new("w").unwrap();
    let rt = runtime();
    // 2,500 more events: more than two of the CLI's pages of 1,000.
    let middle = rt.block_on(async {
        let store = SqliteStore::open(&v.path).await.unwrap();
        let mut middle = None;
        for i in 0..2500 {
            if i == 1250 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                middle = Some(jiff::Timestamp::now());
            }
            let e =
                byok::store::AuditEvent::now(ws.clone(), id, AuditAction::Use, format!("svc-{i}"));
            store.append_audit(&e).await.unwrap();
        }
        store.close().await;
        middle.unwrap()
    });
    let all = v.run(&["audit", "--json", "--workspace", "w"], "");
    assert_exit(&all, 0);
    let all = json_lines(&all);
    assert_eq!(all.len(), 2501, "every event, across pages");
    assert_eq!(all[0]["action"], "add");
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats"
    );
    assert_eq!(all[2500]["actor"], "svc-2499");

    let first = json_lines(&v.run(
        &["audit", "--json", "--workspace", "w", "--limit", "10"],
        "",
    ));
    assert_eq!(first.len(), 10);
    let after = seqs[9].to_string();
    let rest = json_lines(&v.run(
        &[
            "audit",
            "--json",
            "--workspace",
            "w",
            "--after",
            &after,
            "--limit",
            "1500",
        ],
        "",
    ));
    assert_eq!(rest.len(), 1500);
    assert_eq!(
        rest[0]["seq"].as_u64(),
        Some(seqs[10]),
        "resumes right after the cursor"
    );

    let since = middle.to_string();
    let late = json_lines(&v.run(
        &["audit", "--json", "--workspace", "w", "--since", &since],
        "",
    ));
    assert_eq!(late.len(), 1250, "only events at or after --since");
    assert_eq!(late[0]["actor"], "svc-1250");

    let bad = v.run(
        &[
            "audit",
            "--json",
            "--workspace",
            "w",
            "--since",
            "yesterday",
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn keys_in_plain_text_fields_are_refused() {
    let v = Vault::new();
    let secret = fake::key(Provider::OpenAi, KeyKind::Project, 71);
    let stray = fake::key(Provider::Anthropic, KeyKind::Api, 72);
    let note = format!("old key: {stray}");
    let add = |extra: &[&str]| {
        let mut args = vec!["add", "--no-test", "--json", "--provider", "openai"];
        args.extend_from_slice(extra);
        v.run(&args, &secret)
    };
    let cases: [(&str, Vec<&str>); 5] = [
        ("label", vec!["--workspace", "w", "--label", &stray]),
        (
            "note",
            vec!["--workspace", "w", "--label", "l", "--note", &note],
        ),
        (
            "default_model",
            vec![
                "--workspace",
                "w",
                "--label",
                "l",
                "--default-model",
                &stray,
            ],
        ),
        ("workspace", vec!["--workspace", &stray, "--label", "l"]),
        (
            "actor",
            vec!["--workspace", "w", "--label", "l", "--actor", &stray],
        ),
    ];
    for (field, extra) in &cases {
        let out = add(extra);
        assert_eq!(out.status.code(), Some(2), "{field}: {}", text(&out));
        assert_eq!(
            error_code(&out).as_deref(),
            Some("secret_in_field"),
            "{field}"
        );
        assert!(
            text(&out).contains(field),
            "names the field: {}",
            text(&out)
        );
        assert_no_leak(&out, &[&stray, &secret]);
    }
    // Nothing was stored by any of them.
    let out = v.run(&["init"], "");
    assert_exit(&out, 0);
    assert!(v.ids("w").is_empty());
    // An edit is refused the same way, and the record is unchanged.
    let added = v.add("w", "openai", &secret);
    let id = added["id"].as_str().unwrap();
    let version = added["version"].to_string();
    for flag in ["--label", "--note", "--default-model"] {
        let out = v.edit("w", id, &version, &[flag, &note]);
        assert_eq!(
            error_code(&out).as_deref(),
            Some("secret_in_field"),
            "{flag}: {}",
            text(&out)
        );
    }
    let shown = v.run(&["show", "--json", "--workspace", "w", id], "");
    assert_eq!(json_lines(&shown)[0]["version"], added["version"]);
    assert_eq!(json_lines(&shown)[0]["label"], "l");
}

/// `vault add --param` (repeatable) stores Azure's and Bedrock's parameters
/// (checked: a missing one names itself with an example, a malformed argument is
/// a usage error that never echoes what was typed); `list` and `show` print
/// them (text and JSON); `edit --param` changes one and keeps the others.
#[test]
fn params_are_added_listed_shown_and_edited() {
    let v = Vault::new();
    let azure = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 31);
    let mut args = add_args("w", "azure_openai", "azure");
    let out = v.run(&args, &azure);
    assert_refused(&out, 2, "missing_param");
    assert!(
        text(&out).contains("resource=my-resource"),
        "{}",
        text(&out)
    );
    args.extend([
        "--param",
        "resource=contoso",
        "--param",
        "deployment=gpt-4o-mini",
    ]);
    let out = v.run(&args, &azure);
    assert_exit(&out, 0);
    let view = &json_lines(&out)[0];
    assert_eq!(
        view["params"],
        serde_json::json!({"resource": "contoso", "deployment": "gpt-4o-mini"})
    );
    let id = view["id"].as_str().unwrap().to_owned();

    let out = v.run(&["list", "--workspace", "w"], "");
    assert_exit(&out, 0);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("params: deployment=gpt-4o-mini resource=contoso"),
        "{listed}"
    );
    let out = v.run(&["show", "--json", "--workspace", "w", &id], "");
    assert_eq!(json_lines(&out)[0]["params"]["resource"], "contoso");

    let out = v.edit(
        "w",
        &id,
        "1",
        &["--param", "api_version=2025-04-01-preview"],
    );
    assert_exit(&out, 0);
    assert_eq!(
        json_lines(&out)[0]["params"],
        serde_json::json!({"resource": "contoso", "deployment": "gpt-4o-mini",
                           "api_version": "2025-04-01-preview"})
    );
    let out = v.edit("w", &id, "2", &["--param", "resource=Not A Name"]);
    assert_refused(&out, 2, "invalid_param");
    let out = v.edit("w", &id, "2", &["--param", "region=us-east-1"]);
    assert_refused(&out, 2, "unknown_param");

    // A malformed argument: a coded usage error that does not repeat it.
    let pasted = fake::key(Provider::OpenAi, KeyKind::Project, 32);
    let mut bad = add_args("w", "bedrock", "b");
    bad.extend(["--param", pasted.as_str()]);
    let out = v.run(&bad, &fake::key(Provider::Bedrock, KeyKind::LongTerm, 33));
    assert_refused(&out, 2, "invalid_param_syntax");
    assert!(!text(&out).contains(&pasted[8..30]), "{}", text(&out));
    let out = v.edit("w", &id, "2", &["--param", "=x"]);
    assert_refused(&out, 2, "invalid_param_syntax");

    // Bedrock: the region given, or read from a short-term key.
    let mut args = add_args("w", "bedrock", "long");
    args.extend(["--param", "region=eu-west-1"]);
    let out = v.run(&args, &fake::key(Provider::Bedrock, KeyKind::LongTerm, 34));
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["params"]["region"], "eu-west-1");
    let short = fake::bedrock_short_term(
        35,
        "ap-southeast-2",
        fake::short_term_issued(),
        std::time::Duration::from_secs(3600),
    );
    let out = v.run(&add_args("w", "bedrock", "short"), &short);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["params"]["region"], "ap-southeast-2");
    // Keys without parameters print as before, with `params: {}` in JSON.
    let openai = v.add(
        "w",
        "openai",
        &fake::key(Provider::OpenAi, KeyKind::Project, 36),
    );
    assert_eq!(openai["params"], serde_json::json!({}));
}

/// `vault rotate --param` moves a key to another resource or region in the same
/// step as its new secret (the parameters not named are kept); a wrong parameter
/// is refused before the secret is read and changes nothing.
#[test]
fn rotate_with_params_changes_them_with_the_secret() {
    let v = Vault::new();
    let first = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 41);
    let mut args = add_args("w", "azure_openai", "azure");
    args.extend([
        "--param",
        "resource=contoso",
        "--param",
        "deployment=gpt-4o-mini",
    ]);
    let out = v.run(&args, &first);
    assert_exit(&out, 0);
    let added = json_lines(&out).remove(0);
    let id = added["id"].as_str().unwrap().to_owned();

    let second = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 42);
    let rotate = |extra: &[&str], stdin: &str| {
        let mut a = vec!["rotate", "--json", "--workspace", "w", id.as_str()];
        a.extend_from_slice(extra);
        v.run(&a, stdin)
    };
    for (extra, code) in [
        (&["--param", "resource=Not A Name"][..], "invalid_param"),
        (&["--param", "region=us-east-1"][..], "unknown_param"),
        (&["--param", "resource"][..], "invalid_param_syntax"),
    ] {
        let out = rotate(extra, &second);
        assert_refused(&out, 2, code);
        assert!(!text(&out).contains(&second[5..]), "{}", text(&out));
    }
    let shown = json_lines(&v.run(&["show", "--json", "--workspace", "w", &id], "")).remove(0);
    assert_eq!(
        shown["fingerprint"], added["fingerprint"],
        "nothing changed"
    );
    assert_eq!(shown["params"], added["params"]);

    let out = rotate(&["--param", "resource=fabrikam"], &second);
    assert_exit(&out, 0);
    let rotated = json_lines(&out).remove(0);
    assert_eq!(rotated["id"], added["id"]);
    assert_ne!(rotated["fingerprint"], added["fingerprint"]);
    assert_eq!(
        rotated["params"],
        serde_json::json!({"resource": "fabrikam", "deployment": "gpt-4o-mini"})
    );
    // Without --param the parameters stay.
    let third = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 43);
    let out = rotate(&[], &third);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["params"], rotated["params"]);
}

//! `Server::run_tls`: the API over TLS with a self-signed certificate (rcgen);
//! a client that never finishes its handshake, or speaks plain HTTP to the TLS
//! port, holds up no one; bad certificate files are `tls_config` errors that
//! quote no key material; shutdown is graceful.

use std::time::Duration;

use byok_serve::TlsConfig;
use tokio::io::AsyncWriteExt;

use crate::common::Harness;

struct Pem {
    cert: String,
    key: String,
}

fn self_signed() -> Pem {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    Pem {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    }
}

/// The base64 body of a PEM block (what must never be quoted back).
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_served_over_tls_and_stalled_handshakes_block_no_one() {
    let h = Harness::start().await;
    let pem = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &pem.cert).unwrap();
    std::fs::write(&key_path, &pem.key).unwrap();
    let tls = TlsConfig::from_pem_files(&cert_path, &key_path).unwrap();
    assert!(!format!("{tls:?}").contains(&pem_body(&pem.key)[..40]));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = h.server.clone();
    let running = tokio::spawn(async move {
        server
            .run_tls(listener, &tls, async {
                let _ = stopped.await;
            })
            .await
    });

    // A client that opens a connection and sends nothing, and one that speaks
    // plain HTTP to the TLS port.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP gets no answer from the TLS port"
    );

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.cert.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    let workspaces = client
        .get(format!("{base}/v1/workspaces"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(workspaces.status(), 200);
    let refused = client
        .get(format!("{base}/v1/workspaces"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // A client that does not trust the certificate gets no answer.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );

    let _ = stalled.write_all(b"\x16").await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the TLS server stops")
        .unwrap()
        .unwrap();
    drop(stalled);
    h.stop().await;
}

#[test]
fn bad_certificate_files_are_clear_errors_that_quote_no_key() {
    let a = self_signed();
    let b = self_signed();
    let cases: [(&str, &[u8], &[u8], &str); 4] = [
        ("not PEM", b"hello", a.key.as_bytes(), "no certificate"),
        (
            "no key",
            a.cert.as_bytes(),
            b"-----BEGIN NOTHING-----\n",
            "no PEM private key",
        ),
        (
            "key of another",
            a.cert.as_bytes(),
            b.key.as_bytes(),
            "do not go together",
        ),
        (
            "cert as key",
            a.cert.as_bytes(),
            a.cert.as_bytes(),
            "no PEM private key",
        ),
    ];
    for (what, cert, key, says) in cases {
        let err = TlsConfig::from_pem(cert, key).unwrap_err();
        assert_eq!(err.code(), "tls_config", "{what}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(says), "{what}: {shown}");
        for secret in [&a.key, &b.key] {
            assert!(
                !shown.contains(&pem_body(secret)[..24]),
                "{what}: key quoted"
            );
        }
    }
    let missing = std::path::Path::new("/definitely/not/here.pem");
    let err = TlsConfig::from_pem_files(missing, missing).unwrap_err();
    assert_eq!(err.code(), "tls_config");
    assert!(
        err.to_string().contains("cannot read the TLS certificate"),
        "{err}"
    );
}

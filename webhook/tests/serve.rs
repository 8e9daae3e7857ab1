//! `kagi-webhook serve` over real TLS, driven by a rustls client speaking plain HTTP/1.1:
//! mutate, health, metrics, refusals, a certificate swapped the way the kubelet updates a
//! Secret volume, and SIGTERM while a review is in flight.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn serves_reviews_health_and_metrics() {
    let (pki, _volume, server) = start();
    let reply = mutate(&pki, server.addr, &fixture("review-v1.json"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.headers.contains("content-type: application/json"),
        "{}",
        reply.headers
    );
    let review = reply.json();
    assert_eq!(
        review["response"]["uid"],
        "b7a0c6f2-1e3d-4f5a-9b8c-7d6e5f4a3b21"
    );
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch", "{review}");

    let reply = get(&pki, server.addr, "/health/ready").await;
    assert_eq!(reply.status, 204);

    let reply = get(&pki, server.addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    for line in [
        "vault_agent_injector_request_queue_length 0",
        "vault_agent_injector_request_processing_duration_ms_count 1",
        "vault_agent_injector_injections_by_namespace_total{namespace=\"shop\",",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}

/// The API server offers `h2` and `http/1.1` by ALPN; each negotiated version is served, as
/// is a client offering none (sniffed), and other methods on `/mutate` still get 405.
#[tokio::test]
async fn serves_reviews_in_the_http_version_alpn_negotiated() {
    let (pki, _volume, server) = start();
    let review = fixture("review-5-secrets.json");
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = pki
        .client_offering(&[b"http/1.1"])
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let head = head("POST", "/mutate", Some("application/json"), review.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&review).await.unwrap();
    let reply = read_reply(stream).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["response"]["patchType"], "JSONPatch");

    // HTTP/2 from a real client (curl), as the API server's Go client would negotiate it.
    let output = Command::new("curl")
        // The certificate is not what this test is about (the others check it).
        .args(["-sSk", "--http2"])
        .args([
            "--resolve",
            &format!("localhost:{}:127.0.0.1", server.addr.port()),
        ])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(concat!(
            "@",
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/review-5-secrets.json"
        ))
        .args(["-w", "\n%{http_version} %{http_code}"])
        .arg(format!("https://localhost:{}/mutate", server.addr.port()))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    assert_eq!(
        status,
        "2 200",
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(answer["response"]["patchType"], "JSONPatch");

    let reply = send(&pki, server.addr, "GET", "/mutate", None, b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 405, "{}", reply.text());
}

#[tokio::test]
async fn refuses_wrong_content_type_unreadable_and_oversized_bodies() {
    let (pki, _volume, server) = start();
    let review = fixture("review-v1.json");

    let reply = send(
        &pki,
        server.addr,
        "POST",
        "/mutate",
        Some("text/plain"),
        &review,
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("application/json"),
        "{}",
        reply.text()
    );

    let reply = send(&pki, server.addr, "POST", "/mutate", None, &review)
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("content type"), "{}", reply.text());

    let reply = mutate(&pki, server.addr, b"{\"kind\": \"Pod\"")
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("AdmissionReview"), "{}", reply.text());

    // Announced as larger than the limit: refused before the body is read.
    let mut stream = connect(&pki, server.addr).await.unwrap();
    let too_big = 3 * 1024 * 1024 + 1;
    stream
        .write_all(head("POST", "/mutate", Some("application/json"), too_big).as_bytes())
        .await
        .unwrap();
    let reply = read_reply(stream).await.unwrap();
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.text().contains("larger than the limit"),
        "{}",
        reply.text()
    );

    // Sent in full with a charset parameter: still a JSON review, still answered.
    let reply = send(
        &pki,
        server.addr,
        "POST",
        "/mutate",
        Some("application/json; charset=utf-8"),
        &review,
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_certificate_swapped_like_a_secret_volume_update_is_served_without_a_failed_request() {
    let pki = Pki::new();
    let (cert, key, first_der) = pki.leaf();
    let mut volume = SecretVolume::new(&cert, &key);
    let server = Server::start(&volume);
    let review = fixture("review-v1.json");
    let first = mutate(&pki, server.addr, &review).await.unwrap();
    assert_eq!(first.server_cert, first_der);

    // Reviews keep coming on fresh connections while the files change underneath.
    let pki = Arc::new(pki);
    let stop = Arc::new(AtomicUsize::new(0));
    let traffic = {
        let (pki, stop, review, addr) = (pki.clone(), stop.clone(), review.clone(), server.addr);
        tokio::spawn(async move {
            let (mut answered, mut failed) = (0usize, Vec::new());
            while stop.load(Ordering::SeqCst) == 0 {
                match mutate(&pki, addr, &review).await {
                    Ok(reply) if reply.status == 200 => answered += 1,
                    Ok(reply) => failed.push(format!("HTTP {}: {}", reply.status, reply.text())),
                    Err(error) => failed.push(error.to_string()),
                }
            }
            (answered, failed)
        })
    };

    let (cert, key, second_der) = pki.leaf();
    volume.publish(&cert, &key);
    let mut served_new = false;
    for _ in 0..WAIT_STEPS {
        if mutate(&pki, server.addr, &review)
            .await
            .unwrap()
            .server_cert
            == second_der
        {
            served_new = true;
            break;
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
    stop.store(1, Ordering::SeqCst);
    let (answered, failed) = traffic.await.unwrap();
    assert!(served_new, "the new certificate was never served");
    assert!(
        failed.is_empty(),
        "{} failed requests: {failed:?}",
        failed.len()
    );
    assert!(answered > 0);
}

#[tokio::test]
async fn sigterm_finishes_the_review_in_flight_then_exits() {
    let (pki, _volume, mut server) = start();
    let review = fixture("review-v1.json");
    let (first_half, second_half) = review.split_at(review.len() / 2);
    let mut stream = connect(&pki, server.addr).await.unwrap();
    stream
        .write_all(head("POST", "/mutate", Some("application/json"), review.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(first_half).await.unwrap();
    stream.flush().await.unwrap();

    // The server counts the review as queued once it has its head.
    let mut queued = false;
    for _ in 0..WAIT_STEPS {
        if get(&pki, server.addr, "/metrics")
            .await
            .text()
            .contains("request_queue_length 1")
        {
            queued = true;
            break;
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
    assert!(queued, "the review never showed up in the queue");

    server.terminate();
    // Once draining, new connections are refused, the open one is still served.
    let mut refused = false;
    for _ in 0..WAIT_STEPS {
        if connect(&pki, server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
    assert!(refused, "still accepting connections after SIGTERM");
    stream.write_all(second_half).await.unwrap();
    stream.flush().await.unwrap();
    let reply = read_reply(stream).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["response"]["uid"],
        "b7a0c6f2-1e3d-4f5a-9b8c-7d6e5f4a3b21"
    );
    assert!(server.wait().success(), "{:?}", server.logs.lock().unwrap());
}

#[test]
fn refuses_to_start_without_a_usable_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.crt");
    let output = Command::new(env!("CARGO_BIN_EXE_kagi-webhook"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert-file")
        .arg(&missing)
        .arg("--tls-key-file")
        .arg(Path::new(&missing).with_extension("key"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nope.crt"), "{stderr}");
}

/// A TLS client limited to one protocol version.
fn client_for(
    pki: &Pki,
    version: &'static rustls::SupportedProtocolVersion,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn a_non_empty_variable_wins_over_the_flag_for_serve_flags_too() {
    let pki = Pki::new();
    let (cert, key, _) = pki.leaf();
    let volume = SecretVolume::new(&cert, &key);
    let server = Server::start_with_env(
        &volume,
        &["--tls-min-version=tls12"],
        &[("AGENT_INJECT_TLS_MIN_VERSION", "tls13")],
    );
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let old = client_for(&pki, &rustls::version::TLS12)
        .connect(name.clone(), tcp)
        .await;
    assert!(old.is_err(), "a TLS 1.2 client was served");
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    client_for(&pki, &rustls::version::TLS13)
        .connect(name, tcp)
        .await
        .expect("a TLS 1.3 client is served");
}

#[test]
fn bad_tls_settings_stop_startup_naming_the_value() {
    let pki = Pki::new();
    let (cert, key, _) = pki.leaf();
    let volume = SecretVolume::new(&cert, &key);
    let run = |flags: &[&str], env: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_kagi-webhook"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--tls-cert-file")
            .arg(volume.path("tls.crt"))
            .arg("--tls-key-file")
            .arg(volume.path("tls.key"))
            .args(flags)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flags:?} {env:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run(&[], &[("AGENT_INJECT_TLS_MIN_VERSION", "tls11")]);
    assert!(
        stderr.contains("tls11") && stderr.contains("tls12 or tls13"),
        "{stderr}"
    );
    let stderr = run(
        &["--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_SHA"],
        &[],
    );
    assert!(
        stderr.contains("TLS_RSA_WITH_RC4_128_SHA") && stderr.contains("--tls-cipher-suites"),
        "{stderr}"
    );
}

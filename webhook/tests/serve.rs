//! `kagi-webhook serve` over real TLS, driven by a rustls client speaking plain HTTP/1.1:
//! mutate, health, metrics, refusals, a certificate swapped the way the kubelet updates a
//! Secret volume, and SIGTERM while a review is in flight.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Bound on every wait for the server to reach a state; reaching it is the assertion.
const WAIT_STEPS: usize = 300;
const WAIT_STEP: Duration = Duration::from_millis(100);

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

// === certificates, laid out like a Kubernetes Secret volume ===

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    /// A fresh serving pair for `localhost`: (cert PEM, key PEM, cert DER).
    fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    fn client(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// `tls.crt` and `tls.key` reached through a `..data` symlink swapped atomically on update.
struct SecretVolume {
    dir: tempfile::TempDir,
    generation: usize,
}

impl SecretVolume {
    fn new(cert: &str, key: &str) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        volume.publish(cert, key);
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.path().join(name))
                .unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the kubelet does: new timestamped directory, new `..data` link renamed over the
    /// old one, old directory removed.
    fn publish(&mut self, cert: &str, key: &str) {
        let root = self.dir.path();
        self.generation += 1;
        let old = format!("..gen_{}", self.generation - 1);
        let new = format!("..gen_{}", self.generation);
        std::fs::create_dir(root.join(&new)).unwrap();
        std::fs::write(root.join(&new).join("tls.crt"), cert).unwrap();
        std::fs::write(root.join(&new).join("tls.key"), key).unwrap();
        std::os::unix::fs::symlink(&new, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let _ = std::fs::remove_dir_all(root.join(old));
    }
}

// === the server process ===

struct Server {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(volume: &SecretVolume) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kagi-webhook"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AGENT_INJECT_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--log-level",
                "debug",
            ])
            .arg("--tls-cert-file")
            .arg(volume.path("tls.crt"))
            .arg("--tls-key-file")
            .arg(volume.path("tls.key"))
            .args(["--vault-address", "https://vault.shop.svc:8200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kagi-webhook serve starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let addr = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|log| log["fields"]["addr"].as_str().map(str::to_owned));
                if let Some(addr) = addr {
                    let _ = addr_tx.send(addr);
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("serve never logged its address: {:?}", logs.lock().unwrap());
            }
        };
        Self { child, addr, logs }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..WAIT_STEPS {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(WAIT_STEP);
        }
        panic!("serve did not exit: {:?}", self.logs.lock().unwrap());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === a tiny HTTP/1.1 client over rustls ===

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
    server_cert: CertificateDer<'static>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

async fn connect(pki: &Pki, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    pki.client()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn head(method: &str, path: &str, content_type: Option<&str>, length: usize) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {length}\r\n"
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Reads one response: the head, then `content-length` bytes (a refused request's body may
/// never be read by the server, so waiting for the connection to close could wait forever).
async fn read_reply(mut stream: TlsStream<TcpStream>) -> std::io::Result<Reply> {
    let server_cert = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::other(
                "connection closed before the response head",
            ));
        }
        raw.extend_from_slice(&chunk[..read]);
    };
    let headers = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or(0);
    assert!(!headers.contains("transfer-encoding"), "{headers}");
    let mut body = raw[split + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::other("connection closed inside the body"));
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let status = headers[9..12].parse().unwrap();
    Ok(Reply {
        status,
        headers,
        body,
        server_cert,
    })
}

async fn send(
    pki: &Pki,
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = connect(pki, addr).await?;
    stream
        .write_all(head(method, path, content_type, body.len()).as_bytes())
        .await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    read_reply(stream).await
}

async fn get(pki: &Pki, addr: SocketAddr, path: &str) -> Reply {
    send(pki, addr, "GET", path, None, b"").await.unwrap()
}

async fn mutate(pki: &Pki, addr: SocketAddr, body: &[u8]) -> std::io::Result<Reply> {
    send(pki, addr, "POST", "/mutate", Some("application/json"), body).await
}

fn start() -> (Pki, SecretVolume, Server) {
    let pki = Pki::new();
    let (cert, key, _) = pki.leaf();
    let volume = SecretVolume::new(&cert, &key);
    let server = Server::start(&volume);
    (pki, volume, server)
}

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

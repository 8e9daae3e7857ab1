//! What the tests of `kagi-webhook serve` share: certificates laid out like a Secret volume,
//! the server process, and a small HTTP/1.1 client over rustls.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Bound on every wait for the server to reach a state; reaching it is the assertion.
pub const WAIT_STEPS: usize = 300;
pub const WAIT_STEP: Duration = Duration::from_millis(100);

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

// === certificates, laid out like a Kubernetes Secret volume ===

pub struct Pki {
    pub ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    /// A fresh serving pair for `localhost`: (cert PEM, key PEM, cert DER).
    pub fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    pub fn client(&self) -> TlsConnector {
        self.client_offering(&[])
    }

    /// A client offering these ALPN protocols (none: no ALPN extension at all).
    pub fn client_offering(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut config = config;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

/// `tls.crt` and `tls.key` reached through a `..data` symlink swapped atomically on update.
pub struct SecretVolume {
    dir: tempfile::TempDir,
    generation: usize,
}

impl SecretVolume {
    pub fn new(cert: &str, key: &str) -> Self {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the kubelet does: new timestamped directory, new `..data` link renamed over the
    /// old one, old directory removed.
    pub fn publish(&mut self, cert: &str, key: &str) {
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

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(volume: &SecretVolume) -> Self {
        Self::start_with(volume, &[])
    }

    /// Starts `serve` with more flags.
    pub fn start_with(volume: &SecretVolume, extra: &[&str]) -> Self {
        Self::start_with_env(volume, extra, &[])
    }

    /// Starts `serve` with more flags and `AGENT_INJECT_*` variables.
    pub fn start_with_env(volume: &SecretVolume, extra: &[&str], env: &[(&str, &str)]) -> Self {
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
            .args(extra)
            .envs(env.iter().copied())
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

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
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
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
    pub server_cert: CertificateDer<'static>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

pub async fn connect(pki: &Pki, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    pki.client()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

pub fn head(method: &str, path: &str, content_type: Option<&str>, length: usize) -> String {
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
pub async fn read_reply(mut stream: TlsStream<TcpStream>) -> std::io::Result<Reply> {
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

pub async fn send(
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

pub async fn get(pki: &Pki, addr: SocketAddr, path: &str) -> Reply {
    send(pki, addr, "GET", path, None, b"").await.unwrap()
}

pub async fn mutate(pki: &Pki, addr: SocketAddr, body: &[u8]) -> std::io::Result<Reply> {
    send(pki, addr, "POST", "/mutate", Some("application/json"), body).await
}

pub fn start() -> (Pki, SecretVolume, Server) {
    let pki = Pki::new();
    let (cert, key, _) = pki.leaf();
    let volume = SecretVolume::new(&cert, &key);
    let server = Server::start(&volume);
    (pki, volume, server)
}

/// One TLS connection kept open across requests, as the API server keeps its connections.
pub struct KeepAlive {
    stream: TlsStream<TcpStream>,
    buffer: Vec<u8>,
}

impl KeepAlive {
    pub async fn open(pki: &Pki, addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            stream: connect(pki, addr).await?,
            buffer: Vec::new(),
        })
    }

    /// Sends one request and reads its answer: (status, body, how long it took).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>, Duration)> {
        let started = Instant::now();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // One write: a head and a body in two segments would wait out Nagle and a delayed ACK.
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.stream.flush().await?;
        let mut chunk = [0u8; 16 * 1024];
        let split = loop {
            if let Some(split) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break split;
            }
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(std::io::Error::other("closed before the response head"));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        };
        let headers = String::from_utf8_lossy(&self.buffer[..split]).to_ascii_lowercase();
        let status: u16 = headers[9..12].parse().unwrap();
        let length: usize = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|value| value.trim().parse().unwrap())
            .unwrap_or(0);
        self.buffer.drain(..split + 4);
        while self.buffer.len() < length {
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(std::io::Error::other("closed inside the body"));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
        let body = self.buffer.drain(..length).collect();
        Ok((status, body, started.elapsed()))
    }

    pub async fn mutate(&mut self, body: &[u8]) -> std::io::Result<(u16, Vec<u8>, Duration)> {
        self.request("POST", "/mutate", body).await
    }
}

/// The peak resident memory of a process (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

//! `kagi-webhook serve` as a process over real TLS, and the API server's side of admission:
//! an AdmissionReview sent over HTTPS, the answer checked, its JSON patch applied.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{bins, procs};

/// A running `kagi-webhook serve` with a CA made for it; stopped on drop.
pub struct Webhook {
    dir: TempDir,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    ca_pem: String,
    child: Option<Child>,
}

/// What the webhook answered for one object.
#[derive(Debug, Clone)]
pub struct Admission {
    pub allowed: bool,
    /// `response.status.message` when denied.
    pub message: Option<String>,
    pub warnings: Vec<String>,
    /// The JSON patch returned (empty when the webhook left the object alone).
    pub patch: json_patch::Patch,
    /// The object with the patch applied (the input when no patch came back).
    pub object: Value,
    /// The raw AdmissionReview response.
    pub review: Value,
}

impl Webhook {
    /// Starts `kagi-webhook serve --listen 127.0.0.1:PORT --tls-cert-file .. --tls-key-file ..`
    /// plus `injector_args` (vault-k8s flag names, e.g. `--vault-address=http://...`), and
    /// waits until `GET /health/ready` answers 200 over TLS.
    pub fn start(injector_args: &[&str]) -> anyhow::Result<Webhook> {
        let binary = bins::binary("kagi-webhook")?;
        let dir = procs::scratch_dir("kagi-webhook-")?;
        let (ca_pem, cert_pem, key_pem) = serving_certificate()?;
        let cert_file = dir.path().join("tls.crt");
        let key_file = dir.path().join("tls.key");
        std::fs::write(&cert_file, &cert_pem)?;
        std::fs::write(&key_file, &key_pem)?;
        std::fs::write(dir.path().join("ca.crt"), &ca_pem)?;
        let tls = client_config(&ca_pem)?;

        let mut last_error = None;
        for _ in 0..3 {
            let addr: SocketAddr = ([127, 0, 0, 1], procs::free_port()).into();
            let log_path = dir.path().join("webhook.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)?;
            let mut command = procs::server_command(&binary, "KILL", None);
            command
                .args(["serve", "--listen", &addr.to_string()])
                .arg("--tls-cert-file")
                .arg(&cert_file)
                .arg("--tls-key-file")
                .arg(&key_file)
                .args(injector_args)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let mut child = procs::spawn_server(command).context("starting kagi-webhook")?;
            let ready = procs::wait_for("kagi-webhook readiness", Duration::from_secs(30), || {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(Err(status));
                }
                matches!(
                    https_request(&tls, addr, "GET", "/health/ready", None),
                    Ok((200..=299, _))
                )
                .then_some(Ok(()))
            });
            match ready {
                Ok(Ok(())) => {
                    return Ok(Webhook {
                        dir,
                        addr,
                        tls,
                        ca_pem,
                        child: Some(child),
                    });
                }
                // Most likely the port was taken meanwhile: try another one.
                Ok(Err(status)) => {
                    last_error = Some(anyhow::anyhow!(
                        "kagi-webhook exited ({status}):\n{}",
                        procs::log_tail(&log_path, 3000)
                    ));
                }
                Err(e) => {
                    procs::terminate(&mut child, Duration::from_secs(2));
                    last_error = Some(anyhow::anyhow!(
                        "{e}:\n{}",
                        procs::log_tail(&log_path, 3000)
                    ));
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA that signed the serving certificate (the `caBundle`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The webhook's log so far.
    pub fn log(&self) -> String {
        procs::log_tail(&self.dir.path().join("webhook.log"), 50_000)
    }

    /// Directory holding `tls.crt`, `tls.key`, `ca.crt` (for certificate-rotation tests).
    pub fn tls_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends an AdmissionReview for `object` (a Pod) being created in `namespace`, as the API
    /// server would, and applies the returned patch.
    pub fn admit(&self, object: &Value, namespace: &str) -> anyhow::Result<Admission> {
        let review = admission_review(object, namespace, "CREATE");
        let uid = review["request"]["uid"].clone();
        let (status, body) = self.request("POST", "/mutate", Some(&review))?;
        if status != 200 {
            bail!(
                "POST /mutate answered HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let answer: Value = serde_json::from_slice(&body).context("AdmissionReview response")?;
        let response = &answer["response"];
        if response["uid"] != uid {
            bail!(
                "response uid {} does not match request uid {uid}",
                response["uid"]
            );
        }
        let allowed = response["allowed"].as_bool().unwrap_or(false);
        let patch: json_patch::Patch = match response["patch"].as_str() {
            Some(encoded) => {
                if response["patchType"] != "JSONPatch" {
                    bail!("patch with patchType {}", response["patchType"]);
                }
                let bytes = STANDARD.decode(encoded).context("patch is not base64")?;
                serde_json::from_slice(&bytes).context("patch is not a JSON patch")?
            }
            None => json_patch::Patch(Vec::new()),
        };
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch).context("applying the webhook's JSON patch")?;
        Ok(Admission {
            allowed,
            message: response["status"]["message"].as_str().map(str::to_string),
            warnings: response["warnings"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            patch,
            object: patched,
            review: answer,
        })
    }

    /// One HTTPS request (HTTP/1.1, connection closed after), returning status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        https_request(&self.tls, self.addr, method, path, body)
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            procs::terminate(&mut child, Duration::from_secs(5));
        }
    }
}

/// An AdmissionReview v1 request as the API server sends it for a pod creation.
pub fn admission_review(object: &Value, namespace: &str, operation: &str) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let uid = format!("00000000-0000-4000-8000-{:012x}", n);
    let kind = object["kind"].as_str().unwrap_or("Pod");
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": kind },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "requestKind": { "group": "", "version": "v1", "kind": kind },
            "requestResource": { "group": "", "version": "v1", "resource": "pods" },
            "name": object["metadata"]["name"].as_str().unwrap_or(""),
            "namespace": namespace,
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "groups": ["system:serviceaccounts", "system:authenticated"]
            },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" }
        }
    })
}

/// A fresh self-signed CA named `common_name`: its certificate and the issuer that signs with it.
pub fn certificate_authority(
    common_name: &str,
) -> anyhow::Result<(rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>)> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    Ok((ca_cert, rcgen::Issuer::new(ca_params, ca_key)))
}

/// A fresh CA and a serving certificate for 127.0.0.1/localhost signed by it (PEMs).
pub fn serving_certificate() -> anyhow::Result<(String, String, String)> {
    let (ca_cert, issuer) = certificate_authority("kagi harness webhook CA")?;
    let leaf_key = rcgen::KeyPair::generate()?;
    let mut leaf_params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "kagi-webhook.kagi.svc".to_string(),
    ])?;
    leaf_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    Ok((ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem()))
}

/// A TLS client trusting `ca_pem` only.
pub fn client_config(ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certificates(ca_pem)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn pem_certificates(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut b64 = String::new();
    for line in pem.lines() {
        match line.trim() {
            "-----BEGIN CERTIFICATE-----" => {
                in_block = true;
                b64.clear();
            }
            "-----END CERTIFICATE-----" => {
                in_block = false;
                out.push(CertificateDer::from(STANDARD.decode(&b64)?));
            }
            text if in_block => b64.push_str(text),
            _ => {}
        }
    }
    Ok(out)
}

/// A blocking HTTPS/1.1 request (the harness stays usable from sync and async tests alike).
pub fn https_request(
    tls: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = ServerName::try_from("localhost")?.to_owned();
    let connection = rustls::ClientConnection::new(tls.clone(), name)?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if body.is_some() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&payload);
    stream.write_all(request.as_bytes())?;
    stream.flush()?;

    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .context("bad chunk size")?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    } else if let Some(length) = content_length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        // No length: read to close, tolerating a peer that skips close_notify.
        let _ = reader.read_to_end(&mut body);
    }
    Ok((status, body))
}

/// Where `kagi-webhook`'s binary is (for tests that run `review`/`inject` directly).
pub fn binary() -> anyhow::Result<PathBuf> {
    bins::binary("kagi-webhook")
}

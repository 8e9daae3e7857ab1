//! Running `kagi-agent` and `bao agent` side by side in init mode, and the stand-ins the
//! key-by-key tests need (a Vault answering 503, a CONNECT proxy, OpenBao namespaces).
#![allow(dead_code)] // each test binary uses a different subset

pub mod cases;
pub mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kagi_tests::openbao::{OpenBao, TlsServer};
use serde_json::{Value, json};

/// Environment variables that would change either agent's connection if inherited.
pub const CONNECTION_ENV: &[&str] = &[
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_CONFIG",
    "VAULT_CACERT",
    "VAULT_CACERT_BYTES",
    "VAULT_CAPATH",
    "VAULT_CLIENT_CERT",
    "VAULT_CLIENT_KEY",
    "VAULT_TLS_SERVER_NAME",
    "VAULT_SKIP_VERIFY",
    "VAULT_CLIENT_TIMEOUT",
    "VAULT_MAX_RETRIES",
    "VAULT_NAMESPACE",
    "BAO_ADDR",
    "BAO_TOKEN",
    "BAO_NAMESPACE",
    "HTTPS_PROXY",
    "https_proxy",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Kagi,
    Bao,
}

/// What one init-mode run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    pub log: String,
    pub rendered: Option<String>,
}

/// Runs one agent on `config` (its template renders into `out`) with `env`, to completion.
pub fn run(
    which: Which,
    bao: Option<&OpenBao>,
    dir: &Path,
    name: &str,
    config: &Value,
    env: &[(&str, String)],
) -> Outcome {
    let config_path = dir.join(format!("{name}-{which:?}.json"));
    std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    let log_path = dir.join(format!("{name}-{which:?}.log"));
    let mut cmd = match which {
        Which::Kagi => {
            let mut c =
                Command::new(kagi_tests::bins::binary("kagi-agent").expect("kagi-agent binary"));
            c.arg("run");
            c
        }
        Which::Bao => {
            let bin = match bao {
                Some(bao) => bao.bin().to_path_buf(),
                None => kagi_tests::openbao::find_bao_from(
                    std::env::var_os("BAO_BIN"),
                    std::env::var_os("PATH"),
                )
                .expect("bao (make test-deps)"),
            };
            let mut c = Command::new(bin);
            c.arg("agent");
            c
        }
    };
    cmd.arg("-config").arg(&config_path);
    for var in CONNECTION_ENV {
        cmd.env_remove(var);
    }
    // bao agent's CLI client would also read a token helper file from $HOME.
    cmd.env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let log = std::fs::File::create(&log_path).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut child = cmd.spawn().expect("spawn agent");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dest = config["template"][0]["destination"]
        .as_str()
        .map(PathBuf::from);
    Outcome {
        ok: status.is_some_and(|s| s.success()),
        log: std::fs::read_to_string(&log_path).unwrap_or_default(),
        rendered: dest.and_then(|d| std::fs::read_to_string(d).ok()),
    }
}

/// An init-mode config: `method`, one template reading `secret/data/app` into
/// `<dir>/<name>-<which>.out`.
pub fn init_config(address: &str, method: Value, dir: &Path, name: &str, which: Which) -> Value {
    let mut method = method;
    method["exit_on_err"] = json!(true);
    json!({
        "exit_after_auth": true,
        "vault": { "address": address },
        "auto_auth": {
            "method": method,
            "sink": [ { "type": "file", "config": { "path": dir.join(format!("{name}-{which:?}.token")).display().to_string() } } ]
        },
        "template_config": { "exit_on_retry_failure": true },
        "template": [ {
            "destination": dir.join(format!("{name}-{which:?}.out")).display().to_string(),
            "contents": "{{ with secret \"secret/data/app\" }}{{ .Data.data.user }}{{ end }}"
        } ]
    })
}

pub fn token_method(dir: &Path, token: &str) -> Value {
    let path = dir.join("root-token");
    std::fs::write(&path, token).unwrap();
    json!({ "type": "token_file", "config": { "token_file_path": path.display().to_string() } })
}

pub fn seeded_tls_bao() -> (OpenBao, TlsServer) {
    let (bao, tls) =
        OpenBao::start_tls().expect("OpenBao with TLS (run `make test-deps` if bao is missing)");
    kagi_tests::setup::put_kv(&bao, "secret/app", &[("user", "tls-alice")]).unwrap();
    (bao, tls)
}

/// A tiny stand-in Vault: `lookup-self` succeeds, every other request gets `status`, and
/// every request path is counted. (OpenBao itself cannot be made to answer 503 on demand.)
pub struct FlakyVault {
    pub addr: String,
    pub hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl FlakyVault {
    pub fn start(status: u16, delay: Option<Duration>) -> FlakyVault {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    while let Some(path) = read_request(&mut reader) {
                        *counter.lock().unwrap().entry(path.clone()).or_default() += 1;
                        if let Some(delay) = delay {
                            std::thread::sleep(delay);
                        }
                        let (code, body) = if path.ends_with("/auth/token/lookup-self") {
                            (200, json!({ "data": { "id": "t", "accessor": "a", "ttl": 3600, "renewable": false, "type": "service", "policies": ["root"] } }).to_string())
                        } else if path.ends_with("/sys/health") {
                            (
                                200,
                                json!({ "initialized": true, "sealed": false, "version": "2.7.2" })
                                    .to_string(),
                            )
                        } else {
                            (
                                status,
                                json!({ "errors": ["stand-in failure"] }).to_string(),
                            )
                        };
                        let reply = format!(
                            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FlakyVault { addr, hits }
    }

    /// Requests per path other than the token lookup and health checks.
    pub fn secret_requests(&self) -> BTreeMap<String, usize> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| !p.ends_with("lookup-self") && !p.ends_with("sys/health"))
            .map(|(p, n)| (p.clone(), *n))
            .collect()
    }
}

pub fn bao_in(bao: &OpenBao, namespace: &str, args: &[&str]) -> Value {
    let output = bao
        .cli()
        .env("VAULT_FORMAT", "json")
        .env("VAULT_NAMESPACE", namespace)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "bao {args:?} in {namespace:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Namespaces `admin` and `admin/team`, each with KV v2 at `secret/` holding its own
/// `secret/app`, and AppRole `app` in `admin/team` only. Returns role_id and secret_id files.
pub fn seed_namespaces(bao: &OpenBao, dir: &Path) -> (PathBuf, PathBuf) {
    kagi_tests::setup::put_kv(bao, "secret/app", &[("user", "in-root")]).unwrap();
    bao_in(bao, "", &["namespace", "create", "admin"]);
    bao_in(bao, "admin", &["namespace", "create", "team"]);
    for (ns, user) in [("admin", "in-admin"), ("admin/team", "in-admin-team")] {
        bao_in(bao, ns, &["secrets", "enable", "-path=secret", "kv-v2"]);
        bao_in(
            bao,
            ns,
            &["kv", "put", "secret/app", &format!("user={user}")],
        );
    }
    let policy = dir.join("read.hcl");
    std::fs::write(&policy, "path \"secret/*\" { capabilities = [\"read\", \"list\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }\n").unwrap();
    bao_in(
        bao,
        "admin/team",
        &["policy", "write", "read", &policy.display().to_string()],
    );
    bao_in(bao, "admin/team", &["auth", "enable", "approle"]);
    bao_in(
        bao,
        "admin/team",
        &["write", "auth/approle/role/app", "token_policies=read"],
    );
    let role_id = bao_in(
        bao,
        "admin/team",
        &["read", "auth/approle/role/app/role-id"],
    )["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = bao_in(
        bao,
        "admin/team",
        &["write", "-f", "auth/approle/role/app/secret-id"],
    )["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (role_file, secret_file) = (dir.join("role-id"), dir.join("secret-id"));
    std::fs::write(&role_file, role_id).unwrap();
    std::fs::write(&secret_file, secret_id).unwrap();
    (role_file, secret_file)
}

/// (request path, namespace path) of every audited request since entry `from`.
pub fn namespaced_requests(bao: &OpenBao, from: usize) -> BTreeSet<(String, String)> {
    bao.audit_entries()
        .into_iter()
        .skip(from)
        .filter(|e| e["type"] == "request")
        .map(|e| {
            (
                e["request"]["path"].as_str().unwrap_or("").to_string(),
                e["request"]["namespace"]["path"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .filter(|(path, _)| !path.starts_with("sys/health"))
        .collect()
}

/// A CONNECT proxy that sends every tunnel to `127.0.0.1:<target>` and records what was asked.
pub struct ConnectProxy {
    pub url: String,
    pub requested: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start(target: u16) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requested: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requested.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    seen.lock().unwrap().push(line.trim().to_string());
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                        return;
                    };
                    let mut client = client;
                    if client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
                    let mut down_write = client.try_clone().unwrap();
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut up_read, &mut down_write);
                        let _ = down_write.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut reader, &mut up_write);
                    let _ = up_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ConnectProxy { url, requested }
    }
}

/// Reads one HTTP/1 request from a stand-in's connection and returns its path without the
/// query; None when the client closed it. The body is read and dropped.
pub fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        if header == "\r\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    Some(path)
}

//! Helpers for the `agent_proxy_*` tests: `bao agent` as the oracle, and a stand-in Vault that
//! forwards to a real OpenBao but can answer chosen paths with an error for a while.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kagi_tests::http;
use kagi_tests::openbao::OpenBao;
use serde_json::{Value, json};

/// `bao agent` under test; killed on drop, its log printed when the test fails.
pub struct BaoAgent {
    child: Child,
    pub log: PathBuf,
}

impl BaoAgent {
    pub fn start(bao: &OpenBao, dir: &Path, name: &str, config: &Value) -> BaoAgent {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = bao
            .cli()
            .env_remove("VAULT_TOKEN")
            .env_remove("VAULT_ADDR")
            .args(["agent", "-config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start bao agent");
        BaoAgent { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for BaoAgent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- bao agent log ---\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the sink exists and the proxy on `port` answers.
pub fn wait_ready(port: u16, sink: &Path) {
    kagi_tests::procs::wait_for(
        &format!("proxy on {port} ready"),
        Duration::from_secs(20),
        || {
            (sink.exists() && http::request(port, "GET", "/v1/sys/health", &[], b"").is_ok())
                .then_some(())
        },
    )
    .unwrap();
}

/// A config for either agent: auto-auth `method`, a file sink, a plain tcp listener.
pub fn config(address: &str, method: Value, sink: &Path, port: u16, extra: Value) -> Value {
    let mut config = json!({
        "vault": { "address": address },
        "auto_auth": {
            "method": method,
            "sink": [ { "type": "file", "config": { "path": sink.display().to_string() } } ]
        },
        "listener": [ { "type": "tcp", "address": format!("127.0.0.1:{port}"), "tls_disable": true } ],
    });
    for (key, value) in extra.as_object().expect("an object of stanzas") {
        config[key] = value.clone();
    }
    config
}

/// One request the stand-in saw on a watched path.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

struct Rule {
    prefix: String,
    status: u16,
    /// Fail this many more requests, or until this moment.
    remaining: Option<usize>,
    until: Option<Instant>,
    failed: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

/// The stand-in Vault on `127.0.0.1:port`.
pub struct Flaky {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Flaky {
    /// Forwards everything to `bao` unless a rule says fail.
    pub fn start(bao: &OpenBao) -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (shared, upstream) = (state.clone(), bao.port());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, upstream, &shared));
            }
        });
        Flaky { port, state }
    }

    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next `count` requests whose path starts with `prefix` get `status`.
    pub fn fail_next(&self, prefix: &str, status: u16, count: usize) {
        self.rule(prefix, status, Some(count), None);
    }

    /// Requests whose path starts with `prefix` get `status` for `window`.
    pub fn fail_for(&self, prefix: &str, status: u16, window: Duration) {
        self.rule(prefix, status, None, Some(Instant::now() + window));
    }

    fn rule(&self, prefix: &str, status: u16, remaining: Option<usize>, until: Option<Instant>) {
        let mut state = self.state.lock().unwrap();
        state.rules.retain(|r| r.prefix != prefix);
        state.rules.push(Rule {
            prefix: prefix.into(),
            status,
            remaining,
            until,
            failed: 0,
        });
    }

    /// How many requests a rule for `prefix` refused.
    pub fn failed(&self, prefix: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .rules
            .iter()
            .find(|r| r.prefix == prefix)
            .map_or(0, |r| r.failed)
    }

    /// Every request seen whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn serve(stream: TcpStream, upstream: u16, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let failure = {
            let mut state = state.lock().unwrap();
            state.seen.push(Seen {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
            let now = Instant::now();
            state
                .rules
                .iter_mut()
                .find(|r| {
                    path.starts_with(&r.prefix)
                        && r.remaining.is_none_or(|n| n > 0)
                        && r.until.is_none_or(|t| now < t)
                })
                .map(|rule| {
                    rule.failed += 1;
                    if let Some(n) = rule.remaining.as_mut() {
                        *n -= 1;
                    }
                    (rule.status, rule.failed)
                })
        };
        let (status, headers, reply) = match failure {
            Some((status, n)) => (
                status,
                vec![("content-type".to_owned(), "application/json".to_owned())],
                json!({ "errors": [format!("stand-in failure {n}")] })
                    .to_string()
                    .into_bytes(),
            ),
            None => {
                let keep = [
                    "x-vault-token",
                    "x-vault-namespace",
                    "x-vault-request",
                    "content-type",
                ];
                let forwarded: Vec<(&str, &str)> = headers
                    .iter()
                    .filter(|(n, _)| keep.contains(&n.as_str()))
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                match http::request(upstream, &method, &path, &forwarded, &body) {
                    // Vault's own headers (bao agent's cache needs `Date`), not the framing.
                    Ok(r) => {
                        let framing = ["content-length", "transfer-encoding", "connection"];
                        let headers = r
                            .headers
                            .into_iter()
                            .filter(|(n, _)| !framing.contains(&n.as_str()))
                            .collect();
                        (r.status, headers, r.body)
                    }
                    Err(_) => return,
                }
            }
        };
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", reply.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if out
            .write_all(head.as_bytes())
            .and_then(|_| out.write_all(&reply))
            .is_err()
        {
            return;
        }
    }
}

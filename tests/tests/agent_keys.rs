//! Every Vault connection setting vault-k8s can hand the agent, key by key: each `vault` stanza
//! key and each environment variable the injector puts on the agent container (vault-k8s.md
//! §8 env, §9 config) either changes something a user notices or stops the agent with an
//! error naming it.
//!
//! TLS cases run against an OpenBao listening on TLS with its own CA (server certificate for
//! `vault.kagi.test` only, one listener requiring a client certificate). Namespace cases run
//! the real `bao agent` and `kagi-agent` on the same config against OpenBao 2.7.2 namespaces
//! and compare the rendered files and which requests carried which namespace (audit log).
//! Every agent runs in init mode (`exit_after_auth`, `exit_on_err`, `exit_on_retry_failure`)
//! so a failure ends the process instead of retrying.

mod agent_support;

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
const CONNECTION_ENV: &[&str] = &[
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
enum Which {
    Kagi,
    Bao,
}

/// What one init-mode run left behind.
#[derive(Debug)]
struct Outcome {
    ok: bool,
    log: String,
    rendered: Option<String>,
}

/// Runs one agent on `config` (its template renders into `out`) with `env`, to completion.
fn run(
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
fn init_config(address: &str, method: Value, dir: &Path, name: &str, which: Which) -> Value {
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

fn token_method(dir: &Path, token: &str) -> Value {
    let path = dir.join("root-token");
    std::fs::write(&path, token).unwrap();
    json!({ "type": "token_file", "config": { "token_file_path": path.display().to_string() } })
}

fn seeded_tls_bao() -> (OpenBao, TlsServer) {
    let (bao, tls) =
        OpenBao::start_tls().expect("OpenBao with TLS (run `make test-deps` if bao is missing)");
    kagi_tests::setup::put_kv(&bao, "secret/app", &[("user", "tls-alice")]).unwrap();
    (bao, tls)
}

/// A TLS case: what to set, and whether the agent renders or fails (with a text its log must
/// contain).
struct TlsCase {
    name: &'static str,
    mtls: bool,
    vault: Value,
    env: Vec<(&'static str, String)>,
    expect: Result<(), &'static str>,
    /// Where bao agent knowingly differs: whether it renders, and why kagi does not follow.
    bao_differs: Option<(bool, &'static str)>,
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn tls_cases(tls: &TlsServer, dir: &Path) -> Vec<TlsCase> {
    let ca = path_str(&tls.ca_cert);
    let ca_pem = std::fs::read_to_string(&tls.ca_cert).unwrap();
    // Only certificates: bao agent's template client refuses a `ca_path` holding any other
    // file (kagi skips such files; see `ca_path_files_without_certificates_are_skipped`).
    let ca_dir = dir.join("ca-dir");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(&tls.ca_cert, ca_dir.join("ca.pem")).unwrap();
    let mixed_dir = dir.join("ca-dir-mixed");
    std::fs::create_dir_all(&mixed_dir).unwrap();
    std::fs::copy(&tls.ca_cert, mixed_dir.join("ca.crt")).unwrap();
    std::fs::copy(&tls.client_key, mixed_dir.join("tls.key")).unwrap();
    // A valid CA that did not sign the server: verification must fail with it alone.
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(
        &other_ca,
        kagi_tests::webhook::serving_certificate().unwrap().0,
    )
    .unwrap();
    let name = TlsServer::SERVER_NAME.to_string();
    let s = |v: &str| v.to_string();
    vec![
        TlsCase {
            name: "ca_cert_and_tls_server_name",
            mtls: false,
            vault: json!({ "ca_cert": ca, "tls_server_name": name }),
            env: vec![],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "ca_cert_without_tls_server_name",
            mtls: false,
            vault: json!({ "ca_cert": ca }),
            env: vec![],
            expect: Err("certificate"),
            bao_differs: None,
        },
        TlsCase {
            name: "no_ca",
            mtls: false,
            vault: json!({ "tls_server_name": name }),
            env: vec![],
            expect: Err("certificate"),
            bao_differs: None,
        },
        TlsCase {
            name: "ca_path",
            mtls: false,
            vault: json!({ "ca_path": path_str(&ca_dir), "tls_server_name": name }),
            env: vec![],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "tls_skip_verify",
            mtls: false,
            vault: json!({ "tls_skip_verify": true }),
            env: vec![],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_CACERT_and_VAULT_TLS_SERVER_NAME",
            mtls: false,
            vault: json!({}),
            env: vec![
                ("VAULT_CACERT", ca.clone()),
                ("VAULT_TLS_SERVER_NAME", name.clone()),
            ],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_CAPATH",
            mtls: false,
            vault: json!({ "tls_server_name": name }),
            env: vec![("VAULT_CAPATH", path_str(&ca_dir))],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_CACERT_BYTES",
            mtls: false,
            vault: json!({ "tls_server_name": name }),
            env: vec![("VAULT_CACERT_BYTES", ca_pem.clone())],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_SKIP_VERIFY_true",
            mtls: false,
            vault: json!({}),
            env: vec![("VAULT_SKIP_VERIFY", s("true"))],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_CACERT_overrides_vault_ca_cert",
            mtls: false,
            vault: json!({ "ca_cert": path_str(&other_ca), "tls_server_name": name }),
            env: vec![("VAULT_CACERT", ca.clone())],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "mtls_client_cert_and_key",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name,
                "client_cert": path_str(&tls.client_cert), "client_key": path_str(&tls.client_key) }),
            env: vec![],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "mtls_without_client_cert",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name }),
            env: vec![],
            expect: Err("failed"),
            bao_differs: None,
        },
        TlsCase {
            name: "mtls_env_VAULT_CLIENT_CERT_and_KEY",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name }),
            env: vec![
                ("VAULT_CLIENT_CERT", path_str(&tls.client_cert)),
                ("VAULT_CLIENT_KEY", path_str(&tls.client_key)),
            ],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_ADDR_overrides_vault_address",
            mtls: false,
            vault: json!({ "address": "https://127.0.0.1:9", "ca_cert": ca, "tls_server_name": name }),
            env: vec![("VAULT_ADDR", tls.addr())],
            expect: Ok(()),
            bao_differs: None,
        },
        TlsCase {
            name: "env_VAULT_SKIP_VERIFY_false",
            mtls: false,
            vault: json!({}),
            env: vec![("VAULT_SKIP_VERIFY", s("false"))],
            expect: Err("certificate"),
            bao_differs: Some((
                true,
                "bao agent's setBoolFlag takes any non-empty VAULT_SKIP_VERIFY as true, \
                so \"false\" (which vault-k8s's configmap mode always sets) turns verification off; \
                kagi parses the value as Go's strconv.ParseBool",
            )),
        },
        TlsCase {
            name: "ca_path_files_without_certificates_are_skipped",
            mtls: false,
            vault: json!({ "ca_path": path_str(&mixed_dir), "tls_server_name": name }),
            env: vec![],
            expect: Ok(()),
            bao_differs: Some((
                false,
                "bao's template client refuses a ca_path holding a non-PEM file \
                (a Kubernetes TLS secret mounts tls.key beside ca.crt); kagi skips files without certificates",
            )),
        },
    ]
}

#[test]
fn tls_settings_against_an_openbao_with_its_own_ca() {
    let (bao, tls) = seeded_tls_bao();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut bao_table = BTreeMap::new();
    for case in tls_cases(&tls, dir.path()) {
        let address = if case.mtls {
            tls.mtls_addr()
        } else {
            tls.addr()
        };
        let mut outcomes = BTreeMap::new();
        for which in [Which::Kagi, Which::Bao] {
            let mut config = init_config(
                &address,
                token_method(dir.path(), bao.root_token()),
                dir.path(),
                case.name,
                which,
            );
            for (k, v) in case.vault.as_object().unwrap() {
                config["vault"][k] = v.clone();
            }
            outcomes.insert(
                format!("{which:?}"),
                run(which, Some(&bao), dir.path(), case.name, &config, &case.env),
            );
        }
        let kagi = &outcomes["Kagi"];
        let bao_run = &outcomes["Bao"];
        bao_table.insert(case.name, (bao_run.ok, bao_run.rendered.clone()));
        match case.expect {
            Ok(()) if !(kagi.ok && kagi.rendered.as_deref() == Some("tls-alice")) => {
                failures.push(format!(
                    "{}: kagi should render tls-alice, got ok={} rendered={:?}\n{}",
                    case.name, kagi.ok, kagi.rendered, kagi.log
                ))
            }
            Err(text) if kagi.ok || kagi.rendered.is_some() || !kagi.log.contains(text) => failures
                .push(format!(
                    "{}: kagi should fail mentioning {text:?}, got ok={}\n{}",
                    case.name, kagi.ok, kagi.log
                )),
            _ => {}
        }
        // The oracle: bao agent on the same config, same environment, same server.
        let bao_rendered = bao_run.ok && bao_run.rendered.as_deref() == Some("tls-alice");
        let bao_expected = case
            .bao_differs
            .map_or(case.expect.is_ok(), |(renders, _)| renders);
        if bao_rendered != bao_expected {
            failures.push(format!(
                "{}: bao agent {} but was expected to {}\n{}",
                case.name,
                if bao_rendered { "rendered" } else { "failed" },
                if bao_expected { "render" } else { "fail" },
                bao_run.log
            ));
        }
    }
    eprintln!("bao agent outcomes: {bao_table:#?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Settings that cannot work stop the agent at startup with an error naming the setting.
#[test]
fn unusable_connection_settings_are_startup_errors_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = startup_cases(d);
    let mut failures = Vec::new();
    for (name, vault, env, named) in cases {
        // No server: the error must come before any request.
        let mut config = init_config(
            "https://127.0.0.1:9",
            token_method(d, "unused"),
            d,
            name,
            Which::Kagi,
        );
        for (k, v) in vault.as_object().unwrap() {
            config["vault"][k] = v.clone();
        }
        let started = Instant::now();
        let out = run(Which::Kagi, None, d, name, &config, &env);
        if out.ok || !out.log.contains(named) {
            failures.push(format!(
                "{name}: expected a startup error naming {named}, got ok={}\n{}",
                out.ok, out.log
            ));
        }
        // A startup error, not the end of a retry loop.
        if started.elapsed() > Duration::from_secs(20) {
            failures.push(format!("{name}: took {:?} to fail", started.elapsed()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A startup-error case: `vault` keys, environment, and the setting the error must name.
type StartupCase = (
    &'static str,
    Value,
    Vec<(&'static str, String)>,
    &'static str,
);

fn startup_cases(d: &Path) -> Vec<StartupCase> {
    let not_pem = d.join("not-pem.crt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let empty_dir = d.join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let (ca, cert, _key) = kagi_tests::webhook::serving_certificate().unwrap();
    let cert_path = d.join("client.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    let ca_path = d.join("ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();
    let other_key = d.join("other-key.pem");
    std::fs::write(&other_key, rcgen_key()).unwrap();
    let p = |p: &Path| p.display().to_string();
    vec![
        (
            "bad_ca_cert",
            json!({ "ca_cert": p(&not_pem) }),
            vec![],
            "vault.ca_cert",
        ),
        (
            "missing_ca_cert",
            json!({ "ca_cert": p(&d.join("nope.pem")) }),
            vec![],
            "vault.ca_cert",
        ),
        (
            "ca_path_without_certificates",
            json!({ "ca_path": p(&empty_dir) }),
            vec![],
            "vault.ca_path",
        ),
        (
            "client_cert_without_key",
            json!({ "client_cert": p(&cert_path) }),
            vec![],
            "vault.client_key",
        ),
        (
            "client_key_without_cert",
            json!({ "client_key": p(&other_key) }),
            vec![],
            "vault.client_cert",
        ),
        (
            "unreadable_client_key",
            json!({ "client_cert": p(&cert_path), "client_key": p(&d.join("gone-key.pem")) }),
            vec![],
            "vault.client_key",
        ),
        (
            "client_key_of_another_certificate",
            json!({ "client_cert": p(&cert_path), "client_key": p(&other_key) }),
            vec![],
            "vault.client_key",
        ),
        (
            "bad_tls_server_name",
            json!({ "tls_server_name": "not a name!" }),
            vec![],
            "vault.tls_server_name",
        ),
        (
            "bad_VAULT_CACERT",
            json!({}),
            vec![("VAULT_CACERT", p(&not_pem))],
            "VAULT_CACERT",
        ),
        (
            "bad_VAULT_CACERT_BYTES",
            json!({}),
            vec![("VAULT_CACERT_BYTES", "garbage".to_string())],
            "VAULT_CACERT_BYTES",
        ),
        (
            "bad_VAULT_CAPATH",
            json!({}),
            vec![("VAULT_CAPATH", p(&d.join("no-dir")))],
            "VAULT_CAPATH",
        ),
        (
            "VAULT_CLIENT_CERT_without_key",
            json!({}),
            vec![("VAULT_CLIENT_CERT", p(&cert_path))],
            "VAULT_CLIENT_CERT",
        ),
        (
            "bad_VAULT_CLIENT_TIMEOUT",
            json!({}),
            vec![("VAULT_CLIENT_TIMEOUT", "soon".to_string())],
            "VAULT_CLIENT_TIMEOUT",
        ),
        (
            "bad_VAULT_MAX_RETRIES",
            json!({}),
            vec![("VAULT_MAX_RETRIES", "many".to_string())],
            "VAULT_MAX_RETRIES",
        ),
        (
            "bad_VAULT_SKIP_VERIFY",
            json!({}),
            vec![("VAULT_SKIP_VERIFY", "perhaps".to_string())],
            "VAULT_SKIP_VERIFY",
        ),
    ]
}

fn rcgen_key() -> String {
    // A key unrelated to the certificate in the other files (for the mismatch case).
    let (_, _, key) = kagi_tests::webhook::serving_certificate().unwrap();
    key
}

/// A tiny stand-in Vault: `lookup-self` succeeds, every other request gets `status`, and
/// every request path is counted. (OpenBao itself cannot be made to answer 503 on demand.)
struct FlakyVault {
    addr: String,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl FlakyVault {
    fn start(status: u16, delay: Option<Duration>) -> FlakyVault {
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
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
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
                                return;
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
    fn secret_requests(&self) -> BTreeMap<String, usize> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| !p.ends_with("lookup-self") && !p.ends_with("sys/health"))
            .map(|(p, n)| (p.clone(), *n))
            .collect()
    }
}

/// `VAULT_MAX_RETRIES` (default 2) is how often one failing read is re-sent on a 5xx before
/// the template sees the error; `vault.retry.num_retries` is how often the template then
/// fetches again (-1: never). Both agents send exactly the same requests.
#[test]
fn vault_max_retries_and_num_retries_resend_failing_reads_as_bao_agent_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut measured = Vec::new();
    // (case, VAULT_MAX_RETRIES, vault.retry.num_retries, tries of the failing read if known)
    let cases: [(&str, Option<&str>, i64, Option<usize>); 4] = [
        ("retries-default", None, -1, Some(3)),
        ("retries-0", Some("0"), -1, Some(1)),
        ("retries-1", Some("1"), -1, Some(2)),
        ("num_retries-2", Some("0"), 2, None),
    ];
    for (name, max_retries, num_retries, expected) in cases {
        let mut per_agent = Vec::new();
        for which in [Which::Kagi, Which::Bao] {
            let vault = FlakyVault::start(503, None);
            let mut config = init_config(
                &vault.addr,
                token_method(dir.path(), "t"),
                dir.path(),
                name,
                which,
            );
            config["vault"]["retry"] = json!({ "num_retries": num_retries });
            let env: Vec<(&str, String)> = max_retries
                .map(|v| vec![("VAULT_MAX_RETRIES", v.to_string())])
                .unwrap_or_default();
            let out = run(which, None, dir.path(), name, &config, &env);
            let hits = vault.secret_requests();
            measured.push(format!("{name} {which:?}: ok={} {hits:?}", out.ok));
            if out.ok {
                failures.push(format!("{name} {which:?}: should have failed\n{}", out.log));
            }
            let tries = hits.values().copied().max().unwrap_or(0);
            if expected.is_some_and(|n| n != tries) || tries < 2 && num_retries > 0 {
                failures.push(format!("{name} {which:?}: {hits:?}, expected {expected:?} tries of the failing read\n{}", out.log));
            }
            per_agent.push(hits);
        }
        // With template-level retries bao agent probes `sys/internal/ui/mounts/...` once per
        // dependency and kagi once per attempt (a failed probe is not cached in watch.rs):
        // compare the reads themselves there, every request otherwise.
        let reads = |hits: &BTreeMap<String, usize>| hits.get("/v1/secret/data/app").copied();
        let same = if num_retries > 0 {
            reads(&per_agent[0]) == reads(&per_agent[1])
        } else {
            per_agent[0] == per_agent[1]
        };
        if !same {
            failures.push(format!(
                "{name}: kagi sent {:?}, bao agent {:?}",
                per_agent[0], per_agent[1]
            ));
        }
    }
    eprintln!("{}", measured.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `VAULT_CLIENT_TIMEOUT` bounds a request to a server that never answers.
#[test]
fn vault_client_timeout_bounds_a_request_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    // Answers only after 30 s: with a 1 s timeout the login gives up long before.
    let vault = FlakyVault::start(200, Some(Duration::from_secs(30)));
    let name = "timeout";
    let config = init_config(
        &vault.addr,
        token_method(dir.path(), "t"),
        dir.path(),
        name,
        Which::Kagi,
    );
    let started = Instant::now();
    let out = run(
        Which::Kagi,
        None,
        dir.path(),
        name,
        &config,
        &[("VAULT_CLIENT_TIMEOUT", "1s".to_string())],
    );
    let elapsed = started.elapsed();
    assert!(!out.ok, "the login should have timed out\n{}", out.log);
    assert!(
        out.log.contains("timed out") || out.log.contains("VAULT_CLIENT_TIMEOUT"),
        "{}",
        out.log
    );
    assert!(
        elapsed < Duration::from_secs(25),
        "gave up after {elapsed:?}, not after the 1 s timeout"
    );
}

// ---------------------------------------------------------------------------------------
// Namespaces

fn bao_in(bao: &OpenBao, namespace: &str, args: &[&str]) -> Value {
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
fn seed_namespaces(bao: &OpenBao, dir: &Path) -> (PathBuf, PathBuf) {
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
fn namespaced_requests(bao: &OpenBao, from: usize) -> BTreeSet<(String, String)> {
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

/// (case, `auto_auth.method.namespace`, `VAULT_NAMESPACE`)
const NAMESPACE_CASES: [(&str, Option<&str>, Option<&str>); 5] = [
    ("method_namespace_nested", Some("admin/team"), None),
    ("env_VAULT_NAMESPACE_nested", None, Some("admin/team")),
    (
        "env_wins_over_method",
        Some("admin/nope"),
        Some("admin/team"),
    ),
    ("env_and_method_do_not_combine", Some("team"), Some("admin")),
    ("wrong_method_namespace", Some("admin/nope"), None),
];

#[test]
fn namespaces_are_applied_as_bao_agent_applies_them() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let (role_file, secret_file) = seed_namespaces(&bao, dir.path());
    let approle = |namespace: Option<&str>| {
        let mut m = json!({ "type": "approle", "config": {
            "role_id_file_path": role_file.display().to_string(),
            "secret_id_file_path": secret_file.display().to_string(),
            "remove_secret_id_file_after_reading": false,
        } });
        if let Some(ns) = namespace {
            m["namespace"] = json!(ns);
        }
        m
    };
    let mut failures = Vec::new();
    let mut measured = Vec::new();
    for (name, method_ns, env_ns) in NAMESPACE_CASES {
        let mut results = Vec::new();
        for which in [Which::Bao, Which::Kagi] {
            let config = init_config(&bao.addr(), approle(method_ns), dir.path(), name, which);
            let env: Vec<(&str, String)> = env_ns
                .map(|ns| vec![("VAULT_NAMESPACE", ns.to_string())])
                .unwrap_or_default();
            let from = bao.audit_entries().len();
            let out = run(which, Some(&bao), dir.path(), name, &config, &env);
            let requests = namespaced_requests(&bao, from);
            measured.push(format!(
                "{name} {which:?}: ok={} rendered={:?} requests={requests:?}",
                out.ok, out.rendered
            ));
            results.push((out, requests));
        }
        let (bao_run, bao_requests) = &results[0];
        let (kagi_run, kagi_requests) = &results[1];
        if bao_run.ok != kagi_run.ok || bao_run.rendered != kagi_run.rendered {
            failures.push(format!(
                "{name}: bao agent ok={} rendered={:?}, kagi ok={} rendered={:?}\n--- bao ---\n{}\n--- kagi ---\n{}",
                bao_run.ok, bao_run.rendered, kagi_run.ok, kagi_run.rendered, bao_run.log, kagi_run.log
            ));
        }
        // Same namespace on the same kind of request (kagi may skip requests bao makes, e.g.
        // token lookups, but never send one elsewhere).
        let bao_namespaces: BTreeMap<&str, &str> = bao_requests
            .iter()
            .map(|(p, n)| (p.as_str(), n.as_str()))
            .collect();
        for (path, namespace) in kagi_requests {
            if let Some(expected) = bao_namespaces.get(path.as_str())
                && expected != namespace
            {
                failures.push(format!(
                    "{name}: kagi sent {path} to namespace {namespace:?}, bao agent to {expected:?}"
                ));
            }
        }
    }
    eprintln!("{}", measured.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A CONNECT proxy that sends every tunnel to `127.0.0.1:<target>` and records what was asked.
struct ConnectProxy {
    url: String,
    requested: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start(target: u16) -> ConnectProxy {
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

/// `HTTPS_PROXY` (the `proxy-address` annotation): requests to Vault go through the proxy.
/// The address names a host only the proxy can reach (neither agent proxies loopback
/// addresses the same way: Go never proxies them).
#[test]
fn https_proxy_carries_the_requests_as_in_bao_agent() {
    let (bao, tls) = seeded_tls_bao();
    let dir = tempfile::tempdir().unwrap();
    let address = format!("https://{}:{}", TlsServer::SERVER_NAME, tls.port);
    let mut failures = Vec::new();
    for which in [Which::Kagi, Which::Bao] {
        let proxy = ConnectProxy::start(tls.port);
        let mut config = init_config(
            &address,
            token_method(dir.path(), bao.root_token()),
            dir.path(),
            "proxy",
            which,
        );
        config["vault"]["ca_cert"] = json!(path_str(&tls.ca_cert));
        let through = run(
            which,
            Some(&bao),
            dir.path(),
            "proxy",
            &config,
            &[("HTTPS_PROXY", proxy.url.clone())],
        );
        let asked = proxy.requested.lock().unwrap().clone();
        if !(through.ok && through.rendered.as_deref() == Some("tls-alice")) {
            failures.push(format!(
                "{which:?} through the proxy: ok={} rendered={:?}\n{}",
                through.ok, through.rendered, through.log
            ));
        }
        let expected = format!("CONNECT {}:{} HTTP/1.1", TlsServer::SERVER_NAME, tls.port);
        if !asked.iter().any(|line| *line == expected) {
            failures.push(format!(
                "{which:?}: the proxy saw {asked:?}, expected {expected:?}"
            ));
        }
        let _ = std::fs::remove_file(dir.path().join(format!("proxy-{which:?}.out")));
        let direct = run(which, Some(&bao), dir.path(), "proxy", &config, &[]);
        if direct.ok {
            failures.push(format!(
                "{which:?} without the proxy should not reach {address}\n{}",
                direct.log
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// Key by key

/// Cases proven by whole tests rather than by a row of a case table.
const WHOLE_TESTS: &[&str] = &[
    "vault_client_timeout_bounds_a_request_that_never_answers",
    "log_variables_change_the_log",
    "https_proxy_carries_the_requests_as_in_bao_agent",
    "retries-default",
    "retries-0",
    "retries-1",
    "num_retries-2",
];

/// Every `vault` key vault-k8s writes (vault-k8s.md §9), Vault Agent's `vault.retry`, the
/// method's `namespace`, and every variable the injector sets on the agent container (§8)
/// that configures the connection, with the cases above that prove each one.
const COVERAGE: &[(&str, &[&str])] = &[
    (
        "vault.address",
        &[
            "env_VAULT_ADDR_overrides_vault_address",
            "ca_cert_and_tls_server_name",
        ],
    ),
    (
        "vault.ca_cert",
        &[
            "ca_cert_and_tls_server_name",
            "no_ca",
            "bad_ca_cert",
            "missing_ca_cert",
        ],
    ),
    (
        "vault.ca_path",
        &[
            "ca_path",
            "ca_path_without_certificates",
            "ca_path_files_without_certificates_are_skipped",
        ],
    ),
    ("vault.tls_skip_verify", &["tls_skip_verify"]),
    (
        "vault.client_cert",
        &[
            "mtls_client_cert_and_key",
            "mtls_without_client_cert",
            "client_cert_without_key",
        ],
    ),
    (
        "vault.client_key",
        &[
            "mtls_client_cert_and_key",
            "unreadable_client_key",
            "client_key_of_another_certificate",
            "client_key_without_cert",
        ],
    ),
    (
        "vault.tls_server_name",
        &[
            "ca_cert_and_tls_server_name",
            "ca_cert_without_tls_server_name",
            "bad_tls_server_name",
        ],
    ),
    (
        "vault.retry.num_retries",
        &["num_retries-2", "retries-default"],
    ),
    (
        "auto_auth.method.namespace",
        &[
            "method_namespace_nested",
            "wrong_method_namespace",
            "env_and_method_do_not_combine",
        ],
    ),
    ("VAULT_ADDR", &["env_VAULT_ADDR_overrides_vault_address"]),
    (
        "VAULT_CACERT",
        &[
            "env_VAULT_CACERT_and_VAULT_TLS_SERVER_NAME",
            "env_VAULT_CACERT_overrides_vault_ca_cert",
            "bad_VAULT_CACERT",
        ],
    ),
    (
        "VAULT_CACERT_BYTES",
        &["env_VAULT_CACERT_BYTES", "bad_VAULT_CACERT_BYTES"],
    ),
    ("VAULT_CAPATH", &["env_VAULT_CAPATH", "bad_VAULT_CAPATH"]),
    (
        "VAULT_CLIENT_CERT",
        &[
            "mtls_env_VAULT_CLIENT_CERT_and_KEY",
            "VAULT_CLIENT_CERT_without_key",
        ],
    ),
    ("VAULT_CLIENT_KEY", &["mtls_env_VAULT_CLIENT_CERT_and_KEY"]),
    (
        "VAULT_TLS_SERVER_NAME",
        &["env_VAULT_CACERT_and_VAULT_TLS_SERVER_NAME"],
    ),
    (
        "VAULT_SKIP_VERIFY",
        &[
            "env_VAULT_SKIP_VERIFY_true",
            "env_VAULT_SKIP_VERIFY_false",
            "bad_VAULT_SKIP_VERIFY",
        ],
    ),
    (
        "VAULT_CLIENT_TIMEOUT",
        &[
            "vault_client_timeout_bounds_a_request_that_never_answers",
            "bad_VAULT_CLIENT_TIMEOUT",
        ],
    ),
    (
        "VAULT_MAX_RETRIES",
        &[
            "retries-default",
            "retries-0",
            "retries-1",
            "bad_VAULT_MAX_RETRIES",
        ],
    ),
    (
        "VAULT_NAMESPACE",
        &[
            "env_VAULT_NAMESPACE_nested",
            "env_wins_over_method",
            "env_and_method_do_not_combine",
        ],
    ),
    (
        "HTTPS_PROXY",
        &["https_proxy_carries_the_requests_as_in_bao_agent"],
    ),
    ("VAULT_LOG_LEVEL", &["log_variables_change_the_log"]),
    ("VAULT_LOG_FORMAT", &["log_variables_change_the_log"]),
];

/// The `vault` keys vault-k8s can write (§9) plus `retry`: all must be understood.
const VAULT_STANZA: &[&str] = &[
    "address",
    "ca_cert",
    "ca_path",
    "tls_skip_verify",
    "client_cert",
    "client_key",
    "tls_server_name",
    "retry",
];

/// Each key and variable is proven by at least one case that exists, and the agent takes
/// every `vault` key without calling it unknown. `vault.namespace` is not an OpenBao Agent
/// key (bao agent 2.7.2 ignores it silently): kagi warns, naming it.
#[test]
fn every_key_and_variable_is_proven_by_a_case() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsServer::create(dir.path()).unwrap();
    let mut known: BTreeSet<String> = tls_cases(&tls, dir.path())
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    known.extend(startup_cases(dir.path()).iter().map(|c| c.0.to_string()));
    known.extend(NAMESPACE_CASES.iter().map(|c| c.0.to_string()));
    known.extend(WHOLE_TESTS.iter().map(|t| t.to_string()));
    let mut missing = Vec::new();
    for (key, cases) in COVERAGE {
        for case in cases.iter().filter(|c| !known.contains(**c)) {
            missing.push(format!("{key}: no case named {case}"));
        }
    }
    for key in VAULT_STANZA {
        let full = format!("vault.{key}");
        if !COVERAGE.iter().any(|(k, _)| k.starts_with(&full)) {
            missing.push(format!("{full}: no case proves it"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    // All keys at once, with files that load: none is reported unknown.
    let vault = FlakyVault::start(503, None);
    let p = |p: &Path| p.display().to_string();
    let mut config = init_config(
        &vault.addr,
        token_method(dir.path(), "t"),
        dir.path(),
        "all-keys",
        Which::Kagi,
    );
    config["vault"] = json!({
        "address": vault.addr,
        "ca_cert": p(&tls.ca_cert),
        "ca_path": p(dir.path().join("ca-dir").as_path()),
        "tls_skip_verify": false,
        "client_cert": p(&tls.client_cert),
        "client_key": p(&tls.client_key),
        "tls_server_name": TlsServer::SERVER_NAME,
        "retry": { "num_retries": -1 },
        "namespace": "admin",
    });
    let out = run(Which::Kagi, None, dir.path(), "all-keys", &config, &[]);
    let unknown: Vec<&str> = out
        .log
        .lines()
        .filter(|l| l.contains("unknown config key"))
        .collect();
    assert!(
        unknown.len() == 1 && unknown[0].contains("vault.namespace"),
        "only vault.namespace should be reported unknown, got {unknown:?}\n{}",
        out.log
    );
    // The stanza was used: the request went out (and failed on the stand-in's 503).
    assert!(!vault.secret_requests().is_empty(), "{}", out.log);
}

/// `VAULT_LOG_FORMAT=json` makes every log line a JSON object; `VAULT_LOG_LEVEL=error` keeps
/// only errors.
#[test]
fn log_variables_change_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let vault = FlakyVault::start(503, None);
    let mut config = init_config(
        &vault.addr,
        token_method(dir.path(), "t"),
        dir.path(),
        "log",
        Which::Kagi,
    );
    config["vault"]["retry"] = json!({ "num_retries": -1 });
    let plain = run(Which::Kagi, None, dir.path(), "log-plain", &config, &[]);
    let json_log = run(
        Which::Kagi,
        None,
        dir.path(),
        "log-json",
        &config,
        &[("VAULT_LOG_FORMAT", "json".into())],
    );
    let errors = run(
        Which::Kagi,
        None,
        dir.path(),
        "log-error",
        &config,
        &[("VAULT_LOG_LEVEL", "error".into())],
    );
    assert!(plain.log.contains("INFO"), "{}", plain.log);
    assert!(
        plain
            .log
            .lines()
            .any(|l| serde_json::from_str::<Value>(l).is_err()),
        "{}",
        plain.log
    );
    let lines: Vec<&str> = json_log
        .log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
            "not JSON: {line}"
        );
    }
    assert!(errors.log.contains("ERROR"), "{}", errors.log);
    assert!(
        !errors.log.contains("INFO") && !errors.log.contains("WARN"),
        "{}",
        errors.log
    );
}

//! The agent's own Vault client against `bao agent` 2.7.2, item by item (issue 11 item 1):
//! `Retry-After`, empty environment variables, client certificate bytes, the environment of
//! template commands and the KV v2 preflight. Each case runs the real `bao agent` and
//! `kagi-agent` in init mode on the same config and environment against the same OpenBao (or
//! scripted stand-in) and compares what a user sees: the rendered file, a startup error, the
//! wait before a retry, the command's environment. Agents of one test run side by side.
//!
//! One deliberate deviation: bao agent caches a failed KV v2 preflight as "not KV v2" for
//! good (consul-template #2149) and never renders the secret; kagi asks again
//! (`kv_preflight_failures_are_asked_again_unlike_bao_agent`).

mod keys_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kagi_tests::openbao::TlsServer;
use keys_support::cases::path_str;
use keys_support::client::*;
use keys_support::*;
use serde_json::{Value, json};

/// A job of [`parallel`].
type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// The connection variables a template command saw.
type Vars = BTreeMap<String, String>;

/// A command environment case: name, address kind (`http`, `tls`, `mtls`), `vault` keys,
/// environment.
type CommandCase = (
    &'static str,
    &'static str,
    Value,
    Vec<(&'static str, String)>,
);

/// Runs `jobs` on threads, at most `width` at a time (two cores; bao agent is heavy to start).
fn parallel<T: Send>(jobs: Vec<Job<'_, T>>, width: usize) -> Vec<T> {
    let mut results = Vec::new();
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let batch: Vec<_> = jobs.by_ref().take(width).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = batch.into_iter().map(|job| s.spawn(job)).collect();
            results.extend(handles.into_iter().map(|h| h.join().unwrap()));
        });
    }
    results
}

fn rendered(out: &Outcome, want: &str) -> bool {
    out.ok && out.rendered.as_deref() == Some(want)
}

// ---------------------------------------------------------------------------------------
// 1. Retry-After

/// (case, status of the first read, its Retry-After (`None`: an HTTP date 4 s after the
/// answer, so at least 3 s away), whether it is honoured, the seconds to wait)
fn retry_after_cases() -> Vec<(&'static str, u16, Option<&'static str>, bool, u64)> {
    vec![
        ("retry_after_seconds_on_503", 503, Some("3"), true, 3),
        ("retry_after_date_on_429", 429, None, true, 3),
        ("retry_after_ignored_on_500", 500, Some("6"), false, 6),
    ]
}

/// A 429 or 503 carrying `Retry-After` (seconds or an HTTP date) is retried after exactly that
/// wait; on a 500 the header is ignored and the usual 1–1.5 s backoff applies.
#[test]
fn retry_after_is_honoured_on_429_and_503_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Written once: the jobs run at the same time.
    let method = token_method(d, "t");
    let mut jobs: Vec<Job<'_, String>> = Vec::new();
    for (name, status, header, honoured, secs) in retry_after_cases() {
        for which in [Which::Kagi, Which::Bao] {
            let method = method.clone();
            jobs.push(Box::new(move || {
                let script: Script = Arc::new(move |path, before| match path {
                    "/v1/sys/internal/ui/mounts/secret/data/app" => kv2_mount(),
                    "/v1/secret/data/app" if before == 0 => {
                        let value = header.map_or_else(|| http_date_in(4), str::to_owned);
                        failure(status, &[("Retry-After", value)])
                    }
                    "/v1/secret/data/app" => kv2_secret("alice"),
                    _ => failure(404, &[]),
                });
                let vault = StandIn::start(script);
                let config = init_config(&vault.addr, method, d, name, which);
                let out = run(which, None, d, name, &config, &[]);
                let times = vault.times("/v1/secret/data/app");
                let gap = times.get(1).map(|t| t.duration_since(times[0]));
                let wait_ok = match gap {
                    Some(gap) if honoured => gap >= Duration::from_millis(secs * 1000 - 200),
                    // Ignored: the backoff (1–1.5 s), well short of the header's 6 s.
                    Some(gap) => gap < Duration::from_secs(secs - 2),
                    None => false,
                };
                eprintln!("{name} {which:?}: wait {gap:?}");
                if rendered(&out, "alice") && wait_ok {
                    String::new()
                } else {
                    format!(
                        "{name} {which:?}: ok={} rendered={:?} wait {gap:?} (header {honoured}, {secs} s)\n{}",
                        out.ok, out.rendered, out.log
                    )
                }
            }));
        }
    }
    let failures: Vec<String> = parallel(jobs, 6)
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// 2 and 3. Empty variables; client certificate bytes

/// A case on the TLS OpenBao: `vault` keys, environment, whether both agents render, and a
/// text kagi's log must hold when it does not.
pub struct EnvCase {
    pub name: &'static str,
    pub mtls: bool,
    pub vault: Value,
    pub env: Vec<(&'static str, String)>,
    pub renders: bool,
    pub kagi_says: Option<&'static str>,
    /// Where bao agent knowingly differs: whether it renders, and why.
    pub bao_differs: Option<(bool, &'static str)>,
}

fn env_cases(tls: &TlsServer, dir: &Path) -> Vec<EnvCase> {
    let ca = path_str(&tls.ca_cert);
    let ca_dir = dir.join("ca-dir");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(&tls.ca_cert, ca_dir.join("ca.pem")).unwrap();
    let name = TlsServer::SERVER_NAME.to_string();
    let cert_pem = std::fs::read_to_string(&tls.client_cert).unwrap();
    let key_pem = std::fs::read_to_string(&tls.client_key).unwrap();
    let (_, other_cert, other_key) = kagi_tests::webhook::serving_certificate().unwrap();
    let e = String::new;
    let verified = json!({ "ca_cert": ca, "tls_server_name": name });
    vec![
        EnvCase {
            name: "empty_VAULT_ADDR_erases_vault_address",
            mtls: false,
            vault: json!({ "ca_cert": ca, "tls_server_name": name }),
            env: vec![("VAULT_ADDR", e())],
            renders: false,
            kagi_says: Some("127.0.0.1:8200"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_BAO_ADDR_hides_VAULT_ADDR",
            mtls: false,
            vault: json!({ "address": "https://127.0.0.1:9", "ca_cert": ca, "tls_server_name": name }),
            env: vec![("BAO_ADDR", e()), ("VAULT_ADDR", tls.addr())],
            renders: false,
            kagi_says: Some("127.0.0.1:8200"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_VAULT_CACERT_erases_vault_ca_cert",
            mtls: false,
            vault: verified.clone(),
            env: vec![("VAULT_CACERT", e())],
            renders: false,
            kagi_says: Some("certificate"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_BAO_CACERT_hides_VAULT_CACERT",
            mtls: false,
            vault: json!({ "tls_server_name": name }),
            env: vec![("BAO_CACERT", e()), ("VAULT_CACERT", ca.clone())],
            renders: false,
            kagi_says: Some("certificate"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_VAULT_CAPATH_erases_vault_ca_path",
            mtls: false,
            vault: json!({ "ca_path": path_str(&ca_dir), "tls_server_name": name }),
            env: vec![("VAULT_CAPATH", e())],
            renders: false,
            kagi_says: Some("certificate"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_VAULT_TLS_SERVER_NAME_erases_the_key",
            mtls: false,
            vault: verified.clone(),
            env: vec![("VAULT_TLS_SERVER_NAME", e())],
            renders: false,
            kagi_says: Some("certificate"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_VAULT_SKIP_VERIFY_erases_tls_skip_verify",
            mtls: false,
            vault: json!({ "tls_skip_verify": true }),
            env: vec![("VAULT_SKIP_VERIFY", e())],
            renders: false,
            kagi_says: Some("certificate"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_VAULT_CLIENT_CERT_erases_vault_client_cert",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name,
                "client_cert": path_str(&tls.client_cert), "client_key": path_str(&tls.client_key) }),
            env: vec![("VAULT_CLIENT_CERT", e())],
            renders: false,
            kagi_says: Some("vault.client_cert"),
            bao_differs: None,
        },
        EnvCase {
            name: "empty_client_only_variables_are_unset",
            mtls: false,
            vault: verified.clone(),
            env: vec![
                ("VAULT_CACERT_BYTES", e()),
                ("VAULT_CLIENT_TIMEOUT", e()),
                ("VAULT_MAX_RETRIES", e()),
                ("VAULT_NAMESPACE", e()),
            ],
            renders: true,
            kagi_says: None,
            bao_differs: None,
        },
        EnvCase {
            name: "env_VAULT_CLIENT_CERT_and_KEY_BYTES",
            mtls: true,
            vault: verified.clone(),
            env: vec![
                ("VAULT_CLIENT_CERT_BYTES", cert_pem.clone()),
                ("VAULT_CLIENT_KEY_BYTES", key_pem.clone()),
            ],
            renders: true,
            kagi_says: None,
            bao_differs: Some((
                false,
                "bao agent 2.7.2 parses the PEM variables at startup, but its template client \
                (consul-template) connects without them: 'tls: certificate required'",
            )),
        },
        EnvCase {
            name: "client_cert_files_win_over_bytes",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name,
                "client_cert": path_str(&tls.client_cert), "client_key": path_str(&tls.client_key) }),
            // A valid identity the server does not trust: used instead of the files, it fails.
            env: vec![
                ("VAULT_CLIENT_CERT_BYTES", other_cert),
                ("VAULT_CLIENT_KEY_BYTES", other_key),
            ],
            renders: true,
            kagi_says: None,
            bao_differs: None,
        },
        EnvCase {
            name: "unusable_client_cert_bytes_beside_files",
            mtls: true,
            vault: json!({ "ca_cert": ca, "tls_server_name": name,
                "client_cert": path_str(&tls.client_cert), "client_key": path_str(&tls.client_key) }),
            env: vec![
                ("VAULT_CLIENT_CERT_BYTES", "garbage".into()),
                ("VAULT_CLIENT_KEY_BYTES", "garbage".into()),
            ],
            renders: false,
            kagi_says: Some("VAULT_CLIENT_CERT_BYTES"),
            bao_differs: None,
        },
        EnvCase {
            name: "VAULT_CLIENT_CERT_BYTES_without_key",
            mtls: true,
            vault: verified.clone(),
            env: vec![("VAULT_CLIENT_CERT_BYTES", cert_pem.clone())],
            renders: false,
            kagi_says: Some("VAULT_CLIENT_KEY_BYTES"),
            bao_differs: None,
        },
        EnvCase {
            name: "VAULT_CLIENT_KEY_BYTES_without_cert",
            mtls: true,
            vault: verified,
            env: vec![("VAULT_CLIENT_KEY_BYTES", key_pem)],
            renders: false,
            kagi_says: Some("VAULT_CLIENT_CERT_BYTES"),
            bao_differs: None,
        },
    ]
}

/// A set but empty variable erases the `vault` key it overrides (an empty address falls back
/// to https://127.0.0.1:8200, an empty skip-verify to verifying); CA bytes, timeout, retries
/// and namespace take empty as unset; a set `BAO_` hides `VAULT_`. Client certificate and
/// key bytes are a client identity; files win; half a pair is an error naming both.
#[test]
fn empty_variables_and_client_cert_bytes_as_bao_agent_reads_them() {
    let (bao, tls) = seeded_tls_bao();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let method = token_method(d, bao.root_token());
    let mut jobs: Vec<Job<'_, Vec<String>>> = Vec::new();
    for case in env_cases(&tls, d) {
        let (bao, tls, method) = (&bao, &tls, &method);
        for which in [Which::Kagi, Which::Bao] {
            let case = EnvCase {
                vault: case.vault.clone(),
                env: case.env.clone(),
                ..case
            };
            jobs.push(Box::new(move || {
                let address = if case.mtls {
                    tls.mtls_addr()
                } else {
                    tls.addr()
                };
                let mut config = init_config(&address, method.clone(), d, case.name, which);
                for (k, v) in case.vault.as_object().unwrap() {
                    config["vault"][k] = v.clone();
                }
                // A failing case fails fast in both agents.
                config["vault"]["retry"] = json!({ "num_retries": 1 });
                let out = run(which, Some(bao), d, case.name, &config, &case.env);
                let mut failures = Vec::new();
                let renders = match (which, case.bao_differs) {
                    (Which::Bao, Some((renders, _))) => renders,
                    _ => case.renders,
                };
                if rendered(&out, "tls-alice") != renders {
                    failures.push(format!(
                        "{} {which:?}: expected to {}, got ok={} rendered={:?}\n{}",
                        case.name,
                        if renders { "render" } else { "fail" },
                        out.ok,
                        out.rendered,
                        out.log
                    ));
                }
                if let (Which::Kagi, Some(text)) = (which, case.kagi_says)
                    && !out.log.contains(text)
                {
                    failures.push(format!(
                        "{} kagi: log should mention {text:?}\n{}",
                        case.name, out.log
                    ));
                }
                failures
            }));
        }
    }
    let failures: Vec<String> = parallel(jobs, 4).into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// 4. Template command environment

/// (case, address kind, `vault` keys, environment)
fn command_env_cases(tls: &TlsServer, dir: &Path) -> Vec<CommandCase> {
    let ca_dir = dir.join("ca-dir-cmd");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(&tls.ca_cert, ca_dir.join("ca.pem")).unwrap();
    vec![
        (
            "command_env_plain_http",
            "http",
            json!({}),
            vec![
                ("VAULT_CLIENT_TIMEOUT", "30s".into()),
                ("VAULT_MAX_RETRIES", "1".into()),
                ("VAULT_NAMESPACE", String::new()),
            ],
        ),
        (
            "command_env_mtls",
            "mtls",
            json!({ "ca_cert": path_str(&tls.ca_cert), "ca_path": path_str(&ca_dir),
                "tls_server_name": TlsServer::SERVER_NAME,
                "client_cert": path_str(&tls.client_cert), "client_key": path_str(&tls.client_key) }),
            vec![],
        ),
        (
            "command_env_skip_verify",
            "tls",
            json!({}),
            vec![("VAULT_SKIP_VERIFY", "true".into())],
        ),
        // Plain HTTP: bao agent passes no TLS settings, and "skip verify".
        (
            "command_env_http_with_tls_keys",
            "http",
            json!({ "ca_path": path_str(&ca_dir), "tls_server_name": TlsServer::SERVER_NAME }),
            vec![],
        ),
        // ... unless a ca_cert is set.
        (
            "command_env_http_with_ca_cert",
            "http",
            json!({ "ca_cert": path_str(&tls.ca_cert), "tls_server_name": TlsServer::SERVER_NAME }),
            vec![],
        ),
    ]
}

/// The connection variables a command sees: `BAO_*` and `VAULT_*` except what the test
/// process itself passes on (BAO_BIN).
fn connection_vars(env_dump: &str) -> Vars {
    env_dump
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| (k.starts_with("BAO_") || k.starts_with("VAULT_")) && *k != "BAO_BIN")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A template command gets `BAO_ADDR` always, and `BAO_CACERT`, `BAO_CAPATH`,
/// `BAO_CLIENT_CERT`, `BAO_CLIENT_KEY`, `BAO_TLS_SERVER_NAME` when set and
/// `BAO_SKIP_VERIFY=true` when skipping verification, exactly as bao agent passes them.
#[test]
fn template_commands_get_the_connection_as_bao_agent_passes_it() {
    let (bao, tls) = seeded_tls_bao();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let method = token_method(d, bao.root_token());
    let mut jobs: Vec<Job<'_, (String, Which, Outcome, Vars)>> = Vec::new();
    for (name, kind, vault, env) in command_env_cases(&tls, d) {
        let (bao, tls, method) = (&bao, &tls, &method);
        for which in [Which::Kagi, Which::Bao] {
            let (vault, env) = (vault.clone(), env.clone());
            jobs.push(Box::new(move || {
                let address = match kind {
                    "http" => bao.addr(),
                    "mtls" => tls.mtls_addr(),
                    _ => tls.addr(),
                };
                let mut config = init_config(&address, method.clone(), d, name, which);
                for (k, v) in vault.as_object().unwrap() {
                    config["vault"][k] = v.clone();
                }
                let dump = d.join(format!("{name}-{which:?}.env"));
                config["template"][0]["exec"] = json!({ "command":
                    ["sh", "-c", format!("env > {}", dump.display())] });
                let out = run(which, Some(bao), d, name, &config, &env);
                let vars = connection_vars(&std::fs::read_to_string(&dump).unwrap_or_default());
                (name.to_string(), which, out, vars)
            }));
        }
    }
    let mut by_case: BTreeMap<String, Vec<(Which, Outcome, Vars)>> = BTreeMap::new();
    for (name, which, out, vars) in parallel(jobs, 6) {
        by_case.entry(name).or_default().push((which, out, vars));
    }
    let mut failures = Vec::new();
    for (name, runs) in &by_case {
        for (which, out, vars) in runs {
            eprintln!("{name} {which:?}: {vars:?}");
            if !rendered(out, "tls-alice") || !vars.contains_key("BAO_ADDR") {
                failures.push(format!(
                    "{name} {which:?}: ok={} rendered={:?} vars {vars:?}\n{}",
                    out.ok, out.rendered, out.log
                ));
            }
        }
        let [(_, _, kagi), (_, _, bao_vars)] = runs.as_slice() else {
            panic!("two runs per case")
        };
        if kagi != bao_vars {
            failures.push(format!(
                "{name}: kagi passed {kagi:?}, bao agent {bao_vars:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// 5. KV v2 preflight

const PREFLIGHT: &str = "/v1/sys/internal/ui/mounts/secret/app";

/// Both agents side by side on `name`'s init config (two HTTP retries) against a stand-in
/// answering with `script`, the template reading `contents`; with each outcome, how often the
/// preflight was asked.
fn preflight_runs(
    d: &Path,
    name: &str,
    contents: &str,
    script: Script,
) -> Vec<(Which, Outcome, usize)> {
    let method = token_method(d, "t");
    let jobs: Vec<Job<'_, (Which, Outcome, usize)>> = [Which::Kagi, Which::Bao]
        .into_iter()
        .map(|which| -> Job<'_, (Which, Outcome, usize)> {
            let method = method.clone();
            let script = script.clone();
            Box::new(move || {
                let vault = StandIn::start(script);
                let mut config = init_config(&vault.addr, method, d, name, which);
                config["vault"]["retry"] = json!({ "num_retries": 2 });
                config["template"][0]["contents"] = json!(contents);
                let out = run(which, None, d, name, &config, &[]);
                let asked = vault.count(PREFLIGHT);
                eprintln!(
                    "{which:?}: ok={} rendered={:?}, preflight asked {asked}×",
                    out.ok, out.rendered
                );
                (which, out, asked)
            })
        })
        .collect();
    parallel(jobs, 2)
}

/// The stand-in's preflight fails with 503 three times (one request and bao's two retries),
/// then answers. bao agent caches the failure as "not KV v2", reads `secret/app` (404) and
/// never renders (consul-template #2149); kagi asks again on the next try and renders. This
/// deviates from bao agent deliberately: a Vault that was down for a moment must not leave a
/// KV v2 secret unreadable until the agent restarts.
#[test]
fn kv_preflight_failures_are_asked_again_unlike_bao_agent() {
    let dir = tempfile::tempdir().unwrap();
    let script: Script = Arc::new(|path, before| match path {
        p if p == PREFLIGHT && before < 3 => failure(503, &[]),
        p if p == PREFLIGHT => kv2_mount(),
        "/v1/secret/data/app" => kv2_secret("alice"),
        _ => failure(404, &[]),
    });
    let contents = "{{ with secret \"secret/app\" }}{{ .Data.data.user }}{{ end }}";
    let mut failures = Vec::new();
    for (which, out, asked) in preflight_runs(dir.path(), "kv_preflight_failure", contents, script)
    {
        let expect = which == Which::Kagi;
        if rendered(&out, "alice") != expect {
            failures.push(format!(
                "{which:?}: expected to {}, got ok={} rendered={:?}, preflight asked {asked}×\n{}",
                if expect {
                    "render"
                } else {
                    "never render (consul-template #2149)"
                },
                out.ok,
                out.rendered,
                out.log
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A preflight Vault refuses (403: no policy on `sys/internal/ui/mounts`) is kept as "not KV
/// v2": when the read itself fails and is tried again, neither agent asks the mounts again.
#[test]
fn kv_preflight_refusals_are_cached_as_in_bao_agent() {
    let dir = tempfile::tempdir().unwrap();
    let script: Script = Arc::new(|path, before| match path {
        p if p == PREFLIGHT => failure(403, &[]),
        // Three 503s: the first try (and its two HTTP retries) fails.
        "/v1/secret/app" if before < 3 => failure(503, &[]),
        "/v1/secret/app" => ok(json!({ "data": { "user": "bob" }, "lease_duration": 0,
            "lease_id": "", "renewable": false })),
        _ => failure(404, &[]),
    });
    let contents = "{{ with secret \"secret/app\" }}{{ .Data.user }}{{ end }}";
    let mut failures = Vec::new();
    for (which, out, asked) in preflight_runs(dir.path(), "kv_preflight_refusal", contents, script)
    {
        if !rendered(&out, "bob") || asked != 1 {
            failures.push(format!(
                "{which:?}: expected to render once the read recovers, asking the mounts once; got ok={} rendered={:?}, asked {asked}×\n{}",
                out.ok, out.rendered, out.log
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// 6. SNI

/// (case, address host, `vault` keys, SNI expected on every connection, renders)
fn sni_cases() -> Vec<(&'static str, &'static str, Value, Option<&'static str>)> {
    vec![
        (
            "sni_is_tls_server_name",
            "127.0.0.1",
            json!({ "tls_server_name": TlsServer::SERVER_NAME }),
            Some(TlsServer::SERVER_NAME),
        ),
        (
            "sni_is_the_url_host_without_tls_server_name",
            "localhost",
            json!({ "tls_skip_verify": true }),
            Some("localhost"),
        ),
        (
            "no_sni_for_an_ip_tls_server_name",
            "localhost",
            json!({ "tls_skip_verify": true, "tls_server_name": "127.0.0.1" }),
            None,
        ),
    ]
}

/// The TLS SNI is `tls_server_name` when set (none for an IP, as Go), else the URL host, as
/// bao agent sends it: seen by a relay in front of the TLS OpenBao.
#[test]
fn tls_server_name_is_the_sni_as_in_bao_agent() {
    let (bao, tls) = seeded_tls_bao();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let method = token_method(d, bao.root_token());
    let tls_port = port_of(&tls.addr());
    let mut jobs: Vec<Job<'_, Vec<String>>> = Vec::new();
    for (name, host, vault, sni) in sni_cases() {
        let (bao, tls, method) = (&bao, &tls, &method);
        for which in [Which::Kagi, Which::Bao] {
            let vault = vault.clone();
            jobs.push(Box::new(move || {
                let relay = SniRelay::start(tls_port);
                let address = format!("https://{host}:{}", relay.port);
                let mut config = init_config(&address, method.clone(), d, name, which);
                config["vault"]["ca_cert"] = json!(path_str(&tls.ca_cert));
                for (k, v) in vault.as_object().unwrap() {
                    config["vault"][k] = v.clone();
                }
                let out = run(which, Some(bao), d, name, &config, &[]);
                let names = relay.names();
                eprintln!("{name} {which:?}: SNI {names:?}");
                let want: BTreeSet<Option<String>> = [sni.map(str::to_owned)].into();
                let mut failures = Vec::new();
                if names != want || !rendered(&out, "tls-alice") {
                    failures.push(format!(
                        "{name} {which:?}: SNI {names:?}, expected {want:?}; ok={} rendered={:?}\n{}",
                        out.ok, out.rendered, out.log
                    ));
                }
                failures
            }));
        }
    }
    let failures: Vec<String> = parallel(jobs, 6).into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The port of an `https://127.0.0.1:<port>` address.
fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// Coverage

/// Each client behaviour or variable this file proves, with the cases that prove it.
const COVERAGE: &[(&str, &[&str])] = &[
    (
        "Retry-After",
        &[
            "retry_after_seconds_on_503",
            "retry_after_date_on_429",
            "retry_after_ignored_on_500",
        ],
    ),
    (
        "VAULT_ADDR (empty)",
        &[
            "empty_VAULT_ADDR_erases_vault_address",
            "empty_BAO_ADDR_hides_VAULT_ADDR",
        ],
    ),
    (
        "VAULT_CACERT (empty)",
        &[
            "empty_VAULT_CACERT_erases_vault_ca_cert",
            "empty_BAO_CACERT_hides_VAULT_CACERT",
        ],
    ),
    (
        "VAULT_CAPATH (empty)",
        &["empty_VAULT_CAPATH_erases_vault_ca_path"],
    ),
    (
        "VAULT_CLIENT_CERT (empty)",
        &["empty_VAULT_CLIENT_CERT_erases_vault_client_cert"],
    ),
    (
        "VAULT_TLS_SERVER_NAME (empty)",
        &["empty_VAULT_TLS_SERVER_NAME_erases_the_key"],
    ),
    (
        "VAULT_SKIP_VERIFY (empty)",
        &["empty_VAULT_SKIP_VERIFY_erases_tls_skip_verify"],
    ),
    (
        "VAULT_CACERT_BYTES, VAULT_CLIENT_TIMEOUT, VAULT_MAX_RETRIES, VAULT_NAMESPACE (empty)",
        &["empty_client_only_variables_are_unset"],
    ),
    (
        "VAULT_CLIENT_CERT_BYTES",
        &[
            "env_VAULT_CLIENT_CERT_and_KEY_BYTES",
            "client_cert_files_win_over_bytes",
            "unusable_client_cert_bytes_beside_files",
            "VAULT_CLIENT_CERT_BYTES_without_key",
        ],
    ),
    (
        "VAULT_CLIENT_KEY_BYTES",
        &[
            "env_VAULT_CLIENT_CERT_and_KEY_BYTES",
            "VAULT_CLIENT_KEY_BYTES_without_cert",
        ],
    ),
    (
        "template command environment",
        &[
            "command_env_plain_http",
            "command_env_mtls",
            "command_env_skip_verify",
            "command_env_http_with_tls_keys",
            "command_env_http_with_ca_cert",
        ],
    ),
    (
        "KV v2 preflight",
        &["kv_preflight_failure", "kv_preflight_refusal"],
    ),
    (
        "SNI (vault.tls_server_name)",
        &[
            "sni_is_tls_server_name",
            "sni_is_the_url_host_without_tls_server_name",
            "no_sni_for_an_ip_tls_server_name",
        ],
    ),
];

#[test]
fn every_client_behaviour_is_proven_by_a_case() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsServer::create(dir.path()).unwrap();
    let mut known: BTreeSet<String> = env_cases(&tls, dir.path())
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    known.extend(retry_after_cases().iter().map(|c| c.0.to_string()));
    known.extend(
        command_env_cases(&tls, dir.path())
            .iter()
            .map(|c| c.0.to_string()),
    );
    known.insert("kv_preflight_failure".into());
    known.insert("kv_preflight_refusal".into());
    known.extend(sni_cases().iter().map(|c| c.0.to_string()));
    let missing: Vec<String> = COVERAGE
        .iter()
        .flat_map(|(key, cases)| {
            cases
                .iter()
                .filter(|c| !known.contains(**c))
                .map(move |c| format!("{key}: no case named {c}"))
        })
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

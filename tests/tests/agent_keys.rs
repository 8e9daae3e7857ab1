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

mod keys_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use kagi_tests::openbao::{OpenBao, TlsServer};
use keys_support::cases::*;
use keys_support::*;
use serde_json::{Value, json};

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
            let error = out
                .log
                .lines()
                .rev()
                .find(|l| l.contains("ERROR") || l.contains("error"));
            measured.push(format!(
                "{name} {which:?}: ok={} rendered={:?} requests={requests:?} last error: {}",
                out.ok,
                out.rendered,
                error.unwrap_or("-")
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
        // A refused login says where it went (bao agent does not).
        let effective = env_ns.or(method_ns).unwrap_or_default();
        if !kagi_run.ok && !kagi_run.log.contains(&format!("in namespace {effective}")) {
            failures.push(format!(
                "{name}: kagi's login error should name namespace {effective}\n{}",
                kagi_run.log
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
        if !asked.contains(&expected) {
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

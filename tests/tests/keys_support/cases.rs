//! The case tables of the key-by-key tests: TLS settings, startup errors, namespaces.

use std::path::Path;

use kagi_tests::openbao::TlsServer;
use serde_json::{Value, json};

/// A TLS case: what to set, and whether the agent renders or fails (with a text its log must
/// contain).
pub struct TlsCase {
    pub name: &'static str,
    pub mtls: bool,
    pub vault: Value,
    pub env: Vec<(&'static str, String)>,
    pub expect: Result<(), &'static str>,
    /// Where bao agent knowingly differs: whether it renders, and why kagi does not follow.
    pub bao_differs: Option<(bool, &'static str)>,
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

pub fn tls_cases(tls: &TlsServer, dir: &Path) -> Vec<TlsCase> {
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

/// A startup-error case: `vault` keys, environment, and the setting the error must name.
pub type StartupCase = (
    &'static str,
    Value,
    Vec<(&'static str, String)>,
    &'static str,
);

pub fn startup_cases(d: &Path) -> Vec<StartupCase> {
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

pub fn rcgen_key() -> String {
    // A key unrelated to the certificate in the other files (for the mismatch case).
    let (_, _, key) = kagi_tests::webhook::serving_certificate().unwrap();
    key
}

/// (case, `auto_auth.method.namespace`, `VAULT_NAMESPACE`)
pub const NAMESPACE_CASES: [(&str, Option<&str>, Option<&str>); 5] = [
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

//! Every annotation: its default, a valid value, and (where one exists) an invalid value that
//! is refused with a message naming it.

use std::collections::BTreeMap;

use super::*;
use crate::settings::InjectorSettings;

fn settings() -> InjectorSettings {
    InjectorSettings {
        vault_address: "https://vault:8200".to_owned(),
        ..Default::default()
    }
}

pub(super) fn annotations(pairs: &[(&str, &str)]) -> Annotations {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| {
            let key = if k.contains('/') {
                (*k).to_owned()
            } else {
                format!("{PREFIX}{k}")
            };
            (key, (*v).to_owned())
        })
        .collect();
    Annotations::new(Some(&map))
}

fn parse(pairs: &[(&str, &str)]) -> Result<PodSettings, AnnotationError> {
    PodSettings::parse(&annotations(pairs), &settings())
}

type Check = fn(&PodSettings) -> bool;

/// One annotation under test. `<name>` in `name` is the secret `db`, declared by `base`.
struct Case {
    name: &'static str,
    default: Check,
    valid: &'static str,
    check: Check,
    invalid: Option<&'static str>,
}

const SECRET: &[(&str, &str)] = &[("agent-inject-secret-DB", "database/creds/app")];

fn db(p: &PodSettings) -> &SecretFile {
    p.secrets
        .iter()
        .find(|s| s.name == "DB")
        .expect("secret DB")
}

fn res(p: &PodSettings) -> &AgentResources {
    &p.resources
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "agent-pre-populate", default: |p| p.pre_populate, valid: "false", check: |p| !p.pre_populate && p.explicit_pre_populate, invalid: Some("tRuE") },
    Case { name: "agent-pre-populate-only", default: |p| !p.pre_populate_only, valid: "true", check: |p| p.pre_populate_only, invalid: Some("yes") },
    Case { name: "agent-init-first", default: |p| p.init_first.is_none(), valid: "T", check: |p| p.init_first == Some(true), invalid: Some("on") },
    Case { name: "agent-native-sidecar", default: |p| p.native_sidecar.is_none(), valid: "False", check: |p| p.native_sidecar == Some(false), invalid: Some("nope") },
    Case { name: "agent-inject-containers", default: |p| p.inject_containers.is_none(), valid: "app,worker", check: |p| p.inject_containers == Some(vec!["app".into(), "worker".into()]), invalid: None },
    Case { name: "agent-configmap", default: |p| p.configmap.is_none(), valid: "my-config", check: |p| p.configmap.as_deref() == Some("my-config"), invalid: None },
    Case { name: "agent-json-patch", default: |p| p.json_patch.is_none(), valid: r#"[{"op":"add","path":"/workingDir","value":"/tmp"}]"#, check: |p| p.json_patch.as_ref().is_some_and(|j| j.0.len() == 1), invalid: Some(r#"{"op":"add"}"#) },
    Case { name: "agent-init-json-patch", default: |p| p.init_json_patch.is_none(), valid: "[]", check: |p| p.init_json_patch.is_none(), invalid: Some("[{\"op\":\"jump\"}]") },
    Case { name: "agent-inject-secret-<name>", default: |p| p.secrets.is_empty(), valid: "kv/data/db", check: |p| db(p).vault_path.as_deref() == Some("kv/data/db"), invalid: None },
    Case { name: "agent-inject-template-<name>", default: |p| p.secrets.is_empty(), valid: "{{ . }}", check: |p| db(p).template.as_deref() == Some("{{ . }}"), invalid: None },
    Case { name: "agent-inject-template-file-<name>", default: |p| p.secrets.is_empty(), valid: "/vault/custom/db.tmpl", check: |p| { db(p).template_file.as_deref() == Some("/vault/custom/db.tmpl") && db(p).template.is_none() }, invalid: None },
    Case { name: "agent-inject-file-<name>", default: |p| db(p).file.is_none(), valid: "conf/db.env", check: |p| db(p).file.as_deref() == Some("conf/db.env"), invalid: Some("../../etc/passwd") },
    Case { name: "agent-inject-perms-<name>", default: |p| db(p).perms.is_none(), valid: "0400", check: |p| db(p).perms == Some(0o400), invalid: Some("0999") },
    Case { name: "agent-inject-command-<name>", default: |p| db(p).command.is_none(), valid: "kill -HUP 1", check: |p| db(p).command == Some(RenderCommand::Argv(vec!["kill".into(), "-HUP".into(), "1".into()])), invalid: Some("kill -HUP $(pidof nginx)") },
    Case { name: "agent-inject-signal-<name>", default: |p| db(p).command.is_none(), valid: "SIGHUP nginx", check: |p| db(p).command == Some(RenderCommand::Signal { signal: "SIGHUP".into(), process: "nginx".into() }), invalid: Some("SIGNOPE nginx") },
    Case { name: "agent-template-left-delim-<name>", default: |p| db(p).left_delimiter == "{{", valid: "[[", check: |p| db(p).left_delimiter == "[[" && db(p).right_delimiter == "}}", invalid: None },
    Case { name: "agent-template-right-delim-<name>", default: |p| db(p).right_delimiter == "}}", valid: "]]", check: |p| db(p).right_delimiter == "]]" && db(p).left_delimiter == "{{", invalid: None },
    Case { name: "error-on-missing-key-<name>", default: |p| !db(p).error_on_missing_key, valid: "true", check: |p| db(p).error_on_missing_key, invalid: Some("maybe") },
    Case { name: "secret-volume-path-<name>", default: |p| db(p).volume_path == "/vault/secrets", valid: "/etc/db/", check: |p| db(p).volume_path == "/etc/db", invalid: None },
    Case { name: "preserve-secret-case-<name>", default: |p| db(p).file_name == "db", valid: "true", check: |p| db(p).file_name == "DB", invalid: Some("yep") },
    Case { name: "secret-volume-path", default: |p| p.secret_volume_path == "/vault/secrets", valid: "/etc/secrets", check: |p| p.secret_volume_path == "/etc/secrets", invalid: None },
    Case { name: "preserve-secret-case", default: |p| db(p).file_name == "db", valid: "1", check: |p| db(p).file_name == "DB", invalid: Some("TrUe") },
    Case { name: "agent-inject-default-template", default: |p| p.default_template == DefaultTemplate::Map, valid: "JSON", check: |p| p.default_template == DefaultTemplate::Json, invalid: Some("yaml") },
    Case { name: "agent-inject-token", default: |p| !p.inject_token, valid: "true", check: |p| p.inject_token, invalid: Some("si") },
    Case { name: "template-config-exit-on-retry-failure", default: |p| p.template.exit_on_retry_failure, valid: "false", check: |p| !p.template.exit_on_retry_failure, invalid: Some("nein") },
    Case { name: "template-static-secret-render-interval", default: |p| p.template.static_secret_render_interval.is_none(), valid: "30s", check: |p| { p.template .static_secret_render_interval .map(|d| d.0.as_secs()) == Some(30) }, invalid: Some("often") },
    Case { name: "template-max-connections-per-host", default: |p| p.template.max_connections_per_host.is_none(), valid: "10", check: |p| p.template.max_connections_per_host == Some(10), invalid: Some("-1") },
    Case { name: "template-lease-renewal-threshold", default: |p| p.template.lease_renewal_threshold.is_none(), valid: "0.75", check: |p| p.template.lease_renewal_threshold == Some(0.75), invalid: Some("1.5") },
    Case { name: "agent-env-<VAR>", default: |p| !p.env.is_active(), valid: "{{ with secret \"kv/data/db\" }}{{ .Data.data.password }}{{ end }}", check: |p| p.env.vars["DB_PASSWORD"].contains("kv/data/db"), invalid: Some(" ") },
    Case { name: "agent-env-containers", default: |p| p.env.containers.is_none(), valid: "app, worker", check: |p| p.env.containers == Some(vec!["app".into(), "worker".into()]), invalid: Some(" , ") },
    Case { name: "agent-env-restart", default: |p| p.env.restart == kagi_agent_config::RestartPolicy::Always, valid: "never", check: |p| p.env.restart == kagi_agent_config::RestartPolicy::Never, invalid: Some("sometimes") },
    Case { name: "agent-env-stop-signal", default: |p| p.env.stop_signal.name() == "SIGTERM", valid: "sigint", check: |p| p.env.stop_signal.name() == "SIGINT", invalid: Some("SIGFOO") },
    Case { name: "agent-env-error-on-missing-key", default: |p| p.env.error_on_missing_key, valid: "false", check: |p| !p.env.error_on_missing_key, invalid: Some("maybe") },
    Case { name: "agent-image", default: |p| p.image.starts_with("kagi-agent:"), valid: "openbao/openbao:2.4.0", check: |p| p.image == "openbao/openbao:2.4.0", invalid: None },
    Case { name: "agent-requests-cpu", default: |p| res(p).cpu_request.as_deref() == Some("10m"), valid: "", check: |p| res(p).cpu_request.is_none(), invalid: Some("fast") },
    Case { name: "agent-requests-mem", default: |p| res(p).memory_request.as_deref() == Some("16Mi"), valid: "32Mi", check: |p| res(p).memory_request.as_deref() == Some("32Mi"), invalid: Some("32MB") },
    Case { name: "agent-requests-ephemeral", default: |p| res(p).ephemeral_request.is_none(), valid: "1Gi", check: |p| res(p).ephemeral_request.as_deref() == Some("1Gi"), invalid: Some("-1Gi") },
    Case { name: "agent-limits-cpu", default: |p| res(p).cpu_limit.as_deref() == Some("100m"), valid: "1.5", check: |p| res(p).cpu_limit.as_deref() == Some("1.5"), invalid: Some("1.5.0") },
    Case { name: "agent-limits-mem", default: |p| res(p).memory_limit.as_deref() == Some("64Mi"), valid: "1e9", check: |p| res(p).memory_limit.as_deref() == Some("1e9"), invalid: Some("Mi") },
    Case { name: "agent-limits-ephemeral", default: |p| res(p).ephemeral_limit.is_none(), valid: "2G", check: |p| res(p).ephemeral_limit.as_deref() == Some("2G"), invalid: Some("2 G") },
    Case { name: "agent-run-as-user", default: |p| p.run_as_user == 100, valid: "2000", check: |p| p.run_as_user == 2000, invalid: Some("root") },
    Case { name: "agent-run-as-group", default: |p| p.run_as_group == 1000, valid: "3000", check: |p| p.run_as_group == 3000, invalid: Some("wheel") },
    Case { name: "agent-run-as-same-user", default: |p| !p.run_as_same_user, valid: "true", check: |p| p.run_as_same_user, invalid: Some("same") },
    Case { name: "agent-set-security-context", default: |p| p.set_security_context, valid: "false", check: |p| !p.set_security_context, invalid: Some("off") },
    Case { name: "agent-share-process-namespace", default: |p| p.share_process_namespace.is_none(), valid: "true", check: |p| p.share_process_namespace == Some(true), invalid: Some("share") },
    Case { name: "agent-revoke-on-shutdown", default: |p| !p.revoke_on_shutdown, valid: "true", check: |p| p.revoke_on_shutdown, invalid: Some("please") },
    Case { name: "agent-revoke-grace", default: |p| p.revoke_grace == 5, valid: "10", check: |p| p.revoke_grace == 10, invalid: Some("-1") },
    Case { name: "agent-extra-secret", default: |p| p.extra_secret.is_none(), valid: "extra", check: |p| p.extra_secret.as_deref() == Some("extra"), invalid: None },
    Case { name: "agent-copy-volume-mounts", default: |p| p.copy_volume_mounts.is_none(), valid: "app", check: |p| p.copy_volume_mounts.as_deref() == Some("app"), invalid: None },
    Case { name: "agent-service-account-token-volume-name", default: |p| p.token_volume_name.is_none(), valid: "vault-token", check: |p| p.token_volume_name.as_deref() == Some("vault-token"), invalid: None },
    Case { name: "go-max-procs", default: |p| p.go_max_procs.is_none(), valid: "2", check: |p| p.go_max_procs.as_deref() == Some("2"), invalid: Some("0") },
    Case { name: "agent-cache-enable", default: |p| !p.cache.enable, valid: "true", check: |p| p.cache.enable, invalid: Some("cache") },
    Case { name: "agent-cache-use-auto-auth-token", default: |p| p.cache.use_auto_auth_token == "true", valid: "force", check: |p| p.cache.use_auto_auth_token == "force", invalid: Some("always") },
    Case { name: "agent-cache-listener-port", default: |p| p.cache.listener_port == 8200, valid: "8100", check: |p| p.cache.listener_port == 8100, invalid: Some("70000") },
    Case { name: "agent-cache-exit-on-err", default: |p| !p.cache.exit_on_err, valid: "true", check: |p| p.cache.exit_on_err, invalid: Some("err") },
    Case { name: "agent-enable-quit", default: |p| !p.enable_quit, valid: "true", check: |p| p.enable_quit, invalid: Some("quit") },
    Case { name: "agent-auto-auth-exit-on-err", default: |p| !p.auto_auth_exit_on_err, valid: "true", check: |p| p.auto_auth_exit_on_err, invalid: Some("exit") },
    Case { name: "agent-telemetry-<name>", default: |p| p.telemetry.is_empty(), valid: "[\"a\",\"b\"]", check: |p| p.telemetry["prefix_filter"] == serde_json::json!(["a", "b"]), invalid: None },
    Case { name: "agent-disable-idle-connections", default: |p| p.disable_idle_connections.is_empty(), valid: "auto-auth, templating", check: |p| p.disable_idle_connections == ["auto-auth", "templating"], invalid: Some("auth") },
    Case { name: "agent-disable-keep-alives", default: |p| p.disable_keep_alives.is_empty(), valid: "caching", check: |p| p.disable_keep_alives == ["caching"], invalid: Some("caching,bogus") },
    Case { name: "service", default: |p| p.vault_address == "https://vault:8200", valid: "http://other:8200", check: |p| p.vault_address == "http://other:8200", invalid: None },
    Case { name: "role", default: |p| p.role.is_none(), valid: "app", check: |p| p.role.as_deref() == Some("app"), invalid: None },
    Case { name: "auth-type", default: |p| p.auth_type == "kubernetes", valid: "jwt", check: |p| p.auth_type == "jwt", invalid: None },
    Case { name: "auth-path", default: |p| p.auth_path == "auth/kubernetes", valid: "auth/k8s-east", check: |p| p.auth_path == "auth/k8s-east", invalid: None },
    Case { name: "auth-config-<name>", default: |p| p.auth_config.is_empty(), valid: "x", check: |p| p.auth_config.get("DB").map(String::as_str) == Some("x"), invalid: None },
    Case { name: "auth-min-backoff", default: |p| p.min_backoff.is_none(), valid: "2s", check: |p| p.min_backoff.map(|d| d.0.as_secs()) == Some(2), invalid: Some("2 seconds") },
    Case { name: "auth-max-backoff", default: |p| p.max_backoff.is_none(), valid: "1m", check: |p| p.max_backoff.map(|d| d.0.as_secs()) == Some(60), invalid: Some("1y") },
    Case { name: "namespace", default: |p| p.namespace.is_none(), valid: "team-a", check: |p| p.namespace.as_deref() == Some("team-a"), invalid: None },
    Case { name: "proxy-address", default: |p| p.proxy_address.is_none(), valid: "http://proxy:3128", check: |p| p.proxy_address.as_deref() == Some("http://proxy:3128"), invalid: None },
    Case { name: "tls-skip-verify", default: |p| !p.tls_skip_verify, valid: "true", check: |p| p.tls_skip_verify, invalid: Some("insecure") },
    Case { name: "tls-secret", default: |p| p.tls_secret.is_none(), valid: "vault-tls", check: |p| p.tls_secret.as_deref() == Some("vault-tls"), invalid: None },
    Case { name: "tls-server-name", default: |p| p.tls_server_name.is_none(), valid: "vault.internal", check: |p| p.tls_server_name.as_deref() == Some("vault.internal"), invalid: None },
    Case { name: "ca-cert", default: |p| p.ca_cert.is_none(), valid: "/vault/tls/ca.crt", check: |p| p.ca_cert.as_deref() == Some("/vault/tls/ca.crt"), invalid: None },
    Case { name: "ca-key", default: |p| p.ca_key.is_none(), valid: "/vault/tls/cas", check: |p| p.ca_key.as_deref() == Some("/vault/tls/cas"), invalid: None },
    Case { name: "client-cert", default: |p| p.client_cert.is_none(), valid: "/vault/tls/tls.crt", check: |p| p.client_cert.as_deref() == Some("/vault/tls/tls.crt"), invalid: None },
    Case { name: "client-key", default: |p| p.client_key.is_none(), valid: "/vault/tls/tls.key", check: |p| p.client_key.as_deref() == Some("/vault/tls/tls.key"), invalid: None },
    Case { name: "client-max-retries", default: |p| p.client_max_retries.is_none(), valid: "5", check: |p| p.client_max_retries.as_deref() == Some("5"), invalid: Some("many") },
    Case { name: "client-timeout", default: |p| p.client_timeout.is_none(), valid: "90s", check: |p| p.client_timeout.as_deref() == Some("90s"), invalid: Some("long") },
    Case { name: "log-level", default: |p| p.log_level == "info", valid: "DEBUG", check: |p| p.log_level == "debug", invalid: Some("verbose") },
    Case { name: "log-format", default: |p| p.log_format == "standard", valid: "json", check: |p| p.log_format == "json", invalid: Some("xml") },
];

/// Annotations whose behaviour only shows in the mutated pod; tested in `mutation::tests*`.
const COVERED_BY_MUTATION_TESTS: &[&str] = &[
    "agent-inject",
    "agent-inject-status",
    "agent-request-namespace",
];

/// The annotation key for a case, with `<name>` as `db` (or the telemetry/auth-config key).
fn key(case: &Case) -> String {
    match case.name {
        "agent-telemetry-<name>" => "agent-telemetry-prefix-filter".to_owned(),
        "agent-env-<VAR>" => "agent-env-DB_PASSWORD".to_owned(),
        name => name.replace("<name>", "DB"),
    }
}

/// Cases about an existing secret get one (`DB`); the secret-declaring ones start without.
fn base(case: &Case) -> &'static [(&'static str, &'static str)] {
    let declares_secret = ["agent-inject-secret-", "agent-inject-template-"]
        .iter()
        .any(|p| case.name.starts_with(p));
    let about_secret = case.name.ends_with("<name>")
        && !case.name.starts_with("auth-config")
        && !case.name.starts_with("agent-telemetry");
    if (about_secret && !declares_secret) || case.name == "preserve-secret-case" {
        SECRET
    } else {
        &[]
    }
}

#[test]
fn every_annotation_has_a_case() {
    let tested: Vec<&str> = CASES
        .iter()
        .map(|c| c.name)
        .chain(COVERED_BY_MUTATION_TESTS.iter().copied())
        .collect();
    for doc in ANNOTATIONS {
        let name = doc.name.replace("<param>", "<name>");
        assert!(
            tested.contains(&name.as_str()),
            "annotation {} has no test case",
            doc.name
        );
    }
    assert_eq!(
        tested.len(),
        ANNOTATIONS.len(),
        "a case names an undocumented annotation"
    );
}

#[test]
fn defaults_valid_values_and_denials() {
    for case in CASES {
        let without = parse(base(case)).unwrap();
        assert!((case.default)(&without), "{}: wrong default", case.name);

        let k = key(case);
        let mut pairs = base(case).to_vec();
        pairs.push((k.as_str(), case.valid));
        let parsed =
            parse(&pairs).unwrap_or_else(|e| panic!("{}={:?}: {e}", case.name, case.valid));
        assert!(
            (case.check)(&parsed),
            "{}={:?} not applied",
            case.name,
            case.valid
        );

        if let Some(bad) = case.invalid {
            let mut pairs = base(case).to_vec();
            pairs.push((k.as_str(), bad));
            let err = parse(&pairs).expect_err(case.name).to_string();
            assert!(err.contains(&format!("{PREFIX}{k}")), "{err}");
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("expected"), "{err}");
        }
    }
}

#[test]
fn go_bool_parsing_matches_strconv() {
    for yes in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_go_bool(yes), Ok(true));
    }
    for no in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_go_bool(no), Ok(false));
    }
    for bad in ["tRuE", "yes", "on", "", " true", "2"] {
        assert!(parse_go_bool(bad).is_err(), "{bad:?}");
    }
    // Annotations treat an empty value as false, as vault-k8s does.
    let p = parse(&[("agent-pre-populate", "")]).unwrap();
    assert!(!p.pre_populate);
}

#[test]
fn openbao_alias_is_read_and_conflicts_are_reported() {
    let p = parse(&[
        ("openbao.org/role", "app"),
        ("openbao.org/agent-inject-secret-x", "kv/x"),
    ])
    .unwrap();
    assert_eq!(p.role.as_deref(), Some("app"));
    assert_eq!(p.secrets[0].vault_path.as_deref(), Some("kv/x"));

    let same = annotations(&[("role", "app"), ("openbao.org/role", "app")]);
    assert!(same.first_conflict().is_none());
    let clash = annotations(&[("role", "app"), ("openbao.org/role", "other")]);
    let err = clash.first_conflict().unwrap().to_string();
    assert!(err.contains("vault.hashicorp.com/role=\"app\""), "{err}");
    assert!(err.contains("openbao.org/role=\"other\""), "{err}");
    // An error names the key as written.
    let err = parse(&[("openbao.org/agent-cache-enable", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("openbao.org/agent-cache-enable"), "{err}");
}

#[test]
fn secrets_are_discovered_sorted_with_vault_k8s_naming() {
    let p = parse(&[
        ("agent-inject-secret-Zeta", "kv/z"),
        ("agent-inject-template-file-alpha", "/t/a.tmpl"),
        ("agent-inject-template-beta", "{{ x }}"),
        ("agent-inject-secret-empty", "  "),
        ("preserve-secret-case-Zeta", "true"),
    ])
    .unwrap();
    let names: Vec<_> = p.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Zeta", "alpha", "beta"]);
    assert_eq!(p.secrets[0].file_name, "Zeta");
    // `template-file-alpha` is a template file, not an inline template named `file-alpha`.
    assert_eq!(p.secrets[1].template_file.as_deref(), Some("/t/a.tmpl"));
    assert!(p.secrets[1].template.is_none());

    let lower = parse(&[("agent-inject-secret-MixedCase", "kv/m")]).unwrap();
    assert_eq!(lower.secrets[0].file_name, "mixedcase");
}

#[test]
fn known_telemetry_and_auth_config_keys_are_mapped() {
    let p = parse(&[
        ("agent-telemetry-prometheus-retention-time", "24h"),
        ("agent-telemetry-disable-hostname", "true"),
        ("agent-telemetry-prefix-filter", "[\"+vault.token\"]"),
        ("auth-config-token-path", "/custom/token"),
    ])
    .unwrap();
    assert_eq!(p.telemetry["prometheus_retention_time"], "24h");
    assert_eq!(p.telemetry["disable_hostname"], true);
    assert_eq!(
        p.telemetry["prefix_filter"],
        serde_json::json!(["+vault.token"])
    );
    assert_eq!(p.auth_config["token_path"], "/custom/token");
}

#[test]
fn run_as_annotations_turn_the_security_context_back_on() {
    let s = InjectorSettings {
        set_security_context: false,
        ..settings()
    };
    let off = PodSettings::parse(&annotations(&[]), &s).unwrap();
    assert!(!off.set_security_context);
    let on = PodSettings::parse(&annotations(&[("agent-run-as-user", "2000")]), &s).unwrap();
    assert!(on.set_security_context);
    let explicit = annotations(&[
        ("agent-run-as-user", "2000"),
        ("agent-set-security-context", "false"),
    ]);
    assert!(
        !PodSettings::parse(&explicit, &s)
            .unwrap()
            .set_security_context
    );
}

#[test]
fn quantities() {
    for ok in [
        "1", "250m", "0.5", ".5", "64Mi", "1e3", "1E-2", "+1", "2Ki", "5n",
    ] {
        assert!(validate_quantity(ok).is_ok(), "{ok}");
    }
    for bad in ["", "m", "-1", "1.2.3", "1mi", "64MB", "1e", "1 Mi"] {
        assert!(validate_quantity(bad).is_err(), "{bad}");
    }
}

#[test]
fn default_templates_match_vault_k8s() {
    assert_eq!(
        DefaultTemplate::Map.render_for("kv/db"),
        "{{ with secret \"kv/db\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
    );
    assert_eq!(
        DefaultTemplate::Json.render_for("kv/db"),
        "{{ with secret \"kv/db\" }}{{ .Data | toJSON }}\n{{ end }}"
    );
}

#[test]
fn readme_annotation_table_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md at the workspace root");
    let expected = readme_with_table(&readme).expect("README has the annotations section markers");
    if std::env::var_os("KAGI_BLESS").is_some() && readme != expected {
        std::fs::write(path, &expected).unwrap();
        return;
    }
    assert!(
        readme == expected,
        "README.md's annotation table differs from the code's list: run \
         `cargo run -p kagi-webhook -- annotations --markdown` and paste its output between \
         {README_BEGIN} and {README_END} (or run this test with KAGI_BLESS=1)"
    );
}

#[test]
fn markdown_table_lists_every_annotation_once() {
    let table = markdown_table();
    for doc in ANNOTATIONS {
        assert_eq!(
            table.matches(&format!("\n| `{}` |", doc.name)).count(),
            1,
            "{}",
            doc.name
        );
    }
}

#[test]
fn env_variable_names_are_taken_verbatim_and_checked() {
    let p = parse(&[
        ("agent-env-DB_PASSWORD", "{{ .A }}"),
        ("openbao.org/agent-env-api_key", "{{ .B }}"),
        ("agent-env-_X1", "{{ .C }}"),
        ("agent-env-restart", "never"),
    ])
    .unwrap();
    let names: Vec<&str> = p.env.vars.keys().map(String::as_str).collect();
    // Case kept, the alias read, the control annotations not taken for variables.
    assert_eq!(names, ["DB_PASSWORD", "_X1", "api_key"]);
    for bad in [
        "agent-env-DB-PASSWORD",
        "agent-env-db.password",
        "agent-env-1ST",
    ] {
        let err = parse(&[(bad, "{{ .A }}")]).unwrap_err().to_string();
        assert!(err.contains(&format!("{PREFIX}{bad}")), "{err}");
        assert!(err.contains("[A-Za-z_][A-Za-z0-9_]*"), "{err}");
    }
    let err = parse(&[("agent-env-VAULT_CONFIG", "x")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("the wrapper reads itself"), "{err}");
}

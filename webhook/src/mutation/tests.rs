//! Decision rules, denials, token discovery and the generated agent config.

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::*;
use crate::settings::AgentFlavor;

pub(super) const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A pod as the API server hands it to the webhook: one app container with the usual
/// `kube-api-access-*` projected token mount.
pub(super) fn pod(annotations: &[(&str, &str)]) -> Pod {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| {
            let key = if k.contains('/') {
                (*k).to_owned()
            } else {
                format!("vault.hashicorp.com/{k}")
            };
            (key, Value::String((*v).to_owned()))
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "apps", "annotations": annotations},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "example/app:1",
                "volumeMounts": [{"name": "kube-api-access-x1", "mountPath": TOKEN_DIR, "readOnly": true}]
            }],
            "volumes": [{"name": "kube-api-access-x1", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}
            ]}}]
        },
        "status": {"phase": "Pending"}
    }))
    .unwrap()
}

pub(super) fn settings() -> InjectorSettings {
    InjectorSettings {
        vault_address: "https://vault.vault.svc:8200".to_owned(),
        ..Default::default()
    }
}

pub(super) fn classic() -> InjectorSettings {
    InjectorSettings {
        native_sidecar: false,
        ..settings()
    }
}

pub(super) const BASIC: &[(&str, &str)] = &[
    ("agent-inject", "true"),
    ("role", "app"),
    ("agent-inject-secret-db", "database/creds/app"),
];

pub(super) fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = BASIC.to_vec();
    all.extend_from_slice(extra);
    all
}

pub(super) fn injected(pod: &Pod, settings: &InjectorSettings) -> Pod {
    match mutate(pod, settings, "apps") {
        Ok(Mutation::Injected(p)) => *p,
        other => panic!("expected an injection, got {other:?}"),
    }
}

pub(super) fn denied(pod: &Pod, settings: &InjectorSettings) -> String {
    match mutate(pod, settings, "apps") {
        Err(denial) => denial.message,
        other => panic!("expected a denial, got {other:?}"),
    }
}

pub(super) fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_deref()
        .unwrap_or_default()
}

pub(super) fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

pub(super) fn env<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

pub(super) fn config_text(c: &Container) -> String {
    let encoded = env(c, "VAULT_CONFIG").expect("VAULT_CONFIG");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

pub(super) fn config(c: &Container) -> Value {
    serde_json::from_str(&config_text(c)).unwrap()
}

pub(super) fn mount_paths(c: &Container) -> Vec<(&str, &str)> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect()
}

pub(super) fn volume_names(pod: &Pod) -> Vec<&str> {
    pod.spec
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect()
}

fn skipped(pod: &Pod) -> String {
    match mutate(pod, &settings(), "apps") {
        Ok(Mutation::Skipped { reason }) => reason,
        other => panic!("expected a skip, got {other:?}"),
    }
}

#[test]
fn agent_inject_decides() {
    assert!(skipped(&pod(&[("role", "app")])).contains("no vault.hashicorp.com/agent-inject"));
    assert!(skipped(&pod(&[("agent-inject", "false")])).contains("false"));
    assert!(skipped(&pod(&[("agent-inject", "")])).contains("agent-inject"));
    let bad = denied(&pod(&[("agent-inject", "tRuE")]), &settings());
    assert!(
        bad.contains("vault.hashicorp.com/agent-inject") && bad.contains("\"tRuE\""),
        "{bad}"
    );
    injected(&pod(BASIC), &settings());
    injected(
        &pod(&[
            ("openbao.org/agent-inject", "1"),
            ("openbao.org/role", "app"),
        ]),
        &settings(),
    );
}

#[test]
fn agent_inject_status_and_phase_decide() {
    let done = pod(&with(&[("agent-inject-status", "injected")]));
    assert_eq!(skipped(&done), "already injected");
    let alias_done = pod(&with(&[("openbao.org/agent-inject-status", "injected")]));
    assert_eq!(skipped(&alias_done), "already injected");
    // Any other status value does not block (vault-k8s's `update`).
    let update = injected(
        &pod(&with(&[("agent-inject-status", "update")])),
        &settings(),
    );
    let annotations = update.metadata.annotations.unwrap();
    assert_eq!(
        annotations["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );

    let mut running = pod(BASIC);
    running.status.as_mut().unwrap().phase = Some("Running".to_owned());
    assert!(skipped(&running).contains("Running"));
    let mut template = pod(BASIC);
    template.status = None;
    injected(&template, &settings());
}

#[test]
fn system_namespaces_and_missing_namespace_are_denied() {
    for ns in ["kube-system", "kube-public"] {
        let err = mutate(&pod(BASIC), &settings(), ns).unwrap_err();
        assert!(err.message.contains(ns), "{err}");
    }
    // Un-annotated pods there are simply skipped.
    assert!(matches!(
        mutate(&pod(&[]), &settings(), "kube-system"),
        Ok(Mutation::Skipped { .. })
    ));
    assert!(mutate(&pod(BASIC), &settings(), "").is_err());
}

#[test]
fn agent_request_namespace_on_the_pod_is_ignored() {
    let p = injected(
        &pod(&with(&[("agent-request-namespace", "other")])),
        &settings(),
    );
    let plain = injected(&pod(BASIC), &settings());
    assert_eq!(
        container(&p, "vault-agent").env,
        container(&plain, "vault-agent").env
    );
}

#[test]
fn conflicting_alias_values_are_denied() {
    let clash = pod(&with(&[("openbao.org/role", "other")]));
    let err = denied(&clash, &settings());
    assert!(
        err.contains("vault.hashicorp.com/role") && err.contains("openbao.org/role"),
        "{err}"
    );
    let agree = pod(&with(&[("openbao.org/role", "app")]));
    injected(&agree, &settings());
    let inject_clash = pod(&[
        ("agent-inject", "true"),
        ("openbao.org/agent-inject", "false"),
    ]);
    assert!(denied(&inject_clash, &settings()).contains("openbao.org/agent-inject"));
}

#[test]
fn existing_agent_names_are_denied_not_duplicated() {
    let mut p = pod(BASIC);
    p.spec.as_mut().unwrap().containers.push(Container {
        name: "vault-agent".to_owned(),
        ..Default::default()
    });
    assert!(denied(&p, &settings()).contains("container named \"vault-agent\""));

    let mut p = pod(BASIC);
    p.spec
        .as_mut()
        .unwrap()
        .volumes
        .as_mut()
        .unwrap()
        .push(Default::default());
    p.spec.as_mut().unwrap().volumes.as_mut().unwrap()[1].name = "vault-secrets".to_owned();
    assert!(denied(&p, &settings()).contains("volume named \"vault-secrets\""));

    let mut p = pod(BASIC);
    p.spec.as_mut().unwrap().init_containers = Some(vec![Container {
        name: "vault-agent-init".to_owned(),
        ..Default::default()
    }]);
    assert!(denied(&p, &classic()).contains("vault-agent-init"));
}

#[test]
fn missing_role_address_or_image_is_denied_with_the_fix() {
    let no_role = pod(&[("agent-inject", "true")]);
    assert!(denied(&no_role, &settings()).contains("vault.hashicorp.com/role"));
    // A role through auth-config-role, or another auth type, is enough.
    injected(
        &pod(&[("agent-inject", "true"), ("auth-config-role", "r")]),
        &settings(),
    );
    injected(
        &pod(&[("agent-inject", "true"), ("auth-type", "jwt")]),
        &settings(),
    );

    let no_address = InjectorSettings::default();
    assert!(denied(&pod(BASIC), &no_address).contains("--vault-address"));
    injected(&pod(&with(&[("service", "http://v:8200")])), &no_address);
}

#[test]
fn token_from_the_standard_mount_not_an_irsa_mount_listed_first() {
    let mut p = pod(BASIC);
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts.as_mut().unwrap().insert(
        0,
        serde_json::from_value(json!({"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"})).unwrap(),
    );
    let out = injected(&p, &settings());
    let agent = container(&out, "vault-agent");
    assert_eq!(
        config(agent)["auto_auth"]["method"]["config"]["token_path"],
        format!("{TOKEN_DIR}/token")
    );
    assert!(mount_paths(agent).contains(&("kube-api-access-x1", TOKEN_DIR)));
    let token_mount = agent
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == TOKEN_DIR)
        .unwrap();
    assert_eq!(token_mount.read_only, Some(true));
}

#[test]
fn agent_service_account_token_volume_name_with_automount_off() {
    let mut p = pod(&with(&[(
        "agent-service-account-token-volume-name",
        "vault-token",
    )]));
    let spec = p.spec.as_mut().unwrap();
    spec.automount_service_account_token = Some(false);
    spec.containers[0].volume_mounts = None;
    spec.volumes = Some(
        vec![serde_json::from_value(json!({"name": "vault-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "vault", "audience": "vault", "expirationSeconds": 600}}
    ]}})).unwrap()],
    );
    let out = injected(&p, &settings());
    let agent = container(&out, "vault-agent");
    let dir = "/var/run/secrets/vault.hashicorp.com/serviceaccount";
    assert!(mount_paths(agent).contains(&("vault-token", dir)));
    assert_eq!(
        config(agent)["auto_auth"]["method"]["config"]["token_path"],
        format!("{dir}/vault")
    );

    // Without the annotation the denial says what to do.
    let mut bare = p.clone();
    bare.metadata
        .annotations
        .as_mut()
        .unwrap()
        .remove("vault.hashicorp.com/agent-service-account-token-volume-name");
    let err = denied(&bare, &settings());
    assert!(
        err.contains("automountServiceAccountToken: false")
            && err.contains("agent-service-account-token-volume-name"),
        "{err}"
    );
    // A name that is not a projected token volume.
    let wrong = pod(&with(&[(
        "agent-service-account-token-volume-name",
        "kube-api-access-missing",
    )]));
    assert!(denied(&wrong, &settings()).contains("\"kube-api-access-missing\""));
}

#[test]
fn token_volume_mounted_by_the_app_is_reused_at_its_path() {
    let p = pod(&with(&[(
        "agent-service-account-token-volume-name",
        "kube-api-access-x1",
    )]));
    let out = injected(&p, &settings());
    let agent = container(&out, "vault-agent");
    assert_eq!(
        config(agent)["auto_auth"]["method"]["config"]["token_path"],
        format!("{TOKEN_DIR}/token")
    );
}

#[test]
fn no_token_mount_in_admission_but_default_path_for_templates() {
    let mut p = pod(BASIC);
    let spec = p.spec.as_mut().unwrap();
    spec.containers[0].volume_mounts = None;
    spec.volumes = None;
    assert!(denied(&p, &settings()).contains("no service-account token mount"));
    let Ok(Mutation::Injected(out)) = mutate_pod_template(&p, &settings(), "apps") else {
        panic!("template injection");
    };
    let agent = container(&out, "vault-agent");
    assert_eq!(
        config(agent)["auto_auth"]["method"]["config"]["token_path"],
        format!("{TOKEN_DIR}/token")
    );
    assert!(
        !mount_paths(agent)
            .iter()
            .any(|(_, path)| *path == TOKEN_DIR)
    );
}

/// vault-k8s's canonical sidecar config (reference §9): role `role`, auth path `test`,
/// address `http://foobar:1234`, token mount `serviceaccount/somewhere`, no secrets.
const CANONICAL_SIDECAR: &str = r#"{"auto_auth":{"method":{"type":"kubernetes","mount_path":"test","config":{"role":"role","token_path":"serviceaccount/somewhere/token"}},"sink":[{"type":"file","config":{"path":"/home/vault/.vault-token"}}]},"exit_after_auth":false,"pid_file":"/home/vault/.pid","vault":{"address":"http://foobar:1234"},"template_config":{"exit_on_retry_failure":true}}"#;

fn canonical_pod() -> Pod {
    let mut p = pod(&[
        ("agent-inject", "true"),
        ("role", "role"),
        ("auth-path", "test"),
        ("service", "http://foobar:1234"),
    ]);
    p.spec.as_mut().unwrap().containers[0]
        .volume_mounts
        .as_mut()
        .unwrap()[0]
        .mount_path = "serviceaccount/somewhere".to_owned();
    p
}

#[test]
fn config_matches_vault_k8s_canonical_example() {
    let stock = InjectorSettings {
        agent_flavor: AgentFlavor::Vault,
        ..classic()
    };
    let out = injected(&canonical_pod(), &stock);
    assert_eq!(
        config_text(container(&out, "vault-agent")),
        CANONICAL_SIDECAR
    );
    let init = CANONICAL_SIDECAR.replace(r#""exit_after_auth":false"#, r#""exit_after_auth":true"#);
    assert_eq!(config_text(container(&out, "vault-agent-init")), init);

    // The kagi flavour differs only by its own block: the init->sidecar hand-off directory,
    // or the readiness file of the native sidecar.
    let kagi = injected(&canonical_pod(), &classic());
    let open = &CANONICAL_SIDECAR[..CANONICAL_SIDECAR.len() - 1];
    let with_state = format!(r#"{open},"kagi":{{"state_dir":"/kagi/state"}}}}"#);
    assert_eq!(config_text(container(&kagi, "vault-agent")), with_state);
    let native = injected(&canonical_pod(), &settings());
    let with_ready = format!(r#"{open},"kagi":{{"ready_file":"/home/vault/.kagi-ready"}}}}"#);
    assert_eq!(config_text(container(&native, "vault-agent")), with_ready);
}

#[test]
fn templates_are_sorted_with_default_map_and_json_templates() {
    let p = pod(&with(&[
        ("agent-inject-secret-zeta", "kv/zeta"),
        ("agent-inject-secret-alpha", "kv/alpha"),
        (
            "agent-inject-template-alpha",
            "{{ with secret \"kv/alpha\" }}{{ .Data.data.pw }}{{ end }}",
        ),
        ("agent-inject-file-zeta", "conf/./zeta.json"),
        ("agent-inject-perms-zeta", "0440"),
        ("agent-inject-command-zeta", "pkill -HUP app"),
        ("error-on-missing-key-zeta", "true"),
    ]));
    let out = injected(&p, &settings());
    let templates = config(container(&out, "vault-agent"))["template"].clone();
    let destinations: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        destinations,
        [
            "/vault/secrets/alpha",
            "/vault/secrets/db",
            "/vault/secrets/conf/zeta.json"
        ]
    );
    assert_eq!(
        templates[0]["contents"],
        "{{ with secret \"kv/alpha\" }}{{ .Data.data.pw }}{{ end }}"
    );
    assert_eq!(
        templates[1]["contents"],
        "{{ with secret \"database/creds/app\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
    );
    assert_eq!(templates[1]["left_delimiter"], "{{");
    assert_eq!(templates[2]["perms"], "0440");
    // kagi flavour: the command is an argv run without a shell (the template's `exec`).
    assert_eq!(
        templates[2]["exec"],
        json!({"command": ["pkill", "-HUP", "app"]})
    );
    assert!(templates[2]["command"].is_null());
    assert_eq!(templates[2]["error_on_missing_key"], true);

    let json = pod(&with(&[("agent-inject-default-template", "json")]));
    let out = injected(&json, &settings());
    assert_eq!(
        config(container(&out, "vault-agent"))["template"][0]["contents"],
        "{{ with secret \"database/creds/app\" }}{{ .Data | toJSON }}\n{{ end }}"
    );
    // The injector flag sets the default too.
    let flag = InjectorSettings {
        default_template: crate::annotations::DefaultTemplate::Json,
        ..settings()
    };
    let out = injected(&pod(BASIC), &flag);
    assert!(
        config(container(&out, "vault-agent"))["template"][0]["contents"]
            .as_str()
            .unwrap()
            .contains("toJSON")
    );
}

#[test]
fn template_file_becomes_source() {
    let p = pod(&[
        ("agent-inject", "true"),
        ("role", "app"),
        ("agent-inject-template-file-cfg", "/vault/custom/cfg.tmpl"),
    ]);
    let out = injected(&p, &settings());
    let t = &config(container(&out, "vault-agent"))["template"][0];
    assert_eq!(t["source"], "/vault/custom/cfg.tmpl");
    assert!(t.get("contents").is_none());
}

#[test]
fn connection_auth_and_template_config_annotations_reach_the_config() {
    let p = pod(&with(&[
        ("auth-type", "kubernetes"),
        ("auth-path", "auth/k8s-east"),
        ("auth-config-token-path", "/custom/token"),
        ("auth-config-role", "ignored-because-role-wins"),
        ("auth-min-backoff", "1s"),
        ("auth-max-backoff", "30s"),
        ("agent-auto-auth-exit-on-err", "true"),
        ("namespace", "team-a"),
        ("tls-skip-verify", "true"),
        ("tls-server-name", "vault.internal"),
        ("ca-cert", "/vault/tls/ca.crt"),
        ("ca-key", "/vault/tls/cas"),
        ("client-cert", "/vault/tls/tls.crt"),
        ("client-key", "/vault/tls/tls.key"),
        ("agent-inject-token", "true"),
        ("template-config-exit-on-retry-failure", "false"),
        ("template-static-secret-render-interval", "2m"),
        ("template-max-connections-per-host", "4"),
        ("template-lease-renewal-threshold", "0.5"),
        ("agent-disable-idle-connections", "templating"),
        ("agent-disable-keep-alives", "auto-auth,caching"),
        ("agent-telemetry-disable-hostname", "true"),
    ]));
    let c = config(container(&injected(&p, &settings()), "vault-agent"));
    assert_eq!(
        c["auto_auth"]["method"],
        json!({
            "type": "kubernetes", "mount_path": "auth/k8s-east", "namespace": "team-a",
            "config": {"role": "app", "token_path": "/custom/token"},
            "min_backoff": "1s", "max_backoff": "30s", "exit_on_err": true
        })
    );
    assert_eq!(
        c["auto_auth"]["sink"][1]["config"]["path"],
        "/vault/secrets/token"
    );
    assert_eq!(
        c["vault"],
        json!({
            "address": "https://vault.vault.svc:8200", "ca_cert": "/vault/tls/ca.crt", "ca_path": "/vault/tls/cas",
            "client_cert": "/vault/tls/tls.crt", "client_key": "/vault/tls/tls.key",
            "tls_skip_verify": true, "tls_server_name": "vault.internal"
        })
    );
    assert_eq!(
        c["template_config"],
        json!({
            "exit_on_retry_failure": false, "static_secret_render_interval": "2m0s",
            "lease_renewal_threshold": 0.5, "max_connections_per_host": 4
        })
    );
    assert_eq!(c["disable_idle_connections"], json!(["templating"]));
    assert_eq!(c["disable_keep_alives"], json!(["auto-auth", "caching"]));
    assert_eq!(c["telemetry"], json!({"disable_hostname": true}));
    // The config is one the agent itself accepts.
    let text = config_text(container(&injected(&p, &settings()), "vault-agent"));
    kagi_agent_config::AgentConfig::from_json(text.as_bytes()).unwrap();
}

#[test]
fn env_vars_follow_vault_k8s_order() {
    let with_proxy = InjectorSettings {
        proxy_address: "http://proxy:3128".to_owned(),
        ..settings()
    };
    let out = injected(&pod(BASIC), &with_proxy);
    let names: Vec<&str> = container(&out, "vault-agent")
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "NAMESPACE",
            "HOST_IP",
            "POD_IP",
            "VAULT_LOG_LEVEL",
            "VAULT_LOG_FORMAT",
            "HTTPS_PROXY",
            "VAULT_CONFIG"
        ]
    );

    let p = pod(&with(&[
        ("go-max-procs", "2"),
        ("client-timeout", "90s"),
        ("client-max-retries", "5"),
        ("log-level", "debug"),
        ("log-format", "json"),
        ("proxy-address", "http://p2:8080"),
    ]));
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let ca = InjectorSettings {
        vault_cacert_bytes: base64::engine::general_purpose::STANDARD.encode(pem),
        ..settings()
    };
    let agent = container(&injected(&p, &ca), "vault-agent").clone();
    assert_eq!(env(&agent, "GOMAXPROCS"), Some("2"));
    assert_eq!(env(&agent, "VAULT_CLIENT_TIMEOUT"), Some("90s"));
    assert_eq!(env(&agent, "VAULT_MAX_RETRIES"), Some("5"));
    assert_eq!(env(&agent, "VAULT_LOG_LEVEL"), Some("debug"));
    assert_eq!(env(&agent, "VAULT_LOG_FORMAT"), Some("json"));
    assert_eq!(env(&agent, "HTTPS_PROXY"), Some("http://p2:8080"));
    assert_eq!(env(&agent, "VAULT_CACERT_BYTES"), Some(pem));
}

#[test]
fn aws_auth_copies_irsa_mount_and_env() {
    let mut p = pod(&[
        ("agent-inject", "true"),
        ("auth-type", "aws"),
        ("auth-config-region", "eu-west-1"),
    ]);
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts.as_mut().unwrap().push(serde_json::from_value(json!({"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"})).unwrap());
    app.env = Some(vec![
        serde_json::from_value(json!({"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/app"}))
            .unwrap(),
        serde_json::from_value(json!({"name": "AWS_REGION", "value": "us-east-1"})).unwrap(),
    ]);
    let agent = container(&injected(&p, &settings()), "vault-agent").clone();
    assert!(mount_paths(&agent).contains(&(
        "aws-iam-token",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    )));
    assert_eq!(env(&agent, "AWS_ROLE_ARN"), Some("arn:aws:iam::1:role/app"));
    assert_eq!(env(&agent, "AWS_REGION"), Some("eu-west-1"));
}

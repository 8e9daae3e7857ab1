//! Env mode (`agent-env-*`): the wrapped containers, the installer, the config, denials.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::tests::{
    TOKEN_DIR, config, container, denied, env, init_containers, injected, mount_paths, pod,
    settings, volume_names,
};
use super::*;
use crate::settings::AgentFlavor;

const PASSWORD_TEMPLATE: &str =
    "{{ with secret \"secret/data/db\" }}{{ .Data.data.password }}{{ end }}";

/// `pod(annotations)` whose app container sets `command` and `args`, plus `more` containers
/// (`(name, command)`; `None`: no command).
fn app_pod(annotations: &[(&str, &str)], more: &[(&str, Option<&str>)]) -> Pod {
    let mut value = serde_json::to_value(pod(annotations)).unwrap();
    let app = &mut value["spec"]["containers"][0];
    app["command"] = json!(["/app/server"]);
    app["args"] = json!(["--port", "8080"]);
    app["securityContext"] = json!({"runAsUser": 1000, "runAsNonRoot": true});
    for (name, command) in more {
        let mut extra = json!({"name": name, "image": "example/other:1", "volumeMounts": [
            {"name": "kube-api-access-x1", "mountPath": TOKEN_DIR, "readOnly": true}]});
        if let Some(command) = command {
            extra["command"] = json!([command]);
        }
        value["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(extra);
    }
    serde_json::from_value(value).unwrap()
}

fn env_only(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = vec![
        ("agent-inject", "true"),
        ("role", "app"),
        ("agent-env-DB_PASSWORD", PASSWORD_TEMPLATE),
    ];
    all.extend_from_slice(extra);
    all
}

fn init_names(pod: &Pod) -> Vec<&str> {
    init_containers(pod)
        .iter()
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn env_only_pod_gets_the_installer_and_a_wrapped_command_but_no_agent() {
    let before = app_pod(&env_only(&[]), &[]);
    let after = injected(&before, &settings());
    assert_eq!(init_names(&after), [INSTALL_CONTAINER]);
    assert_eq!(after.spec.as_ref().unwrap().containers.len(), 1);
    assert_eq!(volume_names(&after), ["kube-api-access-x1", "kagi-bin"]);
    let bin = &after.spec.as_ref().unwrap().volumes.as_ref().unwrap()[1];
    assert_eq!(
        bin.empty_dir.as_ref().unwrap().medium.as_deref(),
        Some("Memory")
    );

    let app = container(&after, "app");
    assert_eq!(
        app.command.as_deref().unwrap(),
        [
            "/kagi/bin/kagi-agent",
            "exec",
            "--",
            "/app/server",
            "--port",
            "8080"
        ]
    );
    assert!(app.args.is_none());
    // The app keeps its own security context: the wrapper runs as the app's user.
    assert_eq!(
        app.security_context,
        container(&before, "app").security_context
    );
    assert_eq!(
        mount_paths(app),
        [("kube-api-access-x1", TOKEN_DIR), ("kagi-bin", "/kagi/bin")]
    );
    let bin_mount = app.volume_mounts.as_ref().unwrap()[1].clone();
    assert_eq!(bin_mount.read_only, Some(true));
    // No secret volume: the file agent is not there.
    assert!(!volume_names(&after).contains(&"vault-secrets"));

    let install = container(&after, INSTALL_CONTAINER);
    assert_eq!(
        install.command.as_deref().unwrap(),
        ["kagi-agent", "install", "/kagi/bin"]
    );
    assert_eq!(
        install.image.as_deref(),
        Some(settings().default_agent_image())
    );
    assert_eq!(mount_paths(install), [("kagi-bin", "/kagi/bin")]);
    assert!(
        install.volume_mounts.as_ref().unwrap()[0]
            .read_only
            .is_none()
    );
    // Hardened exactly like the agent of a file-mode pod.
    let file_pod = injected(&pod(super::tests::BASIC), &settings());
    assert_eq!(
        install.security_context,
        container(&file_pod, SIDECAR_CONTAINER).security_context
    );
    assert_eq!(
        install.resources,
        container(&file_pod, SIDECAR_CONTAINER).resources
    );
}

#[test]
fn the_config_logs_in_with_the_apps_token_and_carries_templates_only() {
    let after = injected(
        &app_pod(
            &env_only(&[
                (
                    "agent-env-API_KEY",
                    "{{ with secret \"kv/api\" }}{{ .Data.key }}{{ end }}",
                ),
                ("agent-env-restart", "never"),
                ("agent-env-stop-signal", "sigint"),
                ("template-static-secret-render-interval", "10s"),
                ("agent-revoke-on-shutdown", "true"),
            ]),
            &[],
        ),
        &settings(),
    );
    let config = config(container(&after, "app"));
    assert_eq!(
        config["auto_auth"]["method"],
        json!({"type": "kubernetes", "mount_path": "auth/kubernetes",
               "config": {"role": "app", "token_path": format!("{TOKEN_DIR}/token")}})
    );
    // No token sink, pid file, file template or listener: nothing to write in the app's
    // filesystem.
    assert!(config["auto_auth"]["sink"].is_null(), "{config}");
    for absent in ["pid_file", "template", "listener", "cache"] {
        assert!(config[absent].is_null(), "{absent}: {config}");
    }
    assert_eq!(config["vault"]["address"], "https://vault.vault.svc:8200");
    assert_eq!(
        config["env_template"],
        json!({
            "API_KEY": {"contents": "{{ with secret \"kv/api\" }}{{ .Data.key }}{{ end }}",
                        "error_on_missing_key": true},
            "DB_PASSWORD": {"contents": PASSWORD_TEMPLATE, "error_on_missing_key": true},
        })
    );
    assert_eq!(
        config["exec"],
        json!({"restart_on_secret_changes": "never", "restart_stop_signal": "SIGINT"})
    );
    assert_eq!(
        config["template_config"]["static_secret_render_interval"],
        "10s"
    );
    assert_eq!(config["kagi"], json!({"revoke_on_shutdown": true}));
    // The agent's own config parser accepts it.
    let text = super::tests::config_text(container(&after, "app"));
    let loaded = kagi_agent_config::AgentConfig::from_json(text.as_bytes()).unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
}

#[test]
fn the_patch_adds_no_variable_but_the_config_and_no_value_anywhere() {
    let before = app_pod(&env_only(&[]), &[]);
    let after = injected(&before, &settings());
    let patch = crate::admission::pod_patch(&before, &after).unwrap();
    let text = serde_json::to_string(&patch).unwrap();
    // The only environment entry added is VAULT_CONFIG; DB_PASSWORD exists only as a
    // template inside it (base64), never as a variable of the container spec.
    assert!(text.contains("\"VAULT_CONFIG\""), "{text}");
    assert!(!text.contains("\"DB_PASSWORD\""), "{text}");
    let names: Vec<&str> = container(&after, "app")
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["VAULT_CONFIG"]);
    // The annotations are the pod's own plus the status.
    let annotations = after.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.len(),
        before.metadata.annotations.as_ref().unwrap().len() + 1
    );
}

#[test]
fn env_mode_next_to_the_file_agent() {
    let mut annotations = super::tests::BASIC.to_vec();
    annotations.push(("agent-env-DB_PASSWORD", PASSWORD_TEMPLATE));
    for (settings, agent_first) in [(settings(), true), (super::tests::classic(), false)] {
        let after = injected(&app_pod(&annotations, &[]), &settings);
        let names = init_names(&after);
        // The installer is last: the agent keeps its place, only the apps wait for it.
        assert_eq!(names.last(), Some(&INSTALL_CONTAINER), "{names:?}");
        let agent = if agent_first {
            SIDECAR_CONTAINER
        } else {
            INIT_CONTAINER
        };
        assert!(names.contains(&agent), "{names:?}");
        let app = container(&after, "app");
        let paths = mount_paths(app);
        assert!(
            paths.contains(&("vault-secrets", "/vault/secrets")),
            "{paths:?}"
        );
        assert!(paths.contains(&("kagi-bin", "/kagi/bin")), "{paths:?}");
        assert_eq!(app.command.as_ref().unwrap()[0], "/kagi/bin/kagi-agent");
        assert!(env(app, "VAULT_CONFIG").is_some());
        // The file agent's config is unchanged: no env templates there.
        assert!(config(container(&after, agent))["env_template"].is_null());
    }
}

#[test]
fn env_containers_chooses_and_unknown_or_commandless_containers_are_denied() {
    let annotations = env_only(&[("agent-env-containers", "app")]);
    let after = injected(&app_pod(&annotations, &[("worker", None)]), &settings());
    assert!(container(&after, "worker").command.is_none());
    assert!(env(container(&after, "worker"), "VAULT_CONFIG").is_none());
    assert_eq!(
        container(&after, "app").command.as_ref().unwrap()[0],
        "/kagi/bin/kagi-agent"
    );

    // Default: every app container, so one without `command` is refused, by name.
    let message = denied(&app_pod(&env_only(&[]), &[("worker", None)]), &settings());
    assert!(
        message.contains("container \"worker\" has no command"),
        "{message}"
    );
    assert!(message.contains("set `command`"), "{message}");
    assert!(message.contains("registry"), "{message}");
    // An empty command is no command.
    let mut value = serde_json::to_value(app_pod(&env_only(&[]), &[])).unwrap();
    value["spec"]["containers"][0]["command"] = json!([]);
    let message = denied(&serde_json::from_value(value).unwrap(), &settings());
    assert!(message.contains("\"app\" has no command"), "{message}");

    let unknown = env_only(&[("agent-env-containers", "app, web")]);
    let message = denied(&app_pod(&unknown, &[("worker", Some("/w"))]), &settings());
    assert!(
        message.contains("vault.hashicorp.com/agent-env-containers names \"web\""),
        "{message}"
    );
    assert!(message.contains("app, worker"), "{message}");
    let both = injected(
        &app_pod(&env_only(&[]), &[("worker", Some("/w"))]),
        &settings(),
    );
    assert_eq!(
        container(&both, "worker").command.as_deref().unwrap(),
        ["/kagi/bin/kagi-agent", "exec", "--", "/w"]
    );
}

#[test]
fn bad_env_annotations_are_denied_naming_them_and_the_alias_works() {
    let mut annotations = env_only(&[]);
    annotations.push(("agent-env-db-password", "{{ .x }}"));
    let message = denied(&app_pod(&annotations, &[]), &settings());
    assert!(
        message.contains("vault.hashicorp.com/agent-env-db-password"),
        "{message}"
    );
    for (key, value) in [
        ("agent-env-restart", "on-change"),
        ("agent-env-stop-signal", "TERMINATE"),
    ] {
        let message = denied(&app_pod(&env_only(&[(key, value)]), &[]), &settings());
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}")),
            "{message}"
        );
    }

    let alias = app_pod(
        &[
            ("openbao.org/agent-inject", "true"),
            ("openbao.org/role", "app"),
            ("openbao.org/agent-env-TOKEN", "{{ .x }}"),
            ("openbao.org/agent-env-stop-signal", "SIGHUP"),
        ],
        &[],
    );
    let after = injected(&alias, &settings());
    let config = config(container(&after, "app"));
    assert_eq!(config["env_template"]["TOKEN"]["contents"], "{{ .x }}");
    assert_eq!(config["exec"]["restart_stop_signal"], "SIGHUP");
    let message = denied(
        &app_pod(
            &env_only(&[("openbao.org/agent-env-DB_PASSWORD", "{{ .other }}")]),
            &[],
        ),
        &settings(),
    );
    assert!(message.contains("conflict"), "{message}");
}

#[test]
fn clashes_with_the_pod_are_denied() {
    let with_env = |name: &str| {
        let mut value = serde_json::to_value(app_pod(&env_only(&[]), &[])).unwrap();
        value["spec"]["containers"][0]["env"] = json!([{"name": name, "value": "x"}]);
        serde_json::from_value::<Pod>(value).unwrap()
    };
    let message = denied(&with_env("VAULT_CONFIG"), &settings());
    assert!(message.contains("VAULT_CONFIG"), "{message}");
    let message = denied(&with_env("DB_PASSWORD"), &settings());
    assert!(
        message.contains("vault.hashicorp.com/agent-env-DB_PASSWORD"),
        "{message}"
    );

    let mut value = serde_json::to_value(app_pod(&env_only(&[]), &[])).unwrap();
    value["spec"]["initContainers"] = json!([{"name": "kagi-install", "image": "x"}]);
    let message = denied(&serde_json::from_value(value).unwrap(), &settings());
    assert!(message.contains("\"kagi-install\""), "{message}");
    let mut value = serde_json::to_value(app_pod(&env_only(&[]), &[])).unwrap();
    value["spec"]["volumes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "kagi-bin", "emptyDir": {}}));
    let message = denied(&serde_json::from_value(value).unwrap(), &settings());
    assert!(message.contains("\"kagi-bin\""), "{message}");

    let vault = InjectorSettings {
        agent_flavor: AgentFlavor::Vault,
        ..settings()
    };
    let message = denied(&app_pod(&env_only(&[]), &[]), &vault);
    assert!(message.contains("--agent-flavor vault"), "{message}");
}

#[test]
fn templates_without_a_token_mount_use_the_default_path() {
    let mut value: Value = serde_json::to_value(app_pod(&env_only(&[]), &[])).unwrap();
    value["spec"]["containers"][0]["volumeMounts"] = json!([]);
    value["spec"]["volumes"] = json!([]);
    let template: Pod = serde_json::from_value(value).unwrap();
    let Mutation::Injected(after) = mutate_pod_template(&template, &settings(), "apps").unwrap()
    else {
        panic!("not injected");
    };
    let app = container(&after, "app");
    assert_eq!(mount_paths(app), [("kagi-bin", "/kagi/bin")]);
    assert_eq!(
        config(app)["auto_auth"]["method"]["config"]["token_path"],
        format!("{TOKEN_DIR}/token")
    );
}

#[test]
fn a_named_token_volume_is_mounted_into_the_wrapped_container() {
    let mut p = app_pod(
        &env_only(&[("agent-service-account-token-volume-name", "vault-token")]),
        &[],
    );
    let spec = p.spec.as_mut().unwrap();
    spec.automount_service_account_token = Some(false);
    spec.containers[0].volume_mounts = None;
    spec.volumes = Some(vec![
        serde_json::from_value(json!({"name": "vault-token", "projected": {"sources": [
            {"serviceAccountToken": {"path": "vault", "audience": "vault", "expirationSeconds": 600}}
        ]}}))
        .unwrap(),
    ]);
    let after = injected(&p, &settings());
    let app = container(&after, "app");
    let dir = "/var/run/secrets/vault.hashicorp.com/serviceaccount";
    assert_eq!(
        mount_paths(app),
        [("kagi-bin", "/kagi/bin"), ("vault-token", dir)]
    );
    assert_eq!(
        config(app)["auto_auth"]["method"]["config"]["token_path"],
        format!("{dir}/vault")
    );

    // Another volume where the token is expected is refused, not shadowed.
    let mut clash = p.clone();
    clash.spec.as_mut().unwrap().containers[0].volume_mounts = Some(vec![
        serde_json::from_value(json!({"name": "data", "mountPath": dir})).unwrap(),
    ]);
    clash
        .spec
        .as_mut()
        .unwrap()
        .volumes
        .as_mut()
        .unwrap()
        .push(serde_json::from_value(json!({"name": "data", "emptyDir": {}})).unwrap());
    let message = denied(&clash, &settings());
    assert!(message.contains("\"data\""), "{message}");
    assert!(message.contains("\"vault-token\""), "{message}");
}

//! The two injection shapes, both agent flavours, and the container-shaping annotations.

use k8s_openapi::api::core::v1::Container;
use serde_json::json;

use super::tests::*;
use super::*;
use crate::settings::AgentFlavor;

fn stock(base: InjectorSettings) -> InjectorSettings {
    InjectorSettings {
        agent_flavor: AgentFlavor::Vault,
        ..base
    }
}

fn names(containers: &[Container]) -> Vec<&str> {
    containers.iter().map(|c| c.name.as_str()).collect()
}

fn app_init() -> Container {
    Container {
        name: "migrate".to_owned(),
        image: Some("example/migrate:1".to_owned()),
        ..Default::default()
    }
}

#[test]
fn native_shape_is_the_default() {
    let out = injected(&pod(BASIC), &settings());
    let spec = out.spec.as_ref().unwrap();
    assert_eq!(names(&spec.containers), ["app"]);
    assert_eq!(names(init_containers(&out)), ["vault-agent"]);
    let agent = &init_containers(&out)[0];
    assert_eq!(agent.restart_policy.as_deref(), Some("Always"));
    let probe = agent.startup_probe.as_ref().unwrap();
    assert_eq!(probe.exec.as_ref().unwrap().command.as_deref().unwrap(), ["kagi-agent", "probe"]);
    assert_eq!(agent.command.as_deref().unwrap(), ["kagi-agent"]);
    assert_eq!(agent.args.as_deref().unwrap(), ["run"]);
    assert_eq!(agent.image.as_deref(), Some(concat!("kagi-agent:", env!("CARGO_PKG_VERSION"))));
    assert_eq!(
        mount_paths(agent),
        [("kube-api-access-x1", TOKEN_DIR), ("home-sidecar", "/home/vault"), ("vault-secrets", "/vault/secrets")]
    );
    assert_eq!(volume_names(&out), ["kube-api-access-x1", "home-sidecar", "vault-secrets"]);
    assert!(mount_paths(&spec.containers[0]).contains(&("vault-secrets", "/vault/secrets")));
    let c = config(agent);
    assert_eq!(c["exit_after_auth"], false);
    assert_eq!(c["kagi"], json!({"ready_file": "/home/vault/.kagi-ready"}));
    let volume = &spec.volumes.as_ref().unwrap()[2];
    assert_eq!(volume.empty_dir.as_ref().unwrap().medium.as_deref(), Some("Memory"));
}

#[test]
fn agent_containers_are_hardened_with_small_resources() {
    for out in [injected(&pod(BASIC), &settings()), injected(&pod(BASIC), &classic())] {
        for name in ["vault-agent"] {
            let agent = container(&out, name);
            let sc = serde_json::to_value(agent.security_context.as_ref().unwrap()).unwrap();
            assert_eq!(sc, json!({
                "runAsUser": 100, "runAsGroup": 1000, "runAsNonRoot": true,
                "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
            }));
            let resources = serde_json::to_value(agent.resources.as_ref().unwrap()).unwrap();
            assert_eq!(resources, json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}));
        }
    }
}

#[test]
fn native_agent_goes_before_app_init_containers_unless_asked_otherwise() {
    let mut p = pod(BASIC);
    p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
    let out = injected(&p, &settings());
    assert_eq!(names(init_containers(&out)), ["vault-agent", "migrate"]);
    // App init containers get the secrets too.
    assert!(mount_paths(container(&out, "migrate")).contains(&("vault-secrets", "/vault/secrets")));

    let p2 = {
        let mut p = pod(&with(&[("agent-init-first", "false")]));
        p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
        p
    };
    assert_eq!(names(init_containers(&injected(&p2, &settings()))), ["migrate", "vault-agent"]);
}

#[test]
fn agent_native_sidecar_annotation_overrides_the_flag() {
    let off = injected(&pod(&with(&[("agent-native-sidecar", "false")])), &settings());
    assert_eq!(names(init_containers(&off)), ["vault-agent-init"]);
    let on = injected(&pod(&with(&[("agent-native-sidecar", "true")])), &classic());
    assert_eq!(names(init_containers(&on)), ["vault-agent"]);
    assert!(container(&on, "vault-agent").startup_probe.is_some());
}

#[test]
fn classic_only_annotations_select_the_classic_shape_or_conflict() {
    let only = injected(&pod(&with(&[("agent-pre-populate-only", "true")])), &settings());
    assert_eq!(names(init_containers(&only)), ["vault-agent-init"]);
    assert_eq!(names(&only.spec.as_ref().unwrap().containers), ["app"]);
    assert_eq!(volume_names(&only), ["kube-api-access-x1", "home-init", "vault-secrets"]);

    let no_init = injected(&pod(&with(&[("agent-pre-populate", "false")])), &settings());
    assert!(init_containers(&no_init).is_empty());
    assert_eq!(names(&no_init.spec.as_ref().unwrap().containers), ["app", "vault-agent"]);
    assert!(container(&no_init, "vault-agent").restart_policy.is_none());

    for clash in [("agent-pre-populate-only", "true"), ("agent-pre-populate", "false"), ("agent-configmap", "cfg")] {
        let err = denied(&pod(&with(&[("agent-native-sidecar", "true"), clash])), &settings());
        assert!(err.contains("agent-native-sidecar") && err.contains(clash.0), "{err}");
    }
}

#[test]
fn classic_shape_matches_vault_k8s() {
    let mut p = pod(BASIC);
    p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
    let out = injected(&p, &classic());
    assert_eq!(names(init_containers(&out)), ["migrate", "vault-agent-init"]);
    assert_eq!(names(&out.spec.as_ref().unwrap().containers), ["app", "vault-agent"]);
    assert_eq!(
        volume_names(&out),
        ["kube-api-access-x1", "home-init", "home-sidecar", "vault-secrets", "kagi-agent-state"]
    );
    let init = container(&out, "vault-agent-init");
    assert_eq!(
        mount_paths(init),
        [("home-init", "/home/vault"), ("kube-api-access-x1", TOKEN_DIR), ("vault-secrets", "/vault/secrets"), ("kagi-agent-state", "/kagi/state")]
    );
    let sidecar = container(&out, "vault-agent");
    assert_eq!(
        mount_paths(sidecar),
        [("kube-api-access-x1", TOKEN_DIR), ("home-sidecar", "/home/vault"), ("vault-secrets", "/vault/secrets"), ("kagi-agent-state", "/kagi/state")]
    );
    assert_eq!(config(init)["exit_after_auth"], true);
    assert_eq!(config(init)["kagi"], json!({"state_dir": "/kagi/state"}));
    assert!(init.startup_probe.is_none() && init.restart_policy.is_none());
    // The hand-off volume stays agent-only.
    assert!(!mount_paths(container(&out, "app")).iter().any(|(n, _)| *n == "kagi-agent-state"));

    let first = {
        let mut p = pod(&with(&[("agent-init-first", "true")]));
        p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
        p
    };
    assert_eq!(names(init_containers(&injected(&first, &classic()))), ["vault-agent-init", "migrate"]);
}

#[test]
fn vault_flavour_runs_the_stock_image_one_liner() {
    let out = injected(&pod(BASIC), &stock(classic()));
    for name in ["vault-agent-init", "vault-agent"] {
        let c = container(&out, name);
        assert_eq!(c.command.as_deref().unwrap(), ["/bin/sh", "-ec"]);
        assert_eq!(
            c.args.as_deref().unwrap(),
            ["echo ${VAULT_CONFIG?} | base64 -d > /home/vault/config.json && vault agent -config=/home/vault/config.json"]
        );
        assert!(config(c).get("kagi").is_none());
    }
    assert!(!volume_names(&out).contains(&"kagi-agent-state"));

    // Native with the stock image: the probe checks the token and every rendered file.
    let native = injected(&pod(&with(&[("agent-inject-token", "true")])), &stock(settings()));
    let probe = container(&native, "vault-agent").startup_probe.clone().unwrap();
    assert_eq!(
        probe.exec.unwrap().command.unwrap(),
        ["/bin/sh", "-c", "test -s /home/vault/.vault-token && test -e '/vault/secrets/db' && test -e '/vault/secrets/token'"]
    );
}

#[test]
fn agent_inject_containers_limits_app_mounts() {
    let mut p = pod(&with(&[("agent-inject-containers", "app")]));
    let spec = p.spec.as_mut().unwrap();
    spec.containers.push(Container { name: "metrics".to_owned(), ..Default::default() });
    spec.init_containers = Some(vec![app_init()]);
    let out = injected(&p, &settings());
    assert!(mount_paths(container(&out, "app")).contains(&("vault-secrets", "/vault/secrets")));
    assert!(mount_paths(container(&out, "metrics")).is_empty());
    assert!(mount_paths(container(&out, "migrate")).contains(&("vault-secrets", "/vault/secrets")));

    let typo = pod(&with(&[("agent-inject-containers", "ap")]));
    let err = denied(&typo, &settings());
    assert!(err.contains("agent-inject-containers") && err.contains("\"ap\"") && err.contains("app"), "{err}");
}

#[test]
fn custom_secret_volume_paths_get_their_own_volumes() {
    let p = pod(&with(&[
        ("secret-volume-path", "/etc/secrets"),
        ("agent-inject-secret-tls", "pki/issue/web"),
        ("secret-volume-path-tls", "/etc/tls"),
        ("agent-inject-secret-other", "kv/other"),
        ("secret-volume-path-other", "/etc/tls/"),
    ]));
    let out = injected(&p, &settings());
    assert_eq!(volume_names(&out), ["kube-api-access-x1", "home-sidecar", "vault-secrets", "vault-secrets-custom-0"]);
    let expected = [("vault-secrets", "/etc/secrets"), ("vault-secrets-custom-0", "/etc/tls")];
    let app = mount_paths(container(&out, "app"));
    assert_eq!(&app[1..], expected);
    let agent = container(&out, "vault-agent");
    assert_eq!(&mount_paths(agent)[2..], expected);
    let destinations: Vec<String> = config(agent)["template"].as_array().unwrap().iter().map(|t| t["destination"].as_str().unwrap().to_owned()).collect();
    assert_eq!(destinations, ["/etc/secrets/db", "/etc/tls/other", "/etc/tls/tls"]);
}

#[test]
fn a_clashing_mount_path_is_denied() {
    let mut p = pod(BASIC);
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts.as_mut().unwrap().push(serde_json::from_value(json!({"name": "mine", "mountPath": "/vault/secrets"})).unwrap());
    let err = denied(&p, &settings());
    assert!(err.contains("/vault/secrets") && err.contains("secret-volume-path"), "{err}");
}

#[test]
fn configmap_mode_mounts_the_config_and_skips_vault_config() {
    let p = pod(&[("agent-inject", "true"), ("agent-configmap", "agent-cfg"), ("tls-skip-verify", "true")]);
    let out = injected(&p, &settings());
    assert!(volume_names(&out).contains(&"vault-config"));
    let init = container(&out, "vault-agent-init");
    let sidecar = container(&out, "vault-agent");
    assert_eq!(init.args.as_deref().unwrap(), ["run", "-config", "/vault/configs/config-init.hcl"]);
    assert_eq!(sidecar.args.as_deref().unwrap(), ["run", "-config", "/vault/configs/config.hcl"]);
    assert!(env(sidecar, "VAULT_CONFIG").is_none());
    assert_eq!(env(sidecar, "VAULT_ADDR"), Some("https://vault.vault.svc:8200"));
    assert_eq!(env(sidecar, "VAULT_SKIP_VERIFY"), Some("true"));
    let config_mount = sidecar.volume_mounts.iter().flatten().find(|m| m.name == "vault-config").unwrap();
    assert_eq!((config_mount.mount_path.as_str(), config_mount.read_only), ("/vault/configs", Some(true)));

    let stock_out = injected(&p, &stock(settings()));
    assert_eq!(
        container(&stock_out, "vault-agent").args.as_deref().unwrap(),
        ["touch /home/vault/.vault-token && vault agent -config=/vault/configs/config.hcl"]
    );
}

#[test]
fn extra_secret_and_tls_secret_are_mounted_read_only_in_agents() {
    let p = pod(&with(&[("agent-extra-secret", "extra"), ("tls-secret", "vault-tls")]));
    let out = injected(&p, &settings());
    let volumes = &out.spec.as_ref().unwrap().volumes.as_ref().unwrap();
    let secret_of = |name: &str| volumes.iter().find(|v| v.name == name).and_then(|v| v.secret.clone()).and_then(|s| s.secret_name);
    assert_eq!(secret_of("extra-secrets").as_deref(), Some("extra"));
    assert_eq!(secret_of("vault-tls-secrets").as_deref(), Some("vault-tls"));
    let agent = container(&out, "vault-agent");
    for (name, path) in [("extra-secrets", "/vault/custom"), ("vault-tls-secrets", "/vault/tls")] {
        let m = agent.volume_mounts.iter().flatten().find(|m| m.name == name).unwrap();
        assert_eq!((m.mount_path.as_str(), m.read_only), (path, Some(true)));
    }
    assert!(!mount_paths(container(&out, "app")).iter().any(|(n, _)| *n == "extra-secrets"));
}

#[test]
fn agent_copy_volume_mounts_skips_service_account_mounts() {
    let mut p = pod(&with(&[("agent-copy-volume-mounts", "app")]));
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts.as_mut().unwrap().push(serde_json::from_value(json!({"name": "certs", "mountPath": "/etc/certs"})).unwrap());
    let out = injected(&p, &settings());
    let agent = mount_paths(container(&out, "vault-agent"));
    assert!(agent.contains(&("certs", "/etc/certs")));
    assert_eq!(agent.iter().filter(|(_, path)| *path == TOKEN_DIR).count(), 1);
    let err = denied(&pod(&with(&[("agent-copy-volume-mounts", "nope")])), &settings());
    assert!(err.contains("agent-copy-volume-mounts") && err.contains("\"nope\""), "{err}");
}

#[test]
fn agent_share_process_namespace() {
    let out = injected(&pod(&with(&[("agent-share-process-namespace", "true")])), &settings());
    assert_eq!(out.spec.as_ref().unwrap().share_process_namespace, Some(true));
    let untouched = injected(&pod(BASIC), &settings());
    assert_eq!(untouched.spec.as_ref().unwrap().share_process_namespace, None);
    let mut refuses = pod(&with(&[("agent-share-process-namespace", "true")]));
    refuses.spec.as_mut().unwrap().share_process_namespace = Some(false);
    assert!(denied(&refuses, &settings()).contains("shareProcessNamespace"));
}

#[test]
fn json_patches_apply_to_their_container() {
    let p = pod(&with(&[
        ("agent-pre-populate", "true"),
        ("agent-native-sidecar", "false"),
        ("agent-json-patch", r#"[{"op":"replace","path":"/image","value":"custom/agent:2"}]"#),
        ("agent-init-json-patch", r#"[{"op":"add","path":"/workingDir","value":"/tmp"}]"#),
    ]));
    let out = injected(&p, &settings());
    assert_eq!(container(&out, "vault-agent").image.as_deref(), Some("custom/agent:2"));
    assert_eq!(container(&out, "vault-agent-init").image.as_deref(), Some(concat!("kagi-agent:", env!("CARGO_PKG_VERSION"))));
    assert_eq!(container(&out, "vault-agent-init").working_dir.as_deref(), Some("/tmp"));

    let broken = pod(&with(&[("agent-json-patch", r#"[{"op":"remove","path":"/nothing/here"}]"#)]));
    let err = denied(&broken, &settings());
    assert!(err.contains("vault.hashicorp.com/agent-json-patch") && err.contains("vault-agent"), "{err}");
}

#[test]
fn run_as_and_security_context_annotations() {
    let p = pod(&with(&[("agent-run-as-user", "0"), ("agent-run-as-group", "3000")]));
    let sc = container(&injected(&p, &settings()), "vault-agent").security_context.clone().unwrap();
    assert_eq!((sc.run_as_user, sc.run_as_group, sc.run_as_non_root), (Some(0), Some(3000), Some(false)));

    let mut same = pod(&with(&[("agent-run-as-same-user", "true")]));
    let app = &mut same.spec.as_mut().unwrap().containers[0];
    app.security_context = Some(serde_json::from_value(json!({"runAsUser": 4242})).unwrap());
    let sc = container(&injected(&same, &settings()), "vault-agent").security_context.clone().unwrap();
    assert_eq!(sc.run_as_user, Some(4242));
    assert!(denied(&pod(&with(&[("agent-run-as-same-user", "true")])), &settings()).contains("runAsUser"));

    let openshift = injected(&pod(&with(&[("agent-set-security-context", "false")])), &settings());
    let sc = container(&openshift, "vault-agent").security_context.clone().unwrap();
    assert_eq!((sc.run_as_user, sc.run_as_group, sc.run_as_non_root), (None, None, None));
    assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
}

#[test]
fn resources_and_image_annotations() {
    let p = pod(&with(&[
        ("agent-requests-cpu", ""), ("agent-requests-mem", "32Mi"), ("agent-requests-ephemeral", "1Gi"),
        ("agent-limits-cpu", "1"), ("agent-limits-mem", ""), ("agent-limits-ephemeral", "2Gi"),
        ("agent-image", "openbao/openbao:2.4.0"),
    ]));
    let agent = container(&injected(&p, &settings()), "vault-agent").clone();
    assert_eq!(
        serde_json::to_value(agent.resources.unwrap()).unwrap(),
        json!({"requests": {"memory": "32Mi", "ephemeral-storage": "1Gi"}, "limits": {"cpu": "1", "ephemeral-storage": "2Gi"}})
    );
    assert_eq!(agent.image.as_deref(), Some("openbao/openbao:2.4.0"));
}

#[test]
fn agent_revoke_on_shutdown_per_flavour_and_shape() {
    let revoke = pod(&with(&[("agent-revoke-on-shutdown", "true"), ("agent-revoke-grace", "7")]));
    let native = injected(&revoke, &settings());
    let agent = container(&native, "vault-agent");
    assert_eq!(config(agent)["kagi"]["revoke_on_shutdown"], true);
    assert!(agent.lifecycle.is_none(), "a native sidecar stops after the app: no grace needed");

    let classic_out = injected(&revoke, &classic());
    let sidecar = container(&classic_out, "vault-agent");
    assert_eq!(sidecar.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap().sleep.as_ref().unwrap().seconds, 7);
    assert!(config(container(&classic_out, "vault-agent-init"))["kagi"].get("revoke_on_shutdown").is_none());

    let with_ca = pod(&with(&[("agent-revoke-on-shutdown", "true"), ("ca-cert", "/vault/tls/ca.crt")]));
    let stock_out = injected(&with_ca, &stock(classic()));
    let exec = container(&stock_out, "vault-agent").lifecycle.clone().unwrap().pre_stop.unwrap().exec.unwrap();
    assert_eq!(
        exec.command.unwrap(),
        ["/bin/sh", "-c", "/bin/sleep 5 && /bin/vault token revoke -address=https://vault.vault.svc:8200 -ca-cert=/vault/tls/ca.crt -self"]
    );
    // The flag sets the default.
    let flag = InjectorSettings { revoke_on_shutdown: true, ..settings() };
    assert_eq!(config(container(&injected(&pod(BASIC), &flag), "vault-agent"))["kagi"]["revoke_on_shutdown"], true);
}

#[test]
fn cache_and_quit() {
    let cached = pod(&with(&[("agent-cache-enable", "true"), ("agent-cache-exit-on-err", "true"), ("agent-cache-listener-port", "8300"), ("agent-cache-use-auto-auth-token", "force")]));
    // Classic init + sidecar: persistent cache for both.
    let out = injected(&cached, &classic());
    assert!(volume_names(&out).contains(&"vault-agent-cache"));
    for name in ["vault-agent-init", "vault-agent"] {
        let c = config(container(&out, name));
        assert_eq!(c["listener"], json!([{"type": "tcp", "address": "127.0.0.1:8300", "tls_disable": true}]));
        assert_eq!(c["cache"], json!({"use_auto_auth_token": "force", "persist": {"type": "kubernetes", "path": "/vault/agent-cache", "exit_on_err": true}}));
        assert!(mount_paths(container(&out, name)).contains(&("vault-agent-cache", "/vault/agent-cache")));
    }
    // Native sidecar: in-memory cache.
    let native = config(container(&injected(&cached, &settings()), "vault-agent"));
    assert_eq!(native["cache"], json!({"use_auto_auth_token": "force"}));
    // Init only: nothing.
    let only = pod(&with(&[("agent-cache-enable", "true"), ("agent-pre-populate-only", "true")]));
    let c = config(container(&injected(&only, &settings()), "vault-agent-init"));
    assert!(c.get("cache").is_none() && c.get("listener").is_none());

    let quit = config(container(&injected(&pod(&with(&[("agent-enable-quit", "true")])), &settings()), "vault-agent"));
    assert_eq!(quit["listener"], json!([{"type": "tcp", "address": "127.0.0.1:8200", "tls_disable": true, "agent_api": {"enable_quit": true}}]));
    assert_eq!(quit["cache"], json!({}));
}

#[test]
fn pod_without_volumes_or_annotations_map_gets_arrays_created() {
    let mut p = pod(BASIC);
    let spec = p.spec.as_mut().unwrap();
    spec.volumes = None;
    spec.containers[0].volume_mounts = None;
    let Ok(Mutation::Injected(out)) = mutate_pod_template(&p, &classic(), "apps") else {
        panic!("expected injection");
    };
    assert_eq!(volume_names(&out), ["home-init", "home-sidecar", "vault-secrets", "kagi-agent-state"]);
    assert_eq!(mount_paths(container(&out, "app")), [("vault-secrets", "/vault/secrets")]);
}

//! The two injection shapes, both agent flavours, and the container-shaping annotations.

use k8s_openapi::api::core::v1::Container;
use serde_json::json;

use super::tests::*;
use super::*;
use crate::settings::AgentFlavor;

pub(super) fn stock(base: InjectorSettings) -> InjectorSettings {
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
    assert_eq!(
        probe.exec.as_ref().unwrap().command.as_deref().unwrap(),
        ["kagi-agent", "probe"]
    );
    assert_eq!(agent.command.as_deref().unwrap(), ["kagi-agent"]);
    assert_eq!(agent.args.as_deref().unwrap(), ["run"]);
    assert_eq!(
        agent.image.as_deref(),
        Some(concat!("kagi-agent:", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        mount_paths(agent),
        [
            ("kube-api-access-x1", TOKEN_DIR),
            ("home-sidecar", "/home/vault"),
            ("vault-secrets", "/vault/secrets")
        ]
    );
    assert_eq!(
        volume_names(&out),
        ["kube-api-access-x1", "home-sidecar", "vault-secrets"]
    );
    assert!(mount_paths(&spec.containers[0]).contains(&("vault-secrets", "/vault/secrets")));
    let c = config(agent);
    assert_eq!(c["exit_after_auth"], false);
    assert_eq!(c["kagi"], json!({"ready_file": "/home/vault/.kagi-ready"}));
    let volume = &spec.volumes.as_ref().unwrap()[2];
    assert_eq!(
        volume.empty_dir.as_ref().unwrap().medium.as_deref(),
        Some("Memory")
    );
}

#[test]
fn agent_containers_are_hardened_with_small_resources() {
    let native = injected(&pod(BASIC), &settings());
    let classic_out = injected(&pod(BASIC), &classic());
    {
        for agent in [
            container(&native, "vault-agent"),
            container(&classic_out, "vault-agent-init"),
            container(&classic_out, "vault-agent"),
        ] {
            let sc = serde_json::to_value(agent.security_context.as_ref().unwrap()).unwrap();
            assert_eq!(
                sc,
                json!({
                    "runAsUser": 100, "runAsGroup": 1000, "runAsNonRoot": true,
                    "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
                })
            );
            let resources = serde_json::to_value(agent.resources.as_ref().unwrap()).unwrap();
            assert_eq!(
                resources,
                json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}})
            );
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
    assert_eq!(
        names(init_containers(&injected(&p2, &settings()))),
        ["migrate", "vault-agent"]
    );
}

#[test]
fn agent_native_sidecar_annotation_overrides_the_flag() {
    let off = injected(
        &pod(&with(&[("agent-native-sidecar", "false")])),
        &settings(),
    );
    assert_eq!(names(init_containers(&off)), ["vault-agent-init"]);
    let on = injected(&pod(&with(&[("agent-native-sidecar", "true")])), &classic());
    assert_eq!(names(init_containers(&on)), ["vault-agent"]);
    assert!(container(&on, "vault-agent").startup_probe.is_some());
}

#[test]
fn classic_only_annotations_select_the_classic_shape_or_conflict() {
    let only = injected(
        &pod(&with(&[("agent-pre-populate-only", "true")])),
        &settings(),
    );
    assert_eq!(names(init_containers(&only)), ["vault-agent-init"]);
    assert_eq!(names(&only.spec.as_ref().unwrap().containers), ["app"]);
    assert_eq!(
        volume_names(&only),
        ["kube-api-access-x1", "home-init", "vault-secrets"]
    );

    let no_init = injected(&pod(&with(&[("agent-pre-populate", "false")])), &settings());
    assert!(init_containers(&no_init).is_empty());
    assert_eq!(
        names(&no_init.spec.as_ref().unwrap().containers),
        ["app", "vault-agent"]
    );
    assert!(container(&no_init, "vault-agent").restart_policy.is_none());

    for clash in [
        ("agent-pre-populate-only", "true"),
        ("agent-pre-populate", "false"),
        ("agent-configmap", "cfg"),
    ] {
        let err = denied(
            &pod(&with(&[("agent-native-sidecar", "true"), clash])),
            &settings(),
        );
        assert!(
            err.contains("agent-native-sidecar") && err.contains(clash.0),
            "{err}"
        );
    }
}

#[test]
fn classic_shape_matches_vault_k8s() {
    let mut p = pod(BASIC);
    p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
    let out = injected(&p, &classic());
    assert_eq!(
        names(init_containers(&out)),
        ["migrate", "vault-agent-init"]
    );
    assert_eq!(
        names(&out.spec.as_ref().unwrap().containers),
        ["app", "vault-agent"]
    );
    assert_eq!(
        volume_names(&out),
        [
            "kube-api-access-x1",
            "home-init",
            "home-sidecar",
            "vault-secrets",
            "kagi-agent-state"
        ]
    );
    let init = container(&out, "vault-agent-init");
    assert_eq!(
        mount_paths(init),
        [
            ("home-init", "/home/vault"),
            ("kube-api-access-x1", TOKEN_DIR),
            ("vault-secrets", "/vault/secrets"),
            ("kagi-agent-state", "/kagi/state")
        ]
    );
    let sidecar = container(&out, "vault-agent");
    assert_eq!(
        mount_paths(sidecar),
        [
            ("kube-api-access-x1", TOKEN_DIR),
            ("home-sidecar", "/home/vault"),
            ("vault-secrets", "/vault/secrets"),
            ("kagi-agent-state", "/kagi/state")
        ]
    );
    assert_eq!(config(init)["exit_after_auth"], true);
    assert_eq!(config(init)["kagi"], json!({"state_dir": "/kagi/state"}));
    assert!(init.startup_probe.is_none() && init.restart_policy.is_none());
    // The hand-off volume stays agent-only.
    assert!(
        !mount_paths(container(&out, "app"))
            .iter()
            .any(|(n, _)| *n == "kagi-agent-state")
    );

    let first = {
        let mut p = pod(&with(&[("agent-init-first", "true")]));
        p.spec.as_mut().unwrap().init_containers = Some(vec![app_init()]);
        p
    };
    assert_eq!(
        names(init_containers(&injected(&first, &classic()))),
        ["vault-agent-init", "migrate"]
    );
}

#[test]
fn vault_flavour_runs_the_stock_image_one_liner() {
    let out = injected(&pod(BASIC), &stock(classic()));
    for name in ["vault-agent-init", "vault-agent"] {
        let c = container(&out, name);
        assert_eq!(c.command.as_deref().unwrap(), ["/bin/sh", "-ec"]);
        assert_eq!(c.image.as_deref(), Some("hashicorp/vault:2.0.4"));
        assert_eq!(
            c.args.as_deref().unwrap(),
            [
                "echo ${VAULT_CONFIG?} | base64 -d > /home/vault/config.json && vault agent -config=/home/vault/config.json"
            ]
        );
        assert!(config(c).get("kagi").is_none());
    }
    assert!(!volume_names(&out).contains(&"kagi-agent-state"));

    // Native with the stock image: the probe checks the token and every rendered file.
    let native = injected(
        &pod(&with(&[("agent-inject-token", "true")])),
        &stock(settings()),
    );
    let probe = container(&native, "vault-agent")
        .startup_probe
        .clone()
        .unwrap();
    assert_eq!(
        probe.exec.unwrap().command.unwrap(),
        [
            "/bin/sh",
            "-c",
            "test -s /home/vault/.vault-token && test -e '/vault/secrets/db' && test -e '/vault/secrets/token'"
        ]
    );
}

#[test]
fn agent_inject_containers_limits_app_mounts() {
    let mut p = pod(&with(&[("agent-inject-containers", "app")]));
    let spec = p.spec.as_mut().unwrap();
    spec.containers.push(Container {
        name: "metrics".to_owned(),
        ..Default::default()
    });
    spec.init_containers = Some(vec![app_init()]);
    let out = injected(&p, &settings());
    assert!(mount_paths(container(&out, "app")).contains(&("vault-secrets", "/vault/secrets")));
    assert!(mount_paths(container(&out, "metrics")).is_empty());
    assert!(mount_paths(container(&out, "migrate")).contains(&("vault-secrets", "/vault/secrets")));

    let none = injected(&pod(&with(&[("agent-inject-containers", "")])), &settings());
    assert!(
        !mount_paths(container(&none, "app"))
            .iter()
            .any(|(n, _)| *n == "vault-secrets")
    );
    let spaced = injected(
        &pod(&with(&[("agent-inject-containers", " app ,")])),
        &settings(),
    );
    assert!(mount_paths(container(&spaced, "app")).contains(&("vault-secrets", "/vault/secrets")));

    let typo = pod(&with(&[("agent-inject-containers", "ap")]));
    let err = denied(&typo, &settings());
    assert!(
        err.contains("agent-inject-containers") && err.contains("\"ap\"") && err.contains("app"),
        "{err}"
    );
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
    assert_eq!(
        volume_names(&out),
        [
            "kube-api-access-x1",
            "home-sidecar",
            "vault-secrets",
            "vault-secrets-custom-0"
        ]
    );
    let expected = [
        ("vault-secrets", "/etc/secrets"),
        ("vault-secrets-custom-0", "/etc/tls"),
    ];
    let app = mount_paths(container(&out, "app"));
    assert_eq!(&app[1..], expected);
    let agent = container(&out, "vault-agent");
    assert_eq!(&mount_paths(agent)[2..], expected);
    let destinations: Vec<String> = config(agent)["template"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["destination"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        destinations,
        ["/etc/secrets/db", "/etc/tls/other", "/etc/tls/tls"]
    );
}

#[test]
fn a_clashing_mount_path_is_denied() {
    let mut p = pod(BASIC);
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts.as_mut().unwrap().push(
        serde_json::from_value(json!({"name": "mine", "mountPath": "/vault/secrets"})).unwrap(),
    );
    let err = denied(&p, &settings());
    assert!(
        err.contains("/vault/secrets") && err.contains("secret-volume-path"),
        "{err}"
    );
}

#[test]
fn configmap_mode_mounts_the_config_and_skips_vault_config() {
    let p = pod(&[
        ("agent-inject", "true"),
        ("agent-configmap", "agent-cfg"),
        ("tls-skip-verify", "true"),
    ]);
    let out = injected(&p, &settings());
    assert!(volume_names(&out).contains(&"vault-config"));
    let init = container(&out, "vault-agent-init");
    let sidecar = container(&out, "vault-agent");
    assert_eq!(
        init.args.as_deref().unwrap(),
        ["run", "-config", "/vault/configs/config-init.hcl"]
    );
    assert_eq!(
        sidecar.args.as_deref().unwrap(),
        ["run", "-config", "/vault/configs/config.hcl"]
    );
    assert!(env(sidecar, "VAULT_CONFIG").is_none());
    assert_eq!(
        env(sidecar, "VAULT_ADDR"),
        Some("https://vault.vault.svc:8200")
    );
    assert_eq!(env(sidecar, "VAULT_SKIP_VERIFY"), Some("true"));
    let config_mount = sidecar
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "vault-config")
        .unwrap();
    assert_eq!(
        (config_mount.mount_path.as_str(), config_mount.read_only),
        ("/vault/configs", Some(true))
    );

    let stock_out = injected(&p, &stock(settings()));
    assert_eq!(
        container(&stock_out, "vault-agent")
            .args
            .as_deref()
            .unwrap(),
        ["touch /home/vault/.vault-token && vault agent -config=/vault/configs/config.hcl"]
    );
}

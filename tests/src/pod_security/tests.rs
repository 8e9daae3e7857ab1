use super::*;
use serde_json::{Value, json};

/// A pod every check admits: non-root, RuntimeDefault seccomp at pod level, every
/// container hardened, only allowed volume types, probes without hosts.
fn compliant() -> Value {
    let hardened = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "annotations": {
            "container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
                "seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"},
                "sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]},
            "initContainers": [{"name": "init", "image": "i", "securityContext": hardened}],
            "containers": [{"name": "app", "image": "a", "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "procMount": "Default", "appArmorProfile": {"type": "RuntimeDefault"}},
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}],
            "ephemeralContainers": [{"name": "debug", "image": "d", "securityContext": hardened}],
            "volumes": [
                {"name": "a", "emptyDir": {"medium": "Memory"}},
                {"name": "b", "secret": {"secretName": "s"}},
                {"name": "c", "configMap": {"name": "c"}},
                {"name": "d", "projected": {"sources": []}},
                {"name": "e", "downwardAPI": {}},
                {"name": "f", "persistentVolumeClaim": {"claimName": "p"}},
                {"name": "g", "csi": {"driver": "x"}},
                {"name": "h", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]
        }
    })
}

fn restricted(pod: &Value) -> Vec<Violation> {
    check_json(Level::Restricted, pod).unwrap()
}

fn set(pod: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    let target = pod
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent} missing"));
    match target {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        Value::Object(map) => {
            map.insert(key, value);
        }
        _ => panic!("{parent} is not a container"),
    }
}

#[test]
fn a_compliant_pod_passes_restricted_and_baseline() {
    assert_eq!(restricted(&compliant()), vec![]);
    assert_eq!(check_json(Level::Baseline, &compliant()).unwrap(), vec![]);
}

#[test]
fn each_rule_is_caught_with_its_field() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/spec/securityContext/windowsOptions",
            json!({"hostProcess": true}),
            "hostProcess",
            "spec.securityContext.windowsOptions.hostProcess",
        ),
        (
            "/spec/containers/0/securityContext/windowsOptions",
            json!({"hostProcess": true}),
            "hostProcess",
            "spec.containers[0](app).securityContext.windowsOptions.hostProcess",
        ),
        (
            "/spec/hostNetwork",
            json!(true),
            "hostNamespaces",
            "spec.hostNetwork",
        ),
        (
            "/spec/hostPID",
            json!(true),
            "hostNamespaces",
            "spec.hostPID",
        ),
        (
            "/spec/hostIPC",
            json!(true),
            "hostNamespaces",
            "spec.hostIPC",
        ),
        (
            "/spec/initContainers/0/securityContext/privileged",
            json!(true),
            "privileged",
            "spec.initContainers[0](init).securityContext.privileged",
        ),
        (
            "/spec/containers/0/securityContext/capabilities/add",
            json!(["SYS_ADMIN"]),
            "capabilities_restricted",
            "spec.containers[0](app).securityContext.capabilities.add",
        ),
        (
            "/spec/containers/0/securityContext/capabilities/add",
            json!(["CHOWN"]),
            "capabilities_restricted",
            "capabilities.add",
        ),
        (
            "/spec/containers/0/securityContext/capabilities/drop",
            json!(["NET_RAW"]),
            "capabilities_restricted",
            "capabilities.drop",
        ),
        (
            "/spec/containers/0/securityContext/capabilities/drop",
            json!(["all"]),
            "capabilities_restricted",
            "capabilities.drop",
        ),
        (
            "/spec/volumes/0",
            json!({"name": "host", "hostPath": {"path": "/"}}),
            "restrictedVolumes",
            "spec.volumes[0](host).hostPath",
        ),
        (
            "/spec/volumes/1",
            json!({"name": "n", "nfs": {"server": "s", "path": "/"}}),
            "restrictedVolumes",
            "spec.volumes[1](n).nfs",
        ),
        (
            "/spec/volumes/2",
            json!({"name": "i", "image": {"reference": "x"}}),
            "restrictedVolumes",
            "spec.volumes[2](i).image",
        ),
        (
            "/spec/containers/0/ports/0/hostPort",
            json!(8080),
            "hostPorts",
            "spec.containers[0](app).ports[0].hostPort",
        ),
        (
            "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1app",
            json!("unconfined"),
            "appArmorProfile",
            "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]",
        ),
        (
            "/spec/containers/0/securityContext/appArmorProfile",
            json!({"type": "Unconfined"}),
            "appArmorProfile",
            "spec.containers[0](app).securityContext.appArmorProfile.type",
        ),
        (
            "/spec/securityContext/appArmorProfile",
            json!({"type": "Unconfined"}),
            "appArmorProfile",
            "spec.securityContext.appArmorProfile.type",
        ),
        (
            "/spec/securityContext/seLinuxOptions/type",
            json!("spc_t"),
            "seLinuxOptions",
            "spec.securityContext.seLinuxOptions.type",
        ),
        (
            "/spec/containers/0/securityContext/seLinuxOptions",
            json!({"user": "system_u"}),
            "seLinuxOptions",
            "spec.containers[0](app).securityContext.seLinuxOptions.user",
        ),
        (
            "/spec/containers/0/securityContext/seLinuxOptions",
            json!({"role": "sysadm_r"}),
            "seLinuxOptions",
            "seLinuxOptions.role",
        ),
        (
            "/spec/containers/0/securityContext/procMount",
            json!("Unmasked"),
            "procMount_restricted",
            "spec.containers[0](app).securityContext.procMount",
        ),
        (
            "/spec/securityContext/seccompProfile",
            json!({"type": "Unconfined"}),
            "seccompProfile_restricted",
            "spec.securityContext.seccompProfile.type",
        ),
        (
            "/spec/ephemeralContainers/0/securityContext/seccompProfile",
            json!({"type": "Unconfined"}),
            "seccompProfile_restricted",
            "spec.ephemeralContainers[0](debug).securityContext.seccompProfile.type",
        ),
        (
            "/spec/securityContext/sysctls/0/name",
            json!("kernel.msgmax"),
            "sysctls",
            "spec.securityContext.sysctls[0].name",
        ),
        (
            "/spec/containers/0/readinessProbe/httpGet/host",
            json!("10.0.0.1"),
            "hostProbesAndHostLifecycle",
            "spec.containers[0](app).readinessProbe.httpGet.host",
        ),
        (
            "/spec/containers/0/lifecycle",
            json!({"preStop": {"tcpSocket": {"port": 1, "host": "h"}}}),
            "hostProbesAndHostLifecycle",
            "spec.containers[0](app).lifecycle.preStop.tcpSocket.host",
        ),
        (
            "/spec/ephemeralContainers/0/securityContext/allowPrivilegeEscalation",
            json!(true),
            "allowPrivilegeEscalation",
            "spec.ephemeralContainers[0](debug).securityContext.allowPrivilegeEscalation",
        ),
        (
            "/spec/initContainers/0/securityContext",
            json!({"capabilities": {"drop": ["ALL"]}}),
            "allowPrivilegeEscalation",
            "spec.initContainers[0](init)",
        ),
        (
            "/spec/securityContext/runAsNonRoot",
            json!(false),
            "runAsNonRoot",
            "spec.securityContext.runAsNonRoot",
        ),
        (
            "/spec/containers/0/securityContext/runAsNonRoot",
            json!(false),
            "runAsNonRoot",
            "spec.containers[0](app).securityContext.runAsNonRoot",
        ),
        (
            "/spec/securityContext/runAsUser",
            json!(0),
            "runAsUser",
            "spec.securityContext.runAsUser",
        ),
        (
            "/spec/initContainers/0/securityContext/runAsUser",
            json!(0),
            "runAsUser",
            "spec.initContainers[0](init).securityContext.runAsUser",
        ),
    ];
    for (pointer, value, rule, field) in cases {
        let mut pod = compliant();
        set(&mut pod, pointer, value.clone());
        let violations = restricted(&pod);
        assert!(
            violations
                .iter()
                .any(|v| v.rule == rule && v.field.contains(field)),
            "{pointer} = {value}: expected {rule} at {field}, got {violations:?}"
        );
        assert!(
            admit(
                &BTreeMap::from([(ENFORCE_LABEL.to_owned(), "restricted".to_owned())]),
                &serde_json::from_value(pod).unwrap()
            )
            .is_err()
        );
    }
}

#[test]
fn container_fields_inherit_the_pod_level_settings() {
    let mut pod = compliant();
    let spec = pod["spec"].as_object_mut().unwrap();
    spec.insert("securityContext".into(), json!({}));
    let violations = restricted(&pod);
    for rule in ["runAsNonRoot", "seccompProfile_restricted"] {
        let count = violations.iter().filter(|v| v.rule == rule).count();
        assert_eq!(
            count, 3,
            "{rule}: one per container without a pod-level value: {violations:?}"
        );
    }
    // Every container setting the values itself is enough...
    for pointer in [
        "/spec/containers/0",
        "/spec/initContainers/0",
        "/spec/ephemeralContainers/0",
    ] {
        let context = pod
            .pointer_mut(&format!("{pointer}/securityContext"))
            .unwrap();
        context["runAsNonRoot"] = json!(true);
        context["seccompProfile"] = json!({"type": "Localhost", "localhostProfile": "p.json"});
    }
    assert_eq!(restricted(&pod), vec![]);
    // ...but a pod-level false is a violation even when every container overrides it.
    pod["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
    let violations = restricted(&pod);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].field, "spec.securityContext.runAsNonRoot");
}

#[test]
fn baseline_allows_what_only_restricted_forbids() {
    let mut pod = compliant();
    pod["spec"]["securityContext"] = json!({"runAsUser": 0});
    pod["spec"]["containers"][0]["securityContext"] = json!({"capabilities": {"add": ["CHOWN"]}});
    pod["spec"]["volumes"][0] = json!({"name": "n", "nfs": {"server": "s", "path": "/"}});
    assert_eq!(check_json(Level::Baseline, &pod).unwrap(), vec![]);
    assert!(!restricted(&pod).is_empty());
    pod["spec"]["containers"][0]["securityContext"] =
        json!({"capabilities": {"add": ["SYS_ADMIN"]}});
    pod["spec"]["volumes"][0] = json!({"name": "h", "hostPath": {"path": "/"}});
    let baseline = check_json(Level::Baseline, &pod).unwrap();
    let rules: Vec<&str> = baseline.iter().map(|v| v.rule).collect();
    assert_eq!(
        rules,
        ["capabilities_baseline", "hostPathVolumes"],
        "{baseline:?}"
    );
    let restricted_rules: Vec<&str> = restricted(&pod).iter().map(|v| v.rule).collect();
    assert!(
        !restricted_rules.contains(&"hostPathVolumes")
            && !restricted_rules.contains(&"capabilities_baseline"),
        "restricted replaces the baseline checks: {restricted_rules:?}"
    );
}

#[test]
fn user_namespaces_and_windows_relax_what_the_plugin_relaxes() {
    let mut pod = compliant();
    pod["spec"]["hostUsers"] = json!(false);
    pod["spec"]["securityContext"]["runAsUser"] = json!(0);
    pod["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
    pod["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Unmasked");
    let violations = restricted(&pod);
    let rules: Vec<&str> = violations.iter().map(|v| v.rule).collect();
    assert_eq!(rules, ["procMount_restricted"], "{violations:?}");
    assert_eq!(check_json(Level::Baseline, &pod).unwrap(), vec![]);

    let mut windows = compliant();
    windows["spec"]["os"] = json!({"name": "windows"});
    windows["spec"]["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("seccompProfile");
    windows["spec"]["containers"][0]["securityContext"] = json!({});
    assert_eq!(restricted(&windows), vec![]);
}

#[test]
fn namespace_labels_pick_the_enforced_level() {
    let labels = |value: &str| BTreeMap::from([(ENFORCE_LABEL.to_owned(), value.to_owned())]);
    let mut root: Pod = serde_json::from_value(compliant()).unwrap();
    root.spec
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .run_as_user = Some(0);
    assert!(admit(&labels("restricted"), &root).is_err());
    assert!(admit(&labels("baseline"), &root).is_ok());
    assert!(admit(&labels("privileged"), &root).is_ok());
    assert!(admit(&BTreeMap::new(), &root).is_ok());
    let err = admit(&labels("strict"), &root).unwrap_err();
    assert!(
        err[0]
            .detail
            .contains("expected privileged, baseline or restricted"),
        "{err:?}"
    );
    let not_a_pod = check_json(Level::Restricted, &json!({"spec": {"containers": 3}}));
    assert!(not_a_pod.unwrap_err().contains("spec.containers"));
}

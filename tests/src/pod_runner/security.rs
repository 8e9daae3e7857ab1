//! What runc is told about a container's privileges, from the pod and container
//! `securityContext` the way the kubelet merges them, and the check that every pod spec field
//! is one the runner models (or deliberately ignores): a field it cannot express fails the test
//! naming the field instead of running without it.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use serde_json::Value;

/// The capabilities containerd gives a container by default (what `drop`/`add` apply to).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// seccomp for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seccomp {
    /// No filter (Kubernetes' default without the kubelet's SeccompDefault).
    Unconfined,
    /// The runner's default profile (see `runtime::runtime_default_seccomp`).
    RuntimeDefault,
}

/// The merged security settings of one container.
#[derive(Debug, Clone)]
pub struct Security {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub read_only_root: bool,
    /// Capability names without `CAP_` (Kubernetes spelling).
    pub capabilities: BTreeSet<String>,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    pub run_as_non_root: bool,
}

fn u32_field(context: &Value, key: &str, field: &str) -> anyhow::Result<Option<u32>> {
    match &context[key] {
        Value::Null => Ok(None),
        value => value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .with_context(|| format!("{field}.{key}: expected a uid/gid number, got {value}")),
    }
}

fn seccomp(context: &Value, field: &str) -> anyhow::Result<Option<Seccomp>> {
    match context["seccompProfile"]["type"].as_str() {
        None => Ok(None),
        Some("RuntimeDefault") => Ok(Some(Seccomp::RuntimeDefault)),
        Some("Unconfined") => Ok(Some(Seccomp::Unconfined)),
        Some(other) => bail!(
            "{field}.seccompProfile.type {other:?} is not modelled by the runc pod runner \
             (RuntimeDefault and Unconfined are)"
        ),
    }
}

/// Merges `spec.securityContext` and the container's `securityContext` (container wins), with
/// the image's user as the fallback, as the kubelet does. `field` names the container
/// (`spec.containers[0]`) in errors.
pub fn resolve(
    pod_spec: &Value,
    container: &Value,
    field: &str,
    image_user: (u32, u32),
) -> anyhow::Result<Security> {
    let pod = &pod_spec["securityContext"];
    let own = &container["securityContext"];
    let own_field = format!("{field}.securityContext");
    let pod_field = "spec.securityContext";
    if own["privileged"] == true {
        bail!(
            "{own_field}.privileged: privileged containers are not modelled by the runc pod runner"
        );
    }
    let pick = |key: &str| -> anyhow::Result<Option<u32>> {
        Ok(u32_field(own, key, &own_field)?.or(u32_field(pod, key, pod_field)?))
    };
    let uid = pick("runAsUser")?.unwrap_or(image_user.0);
    // Without runAsGroup containerd takes the group from the image (its /etc/passwd entry for
    // the user, approximated here by the image config's group).
    let gid = pick("runAsGroup")?.unwrap_or(image_user.1);
    let mut additional_gids = Vec::new();
    if let Some(fs_group) = u32_field(pod, "fsGroup", pod_field)? {
        additional_gids.push(fs_group);
    }
    for group in pod["supplementalGroups"].as_array().into_iter().flatten() {
        let group = group
            .as_u64()
            .and_then(|g| u32::try_from(g).ok())
            .with_context(|| format!("{pod_field}.supplementalGroups: {group} is not a gid"))?;
        additional_gids.push(group);
    }
    let mut capabilities: BTreeSet<String> =
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    let names = |key: &str| -> Vec<String> {
        own["capabilities"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|c| c.trim_start_matches("CAP_").to_string())
            .collect()
    };
    for drop in names("drop") {
        if drop == "ALL" {
            capabilities.clear();
        } else {
            capabilities.remove(&drop);
        }
    }
    capabilities.extend(names("add"));
    let no_new_privileges = own["allowPrivilegeEscalation"] == false;
    let seccomp = seccomp(own, &own_field)?
        .or(seccomp(pod, pod_field)?)
        .unwrap_or(Seccomp::Unconfined);
    let run_as_non_root = own["runAsNonRoot"]
        .as_bool()
        .or(pod["runAsNonRoot"].as_bool())
        .unwrap_or(false);
    Ok(Security {
        uid,
        gid,
        additional_gids,
        read_only_root: own["readOnlyRootFilesystem"] == true,
        capabilities,
        no_new_privileges,
        seccomp,
        run_as_non_root,
    })
}

/// Pod spec fields the runner models.
const POD_FIELDS: &[&str] = &[
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "serviceAccountName",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "shareProcessNamespace",
    "hostAliases",
    "automountServiceAccountToken",
];
/// Pod spec fields that mean nothing on a one-node runner (scheduling, pulling, DNS policy).
const POD_IGNORED: &[&str] = &[
    "serviceAccount",
    "nodeName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "schedulerName",
    "priority",
    "priorityClassName",
    "preemptionPolicy",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "enableServiceLinks",
    "dnsPolicy",
];
const POD_SECURITY_FIELDS: &[&str] = &[
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "fsGroup",
    "fsGroupChangePolicy",
    "supplementalGroups",
    "seccompProfile",
];
const CONTAINER_FIELDS: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "env",
    "volumeMounts",
    "securityContext",
    "startupProbe",
    "lifecycle",
    "restartPolicy",
    "workingDir",
];
/// Container fields the runner does not enforce: resources (no cgroup limits are set),
/// pull policy (images are local layouts), termination messages, declared ports.
const CONTAINER_IGNORED: &[&str] = &[
    "resources",
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "ports",
];
const CONTAINER_SECURITY_FIELDS: &[&str] = &[
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "capabilities",
    "privileged",
    "seccompProfile",
];
const MOUNT_FIELDS: &[&str] = &["name", "mountPath", "readOnly", "subPath"];
const VOLUME_SOURCES: &[&str] = &["emptyDir", "projected", "configMap", "secret"];

fn only(object: &Value, allowed: &[&str], ignored: &[&str], field: &str) -> anyhow::Result<()> {
    for key in object.as_object().into_iter().flat_map(|o| o.keys()) {
        if !allowed.contains(&key.as_str()) && !ignored.contains(&key.as_str()) {
            bail!(
                "{field}.{key} is not modelled by the runc pod runner (it models {})",
                allowed.join(", ")
            );
        }
    }
    Ok(())
}

fn exec_only(action: &Value, field: &str, also: &[&str]) -> anyhow::Result<()> {
    if action.is_null() {
        return Ok(());
    }
    let mut allowed = vec!["exec"];
    allowed.extend_from_slice(also);
    only(action, &allowed, &[], field)
}

/// Fails naming the first field of `pod` the runner cannot express.
pub fn check_modelled(pod: &Value) -> anyhow::Result<()> {
    let spec = &pod["spec"];
    only(spec, POD_FIELDS, POD_IGNORED, "spec")?;
    only(
        &spec["securityContext"],
        POD_SECURITY_FIELDS,
        &[],
        "spec.securityContext",
    )?;
    for (i, volume) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let field = format!("spec.volumes[{i}]");
        only(volume, &[&["name"], VOLUME_SOURCES].concat(), &[], &field)?;
        only(
            &volume["emptyDir"],
            &["medium", "sizeLimit"],
            &[],
            &format!("{field}.emptyDir"),
        )?;
        if let Some(medium) = volume["emptyDir"]["medium"].as_str()
            && !medium.is_empty()
            && medium != "Memory"
        {
            bail!("{field}.emptyDir.medium {medium:?} is not modelled (\"\" and Memory are)");
        }
    }
    for list in ["initContainers", "containers"] {
        for (i, container) in spec[list].as_array().into_iter().flatten().enumerate() {
            let field = format!("spec.{list}[{i}]");
            only(container, CONTAINER_FIELDS, CONTAINER_IGNORED, &field)?;
            only(
                &container["securityContext"],
                CONTAINER_SECURITY_FIELDS,
                &[],
                &format!("{field}.securityContext"),
            )?;
            only(
                &container["lifecycle"],
                &["preStop"],
                &[],
                &format!("{field}.lifecycle"),
            )?;
            exec_only(
                &container["lifecycle"]["preStop"],
                &format!("{field}.lifecycle.preStop"),
                &[],
            )?;
            exec_only(
                &container["startupProbe"],
                &format!("{field}.startupProbe"),
                &[
                    "initialDelaySeconds",
                    "periodSeconds",
                    "timeoutSeconds",
                    "failureThreshold",
                    "successThreshold",
                ],
            )?;
            for (j, mount) in container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                only(
                    mount,
                    MOUNT_FIELDS,
                    &[],
                    &format!("{field}.volumeMounts[{j}]"),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_settings_win_over_the_pod_and_drop_all_empties_capabilities() {
        let spec = json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000,
            "fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}}});
        let container = json!({"securityContext": {"runAsUser": 100,
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}});
        let s = resolve(&spec, &container, "spec.containers[0]", (65532, 65532)).unwrap();
        assert_eq!(
            (s.uid, s.gid, s.additional_gids.clone()),
            (100, 3000, vec![2000])
        );
        assert!(s.read_only_root && s.no_new_privileges);
        assert_eq!(
            s.capabilities.into_iter().collect::<Vec<_>>(),
            ["NET_BIND_SERVICE"]
        );
        assert_eq!(s.seccomp, Seccomp::RuntimeDefault);
        let plain = resolve(&json!({}), &json!({}), "c", (65532, 65532)).unwrap();
        assert_eq!((plain.uid, plain.gid), (65532, 65532));
        assert_eq!(plain.capabilities.len(), DEFAULT_CAPABILITIES.len());
        assert!(!plain.no_new_privileges);
    }

    #[test]
    fn fields_the_runner_cannot_express_are_named() {
        let pod = |spec: Value| json!({"spec": spec});
        for (spec, field) in [
            (json!({"hostNetwork": true}), "spec.hostNetwork"),
            (
                json!({"containers": [{"name": "a", "livenessProbe": {}}]}),
                "spec.containers[0].livenessProbe",
            ),
            (
                json!({"containers": [{"name": "a", "startupProbe": {"httpGet": {}}}]}),
                "spec.containers[0].startupProbe.httpGet",
            ),
            (
                json!({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}),
                "spec.volumes[0].hostPath",
            ),
            (
                json!({"initContainers": [{"name": "a",
                    "securityContext": {"procMount": "Unmasked"}}]}),
                "spec.initContainers[0].securityContext.procMount",
            ),
        ] {
            let err = check_modelled(&pod(spec)).unwrap_err().to_string();
            assert!(err.starts_with(field), "{err}");
        }
        check_modelled(&pod(
            json!({"containers": [{"name": "a", "resources": {}}]}),
        ))
        .unwrap();
    }
}

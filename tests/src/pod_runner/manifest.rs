//! Pure manifest work the control plane does before a kubelet sees a pod: loading YAML,
//! turning a workload into the pod its controller would create, and the ServiceAccount
//! admission plugin's token volume.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

/// Where the ServiceAccount admission plugin mounts the token volume.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The name the harness gives that volume (a cluster adds a random suffix).
pub const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access-kagi";

/// The annotations of an injected pod: `agent-inject`, `role` and `extra` (suffixes under
/// `vault.hashicorp.com/`).
pub fn inject_annotations(role: &str, extra: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("vault.hashicorp.com/agent-inject".into(), json!("true"));
    map.insert("vault.hashicorp.com/role".into(), json!(role));
    for (key, value) in extra {
        map.insert(format!("vault.hashicorp.com/{key}"), json!(value));
    }
    Value::Object(map)
}

/// Every document of a YAML (or JSON) file, empty documents skipped.
pub fn load_manifests(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_manifests(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every document of a YAML (or JSON) string, empty documents skipped.
pub fn parse_manifests(text: &str) -> anyhow::Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| anyhow::anyhow!("invalid YAML: {e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The Pod a controller would create for `manifest` (a Pod is returned as is).
/// Deployments, ReplicaSets, StatefulSets, DaemonSets and Jobs use `spec.template`, CronJobs
/// `spec.jobTemplate.spec.template`; the pod is named `<workload>-<suffix>` and carries the
/// workload's namespace.
pub fn pod_from_manifest(manifest: &Value) -> anyhow::Result<Value> {
    let kind = manifest["kind"].as_str().unwrap_or("Pod");
    let template = match kind {
        "Pod" => return Ok(manifest.clone()),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            &manifest["spec"]["template"]
        }
        "CronJob" => &manifest["spec"]["jobTemplate"]["spec"]["template"],
        other => anyhow::bail!("{other} is not a pod or workload"),
    };
    anyhow::ensure!(template.is_object(), "{kind} has no pod template");
    let workload = manifest["metadata"]["name"].as_str().unwrap_or("workload");
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(format!("{workload}-kagi1"));
    if let Some(ns) = manifest["metadata"]["namespace"].as_str() {
        metadata["namespace"] = json!(ns);
    }
    let mut spec = template["spec"].clone();
    if matches!(kind, "Job" | "CronJob") && spec["restartPolicy"].is_null() {
        spec["restartPolicy"] = json!("Never");
    }
    Ok(json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec }))
}

/// What the ServiceAccount admission plugin does before mutating webhooks run: default
/// `serviceAccountName`, add the projected token volume and mount it into every container
/// (unless `automountServiceAccountToken: false` or the path is already mounted).
pub fn service_account_admission(pod: &Value) -> Value {
    let mut pod = pod.clone();
    if pod["spec"]["serviceAccountName"].is_null() {
        pod["spec"]["serviceAccountName"] = json!("default");
    }
    if pod["spec"]["automountServiceAccountToken"] == json!(false) {
        return pod;
    }
    let volume = json!({
        "name": SERVICE_ACCOUNT_VOLUME,
        "projected": {
            "defaultMode": 420,
            "sources": [
                { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
                { "configMap": { "name": "kube-root-ca.crt",
                                 "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                { "downwardAPI": { "items": [{ "path": "namespace",
                    "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } }
            ]
        }
    });
    match pod["spec"]["volumes"].as_array_mut() {
        Some(volumes) => volumes.push(volume),
        None => pod["spec"]["volumes"] = json!([volume]),
    }
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod["spec"][list].as_array_mut() else {
            continue;
        };
        for container in containers {
            let already = container["volumeMounts"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT));
            if already {
                continue;
            }
            let mount = json!({ "name": SERVICE_ACCOUNT_VOLUME,
                                "mountPath": SERVICE_ACCOUNT_MOUNT, "readOnly": true });
            match container["volumeMounts"].as_array_mut() {
                Some(mounts) => mounts.push(mount),
                None => container["volumeMounts"] = json!([mount]),
            }
        }
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_yields_its_template_as_a_pod() {
        let docs = parse_manifests(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
             spec:\n  template:\n    metadata:\n      annotations: {a: b}\n    spec:\n      containers: [{name: app, image: nginx}]\n\
             ---\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
        let pod = pod_from_manifest(&docs[0]).unwrap();
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        assert_eq!(pod["spec"]["containers"][0]["name"], "app");
    }

    #[test]
    fn jobs_default_to_restart_never() {
        let job = json!({"kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}});
        assert_eq!(
            pod_from_manifest(&job).unwrap()["spec"]["restartPolicy"],
            "Never"
        );
    }

    #[test]
    fn service_account_volume_is_mounted_everywhere_unless_opted_out() {
        let pod = json!({"spec": {"initContainers": [{"name": "i"}],
            "containers": [{"name": "a", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}]}});
        let admitted = service_account_admission(&pod);
        assert_eq!(admitted["spec"]["serviceAccountName"], "default");
        assert_eq!(
            admitted["spec"]["volumes"][0]["name"],
            SERVICE_ACCOUNT_VOLUME
        );
        assert_eq!(
            admitted["spec"]["containers"][0]["volumeMounts"][1]["mountPath"],
            SERVICE_ACCOUNT_MOUNT
        );
        assert_eq!(
            admitted["spec"]["initContainers"][0]["volumeMounts"][0]["mountPath"],
            SERVICE_ACCOUNT_MOUNT
        );
        let mut opted_out = pod.clone();
        opted_out["spec"]["automountServiceAccountToken"] = json!(false);
        assert!(service_account_admission(&opted_out)["spec"]["volumes"].is_null());
    }
}

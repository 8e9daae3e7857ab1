//! Facts about one container of a pod spec that do not depend on runc: its kind, its
//! environment (downward API resolved), its process (command/args over the image's
//! entrypoint/cmd), and where its mounts live on the host (for tests that look at files).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;

/// How the kubelet treats a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// An init container with `restartPolicy: Always` (a native sidecar).
    Sidecar,
    /// An ordinary init container, run to completion in order.
    Init,
    /// An app container (`spec.containers`).
    App,
}

/// A container's mounts, container path → host path, longest container path first, and its
/// root filesystem: lets a test read what a container sees. Containers see the real paths;
/// nothing is rewritten.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    entries: Vec<(String, PathBuf)>,
    rootfs: PathBuf,
}

impl Mounts {
    pub fn new(mut entries: Vec<(String, PathBuf)>, rootfs: PathBuf) -> Mounts {
        entries.sort_by_key(|(container, _)| std::cmp::Reverse(container.len()));
        Mounts { entries, rootfs }
    }

    /// The host path behind an absolute container path: under a mount, or in the rootfs.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.entries
            .iter()
            .find_map(|(container, host)| {
                let container = container.trim_end_matches('/');
                let rest = path.strip_prefix(container)?;
                (rest.is_empty() || rest.starts_with('/'))
                    .then(|| PathBuf::from(format!("{}{rest}", host.display())))
            })
            .unwrap_or_else(|| self.rootfs.join(path.trim_start_matches('/')))
    }
}

/// Values the downward API resolves to.
#[derive(Debug, Clone)]
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub service_account: String,
    pub node_name: String,
    pub labels: Value,
    pub annotations: Value,
}

impl PodFacts {
    pub(crate) fn field(&self, path: &str) -> Option<String> {
        let from_map = |map: &Value, rest: &str| {
            let key = rest.strip_prefix("['")?.strip_suffix("']")?;
            map[key].as_str().map(str::to_string)
        };
        match path {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.namespace.clone()),
            "metadata.uid" => Some(self.uid.clone()),
            "spec.serviceAccountName" => Some(self.service_account.clone()),
            "spec.nodeName" => Some(self.node_name.clone()),
            "status.podIP" | "status.hostIP" | "status.podIPs" | "status.hostIPs" => {
                Some("127.0.0.1".to_string())
            }
            other => {
                if let Some(rest) = other.strip_prefix("metadata.labels") {
                    from_map(&self.labels, rest)
                } else if let Some(rest) = other.strip_prefix("metadata.annotations") {
                    from_map(&self.annotations, rest)
                } else {
                    None
                }
            }
        }
    }
}

/// `env` of a container, resolved: literal values, downward API, config maps and secrets
/// registered with the runner. `$(VAR)` references to earlier variables are expanded.
pub fn resolve_env(
    container: &Value,
    facts: &PodFacts,
    key_refs: &BTreeMap<(String, String), String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"]
            .as_str()
            .context("env entry without a name")?
            .to_string();
        let value = if let Some(value) = var["value"].as_str() {
            expand_references(value, &env)
        } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            facts
                .field(path)
                .with_context(|| format!("env {name}: fieldRef {path} is not supported"))?
        } else if var["valueFrom"]["resourceFieldRef"].is_object() {
            "1".to_string()
        } else if let Some(reference) = var["valueFrom"]
            .get("secretKeyRef")
            .or_else(|| var["valueFrom"].get("configMapKeyRef"))
        {
            let key = (
                reference["name"].as_str().unwrap_or_default().to_string(),
                reference["key"].as_str().unwrap_or_default().to_string(),
            );
            match key_refs.get(&key) {
                Some(value) => value.clone(),
                None if reference["optional"] == true => continue,
                None => bail!("env {name}: {}/{} is not registered", key.0, key.1),
            }
        } else {
            String::new()
        };
        env.push((name, value));
    }
    Ok(env)
}

fn expand_references(value: &str, earlier: &[(String, String)]) -> String {
    let mut out = value.to_string();
    for (name, resolved) in earlier {
        out = out.replace(&format!("$({name})"), resolved);
    }
    out
}

/// The strings of a JSON array (`command`, `args`, an exec probe's `command`), used as they
/// are: paths are the container's own.
pub(super) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The process the kubelet starts: `command` replaces the image's entrypoint, `args` its cmd
/// (and with `command` set, the image's cmd is dropped).
pub fn process_args(
    container: &Value,
    entrypoint: &[String],
    cmd: &[String],
) -> anyhow::Result<Vec<String>> {
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    let mut argv = if command.is_empty() {
        entrypoint.to_vec()
    } else {
        command.clone()
    };
    if !container["args"].is_null() {
        argv.extend(args);
    } else if command.is_empty() {
        argv.extend(cmd.iter().cloned());
    }
    if argv.is_empty() {
        bail!(
            "container {}: no command, and its image has no entrypoint",
            container["name"].as_str().unwrap_or("?")
        );
    }
    Ok(argv)
}

/// `registry/path/name:tag@sha256:...` → (`name`, `tag`); the tag is `latest` when absent.
pub fn image_reference(image: &str) -> (&str, &str) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        Some((name, tag)) => (name, tag),
        None => (last, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_paths_follow_the_longest_mount_and_fall_back_to_the_rootfs() {
        let mounts = Mounts::new(
            vec![
                ("/vault/secrets".into(), "/tmp/p/secrets".into()),
                ("/vault/secrets/db".into(), "/tmp/p/custom".into()),
            ],
            "/tmp/p/rootfs".into(),
        );
        assert_eq!(
            mounts.host_path("/vault/secrets/x"),
            PathBuf::from("/tmp/p/secrets/x")
        );
        assert_eq!(
            mounts.host_path("/vault/secrets/db/y"),
            PathBuf::from("/tmp/p/custom/y")
        );
        assert_eq!(
            mounts.host_path("/vault/secretsx"),
            PathBuf::from("/tmp/p/rootfs/vault/secretsx")
        );
    }

    #[test]
    fn env_resolves_downward_api_and_references() {
        let facts = PodFacts {
            name: "web-1".into(),
            namespace: "shop".into(),
            uid: "u".into(),
            service_account: "web".into(),
            node_name: "node".into(),
            labels: json!({"app": "web"}),
            annotations: json!({}),
        };
        let container = json!({"env": [
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "WHERE", "value": "$(APP).$(NS)"},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]});
        let env = resolve_env(&container, &facts, &BTreeMap::new()).unwrap();
        assert_eq!(env[2], ("WHERE".to_string(), "web.shop".to_string()));
        assert_eq!(env[3].1, "127.0.0.1");
    }

    #[test]
    fn command_and_args_replace_entrypoint_and_cmd_as_the_kubelet_does() {
        let (entry, cmd) = (vec!["/bin/agent".to_string()], vec!["run".to_string()]);
        let args = |c: Value| process_args(&c, &entry, &cmd).unwrap();
        assert_eq!(args(json!({})), ["/bin/agent", "run"]);
        assert_eq!(args(json!({"args": ["probe"]})), ["/bin/agent", "probe"]);
        assert_eq!(args(json!({"command": ["x"]})), ["x"]);
        assert_eq!(args(json!({"command": ["x"], "args": ["y"]})), ["x", "y"]);
        assert_eq!(
            image_reference("ghcr.io/o/kagi-agent:0.1.0@sha256:00"),
            ("kagi-agent", "0.1.0")
        );
        assert_eq!(image_reference("busybox"), ("busybox", "latest"));
    }
}

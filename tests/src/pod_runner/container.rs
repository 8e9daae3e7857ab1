//! Turning one container of a pod spec into a local process description: mount paths mapped
//! to host directories (also inside `VAULT_CONFIG` and arguments), downward-API env resolved,
//! image and command mapped to local binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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

/// Container paths → host paths, longest container path first.
#[derive(Debug, Clone, Default)]
pub struct PathMap {
    entries: Vec<(String, PathBuf)>,
}

impl PathMap {
    pub fn new(mut entries: Vec<(String, PathBuf)>) -> PathMap {
        entries.sort_by_key(|(container, _)| std::cmp::Reverse(container.len()));
        PathMap { entries }
    }

    pub fn entries(&self) -> &[(String, PathBuf)] {
        &self.entries
    }

    /// Maps an absolute container path that lies under a mount; `None` otherwise.
    pub fn map(&self, path: &str) -> Option<String> {
        self.entries.iter().find_map(|(container, host)| {
            let container = container.trim_end_matches('/');
            let rest = path.strip_prefix(container)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", host.display()))
        })
    }

    /// Maps a command-line word: a path, or `--flag=PATH` / `key=PATH`.
    pub fn map_word(&self, word: &str) -> String {
        if let Some(mapped) = self.map(word) {
            return mapped;
        }
        if let Some((flag, value)) = word.split_once('=')
            && let Some(mapped) = self.map(value)
        {
            return format!("{flag}={mapped}");
        }
        word.to_string()
    }

    /// Maps every string in a JSON document that is a path under a mount.
    pub fn map_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(mapped) = self.map(s) {
                    *s = mapped;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.map_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.map_json(v)),
            _ => {}
        }
    }

    /// Rewrites a base64 JSON `VAULT_CONFIG` so its paths point at the host directories.
    pub fn map_vault_config(&self, encoded: &str) -> anyhow::Result<String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .context("VAULT_CONFIG is not base64")?;
        let mut config: Value =
            serde_json::from_slice(&bytes).context("VAULT_CONFIG is not JSON")?;
        self.map_json(&mut config);
        Ok(STANDARD.encode(config.to_string()))
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
    fn field(&self, path: &str) -> Option<String> {
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

/// Local programs standing in for images and commands.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    /// Keyed by image repository name (last path segment, no tag) and by command basename.
    by_name: BTreeMap<String, PathBuf>,
}

impl Programs {
    pub fn insert(&mut self, name: &str, program: PathBuf) {
        self.by_name.insert(name.to_string(), program);
    }

    /// `registry/path/name:tag@sha256:...` → `name`
    pub fn image_name(image: &str) -> &str {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        last.split(':').next().unwrap_or(last)
    }

    fn by_basename(&self, word: &str) -> Option<&PathBuf> {
        let base = Path::new(word).file_name()?.to_str()?;
        self.by_name.get(base)
    }

    /// The program and its arguments for a container's `image`, `command` and `args`.
    pub fn resolve(&self, container: &Value) -> anyhow::Result<(PathBuf, Vec<String>)> {
        let name = container["name"].as_str().unwrap_or("?");
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let command = strings(&container["command"]);
        let args = strings(&container["args"]);
        let image = container["image"].as_str().unwrap_or_default();
        if let Some(first) = command.first() {
            let program = self.by_basename(first).with_context(|| {
                format!("container {name}: no local program for command {first:?} (image {image})")
            })?;
            let mut argv = command[1..].to_vec();
            argv.extend(args);
            return Ok((program.clone(), argv));
        }
        let program = self
            .by_name
            .get(Self::image_name(image))
            .with_context(|| format!("container {name}: no local program for image {image:?}"))?;
        Ok((program.clone(), args))
    }

    /// The program and arguments of an exec probe or hook (`exec.command`).
    pub fn resolve_exec(&self, command: &Value) -> anyhow::Result<(PathBuf, Vec<String>)> {
        let words: Vec<String> = command
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        let first = words.first().context("exec with an empty command")?;
        let program = self
            .by_basename(first)
            .with_context(|| format!("no local program for exec command {first:?}"))?;
        Ok((program.clone(), words[1..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths() -> PathMap {
        PathMap::new(vec![
            ("/vault/secrets".into(), "/tmp/p/secrets".into()),
            ("/home/vault".into(), "/tmp/p/home".into()),
            ("/vault/secrets/db".into(), "/tmp/p/custom".into()),
        ])
    }

    #[test]
    fn paths_map_by_longest_mount_prefix_only_at_boundaries() {
        let map = paths();
        assert_eq!(map.map("/vault/secrets/x").unwrap(), "/tmp/p/secrets/x");
        assert_eq!(map.map("/vault/secrets/db/y").unwrap(), "/tmp/p/custom/y");
        assert_eq!(map.map("/home/vault").unwrap(), "/tmp/p/home");
        assert_eq!(map.map("/home/vaultx"), None);
        assert_eq!(
            map.map_word("-config=/home/vault/c.json"),
            "-config=/tmp/p/home/c.json"
        );
        assert_eq!(map.map_word("run"), "run");
    }

    #[test]
    fn vault_config_paths_are_rewritten_inside_base64_json() {
        let config = json!({"pid_file": "/home/vault/.pid",
            "template": [{"destination": "/vault/secrets/app", "contents": "/vault/secrets"}],
            "vault": {"address": "http://127.0.0.1:8200"}});
        let encoded = STANDARD.encode(config.to_string());
        let mapped = paths().map_vault_config(&encoded).unwrap();
        let back: Value = serde_json::from_slice(&STANDARD.decode(mapped).unwrap()).unwrap();
        assert_eq!(back["pid_file"], "/tmp/p/home/.pid");
        assert_eq!(back["template"][0]["destination"], "/tmp/p/secrets/app");
        assert_eq!(back["vault"]["address"], "http://127.0.0.1:8200");
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
    fn programs_come_from_command_basename_or_image() {
        let mut programs = Programs::default();
        programs.insert("kagi-agent", "/bin/agent".into());
        programs.insert("app", "/bin/app".into());
        let agent = json!({"name": "vault-agent", "image": "ghcr.io/x/kagi-agent:0.1.0",
            "command": ["/kagi-agent"], "args": ["run"]});
        assert_eq!(
            programs.resolve(&agent).unwrap(),
            (PathBuf::from("/bin/agent"), vec!["run".to_string()])
        );
        let app = json!({"name": "a", "image": "registry/app:1@sha256:00", "args": ["x"]});
        assert_eq!(programs.resolve(&app).unwrap().0, PathBuf::from("/bin/app"));
        let shell = json!({"name": "s", "image": "busybox", "command": ["/bin/sh"]});
        assert!(programs.resolve(&shell).is_err());
    }
}

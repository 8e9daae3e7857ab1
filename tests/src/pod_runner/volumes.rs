//! The pod's volumes on the host, as the kubelet lays them out: an emptyDir is a directory
//! (mode 0777), or a tmpfs with `medium: Memory` (size `sizeLimit`); projected, configMap and
//! secret volumes are directories of files, mounted read-only. With `fsGroup` every volume is
//! group-owned by it (directories setgid and group-writable for emptyDirs, files group-readable),
//! which is what lets a container running as another user share them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use super::container::PodFacts;
use super::sandbox::HostMounts;
use crate::kube::{ServiceAccountIssuer, TokenRequest};

/// One volume on the host.
#[derive(Debug, Clone)]
pub struct Volume {
    pub host: PathBuf,
    /// Projected, configMap and secret volumes are read-only in every container.
    pub read_only: bool,
}

/// ConfigMap/Secret contents a test registered, by object name.
pub type ObjectFiles = BTreeMap<String, Vec<(String, String)>>;

/// `sizeLimit` as bytes: plain, or with a binary (Ki, Mi, Gi) or decimal (k, M, G) suffix.
pub fn quantity_bytes(text: &str) -> anyhow::Result<u64> {
    let units: [(&str, u64); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    let (number, factor) = units
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((text, 1));
    let number: u64 = number.parse().with_context(|| {
        format!(
            "sizeLimit {text:?}: expected a whole number with an optional Ki/Mi/Gi/k/M/G suffix"
        )
    })?;
    Ok(number * factor)
}

pub struct VolumeBuilder<'a> {
    pub issuer: &'a ServiceAccountIssuer,
    pub files: &'a ObjectFiles,
    pub facts: &'a PodFacts,
}

impl VolumeBuilder<'_> {
    /// Creates every volume of `pod` under `root/volumes`; tmpfs mounts go into `mounts`.
    pub fn prepare(
        &self,
        pod: &Value,
        root: &Path,
        mounts: &mut HostMounts,
    ) -> anyhow::Result<BTreeMap<String, Volume>> {
        let fs_group = pod["spec"]["securityContext"]["fsGroup"]
            .as_u64()
            .and_then(|g| u32::try_from(g).ok());
        let mut volumes = BTreeMap::new();
        for (i, volume) in pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = volume["name"]
                .as_str()
                .with_context(|| format!("spec.volumes[{i}] has no name"))?;
            let dir = root.join("volumes").join(name);
            std::fs::create_dir_all(&dir)?;
            let empty_dir = &volume["emptyDir"];
            let read_only = !empty_dir.is_object();
            if empty_dir["medium"] == "Memory" {
                let size = empty_dir["sizeLimit"]
                    .as_str()
                    .map(quantity_bytes)
                    .transpose()
                    .with_context(|| format!("spec.volumes[{i}].emptyDir.sizeLimit"))?;
                mounts.tmpfs(&dir, size)?;
            }
            if empty_dir.is_object() {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
            } else {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
            }
            if let Some(sources) = volume["projected"]["sources"].as_array() {
                for source in sources {
                    self.write_projection(source, &dir)?;
                }
            }
            for key in ["configMap", "secret"] {
                let object = volume[key]["name"]
                    .as_str()
                    .or_else(|| volume[key]["secretName"].as_str());
                if let Some(object) = object {
                    self.write_object(object, &volume[key]["items"], &dir)?;
                }
            }
            if let Some(group) = fs_group {
                set_group_ownership(&dir, group, !read_only)?;
            }
            volumes.insert(
                name.to_string(),
                Volume {
                    host: dir,
                    read_only,
                },
            );
        }
        Ok(volumes)
    }

    fn write_projection(&self, source: &Value, dir: &Path) -> anyhow::Result<()> {
        let facts = self.facts;
        if let Some(token) = source["serviceAccountToken"].as_object() {
            let mut request = TokenRequest::new(&facts.namespace, &facts.service_account);
            if let Some(audience) = token.get("audience").and_then(Value::as_str) {
                request.audiences = vec![audience.to_string()];
            }
            if let Some(seconds) = token.get("expirationSeconds").and_then(Value::as_u64) {
                request.ttl = Duration::from_secs(seconds);
            }
            request.pod = Some((facts.name.clone(), facts.uid.clone()));
            let path = token.get("path").and_then(Value::as_str).unwrap_or("token");
            write_file(&dir.join(path), &self.issuer.token_for(&request))?;
        }
        if source["configMap"]["name"] == "kube-root-ca.crt" {
            write_file(&dir.join("ca.crt"), "kagi harness: no API server CA\n")?;
        } else if let Some(object) = source["configMap"]["name"]
            .as_str()
            .or_else(|| source["secret"]["name"].as_str())
        {
            let items = if source["configMap"].is_object() {
                &source["configMap"]["items"]
            } else {
                &source["secret"]["items"]
            };
            self.write_object(object, items, dir)?;
        }
        for item in source["downwardAPI"]["items"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = item["path"].as_str().unwrap_or("value");
            let field = item["fieldRef"]["fieldPath"].as_str().unwrap_or_default();
            let Some(value) = facts.field(field) else {
                bail!("projected downwardAPI item {path}: fieldRef {field:?} is not modelled");
            };
            write_file(&dir.join(path), &value)?;
        }
        Ok(())
    }

    fn write_object(&self, object: &str, items: &Value, dir: &Path) -> anyhow::Result<()> {
        let files = self.files.get(object).cloned().unwrap_or_default();
        for (key, value) in files {
            let path = items
                .as_array()
                .and_then(|items| items.iter().find(|i| i["key"] == key.as_str()))
                .and_then(|i| i["path"].as_str())
                .unwrap_or(&key)
                .to_string();
            write_file(&dir.join(path), &value)?;
        }
        Ok(())
    }
}

/// The kubelet's volume ownership for `fsGroup`: group `group` on everything, setgid
/// directories, group read (and write for writable volumes).
fn set_group_ownership(path: &Path, group: u32, writable: bool) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, None, Some(group))
        .with_context(|| format!("chown :{group} {}", path.display()))?;
    let meta = std::fs::symlink_metadata(path)?;
    let mut mode = meta.permissions().mode() & 0o7777;
    mode |= if writable { 0o060 } else { 0o040 };
    if meta.is_dir() {
        mode |= 0o2010;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        for entry in std::fs::read_dir(path)? {
            set_group_ownership(&entry?.path(), group, writable)?;
        }
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_parse_binary_and_decimal_suffixes() {
        assert_eq!(quantity_bytes("64Mi").unwrap(), 64 << 20);
        assert_eq!(quantity_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(quantity_bytes("4096").unwrap(), 4096);
        assert!(
            quantity_bytes("lots")
                .unwrap_err()
                .to_string()
                .contains("Ki/Mi/Gi")
        );
    }
}

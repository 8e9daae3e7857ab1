//! Volumes added to the pod and the mounts of app and agent containers.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, Pod, PodSpec, SecretVolumeSource, Volume,
    VolumeMount,
};

use super::token::{AwsIrsa, Token};
use super::{Denial, Plan};
use crate::annotations::PodSettings;

pub(crate) const HOME_INIT: &str = "home-init";
pub(crate) const HOME_SIDECAR: &str = "home-sidecar";
pub(crate) const HOME_DIR: &str = "/home/vault";
pub(crate) const SECRETS: &str = "vault-secrets";
pub(crate) const CONFIG: &str = "vault-config";
pub(crate) const CONFIG_DIR: &str = "/vault/configs";
pub(crate) const EXTRA_SECRETS: &str = "extra-secrets";
pub(crate) const EXTRA_SECRETS_DIR: &str = "/vault/custom";
pub(crate) const TLS_SECRETS: &str = "vault-tls-secrets";
pub(crate) const TLS_DIR: &str = "/vault/tls";
pub(crate) const CACHE: &str = "vault-agent-cache";
pub(crate) const CACHE_DIR: &str = "/vault/agent-cache";
/// kagi: agent-only memory volume where `vault-agent-init` leaves its token and leases for
/// `vault-agent` to adopt (replaces vault-k8s's persistent cache for that purpose).
pub(crate) const STATE: &str = "kagi-agent-state";
pub(crate) const STATE_DIR: &str = "/kagi/state";

/// Which agent container a mount list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Init,
    /// Classic sidecar or the native sidecar.
    Sidecar,
}

/// The distinct per-secret directories other than the global one, in secret order; the
/// i-th gets volume `vault-secrets-custom-<i>`.
pub(crate) fn custom_paths(pod: &PodSettings) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    pod.secrets
        .iter()
        .map(|s| s.volume_path.as_str())
        .filter(|p| *p != pod.secret_volume_path && seen.insert(*p))
        .collect()
}

fn persistent_cache(plan: &Plan<'_>) -> bool {
    plan.pod.cache.enable && plan.has_handoff()
}

fn state_volume(plan: &Plan<'_>) -> bool {
    plan.flavor == crate::settings::AgentFlavor::Kagi && plan.has_handoff()
}

/// Names of the volumes [`pod_volumes`] adds.
pub(crate) fn names(plan: &Plan<'_>) -> Vec<String> {
    pod_volumes(plan).into_iter().map(|v| v.name).collect()
}

pub(crate) fn memory(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn secret(name: &str, secret_name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The volumes to append to `spec.volumes`, in vault-k8s's order.
pub(crate) fn pod_volumes(plan: &Plan<'_>) -> Vec<Volume> {
    let mut out = Vec::new();
    if plan.has_init() {
        out.push(memory(HOME_INIT));
    }
    if plan.has_sidecar() || plan.shape == super::Shape::Native {
        out.push(memory(HOME_SIDECAR));
    }
    out.push(memory(SECRETS));
    for i in 0..custom_paths(plan.pod).len() {
        out.push(memory(&format!("{SECRETS}-custom-{i}")));
    }
    if let Some(configmap) = &plan.pod.configmap {
        out.push(Volume {
            name: CONFIG.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: configmap.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if let Some(name) = &plan.pod.extra_secret {
        out.push(secret(EXTRA_SECRETS, name));
    }
    if let Some(name) = &plan.pod.tls_secret {
        out.push(secret(TLS_SECRETS, name));
    }
    if persistent_cache(plan) {
        out.push(memory(CACHE));
    }
    if state_volume(plan) {
        out.push(memory(STATE));
    }
    out
}

pub(crate) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// `vault-secrets` and its custom siblings, as app containers and agents mount them.
pub(crate) fn app_secret_mounts(pod: &PodSettings) -> Vec<VolumeMount> {
    let mut out = vec![mount(SECRETS, &pod.secret_volume_path, false)];
    for (i, path) in custom_paths(pod).into_iter().enumerate() {
        out.push(mount(&format!("{SECRETS}-custom-{i}"), path, false));
    }
    out
}

/// Adds the secret mounts to the targeted app containers and to every existing init container.
pub(crate) fn mount_into_app_containers(
    spec: &mut PodSpec,
    pod: &PodSettings,
    mounts: &[VolumeMount],
) -> Result<(), Denial> {
    if let Some(wanted) = &pod.inject_containers {
        let names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        if let Some(unknown) = wanted.iter().find(|w| !names.contains(w.as_str())) {
            return Err(Denial::new(format!(
                "annotation vault.hashicorp.com/agent-inject-containers names {unknown:?}, which \
                 is not a container of this pod (containers: {})",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let targeted = |name: &str| {
        pod.inject_containers
            .as_ref()
            .is_none_or(|w| w.iter().any(|n| n == name))
    };
    let apps = spec.containers.iter_mut().filter(|c| targeted(&c.name));
    let inits = spec.init_containers.iter_mut().flatten();
    for container in apps.chain(inits) {
        let existing = container.volume_mounts.get_or_insert_with(Vec::new);
        for m in mounts {
            if let Some(clash) = existing.iter().find(|e| e.mount_path == m.mount_path) {
                return Err(Denial::new(format!(
                    "container {:?} already mounts volume {:?} at {}, where the agent's secrets \
                     go: choose another vault.hashicorp.com/secret-volume-path",
                    container.name, clash.name, m.mount_path
                )));
            }
            existing.push(m.clone());
        }
    }
    Ok(())
}

/// `agent-copy-volume-mounts`: the mounts of the named (init) container, minus service-account
/// ones.
pub(crate) fn copied_mounts(pod: &Pod, settings: &PodSettings) -> Result<Vec<VolumeMount>, Denial> {
    let Some(source) = &settings.copy_volume_mounts else {
        return Ok(Vec::new());
    };
    let spec = pod.spec.as_ref();
    let container = spec
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| &c.name == source)
        .ok_or_else(|| {
            Denial::new(format!(
                "annotation vault.hashicorp.com/agent-copy-volume-mounts names {source:?}, which \
                 is not a container or init container of this pod"
            ))
        })?;
    Ok(container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| !m.mount_path.to_lowercase().contains("serviceaccount"))
        .cloned()
        .collect())
}

/// The mounts of one agent container, in vault-k8s's order (reference §8).
pub(crate) fn agent_mounts(
    plan: &Plan<'_>,
    role: Role,
    token: &Token,
    aws: &AwsIrsa,
    copied: &[VolumeMount],
) -> Vec<VolumeMount> {
    let mut out = Vec::new();
    let home = match role {
        Role::Init => mount(HOME_INIT, HOME_DIR, false),
        Role::Sidecar => mount(HOME_SIDECAR, HOME_DIR, false),
    };
    if role == Role::Init {
        out.push(home.clone());
    }
    out.extend(token.mount.clone());
    if role == Role::Sidecar {
        out.push(home);
    }
    out.extend(aws.mount.clone());
    out.extend(app_secret_mounts(plan.pod));
    if plan.pod.extra_secret.is_some() {
        out.push(mount(EXTRA_SECRETS, EXTRA_SECRETS_DIR, true));
    }
    // A copied mount may not shadow one of the agent's own paths or names.
    for m in copied {
        if !out
            .iter()
            .any(|o| o.mount_path == m.mount_path || o.name == m.name)
        {
            out.push(m.clone());
        }
    }
    if plan.pod.configmap.is_some() {
        out.push(mount(CONFIG, CONFIG_DIR, true));
    }
    if plan.pod.tls_secret.is_some() {
        out.push(mount(TLS_SECRETS, TLS_DIR, true));
    }
    if persistent_cache(plan) {
        out.push(mount(CACHE, CACHE_DIR, false));
    }
    if state_volume(plan) {
        out.push(mount(STATE, STATE_DIR, false));
    }
    out
}

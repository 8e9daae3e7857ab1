//! Service-account token discovery (reference §7) and the AWS IRSA extras.

use k8s_openapi::api::core::v1::{EnvVar, Pod, VolumeMount};

use super::{Denial, TokenMode};
use crate::annotations::PodSettings;

/// Where the token sits inside a container named `kubernetes.io/serviceaccount` by Kubernetes.
pub(crate) const DEFAULT_TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Where a named projected token volume is mounted when no app container mounts it.
pub(crate) const VAULT_TOKEN_DIR: &str = "/var/run/secrets/vault.hashicorp.com/serviceaccount";

/// The token the agent logs in with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// Mount to add (read-only) to the agent containers; `None` when Kubernetes adds it.
    pub mount: Option<VolumeMount>,
    /// `auto_auth.method.config.token_path`.
    pub path: String,
}

pub(crate) fn discover(
    pod: &Pod,
    settings: &PodSettings,
    mode: TokenMode,
) -> Result<Token, Denial> {
    let spec = pod.spec.as_ref();
    let app_mounts = || {
        spec.into_iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.volume_mounts.iter().flatten())
    };
    let pod_name = pod
        .metadata
        .name
        .as_deref()
        .or(pod.metadata.generate_name.as_deref())
        .unwrap_or("");

    if let Some(volume_name) = &settings.token_volume_name {
        let volume = spec
            .and_then(|s| s.volumes.as_ref())
            .and_then(|vs| vs.iter().find(|v| &v.name == volume_name))
            .ok_or_else(|| {
                Denial::new(format!(
                    "annotation vault.hashicorp.com/agent-service-account-token-volume-name names \
                     volume {volume_name:?}, which pod {pod_name:?} does not have"
                ))
            })?;
        let token_file = volume
            .projected
            .as_ref()
            .and_then(|p| p.sources.as_ref())
            .and_then(|sources| {
                sources
                    .iter()
                    .find_map(|s| s.service_account_token.as_ref())
            })
            .map(|t| t.path.clone())
            .ok_or_else(|| {
                Denial::new(format!(
                    "volume {volume_name:?} (annotation \
                     vault.hashicorp.com/agent-service-account-token-volume-name) is not a \
                     projected volume with a serviceAccountToken source"
                ))
            })?;
        let mount_path = app_mounts()
            .find(|m| &m.name == volume_name)
            .map(|m| m.mount_path.clone())
            .unwrap_or_else(|| VAULT_TOKEN_DIR.to_owned());
        return Ok(Token {
            path: join(&mount_path, &token_file),
            mount: Some(read_only(volume_name, &mount_path)),
        });
    }

    // vault-k8s takes the first mount whose path contains "serviceaccount", which picks an
    // EKS IRSA mount listed first; prefer the standard path and never take the IRSA one.
    let standard = app_mounts().find(|m| m.mount_path.trim_end_matches('/') == DEFAULT_TOKEN_DIR);
    let found = standard.or_else(|| {
        app_mounts().find(|m| {
            m.mount_path.contains("serviceaccount") && !m.mount_path.contains("eks.amazonaws.com")
        })
    });
    if let Some(mount) = found {
        return Ok(Token {
            path: join(&mount.mount_path, "token"),
            mount: Some(read_only(&mount.name, &mount.mount_path)),
        });
    }
    let automount = spec.and_then(|s| s.automount_service_account_token);
    if automount == Some(false) {
        return Err(Denial::new(
            "pod sets automountServiceAccountToken: false, so the agent has no token to log in \
             with: add a projected volume with a serviceAccountToken source and name it in \
             annotation vault.hashicorp.com/agent-service-account-token-volume-name",
        ));
    }
    match mode {
        TokenMode::Template => Ok(Token {
            mount: None,
            path: join(DEFAULT_TOKEN_DIR, "token"),
        }),
        TokenMode::Admission => Err(Denial::new(
            "no service-account token mount found in the pod's containers (is automounting \
             disabled on its ServiceAccount?): add a projected serviceAccountToken volume and \
             name it in annotation vault.hashicorp.com/agent-service-account-token-volume-name",
        )),
    }
}

/// AWS IRSA: with auth type `aws`, the agents get the EKS token mount and the AWS variables
/// of the app containers.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AwsIrsa {
    pub mount: Option<VolumeMount>,
    pub env: Vec<EnvVar>,
}

pub(crate) fn aws_irsa(pod: &Pod, settings: &PodSettings) -> AwsIrsa {
    if settings.auth_type != "aws" {
        return AwsIrsa::default();
    }
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    let mount = containers
        .clone()
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .find(|m| m.mount_path.contains("eks.amazonaws.com"))
        .map(|m| read_only(&m.name, &m.mount_path));
    let mut env: Vec<EnvVar> = Vec::new();
    for name in [
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ] {
        let first = containers
            .clone()
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == name && e.value.is_some());
        if let Some(var) = first {
            env.push(var.clone());
        }
    }
    if let Some(region) = settings.auth_config.get("region") {
        env.retain(|e| e.name != "AWS_REGION");
        env.push(EnvVar {
            name: "AWS_REGION".to_owned(),
            value: Some(region.clone()),
            value_from: None,
        });
    }
    AwsIrsa { mount, env }
}

fn read_only(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// Joins like Go's `filepath.Join` for the simple cases here (no doubled slashes).
pub(crate) fn join(dir: &str, file: &str) -> String {
    let dir = dir.trim_end_matches('/');
    let file = file.trim_start_matches('/');
    if file.is_empty() {
        dir.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

//! `kagi-webhook inject`: manifests in, manifests with the agent out, like `linkerd inject`.
//!
//! Every Pod and every pod template of a workload (Deployment, StatefulSet, DaemonSet,
//! ReplicaSet, ReplicationController, Job, CronJob), also inside a `List`, goes through the
//! webhook's own mutation and patch ([`admission::pod_patch`]); the patch is applied to the
//! document as written, so fields kagi does not model survive. Everything else passes through.
//!
//! The webhook sees Pods after the API server's ServiceAccount admission has added the token
//! volume (`kube-api-access-*`) to every container; a manifest has none yet. So, unless the Pod
//! opts out with `automountServiceAccountToken: false`, the mutation is shown a copy carrying
//! that volume as the API server would add it, and the volume and its mounts are taken out of
//! the result again: at creation the API server mounts the token into the agent containers too,
//! at the default path the agent is configured with.

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, Pod, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};
use serde_json::Value;

use crate::admission::{self, InjectionType};
use crate::mutation::{self, Denial, Mutation};
use crate::settings::InjectorSettings;

/// Where Kubernetes mounts the service-account token into every container.
const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The name of the stand-in token volume; the real one gets a random suffix at creation.
const SIMULATED_TOKEN_VOLUME: &str = "kube-api-access-kagi-inject";

/// Kinds whose pod template kagi injects into: API group, kind, where the template is.
const WORKLOADS: [(&str, &str, &str); 8] = [
    ("", "Pod", ""),
    ("", "ReplicationController", "/spec/template"),
    ("apps", "Deployment", "/spec/template"),
    ("apps", "StatefulSet", "/spec/template"),
    ("apps", "DaemonSet", "/spec/template"),
    ("apps", "ReplicaSet", "/spec/template"),
    ("batch", "Job", "/spec/template"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template"),
];

/// The manifests with the agent injected, and what happened to each pod template.
#[derive(Debug)]
pub struct Injected {
    /// The documents as YAML, in input order.
    pub yaml: String,
    /// One line per Pod or pod template.
    pub report: Vec<TemplateReport>,
}

/// What happened to one Pod or pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateReport {
    /// `kind/name`.
    pub object: String,
    /// `None` when left as it was.
    pub injection: Option<InjectionType>,
    /// Why it was left as it was, or empty.
    pub reason: String,
}

/// Why `inject` produced no output.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("the input is not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("the input is not valid YAML")]
    Yaml(#[source] serde_saphyr::Error),
    #[error("{object}: the pod template could not be read")]
    Template {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{object}: the webhook would deny this pod: {}", denial.message)]
    Denied { object: String, denial: Denial },
    #[error("{object}: the patch does not apply to the document")]
    Apply {
        object: String,
        #[source]
        source: json_patch::PatchError,
    },
    #[error("failed to write YAML")]
    Write(#[source] serde_saphyr::SerializeError),
}

/// Injects into every Pod and pod template in `input` (YAML or JSON, one or more documents).
/// `namespace` stands in for the request namespace; without it each document's own
/// namespace is used, then `default`.
pub fn inject(
    input: &str,
    settings: &InjectorSettings,
    namespace: Option<&str>,
) -> Result<Injected, InjectError> {
    let mut documents = parse_documents(input)?;
    let mut report = Vec::new();
    for document in &mut documents {
        visit(document, settings, namespace, &mut report)?;
    }
    let yaml = serde_saphyr::to_string_multiple(&documents).map_err(InjectError::Write)?;
    Ok(Injected { yaml, report })
}

fn parse_documents(input: &str) -> Result<Vec<Value>, InjectError> {
    let documents: Vec<Value> = if input.trim_start().starts_with('{') {
        serde_json::Deserializer::from_str(input)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(InjectError::Json)?
    } else {
        serde_saphyr::from_multiple(input).map_err(InjectError::Yaml)?
    };
    // Empty documents (`---` twice, a trailing `---`) carry nothing to write back.
    Ok(documents.into_iter().filter(|doc| !doc.is_null()).collect())
}

fn visit(
    document: &mut Value,
    settings: &InjectorSettings,
    namespace: Option<&str>,
    report: &mut Vec<TemplateReport>,
) -> Result<(), InjectError> {
    let kind = document["kind"].as_str().unwrap_or_default().to_owned();
    if kind.ends_with("List") {
        if let Some(items) = document.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                visit(item, settings, namespace, report)?;
            }
        }
        return Ok(());
    }
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let Some((_, _, template_at)) = WORKLOADS.iter().find(|(g, k, _)| *g == group && *k == kind)
    else {
        return Ok(());
    };
    let name = document
        .pointer("/metadata/name")
        .or_else(|| document.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let object = format!("{}/{name}", kind.to_ascii_lowercase());
    let namespace = namespace
        .or_else(|| {
            document
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
        })
        .unwrap_or("default")
        .to_owned();
    let Some(template) = document.pointer_mut(template_at) else {
        return Ok(());
    };
    let (injection, reason) = inject_template(template, settings, &namespace, &object)?;
    report.push(TemplateReport {
        object,
        injection,
        reason,
    });
    Ok(())
}

fn inject_template(
    template: &mut Value,
    settings: &InjectorSettings,
    namespace: &str,
    object: &str,
) -> Result<(Option<InjectionType>, String), InjectError> {
    let before: Pod =
        serde_json::from_value(template.clone()).map_err(|source| InjectError::Template {
            object: object.to_owned(),
            source,
        })?;
    let with_token = with_simulated_token(&before);
    let shown = with_token.as_ref().unwrap_or(&before);
    let after = match mutation::mutate(shown, settings, namespace) {
        Ok(Mutation::Skipped { reason }) => return Ok((None, reason)),
        Ok(Mutation::Injected(after)) => *after,
        Err(denial) => {
            return Err(InjectError::Denied {
                object: object.to_owned(),
                denial,
            });
        }
    };
    let after = if with_token.is_some() {
        without_simulated_token(after, &before)
    } else {
        after
    };
    let patch = admission::pod_patch(&before, &after).map_err(|source| InjectError::Template {
        object: object.to_owned(),
        source,
    })?;
    json_patch::patch(template, &patch).map_err(|source| InjectError::Apply {
        object: object.to_owned(),
        source,
    })?;
    Ok((
        Some(admission::injection_type(&before, &after)),
        String::new(),
    ))
}

fn all_containers_mut(pod: &mut Pod) -> impl Iterator<Item = &mut Container> {
    pod.spec.iter_mut().flat_map(|spec| {
        spec.containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
    })
}

/// `pod` as the API server's ServiceAccount admission would hand it on, or `None` when that
/// adds nothing (opted out, or the token is already mounted).
fn with_simulated_token(pod: &Pod) -> Option<Pod> {
    let spec = pod.spec.as_ref()?;
    if spec.automount_service_account_token == Some(false) {
        return None;
    }
    let mounted = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .any(|mount| mount.mount_path == TOKEN_MOUNT_PATH);
    if mounted {
        return None;
    }
    let mut pod = pod.clone();
    for container in all_containers_mut(&mut pod) {
        container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: SIMULATED_TOKEN_VOLUME.to_owned(),
                mount_path: TOKEN_MOUNT_PATH.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
    }
    let spec = pod.spec.as_mut()?;
    spec.volumes
        .get_or_insert_with(Vec::new)
        .push(token_volume());
    Some(pod)
}

/// The volume the API server adds (its name gets a random suffix).
fn token_volume() -> Volume {
    let field = |path: &str, field_path: &str| DownwardAPIVolumeFile {
        path: path.to_owned(),
        field_ref: Some(ObjectFieldSelector {
            api_version: Some("v1".to_owned()),
            field_path: field_path.to_owned(),
        }),
        ..DownwardAPIVolumeFile::default()
    };
    Volume {
        name: SIMULATED_TOKEN_VOLUME.to_owned(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o644),
            sources: Some(vec![
                VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        expiration_seconds: Some(3607),
                        path: "token".to_owned(),
                        ..ServiceAccountTokenProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: "kube-root-ca.crt".to_owned(),
                        items: Some(vec![KeyToPath {
                            key: "ca.crt".to_owned(),
                            path: "ca.crt".to_owned(),
                            ..KeyToPath::default()
                        }]),
                        ..ConfigMapProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
                VolumeProjection {
                    downward_api: Some(DownwardAPIProjection {
                        items: Some(vec![field("namespace", "metadata.namespace")]),
                    }),
                    ..VolumeProjection::default()
                },
            ]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Takes the stand-in token volume and its mounts out of `after`, leaving lists that were
/// absent in `before` absent again (an empty list would be a pointless change).
fn without_simulated_token(mut after: Pod, before: &Pod) -> Pod {
    let before_spec = before.spec.as_ref();
    let had_mounts = |name: &str| {
        before_spec
            .into_iter()
            .flat_map(|spec| {
                spec.containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
            })
            .any(|c| c.name == name && c.volume_mounts.is_some())
    };
    let mut emptied = Vec::new();
    for container in all_containers_mut(&mut after) {
        if let Some(mounts) = container.volume_mounts.as_mut() {
            mounts.retain(|mount| mount.name != SIMULATED_TOKEN_VOLUME);
            if mounts.is_empty() {
                emptied.push(container.name.clone());
            }
        }
    }
    for container in all_containers_mut(&mut after) {
        if emptied.contains(&container.name) && !had_mounts(&container.name) {
            container.volume_mounts = None;
        }
    }
    let had_volumes = before_spec.is_some_and(|spec| spec.volumes.is_some());
    if let Some(spec) = after.spec.as_mut()
        && let Some(volumes) = spec.volumes.as_mut()
    {
        volumes.retain(|volume| volume.name != SIMULATED_TOKEN_VOLUME);
        if volumes.is_empty() && !had_volumes {
            spec.volumes = None;
        }
    }
    after
}

#[cfg(test)]
mod tests;

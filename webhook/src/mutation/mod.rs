//! The pure mutation: (Pod, injector settings, namespace) -> mutated Pod or a denial.
//!
//! [`mutate`] follows vault-k8s's decision rules (reference §5), then builds the agent
//! containers and volumes on a clone of the typed Pod. The caller diffs the two Pods into a
//! JSON patch, so nothing here deals with patch paths.
//!
//! Deliberate differences from vault-k8s:
//! - Shape: a native sidecar by default (`vault-agent` as a restartable init container with a
//!   startup probe, first among init containers). `agent-pre-populate=false`,
//!   `agent-pre-populate-only=true` and `agent-configmap` select the classic shape; combining
//!   them with an explicit `agent-native-sidecar=true` is a denial.
//! - Refused instead of producing a pod the API server rejects or that silently lacks
//!   secrets: existing container/volume names the injection adds, a mount path clash with the
//!   secrets volume, unknown names in `agent-inject-containers` / `agent-copy-volume-mounts`,
//!   `agent-inject-file` leaving the volume, and values vault-k8s passes through unchecked
//!   (perms, log level/format, client timeout/retries, go-max-procs, cache port and token mode,
//!   connection lists, lease threshold range).
//! - Templates are sorted by secret name; copied mounts never shadow the agent's own; the
//!   token mount prefers the standard path over an EKS IRSA mount listed first.
//! - `agent-share-process-namespace` applies in every shape (vault-k8s: only with the init
//!   container); `agent-inject-containers` entries are trimmed; an empty `agent-run-as-user`
//!   means the default, not root.
//! - Agents always get the UID-free hardening (read-only root, no privilege escalation, drop
//!   ALL, seccomp RuntimeDefault); `agent-set-security-context=false` only drops the UID/GID.
//! - kagi extension, env mode (`agent-env-*`, see `env_mode`): app containers wrapped by
//!   `kagi-agent exec`; a pod asking only for variables gets no agent sidecar.
//! - kagi flavour: `kagi-agent run` reads `VAULT_CONFIG` itself; revocation is the agent's own
//!   (`kagi.revoke_on_shutdown`), with a `preStop` sleep of the grace period in the classic
//!   shape only; init and sidecar share the agent-only `kagi-agent-state` volume.

mod agent_config;
mod containers;
mod env_mode;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commands;
#[cfg(test)]
mod tests_env;
#[cfg(test)]
mod tests_options;
#[cfg(test)]
mod tests_shapes;
mod token;
mod volumes;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::annotations::{
    AnnotationError, Annotations, PodSettings, RenderCommand, STATUS_ANNOTATION, STATUS_INJECTED,
};
use crate::settings::{AgentFlavor, InjectorSettings};

pub use containers::{INIT_CONTAINER, SIDECAR_CONTAINER};
pub use env_mode::INSTALL_CONTAINER;

/// What the webhook does with a Pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Left untouched; the reason is for logs and admission warnings.
    Skipped { reason: String },
    /// The Pod with the agent injected.
    Injected(Box<Pod>),
}

/// A Pod the webhook refuses, with a message naming the annotation and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    pub message: String,
}

impl Denial {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Denial {
            message: message.into(),
        }
    }
}

impl From<AnnotationError> for Denial {
    fn from(err: AnnotationError) -> Self {
        Denial::new(err.to_string())
    }
}

/// Namespaces vault-k8s refuses to inject into.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public"];

/// Decides whether and how to inject the agent into `pod`, created in `namespace`.
///
/// This is the webhook path: the API server has already added the service-account token
/// mount, so the agents copy it (reference §7).
pub fn mutate(pod: &Pod, settings: &InjectorSettings, namespace: &str) -> Result<Mutation, Denial> {
    mutate_with(pod, settings, namespace, TokenMode::Admission)
}

/// Like [`mutate`], for a pod *template* (`kagi-webhook inject`): the template has no
/// service-account token mount yet, and Kubernetes will mount the default token into every
/// container (agents included) unless `automountServiceAccountToken` is false, so the agent
/// uses the default token path when the template shows no mount.
pub fn mutate_pod_template(
    pod: &Pod,
    settings: &InjectorSettings,
    namespace: &str,
) -> Result<Mutation, Denial> {
    mutate_with(pod, settings, namespace, TokenMode::Template)
}

/// Where the pod comes from, for service-account token discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenMode {
    Admission,
    Template,
}

fn mutate_with(
    pod: &Pod,
    settings: &InjectorSettings,
    namespace: &str,
    token_mode: TokenMode,
) -> Result<Mutation, Denial> {
    let annotations = Annotations::new(pod.metadata.annotations.as_ref());
    if let Some(reason) = skip_reason(pod, &annotations)? {
        return Ok(Mutation::Skipped { reason });
    }
    if SYSTEM_NAMESPACES.contains(&namespace) {
        return Err(Denial::new(format!(
            "cannot inject the agent into system namespace {namespace}"
        )));
    }
    if namespace.is_empty() {
        return Err(Denial::new(
            "cannot inject the agent: request has no namespace",
        ));
    }
    if let Some(conflict) = annotations.first_conflict() {
        return Err(conflict.clone().into());
    }
    let pod_settings = PodSettings::parse(&annotations, settings)?;
    let plan = Plan::new(&pod_settings, settings, pod)?;
    let mut mutated = pod.clone();
    inject(&mut mutated, &plan, token_mode)?;
    Ok(Mutation::Injected(Box::new(mutated)))
}

/// vault-k8s's `ShouldInject`: `Ok(Some(reason))` to skip, `Err` for an unreadable flag.
fn skip_reason(pod: &Pod, annotations: &Annotations) -> Result<Option<String>, Denial> {
    let Some(raw) = annotations.get("agent-inject") else {
        return Ok(Some(
            "no vault.hashicorp.com/agent-inject annotation".to_owned(),
        ));
    };
    if annotations.conflicts_on("agent-inject") {
        return Err(annotations
            .first_conflict()
            .cloned()
            .map(Denial::from)
            .unwrap_or_else(|| Denial::new("conflicting agent-inject annotations")));
    }
    if !annotations.bool_or("agent-inject", false)? {
        return Ok(Some(format!("agent-inject is {raw:?}")));
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if let Some(phase) = phase.filter(|p| !p.is_empty() && *p != "Pending") {
        return Ok(Some(format!("pod phase is {phase}, not Pending")));
    }
    if annotations.get("agent-inject-status") == Some(STATUS_INJECTED) {
        return Ok(Some("already injected".to_owned()));
    }
    Ok(None)
}

/// Which containers to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One restartable init container `vault-agent`.
    Native,
    /// vault-k8s's `vault-agent-init` and/or `vault-agent`.
    Classic { init: bool, sidecar: bool },
}

/// The resolved decisions for one pod.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    pub pod: &'a PodSettings,
    pub flavor: AgentFlavor,
    pub shape: Shape,
    /// Agent goes before the pod's own init containers.
    pub init_first: bool,
    /// The file agent (sidecar and/or init container) is added; false for env-only pods.
    pub file_agent: bool,
    pub cacert_bytes: String,
}

impl<'a> Plan<'a> {
    fn new(pod: &'a PodSettings, settings: &InjectorSettings, raw: &Pod) -> Result<Self, Denial> {
        let classic_because = if pod.configmap.is_some() {
            Some("vault.hashicorp.com/agent-configmap (it holds separate init and sidecar configs)")
        } else if pod.pre_populate_only {
            Some("vault.hashicorp.com/agent-pre-populate-only=true")
        } else if pod.explicit_pre_populate && !pod.pre_populate {
            Some("vault.hashicorp.com/agent-pre-populate=false")
        } else {
            None
        };
        let shape = match (pod.native_sidecar, classic_because) {
            (Some(true), Some(reason)) => {
                return Err(Denial::new(format!(
                    "annotation vault.hashicorp.com/agent-native-sidecar=true cannot be combined \
                     with {reason}: remove one of them"
                )));
            }
            (native, None) if native.unwrap_or(settings.native_sidecar) => Shape::Native,
            _ => Shape::Classic {
                init: pod.pre_populate || pod.pre_populate_only,
                sidecar: !pod.pre_populate_only,
            },
        };
        let init_first = pod.init_first.unwrap_or(shape == Shape::Native);

        if pod.vault_address.is_empty() && pod.configmap.is_none() {
            return Err(Denial::new(
                "no Vault address: set annotation vault.hashicorp.com/service on the pod or \
                 the injector's --vault-address (AGENT_INJECT_VAULT_ADDR)",
            ));
        }
        if pod.configmap.is_none() {
            if pod.auth_type.is_empty() || pod.auth_path.is_empty() {
                return Err(Denial::new(
                    "no auth method: vault.hashicorp.com/auth-type and auth-path must not be empty",
                ));
            }
            if pod.auth_type == "kubernetes"
                && pod.role.is_none()
                && !pod.auth_config.contains_key("role")
            {
                return Err(Denial::new(
                    "no Vault role: set annotation vault.hashicorp.com/role to the role of \
                     the kubernetes auth method this pod logs in with",
                ));
            }
        }
        if pod.image.is_empty() {
            return Err(Denial::new(
                "no agent image: vault.hashicorp.com/agent-image is empty",
            ));
        }
        let plan = Plan {
            pod,
            flavor: settings.agent_flavor,
            shape,
            init_first,
            file_agent: env_mode::needs_file_agent(pod),
            cacert_bytes: settings.vault_cacert_bytes.clone(),
        };
        plan.check_names(raw)?;
        Ok(plan)
    }

    pub fn has_init(&self) -> bool {
        matches!(self.shape, Shape::Classic { init: true, .. })
    }

    pub fn has_sidecar(&self) -> bool {
        matches!(self.shape, Shape::Classic { sidecar: true, .. })
    }

    /// Classic init + sidecar: the init container hands its state to the sidecar.
    pub fn has_handoff(&self) -> bool {
        self.shape
            == (Shape::Classic {
                init: true,
                sidecar: true,
            })
    }

    /// Refuses pods that already use a name the injection would add, instead of producing a
    /// pod the API server rejects (vault-k8s does not check).
    fn check_names(&self, pod: &Pod) -> Result<(), Denial> {
        let Some(spec) = &pod.spec else {
            return Err(Denial::new("pod has no spec"));
        };
        let existing: BTreeSet<&str> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| c.name.as_str())
            .collect();
        let (env_containers, env_volumes) = env_mode::added_names(self);
        let file_containers = match self.file_agent {
            true => containers::names(self),
            false => Vec::new(),
        };
        for name in file_containers.into_iter().chain(env_containers) {
            if existing.contains(name) {
                return Err(Denial::new(format!(
                    "pod already has a container named {name:?}, which the agent injection adds; \
                     rename it, or remove vault.hashicorp.com/agent-inject"
                )));
            }
        }
        let volumes: BTreeSet<&str> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        let file_volumes = match self.file_agent {
            true => volumes::names(self),
            false => Vec::new(),
        };
        let added = file_volumes
            .into_iter()
            .chain(env_volumes.into_iter().map(str::to_owned));
        for name in added {
            if volumes.contains(name.as_str()) {
                return Err(Denial::new(format!(
                    "pod already has a volume named {name:?}, which the agent injection adds; \
                     rename it, or remove vault.hashicorp.com/agent-inject"
                )));
            }
        }
        Ok(())
    }
}

/// Applies the plan to `pod` (a clone of the request's pod).
fn inject(pod: &mut Pod, plan: &Plan<'_>, token_mode: TokenMode) -> Result<(), Denial> {
    let token = token::discover(pod, plan.pod, token_mode)?;
    let run_as_user = containers::agent_uid(pod, plan.pod)?;
    let apps: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
        .collect();
    if plan.file_agent {
        inject_file_agent(pod, plan, &token, run_as_user)?;
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    env_mode::apply(spec, &apps, plan, &token, run_as_user)?;

    if let Some((share, asked_by)) = share_process_namespace(plan.pod)? {
        if share && spec.share_process_namespace == Some(false) {
            return Err(Denial::new(format!(
                "annotation {asked_by} conflicts with the pod's shareProcessNamespace: false"
            )));
        }
        spec.share_process_namespace = Some(share);
    }

    pod.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(STATUS_ANNOTATION.to_owned(), STATUS_INJECTED.to_owned());
    Ok(())
}

/// The agent containers that render files, their volumes and the app containers' mounts.
fn inject_file_agent(
    pod: &mut Pod,
    plan: &Plan<'_>,
    token: &token::Token,
    run_as_user: i64,
) -> Result<(), Denial> {
    let app_mounts = volumes::app_secret_mounts(plan.pod);
    let copied = volumes::copied_mounts(pod, plan.pod)?;
    let aws = token::aws_irsa(pod, plan.pod);

    let spec = pod.spec.get_or_insert_with(Default::default);
    volumes::mount_into_app_containers(spec, plan.pod, &app_mounts)?;

    let parts = containers::Parts {
        token,
        copied: &copied,
        aws: &aws,
        run_as_user,
    };
    let agents = containers::build(plan, &parts)?;

    spec.volumes
        .get_or_insert_with(Vec::new)
        .extend(volumes::pod_volumes(plan));

    if let Some(init) = agents.init {
        insert_init(&mut spec.init_containers, init, plan.init_first);
    }
    if let Some(sidecar) = agents.sidecar {
        match plan.shape {
            Shape::Native => insert_init(&mut spec.init_containers, sidecar, plan.init_first),
            Shape::Classic { .. } => spec.containers.push(sidecar),
        }
    }
    Ok(())
}

/// The secret whose `agent-inject-signal-<name>` needs the app's processes in view.
fn signalled_secret(pod: &PodSettings) -> Option<&str> {
    pod.secrets
        .iter()
        .find(|s| matches!(s.command, Some(RenderCommand::Signal { .. })))
        .map(|s| s.name.as_str())
}

/// `spec.shareProcessNamespace` to set (the annotation's, or true when a secret signals the
/// app), with the annotation that asked for it, for messages.
fn share_process_namespace(pod: &PodSettings) -> Result<Option<(bool, String)>, Denial> {
    match (pod.share_process_namespace, signalled_secret(pod)) {
        (Some(false), Some(name)) => Err(Denial::new(format!(
            "annotation vault.hashicorp.com/agent-inject-signal-{name} needs \
             shareProcessNamespace: true (the agent must see the app's process), but \
             vault.hashicorp.com/agent-share-process-namespace is false: remove one of them"
        ))),
        (Some(share), _) => Ok(Some((
            share,
            "vault.hashicorp.com/agent-share-process-namespace=true".to_owned(),
        ))),
        (None, Some(name)) => Ok(Some((
            true,
            format!("vault.hashicorp.com/agent-inject-signal-{name}"),
        ))),
        (None, None) => Ok(None),
    }
}

fn insert_init(list: &mut Option<Vec<Container>>, container: Container, first: bool) {
    let list = list.get_or_insert_with(Vec::new);
    if first {
        list.insert(0, container);
    } else {
        list.push(container);
    }
}

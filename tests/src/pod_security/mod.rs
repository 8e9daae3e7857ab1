//! The Kubernetes Pod Security Standards, checked the way the PodSecurity admission plugin
//! (`k8s.io/pod-security-admission`, policy version `latest`) checks them.
//!
//! [`check_restricted`] runs every baseline and restricted check; [`check_baseline`] the
//! baseline ones. Checks visit `containers`, `initContainers` and `ephemeralContainers`, and
//! apply the plugin's pod/container inheritance: a container may leave `runAsNonRoot` or
//! `seccompProfile` unset when the pod sets an allowed value, but a pod-level bad value is
//! a violation even if every container overrides it. The plugin's relaxations are modelled
//! too: `hostUsers: false` (user namespaces) lifts `runAsNonRoot`/`runAsUser` (restricted)
//! and `procMount` (baseline only); `spec.os.name: windows` lifts the Linux-only restricted
//! checks (`allowPrivilegeEscalation`, `capabilities`, `seccompProfile`).
//!
//! Where a restricted check replaces a baseline one, as in the plugin, only the restricted
//! one reports: `restrictedVolumes` covers `hostPathVolumes`, `capabilities_restricted`
//! covers `capabilities_baseline`, `seccompProfile_restricted` covers
//! `seccompProfile_baseline`. Not checked: the optional "non-root groups" control of the
//! standard (the plugin does not enforce it either) and exemptions configured on an API
//! server (usernames, runtime classes, namespaces).

mod baseline;
mod restricted;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EphemeralContainer, Lifecycle, Pod, PodSpec, Probe, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The namespace label that makes the API server enforce a level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// The level enforced in a namespace with `labels`, `None` when unlabelled. An unknown
    /// value is an error naming the label (the API server refuses to store it).
    pub fn enforced(labels: &BTreeMap<String, String>) -> Result<Option<Level>, String> {
        match labels.get(ENFORCE_LABEL).map(String::as_str) {
            None => Ok(None),
            Some("privileged") => Ok(Some(Level::Privileged)),
            Some("baseline") => Ok(Some(Level::Baseline)),
            Some("restricted") => Ok(Some(Level::Restricted)),
            Some(other) => Err(format!(
                "label {ENFORCE_LABEL}={other:?}: expected privileged, baseline or restricted"
            )),
        }
    }
}

/// One rule a pod breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The plugin's check ID, e.g. `runAsNonRoot` or `capabilities_restricted`.
    pub rule: &'static str,
    /// Where, e.g. `spec.initContainers[0](vault-agent).securityContext.allowPrivilegeEscalation`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.rule, self.field, self.detail)
    }
}

pub(crate) fn violation(rule: &'static str, field: String, detail: impl Into<String>) -> Violation {
    Violation {
        rule,
        field,
        detail: detail.into(),
    }
}

/// Every violation of the "restricted" profile (baseline included). Empty means the
/// PodSecurity admission plugin admits the pod in a namespace labelled
/// `pod-security.kubernetes.io/enforce: restricted`.
pub fn check_restricted(pod: &Pod) -> Vec<Violation> {
    check(Level::Restricted, pod)
}

/// Every violation of the "baseline" profile.
pub fn check_baseline(pod: &Pod) -> Vec<Violation> {
    check(Level::Baseline, pod)
}

/// Every violation of `level` (none for `Privileged`).
pub fn check(level: Level, pod: &Pod) -> Vec<Violation> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let view = PodView {
        metadata: &pod.metadata,
        spec,
    };
    let mut violations = Vec::new();
    match level {
        Level::Privileged => {}
        Level::Baseline => baseline::check(&view, false, &mut violations),
        Level::Restricted => {
            baseline::check(&view, true, &mut violations);
            restricted::check(&view, &mut violations);
        }
    }
    violations
}

/// [`check`] for a Pod as JSON; an error names the field that does not fit the Pod schema.
pub fn check_json(level: Level, pod: &serde_json::Value) -> Result<Vec<Violation>, String> {
    let typed: Pod = serde_path_to_error::deserialize(pod)
        .map_err(|e| format!("not a Pod: {}: {}", e.path(), e.inner()))?;
    Ok(check(level, &typed))
}

/// What the API server's PodSecurity plugin does with `pod` created in a namespace with
/// `namespace_labels`: `Ok` when admitted, else the violations of the enforced level (an
/// invalid enforce label is reported as one violation on that label).
pub fn admit(namespace_labels: &BTreeMap<String, String>, pod: &Pod) -> Result<(), Vec<Violation>> {
    let level = Level::enforced(namespace_labels).map_err(|detail| {
        vec![Violation {
            rule: "enforceLabel",
            field: format!("namespace.metadata.labels[{ENFORCE_LABEL}]"),
            detail,
        }]
    })?;
    let violations = level.map(|level| check(level, pod)).unwrap_or_default();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// The parts of a pod the checks read.
pub(crate) struct PodView<'a> {
    pub metadata: &'a ObjectMeta,
    pub spec: &'a PodSpec,
}

impl PodView<'_> {
    pub(crate) fn pod_context(&self) -> Option<&k8s_openapi::api::core::v1::PodSecurityContext> {
        self.spec.security_context.as_ref()
    }

    /// `hostUsers: false`: the pod runs in a user namespace.
    pub(crate) fn in_user_namespace(&self) -> bool {
        self.spec.host_users == Some(false)
    }

    /// `spec.os.name: windows`.
    pub(crate) fn is_windows(&self) -> bool {
        self.spec.os.as_ref().is_some_and(|os| os.name == "windows")
    }

    /// Every container, init container and ephemeral container, in that order.
    pub(crate) fn containers(&self) -> Vec<ContainerView<'_>> {
        let mut all = Vec::new();
        for (index, c) in self.spec.containers.iter().enumerate() {
            all.push(ContainerView::of_container("containers", index, c));
        }
        for (index, c) in self.spec.init_containers.iter().flatten().enumerate() {
            all.push(ContainerView::of_container("initContainers", index, c));
        }
        for (index, c) in self.spec.ephemeral_containers.iter().flatten().enumerate() {
            all.push(ContainerView::of_ephemeral(index, c));
        }
        all
    }
}

/// The fields the checks read, for any kind of container.
pub(crate) struct ContainerView<'a> {
    /// `spec.containers[0](app)`.
    pub path: String,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub probes: [(&'static str, Option<&'a Probe>); 3],
    pub lifecycle: Option<&'a Lifecycle>,
}

/// A [`ContainerView`] of a `Container` or `EphemeralContainer` (distinct types with the
/// same fields).
macro_rules! container_view {
    ($container:expr, $path:expr) => {{
        let c = $container;
        ContainerView {
            path: format!("{}({})", $path, c.name),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            probes: [
                ("livenessProbe", c.liveness_probe.as_ref()),
                ("readinessProbe", c.readiness_probe.as_ref()),
                ("startupProbe", c.startup_probe.as_ref()),
            ],
            lifecycle: c.lifecycle.as_ref(),
        }
    }};
}

impl<'a> ContainerView<'a> {
    fn of_container(field: &str, index: usize, c: &'a Container) -> Self {
        container_view!(c, format!("spec.{field}[{index}]"))
    }

    fn of_ephemeral(index: usize, c: &'a EphemeralContainer) -> Self {
        container_view!(c, format!("spec.ephemeralContainers[{index}]"))
    }

    /// `PATH.securityContext.FIELD`.
    pub(crate) fn field(&self, field: &str) -> String {
        format!("{}.securityContext.{field}", self.path)
    }
}

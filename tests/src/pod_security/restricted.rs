//! The restricted checks of the PodSecurity admission plugin, latest policy version.

use super::{PodView, Violation, violation};

/// Inline volume sources restricted allows; anything else (hostPath, nfs, image, ...) is
/// refused.
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

pub(super) fn check(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    volumes(pod, out);
    run_as_non_root(pod, out);
    run_as_user(pod, out);
    // Linux-only controls; Windows pods are exempt since 1.25.
    if !pod.is_windows() {
        allow_privilege_escalation(pod, out);
        seccomp(pod, out);
        capabilities(pod, out);
    }
}

fn volumes(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for (index, volume) in pod.spec.volumes.iter().flatten().enumerate() {
        // The source is the one field besides `name`; serialising keeps this right for
        // sources newer than this list.
        let json = serde_json::to_value(volume).unwrap_or_default();
        let sources: Vec<&String> = json
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, _)| key)
            .filter(|key| *key != "name")
            .collect();
        for source in sources {
            if !ALLOWED_VOLUME_SOURCES.contains(&source.as_str()) {
                out.push(violation(
                    "restrictedVolumes",
                    format!("spec.volumes[{index}]({}).{source}", volume.name),
                    format!(
                        "volume type {source} is forbidden; allowed: {}",
                        ALLOWED_VOLUME_SOURCES.join(", ")
                    ),
                ));
            }
        }
    }
}

fn run_as_non_root(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    if pod.in_user_namespace() {
        return;
    }
    let pod_value = pod.pod_context().and_then(|c| c.run_as_non_root);
    if pod_value == Some(false) {
        out.push(violation(
            "runAsNonRoot",
            "spec.securityContext.runAsNonRoot".into(),
            "must not be false",
        ));
    }
    for c in pod.containers() {
        match c.security_context.and_then(|s| s.run_as_non_root) {
            Some(true) => {}
            Some(false) => out.push(violation(
                "runAsNonRoot",
                c.field("runAsNonRoot"),
                "must not be false",
            )),
            None if pod_value == Some(true) => {}
            None => out.push(violation(
                "runAsNonRoot",
                c.field("runAsNonRoot"),
                "must be true, here or in spec.securityContext.runAsNonRoot",
            )),
        }
    }
}

fn run_as_user(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    if pod.in_user_namespace() {
        return;
    }
    if pod.pod_context().and_then(|c| c.run_as_user) == Some(0) {
        out.push(violation(
            "runAsUser",
            "spec.securityContext.runAsUser".into(),
            "must not be 0",
        ));
    }
    for c in pod.containers() {
        if c.security_context.and_then(|s| s.run_as_user) == Some(0) {
            out.push(violation(
                "runAsUser",
                c.field("runAsUser"),
                "must not be 0",
            ));
        }
    }
}

fn allow_privilege_escalation(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        if c.security_context
            .and_then(|s| s.allow_privilege_escalation)
            != Some(false)
        {
            out.push(violation(
                "allowPrivilegeEscalation",
                c.field("allowPrivilegeEscalation"),
                "must be false",
            ));
        }
    }
}

fn seccomp(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let pod_type = pod
        .pod_context()
        .and_then(|c| c.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    if let Some(pod_type) = pod_type
        && !allowed(pod_type)
    {
        out.push(violation(
            "seccompProfile_restricted",
            "spec.securityContext.seccompProfile.type".into(),
            format!("is {pod_type:?}; must be RuntimeDefault or Localhost"),
        ));
    }
    let pod_set = pod_type.is_some_and(allowed);
    for c in pod.containers() {
        match c.security_context.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(profile) if allowed(&profile.type_) => {}
            Some(profile) => out.push(violation(
                "seccompProfile_restricted",
                c.field("seccompProfile.type"),
                format!("is {:?}; must be RuntimeDefault or Localhost", profile.type_),
            )),
            None if pod_set => {}
            None => out.push(violation(
                "seccompProfile_restricted",
                c.field("seccompProfile.type"),
                "must be RuntimeDefault or Localhost, here or in spec.securityContext.seccompProfile",
            )),
        }
    }
}

fn capabilities(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        let caps = c.security_context.and_then(|s| s.capabilities.as_ref());
        let drops_all = caps
            .and_then(|caps| caps.drop.as_ref())
            .is_some_and(|drop| drop.iter().any(|d| d == "ALL"));
        if !drops_all {
            out.push(violation(
                "capabilities_restricted",
                c.field("capabilities.drop"),
                "must include ALL",
            ));
        }
        let forbidden: Vec<&String> = caps
            .and_then(|caps| caps.add.as_ref())
            .into_iter()
            .flatten()
            .filter(|cap| *cap != "NET_BIND_SERVICE")
            .collect();
        if !forbidden.is_empty() {
            out.push(violation(
                "capabilities_restricted",
                c.field("capabilities.add"),
                format!("adds {forbidden:?}; only NET_BIND_SERVICE may be added"),
            ));
        }
    }
}

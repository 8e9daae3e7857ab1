//! The baseline checks of the PodSecurity admission plugin, latest policy version.

use super::{PodView, Violation, violation};

/// Capabilities baseline allows adding (the container runtimes' default set).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls baseline allows: namespaced and isolated from other pods (1.0 list, plus
/// `ip_local_reserved_ports` from 1.27, the TCP keepalive/fin ones from 1.29 and
/// `tcp_rmem`/`tcp_wmem` from 1.32).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// SELinux types baseline allows (`container_engine_t` from 1.31); empty means unset.
const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Runs every baseline check. `restricted` drops the baseline checks a restricted check
/// replaces (hostPath volumes, capabilities, seccomp) and the `hostUsers: false`
/// relaxation of `procMount`, which restricted does not have.
pub(super) fn check(pod: &PodView<'_>, restricted: bool, out: &mut Vec<Violation>) {
    host_process(pod, out);
    host_namespaces(pod, out);
    privileged(pod, out);
    if !restricted {
        capabilities(pod, out);
        host_path_volumes(pod, out);
        seccomp(pod, out);
    }
    host_ports(pod, out);
    app_armor(pod, out);
    se_linux(pod, out);
    proc_mount(pod, restricted, out);
    sysctls(pod, out);
    probe_and_lifecycle_hosts(pod, out);
}

fn host_process(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    let detail = "must be undefined or false (HostProcess containers get privileged access to the Windows node)";
    let pod_level = pod
        .pod_context()
        .and_then(|c| c.windows_options.as_ref())
        .and_then(|w| w.host_process);
    if pod_level == Some(true) {
        out.push(violation(
            "hostProcess",
            "spec.securityContext.windowsOptions.hostProcess".into(),
            detail,
        ));
    }
    for c in pod.containers() {
        let host = c
            .security_context
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process);
        if host == Some(true) {
            out.push(violation(
                "hostProcess",
                c.field("windowsOptions.hostProcess"),
                detail,
            ));
        }
    }
}

fn host_namespaces(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for (field, value) in [
        ("hostNetwork", pod.spec.host_network),
        ("hostPID", pod.spec.host_pid),
        ("hostIPC", pod.spec.host_ipc),
    ] {
        if value == Some(true) {
            out.push(violation(
                "hostNamespaces",
                format!("spec.{field}"),
                "must be undefined or false",
            ));
        }
    }
}

fn privileged(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        if c.security_context.and_then(|s| s.privileged) == Some(true) {
            out.push(violation(
                "privileged",
                c.field("privileged"),
                "must be undefined or false",
            ));
        }
    }
}

fn capabilities(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        let added = c
            .security_context
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|caps| caps.add.as_ref());
        let forbidden: Vec<&str> = added
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|cap| !BASELINE_CAPABILITIES.contains(cap))
            .collect();
        if !forbidden.is_empty() {
            out.push(violation(
                "capabilities_baseline",
                c.field("capabilities.add"),
                format!(
                    "adds {forbidden:?}; only {} may be added",
                    BASELINE_CAPABILITIES.join(", ")
                ),
            ));
        }
    }
}

fn host_path_volumes(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for (index, volume) in pod.spec.volumes.iter().flatten().enumerate() {
        if volume.host_path.is_some() {
            out.push(violation(
                "hostPathVolumes",
                format!("spec.volumes[{index}]({}).hostPath", volume.name),
                "hostPath volumes are forbidden",
            ));
        }
    }
}

fn seccomp(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    let detail = "must not be Unconfined";
    if let Some(profile) = pod.pod_context().and_then(|c| c.seccomp_profile.as_ref())
        && profile.type_ == "Unconfined"
    {
        out.push(violation(
            "seccompProfile_baseline",
            "spec.securityContext.seccompProfile.type".into(),
            detail,
        ));
    }
    for c in pod.containers() {
        if c.security_context
            .and_then(|s| s.seccomp_profile.as_ref())
            .is_some_and(|p| p.type_ == "Unconfined")
        {
            out.push(violation(
                "seccompProfile_baseline",
                c.field("seccompProfile.type"),
                detail,
            ));
        }
    }
}

fn host_ports(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        for (index, port) in c.ports.iter().enumerate() {
            if port.host_port.is_some_and(|p| p != 0) {
                out.push(violation(
                    "hostPorts",
                    format!("{}.ports[{index}].hostPort", c.path),
                    "must be undefined or 0",
                ));
            }
        }
    }
}

fn app_armor(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for (key, value) in pod.metadata.annotations.iter().flatten() {
        if key.starts_with(APPARMOR_ANNOTATION_PREFIX)
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            out.push(violation(
                "appArmorProfile",
                format!("metadata.annotations[{key}]"),
                format!("is {value:?}; must be runtime/default or localhost/<profile>"),
            ));
        }
    }
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let detail = |t: &str| format!("is {t:?}; must be undefined, RuntimeDefault or Localhost");
    if let Some(profile) = pod.pod_context().and_then(|c| c.app_armor_profile.as_ref())
        && !allowed(&profile.type_)
    {
        out.push(violation(
            "appArmorProfile",
            "spec.securityContext.appArmorProfile.type".into(),
            detail(&profile.type_),
        ));
    }
    for c in pod.containers() {
        if let Some(profile) = c
            .security_context
            .and_then(|s| s.app_armor_profile.as_ref())
            && !allowed(&profile.type_)
        {
            out.push(violation(
                "appArmorProfile",
                c.field("appArmorProfile.type"),
                detail(&profile.type_),
            ));
        }
    }
}

fn se_linux(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    let mut check = |path: String, options: Option<&k8s_openapi::api::core::v1::SELinuxOptions>| {
        let Some(options) = options else { return };
        let selinux_type = options.type_.as_deref().unwrap_or_default();
        if !SELINUX_TYPES.contains(&selinux_type) {
            out.push(violation(
                "seLinuxOptions",
                format!("{path}.type"),
                format!("is {selinux_type:?}; must be one of {:?}", SELINUX_TYPES),
            ));
        }
        for (field, value) in [("user", &options.user), ("role", &options.role)] {
            if value.as_deref().is_some_and(|v| !v.is_empty()) {
                out.push(violation(
                    "seLinuxOptions",
                    format!("{path}.{field}"),
                    "must be undefined or empty",
                ));
            }
        }
    };
    check(
        "spec.securityContext.seLinuxOptions".into(),
        pod.pod_context().and_then(|c| c.se_linux_options.as_ref()),
    );
    for c in pod.containers() {
        check(
            c.field("seLinuxOptions"),
            c.security_context.and_then(|s| s.se_linux_options.as_ref()),
        );
    }
}

fn proc_mount(pod: &PodView<'_>, restricted: bool, out: &mut Vec<Violation>) {
    // Baseline allows any /proc mount inside a user namespace; restricted never does.
    if !restricted && pod.in_user_namespace() {
        return;
    }
    let rule = if restricted {
        "procMount_restricted"
    } else {
        "procMount_baseline"
    };
    for c in pod.containers() {
        if let Some(mount) = c.security_context.and_then(|s| s.proc_mount.as_deref())
            && mount != "Default"
        {
            out.push(violation(
                rule,
                c.field("procMount"),
                format!("is {mount:?}; must be undefined or Default"),
            ));
        }
    }
}

fn sysctls(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    let sysctls = pod.pod_context().and_then(|c| c.sysctls.as_ref());
    for (index, sysctl) in sysctls.into_iter().flatten().enumerate() {
        if !SAFE_SYSCTLS.contains(&sysctl.name.as_str()) {
            out.push(violation(
                "sysctls",
                format!("spec.securityContext.sysctls[{index}].name"),
                format!(
                    "{:?} is not one of the safe sysctls {SAFE_SYSCTLS:?}",
                    sysctl.name
                ),
            ));
        }
    }
}

/// The non-empty `host` of an HTTP or TCP action, by field name.
fn named_hosts<'a>(
    http: Option<&'a k8s_openapi::api::core::v1::HTTPGetAction>,
    tcp: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
) -> impl Iterator<Item = &'static str> + 'a {
    let http = http
        .and_then(|h| h.host.as_deref())
        .filter(|h| !h.is_empty());
    let tcp = tcp
        .and_then(|t| t.host.as_deref())
        .filter(|h| !h.is_empty());
    [http.map(|_| "httpGet.host"), tcp.map(|_| "tcpSocket.host")]
        .into_iter()
        .flatten()
}

/// Since 1.34: probes and lifecycle handlers must not name a `host` (the kubelet would
/// connect to any address for the pod).
fn probe_and_lifecycle_hosts(pod: &PodView<'_>, out: &mut Vec<Violation>) {
    for c in pod.containers() {
        let mut hosts = Vec::new();
        for (name, probe) in c.probes {
            if let Some(probe) = probe {
                let found = named_hosts(probe.http_get.as_ref(), probe.tcp_socket.as_ref());
                hosts.extend(found.map(|field| format!("{name}.{field}")));
            }
        }
        if let Some(lifecycle) = c.lifecycle {
            for (name, handler) in [
                ("postStart", &lifecycle.post_start),
                ("preStop", &lifecycle.pre_stop),
            ] {
                if let Some(handler) = handler {
                    let found = named_hosts(handler.http_get.as_ref(), handler.tcp_socket.as_ref());
                    hosts.extend(found.map(|field| format!("lifecycle.{name}.{field}")));
                }
            }
        }
        for field in hosts {
            out.push(violation(
                "hostProbesAndHostLifecycle",
                format!("{}.{field}", c.path),
                "must be undefined or empty",
            ));
        }
    }
}

//! The agent containers (reference §8), for both agent flavours and both shapes.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, ExecAction, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, Pod, Probe, ResourceRequirements, SeccompProfile, SecurityContext,
    SleepAction, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::agent_config::{self, TOKEN_SINK};
use super::token::{AwsIrsa, Token};
use super::volumes::{self, CONFIG_DIR, Role};
use super::{Denial, Plan, Shape};
use crate::annotations::PodSettings;
use crate::settings::AgentFlavor;

/// vault-k8s's init container name (classic shape).
pub const INIT_CONTAINER: &str = "vault-agent-init";
/// The long-running agent: the classic sidecar, or the native sidecar init container.
pub const SIDECAR_CONTAINER: &str = "vault-agent";

/// vault-k8s's stock-image start command: decode the config the webhook wrote, then run.
const VAULT_START: &str = "echo ${VAULT_CONFIG?} | base64 -d > /home/vault/config.json && vault agent -config=/home/vault/config.json";

// Native startup probe timing: poll every second so the app starts soon after the first
// render, and allow five minutes for a first login against a slow or unreachable Vault before
// the kubelet restarts the agent (which then logs in afresh).
const PROBE_PERIOD_SECONDS: i32 = 1;
const PROBE_FAILURE_THRESHOLD: i32 = 300;
const PROBE_TIMEOUT_SECONDS: i32 = 5;

/// Inputs computed from the pod before it is changed.
pub(crate) struct Parts<'a> {
    pub token: &'a Token,
    pub copied: &'a [VolumeMount],
    pub aws: &'a AwsIrsa,
    pub run_as_user: i64,
}

/// The containers to add.
pub(crate) struct Agents {
    pub init: Option<Container>,
    pub sidecar: Option<Container>,
}

/// Names of the containers the plan adds.
pub(crate) fn names(plan: &Plan<'_>) -> Vec<&'static str> {
    let mut names = Vec::new();
    if plan.has_init() {
        names.push(INIT_CONTAINER);
    }
    if plan.has_sidecar() || plan.shape == Shape::Native {
        names.push(SIDECAR_CONTAINER);
    }
    names
}

/// The agent UID: the annotation/flag, or the first app container's with run-as-same-user.
pub(crate) fn agent_uid(pod: &Pod, settings: &PodSettings) -> Result<i64, Denial> {
    if !settings.run_as_same_user {
        return Ok(settings.run_as_user);
    }
    let first = pod.spec.as_ref().and_then(|s| s.containers.first());
    let uid = first
        .and_then(|c| c.security_context.as_ref())
        .and_then(|sc| sc.run_as_user);
    match uid {
        Some(uid) if uid != 0 => Ok(uid),
        Some(_) => Err(Denial::new(
            "annotation vault.hashicorp.com/agent-run-as-same-user=true would run the agent as \
             root: the first container's runAsUser is 0",
        )),
        None => Err(Denial::new(
            "annotation vault.hashicorp.com/agent-run-as-same-user=true needs \
             securityContext.runAsUser on the pod's first container",
        )),
    }
}

pub(crate) fn build(plan: &Plan<'_>, parts: &Parts<'_>) -> Result<Agents, Denial> {
    let init = match plan.has_init() {
        true => Some(container(plan, parts, Role::Init)?),
        false => None,
    };
    let sidecar = match plan.has_sidecar() || plan.shape == Shape::Native {
        true => Some(container(plan, parts, Role::Sidecar)?),
        false => None,
    };
    Ok(Agents { init, sidecar })
}

fn container(plan: &Plan<'_>, parts: &Parts<'_>, role: Role) -> Result<Container, Denial> {
    let pod = plan.pod;
    let name = match role {
        Role::Init => INIT_CONTAINER,
        Role::Sidecar => SIDECAR_CONTAINER,
    };
    let (command, args) = start_command(plan, role);
    let native = plan.shape == Shape::Native;
    let mut container = Container {
        name: name.to_owned(),
        image: Some(pod.image.clone()),
        command: Some(command),
        args: Some(args),
        env: Some(env(plan, parts, role)),
        resources: resources(pod),
        security_context: Some(security_context(pod, parts.run_as_user)),
        volume_mounts: Some(volumes::agent_mounts(
            plan,
            role,
            parts.token,
            parts.aws,
            parts.copied,
        )),
        lifecycle: lifecycle(plan, role),
        restart_policy: native.then(|| "Always".to_owned()),
        startup_probe: native.then(|| startup_probe(plan)),
        ..Default::default()
    };
    let (patch, annotation) = match role {
        Role::Init => (&pod.init_json_patch, "agent-init-json-patch"),
        Role::Sidecar => (&pod.json_patch, "agent-json-patch"),
    };
    if let Some(patch) = patch {
        container = apply_patch(container, patch, annotation)?;
    }
    Ok(container)
}

fn start_command(plan: &Plan<'_>, role: Role) -> (Vec<String>, Vec<String>) {
    let configmap_file = match role {
        Role::Init => format!("{CONFIG_DIR}/config-init.hcl"),
        Role::Sidecar => format!("{CONFIG_DIR}/config.hcl"),
    };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    match (plan.flavor, plan.pod.configmap.is_some()) {
        (AgentFlavor::Kagi, false) => (strings(&["kagi-agent"]), strings(&["run"])),
        (AgentFlavor::Kagi, true) => (
            strings(&["kagi-agent"]),
            vec!["run".to_owned(), "-config".to_owned(), configmap_file],
        ),
        (AgentFlavor::Vault, false) => (strings(&["/bin/sh", "-ec"]), strings(&[VAULT_START])),
        (AgentFlavor::Vault, true) => (
            strings(&["/bin/sh", "-ec"]),
            vec![format!(
                "touch {TOKEN_SINK} && vault agent -config={configmap_file}"
            )],
        ),
    }
}

fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.to_owned(),
            }),
            ..Default::default()
        }),
    }
}

/// Environment in vault-k8s's order (reference §8).
fn env(plan: &Plan<'_>, parts: &Parts<'_>, role: Role) -> Vec<EnvVar> {
    let pod = plan.pod;
    let mut env = vec![
        field("NAMESPACE", "metadata.namespace"),
        field("HOST_IP", "status.hostIP"),
        field("POD_IP", "status.podIP"),
    ];
    let optional = [
        ("GOMAXPROCS", &pod.go_max_procs),
        ("VAULT_CLIENT_TIMEOUT", &pod.client_timeout),
        ("VAULT_MAX_RETRIES", &pod.client_max_retries),
    ];
    for (name, v) in optional {
        if let Some(v) = v {
            env.push(value(name, v));
        }
    }
    env.push(value("VAULT_LOG_LEVEL", &pod.log_level));
    env.push(value("VAULT_LOG_FORMAT", &pod.log_format));
    if let Some(proxy) = &pod.proxy_address {
        env.push(value("HTTPS_PROXY", proxy));
    }
    if pod.configmap.is_none() {
        let config = agent_config::build(plan, role, &parts.token.path);
        env.push(value("VAULT_CONFIG", agent_config::encode(&config)));
    } else {
        let connection = [
            (
                "VAULT_ADDR",
                Some(&pod.vault_address).filter(|a| !a.is_empty()),
            ),
            ("VAULT_CACERT", pod.ca_cert.as_ref()),
            ("VAULT_CAPATH", pod.ca_key.as_ref()),
            ("VAULT_CLIENT_CERT", pod.client_cert.as_ref()),
            ("VAULT_CLIENT_KEY", pod.client_key.as_ref()),
        ];
        for (name, v) in connection {
            if let Some(v) = v {
                env.push(value(name, v));
            }
        }
        env.push(value("VAULT_SKIP_VERIFY", pod.tls_skip_verify.to_string()));
        if let Some(name) = &pod.tls_server_name {
            env.push(value("VAULT_TLS_SERVER_NAME", name));
        }
    }
    if !plan.cacert_bytes.is_empty() {
        env.push(value("VAULT_CACERT_BYTES", ca_bytes(&plan.cacert_bytes)));
    }
    env.extend(parts.aws.env.iter().cloned());
    env
}

/// The injector's CA flag may be base64 of the PEM or the PEM itself.
fn ca_bytes(flag: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(flag.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| flag.to_owned())
}

pub(crate) fn resources(pod: &PodSettings) -> Option<ResourceRequirements> {
    let r = &pod.resources;
    let collect = |items: [(&str, &Option<String>); 3]| -> Option<BTreeMap<String, Quantity>> {
        let map: BTreeMap<String, Quantity> = items
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), Quantity(v.clone()?))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let requests = collect([
        ("cpu", &r.cpu_request),
        ("memory", &r.memory_request),
        ("ephemeral-storage", &r.ephemeral_request),
    ]);
    let limits = collect([
        ("cpu", &r.cpu_limit),
        ("memory", &r.memory_limit),
        ("ephemeral-storage", &r.ephemeral_limit),
    ]);
    (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
        requests,
        limits,
        ..Default::default()
    })
}

/// Hardened: read-only root, no privilege escalation, no capabilities, default seccomp. The
/// UID/GID part only with set-security-context (OpenShift assigns its own UIDs).
pub(crate) fn security_context(pod: &PodSettings, uid: i64) -> SecurityContext {
    let mut sc = SecurityContext {
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".to_owned()]),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..Default::default()
    };
    if pod.set_security_context {
        sc.run_as_user = Some(uid);
        sc.run_as_group = Some(pod.run_as_group);
        sc.run_as_non_root = Some(uid != 0 && pod.run_as_group != 0);
    }
    sc
}

fn exec(command: Vec<String>) -> Option<ExecAction> {
    Some(ExecAction {
        command: Some(command),
    })
}

/// Revocation before the agent stops (long-running agent only).
fn lifecycle(plan: &Plan<'_>, role: Role) -> Option<Lifecycle> {
    let pod = plan.pod;
    if role != Role::Sidecar || !pod.revoke_on_shutdown {
        return None;
    }
    let pre_stop = match plan.flavor {
        // The kagi agent revokes on SIGTERM itself (`kagi.revoke_on_shutdown`). A classic
        // sidecar stops together with the app, so wait the grace period first; a native
        // sidecar is stopped only after the app containers have exited.
        AgentFlavor::Kagi => match plan.shape {
            Shape::Classic { .. } if pod.revoke_grace > 0 => LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: pod.revoke_grace as i64,
                }),
                ..Default::default()
            },
            _ => return None,
        },
        AgentFlavor::Vault => {
            // Annotation values go through `sh -c`: quoted, so they stay one word each.
            let mut revoke = format!(
                "/bin/sleep {} && /bin/vault token revoke -address={}",
                pod.revoke_grace,
                shell_quote(&pod.vault_address)
            );
            for (flag, v) in [
                ("-ca-cert", &pod.ca_cert),
                ("-client-cert", &pod.client_cert),
                ("-client-key", &pod.client_key),
            ] {
                if let Some(v) = v {
                    revoke.push_str(&format!(" {flag}={}", shell_quote(v)));
                }
            }
            revoke.push_str(" -self");
            LifecycleHandler {
                exec: exec(vec!["/bin/sh".to_owned(), "-c".to_owned(), revoke]),
                ..Default::default()
            }
        }
    };
    Some(Lifecycle {
        pre_stop: Some(pre_stop),
        ..Default::default()
    })
}

/// The native sidecar is "started" once every file is rendered, so app containers start
/// with their secrets in place.
fn startup_probe(plan: &Plan<'_>) -> Probe {
    let command = match plan.flavor {
        AgentFlavor::Kagi => vec!["kagi-agent".to_owned(), "probe".to_owned()],
        // The stock image has a shell: started = token written and every file present (the
        // agent renders atomically, so a present file is a complete one).
        AgentFlavor::Vault => {
            let mut check = format!("test -s {TOKEN_SINK}");
            for file in agent_config::rendered_files(plan) {
                check.push_str(&format!(" && test -e {}", shell_quote(&file)));
            }
            vec!["/bin/sh".to_owned(), "-c".to_owned(), check]
        }
    };
    Probe {
        exec: exec(command),
        period_seconds: Some(PROBE_PERIOD_SECONDS),
        failure_threshold: Some(PROBE_FAILURE_THRESHOLD),
        timeout_seconds: Some(PROBE_TIMEOUT_SECONDS),
        ..Default::default()
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Applies an `agent(-init)-json-patch` annotation to the generated container.
fn apply_patch(
    container: Container,
    patch: &json_patch::Patch,
    annotation: &str,
) -> Result<Container, Denial> {
    let name = container.name.clone();
    let mut doc = serde_json::to_value(container).expect("containers serialize");
    let failed = |why: String| {
        Denial::new(format!(
            "annotation vault.hashicorp.com/{annotation} cannot be applied to container {name:?}: {why}"
        ))
    };
    json_patch::patch(&mut doc, &patch.0).map_err(|e| failed(e.to_string()))?;
    serde_json::from_value(doc).map_err(|e| failed(format!("the result is not a container: {e}")))
}

//! A kubelet over runc. [`PodRunner::run`] takes a (mutated) Pod and runs every container
//! from its OCI image (`make images` writes them to `target/images`) under runc, the way the
//! kubelet and containerd would: a sandbox container holds the pod's network, IPC and UTS
//! namespaces (and its PID namespace with `shareProcessNamespace`), the containers join them;
//! users, groups, `fsGroup` volume ownership, read-only root, capabilities, no_new_privileges
//! and seccomp come from the security contexts; emptyDirs are host directories (tmpfs for
//! `medium: Memory`) bind-mounted into each container, projected volumes read-only files.
//!
//! Kubelet order: native sidecars first (each until its exec startupProbe passes, by `runc
//! exec`), then ordinary init containers to completion, then the app containers; Jobs complete
//! when their app containers exit (native sidecars are then stopped); [`RunningPod::delete`]
//! runs preStop hooks and `runc kill`s app containers first, then sidecars in reverse order,
//! SIGKILL after the grace period. Probe periods are shortened to keep tests fast.
//!
//! The pod's network namespace has only loopback. Host services a test lets the pod reach
//! ([`PodRunner::host_ports`]) are relayed into it on the same 127.0.0.1 port (see
//! `kagi-pod-sandbox`), so no traffic leaves loopback. A pod spec field the runner cannot
//! express fails [`PodRunner::run`] naming the field.

pub mod container;
pub mod manifest;
mod process;
mod running;
mod runtime;
mod sandbox;
pub mod security;
mod status;
mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use oci_spec::runtime::LinuxNamespaceType;
use serde_json::{Value, json};

use crate::image::{self, Image};
use crate::kube::ServiceAccountIssuer;
use container::{ContainerKind, Mounts, PodFacts};
pub use manifest::{
    inject_annotations, load_manifests, parse_manifests, pod_from_manifest,
    service_account_admission,
};
pub use running::RunningPod;
pub use runtime::RUNTIME_DEFAULT_DENIED;
use runtime::{BindMount, ContainerConfig, Runc};
use sandbox::{HostMounts, Sandbox};
pub use status::{ContainerState, ContainerStatus, PodPhase, PodStatus};
use volumes::{ObjectFiles, VolumeBuilder};

/// The image whose `kagi-pod-sandbox` holds a pod's namespaces.
const SANDBOX_IMAGE: &str = "kagi-test-app";

/// Runs pods; cheap to configure, one per test.
#[derive(Clone)]
pub struct PodRunner {
    namespace: String,
    issuer: ServiceAccountIssuer,
    /// Image repository name → OCI layout directory.
    layouts: BTreeMap<String, PathBuf>,
    /// Image repository name → the local image that stands in for it (same tag rules).
    aliases: BTreeMap<String, String>,
    host_ports: Vec<u16>,
    exposed: Vec<u16>,
    files: ObjectFiles,
    key_refs: BTreeMap<(String, String), String>,
    probe_interval: Duration,
    grace: Duration,
    /// Labels of the namespace the pods are created in: the API server's admission routing
    /// (`namespaceSelector`) and Pod Security admission (`pod-security.kubernetes.io/enforce`)
    /// read them.
    namespace_labels: BTreeMap<String, String>,
}

impl PodRunner {
    /// A runner for pods in `namespace` whose service-account tokens `issuer` signs. Images are
    /// looked up in `target/images/<name>` (`make images`).
    pub fn new(namespace: &str, issuer: &ServiceAccountIssuer) -> PodRunner {
        PodRunner {
            namespace: namespace.to_string(),
            issuer: issuer.clone(),
            layouts: BTreeMap::new(),
            aliases: BTreeMap::new(),
            host_ports: Vec::new(),
            exposed: Vec::new(),
            files: BTreeMap::new(),
            key_refs: BTreeMap::new(),
            probe_interval: Duration::from_millis(100),
            grace: Duration::from_secs(10),
            namespace_labels: BTreeMap::from([(
                OPT_IN_LABEL.0.to_string(),
                OPT_IN_LABEL.1.to_string(),
            )]),
        }
    }

    /// Uses the OCI layout at `layout` for images named `name` (last path segment, no tag).
    pub fn image(mut self, name: &str, layout: impl Into<PathBuf>) -> PodRunner {
        self.layouts.insert(name.to_string(), layout.into());
        self
    }

    /// Runs images named `name` (any tag) from the local image `local` at the workspace
    /// version: for example manifests whose app image is not on this machine.
    pub fn image_alias(mut self, name: &str, local: &str) -> PodRunner {
        self.aliases.insert(name.to_string(), local.to_string());
        self
    }

    /// Host services on 127.0.0.1 the pod may reach: each port is relayed into the pod's own
    /// loopback at the same port.
    pub fn host_ports(mut self, ports: &[u16]) -> PodRunner {
        self.host_ports.extend_from_slice(ports);
        self
    }

    /// Ports of the pod's own loopback the test reaches: each is relayed from a host port,
    /// see [`RunningPod::exposed`].
    pub fn expose_ports(mut self, ports: &[u16]) -> PodRunner {
        self.exposed.extend_from_slice(ports);
        self
    }

    /// Contents of a ConfigMap or Secret volume source named `name` (plain text values), also
    /// used for `configMapKeyRef`/`secretKeyRef` env.
    pub fn object_files(mut self, name: &str, files: &[(&str, &str)]) -> PodRunner {
        for (key, value) in files {
            self.key_refs
                .insert((name.to_string(), key.to_string()), value.to_string());
        }
        self.files.insert(
            name.to_string(),
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }

    /// Termination grace period when the pod does not set one (default 10 s; capped by it).
    pub fn grace_period(mut self, grace: Duration) -> PodRunner {
        self.grace = grace;
        self
    }

    /// The labels of the pods' namespace, replacing the default (the opt-in label
    /// `kagi-injection=enabled` alone). Add `pod-security.kubernetes.io/enforce=restricted` to
    /// have the runner refuse pods that Pod Security admission would refuse.
    pub fn namespace_labels(mut self, labels: &[(&str, &str)]) -> PodRunner {
        self.namespace_labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    /// Whether the API server would send `pod` (being created) to the kagi webhook, decided
    /// from the shipped MutatingWebhookConfiguration as the API server decides it: rules,
    /// namespaceSelector, objectSelector and the CEL matchConditions. A request the API
    /// server would refuse outright (a condition failing under `failurePolicy: Fail`) is an
    /// error.
    pub fn before_admission(&self, pod: &Value) -> anyhow::Result<bool> {
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace);
        let decision = crate::routing::route(
            shipped_webhook_configuration()?,
            namespace,
            &self.namespace_labels,
            pod,
        )?;
        if let Some(reason) = decision.rejection() {
            anyhow::bail!("the API server refuses the pod before any webhook: {reason}");
        }
        Ok(!decision.called().is_empty())
    }

    /// Called with the mutated pod before any of it starts: the pod must be one Pod Security
    /// admission lets into the namespace (when its labels enforce a level), and every field
    /// must be one the runner can express.
    pub fn before_start(&self, pod: &Value) -> anyhow::Result<()> {
        let typed: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(pod.clone()).context("the pod does not fit the Pod schema")?;
        if let Err(violations) = crate::pod_security::admit(&self.namespace_labels, &typed) {
            let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
            anyhow::bail!(
                "Pod Security admission would refuse the pod in this namespace:\n  {}",
                list.join("\n  ")
            );
        }
        security::check_modelled(pod)
    }

    fn open_image(&self, reference: &str) -> anyhow::Result<Image> {
        let (name, tag) = container::image_reference(reference);
        let (name, tag) = match self.aliases.get(name) {
            Some(local) => (local.as_str(), image::VERSION),
            None => (name, tag),
        };
        let layout = self
            .layouts
            .get(name)
            .cloned()
            .unwrap_or_else(|| image::images_dir().join(name));
        crate::bins::warn_if_stale(&layout.join("index.json"), name, "make test-images");
        Image::open(&layout, tag).with_context(|| format!("image {reference}"))
    }

    /// Starts the pod and returns once its sandbox runs; the kubelet work goes on in a thread.
    pub fn run(&self, pod: &Value) -> anyhow::Result<RunningPod> {
        runtime::runc()?;
        self.before_start(pod)?;
        sandbox::clean_up_after_dead_runs();
        let root = crate::procs::scratch_dir("kagi-pod-")?;
        let name = pod["metadata"]["name"]
            .as_str()
            .or_else(|| pod["metadata"]["generateName"].as_str())
            .unwrap_or("pod")
            .trim_end_matches('-')
            .to_string();
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace)
            .to_string();
        let facts = PodFacts {
            uid: ServiceAccountIssuer::service_account_uid(&namespace, &format!("pod/{name}")),
            name: name.clone(),
            namespace: namespace.clone(),
            service_account: pod["spec"]["serviceAccountName"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
            node_name: "kagi-local-node".to_string(),
            labels: pod["metadata"]["labels"].clone(),
            annotations: pod["metadata"]["annotations"].clone(),
        };
        // Unique runc ids (and cgroup names) across the pods of every test process.
        let pod_id = root
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let runc = Runc {
            state: root.path().join("runc"),
        };
        let mut mounts = HostMounts::default();
        let volumes = VolumeBuilder {
            issuer: &self.issuer,
            files: &self.files,
            facts: &facts,
        }
        .prepare(pod, root.path(), &mut mounts);
        let volumes = match volumes {
            Ok(volumes) => volumes,
            Err(e) => {
                drop(mounts);
                return Err(e);
            }
        };
        let etc = pod_etc_files(pod, &name, root.path())?;
        std::fs::create_dir_all(root.path().join("logs"))?;

        let sandbox_image = self.open_image(&format!("{SANDBOX_IMAGE}:{}", image::VERSION))?;
        let sandbox_bundle = root.path().join("sandbox");
        sandbox_image.unpack(&sandbox_bundle.join("rootfs"))?;
        let relay_dir = root.path().join("relay");
        sandbox::relay_dir(&relay_dir)?;
        let mut sandbox_mounts = etc.clone();
        sandbox_mounts.push(BindMount {
            destination: sandbox::RELAY_DIR.to_string(),
            source: relay_dir.clone(),
            read_only: false,
        });
        let mut sandbox_args = vec!["kagi-pod-sandbox".to_string()];
        sandbox_args.extend(Sandbox::args(&self.host_ports, &self.exposed));
        let sandbox_config = ContainerConfig {
            rootfs: sandbox_bundle.join("rootfs"),
            args: sandbox_args,
            env: vec!["PATH=/usr/local/bin".to_string()],
            cwd: "/".to_string(),
            security: security::Security {
                uid: image::NONROOT,
                gid: image::NONROOT,
                additional_gids: Vec::new(),
                read_only_root: true,
                capabilities: Default::default(),
                no_new_privileges: true,
                seccomp: security::Seccomp::RuntimeDefault,
                run_as_non_root: true,
            },
            mounts: sandbox_mounts,
            namespaces: [
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Cgroup,
            ]
            .into_iter()
            .map(|t| (t, None))
            .collect(),
            hostname: Some(name.clone()),
            cgroup: format!("/kagi-tests/{pod_id}-sandbox"),
        };
        runc.write_bundle(&sandbox_bundle, &sandbox_config)?;
        let sandbox = Sandbox::start(
            sandbox::SandboxPlan {
                runc: runc.clone(),
                id: &format!("{pod_id}-sandbox"),
                bundle: &sandbox_bundle,
                relay_dir: &relay_dir,
                host_ports: &self.host_ports,
                exposed: &self.exposed,
                log: &root.path().join("logs").join("sandbox.log"),
            },
            mounts,
        )?;

        let share_pid = pod["spec"]["shareProcessNamespace"] == true;
        let mut specs = Vec::new();
        for (list, default_kind) in [
            ("initContainers", ContainerKind::Init),
            ("containers", ContainerKind::App),
        ] {
            for (i, spec) in pod["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let kind =
                    if default_kind == ContainerKind::Init && spec["restartPolicy"] == "Always" {
                        ContainerKind::Sidecar
                    } else {
                        default_kind
                    };
                let field = format!("spec.{list}[{i}]");
                let target = ContainerTarget {
                    pod,
                    spec,
                    field: &field,
                    kind,
                    facts: &facts,
                    volumes: &volumes,
                    etc: &etc,
                    root: root.path(),
                    pod_id: &pod_id,
                    sandbox: &sandbox,
                    share_pid,
                };
                specs.push(self.prepare_container(&target)?);
            }
        }
        let grace = pod["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .map(Duration::from_secs)
            .unwrap_or(self.grace)
            .min(self.grace);
        let restart_policy = pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string();
        process::start(process::PodPlan {
            name,
            namespace,
            root,
            containers: specs,
            restart_policy,
            grace,
            probe_interval: self.probe_interval,
            runc,
            sandbox,
        })
    }

    fn prepare_container(
        &self,
        target: &ContainerTarget,
    ) -> anyhow::Result<process::ContainerPlan> {
        let spec = target.spec;
        let name = spec["name"]
            .as_str()
            .with_context(|| format!("{} has no name", target.field))?;
        let reference = spec["image"]
            .as_str()
            .with_context(|| format!("{}.image is missing", target.field))?;
        let image = self.open_image(reference)?;
        let bundle = target.root.join("containers").join(name);
        let rootfs = bundle.join("rootfs");
        image.unpack(&rootfs)?;
        let security = security::resolve(&target.pod["spec"], spec, target.field, image.user()?)?;
        let start_error = (security.run_as_non_root && security.uid == 0)
            .then(|| format!("container {name} has runAsNonRoot and would run as root (uid 0)"));
        let mut host_mounts = Vec::new();
        let mut binds = target.etc.to_vec();
        for (j, mount) in spec["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{}.volumeMounts[{j}]", target.field);
            let volume = mount["name"].as_str().unwrap_or_default();
            let path = mount["mountPath"]
                .as_str()
                .with_context(|| format!("{field}.mountPath is missing"))?;
            let found = target
                .volumes
                .get(volume)
                .with_context(|| format!("{field}: volume {volume:?} is not in the pod"))?;
            let mut host = found.host.clone();
            if let Some(sub) = mount["subPath"].as_str().filter(|s| !s.is_empty()) {
                host = host.join(sub);
                std::fs::create_dir_all(&host)?;
            }
            host_mounts.push((path.to_string(), host.clone()));
            binds.push(BindMount {
                destination: path.to_string(),
                source: host,
                read_only: found.read_only || mount["readOnly"] == true,
            });
        }
        let (entrypoint, cmd, image_env) = image.process();
        let args = container::process_args(spec, &entrypoint, &cmd)?;
        let mut env: Vec<String> = image_env;
        env.push(format!("HOSTNAME={}", target.facts.name));
        env.push(format!(
            "{}={}",
            crate::procs::OWNER_ENV,
            std::process::id()
        ));
        for (key, value) in container::resolve_env(spec, target.facts, &self.key_refs)? {
            env.retain(|e| !e.starts_with(&format!("{key}=")));
            env.push(format!("{key}={value}"));
        }
        let cwd = spec["workingDir"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                image
                    .config
                    .config()
                    .as_ref()
                    .and_then(|c| c.working_dir().clone())
            })
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let sandbox = target.sandbox;
        let mut namespaces = vec![
            (LinuxNamespaceType::Network, Some(sandbox.namespace("net"))),
            (LinuxNamespaceType::Ipc, Some(sandbox.namespace("ipc"))),
            (LinuxNamespaceType::Uts, Some(sandbox.namespace("uts"))),
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Cgroup, None),
        ];
        namespaces.push((
            LinuxNamespaceType::Pid,
            target.share_pid.then(|| sandbox.namespace("pid")),
        ));
        let id = format!("{}-{name}", target.pod_id);
        let config = ContainerConfig {
            rootfs,
            args,
            env,
            cwd,
            security,
            mounts: binds,
            namespaces,
            hostname: None,
            cgroup: format!("/kagi-tests/{id}"),
        };
        target.sandbox.runc.write_bundle(&bundle, &config)?;
        Ok(process::ContainerPlan {
            name: name.to_string(),
            id,
            kind: target.kind,
            bundle: bundle.clone(),
            mounts: Mounts::new(host_mounts, bundle.join("rootfs")),
            start_error,
            startup_probe: spec["startupProbe"].clone(),
            pre_stop: spec["lifecycle"]["preStop"].clone(),
        })
    }
}

/// What preparing one container needs to know about its pod.
struct ContainerTarget<'a> {
    pod: &'a Value,
    spec: &'a Value,
    field: &'a str,
    kind: ContainerKind,
    facts: &'a PodFacts,
    volumes: &'a BTreeMap<String, volumes::Volume>,
    etc: &'a [BindMount],
    root: &'a Path,
    pod_id: &'a str,
    sandbox: &'a Sandbox,
    share_pid: bool,
}

/// `/etc/hosts` (with `hostAliases`), `/etc/hostname` and `/etc/resolv.conf`, which the
/// kubelet bind-mounts into every container. The resolver points at the pod's loopback: there
/// is no cluster DNS, and nothing may resolve names off this machine.
fn pod_etc_files(pod: &Value, name: &str, root: &Path) -> anyhow::Result<Vec<BindMount>> {
    let dir = root.join("etc");
    std::fs::create_dir_all(&dir)?;
    let mut hosts = format!(
        "# Kubernetes-managed hosts file (kagi pod runner).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{name}\n"
    );
    for (i, alias) in pod["spec"]["hostAliases"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ip = alias["ip"]
            .as_str()
            .with_context(|| format!("spec.hostAliases[{i}].ip is missing"))?;
        let ip: std::net::IpAddr = ip
            .parse()
            .with_context(|| format!("spec.hostAliases[{i}].ip {ip:?} is not an IP address"))?;
        if !ip.is_loopback() {
            bail!(
                "spec.hostAliases[{i}].ip {ip}: pods here reach only loopback (relayed host ports)"
            );
        }
        let names: Vec<&str> = alias["hostnames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        hosts.push_str(&format!(
            "\n# Entries added by HostAliases.\n{ip}\t{}\n",
            names.join("\t")
        ));
    }
    let files = [
        ("hosts", hosts),
        ("hostname", format!("{name}\n")),
        (
            "resolv.conf",
            "nameserver 127.0.0.1\noptions ndots:1\n".to_string(),
        ),
    ];
    let mut binds = Vec::new();
    for (file, contents) in files {
        let path = dir.join(file);
        std::fs::write(&path, contents)?;
        binds.push(BindMount {
            destination: format!("/etc/{file}"),
            source: path,
            read_only: false,
        });
    }
    Ok(binds)
}

/// Convenience for tests: service-account admission, then the webhook, then run.
/// The namespace label the shipped configuration's namespaceSelector asks for.
const OPT_IN_LABEL: (&str, &str) = ("kagi-injection", "enabled");

/// The MutatingWebhookConfiguration kagi ships (`deploy/base`), parsed once.
fn shipped_webhook_configuration() -> anyhow::Result<
    &'static k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
> {
    static CONFIG: std::sync::OnceLock<
        Result<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration, String>,
    > = std::sync::OnceLock::new();
    let loaded = CONFIG.get_or_init(|| {
        let path = crate::manifests::deploy_dir().join("base/mutatingwebhookconfiguration.yaml");
        let yaml =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut configs = crate::routing::mutating_webhook_configurations(&yaml)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match configs.len() {
            1 => Ok(configs.remove(0)),
            n => Err(format!(
                "{}: {n} MutatingWebhookConfigurations, want 1",
                path.display()
            )),
        }
    });
    loaded.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn admit_and_run(
    runner: &PodRunner,
    webhook: &crate::webhook::Webhook,
    manifest: &Value,
) -> anyhow::Result<(crate::webhook::Admission, RunningPod)> {
    let pod = service_account_admission(&pod_from_manifest(manifest)?);
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or(&runner.namespace)
        .to_string();
    let mut pod = pod;
    pod["metadata"]["namespace"] = json!(namespace);
    let admission = if runner.before_admission(&pod)? {
        webhook.admit(&pod, &namespace)?
    } else {
        // Not routed to the webhook: the API server creates the pod as it was sent.
        crate::webhook::Admission {
            allowed: true,
            message: None,
            warnings: Vec::new(),
            patch: json_patch::Patch(Vec::new()),
            object: pod.clone(),
            review: Value::Null,
        }
    };
    anyhow::ensure!(
        admission.allowed,
        "webhook denied the pod: {:?}",
        admission.message
    );
    let running = runner.run(&admission.object)?;
    Ok((admission, running))
}

//! A kubelet made of local processes. [`PodRunner::run`] takes a (mutated) Pod and runs it the
//! way the kubelet does: native sidecars first (each until its exec startupProbe passes), then
//! ordinary init containers to completion, then the app containers; Jobs complete when their
//! app containers exit (native sidecars are then stopped); [`RunningPod::delete`] terminates
//! app containers first, then sidecars in reverse order, and records exit codes.
//!
//! Every volume is a temp directory; container paths are mapped to those directories in
//! arguments, env values and the agent's `VAULT_CONFIG`. Images and commands are mapped to
//! local binaries (`kagi-agent` → the built agent; register app programs with
//! [`PodRunner::program`]). Probe periods are shortened to keep tests fast.

pub mod container;
pub mod manifest;
mod process;
mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::bins;
use crate::kube::{ServiceAccountIssuer, TokenRequest};
use container::{ContainerKind, PathMap, PodFacts, Programs};
pub use manifest::{load_manifests, parse_manifests, pod_from_manifest, service_account_admission};
pub use status::{ContainerState, ContainerStatus, PodPhase, PodStatus};

/// Runs pods; cheap to configure, one per test.
#[derive(Clone)]
pub struct PodRunner {
    namespace: String,
    issuer: ServiceAccountIssuer,
    programs: Programs,
    /// Why a default program is not registered (reported when a container needs one).
    missing_programs: Vec<String>,
    files: BTreeMap<String, Vec<(String, String)>>,
    key_refs: BTreeMap<(String, String), String>,
    probe_interval: Duration,
    grace: Duration,
}

impl PodRunner {
    /// A runner for pods in `namespace` whose service-account tokens `issuer` signs. The
    /// built `kagi-agent` and the harness's `kagi-test-app` are registered when present.
    pub fn new(namespace: &str, issuer: &ServiceAccountIssuer) -> PodRunner {
        let mut programs = Programs::default();
        let mut missing_programs = Vec::new();
        for name in ["kagi-agent", "kagi-test-app"] {
            match bins::binary(name) {
                Ok(path) => programs.insert(name, path),
                Err(e) => missing_programs.push(e.to_string()),
            }
        }
        PodRunner {
            namespace: namespace.to_string(),
            issuer: issuer.clone(),
            programs,
            missing_programs,
            files: BTreeMap::new(),
            key_refs: BTreeMap::new(),
            probe_interval: Duration::from_millis(100),
            grace: Duration::from_secs(10),
        }
    }

    /// Maps an image name (last path segment without tag, e.g. `myapp` for
    /// `ghcr.io/org/myapp:1.2`) or a command basename to a local program.
    pub fn program(mut self, name: &str, path: impl Into<PathBuf>) -> PodRunner {
        self.programs.insert(name, path.into());
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

    /// Starts the pod and returns at once; the kubelet work goes on in a thread.
    pub fn run(&self, pod: &Value) -> anyhow::Result<RunningPod> {
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
        let volumes = self.prepare_volumes(pod, &facts, root.path())?;
        let mut specs = Vec::new();
        for (list, default_kind) in [
            ("initContainers", ContainerKind::Init),
            ("containers", ContainerKind::App),
        ] {
            for spec in pod["spec"][list].as_array().into_iter().flatten() {
                let kind =
                    if default_kind == ContainerKind::Init && spec["restartPolicy"] == "Always" {
                        ContainerKind::Sidecar
                    } else {
                        default_kind
                    };
                specs.push(self.prepare_container(spec, kind, &facts, &volumes, root.path())?);
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
            programs: self.programs.clone(),
        })
    }

    fn prepare_volumes(
        &self,
        pod: &Value,
        facts: &PodFacts,
        root: &Path,
    ) -> anyhow::Result<BTreeMap<String, PathBuf>> {
        let mut volumes = BTreeMap::new();
        for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
            let name = volume["name"].as_str().context("volume without a name")?;
            let dir = root.join("volumes").join(name);
            std::fs::create_dir_all(&dir)?;
            if let Some(sources) = volume["projected"]["sources"].as_array() {
                for source in sources {
                    self.write_projection(source, facts, &dir)?;
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
            volumes.insert(name.to_string(), dir);
        }
        Ok(volumes)
    }

    fn write_projection(&self, source: &Value, facts: &PodFacts, dir: &Path) -> anyhow::Result<()> {
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
            let value = match item["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => facts.namespace.clone(),
                Some("metadata.name") => facts.name.clone(),
                Some("metadata.uid") => facts.uid.clone(),
                _ => String::new(),
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

    fn prepare_container(
        &self,
        spec: &Value,
        kind: ContainerKind,
        facts: &PodFacts,
        volumes: &BTreeMap<String, PathBuf>,
        root: &Path,
    ) -> anyhow::Result<process::ContainerPlan> {
        let name = spec["name"].as_str().context("container without a name")?;
        let rootfs = root.join("containers").join(name);
        std::fs::create_dir_all(&rootfs)?;
        let mut mounts = Vec::new();
        for mount in spec["volumeMounts"].as_array().into_iter().flatten() {
            let volume = mount["name"].as_str().unwrap_or_default();
            let path = mount["mountPath"]
                .as_str()
                .with_context(|| format!("container {name}: mount without mountPath"))?;
            let mut host = volumes
                .get(volume)
                .with_context(|| format!("container {name}: volume {volume:?} is not in the pod"))?
                .clone();
            if let Some(sub) = mount["subPath"].as_str().filter(|s| !s.is_empty()) {
                host = host.join(sub);
                std::fs::create_dir_all(&host)?;
            }
            mounts.push((path.to_string(), host));
        }
        let paths = PathMap::new(mounts);
        let (program, args) = self.programs.resolve(spec).map_err(|e| {
            if self.missing_programs.is_empty() {
                e
            } else {
                e.context(self.missing_programs.join("; "))
            }
        })?;
        let args = args.iter().map(|a| paths.map_word(a)).collect();
        let mut env = Vec::new();
        for (key, value) in container::resolve_env(spec, facts, &self.key_refs)? {
            let value = if key == "VAULT_CONFIG" {
                paths.map_vault_config(&value)?
            } else {
                paths.map_word(&value)
            };
            env.push((key, value));
        }
        env.push(("HOSTNAME".to_string(), facts.name.clone()));
        let working_dir = spec["workingDir"]
            .as_str()
            .and_then(|dir| paths.map(dir))
            .map(PathBuf::from)
            .unwrap_or(rootfs);
        Ok(process::ContainerPlan {
            name: name.to_string(),
            kind,
            program,
            args,
            env,
            working_dir,
            paths,
            startup_probe: spec["startupProbe"].clone(),
            pre_stop: spec["lifecycle"]["preStop"].clone(),
        })
    }
}

fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// A pod being run; dropping it kills whatever still runs (use [`RunningPod::delete`] for the
/// graceful path).
pub struct RunningPod {
    shared: Arc<status::Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    root: TempDir,
    paths: BTreeMap<String, PathMap>,
}

impl RunningPod {
    /// The host directory behind a container path (e.g. `/vault/secrets` of container `app`).
    pub fn host_path(&self, container: &str, path: &str) -> Option<PathBuf> {
        self.paths.get(container)?.map(path).map(PathBuf::from)
    }

    /// Reads a file through a container's mounts.
    pub fn read_file(&self, container: &str, path: &str) -> anyhow::Result<String> {
        let host = self
            .host_path(container, path)
            .with_context(|| format!("{path} is not under a mount of container {container}"))?;
        std::fs::read_to_string(&host).with_context(|| format!("reading {}", host.display()))
    }

    /// Waits until a file exists (through a container's mounts) and returns its contents.
    pub fn wait_file(
        &self,
        container: &str,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        crate::wait_for(&format!("{path} in {container}"), timeout, || {
            self.read_file(container, path).ok()
        })
        .map_err(|e| anyhow::anyhow!("{e}\n{}", self.describe()))
    }

    /// Combined stdout and stderr of a container (all restarts).
    pub fn logs(&self, container: &str) -> String {
        crate::procs::log_tail(
            &self
                .root
                .path()
                .join("logs")
                .join(format!("{container}.log")),
            1 << 20,
        )
    }

    /// Waits until a container's log contains `needle`.
    pub fn wait_log(
        &self,
        container: &str,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        crate::wait_for(
            &format!("{needle:?} in the log of {container}"),
            timeout,
            || {
                let logs = self.logs(container);
                logs.contains(needle).then_some(logs)
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}\n{}", self.describe()))
    }

    /// A snapshot of phase, containers and kubelet events.
    pub fn status(&self) -> PodStatus {
        self.shared.snapshot()
    }

    /// Waits until the predicate holds on the status.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut predicate: impl FnMut(&PodStatus) -> bool,
    ) -> anyhow::Result<PodStatus> {
        self.shared
            .wait_until(timeout, |s| predicate(s))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.describe()
                )
            })
    }

    /// Waits until every app container has started.
    pub fn wait_running(&self, timeout: Duration) -> anyhow::Result<PodStatus> {
        self.wait_until("app containers running", timeout, |s| {
            s.phase == PodPhase::Running || s.phase.is_finished()
        })
    }

    /// Waits for `Succeeded` or `Failed` (a Job's end).
    pub fn wait_finished(&self, timeout: Duration) -> anyhow::Result<PodStatus> {
        self.wait_until("the pod to finish", timeout, |s| s.phase.is_finished())
    }

    /// Deletes the pod like the kubelet: preStop hooks and SIGTERM to app containers, then to
    /// native sidecars in reverse order, SIGKILL after the grace period. Returns the final status.
    pub fn delete(mut self) -> PodStatus {
        self.shared.request_delete();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.snapshot()
    }

    /// Human-readable state and logs, for assertion messages.
    pub fn describe(&self) -> String {
        let status = self.status();
        let mut out = format!("pod phase {:?}\n", status.phase);
        for c in &status.containers {
            out.push_str(&format!(
                "  {} ({:?}): {:?}, restarts {}\n",
                c.name, c.kind, c.state, c.restarts
            ));
        }
        out.push_str("events:\n");
        for e in &status.events {
            out.push_str(&format!("  {e}\n"));
        }
        for c in &status.containers {
            let logs = self.logs(&c.name);
            let start = logs.len().saturating_sub(3000);
            let start = (start..logs.len())
                .find(|i| logs.is_char_boundary(*i))
                .unwrap_or(0);
            out.push_str(&format!("--- log of {} ---\n{}\n", c.name, &logs[start..]));
        }
        out
    }

    /// The pod's scratch directory (volumes/, logs/, containers/).
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for RunningPod {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.request_kill();
            let _ = thread.join();
        }
    }
}

/// Convenience for tests: service-account admission, then the webhook, then run.
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
    let admission = webhook.admit(&pod, &namespace)?;
    anyhow::ensure!(
        admission.allowed,
        "webhook denied the pod: {:?}",
        admission.message
    );
    let running = runner.run(&admission.object)?;
    Ok((admission, running))
}

//! The kubelet loop: starts, probes, restarts and terminates the containers of one pod under
//! runc, on a thread of its own, publishing a [`PodStatus`] as it goes.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::RunningPod;
use super::container::{ContainerKind, Mounts, strings};
use super::runtime::{self, Runc};
use super::sandbox::Sandbox;
use super::status::{ContainerState, ContainerStatus, PodPhase, PodStatus, Requests, Shared};
use crate::procs;

/// First restart delay of a crashed container (the kubelet uses 10 s; tests cannot wait that).
const RESTART_BACKOFF: Duration = Duration::from_millis(500);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

pub(super) struct ContainerPlan {
    pub name: String,
    /// The runc container id.
    pub id: String,
    pub kind: ContainerKind,
    /// The OCI bundle (config.json, rootfs).
    pub bundle: PathBuf,
    pub mounts: Mounts,
    /// Why the kubelet would refuse to start it (e.g. runAsNonRoot with uid 0).
    pub start_error: Option<String>,
    pub startup_probe: Value,
    pub pre_stop: Value,
}

pub(super) struct PodPlan {
    pub name: String,
    pub namespace: String,
    pub root: TempDir,
    pub containers: Vec<ContainerPlan>,
    pub restart_policy: String,
    pub grace: Duration,
    pub probe_interval: Duration,
    pub runc: Runc,
    pub sandbox: Sandbox,
}

pub(super) fn start(plan: PodPlan) -> anyhow::Result<RunningPod> {
    std::fs::create_dir_all(plan.root.path().join("logs"))?;
    let status = PodStatus {
        name: plan.name.clone(),
        namespace: plan.namespace.clone(),
        phase: PodPhase::Pending,
        deleted: false,
        containers: plan
            .containers
            .iter()
            .map(|c| ContainerStatus {
                name: c.name.clone(),
                kind: c.kind,
                state: ContainerState::Waiting,
                started: false,
                restarts: 0,
                exit_codes: Vec::new(),
            })
            .collect(),
        events: Vec::new(),
    };
    let shared = Arc::new(Shared {
        state: Mutex::new((status, Requests::default())),
        changed: Condvar::new(),
    });
    let mounts: BTreeMap<String, Mounts> = plan
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.mounts.clone()))
        .collect();
    let logs = plan.root.path().join("logs");
    let PodPlan {
        root,
        containers,
        restart_policy,
        grace,
        probe_interval,
        runc,
        sandbox,
        ..
    } = plan;
    let mut kubelet = Kubelet {
        children: containers.iter().map(|_| None).collect(),
        containers,
        restart_policy,
        grace,
        probe_interval,
        runc,
        logs,
        shared: shared.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("kagi-tests-kubelet".into())
        .spawn(move || kubelet.run())?;
    Ok(RunningPod {
        shared,
        thread: Some(thread),
        sandbox: Some(sandbox),
        root,
        mounts,
    })
}

struct Kubelet {
    containers: Vec<ContainerPlan>,
    children: Vec<Option<Child>>,
    restart_policy: String,
    grace: Duration,
    probe_interval: Duration,
    runc: Runc,
    logs: PathBuf,
    shared: Arc<Shared>,
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Kubelet {
    fn run(&mut self) {
        if self.run_init_phase() {
            self.run_app_phase();
        }
        // Reached on delete, or when the pod failed for good (the kubelet then stops whatever
        // still runs and keeps the pod around until it is deleted).
        let kill = self.shared.kill_requested();
        self.terminate_all(kill);
        while !self.shared.pause(Duration::from_secs(3600)) {}
        self.shared.update(|s| s.deleted = true);
    }

    /// Native sidecars until their startup probe passes, ordinary init containers to completion.
    fn run_init_phase(&mut self) -> bool {
        for index in 0..self.containers.len() {
            if self.shared.stop_requested() {
                return false;
            }
            let ok = match self.containers[index].kind {
                ContainerKind::Sidecar => self.start_sidecar(index),
                ContainerKind::Init => self.run_to_completion(index),
                ContainerKind::App => continue,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn start_sidecar(&mut self, index: usize) -> bool {
        let probe = self.containers[index].startup_probe.clone();
        let mut backoff = RESTART_BACKOFF;
        loop {
            if !self.spawn(index) {
                if self.shared.pause(backoff) {
                    return false;
                }
                backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
                continue;
            }
            if probe.is_null() {
                self.mark_started(index);
                return true;
            }
            let seconds = |key: &str, default: u64| probe[key].as_u64().unwrap_or(default);
            let budget = Duration::from_secs(
                seconds("initialDelaySeconds", 0)
                    + seconds("failureThreshold", 3) * seconds("periodSeconds", 10),
            );
            let deadline = Instant::now() + budget;
            loop {
                if self.reap(index).is_some() {
                    // Crashed before its probe passed: the kubelet restarts it.
                    break;
                }
                if self.probe(index, &probe) {
                    self.mark_started(index);
                    return true;
                }
                if Instant::now() >= deadline {
                    let name = self.containers[index].name.clone();
                    self.shared
                        .event(format!("startup probe failed {name}, restarting"));
                    self.stop_container(index, Duration::ZERO);
                    break;
                }
                if self.shared.pause(self.probe_interval) {
                    return false;
                }
            }
            if self.shared.pause(backoff) {
                return false;
            }
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
        }
    }

    fn run_to_completion(&mut self, index: usize) -> bool {
        let mut backoff = RESTART_BACKOFF;
        loop {
            if self.spawn(index) {
                loop {
                    if let Some(code) = self.reap(index) {
                        if code == 0 {
                            return true;
                        }
                        break;
                    }
                    if self.shared.pause(POLL) {
                        return false;
                    }
                }
            }
            if self.restart_policy == "Never" {
                self.shared.update(|s| s.phase = PodPhase::Failed);
                return false;
            }
            if self.shared.pause(backoff) {
                return false;
            }
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
        }
    }

    fn run_app_phase(&mut self) {
        let apps: Vec<usize> = (0..self.containers.len())
            .filter(|i| self.containers[*i].kind == ContainerKind::App)
            .collect();
        for &index in &apps {
            if self.spawn(index) {
                self.mark_started(index);
            }
        }
        self.shared.update(|s| s.phase = PodPhase::Running);
        let mut done: BTreeMap<usize, i32> = BTreeMap::new();
        let mut restart_at: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut backoff: BTreeMap<usize, Duration> = BTreeMap::new();
        loop {
            for index in 0..self.containers.len() {
                if done.contains_key(&index) {
                    continue;
                }
                if let Some(at) = restart_at.get(&index) {
                    if Instant::now() >= *at {
                        restart_at.remove(&index);
                        self.spawn(index);
                    }
                    continue;
                }
                let kind = self.containers[index].kind;
                if kind == ContainerKind::Init
                    || self.children[index].is_none() && kind == ContainerKind::Sidecar
                {
                    continue;
                }
                let Some(code) = self.reap_or_missing(index) else {
                    continue;
                };
                let restart = match kind {
                    ContainerKind::Sidecar => true,
                    _ => match self.restart_policy.as_str() {
                        "Never" => false,
                        "OnFailure" => code != 0,
                        _ => true,
                    },
                };
                if restart {
                    let delay = backoff.entry(index).or_insert(RESTART_BACKOFF);
                    restart_at.insert(index, Instant::now() + *delay);
                    *delay = (*delay * 2).min(MAX_RESTART_BACKOFF);
                } else {
                    done.insert(index, code);
                }
            }
            if apps.iter().all(|i| done.contains_key(i)) {
                // Every app container is finished for good: the Job is done. The kubelet then
                // stops native sidecars (reverse order) and the pod reaches a final phase.
                let succeeded = apps.iter().all(|i| done[i] == 0);
                self.terminate_sidecars(false);
                self.shared.update(|s| {
                    s.phase = if succeeded {
                        PodPhase::Succeeded
                    } else {
                        PodPhase::Failed
                    }
                });
                // Stay until delete so the test can look at the result.
                while !self.shared.pause(Duration::from_secs(3600)) {}
                return;
            }
            if self.shared.pause(POLL) {
                return;
            }
        }
    }

    fn mark_started(&self, index: usize) {
        let name = self.containers[index].name.clone();
        self.shared.update(|s| {
            s.containers[index].started = true;
            s.events.push(format!("ready {name}"));
        });
    }

    /// Starts a container's process; false (with an event) when it cannot start.
    fn spawn(&mut self, index: usize) -> bool {
        let plan = &self.containers[index];
        let log_path = self.logs.join(format!("{}.log", plan.name));
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
        {
            Ok(log) => log,
            Err(e) => {
                self.shared
                    .event(format!("failed {}: log file: {e}", plan.name));
                return false;
            }
        };
        if let Some(error) = &plan.start_error {
            self.shared.event(format!("failed {}: {error}", plan.name));
            return false;
        }
        let runc_binary = match runtime::runc() {
            Ok(path) => path,
            Err(e) => {
                self.shared.event(format!("failed {}: {e}", plan.name));
                return false;
            }
        };
        // A container left by a runc that was killed would block the id.
        self.runc.delete(&plan.id);
        let mut command = procs::server_command(runc_binary, "KILL", None);
        command
            .args(
                self.runc
                    .run_args(&plan.bundle, &plan.id, &plan.bundle.join("pid")),
            )
            .stdin(Stdio::null());
        match log.try_clone() {
            Ok(out) => {
                command.stdout(out).stderr(log);
            }
            Err(_) => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let pid_file = plan.bundle.join("pid");
        let _ = std::fs::remove_file(&pid_file);
        match procs::spawn_server(command) {
            Ok(child) => {
                // The container's own pid (runc writes it once the container exists); the
                // runc process's pid if it does not appear.
                let pid = crate::wait_for("the container pid", Duration::from_secs(5), || {
                    std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
                })
                .unwrap_or(child.id());
                let name = plan.name.clone();
                let restarted = self.children[index].is_some()
                    || !self.shared.snapshot().containers[index]
                        .exit_codes
                        .is_empty();
                self.children[index] = Some(child);
                self.shared.update(|s| {
                    let c = &mut s.containers[index];
                    if restarted {
                        c.restarts += 1;
                    }
                    c.state = ContainerState::Running { pid };
                    s.events.push(format!("started {name}"));
                });
                true
            }
            Err(e) => {
                let name = plan.name.clone();
                self.shared
                    .event(format!("failed {name}: cannot start runc: {e}"));
                false
            }
        }
    }

    /// Exit code if the container's process has exited (recorded once).
    fn reap(&mut self, index: usize) -> Option<i32> {
        let child = self.children[index].as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        self.children[index] = None;
        let code = exit_code(status);
        let name = self.containers[index].name.clone();
        self.shared.update(|s| {
            let c = &mut s.containers[index];
            c.state = ContainerState::Terminated { exit_code: code };
            c.exit_codes.push(code);
            s.events.push(format!("exited {name} code={code}"));
        });
        Some(code)
    }

    /// Like `reap`, treating a container that could not start as exit code 128.
    fn reap_or_missing(&mut self, index: usize) -> Option<i32> {
        if self.children[index].is_none() {
            return Some(128);
        }
        self.reap(index)
    }

    fn probe(&self, index: usize, probe: &Value) -> bool {
        let plan = &self.containers[index];
        let words = strings(&probe["exec"]["command"]);
        if words.is_empty() {
            return false;
        }
        let timeout = Duration::from_secs(probe["timeoutSeconds"].as_u64().unwrap_or(1).max(5));
        let Ok(mut command) = self.runc.exec(&plan.id, &words) else {
            return false;
        };
        let Ok(mut child) = command.spawn() else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn run_pre_stop(&self, index: usize) {
        let plan = &self.containers[index];
        let words = strings(&plan.pre_stop["exec"]["command"]);
        if words.is_empty() {
            return;
        }
        self.shared.event(format!("preStop {}", plan.name));
        match self.runc.exec(&plan.id, &words) {
            Ok(mut command) => {
                let _ = command.status();
            }
            Err(e) => self
                .shared
                .event(format!("preStop {} failed: {e}", plan.name)),
        }
    }

    /// `runc kill` of a container; a container that is already gone is not an error.
    fn signal(&self, index: usize, signal: &str) {
        let _ = self.runc.kill(&self.containers[index].id, signal);
    }

    /// SIGTERM (after preStop) to the given containers at once, SIGKILL after the grace period.
    fn stop_group(&mut self, group: &[usize], kill_now: bool) {
        let running: Vec<usize> = group
            .iter()
            .copied()
            .filter(|i| self.children[*i].is_some())
            .collect();
        for &index in &running {
            if self.reap(index).is_some() {
                continue;
            }
            let name = self.containers[index].name.clone();
            if kill_now {
                self.signal(index, "KILL");
                continue;
            }
            self.run_pre_stop(index);
            if self.children[index].is_some() {
                self.signal(index, "TERM");
                self.shared.event(format!("SIGTERM {name}"));
            }
        }
        let deadline = Instant::now()
            + if kill_now {
                Duration::from_secs(5)
            } else {
                self.grace
            };
        loop {
            let mut left = false;
            for &index in &running {
                if self.children[index].is_some() && self.reap(index).is_none() {
                    left = true;
                }
            }
            if !left {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for &index in &running {
            if self.children[index].is_some() {
                self.signal(index, "KILL");
                let name = self.containers[index].name.clone();
                self.shared.event(format!("SIGKILL {name}"));
            }
            self.reap_blocking(index);
        }
    }

    /// Waits for a container's runc to exit after SIGKILL (runc returns once the container's
    /// processes are gone); a runc that hangs is killed itself and the container deleted.
    fn reap_blocking(&mut self, index: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.children[index].is_some() && self.reap(index).is_none() {
            if Instant::now() >= deadline {
                if let Some(child) = self.children[index].as_mut() {
                    let _ = child.kill();
                    // std caches the status, so the `try_wait` in `reap` sees it.
                    let _ = child.wait();
                }
                self.runc.delete(&self.containers[index].id);
                self.reap(index);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_container(&mut self, index: usize, grace: Duration) {
        if self.children[index].is_some() {
            self.signal(index, "TERM");
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.reap(index).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.children[index].is_some() {
            self.signal(index, "KILL");
        }
        self.reap_blocking(index);
    }

    fn terminate_sidecars(&mut self, kill_now: bool) {
        let sidecars: Vec<usize> = (0..self.containers.len())
            .filter(|i| self.containers[*i].kind == ContainerKind::Sidecar)
            .rev()
            .collect();
        for index in sidecars {
            self.stop_group(&[index], kill_now);
        }
    }

    fn terminate_all(&mut self, kill_now: bool) {
        let others: Vec<usize> = (0..self.containers.len())
            .filter(|i| self.containers[*i].kind != ContainerKind::Sidecar)
            .collect();
        self.stop_group(&others, kill_now);
        self.terminate_sidecars(kill_now);
    }
}

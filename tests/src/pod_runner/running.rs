//! The handle on a running pod: its status, its containers' files and logs as they see them,
//! and deletion (graceful, or everything killed and cleaned up on drop).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tempfile::TempDir;

use super::container::Mounts;
use super::sandbox::Sandbox;
use super::status::{self, ContainerState, PodPhase, PodStatus};

/// A pod being run; dropping it kills whatever still runs (use [`RunningPod::delete`] for the
/// graceful path).
pub struct RunningPod {
    pub(super) shared: Arc<status::Shared>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
    /// Containers, relays, tmpfs mounts and runc state; dropped (cleaned up) before `root`.
    pub(super) sandbox: Option<Sandbox>,
    pub(super) root: TempDir,
    pub(super) mounts: BTreeMap<String, Mounts>,
}

impl RunningPod {
    /// The host path behind a container path (e.g. `/vault/secrets` of container `app`): in a
    /// volume, or in the container's root filesystem.
    pub fn host_path(&self, container: &str, path: &str) -> Option<PathBuf> {
        Some(self.mounts.get(container)?.host_path(path))
    }

    /// The host address relaying to `port` on the pod's loopback (see
    /// [`PodRunner::expose_ports`]).
    pub fn exposed(&self, port: u16) -> Option<std::net::SocketAddr> {
        self.sandbox.as_ref()?.exposed.get(&port).copied()
    }

    /// The pid (on the host) of a running container's main process.
    pub fn pid(&self, container: &str) -> Option<u32> {
        match self.status().container(container)?.state {
            ContainerState::Running { pid } => Some(pid),
            _ => None,
        }
    }

    /// Reads a file as container `container` sees it at `path`.
    pub fn read_file(&self, container: &str, path: &str) -> anyhow::Result<String> {
        let host = self
            .host_path(container, path)
            .with_context(|| format!("the pod has no container {container}"))?;
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
        self.sandbox.take();
    }
}

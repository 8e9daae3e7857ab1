//! What the kubelet loop publishes: pod phase, container states and events, shared with the
//! test through a mutex and a condition variable.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::container::ContainerKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Init containers (and native sidecars' startup probes) are in progress.
    Pending,
    /// Every app container has been started.
    Running,
    /// All app containers exited 0 and will not restart.
    Succeeded,
    /// An init container failed under `restartPolicy: Never`, or an app container failed for good.
    Failed,
}

impl PodPhase {
    pub fn is_finished(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Waiting,
    Running { pid: u32 },
    Terminated { exit_code: i32 },
}

#[derive(Debug, Clone)]
pub struct ContainerStatus {
    pub name: String,
    pub kind: ContainerKind,
    pub state: ContainerState,
    /// Startup probe passed (or none) — for app containers: has been started.
    pub started: bool,
    pub restarts: u32,
    /// Exit code of every run so far, in order.
    pub exit_codes: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct PodStatus {
    pub name: String,
    pub namespace: String,
    pub phase: PodPhase,
    /// `delete` was called and termination finished.
    pub deleted: bool,
    pub containers: Vec<ContainerStatus>,
    /// Kubelet actions in order, e.g. `started vault-agent`, `SIGTERM app`, `exited app code=0`.
    pub events: Vec<String>,
}

impl PodStatus {
    pub fn container(&self, name: &str) -> Option<&ContainerStatus> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Has this container ever been started?
    pub fn ever_started(&self, name: &str) -> bool {
        self.container(name)
            .is_some_and(|c| c.state != ContainerState::Waiting || !c.exit_codes.is_empty())
    }

    /// Index of the first event equal to `event`.
    pub fn event_index(&self, event: &str) -> Option<usize> {
        self.events.iter().position(|e| e == event)
    }
}

#[derive(Default)]
pub(super) struct Requests {
    delete: bool,
    kill: bool,
}

pub(super) struct Shared {
    pub(super) state: Mutex<(PodStatus, Requests)>,
    pub(super) changed: Condvar,
}

impl Shared {
    pub fn snapshot(&self) -> PodStatus {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    pub fn wait_until(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&PodStatus) -> bool,
    ) -> Option<PodStatus> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if predicate(&guard.0) {
                return Some(guard.0.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = self
                .changed
                .wait_timeout(guard, left.min(Duration::from_millis(200)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn request_delete(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .delete = true;
        self.changed.notify_all();
    }

    pub fn request_kill(&self) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.delete = true;
        guard.1.kill = true;
        drop(guard);
        self.changed.notify_all();
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut PodStatus)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()).0);
        self.changed.notify_all();
    }

    pub(super) fn event(&self, event: String) {
        self.update(|s| s.events.push(event));
    }

    pub(super) fn stop_requested(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .delete
    }

    pub(super) fn kill_requested(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1.kill
    }

    /// Sleeps up to `duration`; true when a stop was requested meanwhile.
    pub(super) fn pause(&self, duration: Duration) -> bool {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1.delete {
            return true;
        }
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, duration, |s| !s.1.delete)
            .unwrap_or_else(|e| e.into_inner());
        guard.1.delete
    }
}

//! The pod-level pieces every container shares, and their cleanup: the sandbox container
//! (`kagi-pod-sandbox` from the test-app image) whose namespaces the containers join, the
//! host ends of its loopback relays, the tmpfs mounts of memory-backed emptyDirs, and the
//! runc state. Dropping a [`Sandbox`] removes all of it, also when a test panics.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::runtime::Runc;
use crate::procs;
use crate::relay::{Listener, Relay, Target};

/// Where the sandbox sees the relay directory.
pub const RELAY_DIR: &str = "/kagi/relay";

/// tmpfs mounts on the host, unmounted on drop (lazily, so a busy mount never leaks).
#[derive(Debug, Default)]
pub struct HostMounts {
    mounted: Vec<PathBuf>,
}

impl HostMounts {
    /// Mounts a tmpfs of `size` bytes (unbounded when `None`) at `dir`, mode 0777 as the
    /// kubelet leaves an emptyDir.
    pub fn tmpfs(&mut self, dir: &Path, size: Option<u64>) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut options = "mode=0777".to_string();
        if let Some(size) = size {
            options.push_str(&format!(",size={size}"));
        }
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .output()
            .context("running mount")?;
        if !output.status.success() {
            bail!(
                "mounting a tmpfs at {}: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        self.mounted.push(dir.to_path_buf());
        Ok(())
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for dir in self.mounted.drain(..).rev() {
            let _ = Command::new("umount").arg("-l").arg(&dir).status();
        }
    }
}

/// Removes what a harness process that died without cleaning up left of its pods: runc
/// containers (in each pod's runc state) and mounts under its scratch directories.
pub fn clean_up_after_dead_runs() {
    for dir in procs::stale_scratch_dirs("kagi-pod-") {
        Runc {
            state: dir.join("runc"),
        }
        .delete_all();
        unmount_under(&dir);
    }
}

fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").arg("-l").arg(point).status();
    }
}

/// What starting a sandbox needs: its written bundle, and the relays to set up.
pub struct SandboxPlan<'a> {
    pub runc: Runc,
    pub id: &'a str,
    pub bundle: &'a Path,
    /// Host side of [`RELAY_DIR`] (0777: the sandbox, as 65532, creates sockets in it).
    pub relay_dir: &'a Path,
    pub host_ports: &'a [u16],
    pub exposed: &'a [u16],
    pub log: &'a Path,
}

/// Creates the relay directory, writable by the sandbox's user.
pub fn relay_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    Ok(())
}

/// The running sandbox of one pod and everything pod-level that must be cleaned up.
pub struct Sandbox {
    pub runc: Runc,
    pub id: String,
    pub pid: u32,
    child: Option<Child>,
    relays: Vec<Relay>,
    /// Pod port → host address that relays to it.
    pub exposed: BTreeMap<u16, SocketAddr>,
    /// Held for its `Drop`, which runs last: containers and relays are gone by then.
    _mounts: HostMounts,
}

impl Sandbox {
    /// The sandbox's arguments: `--forward` for each host port the pod may reach, `--expose`
    /// for each pod port the test reaches.
    pub fn args(host_ports: &[u16], exposed: &[u16]) -> Vec<String> {
        let forward = host_ports.iter().flat_map(|port| {
            [
                "--forward".to_string(),
                format!("{port}={RELAY_DIR}/to-host-{port}.sock"),
            ]
        });
        let expose = exposed.iter().flat_map(|port| {
            [
                "--expose".to_string(),
                format!("{port}={RELAY_DIR}/to-pod-{port}.sock"),
            ]
        });
        forward.chain(expose).collect()
    }

    /// Starts the sandbox container from its written bundle and waits until it has its
    /// namespaces and listeners (it prints `sandbox ready`).
    pub fn start(plan: SandboxPlan<'_>, mounts: HostMounts) -> anyhow::Result<Sandbox> {
        let SandboxPlan {
            runc,
            id,
            bundle,
            relay_dir,
            host_ports,
            exposed,
            log,
        } = plan;
        let mut relays = Vec::new();
        for port in host_ports {
            let socket = relay_dir.join(format!("to-host-{port}.sock"));
            let listener =
                Listener::unix(&socket).with_context(|| format!("binding {}", socket.display()))?;
            relays.push(Relay::start(listener, Target::Loopback(*port))?);
        }
        let mut exposed_addrs = BTreeMap::new();
        for port in exposed {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            exposed_addrs.insert(*port, listener.local_addr()?);
            let socket = relay_dir.join(format!("to-pod-{port}.sock"));
            relays.push(Relay::start(
                Listener::Tcp(listener),
                Target::Socket(socket),
            )?);
        }
        let pid_file = bundle.join("pid");
        let log_file = std::fs::File::create(log)?;
        let mut command = procs::server_command(super::runtime::runc()?, "KILL", None);
        command
            .args(runc.run_args(bundle, id, &pid_file))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = procs::spawn_server(command).context("starting the pod sandbox under runc")?;
        let mut sandbox = Sandbox {
            runc,
            id: id.to_string(),
            pid: 0,
            child: Some(child),
            relays,
            exposed: exposed_addrs,
            _mounts: mounts,
        };
        // runc writes the pid file once the process runs, not necessarily before it prints.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = std::fs::read_to_string(log).unwrap_or_default();
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok());
            if let Some(pid) = pid.filter(|_| ready.contains("sandbox ready")) {
                sandbox.pid = pid;
                break;
            }
            let exited = sandbox
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                bail!("the pod sandbox did not start under runc: {ready}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(sandbox)
    }

    /// `/proc/<sandbox>/ns/<kind>`: what the pod's containers join.
    pub fn namespace(&self, kind: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{kind}", self.pid))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.runc.kill(&self.id, "KILL");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.runc.delete_all();
        self.relays.clear();
    }
}

//! The pod-level pieces every container shares, and their cleanup: the sandbox container
//! (`kagi-pod-sandbox` from the test-app image) whose namespaces the containers join, the
//! host ends of its loopback relays, the tmpfs mounts of memory-backed emptyDirs, and the
//! runc state. Dropping a [`Sandbox`] removes all of it, also when a test panics.

use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::runtime::Runc;
use crate::procs;

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

/// Host side of one relayed port: accepts on a Unix socket the sandbox connects to and
/// relays each connection to the host's 127.0.0.1:PORT.
struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Relay {
    fn start(socket: &Path, port: u16) -> anyhow::Result<Relay> {
        let listener = UnixListener::bind(socket)
            .with_context(|| format!("binding {}", socket.display()))?;
        // The sandbox runs as the non-root user.
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name(format!("kagi-pod-relay-{port}"))
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((unix, _)) => {
                            thread::spawn(move || relay(unix, port));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            })?;
        Ok(Relay {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn relay(unix: UnixStream, port: u16) {
    let _ = unix.set_nonblocking(false);
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        let _ = unix.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut unix_in), Ok(mut tcp_in)) = (unix.try_clone(), tcp.try_clone()) else {
        return;
    };
    let (mut unix_out, mut tcp_out) = (unix, tcp);
    let upstream = thread::spawn(move || {
        let _ = std::io::copy(&mut unix_in, &mut tcp_out);
        let _ = tcp_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut tcp_in, &mut unix_out);
    let _ = unix_out.shutdown(Shutdown::Write);
    let _ = upstream.join();
}

/// The running sandbox of one pod and everything pod-level that must be cleaned up.
pub struct Sandbox {
    pub runc: Runc,
    pub id: String,
    pub pid: u32,
    child: Option<Child>,
    relays: Vec<Relay>,
    /// Held for its `Drop`, which runs last: containers and relays are gone by then.
    _mounts: HostMounts,
}

impl Sandbox {
    /// The sandbox's arguments: one `--forward` per relayed port, sockets in `/kagi/relay`.
    pub fn args(ports: &[u16]) -> Vec<String> {
        ports
            .iter()
            .flat_map(|port| ["--forward".to_string(), format!("{port}=/kagi/relay/{port}.sock")])
            .collect()
    }

    /// Starts the sandbox container from its written bundle and waits until it has its
    /// namespaces and listeners (it prints `sandbox ready`).
    pub fn start(
        runc: Runc,
        id: &str,
        bundle: &Path,
        socket_dir: &Path,
        ports: &[u16],
        log: &Path,
        mounts: HostMounts,
    ) -> anyhow::Result<Sandbox> {
        std::fs::create_dir_all(socket_dir)?;
        std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o755))?;
        let mut relays = Vec::new();
        for port in ports {
            relays.push(Relay::start(&socket_dir.join(format!("{port}.sock")), *port)?);
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

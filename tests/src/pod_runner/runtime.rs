//! runc, driven as a command the way containerd drives it under the kubelet: one OCI bundle
//! (`config.json` from `oci-spec` types + an unpacked image as rootfs) per container, `runc
//! run` in the foreground (its exit status is the container's), `runc exec` for probes and
//! hooks, `runc kill` for signals, `runc delete --force` to clean up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use oci_spec::runtime::{
    Arch, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder,
    Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, UserBuilder, get_default_mounts,
};

use super::security::{Seccomp, Security};

/// A path on the host bound into a container.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub destination: String,
    pub source: PathBuf,
    pub read_only: bool,
}

/// Which namespace to join (path of a running process's namespace) or create (`None`).
pub type Namespaces = Vec<(LinuxNamespaceType, Option<PathBuf>)>;

/// Everything runc needs for one container.
pub struct ContainerConfig {
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub security: Security,
    pub mounts: Vec<BindMount>,
    pub namespaces: Namespaces,
    /// Only for a container that creates its own UTS namespace (the sandbox).
    pub hostname: Option<String>,
    /// cgroup path (unique per container, so pods never share one).
    pub cgroup: String,
}

/// Syscalls the runner's `RuntimeDefault` profile refuses with EPERM: kernel modules and
/// kexec, mounting and namespace changes, tracing other processes, keyrings, clock and swap
/// control, BPF and perf. A deny list rather than containerd's allow list (which is hundreds of
/// names tied to a libseccomp version); it blocks what a container escape or a compromised
/// agent would reach for, and the tests show the agent runs under it.
pub const RUNTIME_DEFAULT_DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
];

fn runtime_default_seccomp() -> anyhow::Result<LinuxSeccomp> {
    Ok(LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ])
        .syscalls(vec![
            LinuxSyscallBuilder::default()
                .names(
                    RUNTIME_DEFAULT_DENIED
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                )
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(1u32) // EPERM
                .build()?,
        ])
        .build()?)
}

/// The runc `config.json` for a container.
pub fn spec(config: &ContainerConfig) -> anyhow::Result<Spec> {
    let capabilities = config
        .security
        .capabilities
        .iter()
        .map(|name| {
            Capability::from_str(name)
                .map_err(|_| anyhow::anyhow!("capability {name:?} is not a Linux capability name"))
        })
        .collect::<anyhow::Result<std::collections::HashSet<_>>>()?;
    let process = ProcessBuilder::default()
        .args(config.args.clone())
        .env(config.env.clone())
        .cwd(config.cwd.clone())
        .user(
            UserBuilder::default()
                .uid(config.security.uid)
                .gid(config.security.gid)
                .additional_gids(config.security.additional_gids.clone())
                .build()?,
        )
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(capabilities.clone())
                .effective(capabilities.clone())
                .permitted(capabilities)
                .inheritable(oci_spec::runtime::Capabilities::new())
                .ambient(oci_spec::runtime::Capabilities::new())
                .build()?,
        )
        .no_new_privileges(config.security.no_new_privileges)
        // No rlimits of its own: the container inherits runc's, as under containerd.
        .rlimits(Vec::new())
        .build()?;
    let mut mounts: Vec<Mount> = get_default_mounts();
    for bind in &config.mounts {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if bind.read_only {
            options.push("ro".to_string());
        }
        mounts.push(
            MountBuilder::default()
                .destination(&bind.destination)
                .typ("bind")
                .source(&bind.source)
                .options(options)
                .build()?,
        );
    }
    let namespaces = config
        .namespaces
        .iter()
        .map(|(typ, path)| {
            let mut ns = LinuxNamespaceBuilder::default().typ(*typ);
            if let Some(path) = path {
                ns = ns.path(path.clone());
            }
            ns.build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&config.cgroup));
    if config.security.seccomp == Seccomp::RuntimeDefault {
        linux = linux.seccomp(runtime_default_seccomp()?);
    }
    let default_linux = oci_spec::runtime::Linux::default();
    let linux = linux
        .masked_paths(default_linux.masked_paths().clone().unwrap_or_default())
        .readonly_paths(default_linux.readonly_paths().clone().unwrap_or_default())
        .build()?;
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(&config.rootfs)
            .readonly(config.security.read_only_root)
            .build()?,
    ));
    spec.set_hostname(config.hostname.clone());
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The `runc` binary, checked once to run here (as root: the runner creates namespaces, mounts
/// and cgroups). The error says what is missing and names `make test-deps`.
pub fn runc() -> anyhow::Result<&'static Path> {
    static RUNC: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    RUNC.get_or_init(|| {
        let path = crate::procs::which("runc").ok_or_else(|| {
            "runc is not installed: the pod runner runs containers under runc \
             (`make test-deps` installs it)"
                .to_string()
        })?;
        let output = Command::new(&path)
            .arg("--version")
            .output()
            .map_err(|e| format!("runc cannot run ({}): {e}", path.display()))?;
        if !output.status.success() {
            return Err(format!(
                "runc cannot run: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"));
        if !root {
            return Err(
                "runc cannot run containers here: the pod runner needs root \
                        (namespaces, mounts, cgroups)"
                    .to_string(),
            );
        }
        Ok(path)
    })
    .as_deref()
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// runc with its state directory (one per pod, so a sweep can find leftovers).
#[derive(Debug, Clone)]
pub struct Runc {
    pub state: PathBuf,
}

impl Runc {
    fn command(&self) -> anyhow::Result<Command> {
        let mut command = Command::new(runc()?);
        command.arg("--root").arg(&self.state);
        Ok(command)
    }

    /// Writes `bundle/config.json`.
    pub fn write_bundle(&self, bundle: &Path, config: &ContainerConfig) -> anyhow::Result<()> {
        std::fs::create_dir_all(bundle)?;
        spec(config)?
            .save(bundle.join("config.json"))
            .with_context(|| format!("writing {}/config.json", bundle.display()))
    }

    /// Arguments of `runc run` in the foreground (its exit status is the container's), for a
    /// command that starts `runc` itself.
    pub fn run_args(&self, bundle: &Path, id: &str, pid_file: &Path) -> Vec<OsString> {
        vec![
            "--root".into(),
            self.state.clone().into(),
            "run".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
            pid_file.into(),
            id.into(),
        ]
    }

    /// `runc exec` of `args` in the container, with its user, env and privileges (what the
    /// kubelet does for exec probes and hooks); output discarded.
    pub fn exec(&self, id: &str, args: &[String]) -> anyhow::Result<Command> {
        let mut command = self.command()?;
        command
            .arg("exec")
            .arg(id)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(command)
    }

    /// `runc kill ID SIGNAL` (`TERM`, `KILL`).
    pub fn kill(&self, id: &str, signal: &str) -> anyhow::Result<()> {
        let output = self.command()?.args(["kill", id, signal]).output()?;
        if !output.status.success() {
            bail!(
                "runc kill {id} {signal}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// `runc delete --force ID` (nothing when there is no such container).
    pub fn delete(&self, id: &str) {
        if let Ok(mut command) = self.command() {
            let _ = command
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// `runc delete --force` of every container in this state directory.
    pub fn delete_all(&self) {
        let Ok(entries) = std::fs::read_dir(&self.state) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if let Ok(mut command) = self.command() {
                let _ = command
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

//! Process plumbing shared by the harness: free ports, long-lived server processes that die
//! with the test binary, and small polling helpers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago (the listener is dropped before returning).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 must work on a test machine")
}

/// Set in every process the harness starts (servers and pod containers) to the harness's pid,
/// so a check can find leftovers of a given run in `/proc/*/environ`.
pub const OWNER_ENV: &str = "KAGI_HARNESS_OWNER";

/// Command lines of live processes started by the harness process `owner`.
pub fn processes_owned_by(owner: u32) -> Vec<String> {
    let marker = format!("{OWNER_ENV}={owner}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
                .unwrap_or(false)
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns server processes from one thread that lives as long as the test binary.
///
/// Servers are started under `setpriv --pdeathsig`, so the kernel kills them when their parent
/// goes away even if no destructor runs (a test binary killed by Ctrl-C, servers kept in a
/// `static`). The parent-death signal fires when the *thread* that forked exits, which is why
/// every fork happens on this one immortal thread and never on a short-lived test thread.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("kagi-tests-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawning the harness spawner thread");
        Mutex::new(tx)
    })
}

/// Builds a command that runs `program` with a parent-death signal, optionally as another user
/// (`setpriv` execs in place, so the pid is the server's own pid).
pub(crate) fn server_command(program: &Path, death_signal: &str, user: Option<&str>) -> Command {
    let mut command = Command::new("setpriv");
    command.arg(format!("--pdeathsig={death_signal}"));
    if let Some(user) = user {
        command.args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
        ]);
    }
    command.arg("--").arg(program);
    command.env(OWNER_ENV, std::process::id().to_string());
    // Own process group: a Ctrl-C in the terminal reaches only the harness (or demo), which
    // then stops its servers in order instead of having them all die at once.
    command.process_group(0);
    command
}

/// Spawns a long-lived server process (see [`spawner`]).
pub(crate) fn spawn_server(command: Command) -> std::io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, tx))
        .map_err(|_| std::io::Error::other("harness spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("harness spawner thread is gone"))?
}

/// Sends a signal by name (`TERM`, `INT`, `KILL`) to a process, through `kill(1)` because the
/// crate forbids `unsafe`.
pub fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

/// Stops a child: SIGTERM, then SIGKILL if it has not exited within `grace`.
pub(crate) fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = signal(child.id(), "TERM");
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls `check` every 50 ms until it returns `Some`, or fails with `what` after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A plain-HTTP GET on loopback, returning the status code (enough for health checks).
pub(crate) fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `max` bytes of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_string()
}

/// Finds an executable on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

const OWNER_FILE: &str = ".kagi-harness-owner";

/// This process's identity as `pid:starttime` (the start time guards against pid reuse).
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime), counted after the parenthesised command name.
    let after_name = stat.rsplit_once(')')?.1;
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

/// A temp directory `<tmp>/<prefix>XXXX` marked with its owner process. Directories of
/// harness processes that died without cleaning up (servers kept in a `static` are never
/// dropped; Ctrl-C) are removed here, so repeated test runs do not fill `/tmp`.
pub fn scratch_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    sweep_stale_dirs();
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    if let Some(me) = process_identity(std::process::id()) {
        std::fs::write(dir.path().join(OWNER_FILE), me)?;
    }
    Ok(dir)
}

fn sweep_stale_dirs() {
    for dir in stale_scratch_dirs("kagi-") {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Scratch directories `<tmp>/<prefix>*` whose owner process is gone.
pub(crate) fn stale_scratch_dirs(prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        let alive = owner
            .split(':')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
            .and_then(process_identity)
            .is_some_and(|now| now == owner.trim());
        if !alive {
            stale.push(entry.path());
        }
    }
    stale
}

/// Runs `command` to completion with `input` on its stdin, collecting stdout and stderr.
pub fn output_with_stdin(
    command: &mut Command,
    input: &[u8],
) -> std::io::Result<std::process::Output> {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // A child that exits without reading its input is reported by its status, not here.
    let _ = child.stdin.take().expect("stdin is piped").write_all(input);
    child.wait_with_output()
}

//! `kagi-agent signal --signal SIGNAL (--process NAME | --pid-file FILE)`: signals a process in
//! the PID namespace the agent shares with the app (`shareProcessNamespace: true`), so a
//! template `exec` can reload an app without a shell (`kill -HUP $(pidof nginx)` needs one).
//!
//! A process matches NAME when its `/proc/<pid>/comm`, the basename of `/proc/<pid>/exe` or the
//! basename of its `argv[0]` is NAME. The agent itself never matches; every other match is
//! signalled, as `pidof` + `kill` would.

use std::path::{Path, PathBuf};

use rustix::process::{Pid, Signal, kill_process};

pub const USAGE: &str = "usage: kagi-agent signal --signal SIGNAL (--process NAME | --pid-file FILE)\n\nSIGNAL is a name (SIGHUP, HUP, hup) or a number (1).";

/// What to signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every process whose command name or executable is this name.
    Process(String),
    /// The pid written in this file.
    PidFile(PathBuf),
}

/// A parsed `kagi-agent signal` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRequest {
    pub signal: Signal,
    pub target: Target,
}

/// Why `kagi-agent signal` did not signal anything.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("--signal {0:?} is not a signal: use a name such as SIGHUP, HUP or a number 1-31")]
    UnknownSignal(String),
    #[error("no process named {0:?} found in this PID namespace (is shareProcessNamespace set?)")]
    NoProcess(String),
    #[error("cannot read pid file {path}: {source}")]
    PidFileRead {
        path: String,
        source: std::io::Error,
    },
    #[error("pid file {path} does not hold a process id (found {found:?})")]
    PidFileContent { path: String, found: String },
    #[error("cannot list processes in /proc: {0}")]
    Proc(std::io::Error),
    #[error("cannot send {signal} to pid {pid}: {source}{hint}")]
    Kill {
        signal: String,
        pid: i32,
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("the process named by pid file {path} is not running")]
    NotRunning { path: String },
}

/// Signal names as `kill -l` prints them (without `SIG`), with their numbers.
const NAMES: &[(&str, Signal)] = &[
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("ILL", Signal::ILL),
    ("TRAP", Signal::TRAP),
    ("ABRT", Signal::ABORT),
    ("IOT", Signal::ABORT),
    ("BUS", Signal::BUS),
    ("FPE", Signal::FPE),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("SEGV", Signal::SEGV),
    ("USR2", Signal::USR2),
    ("PIPE", Signal::PIPE),
    ("ALRM", Signal::ALARM),
    ("TERM", Signal::TERM),
    ("STKFLT", Signal::STKFLT),
    ("CHLD", Signal::CHILD),
    ("CONT", Signal::CONT),
    ("STOP", Signal::STOP),
    ("TSTP", Signal::TSTP),
    ("TTIN", Signal::TTIN),
    ("TTOU", Signal::TTOU),
    ("URG", Signal::URG),
    ("XCPU", Signal::XCPU),
    ("XFSZ", Signal::XFSZ),
    ("VTALRM", Signal::VTALARM),
    ("PROF", Signal::PROF),
    ("WINCH", Signal::WINCH),
    ("IO", Signal::IO),
    ("POLL", Signal::IO),
    ("PWR", Signal::POWER),
    ("SYS", Signal::SYS),
];

/// Parses `SIGHUP`, `HUP`, `sighup` or `1`.
pub fn parse_signal(text: &str) -> Result<Signal, SignalError> {
    let unknown = || SignalError::UnknownSignal(text.to_owned());
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return Signal::from_named_raw(number).ok_or_else(unknown);
    }
    let upper = trimmed.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .find(|(name, _)| *name == bare)
        .map(|(_, signal)| *signal)
        .ok_or_else(unknown)
}

/// The conventional name of `signal` (`SIGHUP`), for messages.
pub fn signal_name(signal: Signal) -> String {
    NAMES
        .iter()
        .find(|(_, s)| *s == signal)
        .map(|(name, _)| format!("SIG{name}"))
        .unwrap_or_else(|| format!("signal {}", signal.as_raw()))
}

/// Parses the arguments after `signal` (GNU `--flag value`, `--flag=value`, or Go `-flag`).
pub fn parse_args(args: &[String]) -> Result<SignalRequest, SignalError> {
    let mut signal = None;
    let mut target = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if !arg.starts_with('-') {
            return Err(SignalError::Usage(format!("unexpected argument {arg:?}")));
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        let mut value = || match inline.clone() {
            Some(v) => Ok(v),
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| SignalError::Usage(format!("--{name} needs a value")))
            }
        };
        let new_target = match name {
            "signal" | "s" => {
                signal = Some(parse_signal(&value()?)?);
                None
            }
            "process" | "p" => Some(Target::Process(value()?)),
            "pid-file" => Some(Target::PidFile(PathBuf::from(value()?))),
            other => return Err(SignalError::Usage(format!("unknown flag --{other}"))),
        };
        if let Some(t) = new_target {
            if target.is_some() {
                return Err(SignalError::Usage(
                    "give one of --process or --pid-file, not both".into(),
                ));
            }
            target = Some(t);
        }
        i += 1;
    }
    let signal = signal.ok_or_else(|| SignalError::Usage("--signal is required".into()))?;
    let target = target
        .ok_or_else(|| SignalError::Usage("one of --process or --pid-file is required".into()))?;
    if matches!(&target, Target::Process(name) if name.is_empty() || name.contains('/')) {
        return Err(SignalError::Usage(
            "--process takes a command name such as nginx (no path)".into(),
        ));
    }
    Ok(SignalRequest { signal, target })
}

/// What `/proc/<pid>` says a process is called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessNames {
    /// `/proc/<pid>/comm`: the kernel's command name, cut to 15 bytes.
    pub comm: String,
    /// Basename of the `/proc/<pid>/exe` link (unreadable for another user's process).
    pub exe: Option<String>,
    /// Basename of `argv[0]` from `/proc/<pid>/cmdline`.
    pub argv0: Option<String>,
}

impl ProcessNames {
    /// Whether this process is the one called `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.comm == name
            || self.exe.as_deref() == Some(name)
            || self.argv0.as_deref() == Some(name)
    }
}

fn basename(path: &str) -> Option<String> {
    let base = path.rsplit('/').next().unwrap_or(path);
    (!base.is_empty()).then(|| base.to_owned())
}

/// Reads the names of process `pid` under `proc_root` (normally `/proc`); `None` when it is gone.
pub fn process_names(proc_root: &Path, pid: i32) -> Option<ProcessNames> {
    let dir = proc_root.join(pid.to_string());
    let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
    let exe = std::fs::read_link(dir.join("exe")).ok().and_then(|target| {
        let target = target.to_string_lossy();
        // A replaced binary reads as "/usr/sbin/nginx (deleted)".
        basename(target.strip_suffix(" (deleted)").unwrap_or(&target))
    });
    let argv0 = std::fs::read(dir.join("cmdline")).ok().and_then(|cmdline| {
        let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        basename(&String::from_utf8_lossy(first))
    });
    Some(ProcessNames {
        comm: comm.trim_end_matches('\n').to_owned(),
        exe,
        argv0,
    })
}

/// Every process under `proc_root` called `name`, except `own_pid`, in pid order.
pub fn find_processes(proc_root: &Path, name: &str, own_pid: i32) -> std::io::Result<Vec<i32>> {
    let mut pids: Vec<i32> = std::fs::read_dir(proc_root)?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != own_pid)
        .filter(|pid| process_names(proc_root, *pid).is_some_and(|names| names.matches(name)))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

fn read_pid_file(path: &Path) -> Result<i32, SignalError> {
    let text = std::fs::read_to_string(path).map_err(|source| SignalError::PidFileRead {
        path: path.display().to_string(),
        source,
    })?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| SignalError::PidFileContent {
            path: path.display().to_string(),
            found: text.trim().chars().take(40).collect(),
        })
}

/// Sends the signal; returns the pids signalled (at least one).
pub fn run(request: &SignalRequest) -> Result<Vec<i32>, SignalError> {
    let pids = match &request.target {
        Target::PidFile(path) => vec![read_pid_file(path)?],
        Target::Process(name) => {
            let own = rustix::process::getpid().as_raw_nonzero().get();
            let found = find_processes(Path::new("/proc"), name, own).map_err(SignalError::Proc)?;
            if found.is_empty() {
                return Err(SignalError::NoProcess(name.clone()));
            }
            found
        }
    };
    let mut signalled = Vec::new();
    let mut first_error = None;
    for pid in pids {
        let Some(target) = Pid::from_raw(pid) else {
            continue;
        };
        match kill_process(target, request.signal) {
            Ok(()) => signalled.push(pid),
            // A match that exited meanwhile is not worth failing for; others still count.
            Err(rustix::io::Errno::SRCH) => {}
            Err(errno) => {
                first_error.get_or_insert(SignalError::Kill {
                    signal: signal_name(request.signal),
                    pid,
                    hint: if errno == rustix::io::Errno::PERM {
                        " (the agent needs the app's user id, or the CAP_KILL capability)"
                    } else {
                        ""
                    },
                    source: errno.into(),
                });
            }
        }
    }
    match (first_error, &request.target) {
        (Some(err), _) => Err(err),
        (None, _) if !signalled.is_empty() => Ok(signalled),
        (None, Target::Process(name)) => Err(SignalError::NoProcess(name.clone())),
        (None, Target::PidFile(path)) => Err(SignalError::NotRunning {
            path: path.display().to_string(),
        }),
    }
}

/// Whether `argv` runs this agent's own `signal` subcommand (its failures do not fail a render).
pub fn is_signal_command(argv: &[String]) -> bool {
    let [program, sub, ..] = argv else {
        return false;
    };
    let program = Path::new(program);
    sub == "signal"
        && (program.file_name() == Some(std::ffi::OsStr::new("kagi-agent"))
            || std::env::current_exe().is_ok_and(|own| {
                own == program || std::fs::canonicalize(program).is_ok_and(|p| p == own)
            }))
}

/// `kagi-agent signal ARGS`: exit 0 when something was signalled, 1 when nothing was, 2 on a
/// bad command line.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let request = match parse_args(args) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("kagi-agent signal: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&request) {
        Ok(pids) => {
            let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
            eprintln!(
                "kagi-agent signal: sent {} to pid {}",
                signal_name(request.signal),
                pids.join(", ")
            );
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("kagi-agent signal: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn signal_names_numbers_and_prefixes() {
        for text in ["SIGHUP", "HUP", "hup", "sighup", "1", " SIGHUP "] {
            assert_eq!(parse_signal(text).unwrap(), Signal::HUP, "{text}");
        }
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::USR1);
        assert_eq!(parse_signal("15").unwrap(), Signal::TERM);
        assert_eq!(parse_signal("winch").unwrap(), Signal::WINCH);
        for bad in ["", "SIG", "SIGFOO", "0", "-1", "99", "HUP1"] {
            let err = parse_signal(bad).unwrap_err();
            assert!(err.to_string().contains("is not a signal"), "{bad}: {err}");
        }
        assert_eq!(signal_name(Signal::HUP), "SIGHUP");
    }

    #[test]
    fn flags_in_gnu_and_go_style() {
        let want = SignalRequest {
            signal: Signal::HUP,
            target: Target::Process("nginx".into()),
        };
        for form in [
            args(&["--signal", "SIGHUP", "--process", "nginx"]),
            args(&["--signal=HUP", "--process=nginx"]),
            args(&["-signal", "1", "-process", "nginx"]),
        ] {
            assert_eq!(parse_args(&form).unwrap(), want);
        }
        assert_eq!(
            parse_args(&args(&[
                "--signal",
                "SIGTERM",
                "--pid-file",
                "/run/app.pid"
            ]))
            .unwrap()
            .target,
            Target::PidFile("/run/app.pid".into())
        );
        for bad in [
            args(&["--process", "nginx"]),
            args(&["--signal", "HUP"]),
            args(&["--signal", "HUP", "--process", "a", "--pid-file", "/p"]),
            args(&["--signal", "HUP", "--process"]),
            args(&["--signal", "HUP", "--process", "/usr/sbin/nginx"]),
            args(&["--signal", "HUP", "nginx"]),
            args(&["--bogus"]),
        ] {
            assert!(parse_args(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_match_comm_exe_or_argv0() {
        let nginx = ProcessNames {
            comm: "nginx".into(),
            exe: None,
            argv0: Some("nginx: worker process".into()),
        };
        assert!(nginx.matches("nginx"));
        assert!(!nginx.matches("ngin"));
        // comm is cut to 15 bytes; the executable's name is whole.
        let long = ProcessNames {
            comm: "my-long-server-".into(),
            exe: Some("my-long-server-name".into()),
            argv0: Some("my-long-server-name".into()),
        };
        assert!(long.matches("my-long-server-name"));
        let script = ProcessNames {
            comm: "python3".into(),
            exe: Some("python3.12".into()),
            argv0: Some("python3".into()),
        };
        assert!(script.matches("python3"));
        assert!(!script.matches("app.py"));
    }

    /// A fake `/proc` with three processes; the caller's own pid is never a match.
    #[test]
    fn finds_every_match_but_itself() {
        let root = tempfile::tempdir().unwrap();
        let fake = |pid: i32, comm: &str, cmdline: &[u8]| {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            std::fs::write(dir.join("cmdline"), cmdline).unwrap();
        };
        fake(7, "nginx", b"nginx: master process\0");
        fake(9, "nginx", b"nginx: worker process\0");
        fake(12, "sh", b"/usr/local/bin/nginx\0-g\0daemon off;\0");
        fake(30, "kagi-agent", b"/kagi-agent\0signal\0");
        std::fs::create_dir(root.path().join("self")).unwrap();
        assert_eq!(
            find_processes(root.path(), "nginx", 30).unwrap(),
            vec![7, 9, 12]
        );
        assert_eq!(
            find_processes(root.path(), "nginx", 9).unwrap(),
            vec![7, 12]
        );
        assert!(
            find_processes(root.path(), "kagi-agent", 30)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn pid_files_must_hold_a_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pid");
        std::fs::write(&path, "4242\n").unwrap();
        assert_eq!(read_pid_file(&path).unwrap(), 4242);
        std::fs::write(&path, "nginx").unwrap();
        assert!(matches!(
            read_pid_file(&path),
            Err(SignalError::PidFileContent { .. })
        ));
        assert!(matches!(
            read_pid_file(&dir.path().join("missing")),
            Err(SignalError::PidFileRead { .. })
        ));
    }

    #[test]
    fn the_agents_own_signal_subcommand_is_recognised() {
        assert!(is_signal_command(&args(&[
            "/kagi-agent",
            "signal",
            "--signal",
            "HUP"
        ])));
        assert!(is_signal_command(&args(&["kagi-agent", "signal"])));
        assert!(!is_signal_command(&args(&["/kagi-agent", "run"])));
        assert!(!is_signal_command(&args(&["kill", "signal"])));
        assert!(!is_signal_command(&args(&["kagi-agent"])));
    }
}

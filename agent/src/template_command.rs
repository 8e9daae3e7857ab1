//! Template commands (`exec { command, timeout }`): how they start, and how they end.
//!
//! Measured against `bao agent` 2.7.2 (consul-template inside): a command given as one string,
//! or as a one-element list, whose text holds more than one word runs as `sh -c TEXT` in a
//! process group of its own, and a timeout SIGKILLs that whole group. Any other list (and a
//! single word) runs directly, and a timeout SIGKILLs that process alone. A zero timeout starts
//! the command without waiting for it. The agent's environment is passed on.
//!
//! kagi images have no shell: a multi-word string that uses no shell syntax then runs as its
//! words, which is what a shell would have run; one that needs a shell is a clear error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Command;

/// How a command will be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Program and arguments, run directly.
    Argv(Vec<String>),
    /// A command line for `sh -c`, in a process group of its own.
    Shell(String),
}

impl Invocation {
    /// consul-template's rule (`child.CommandPrep`); `None` for an empty command.
    pub fn of(command: &Command) -> Option<Invocation> {
        let argv: &[String] = match command {
            Command::Line(line) => std::slice::from_ref(line),
            Command::Argv(argv) => argv,
        };
        match argv {
            [line] if line.split_whitespace().nth(1).is_some() => {
                Some(Invocation::Shell(line.clone()))
            }
            [first, ..] if !first.trim().is_empty() => Some(Invocation::Argv(argv.to_vec())),
            _ => None,
        }
    }

    /// The command as the logs show it.
    pub fn label(&self) -> String {
        match self {
            Invocation::Argv(argv) => argv.join(" "),
            Invocation::Shell(line) => line.clone(),
        }
    }

    /// Whether this runs the agent's own `signal` subcommand, whose failure (no such process)
    /// is logged but does not fail the runner: the render stands and the next change retries.
    pub fn is_agent_signal(&self) -> bool {
        match self {
            Invocation::Argv(argv) => crate::signal_cmd::is_signal_command(argv),
            Invocation::Shell(line) => {
                plain_words(line).is_some_and(|words| crate::signal_cmd::is_signal_command(&words))
            }
        }
    }
}

/// Characters that make a command line mean something else to a shell than its plain words.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
    '{', '}', '\n', '!',
];

/// The words of `line` when a shell would run exactly them (no quoting, expansion, redirection
/// or leading variable assignment).
fn plain_words(line: &str) -> Option<Vec<String>> {
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let assignment = words.first().is_some_and(|w| w.contains('='));
    (!line.contains(SHELL_SYNTAX) && !assignment && !words.is_empty()).then_some(words)
}

/// `sh` from PATH, else the usual absolute paths (as consul-template looks for it).
fn find_shell() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("sh"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        ["/bin/sh", "/usr/bin/sh"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// Why a template command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(
        "command {command:?} needs a shell, but there is no sh (give exec.command as a list of words, or use `kagi-agent signal`)"
    )]
    NoShell { command: String },
    #[error("command {command:?} could not start: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("command {command:?} exited with {status}")]
    Failed { command: String, status: String },
    #[error("command {command:?} did not finish within {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
}

/// Runs a template command with the agent's environment plus `env` (the Vault connection as
/// bao agent passes it on, see `ConnectionSettings::command_env`); a command that overruns
/// `timeout` is SIGKILLed. A zero `timeout` starts it and returns at once.
pub async fn run(
    command: &Invocation,
    env: &[(&'static str, String)],
    timeout: Duration,
) -> Result<(), CommandError> {
    let label = command.label();
    let (mut cmd, group) = match command {
        Invocation::Argv(argv) => (program(argv), false),
        Invocation::Shell(line) => match (find_shell(), plain_words(line)) {
            (Some(sh), _) => {
                let mut cmd = tokio::process::Command::new(sh);
                cmd.arg("-c").arg(line);
                (cmd, true)
            }
            (None, Some(words)) => (program(&words), true),
            (None, None) => return Err(CommandError::NoShell { command: label }),
        },
    };
    if group {
        cmd.process_group(0);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(std::process::Stdio::null())
        .kill_on_drop(!timeout.is_zero());
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        command: label.clone(),
        source,
    })?;
    if timeout.is_zero() {
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        return Ok(());
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Failed {
            command: label,
            status: status.to_string(),
        }),
        Ok(Err(source)) => Err(CommandError::Spawn {
            command: label,
            source,
        }),
        Err(_) => {
            if group {
                kill_group(child.id());
            }
            let _ = child.kill().await;
            Err(CommandError::Timeout {
                command: label,
                timeout,
            })
        }
    }
}

fn program(argv: &[String]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(Path::new(&argv[0]));
    cmd.args(&argv[1..]);
    cmd
}

/// SIGKILLs the process group led by `pid` (the shell and whatever it started).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run_plain(command: &Invocation, timeout: Duration) -> Result<(), CommandError> {
        run(command, &[], timeout).await
    }

    fn line(text: &str) -> Option<Invocation> {
        Invocation::of(&Command::Line(text.into()))
    }

    fn list(words: &[&str]) -> Option<Invocation> {
        Invocation::of(&Command::Argv(
            words.iter().map(|w| w.to_string()).collect(),
        ))
    }

    #[test]
    fn one_multi_word_string_is_a_shell_command() {
        assert_eq!(
            line("kill -HUP 1"),
            Some(Invocation::Shell("kill -HUP 1".into()))
        );
        assert_eq!(
            list(&["echo a  b"]),
            Some(Invocation::Shell("echo a  b".into()))
        );
        assert_eq!(
            line("/bin/true"),
            Some(Invocation::Argv(vec!["/bin/true".into()]))
        );
        assert_eq!(
            list(&["echo", "a  b", "$0"]),
            Some(Invocation::Argv(vec![
                "echo".into(),
                "a  b".into(),
                "$0".into()
            ]))
        );
        assert_eq!(line("  "), None);
        assert_eq!(list(&[]), None);
        // Same command, two spellings: one entry when commands are deduplicated.
        assert_eq!(line("echo a"), list(&["echo a"]));
    }

    #[test]
    fn plain_words_need_no_shell() {
        assert_eq!(
            plain_words("kill -HUP 1"),
            Some(vec!["kill".into(), "-HUP".into(), "1".into()])
        );
        for needs_shell in [
            "a | b",
            "a && b",
            "kill $(pidof x)",
            "echo 'x y'",
            "A=1 app",
            "a > f",
        ] {
            assert_eq!(plain_words(needs_shell), None, "{needs_shell}");
        }
    }

    #[test]
    fn the_agents_signal_subcommand_is_recognised_in_both_forms() {
        assert!(
            list(&[
                "/kagi-agent",
                "signal",
                "--signal",
                "HUP",
                "--process",
                "nginx"
            ])
            .unwrap()
            .is_agent_signal()
        );
        assert!(
            line("kagi-agent signal --signal HUP --process nginx")
                .unwrap()
                .is_agent_signal()
        );
        assert!(!line("kill -HUP 1").unwrap().is_agent_signal());
    }

    #[tokio::test]
    async fn failures_and_timeouts_are_reported() {
        run_plain(
            &Invocation::Argv(vec!["true".into()]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let err = run_plain(&Invocation::Shell("exit 3".into()), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");
        let err = run_plain(
            &Invocation::Argv(vec!["sleep".into(), "5".into()]),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }));
        let err = run_plain(
            &Invocation::Argv(vec!["/nonexistent/program".into()]),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }));
    }

    /// A shell command's timeout kills what the shell started too.
    #[tokio::test]
    async fn a_timed_out_shell_command_loses_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let err = run_plain(&Invocation::Shell(script), Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Killed, then reaped by init (or left a zombie briefly): not running `sleep` any more.
        while std::fs::read_to_string(proc_dir.join("stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the shell's child survived the timeout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn zero_timeout_does_not_wait() {
        let started = std::time::Instant::now();
        run_plain(
            &Invocation::Argv(vec!["sleep".into(), "30".into()]),
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;

    /// The connection variables reach the command, beside the agent's own environment.
    #[tokio::test]
    async fn commands_get_the_connection_variables() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let script = format!("env > {}", out.display());
        let env = [("BAO_ADDR", "https://vault:8200".to_owned())];
        run(&Invocation::Shell(script), &env, Duration::from_secs(5))
            .await
            .unwrap();
        let seen = std::fs::read_to_string(&out).unwrap();
        assert!(
            seen.lines().any(|l| l == "BAO_ADDR=https://vault:8200"),
            "{seen}"
        );
        assert!(seen.lines().any(|l| l.starts_with("PATH=")), "{seen}");
    }
}

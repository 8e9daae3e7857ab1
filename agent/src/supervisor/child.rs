//! The supervised child: started with the agent's environment plus the rendered variables,
//! stdin/stdout/stderr passed through, stopped with the configured signal and, after
//! [`KILL_TIMEOUT`], with SIGKILL (as `bao agent` does).

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tracing::{info, warn};

use crate::config::StopSignal;
use crate::runner::EnvValues;

/// How long a stopped child may take before it is killed; `bao agent`'s value.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("exec: the command is empty")]
    EmptyCommand,
    #[error("exec: {command:?} needs a shell (it has spaces), but no sh was found")]
    NoShell { command: String },
    #[error(
        "env_template[{name}]: the rendered value contains a NUL byte, which no environment can hold"
    )]
    NulInValue { name: String },
    #[error("exec: cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// How the argv is run: as given, or (one element with spaces) with `sh -c`, in a process group
/// of its own so a stop signal reaches the shell's children too (`bao agent`'s rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub argv: Vec<String>,
    pub own_group: bool,
}

pub fn prepare(command: &[String]) -> Result<Prepared, ChildError> {
    match command {
        [line] if line.split_whitespace().count() > 1 => {
            let shell = find_shell().ok_or_else(|| ChildError::NoShell {
                command: line.clone(),
            })?;
            Ok(Prepared {
                argv: vec![shell, "-c".to_owned(), line.clone()],
                own_group: true,
            })
        }
        [first, ..] if !first.trim().is_empty() => Ok(Prepared {
            argv: command.to_vec(),
            own_group: false,
        }),
        _ => Err(ChildError::EmptyCommand),
    }
}

fn find_shell() -> Option<String> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("sh"))
            .find(|candidate| candidate.is_file())
    });
    on_path
        .or_else(|| {
            ["/bin/sh", "/usr/bin/sh"]
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        })
        .map(|p| p.to_string_lossy().into_owned())
}

/// A running child.
pub struct Child {
    process: tokio::process::Child,
    pid: Pid,
    own_group: bool,
}

impl Child {
    /// Starts `command` with the agent's environment plus `env` (the rendered values win).
    pub fn spawn(command: &Prepared, env: &EnvValues) -> Result<Child, ChildError> {
        if let Some((name, _)) = env.iter().find(|(_, value)| value.contains('\0')) {
            return Err(ChildError::NulInValue { name: name.clone() });
        }
        let program = command.argv[0].clone();
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&command.argv[1..]).envs(env);
        if command.own_group {
            cmd.process_group(0);
        }
        let process = cmd.spawn().map_err(|source| ChildError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = process
            .id()
            .and_then(|id| Pid::from_raw(id as i32))
            .expect("a child that was just spawned has a pid");
        info!(pid = pid.as_raw_nonzero().get(), program = %program, variables = env.len(), "started child process");
        Ok(Child {
            process,
            pid,
            own_group: command.own_group,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid.as_raw_nonzero().get()
    }

    /// Sends `signal` (nothing for `SIGNULL`) to the child, or to its group for `sh -c`.
    pub fn signal(&self, signal: &StopSignal) {
        let Some(sig) = to_signal(signal) else {
            return;
        };
        let sent = if self.own_group {
            rustix::process::kill_process_group(self.pid, sig)
        } else {
            rustix::process::kill_process(self.pid, sig)
        };
        if let Err(err) = sent {
            // ESRCH: it has exited already, which the waiter will report.
            if err != rustix::io::Errno::SRCH {
                warn!(pid = self.pid(), signal = %signal, error = %err, "cannot signal child process");
            }
        }
    }

    /// Waits for the child to exit on its own. Cancel-safe.
    pub async fn wait(&mut self) -> ExitStatus {
        match self.process.wait().await {
            Ok(status) => status,
            // Only if someone else reaped it; report it as a failure.
            Err(err) => {
                warn!(error = %err, "cannot wait for child process");
                ExitStatus::from_raw(1 << 8)
            }
        }
    }

    /// Sends the stop signal and waits up to [`KILL_TIMEOUT`], then kills it.
    pub async fn stop(&mut self, signal: &StopSignal) -> ExitStatus {
        self.stop_within(signal, KILL_TIMEOUT).await
    }

    async fn stop_within(&mut self, signal: &StopSignal, timeout: Duration) -> ExitStatus {
        info!(pid = self.pid(), signal = %signal, "stopping child process");
        self.signal(signal);
        match tokio::time::timeout(timeout, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                warn!(
                    pid = self.pid(),
                    "child process did not stop in time; killing it"
                );
                self.signal(&StopSignal::parse("SIGKILL").expect("a known name"));
                self.wait().await
            }
        }
    }
}

/// The exit code the agent passes on: the child's own, or 128 + the signal that killed it (the
/// shell's convention).
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => (128 + signal) as u8,
        (None, None) => 1,
    }
}

/// Maps a signal name to its number (the table `kagi-agent signal` uses); `None` for
/// `SIGNULL` (send nothing).
pub fn to_signal(signal: &StopSignal) -> Option<Signal> {
    if signal.name() == "SIGNULL" {
        return None;
    }
    crate::signal_cmd::parse_signal(signal.name()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SIGNAL_NAMES;

    fn argv(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_element_with_spaces_runs_in_a_shell_group() {
        let p = prepare(&argv(&["echo hi && sleep 1"])).unwrap();
        assert_eq!(p.argv[1..], argv(&["-c", "echo hi && sleep 1"]));
        assert!(p.argv[0].ends_with("sh"));
        assert!(p.own_group);
        let p = prepare(&argv(&["/bin/app", "--flag"])).unwrap();
        assert_eq!(p.argv, argv(&["/bin/app", "--flag"]));
        assert!(!p.own_group);
        assert!(prepare(&argv(&[""])).is_err());
        assert!(prepare(&[]).is_err());
    }

    #[test]
    fn every_accepted_name_but_signull_maps_to_a_signal() {
        for name in SIGNAL_NAMES {
            let signal = StopSignal::parse(name).unwrap();
            assert_eq!(to_signal(&signal).is_none(), *name == "SIGNULL", "{name}");
        }
    }

    #[tokio::test]
    async fn stop_signal_and_exit_codes_come_through() {
        let command = prepare(&argv(&["sh", "-c", "exit \"$CODE\""])).unwrap();
        let env = EnvValues::from([("CODE".to_owned(), "7".to_owned())]);
        let mut child = Child::spawn(&command, &env).unwrap();
        assert_eq!(exit_code(child.wait().await), 7);

        let bad = EnvValues::from([("TOKEN".to_owned(), "a\0b".to_owned())]);
        let err = Child::spawn(&command, &bad).err().unwrap().to_string();
        assert!(
            err.contains("env_template[TOKEN]") && !err.contains("a\0b"),
            "{err}"
        );

        let command = prepare(&argv(&["sleep", "30"])).unwrap();
        let mut child = Child::spawn(&command, &EnvValues::new()).unwrap();
        let status = child.stop(&StopSignal::parse("SIGUSR1").unwrap()).await;
        assert_eq!(exit_code(status), 128 + 10);

        // A child that ignores the stop signal is killed once the timeout passes.
        let command = prepare(&argv(&["sh", "-c", "trap '' TERM; exec sleep 30"])).unwrap();
        let mut child = Child::spawn(&command, &EnvValues::new()).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let term = StopSignal::default();
        let status = child.stop_within(&term, Duration::from_millis(300)).await;
        assert_eq!(exit_code(status), 128 + 9);
    }
}

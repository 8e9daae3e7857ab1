//! Process-supervisor mode (`env_template` + `exec`, as in Vault Agent): the agent renders the
//! env templates from the same dependency cache as files ([`crate::runner`]), starts the child
//! once every one rendered, restarts it when a value changes (`always`) or not (`never`),
//! passes SIGTERM/SIGINT on as the stop signal and SIGHUP as itself, renews leases for the
//! child's whole life, and exits with the child's exit code once it exits on its own.
//!
//! `kagi-agent exec [-config FILE] -- PROGRAM ARGS...` and `kagi-agent install DIR` are the
//! entry points the webhook uses; `kagi-agent run` with `env_template` in its config runs the
//! same mode with `exec.command`.

pub mod child;
pub mod install;
pub mod reap;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{AgentConfig, ConfigError, RestartPolicy, StopSignal};
use crate::runner::{EnvHook, EnvValues};
use crate::runtime::{self, AgentError};
use child::{Child, ChildError};

/// `kagi-agent exec` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    pub config: Option<PathBuf>,
    /// The child's argv (after `--`); it wins over `exec.command`.
    pub command: Vec<String>,
}

impl ExecArgs {
    /// Parses what follows `exec`: flags (`-config FILE`, `-config=FILE`, `--config ...`),
    /// then `--` and the command. The first argument that is not a flag starts the command too.
    pub fn parse(args: &[String]) -> Result<ExecArgs, String> {
        let mut config = None;
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            if arg == "--" {
                i += 1;
                break;
            }
            if !arg.starts_with('-') {
                break;
            }
            let flag = arg.trim_start_matches('-');
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (flag, None),
            };
            match name {
                "config" | "c" => {
                    let value = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i).cloned().ok_or("-config needs a file")?
                        }
                    };
                    config = Some(PathBuf::from(value));
                }
                other => return Err(format!("exec: unknown flag -{other}")),
            }
            i += 1;
        }
        let command = args[i..].to_vec();
        if command.is_empty() {
            return Err(
                "exec: no command; usage: kagi-agent exec [-config FILE] -- PROGRAM ARGS...".into(),
            );
        }
        Ok(ExecArgs { config, command })
    }
}

/// `kagi-agent install` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallArgs {
    pub dir: PathBuf,
}

impl InstallArgs {
    pub fn parse(args: &[String]) -> Result<InstallArgs, String> {
        match args {
            [dir] if !dir.starts_with('-') => Ok(InstallArgs {
                dir: PathBuf::from(dir),
            }),
            _ => Err("install: usage: kagi-agent install DIR".into()),
        }
    }
}

/// Why the supervisor stopped without a child exit code to pass on (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("process-supervisor mode needs at least one env_template")]
    NoEnvTemplates,
    #[error(transparent)]
    Child(#[from] ChildError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("the agent task failed: {0}")]
    Join(String),
}

/// Runs the agent and its child until the child exits (its exit code), a signal stops both
/// (0, as `bao agent` exits), or the agent fails (an error; the child is stopped first).
pub async fn supervise(
    config: AgentConfig,
    command_line: Option<Vec<String>>,
) -> Result<u8, SupervisorError> {
    if config.env_template.is_empty() {
        return Err(SupervisorError::NoEnvTemplates);
    }
    let argv = config.supervised_command(command_line.as_deref())?;
    let command = child::prepare(&argv)?;
    let exec = config.exec.clone().unwrap_or_default();
    let (policy, stop) = (exec.restart_policy(), exec.stop_signal());

    let (trigger, shutdown) = crate::signal::channel();
    if config.exit_after_auth {
        // `bao agent` renders once and does not start the child in this mode.
        warn!("exit_after_auth is set: rendering once without starting the child");
        crate::signal::forward_signals(trigger.clone()).map_err(SupervisorError::Signals)?;
        runtime::run(config, trigger, shutdown).await?;
        return Ok(0);
    }

    let (env_tx, mut env_rx) = watch::channel::<Option<Arc<EnvValues>>>(None);
    let on_env: EnvHook = Arc::new(move |values: &EnvValues| {
        env_tx.send_if_modified(|current| {
            let changed = current.as_deref() != Some(values);
            if changed {
                *current = Some(Arc::new(values.clone()));
            }
            changed
        });
    });
    let mut agent = tokio::spawn(runtime::run_with_env(
        config,
        trigger.clone(),
        shutdown,
        Some(on_env),
    ));
    let child_pid = Arc::new(AtomicI32::new(0));
    if reap::is_init() {
        tokio::spawn(reap::reap_orphans(child_pid.clone()));
    }
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = Signals::new().map_err(SupervisorError::Signals)?;
    let mut supervised = Supervised {
        command,
        policy,
        stop,
        child: None,
        started_with: None,
        child_pid,
    };

    let ending = loop {
        // Every arm is cancel-safe: signal and watch receivers, `Child::wait`, a JoinHandle.
        tokio::select! {
            biased;
            _ = term.recv() => break Ending::Signal("SIGTERM"),
            _ = int.recv() => break Ending::Signal("SIGINT"),
            _ = hup.recv() => supervised.forward_hangup(),
            status = supervised.wait() => break Ending::ChildExited(child::exit_code(status)),
            changed = env_rx.changed() => {
                if changed.is_err() {
                    // The agent dropped its end: it has stopped.
                    break Ending::AgentStopped((&mut agent).await);
                }
                let values = env_rx.borrow_and_update().clone();
                if let Some(values) = values
                    && let Err(err) = supervised.apply(values).await
                {
                    break Ending::Failed(err);
                }
            }
            result = &mut agent => break Ending::AgentStopped(result),
        }
    };
    match ending {
        Ending::Signal(name) => {
            info!(
                signal = name,
                "shutdown: stopping the child, then the agent"
            );
            supervised.stop().await;
            trigger.fire(name);
            finish_agent(agent).await.map(|()| 0)
        }
        Ending::ChildExited(code) => {
            info!(exit_code = code, "child process exited; stopping the agent");
            supervised.forget();
            trigger.fire("child exited");
            if let Err(err) = finish_agent(agent).await {
                warn!(error = %err, "agent stopped with an error after the child exited");
            }
            Ok(code)
        }
        Ending::Failed(err) => {
            supervised.stop().await;
            trigger.fire("the child cannot start");
            let _ = finish_agent(agent).await;
            Err(err)
        }
        Ending::AgentStopped(result) => {
            supervised.stop().await;
            result
                .map_err(|e| SupervisorError::Join(e.to_string()))?
                .map(|()| 0)
                .map_err(SupervisorError::from)
        }
    }
}

enum Ending {
    Signal(&'static str),
    ChildExited(u8),
    Failed(SupervisorError),
    AgentStopped(Result<Result<(), AgentError>, tokio::task::JoinError>),
}

async fn finish_agent(
    agent: tokio::task::JoinHandle<Result<(), AgentError>>,
) -> Result<(), SupervisorError> {
    agent
        .await
        .map_err(|e| SupervisorError::Join(e.to_string()))?
        .map_err(SupervisorError::from)
}

/// The child and what it was started with.
struct Supervised {
    command: child::Prepared,
    policy: RestartPolicy,
    stop: StopSignal,
    child: Option<Child>,
    /// The values the running child has in its environment.
    started_with: Option<Arc<EnvValues>>,
    child_pid: reap::ChildPid,
}

impl Supervised {
    /// A complete set of values arrived: start the child, or restart it if they changed.
    async fn apply(&mut self, values: Arc<EnvValues>) -> Result<(), SupervisorError> {
        if self.started_with.as_ref() == Some(&values) {
            return Ok(());
        }
        if self.child.is_some() {
            let changed: Vec<&str> = changed_names(self.started_with.as_deref(), &values);
            match self.policy {
                RestartPolicy::Never => {
                    info!(variables = ?changed, "secrets changed; not restarting the child (restart_on_secret_changes = never)");
                    return Ok(());
                }
                RestartPolicy::Always => {
                    info!(variables = ?changed, "secrets changed; restarting the child");
                    self.stop().await;
                }
            }
        }
        let child = Child::spawn(&self.command, &values)?;
        self.child_pid.store(child.pid(), Ordering::Relaxed);
        self.child = Some(child);
        self.started_with = Some(values);
        Ok(())
    }

    /// Waits for the running child to exit on its own; pending while there is none.
    async fn wait(&mut self) -> std::process::ExitStatus {
        match self.child.as_mut() {
            Some(child) => child.wait().await,
            None => std::future::pending().await,
        }
    }

    fn forward_hangup(&self) {
        if let Some(child) = &self.child {
            info!(pid = child.pid(), "SIGHUP: passing it to the child");
            child.signal(&StopSignal::parse("SIGHUP").expect("a known name"));
        }
    }

    /// Stops the running child with the stop signal (SIGKILL after the timeout).
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = child.stop(&self.stop).await;
            info!(
                pid = child.pid(),
                exit_code = child::exit_code(status),
                "child process stopped"
            );
        }
        self.forget();
    }

    /// The child is gone.
    fn forget(&mut self) {
        self.child = None;
        self.child_pid.store(0, Ordering::Relaxed);
    }
}

/// Names (never values) of the variables that differ.
fn changed_names<'a>(old: Option<&EnvValues>, new: &'a EnvValues) -> Vec<&'a str> {
    new.iter()
        .filter(|(name, value)| old.and_then(|o| o.get(*name)) != Some(*value))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// SIGTERM and SIGINT (shutdown) and SIGHUP (passed to the child).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exec_arguments_put_the_command_after_the_flags() {
        let parsed = ExecArgs::parse(&args(&["-config", "/c.json", "--", "app", "-x"])).unwrap();
        assert_eq!(parsed.config, Some(PathBuf::from("/c.json")));
        assert_eq!(parsed.command, args(&["app", "-x"]));
        let parsed = ExecArgs::parse(&args(&["--", "app", "--", "-config"])).unwrap();
        assert_eq!(parsed.config, None);
        assert_eq!(parsed.command, args(&["app", "--", "-config"]));
        let parsed = ExecArgs::parse(&args(&["--config=/c", "app"])).unwrap();
        assert_eq!(parsed.command, args(&["app"]));
        assert!(ExecArgs::parse(&args(&["-config", "/c", "--"])).is_err());
        assert!(ExecArgs::parse(&args(&["-bogus", "--", "app"])).is_err());
    }

    #[test]
    fn install_takes_one_directory() {
        assert_eq!(
            InstallArgs::parse(&args(&["/kagi"])).unwrap().dir,
            PathBuf::from("/kagi")
        );
        assert!(InstallArgs::parse(&args(&[])).is_err());
        assert!(InstallArgs::parse(&args(&["/a", "/b"])).is_err());
    }

    #[test]
    fn only_changed_names_are_reported() {
        let old = EnvValues::from([("A".into(), "1".into()), ("B".into(), "2".into())]);
        let new = EnvValues::from([("A".into(), "1".into()), ("B".into(), "3".into())]);
        assert_eq!(changed_names(Some(&old), &new), vec!["B"]);
        assert_eq!(changed_names(None, &new), vec!["A", "B"]);
    }
}

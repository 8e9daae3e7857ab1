//! What the agent does after it rendered a secret's file: `agent-inject-command-<name>` and
//! kagi's `agent-inject-signal-<name>`.

use super::shell_words::{self, NeedsShell};
use super::{AnnotationError, Annotations, PREFIX};
use crate::settings::AgentFlavor;

/// The action run after a secret's file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderCommand {
    /// `--agent-flavor vault`: the command line as written; Vault Agent runs it (through
    /// `sh -c` when it has spaces), as with vault-k8s.
    Line(String),
    /// kagi flavour: a program and its arguments, run without a shell.
    Argv(Vec<String>),
    /// `agent-inject-signal-<name>`: send `signal` to the app process `process` in the pod's
    /// shared PID namespace.
    Signal { signal: String, process: String },
}

/// Signals `kagi-agent signal` can send, without the `SIG` prefix (Linux numbering).
pub const SIGNAL_NAMES: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
    "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
    "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

const SIGNAL_ACCEPTED: &str = "\"SIGNAL PROCESS\": a signal name such as SIGHUP, SIGUSR1 or \
     SIGTERM, then the app's process name (its command name or executable), e.g. \"SIGHUP nginx\"";

/// Reads the command annotations of secret `name`.
pub(super) fn parse(
    a: &Annotations,
    name: &str,
    flavor: AgentFlavor,
) -> Result<Option<RenderCommand>, AnnotationError> {
    let command_key = format!("agent-inject-command-{name}");
    let signal_key = format!("agent-inject-signal-{name}");
    match (a.text(&command_key), a.text(&signal_key)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(AnnotationError::Exclusive {
            first: a.key_as_written(&command_key),
            second: a.key_as_written(&signal_key),
            hint: format!(
                "both say what runs after secret {name:?} is rendered: keep the signal, or the \
                 command"
            ),
        }),
        (Some(line), None) => match flavor {
            AgentFlavor::Vault => Ok(Some(RenderCommand::Line(line))),
            AgentFlavor::Kagi => shell_words::split(&line)
                .map(|argv| Some(RenderCommand::Argv(argv)))
                .map_err(|NeedsShell(what)| {
                    // Named under the prefix the user wrote the command with.
                    let written = a.key_as_written(&command_key);
                    let prefix = written.strip_suffix(&command_key).unwrap_or(PREFIX);
                    let signal = format!("{prefix}{signal_key}");
                    a.invalid(
                        &command_key,
                        format!(
                            "a program and its arguments that the kagi agent runs without a \
                             shell (it has none), but this value needs one for {what}. To \
                             signal the app after a change use {signal}: \"SIGHUP <process>\"; \
                             otherwise give an argv the agent can run directly (quotes and \
                             backslashes work as in sh; pipes, `;`, `&&`, `||`, `$`, backticks, \
                             redirections and globs do not)"
                        ),
                    )
                }),
        },
        (None, Some(spec)) => match flavor {
            AgentFlavor::Vault => Err(a.invalid(
                &signal_key,
                format!(
                    "nothing with --agent-flavor vault: the signal helper is part of the kagi \
                     agent; use {} with the Vault image's shell instead",
                    a.key_as_written(&command_key)
                ),
            )),
            AgentFlavor::Kagi => parse_signal(&spec)
                .map(Some)
                .ok_or_else(|| a.invalid(&signal_key, SIGNAL_ACCEPTED)),
        },
    }
}

/// `"SIGHUP nginx"` (or `"HUP nginx"`, any case for the signal) into its two parts.
fn parse_signal(spec: &str) -> Option<RenderCommand> {
    let mut words = spec.split_whitespace();
    let (signal, process) = (words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    let upper = signal.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNAL_NAMES.contains(&bare).then(|| RenderCommand::Signal {
        signal: format!("SIG{bare}"),
        process: process.to_owned(),
    })
}

/// `agent-inject-signal-<name>` annotations naming no secret (vault-k8s would ignore them;
/// a kagi extension is better refused than silently dropped).
pub(super) fn orphan_signal(a: &Annotations, secret_names: &[&str]) -> Option<AnnotationError> {
    let (name, _) = a
        .with_prefix("agent-inject-signal-")
        .find(|(name, value)| !value.trim().is_empty() && !secret_names.contains(name))?;
    Some(a.invalid(
        &format!("agent-inject-signal-{name}"),
        format!(
            "the name of a secret declared by agent-inject-secret-{name}, \
             agent-inject-template-{name} or agent-inject-template-file-{name}"
        ),
    ))
}

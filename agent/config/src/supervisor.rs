//! Process-supervisor mode: `env_template` blocks rendered into the environment of the child
//! process the top-level `exec` block names.

use serde::{Deserialize, Serialize};

use crate::is_false;

/// `env_template "NAME" { ... }`: the template whose output becomes `$NAME` in the child.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub error_on_missing_key: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_delimiter: Option<String>,
}

/// The top-level `exec` block: the child process and when it is restarted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exec {
    /// The program and its arguments (no shell). `kagi-agent exec -- PROGRAM ARGS...` supplies
    /// them on its command line instead, so the contract lets the list be absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `always` (Vault Agent's default) or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_on_secret_changes: Option<String>,
    /// Signal sent to the child before a restart and on shutdown; Vault Agent's default is
    /// `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_stop_signal: Option<String>,
}

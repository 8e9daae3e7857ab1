//! The env-mode annotations (`agent-env-*`, a kagi extension): secrets rendered into the
//! environment of app containers that `kagi-agent exec` wraps.
//!
//! `agent-env-<VAR>` maps verbatim: annotation keys are case-sensitive and their name part
//! allows `[A-Za-z0-9._-]`, so `agent-env-DB_PASSWORD` is `$DB_PASSWORD`. A name that is not
//! an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`, e.g. with a dash or a dot) is
//! refused rather than rewritten. Kubernetes itself limits what can be written: the name part
//! is at most 63 characters (so `VAR` at most 53) and must end with a letter or digit. The
//! suffixes of the control annotations below are not variables.

use std::collections::BTreeMap;

use kagi_agent_config::{RestartPolicy, SIGNAL_NAMES, StopSignal};

use super::{AnnotationError, Annotations};

/// The prefix of a variable's annotation.
pub const ENV_PREFIX: &str = "agent-env-";

/// Suffixes after [`ENV_PREFIX`] that are settings, not variables.
const CONTROL: &[&str] = &[
    "containers",
    "restart",
    "stop-signal",
    "error-on-missing-key",
];

/// Variables the wrapper itself reads, so a template may not set them.
const RESERVED: &[&str] = &["VAULT_CONFIG"];

/// What the `agent-env-*` annotations ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSettings {
    /// Variable name → template text, in name order. Empty: env mode is off.
    pub vars: BTreeMap<String, String>,
    /// `None`: every app container.
    pub containers: Option<Vec<String>>,
    pub restart: RestartPolicy,
    pub stop_signal: StopSignal,
    pub error_on_missing_key: bool,
}

impl EnvSettings {
    pub fn parse(a: &Annotations) -> Result<EnvSettings, AnnotationError> {
        let key = |suffix: &str| format!("{ENV_PREFIX}{suffix}");
        let mut vars = BTreeMap::new();
        for (name, template) in a.with_prefix(ENV_PREFIX) {
            if CONTROL.contains(&name) {
                continue;
            }
            if !is_env_name(name) {
                return Err(a.invalid(
                    &key(name),
                    format!(
                        "a template for an environment variable, under a key whose name after \
                         {ENV_PREFIX} is a variable name ([A-Za-z_][A-Za-z0-9_]*, case kept): \
                         {name:?} is not one (use `_` instead of `-` or `.`)"
                    ),
                ));
            }
            if RESERVED.contains(&name) {
                return Err(a.invalid(
                    &key(name),
                    format!("a variable other than {name}, which the wrapper reads itself"),
                ));
            }
            if template.trim().is_empty() {
                return Err(a.invalid(&key(name), "a template (the value is empty)"));
            }
            vars.insert(name.to_owned(), template.to_owned());
        }
        let containers = match a.get(&key("containers")) {
            None => None,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err(a.invalid(
                        &key("containers"),
                        "a comma-separated list of app container names (remove the annotation \
                         for every app container)",
                    ));
                }
                Some(names)
            }
        };
        let restart = a
            .parsed(&key("restart"), "always or never", |t| {
                RestartPolicy::parse(&t.to_ascii_lowercase()).ok()
            })?
            .unwrap_or_default();
        let signals = format!("a signal name, any case: {}", SIGNAL_NAMES.join(", "));
        let stop_signal = a
            .parsed(&key("stop-signal"), &signals, |t| StopSignal::parse(t).ok())?
            .unwrap_or_default();
        Ok(EnvSettings {
            vars,
            containers,
            restart,
            stop_signal,
            error_on_missing_key: a.bool_or(&key("error-on-missing-key"), true)?,
        })
    }

    /// Whether any variable is asked for.
    pub fn is_active(&self) -> bool {
        !self.vars.is_empty()
    }
}

/// POSIX's portable environment variable name.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

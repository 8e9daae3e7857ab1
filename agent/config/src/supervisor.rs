//! Process-supervisor mode: `env_template` blocks rendered into the environment of the child
//! process the top-level `exec` block names.
//!
//! The JSON shapes are the ones `bao agent` 2.7.2 reads: `env_template` is an object keyed by
//! variable name (`{"FOO": {...}}`) or a list of such one-key objects (`[{"FOO": {...}}]`);
//! `exec` is an object or a one-element list. Both refuse unknown keys, as `bao agent` does, and
//! an env template refuses the file-only template keys with `bao agent`'s wording.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::is_false;

/// `env_template "NAME" { ... }`: the template whose output becomes `$NAME` in the child.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvTemplate {
    /// Inline template text. Exactly one of `contents` and `source` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Path of a template file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub error_on_missing_key: bool,
    /// Accepted for `bao agent` compatibility; every render error is fatal to a render in kagi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_fatal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_denylist: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_blacklist: Vec<String>,
}

/// Template keys that make sense only for files; `bao agent` refuses them in an env template.
const FILE_ONLY_KEYS: &[&str] = &[
    "backup",
    "command",
    "command_timeout",
    "create_dest_dirs",
    "destination",
    "exec",
    "perms",
    "user",
    "uid",
    "group",
    "gid",
    "wait",
    "sandbox_path",
];

/// The top-level `exec` block: the child process and when it is restarted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exec {
    /// The program and its arguments. A single element with spaces is run with `sh -c`, as
    /// `bao agent` does. `kagi-agent exec -- PROGRAM ARGS...` supplies the argv on its command
    /// line instead, so the contract lets the list be absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `always` (the default) or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_on_secret_changes: Option<RestartPolicy>,
    /// Signal sent to the child before a restart and on shutdown; the default is `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_stop_signal: Option<StopSignal>,
}

impl Exec {
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart_on_secret_changes.unwrap_or_default()
    }

    pub fn stop_signal(&self) -> StopSignal {
        self.restart_stop_signal.clone().unwrap_or_default()
    }
}

/// What a changed secret does to a running child.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartPolicy {
    /// Stop it with the stop signal and start it again with the new environment.
    #[default]
    Always,
    /// Leave it running with the environment it started with.
    Never,
}

impl RestartPolicy {
    /// Parses `always` / `never`; the empty string is the default, as in `bao agent`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" | "always" => Ok(RestartPolicy::Always),
            "never" => Ok(RestartPolicy::Never),
            other => Err(format!(
                "'exec.restart_on_secret_changes' unexpected value: {other:?} (expected \"always\" or \"never\")"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RestartPolicy::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A signal name as `bao agent` accepts it: `SIG` and the name, any case (`SIGTERM`, `sigusr1`).
/// Kept as its upper-case name; the agent maps it to a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignal(String);

/// The names `bao agent` accepts on Linux (`SIGNULL` sends nothing).
pub const SIGNAL_NAMES: &[&str] = &[
    "SIGABRT", "SIGALRM", "SIGBUS", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGIO",
    "SIGIOT", "SIGKILL", "SIGNULL", "SIGPIPE", "SIGPROF", "SIGQUIT", "SIGSEGV", "SIGSTOP",
    "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2",
    "SIGWINCH", "SIGXCPU", "SIGXFSZ",
];

impl StopSignal {
    pub fn parse(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        if SIGNAL_NAMES.contains(&upper.as_str()) {
            Ok(StopSignal(upper))
        } else {
            Err(format!(
                "invalid signal {text:?} - valid signals are {}",
                SIGNAL_NAMES.join(", ")
            ))
        }
    }

    /// The upper-case name, e.g. `SIGTERM`.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal("SIGTERM".to_owned())
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StopSignal::parse(&String::deserialize(d)?)
            .map_err(|e| de::Error::custom(format!("'restart_stop_signal' {e}")))
    }
}

/// Deserializes `env_template` from either JSON shape, refusing duplicate names and file-only
/// keys (both with `bao agent`'s wording).
pub(crate) fn deserialize_env_templates<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, EnvTemplate>, D::Error> {
    d.deserialize_any(EnvTemplatesVisitor)
}

struct EnvTemplatesVisitor;

impl<'de> Visitor<'de> for EnvTemplatesVisitor {
    type Value = BTreeMap<String, EnvTemplate>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by variable name, or a list of such objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        add_entries(&mut out, &mut map)?;
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(OneObject(entries)) = seq.next_element()? {
            for (name, raw) in entries {
                insert(&mut out, name, raw).map_err(de::Error::custom)?;
            }
        }
        Ok(out)
    }
}

/// One element of the list form, kept in order so duplicates across elements are seen.
struct OneObject(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OneObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object keyed by variable name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneObject, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(OneObject(entries))
            }
        }
        d.deserialize_map(V)
    }
}

fn add_entries<'de, A: MapAccess<'de>>(
    out: &mut BTreeMap<String, EnvTemplate>,
    map: &mut A,
) -> Result<(), A::Error> {
    while let Some((name, raw)) = map.next_entry::<String, serde_json::Value>()? {
        insert(out, name, raw).map_err(de::Error::custom)?;
    }
    Ok(())
}

fn insert(
    out: &mut BTreeMap<String, EnvTemplate>,
    name: String,
    raw: serde_json::Value,
) -> Result<(), String> {
    if out.contains_key(&name) {
        return Err(format!(
            "env_template: duplicate environment variable name: {name:?}"
        ));
    }
    if let Some(key) = raw
        .as_object()
        .and_then(|o| FILE_ONLY_KEYS.iter().find(|k| o.contains_key(**k)))
    {
        return Err(format!("env_template[{name}]: '{key}' is not allowed"));
    }
    let template =
        EnvTemplate::deserialize(raw).map_err(|e| format!("env_template[{name}]: {e}"))?;
    out.insert(name, template);
    Ok(())
}

/// Deserializes `exec` from an object or a one-element list (HCL's block-as-list JSON form).
pub(crate) fn deserialize_exec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Exec>, D::Error> {
    let raw = serde_json::Value::deserialize(d)?;
    let block = match &raw {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Array(list) => match list.as_slice() {
            [] => return Ok(None),
            [one] => one,
            _ => return Err(de::Error::custom("at most one \"exec\" block is allowed")),
        },
        _ => &raw,
    };
    Exec::deserialize(block)
        .map(Some)
        .map_err(|e| de::Error::custom(format!("exec: {e}")))
}

/// Environment variable names `execve` can carry: not empty, no `=`, no NUL. (`bao agent`
/// accepts any such name, e.g. `1BAD-NAME`; the webhook is stricter at admission.)
pub fn is_settable_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use crate::{AgentConfig, ConfigError};

    use super::*;

    fn load(fragment: &str) -> Result<AgentConfig, ConfigError> {
        let json = format!(
            r#"{{"auto_auth":{{"method":{{"type":"token_file","config":{{"token_file_path":"/t"}}}}}},{fragment}}}"#
        );
        AgentConfig::from_json(json.as_bytes()).map(|l| l.config)
    }

    #[test]
    fn both_json_shapes_of_env_template_load() {
        let object =
            load(r#""env_template":{"A":{"contents":"1"},"B":{"contents":"2"}},"exec":{"command":["env"]}"#)
                .unwrap();
        let list = load(
            r#""env_template":[{"A":{"contents":"1"}},{"B":{"contents":"2"}}],"exec":[{"command":["env"]}]"#,
        )
        .unwrap();
        assert_eq!(object, list);
        assert_eq!(object.env_template["B"].contents.as_deref(), Some("2"));
        let exec = object.exec.unwrap();
        assert_eq!(exec.restart_policy(), RestartPolicy::Always);
        assert_eq!(exec.stop_signal().name(), "SIGTERM");
        // The object form is what is written back.
        assert!(
            list.to_json()
                .contains(r#""env_template":{"A":{"contents":"1"},"B":{"contents":"2"}}"#)
        );
    }

    #[test]
    fn what_bao_agent_refuses_is_refused() {
        let cases = [
            (
                r#""env_template":{"A":{"contents":"1","destination":"/x"}},"exec":{"command":["env"]}"#,
                "env_template[A]: 'destination' is not allowed",
            ),
            (
                r#""env_template":[{"A":{"contents":"1"}},{"A":{"contents":"2"}}],"exec":{"command":["env"]}"#,
                "duplicate environment variable name: \"A\"",
            ),
            (
                r#""env_template":{"A":{"contents":"1","bogus":1}},"exec":{"command":["env"]}"#,
                "unknown field `bogus`",
            ),
            (
                r#""env_template":{"A":{"contents":"1"}},"exec":{"command":["env"],"bogus":1}"#,
                "unknown field `bogus`",
            ),
            (
                r#""env_template":{"A":{"contents":"1"}},"exec":{"command":["env"],"restart_stop_signal":"TERM"}"#,
                "invalid signal \"TERM\"",
            ),
            (
                r#""env_template":{"A":{"contents":"1"}},"exec":{"command":["env"],"restart_on_secret_changes":"sometimes"}"#,
                "unexpected value: \"sometimes\"",
            ),
            (
                r#""env_template":{"A":{"contents":"1"}},"exec":[{"command":["a"]},{"command":["b"]}]"#,
                "at most one \"exec\" block",
            ),
            (
                r#""env_template":{"A":{}},"exec":{"command":["env"]}"#,
                "env_template[A]: either 'contents' or 'source' must be specified",
            ),
            (
                r#""env_template":{"A":{"contents":"1","source":"/s"}},"exec":{"command":["env"]}"#,
                "'contents' and 'source' cannot be specified together",
            ),
            (
                r#""exec":{"command":["env"]}"#,
                "must specify at least one 'env_template' element",
            ),
            (
                r#""env_template":{"A":{"contents":"1"}},"exec":{"command":["env"]},"template":[{"destination":"/d","contents":"x"}]"#,
                "'template' cannot be specified with 'env_template' entries",
            ),
        ];
        for (fragment, expected) in cases {
            let err = load(fragment).unwrap_err().to_string();
            assert!(err.contains(expected), "{fragment}: {err}");
        }
    }

    #[test]
    fn exec_may_be_left_to_the_command_line() {
        // `kagi-agent exec -- PROGRAM` supplies the command, so the contract loads without
        // `exec`; `run` checks for it (see `AgentConfig::supervised_command`).
        let config = load(r#""env_template":{"A":{"contents":"1"}}"#).unwrap();
        assert!(config.exec.is_none());
        let err = config.supervised_command(None).unwrap_err().to_string();
        assert!(
            err.contains("a top-level 'exec' element must be specified"),
            "{err}"
        );
        let config = load(r#""env_template":{"A":{"contents":"1"}},"exec":{}"#).unwrap();
        let err = config.supervised_command(None).unwrap_err().to_string();
        assert!(err.contains("non-empty 'command'"), "{err}");
        let argv = vec!["prog".to_owned(), "arg".to_owned()];
        assert_eq!(config.supervised_command(Some(&argv)).unwrap(), argv);
    }

    #[test]
    fn signal_names_follow_bao_agent() {
        assert_eq!(StopSignal::parse("sigusr1").unwrap().name(), "SIGUSR1");
        assert!(StopSignal::parse("TERM").is_err());
        assert!(StopSignal::parse("SIGRTMIN").is_err());
        assert_eq!(RestartPolicy::parse("").unwrap(), RestartPolicy::Always);
        assert_eq!(RestartPolicy::parse("never").unwrap(), RestartPolicy::Never);
    }
}

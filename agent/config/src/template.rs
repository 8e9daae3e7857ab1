//! `template[]` and `template_config`: rendered files and the settings shared by all of them.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::{GoDuration, is_false, non_empty};

/// `template[]`: one rendered file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub destination: String,
    /// Inline template text. Exactly one of `contents` and `source` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Path of a template file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_delimiter: Option<String>,
    /// Deprecated spelling of `exec.command`; `exec.command` wins when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Deprecated spelling of `exec.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_timeout: Option<GoDuration>,
    /// The command run after a render changed the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<TemplateExec>,
    /// Quiescence: `"5s"`, `"5s:20s"` or `{ "min": "5s", "max": "20s" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Octal file mode such as `"0640"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perms: Option<FileMode>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub error_on_missing_key: bool,
    /// Vault Agent's default is true; `None` means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_dest_dirs: Option<bool>,
    /// Function names that fail when called (exact names, as `bao agent` matches them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_denylist: Vec<String>,
    /// The old spelling of `function_denylist`; both lists apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_blacklist: Vec<String>,
    /// `file` may read only below this directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_path: Option<String>,
}

impl Template {
    pub fn left_delimiter(&self) -> &str {
        non_empty(&self.left_delimiter).unwrap_or("{{")
    }

    pub fn right_delimiter(&self) -> &str {
        non_empty(&self.right_delimiter).unwrap_or("}}")
    }

    pub fn create_dest_dirs(&self) -> bool {
        self.create_dest_dirs.unwrap_or(true)
    }

    /// The command to run after a changed render, `exec.command` before the deprecated
    /// `command`.
    pub fn exec_command(&self) -> Option<&Command> {
        self.exec
            .as_ref()
            .and_then(|e| e.command.as_ref())
            .or(self.command.as_ref())
    }

    /// How long the command may run: `exec.timeout`, else `command_timeout`, else 30 s
    /// (Vault Agent's default). Zero means "do not wait for it".
    pub fn exec_timeout(&self) -> Duration {
        self.exec
            .as_ref()
            .and_then(|e| e.timeout)
            .or(self.command_timeout)
            .map(|d| d.0)
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT)
    }

    /// The quiescence window, when `wait` enables one (a non-zero `min`).
    pub fn quiescence(&self) -> Option<Wait> {
        self.wait.filter(|w| !w.min.is_zero())
    }

    /// `function_denylist` and `function_blacklist` together.
    pub fn denied_functions(&self) -> Vec<String> {
        let mut all = self.function_denylist.clone();
        all.extend(self.function_blacklist.iter().cloned());
        all
    }
}

/// Vault Agent's default command timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A template's `exec` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateExec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
}

/// A template's `wait`: each data change pushes the render out by `min`, but never past the
/// first change plus `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub min: Duration,
    pub max: Duration,
}

impl Wait {
    /// consul-template's string form: `"MIN"` (max = 4 × min) or `"MIN:MAX"`.
    pub fn parse(text: &str) -> Result<Wait, String> {
        let parts: Vec<&str> = text.trim().split(':').map(str::trim).collect();
        let duration = |p: &str| GoDuration::parse(p).map(|d| d.0).map_err(|e| e.to_string());
        let wait = match parts.as_slice() {
            [""] => return Err("wait cannot be empty (expected e.g. \"5s\" or \"5s:20s\")".into()),
            [min] => {
                let min = duration(min)?;
                Wait {
                    min,
                    max: min.saturating_mul(4),
                }
            }
            [min, max] => Wait {
                min: duration(min)?,
                max: duration(max)?,
            },
            _ => {
                return Err(format!(
                    "wait {text:?} is not MIN or MIN:MAX (e.g. \"5s:20s\")"
                ));
            }
        };
        if wait.max < wait.min {
            return Err(format!("wait {text:?}: min must be less than max"));
        }
        Ok(wait)
    }
}

impl Serialize for Wait {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut map = s.serialize_struct("Wait", 2)?;
        map.serialize_field("min", &GoDuration(self.min))?;
        map.serialize_field("max", &GoDuration(self.max))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Wait {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Object {
            #[serde(default)]
            min: Option<GoDuration>,
            #[serde(default)]
            max: Option<GoDuration>,
        }
        let expected = "expected \"MIN\", \"MIN:MAX\" or {\"min\": \"5s\", \"max\": \"20s\"}";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(text) => Wait::parse(&text).map_err(de::Error::custom),
            object @ serde_json::Value::Object(_) => {
                let Object { min, max } = serde_json::from_value(object)
                    .map_err(|e| de::Error::custom(format!("{e}; {expected}")))?;
                let min = min.map(|d| d.0).unwrap_or_default();
                Ok(Wait {
                    min,
                    max: max.map(|d| d.0).unwrap_or(min.saturating_mul(4)),
                })
            }
            other => Err(de::Error::custom(format!("{expected}, found {other}"))),
        }
    }
}

/// A template `command`: a string (vault-k8s's form) or an argv list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Line(String),
    Argv(Vec<String>),
}

/// A Unix file mode, written in config as an octal string (`"0640"`) or a number.
///
/// A bare JSON number is read as octal digits too (`640` means `0o640`), as Vault Agent does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        let text = match &raw {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(de::Error::custom(
                    "expected an octal file mode such as \"0640\"",
                ));
            }
        };
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|mode| *mode <= 0o7777)
            .map(FileMode)
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "{text:?} is not an octal file mode (expected e.g. \"0640\")"
                ))
            })
    }
}

/// `template_config`: settings for every template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateConfig {
    #[serde(default)]
    pub exit_on_retry_failure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_secret_render_interval: Option<GoDuration>,
    /// Fraction of a lease after which it is renewed; Vault Agent's default is 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_renewal_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_host: Option<u32>,
}

impl TemplateConfig {
    /// How often unleased static secrets (KV) are re-read; Vault Agent's default is 5 minutes.
    pub fn static_secret_render_interval(&self) -> Duration {
        self.static_secret_render_interval
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(300))
    }
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
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

    /// `function_denylist` and `function_blacklist` together.
    pub fn denied_functions(&self) -> Vec<String> {
        let mut all = self.function_denylist.clone();
        all.extend(self.function_blacklist.iter().cloned());
        all
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

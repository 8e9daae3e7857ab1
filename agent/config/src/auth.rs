//! `auto_auth`: the login method and its token sinks.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::{GoDuration, is_false};

/// `auto_auth`: one login method and its token sinks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoAuth {
    /// vault-k8s writes an object; HCL converted to JSON gives a one-element list. Both parse.
    #[serde(deserialize_with = "one_or_first")]
    pub method: AuthMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sink: Vec<Sink>,
}

/// `auto_auth.method`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthMethod {
    /// `kubernetes`, `jwt`, `approle` or `token_file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. `auth/kubernetes`; defaults to `auth/<type>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Method-specific settings (`role`, `token_path`, `path`, `role_id_file_path`, ...).
    /// Values are strings in practice, but Vault accepts any JSON scalar.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub exit_on_err: bool,
}

impl AuthMethod {
    /// The auth mount without the `auth/` prefix, as the login endpoint `auth/<mount>/login`
    /// wants it.
    pub fn mount(&self) -> &str {
        match &self.mount_path {
            Some(path) => {
                let path = path.trim_matches('/');
                path.strip_prefix("auth/").unwrap_or(path)
            }
            None => &self.kind,
        }
    }

    /// A string value from `config`, if present and a string.
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(|v| v.as_str())
    }
}

/// `auto_auth.sink[]`: where the token is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sink {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

impl Sink {
    /// The file path of a `file` sink.
    pub fn path(&self) -> Option<&str> {
        self.config.get("path").and_then(|v| v.as_str())
    }
}

fn one_or_first<'de, D: Deserializer<'de>>(d: D) -> Result<AuthMethod, D::Error> {
    // Decoding through a Value (not an untagged enum) keeps the precise inner error message.
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => {
            let count = items.len();
            let mut methods = items.into_iter();
            match (methods.next(), count) {
                (Some(only), 1) => serde_json::from_value(only).map_err(de::Error::custom),
                _ => Err(de::Error::custom(format!(
                    "expected exactly one auth method, found {count}"
                ))),
            }
        }
        other => serde_json::from_value(other).map_err(de::Error::custom),
    }
}

//! The Vault Agent JSON configuration, the contract between the webhook and the agent.
//!
//! This is the subset of Vault Agent's schema that vault-k8s generates and that people write by
//! hand, plus kagi's own top-level `kagi` block. The webhook builds a [`AgentConfig`] and
//! serializes it into `VAULT_CONFIG`; the agent parses it back with [`AgentConfig::from_json`].
//! The same file must also be accepted by `bao agent -config`, so nothing here may invent keys
//! outside `kagi`.
//!
//! Pass-through stanzas the agent does not interpret (`cache`, `telemetry`) are kept as raw JSON
//! so a config round-trips without losing them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A whole agent configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_auth: Option<AutoAuth>,
    /// Render every template once, then exit 0 (the init-container mode).
    #[serde(default)]
    pub exit_after_auth: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultConnection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template: Vec<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listener: Vec<Listener>,
    /// Vault Agent's cache stanza; kagi does not run a cache and keeps it only for round-trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_config: Option<TemplateConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disable_idle_connections: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disable_keep_alives: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<serde_json::Value>,
    /// kagi's extensions. A stock Vault agent rejects this key, so the webhook emits it only for
    /// the kagi agent flavour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kagi: Option<KagiExtensions>,
}

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

/// `vault`: how to reach the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VaultConnection {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// `vault.retry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Vault Agent's default is 12; `-1` disables retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
}

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

/// `listener[]`. kagi serves only the agent API (`/agent/v1/quit`) on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentApi>,
}

/// `listener[].agent_api`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentApi {
    #[serde(default)]
    pub enable_quit: bool,
}

/// kagi's own settings, under the top-level key `kagi`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KagiExtensions {
    /// On shutdown, revoke every lease and then the token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoke_on_shutdown: bool,
    /// Written once every template has rendered; `kagi-agent probe` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_file: Option<String>,
    /// Directory (an agent-only memory volume) where the init container leaves its token and
    /// lease ids for the sidecar to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

/// A duration written the Go way (`"5m"`, `"1h30m"`, `"250ms"`) or as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Parses Go's `time.ParseDuration` syntax, plus a bare number meaning seconds (as Vault's
    /// config parser accepts).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let bad = || DurationError(text.to_owned());
        let s = text.trim();
        if s.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(GoDuration(Duration::from_secs(secs)));
        }
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        let mut rest = s.strip_prefix('+').unwrap_or(s);
        let mut total = 0f64;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if number_len == 0 {
                return Err(bad());
            }
            let value: f64 = rest[..number_len].parse().map_err(|_| bad())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let nanos_per_unit = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad()),
            };
            total += value * nanos_per_unit;
            rest = &rest[unit_len..];
        }
        Ok(GoDuration(Duration::from_nanos(total.round() as u64)))
    }
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `Duration.String()` for whole units: `1h30m0s`, `5m0s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let nanos = d.as_nanos();
            return if nanos.is_multiple_of(1_000_000) {
                write!(f, "{}ms", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                write!(f, "{}µs", nanos / 1_000)
            } else {
                write!(f, "{nanos}ns")
            };
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let frac = d.subsec_nanos();
        let seconds = if frac == 0 {
            format!("{s}s")
        } else {
            let digits = format!("{frac:09}");
            format!("{s}.{}s", digits.trim_end_matches('0'))
        };
        match (h, m) {
            (0, 0) => f.write_str(&seconds),
            (0, m) => write!(f, "{m}m{seconds}"),
            (h, m) => write!(f, "{h}h{m}m{seconds}"),
        }
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => GoDuration::parse(&s).map_err(de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|secs| GoDuration(Duration::from_secs(secs)))
                .ok_or_else(|| de::Error::custom(format!("{n} is not a whole number of seconds"))),
            other => Err(de::Error::custom(format!(
                "expected a duration such as \"5m\", found {other}"
            ))),
        }
    }
}

/// A duration string that is not Go syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration (expected e.g. \"30s\", \"5m\", \"1h30m\")")]
pub struct DurationError(pub String);

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid JSON or has a wrong value at `{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error("config is missing required `{0}`")]
    Missing(&'static str),
    #[error("template {index} ({destination}): {message}")]
    Template {
        index: usize,
        destination: String,
        message: String,
    },
}

/// A parsed config plus the keys that were present but not understood (warnings, not errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: AgentConfig,
    pub unknown_keys: Vec<String>,
}

impl AgentConfig {
    /// Parses a JSON config, naming the key of any wrong type and collecting unknown keys.
    ///
    /// Top-level unknown keys are rejected by Vault Agent too (`deny_unknown_fields` here), but
    /// unknown keys inside a stanza are only warnings, so newer Vault configs still load.
    pub fn from_json(bytes: &[u8]) -> Result<Loaded, ConfigError> {
        let mut unknown_keys = Vec::new();
        let mut json = serde_json::Deserializer::from_slice(bytes);
        // serde_ignored marks `Option` layers as `?`; users think in keys, so drop them.
        let mut note_unknown =
            |path: serde_ignored::Path<'_>| unknown_keys.push(path.to_string().replace(".?", ""));
        let ignoring = serde_ignored::Deserializer::new(&mut json, &mut note_unknown);
        let config: AgentConfig =
            serde_path_to_error::deserialize(ignoring).map_err(|err| ConfigError::Invalid {
                path: err.path().to_string(),
                message: err.inner().to_string(),
            })?;
        config.validate()?;
        Ok(Loaded {
            config,
            unknown_keys,
        })
    }

    /// Serializes to compact JSON, the form carried in `VAULT_CONFIG` (base64 of this).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("config types always serialize")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(vault) = &self.vault
            && vault.address.trim().is_empty()
        {
            return Err(ConfigError::Missing("vault.address"));
        }
        for (index, template) in self.template.iter().enumerate() {
            let problem = if template.destination.trim().is_empty() {
                Some("`destination` is required")
            } else {
                match (&template.contents, &template.source) {
                    (Some(_), Some(_)) => Some("`contents` and `source` are mutually exclusive"),
                    (None, None) => Some("one of `contents` or `source` is required"),
                    _ => None,
                }
            };
            if let Some(message) = problem {
                return Err(ConfigError::Template {
                    index,
                    destination: template.destination.clone(),
                    message: message.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The configured login method, if any.
    pub fn auth_method(&self) -> Option<&AuthMethod> {
        self.auto_auth.as_ref().map(|a| &a.method)
    }

    /// True when some listener enables `POST /agent/v1/quit`.
    pub fn quit_enabled(&self) -> bool {
        self.listener
            .iter()
            .any(|l| l.agent_api.as_ref().is_some_and(|api| api.enable_quit))
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

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical sidecar config from vault-k8s's own unit test.
    const VAULT_K8S_SIDECAR: &str = r#"{"auto_auth":{"method":{"type":"kubernetes","mount_path":"test","config":{"role":"role","token_path":"serviceaccount/somewhere/token"}},"sink":[{"type":"file","config":{"path":"/home/vault/.vault-token"}}]},"exit_after_auth":false,"pid_file":"/home/vault/.pid","vault":{"address":"http://foobar:1234"},"template_config":{"exit_on_retry_failure":true}}"#;

    #[test]
    fn vault_k8s_config_round_trips_byte_for_byte() {
        let loaded = AgentConfig::from_json(VAULT_K8S_SIDECAR.as_bytes()).unwrap();
        assert!(loaded.unknown_keys.is_empty());
        let method = loaded.config.auth_method().unwrap();
        assert_eq!(method.kind, "kubernetes");
        assert_eq!(method.mount(), "test");
        assert_eq!(method.config_str("role"), Some("role"));
        assert_eq!(loaded.config.to_json(), VAULT_K8S_SIDECAR);
    }

    #[test]
    fn method_as_one_element_list_is_accepted() {
        let json = r#"{"auto_auth":{"method":[{"type":"jwt","config":{"role":"r","path":"/t"}}]}}"#;
        let loaded = AgentConfig::from_json(json.as_bytes()).unwrap();
        let method = loaded.config.auth_method().unwrap();
        assert_eq!(method.kind, "jwt");
        assert_eq!(method.mount(), "jwt");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let json = r#"{"vault":{"address":"http://x"},"template":[{"destination":"/a","contents":"x","perms":true}]}"#;
        let err = AgentConfig::from_json(json.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("template[0].perms"), "{text}");
    }

    #[test]
    fn unknown_nested_key_is_a_warning_not_an_error() {
        let json = r#"{"vault":{"address":"http://x","shiny_new_option":1}}"#;
        let loaded = AgentConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(
            loaded.unknown_keys,
            vec!["vault.shiny_new_option".to_owned()]
        );
    }

    #[test]
    fn template_needs_exactly_one_source() {
        let json = r#"{"template":[{"destination":"/a"}]}"#;
        let err = AgentConfig::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("one of `contents` or `source`"));
        let json = r#"{"template":[{"destination":"/a","contents":"x","source":"/t"}]}"#;
        assert!(AgentConfig::from_json(json.as_bytes()).is_err());
    }

    #[test]
    fn go_durations_parse_and_print() {
        let cases = [
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("30", 30_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                GoDuration::parse(text).unwrap().0,
                Duration::from_millis(millis),
                "{text}"
            );
        }
        for bad in ["", "m", "5x", "-1s", "1h-"] {
            assert!(GoDuration::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(GoDuration::parse("1h30m").unwrap().to_string(), "1h30m0s");
        assert_eq!(GoDuration::parse("5m").unwrap().to_string(), "5m0s");
        assert_eq!(GoDuration::parse("250ms").unwrap().to_string(), "250ms");
    }

    #[test]
    fn file_modes_are_octal() {
        let t: Template =
            serde_json::from_str(r#"{"destination":"/a","contents":"x","perms":"0640"}"#).unwrap();
        assert_eq!(t.perms, Some(FileMode(0o640)));
        let t: Template =
            serde_json::from_str(r#"{"destination":"/a","contents":"x","perms":600}"#).unwrap();
        assert_eq!(t.perms, Some(FileMode(0o600)));
        assert!(
            serde_json::from_str::<Template>(r#"{"destination":"/a","contents":"x","perms":"9"}"#)
                .is_err()
        );
    }
}

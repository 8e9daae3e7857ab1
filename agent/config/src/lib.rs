//! The Vault Agent JSON configuration, the contract between the webhook and the agent.
//!
//! This is the subset of Vault Agent's schema that vault-k8s generates and that people write by
//! hand, plus kagi's own top-level `kagi` block. The webhook builds a [`AgentConfig`] and
//! serializes it into `VAULT_CONFIG`; the agent parses it back with [`AgentConfig::from_json`].
//! The same file must also be accepted by `bao agent -config`, so nothing here may invent keys
//! outside `kagi`.
//!
//! Pass-through stanzas the agent does not interpret (`telemetry`, `cache.persist`) are kept as
//! raw JSON so a config round-trips without losing them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod auth;
mod duration;
mod kagi;
mod listener;
mod signals;
mod supervisor;
mod template;
mod vault;

pub use auth::{AuthMethod, AutoAuth, Sink};
pub use duration::{DurationError, GoDuration};
pub use kagi::KagiExtensions;
pub use listener::{AgentApi, ApiProxy, Cache, Listener, TokenUse, UseAutoAuthToken, token_use};
pub use signals::{LINUX_SIGNALS, signal_name, signal_number};
pub use supervisor::{
    EnvTemplate, Exec, RestartPolicy, SIGNAL_NAMES, StopSignal, is_settable_env_name,
};
pub use template::{
    Command, DEFAULT_COMMAND_TIMEOUT, FileMode, Template, TemplateConfig, TemplateExec, Wait,
};
pub use vault::{Retry, VaultConnection};

/// A whole agent configuration file.
///
/// Unknown keys, top-level ones included, are warnings ([`Loaded::unknown_keys`]): `bao agent`
/// accepts a Vault Agent file with keys it does not use (`disable_mlock`, say) and so does kagi.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_auth: Option<AutoAuth>,
    /// Render every template once, then exit 0 (the init-container mode).
    #[serde(default)]
    pub exit_after_auth: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    /// The log level when neither `BAO_LOG_LEVEL` nor `VAULT_LOG_LEVEL` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `standard` or `json`, when neither `BAO_LOG_FORMAT` nor `VAULT_LOG_FORMAT` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Refused: the agent logs to stderr, which is the pod's log (see `validate`).
    #[serde(default, skip_serializing)]
    pub log_file: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultConnection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template: Vec<Template>,
    /// Process-supervisor mode: variables rendered into the environment of `exec`'s child.
    /// Read from an object keyed by name or a list of such objects, as `bao agent` does.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "supervisor::deserialize_env_templates"
    )]
    pub env_template: BTreeMap<String, EnvTemplate>,
    /// Process-supervisor mode: the child process (an object or a one-element list).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "supervisor::deserialize_exec"
    )]
    pub exec: Option<Exec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listener: Vec<Listener>,
    /// The lease cache of the API proxy (present, even empty: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// How the API proxy adds the auto-auth token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_proxy: Option<ApiProxy>,
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
    /// `env_template` / `exec` (process-supervisor mode), worded as `bao agent` words it.
    #[error("{0}")]
    Supervisor(String),
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
    /// Unknown keys, at the top level or inside a stanza, are only warnings, so Vault Agent
    /// files with settings kagi has no use for, and newer Vault configs, still load.
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
        if self.log_file.is_some() {
            // bao agent would write its log there; ignoring the key would lose the log the user
            // asked for, so it is a startup error that says where the log goes instead.
            return Err(ConfigError::Invalid {
                path: "log_file".into(),
                message: "not supported: kagi-agent logs to stderr (the container's log); remove `log_file`".into(),
            });
        }
        if let Some(vault) = &self.vault
            && vault.address.trim().is_empty()
        {
            return Err(ConfigError::Missing("vault.address"));
        }
        token_use(self.api_proxy.as_ref(), self.cache.as_ref()).map_err(|message| {
            ConfigError::Invalid {
                path: "api_proxy.use_auto_auth_token".into(),
                message: message.into(),
            }
        })?;
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
        self.validate_supervisor()
    }

    /// `bao agent`'s rules for process-supervisor mode, except that `exec` may be absent:
    /// `kagi-agent exec -- PROGRAM` supplies it (see [`AgentConfig::supervised_command`]).
    fn validate_supervisor(&self) -> Result<(), ConfigError> {
        let refuse = |message: String| Err(ConfigError::Supervisor(message));
        if self.env_template.is_empty() {
            if self.exec.is_some() {
                return refuse(
                    "must specify at least one 'env_template' element with a top-level 'exec' element"
                        .into(),
                );
            }
            return Ok(());
        }
        if !self.template.is_empty() {
            return refuse("'template' cannot be specified with 'env_template' entries".into());
        }
        for (name, template) in &self.env_template {
            if !is_settable_env_name(name) {
                return refuse(format!(
                    "env_template[{name:?}]: not a usable environment variable name (empty, or contains '=' or NUL)"
                ));
            }
            match (&template.contents, &template.source) {
                (None, None) => {
                    return refuse(format!(
                        "env_template[{name}]: either 'contents' or 'source' must be specified"
                    ));
                }
                (Some(_), Some(_)) => {
                    return refuse(format!(
                        "env_template[{name}]: 'contents' and 'source' cannot be specified together"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// True when the config asks for process-supervisor mode (`env_template` entries).
    pub fn is_supervisor(&self) -> bool {
        !self.env_template.is_empty()
    }

    /// The child's argv: `from_command_line` (`kagi-agent exec -- ...`) wins over
    /// `exec.command`; without either it is the error `bao agent` gives.
    pub fn supervised_command(
        &self,
        from_command_line: Option<&[String]>,
    ) -> Result<Vec<String>, ConfigError> {
        if let Some(argv) = from_command_line.filter(|a| !a.is_empty()) {
            return Ok(argv.to_vec());
        }
        let exec = self.exec.as_ref().ok_or_else(|| {
            ConfigError::Supervisor(
                "a top-level 'exec' element must be specified with 'env_template' entries".into(),
            )
        })?;
        if exec.command.is_empty() || exec.command[0].trim().is_empty() {
            return Err(ConfigError::Supervisor(
                "'exec' requires a non-empty 'command' field".into(),
            ));
        }
        Ok(exec.command.clone())
    }

    /// The configured login method, if any.
    pub fn auth_method(&self) -> Option<&AuthMethod> {
        self.auto_auth.as_ref().map(|a| &a.method)
    }

    /// How the API proxy adds the auto-auth token (validated by [`AgentConfig::from_json`]).
    pub fn proxy_token_use(&self) -> TokenUse {
        token_use(self.api_proxy.as_ref(), self.cache.as_ref()).unwrap_or_default()
    }

    /// True when some listener enables `POST /agent/v1/quit`.
    pub fn quit_enabled(&self) -> bool {
        self.listener
            .iter()
            .any(|l| l.agent_api.as_ref().is_some_and(|api| api.enable_quit))
    }
}

pub(crate) fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn unknown_top_level_keys_are_warnings_and_log_keys_are_read() {
        let json = r#"{"disable_mlock":true,"log_level":"debug","log_format":"json","vault":{"address":"http://x"}}"#;
        let loaded = AgentConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(loaded.unknown_keys, vec!["disable_mlock".to_owned()]);
        assert_eq!(loaded.config.log_level.as_deref(), Some("debug"));
        assert_eq!(loaded.config.log_format.as_deref(), Some("json"));
        let err = AgentConfig::from_json(br#"{"log_file":"/var/log/agent.log"}"#).unwrap_err();
        assert!(err.to_string().contains("`log_file`"), "{err}");
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
    fn template_exec_and_its_deprecated_spelling() {
        let t: Template = serde_json::from_str(
            r#"{"destination":"/a","contents":"x","exec":{"command":["kill","-HUP","1"],"timeout":"5s"},"command":"old"}"#,
        )
        .unwrap();
        assert_eq!(
            t.exec_command(),
            Some(&Command::Argv(vec![
                "kill".into(),
                "-HUP".into(),
                "1".into()
            ]))
        );
        assert_eq!(t.exec_timeout(), Duration::from_secs(5));
        let t: Template = serde_json::from_str(
            r#"{"destination":"/a","contents":"x","command":"pkill -HUP app","command_timeout":"2s"}"#,
        )
        .unwrap();
        assert_eq!(
            t.exec_command(),
            Some(&Command::Line("pkill -HUP app".into()))
        );
        assert_eq!(t.exec_timeout(), Duration::from_secs(2));
        let t: Template =
            serde_json::from_str(r#"{"destination":"/a","contents":"x","exec":{"command":"x y"}}"#)
                .unwrap();
        assert_eq!(t.exec_timeout(), DEFAULT_COMMAND_TIMEOUT);
    }

    #[test]
    fn wait_forms() {
        let wait = |json: &str| {
            serde_json::from_str::<Template>(&format!(
                r#"{{"destination":"/a","contents":"x","wait":{json}}}"#
            ))
            .map(|t| t.quiescence())
        };
        let s = Duration::from_secs;
        let w = |min, max| {
            Some(Wait {
                min: s(min),
                max: s(max),
            })
        };
        assert_eq!(wait(r#""5s""#).unwrap(), w(5, 20));
        assert_eq!(wait(r#""5s:10s""#).unwrap(), w(5, 10));
        assert_eq!(wait(r#"{"min":"2s","max":"7s"}"#).unwrap(), w(2, 7));
        assert_eq!(wait(r#"{"min":"3s"}"#).unwrap(), w(3, 12));
        // No min: no quiescence, as in consul-template.
        assert_eq!(wait(r#"{"max":"7s"}"#).unwrap(), None);
        assert_eq!(wait(r#""0s""#).unwrap(), None);
        for bad in [
            r#""""#,
            r#""5x""#,
            r#""1s:2s:3s""#,
            r#""10s:5s""#,
            "5",
            r#"{"min":"x"}"#,
            r#"{"mni":"1s"}"#,
        ] {
            let err = wait(bad).unwrap_err().to_string();
            assert!(
                err.contains("wait") || err.contains("duration") || err.contains("min"),
                "{bad}: {err}"
            );
        }
        // Round trip keeps the meaning.
        let t: Template =
            serde_json::from_str(r#"{"destination":"/a","contents":"x","wait":"5s"}"#).unwrap();
        let back: Template = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.quiescence(), w(5, 20));
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

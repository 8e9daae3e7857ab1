//! The typed value of a pod's annotations, with injector defaults filled in.

use std::collections::{BTreeMap, BTreeSet};

use kagi_agent_config::{FileMode, GoDuration};

use super::render_command::{self, RenderCommand};
use super::{AnnotationError, Annotations, DefaultTemplate, EnvSettings, validate_quantity};
use crate::settings::{AgentFlavor, InjectorSettings};

/// Everything the annotations ask for. Built by [`PodSettings::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct PodSettings {
    // Control.
    pub pre_populate: bool,
    pub pre_populate_only: bool,
    /// `None`: not given (the shape decides).
    pub init_first: Option<bool>,
    /// `None`: every app container.
    pub inject_containers: Option<Vec<String>>,
    pub configmap: Option<String>,
    pub json_patch: Option<json_patch::Patch>,
    pub init_json_patch: Option<json_patch::Patch>,
    /// `None`: the injector flag decides.
    pub native_sidecar: Option<bool>,
    /// Which of the shape-selecting annotations were given explicitly.
    pub explicit_pre_populate: bool,
    // Secrets and templates.
    pub secrets: Vec<SecretFile>,
    pub secret_volume_path: String,
    pub default_template: DefaultTemplate,
    pub inject_token: bool,
    pub template: TemplateDefaults,
    // Container shape.
    pub image: String,
    pub resources: AgentResources,
    pub run_as_user: i64,
    pub run_as_group: i64,
    pub run_as_same_user: bool,
    pub set_security_context: bool,
    pub share_process_namespace: Option<bool>,
    pub revoke_on_shutdown: bool,
    pub revoke_grace: u64,
    pub extra_secret: Option<String>,
    pub copy_volume_mounts: Option<String>,
    pub token_volume_name: Option<String>,
    pub go_max_procs: Option<String>,
    // Features.
    pub cache: CacheSettings,
    pub enable_quit: bool,
    pub auto_auth_exit_on_err: bool,
    pub telemetry: BTreeMap<String, serde_json::Value>,
    pub disable_idle_connections: Vec<String>,
    pub disable_keep_alives: Vec<String>,
    // Vault connection and auth.
    pub vault_address: String,
    pub role: Option<String>,
    pub auth_type: String,
    pub auth_path: String,
    pub auth_config: BTreeMap<String, String>,
    pub min_backoff: Option<GoDuration>,
    pub max_backoff: Option<GoDuration>,
    pub namespace: Option<String>,
    pub proxy_address: Option<String>,
    pub tls_skip_verify: bool,
    pub tls_secret: Option<String>,
    pub tls_server_name: Option<String>,
    pub ca_cert: Option<String>,
    pub ca_key: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub client_max_retries: Option<String>,
    pub client_timeout: Option<String>,
    pub log_level: String,
    pub log_format: String,
    // Env mode (kagi): `agent-env-*`.
    pub env: EnvSettings,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The suffix as written in the annotations (other per-secret lookups use it).
    pub name: String,
    /// File name under the volume path (lower-cased unless case is preserved).
    pub file_name: String,
    pub vault_path: Option<String>,
    pub template: Option<String>,
    pub template_file: Option<String>,
    /// `agent-inject-file-<name>`: a path relative to the volume path.
    pub file: Option<String>,
    pub perms: Option<u32>,
    /// `agent-inject-command-<name>` or `agent-inject-signal-<name>`.
    pub command: Option<RenderCommand>,
    pub left_delimiter: String,
    pub right_delimiter: String,
    pub error_on_missing_key: bool,
    pub volume_path: String,
}

/// `template_config` values.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDefaults {
    pub exit_on_retry_failure: bool,
    pub static_secret_render_interval: Option<GoDuration>,
    pub max_connections_per_host: Option<u32>,
    pub lease_renewal_threshold: Option<f64>,
}

/// Requests and limits; `None` omits the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentResources {
    pub cpu_request: Option<String>,
    pub memory_request: Option<String>,
    pub ephemeral_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
    pub ephemeral_limit: Option<String>,
}

/// The `agent-cache-*` annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub enable: bool,
    pub use_auto_auth_token: String,
    pub listener_port: u16,
    pub exit_on_err: bool,
}

/// Telemetry keys Vault Agent knows; vault-k8s drops any other `agent-telemetry-*` key.
const TELEMETRY_KEYS: &[&str] = &[
    "usage_gauge_period",
    "maximum_gauge_cardinality",
    "disable_hostname",
    "enable_hostname_label",
    "lease_metrics_epsilon",
    "num_lease_metrics_buckets",
    "add_lease_metrics_namespace_labels",
    "filter_default",
    "prefix_filter",
    "statsite_address",
    "statsd_address",
    "circonus_api_token",
    "circonus_api_app",
    "circonus_api_url",
    "circonus_submission_interval",
    "circonus_submission_url",
    "circonus_check_id",
    "circonus_check_force_metric_activation",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_display_name",
    "circonus_check_tags",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "prometheus_retention_time",
    "stackdriver_project_id",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_debug_logs",
];

const CONNECTION_KINDS: &str = "a comma list of auto-auth, caching, templating";

impl PodSettings {
    /// Reads every annotation, falling back to the injector's defaults.
    pub fn parse(a: &Annotations, s: &InjectorSettings) -> Result<Self, AnnotationError> {
        let quantity = |suffix: &str, default: &str| -> Result<Option<String>, AnnotationError> {
            match a.get(suffix) {
                None => Ok((!default.is_empty()).then(|| default.to_owned())),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => validate_quantity(v.trim())
                    .map(|()| Some(v.trim().to_owned()))
                    .map_err(|_| {
                        a.invalid(suffix, "a resource quantity such as 250m, 0.5, 64Mi or 1G")
                    }),
            }
        };
        let duration =
            |suffix: &str, default: &str| -> Result<Option<GoDuration>, AnnotationError> {
                let parse = |t: &str| GoDuration::parse(t).ok();
                match a.parsed(suffix, "a duration such as 30s, 5m or 1h30m", parse)? {
                    Some(d) => Ok(Some(d)),
                    None => Ok(GoDuration::parse(default).ok()),
                }
            };
        let int = |suffix: &str, default: i64| -> Result<i64, AnnotationError> {
            Ok(a.parsed(suffix, "an integer", |t| t.parse().ok())?
                .unwrap_or(default))
        };
        let connection_list = |suffix: &str,
                               default: &str|
         -> Result<Vec<String>, AnnotationError> {
            let split = |text: &str| -> Vec<String> {
                text.split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            match a.get(suffix) {
                None => Ok(split(default)),
                Some(text) => {
                    let items = split(text);
                    let known =
                        |i: &String| matches!(i.as_str(), "auto-auth" | "caching" | "templating");
                    if items.iter().all(known) {
                        Ok(items)
                    } else {
                        Err(a.invalid(suffix, CONNECTION_KINDS))
                    }
                }
            }
        };
        let patch = |suffix: &str| -> Result<Option<json_patch::Patch>, AnnotationError> {
            match a.text(suffix) {
                None => Ok(None),
                Some(text) if text.trim() == "null" => Ok(None),
                Some(text) => serde_json::from_str::<json_patch::Patch>(&text)
                    .map(|p| (!p.0.is_empty()).then_some(p))
                    .map_err(|e| {
                        a.invalid(
                            suffix,
                            format!("an RFC 6902 JSON patch (a JSON array of operations): {e}"),
                        )
                    }),
            }
        };

        let secret_volume_path = a
            .text("secret-volume-path")
            .map(|p| trim_dir(&p))
            .unwrap_or_else(|| "/vault/secrets".to_owned());
        let preserve_case = a.bool_or("preserve-secret-case", false)?;
        let default_template = match a.get("agent-inject-default-template") {
            None => s.default_template,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "map" => DefaultTemplate::Map,
                "json" => DefaultTemplate::Json,
                _ => return Err(a.invalid("agent-inject-default-template", "map or json")),
            },
        };

        let run_as_given = [
            "agent-run-as-user",
            "agent-run-as-group",
            "agent-run-as-same-user",
        ]
        .iter()
        .any(|k| a.get(k).is_some());
        // vault-k8s: asking for a UID implies a security context even when the flag is off.
        let set_security_context = match a.get("agent-set-security-context") {
            Some(_) => a.bool_or("agent-set-security-context", true)?,
            None => s.set_security_context || run_as_given,
        };

        let mut auth_config = BTreeMap::new();
        for (param, value) in a.with_prefix("auth-config-") {
            auth_config.insert(param.replace('-', "_"), value.to_owned());
        }
        let mut telemetry = BTreeMap::new();
        for (param, value) in a.with_prefix("agent-telemetry-") {
            let key = param.replace('-', "_");
            if TELEMETRY_KEYS.contains(&key.as_str()) {
                let value = serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
                telemetry.insert(key, value);
            }
        }

        let vault_address = a.text("service").unwrap_or_else(|| s.vault_address.clone());
        Ok(PodSettings {
            pre_populate: a.bool_or("agent-pre-populate", true)?,
            pre_populate_only: a.bool_or("agent-pre-populate-only", false)?,
            explicit_pre_populate: a.get("agent-pre-populate").is_some(),
            init_first: a.bool_opt("agent-init-first")?,
            // Trimmed, unlike vault-k8s; an empty value targets no app container, as there.
            inject_containers: a.get("agent-inject-containers").map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            configmap: a.text("agent-configmap"),
            json_patch: patch("agent-json-patch")?,
            init_json_patch: patch("agent-init-json-patch")?,
            native_sidecar: a.bool_opt("agent-native-sidecar")?,
            secrets: parse_secrets(a, &secret_volume_path, preserve_case, s.agent_flavor)?,
            secret_volume_path,
            default_template,
            inject_token: a.bool_or("agent-inject-token", false)?,
            template: TemplateDefaults {
                exit_on_retry_failure: a.bool_or(
                    "template-config-exit-on-retry-failure",
                    s.exit_on_retry_failure,
                )?,
                static_secret_render_interval: duration(
                    "template-static-secret-render-interval",
                    &s.static_secret_render_interval,
                )?,
                max_connections_per_host: a
                    .parsed(
                        "template-max-connections-per-host",
                        "a non-negative integer",
                        |t| t.parse().ok(),
                    )?
                    .or(Some(s.max_connections_per_host))
                    // Zero means the agent's default, as vault-k8s omits it.
                    .filter(|n| *n > 0),
                lease_renewal_threshold: a
                    .parsed(
                        "template-lease-renewal-threshold",
                        "a number between 0 and 1 such as 0.9",
                        |t| t.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)),
                    )?
                    .or(Some(s.lease_renewal_threshold))
                    .filter(|f| *f > 0.0),
            },
            image: a
                .text("agent-image")
                .unwrap_or_else(|| s.default_agent_image().to_owned()),
            resources: AgentResources {
                cpu_request: quantity("agent-requests-cpu", &s.cpu_request)?,
                memory_request: quantity("agent-requests-mem", &s.memory_request)?,
                ephemeral_request: quantity("agent-requests-ephemeral", &s.ephemeral_request)?,
                cpu_limit: quantity("agent-limits-cpu", &s.cpu_limit)?,
                memory_limit: quantity("agent-limits-mem", &s.memory_limit)?,
                ephemeral_limit: quantity("agent-limits-ephemeral", &s.ephemeral_limit)?,
            },
            run_as_user: int("agent-run-as-user", s.run_as_user)?,
            run_as_group: int("agent-run-as-group", s.run_as_group)?,
            run_as_same_user: a.bool_or("agent-run-as-same-user", s.run_as_same_user)?,
            set_security_context,
            share_process_namespace: a.bool_opt("agent-share-process-namespace")?,
            revoke_on_shutdown: a.bool_or("agent-revoke-on-shutdown", s.revoke_on_shutdown)?,
            revoke_grace: a
                .parsed(
                    "agent-revoke-grace",
                    "a non-negative whole number of seconds",
                    |t| t.parse().ok(),
                )?
                .unwrap_or(5),
            extra_secret: a.text("agent-extra-secret"),
            copy_volume_mounts: a.text("agent-copy-volume-mounts"),
            token_volume_name: a.text("agent-service-account-token-volume-name"),
            go_max_procs: a.parsed("go-max-procs", "a positive integer", |t| {
                t.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|_| t.to_owned())
            })?,
            cache: CacheSettings {
                enable: a.bool_or("agent-cache-enable", false)?,
                use_auto_auth_token: a
                    .parsed(
                        "agent-cache-use-auto-auth-token",
                        "true, false or force",
                        |t| matches!(t, "true" | "false" | "force").then(|| t.to_owned()),
                    )?
                    .unwrap_or_else(|| "true".to_owned()),
                listener_port: a
                    .parsed("agent-cache-listener-port", "a port number 1-65535", |t| {
                        t.parse::<u16>().ok().filter(|p| *p > 0)
                    })?
                    .unwrap_or(8200),
                exit_on_err: a.bool_or("agent-cache-exit-on-err", false)?,
            },
            enable_quit: a.bool_or("agent-enable-quit", false)?,
            auto_auth_exit_on_err: a.bool_or("agent-auto-auth-exit-on-err", false)?,
            telemetry,
            disable_idle_connections: connection_list(
                "agent-disable-idle-connections",
                &s.disable_idle_connections,
            )?,
            disable_keep_alives: connection_list(
                "agent-disable-keep-alives",
                &s.disable_keep_alives,
            )?,
            vault_address,
            role: a.text("role"),
            auth_type: a.text_or("auth-type", &s.auth_type).unwrap_or_default(),
            auth_path: a.text_or("auth-path", &s.auth_path).unwrap_or_default(),
            auth_config,
            min_backoff: duration("auth-min-backoff", &s.auth_min_backoff)?,
            max_backoff: duration("auth-max-backoff", &s.auth_max_backoff)?,
            namespace: a.text_or("namespace", &s.vault_namespace),
            proxy_address: a.text_or("proxy-address", &s.proxy_address),
            tls_skip_verify: a.bool_or("tls-skip-verify", false)?,
            tls_secret: a.text("tls-secret"),
            tls_server_name: a.text("tls-server-name"),
            ca_cert: a.text("ca-cert"),
            ca_key: a.text("ca-key"),
            client_cert: a.text("client-cert"),
            client_key: a.text("client-key"),
            client_max_retries: a.parsed("client-max-retries", "an integer", |t| {
                t.parse::<i64>().ok().map(|_| t.to_owned())
            })?,
            client_timeout: a.parsed("client-timeout", "a duration such as 30s or 2m", |t| {
                GoDuration::parse(t).ok().map(|_| t.to_owned())
            })?,
            log_level: a
                .parsed("log-level", "one of trace, debug, info, warn, error", |t| {
                    let lower = t.to_ascii_lowercase();
                    matches!(
                        lower.as_str(),
                        "trace" | "debug" | "info" | "warn" | "warning" | "error" | "err"
                    )
                    .then_some(lower)
                })?
                .unwrap_or_else(|| "info".to_owned()),
            log_format: a
                .parsed("log-format", "standard or json", |t| {
                    matches!(t, "standard" | "json").then(|| t.to_owned())
                })?
                .unwrap_or_else(|| "standard".to_owned()),
            env: EnvSettings::parse(a)?,
        })
    }
}

/// Discovers secrets from the three annotations that name one, in raw-name order.
fn parse_secrets(
    a: &Annotations,
    default_path: &str,
    preserve_case_all: bool,
    flavor: AgentFlavor,
) -> Result<Vec<SecretFile>, AnnotationError> {
    let mut names = BTreeSet::new();
    // `template-file-` before `template-` so `template-file-x` is not read as template `file-x`.
    for (name, value) in a.with_prefix("agent-inject-secret-") {
        if !value.trim().is_empty() {
            names.insert(name.to_owned());
        }
    }
    for (name, value) in a.with_prefix("agent-inject-template-file-") {
        if !value.trim().is_empty() {
            names.insert(name.to_owned());
        }
    }
    for (name, value) in a.with_prefix("agent-inject-template-") {
        if !name.starts_with("file-") && !value.trim().is_empty() {
            names.insert(name.to_owned());
        }
    }
    names.retain(|n| !n.is_empty());
    let declared: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(orphan) = render_command::orphan_signal(a, &declared) {
        return Err(orphan);
    }

    let mut secrets = Vec::with_capacity(names.len());
    let mut keys = Keys::default();
    for name in names {
        let preserve = a.bool_or(keys.of("preserve-secret-case-", &name), preserve_case_all)?;
        let file = match a.text(keys.of("agent-inject-file-", &name)) {
            None => None,
            Some(f) if relative_stays_inside(&f) => Some(f),
            Some(_) => {
                return Err(a.invalid(
                    keys.of("agent-inject-file-", &name),
                    "a file name inside the secret volume (no `..` leaving it)",
                ));
            }
        };
        let perms = a.parsed(
            keys.of("agent-inject-perms-", &name),
            "an octal file mode such as 0400",
            |t| {
                serde_json::from_value::<FileMode>(serde_json::Value::String(t.to_owned()))
                    .ok()
                    .map(|m| m.0)
            },
        )?;
        secrets.push(SecretFile {
            file_name: if preserve {
                name.clone()
            } else {
                name.to_lowercase()
            },
            vault_path: a.text(keys.of("agent-inject-secret-", &name)),
            template: a.text(keys.of("agent-inject-template-", &name)),
            template_file: a.text(keys.of("agent-inject-template-file-", &name)),
            file,
            perms,
            command: render_command::parse(a, &name, flavor)?,
            left_delimiter: a
                .text(keys.of("agent-template-left-delim-", &name))
                .unwrap_or_else(|| "{{".to_owned()),
            right_delimiter: a
                .text(keys.of("agent-template-right-delim-", &name))
                .unwrap_or_else(|| "}}".to_owned()),
            error_on_missing_key: a.bool_or(keys.of("error-on-missing-key-", &name), false)?,
            volume_path: a
                .text(keys.of("secret-volume-path-", &name))
                .map(|p| trim_dir(&p))
                .unwrap_or_else(|| default_path.to_owned()),
            name,
        });
    }
    Ok(secrets)
}

/// The `<annotation><name>` keys of a secret, built in one reused buffer rather than with a
/// `format!` each: eleven lookups per secret.
#[derive(Default)]
struct Keys {
    buffer: String,
}

impl Keys {
    fn of(&mut self, prefix: &str, name: &str) -> &str {
        self.buffer.clear();
        self.buffer.push_str(prefix);
        self.buffer.push_str(name);
        &self.buffer
    }
}

/// A directory path without trailing slashes (`/` stays `/`).
fn trim_dir(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether `path`, joined under a directory, stays inside it.
fn relative_stays_inside(path: &str) -> bool {
    let mut depth = 0i32;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    depth > 0
}

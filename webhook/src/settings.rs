//! Injector settings: every vault-k8s injector flag that shapes a mutation, with its
//! `AGENT_INJECT_*` environment variable and default, plus kagi's own additions.
//!
//! Serving flags (listen address, TLS files, logging) are not here: they belong to the server.
//!
//! Precedence follows vault-k8s: a non-empty `AGENT_INJECT_*` variable wins over the flag, which
//! wins over the default. clap alone gives flag > env, so callers run
//! [`InjectorSettings::apply_env_precedence`] after parsing.

use std::fmt;
use std::time::Duration;

use clap::{ArgAction, Args, FromArgMatches};

use crate::annotations::{DefaultTemplate, parse_go_bool, validate_quantity};

/// The default agent image: the kagi agent of the same release as this webhook.
pub const DEFAULT_AGENT_IMAGE: &str = concat!("kagi-agent:", env!("CARGO_PKG_VERSION"));
/// The image used with `--agent-flavor vault` when no image is configured (vault-k8s's own
/// default), since the kagi image has no shell for the stock start command.
pub const DEFAULT_VAULT_IMAGE: &str = "hashicorp/vault:2.0.4";

// Agent resources. vault-k8s asks 250m/64Mi and caps at 500m/128Mi for the full `vault`
// binary; users measured its sidecar at ~2m CPU / 13Mi and the kagi agent is a single small
// Rust binary that mostly sleeps between renewals, so the request covers it with headroom
// and the limit only bounds bursts during rendering.
pub const DEFAULT_CPU_REQUEST: &str = "10m";
pub const DEFAULT_MEM_REQUEST: &str = "16Mi";
pub const DEFAULT_CPU_LIMIT: &str = "100m";
pub const DEFAULT_MEM_LIMIT: &str = "64Mi";

/// vault-k8s's defaults for the auth method and the agent's user.
pub const DEFAULT_AUTH_TYPE: &str = "kubernetes";
pub const DEFAULT_AUTH_PATH: &str = "auth/kubernetes";
pub const DEFAULT_RUN_AS_USER: i64 = 100;
pub const DEFAULT_RUN_AS_GROUP: i64 = 1000;

/// Which agent program runs in the injected containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentFlavor {
    /// `kagi-agent run`: reads `VAULT_CONFIG` itself, supports the native-sidecar probe and
    /// the `kagi` config block.
    Kagi,
    /// A stock `hashicorp/vault` or `openbao/openbao` image started with vault-k8s's
    /// `/bin/sh -ec` one-liner.
    Vault,
}

impl fmt::Display for AgentFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentFlavor::Kagi => "kagi",
            AgentFlavor::Vault => "vault",
        })
    }
}

/// Settings that shape every mutation (vault-k8s's `agent-inject` flags, minus serving).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct InjectorSettings {
    /// Vault address used when a pod has no `vault.hashicorp.com/service` annotation.
    #[arg(
        long = "vault-address",
        env = "AGENT_INJECT_VAULT_ADDR",
        default_value = ""
    )]
    pub vault_address: String,

    /// PEM CA bundle (optionally base64) handed to agents as `VAULT_CACERT_BYTES`.
    #[arg(
        long = "vault-cacert-bytes",
        env = "AGENT_INJECT_VAULT_CACERT_BYTES",
        default_value = ""
    )]
    pub vault_cacert_bytes: String,

    /// Default `HTTPS_PROXY` for agents (annotation `proxy-address`).
    #[arg(
        long = "proxy-address",
        env = "AGENT_INJECT_PROXY_ADDR",
        default_value = ""
    )]
    pub proxy_address: String,

    /// Default agent image (annotation `agent-image`); with `--agent-flavor vault` left at its
    /// default, hashicorp/vault:2.0.4 is used instead.
    #[arg(long = "vault-image", env = "AGENT_INJECT_VAULT_IMAGE", default_value = DEFAULT_AGENT_IMAGE, value_parser = image_or_default)]
    pub agent_image: String,

    /// Default auto-auth method type (annotation `auth-type`).
    #[arg(
        long = "vault-auth-type",
        env = "AGENT_INJECT_VAULT_AUTH_TYPE",
        default_value = DEFAULT_AUTH_TYPE,
        value_parser = auth_type_or_default
    )]
    pub auth_type: String,

    /// Default auto-auth mount path (annotation `auth-path`).
    #[arg(
        long = "vault-auth-path",
        env = "AGENT_INJECT_VAULT_AUTH_PATH",
        default_value = DEFAULT_AUTH_PATH,
        value_parser = auth_path_or_default
    )]
    pub auth_path: String,

    /// Default Vault Enterprise / OpenBao namespace (annotation `namespace`).
    #[arg(
        long = "vault-namespace",
        env = "AGENT_INJECT_VAULT_NAMESPACE",
        default_value = ""
    )]
    pub vault_namespace: String,

    /// Default for `agent-revoke-on-shutdown`.
    #[arg(long = "revoke-on-shutdown", env = "AGENT_INJECT_REVOKE_ON_SHUTDOWN", default_value = "false",
          value_parser = go_bool_default_false, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub revoke_on_shutdown: bool,

    /// Default agent UID (annotation `agent-run-as-user`).
    #[arg(
        long = "run-as-user",
        env = "AGENT_INJECT_RUN_AS_USER",
        default_value_t = DEFAULT_RUN_AS_USER,
        value_parser = int_or::<DEFAULT_RUN_AS_USER>
    )]
    pub run_as_user: i64,

    /// Default agent GID (annotation `agent-run-as-group`).
    #[arg(
        long = "run-as-group",
        env = "AGENT_INJECT_RUN_AS_GROUP",
        default_value_t = DEFAULT_RUN_AS_GROUP,
        value_parser = int_or::<DEFAULT_RUN_AS_GROUP>
    )]
    pub run_as_group: i64,

    /// Default for `agent-run-as-same-user`.
    #[arg(long = "run-as-same-user", env = "AGENT_INJECT_RUN_AS_SAME_USER", default_value = "false",
          value_parser = go_bool_default_false, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub run_as_same_user: bool,

    /// Whether agent containers get a UID/GID securityContext (false for OpenShift).
    #[arg(long = "set-security-context", env = "AGENT_INJECT_SET_SECURITY_CONTEXT", default_value = "true",
          value_parser = go_bool_default_true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub set_security_context: bool,

    /// Default template for secrets without one: `map` or `json`.
    #[arg(
        long = "default-template",
        env = "AGENT_INJECT_DEFAULT_TEMPLATE",
        default_value = "map",
        ignore_case = true,
        value_enum
    )]
    pub default_template: DefaultTemplate,

    /// Agent CPU request (empty: none).
    #[arg(long = "cpu-request", env = "AGENT_INJECT_CPU_REQUEST", default_value = DEFAULT_CPU_REQUEST,
          value_parser = parse_quantity_flag)]
    pub cpu_request: String,

    /// Agent memory request (empty: none).
    #[arg(long = "memory-request", env = "AGENT_INJECT_MEM_REQUEST", default_value = DEFAULT_MEM_REQUEST,
          value_parser = parse_quantity_flag)]
    pub memory_request: String,

    /// Agent ephemeral-storage request (empty: none).
    #[arg(long = "ephemeral-storage-request", env = "AGENT_INJECT_EPHEMERAL_REQUEST",
          default_value = "", value_parser = parse_quantity_flag)]
    pub ephemeral_request: String,

    /// Agent CPU limit (empty: none).
    #[arg(long = "cpu-limit", env = "AGENT_INJECT_CPU_LIMIT", default_value = DEFAULT_CPU_LIMIT,
          value_parser = parse_quantity_flag)]
    pub cpu_limit: String,

    /// Agent memory limit (empty: none).
    #[arg(long = "memory-limit", env = "AGENT_INJECT_MEM_LIMIT", default_value = DEFAULT_MEM_LIMIT,
          value_parser = parse_quantity_flag)]
    pub memory_limit: String,

    /// Agent ephemeral-storage limit (empty: none).
    #[arg(long = "ephemeral-storage-limit", env = "AGENT_INJECT_EPHEMERAL_LIMIT",
          default_value = "", value_parser = parse_quantity_flag)]
    pub ephemeral_limit: String,

    /// Default `template_config.exit_on_retry_failure`.
    #[arg(long = "template-config-exit-on-retry-failure",
          env = "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", default_value = "true",
          value_parser = go_bool_default_true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub exit_on_retry_failure: bool,

    /// Default `template_config.static_secret_render_interval` (Go duration; empty: agent default).
    #[arg(long = "template-static-secret-render-interval",
          env = "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL", default_value = "",
          value_parser = parse_duration_flag)]
    pub static_secret_render_interval: String,

    /// Default `template_config.max_connections_per_host` (0: agent default).
    /// vault-k8s has only the env var; kagi also accepts the flag.
    #[arg(
        long = "template-max-connections-per-host",
        env = "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
        default_value_t = 0,
        value_parser = count_or_zero
    )]
    pub max_connections_per_host: u32,

    /// Default `template_config.lease_renewal_threshold` (0: agent default).
    /// vault-k8s has only the env var; kagi also accepts the flag.
    #[arg(
        long = "template-lease-renewal-threshold",
        env = "AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD",
        default_value_t = 0.0,
        value_parser = fraction_or_zero
    )]
    pub lease_renewal_threshold: f64,

    /// Default `auto_auth.method.min_backoff` (Go duration).
    #[arg(long = "auth-min-backoff", env = "AGENT_INJECT_AUTH_MIN_BACKOFF", default_value = "",
          value_parser = parse_duration_flag)]
    pub auth_min_backoff: String,

    /// Default `auto_auth.method.max_backoff` (Go duration).
    #[arg(long = "auth-max-backoff", env = "AGENT_INJECT_AUTH_MAX_BACKOFF", default_value = "",
          value_parser = parse_duration_flag)]
    pub auth_max_backoff: String,

    /// Default `disable_idle_connections` (comma list of auto-auth,caching,templating).
    #[arg(
        long = "disable-idle-connections",
        env = "AGENT_INJECT_DISABLE_IDLE_CONNECTIONS",
        default_value = ""
    )]
    pub disable_idle_connections: String,

    /// Default `disable_keep_alives` (comma list of auto-auth,caching,templating).
    #[arg(
        long = "disable-keep-alives",
        env = "AGENT_INJECT_DISABLE_KEEP_ALIVES",
        default_value = ""
    )]
    pub disable_keep_alives: String,

    /// Inject the agent as a native sidecar (restartable init container, Kubernetes 1.29+).
    /// Annotation `agent-native-sidecar` overrides it per pod.
    #[arg(long = "native-sidecar", env = "AGENT_INJECT_NATIVE_SIDECAR", default_value = "true",
          value_parser = go_bool_default_true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub native_sidecar: bool,

    /// Agent program in the image: `kagi` (kagi-agent) or `vault` (stock Vault/OpenBao image).
    #[arg(
        long = "agent-flavor",
        env = "AGENT_INJECT_AGENT_FLAVOR",
        default_value = "kagi",
        ignore_case = true,
        value_enum
    )]
    pub agent_flavor: AgentFlavor,
}

impl Default for InjectorSettings {
    /// The same values as running with no flags and no environment (a test holds the two
    /// together), without going through the command-line parser.
    fn default() -> Self {
        Self {
            vault_address: String::new(),
            vault_cacert_bytes: String::new(),
            proxy_address: String::new(),
            agent_image: DEFAULT_AGENT_IMAGE.to_owned(),
            auth_type: DEFAULT_AUTH_TYPE.to_owned(),
            auth_path: DEFAULT_AUTH_PATH.to_owned(),
            vault_namespace: String::new(),
            revoke_on_shutdown: false,
            run_as_user: DEFAULT_RUN_AS_USER,
            run_as_group: DEFAULT_RUN_AS_GROUP,
            run_as_same_user: false,
            set_security_context: true,
            default_template: DefaultTemplate::Map,
            cpu_request: DEFAULT_CPU_REQUEST.to_owned(),
            memory_request: DEFAULT_MEM_REQUEST.to_owned(),
            ephemeral_request: String::new(),
            cpu_limit: DEFAULT_CPU_LIMIT.to_owned(),
            memory_limit: DEFAULT_MEM_LIMIT.to_owned(),
            ephemeral_limit: String::new(),
            exit_on_retry_failure: true,
            static_secret_render_interval: String::new(),
            max_connections_per_host: 0,
            lease_renewal_threshold: 0.0,
            auth_min_backoff: String::new(),
            auth_max_backoff: String::new(),
            disable_idle_connections: String::new(),
            disable_keep_alives: String::new(),
            native_sidecar: true,
            agent_flavor: AgentFlavor::Kagi,
        }
    }
}

impl InjectorSettings {
    /// The agent image for pods without `agent-image`.
    pub fn default_agent_image(&self) -> &str {
        if self.agent_flavor == AgentFlavor::Vault && self.agent_image == DEFAULT_AGENT_IMAGE {
            DEFAULT_VAULT_IMAGE
        } else {
            &self.agent_image
        }
    }

    /// Re-applies every non-empty `AGENT_INJECT_*` variable over the parsed flags, as vault-k8s
    /// does (env wins over flag). `lookup` is `|name| std::env::var(name).ok()` in production.
    pub fn apply_env_precedence(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), clap::Error> {
        apply_env_precedence(self, lookup)
    }
}

/// Re-applies every non-empty variable named by one of `T`'s arguments (`#[arg(env = ..)]`)
/// over the values clap parsed into `target`: vault-k8s's order, env over flag over default,
/// where clap alone gives flag over env.
pub fn apply_env_precedence<T: Args + FromArgMatches>(
    target: &mut T,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), clap::Error> {
    let base = T::augment_args(clap::Command::new("env"));
    let mut argv = vec!["env".to_owned()];
    for arg in base.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        if let Some(value) = env.to_str().and_then(&lookup).filter(|v| !v.is_empty()) {
            argv.push(format!("--{long}={value}"));
        }
    }
    // Without defaults, env or requirements, the matches hold only what the variables set, so
    // the update touches exactly those fields; the full command line was checked before.
    let command = base.mut_args(|arg| {
        arg.env(None::<&str>)
            .default_value(None::<&str>)
            .required(false)
            .required_unless_present(clap::builder::Resettable::Reset)
            .conflicts_with(clap::builder::Resettable::Reset)
    });
    let matches = command.try_get_matches_from(argv)?;
    target.update_from_arg_matches(&matches)
}

// vault-k8s ignores an empty `AGENT_INJECT_*` variable; clap hands it to the parser, so the
// parsers of settings with a non-empty default map "" back to that default.

fn go_bool_default_true(value: &str) -> Result<bool, String> {
    if value.is_empty() {
        Ok(true)
    } else {
        parse_go_bool(value)
    }
}

fn go_bool_default_false(value: &str) -> Result<bool, String> {
    if value.is_empty() {
        Ok(false)
    } else {
        parse_go_bool(value)
    }
}

fn image_or_default(value: &str) -> Result<String, String> {
    Ok(if value.is_empty() {
        DEFAULT_AGENT_IMAGE
    } else {
        value
    }
    .to_owned())
}

fn auth_type_or_default(value: &str) -> Result<String, String> {
    Ok(if value.is_empty() {
        DEFAULT_AUTH_TYPE
    } else {
        value
    }
    .to_owned())
}

fn auth_path_or_default(value: &str) -> Result<String, String> {
    Ok(if value.is_empty() {
        DEFAULT_AUTH_PATH
    } else {
        value
    }
    .to_owned())
}

fn int_or<const DEFAULT: i64>(value: &str) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(DEFAULT);
    }
    value
        .parse()
        .map_err(|_| format!("{value:?} is not an integer"))
}

fn count_or_zero(value: &str) -> Result<u32, String> {
    if value.is_empty() {
        return Ok(0);
    }
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a non-negative integer"))
}

fn fraction_or_zero(value: &str) -> Result<f64, String> {
    if value.is_empty() {
        return Ok(0.0);
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("{value:?} is not a number between 0 and 1"))
}

fn parse_quantity_flag(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    validate_quantity(value).map(|()| value.to_owned())
}

/// A Go duration (`10s`, `1m30s`, or bare seconds); empty means `DEFAULT_SECS` seconds.
pub fn go_duration_or<const DEFAULT_SECS: u64>(value: &str) -> Result<Duration, String> {
    if value.is_empty() {
        return Ok(Duration::from_secs(DEFAULT_SECS));
    }
    kagi_agent_config::GoDuration::parse(value)
        .map(|duration| duration.0)
        .map_err(|e| e.to_string())
}

fn parse_duration_flag(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    kagi_agent_config::GoDuration::parse(value)
        .map(|_| value.to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The settings alone as a command, as the server flattens them into its own.
    #[derive(Debug, clap::Parser)]
    #[command(name = "kagi-webhook")]
    struct SettingsOnly {
        #[command(flatten)]
        settings: InjectorSettings,
    }

    fn parse(args: &[&str]) -> Result<InjectorSettings, clap::Error> {
        let mut argv = vec!["kagi-webhook"];
        argv.extend_from_slice(args);
        let command = SettingsOnly::command().mut_args(|a| a.env(None::<&str>));
        let matches = command.try_get_matches_from(argv)?;
        SettingsOnly::from_arg_matches(&matches).map(|s| s.settings)
    }

    #[test]
    fn defaults_match_vault_k8s_except_image_and_resources() {
        let s = InjectorSettings::default();
        assert_eq!(s.vault_address, "");
        assert_eq!(
            s.agent_image,
            format!("kagi-agent:{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(s.auth_type, "kubernetes");
        assert_eq!(s.auth_path, "auth/kubernetes");
        assert_eq!((s.run_as_user, s.run_as_group), (100, 1000));
        assert!(s.set_security_context && !s.run_as_same_user && !s.revoke_on_shutdown);
        assert_eq!(s.default_template, DefaultTemplate::Map);
        assert_eq!(
            (s.cpu_request.as_str(), s.memory_request.as_str()),
            ("10m", "16Mi")
        );
        assert_eq!(
            (s.cpu_limit.as_str(), s.memory_limit.as_str()),
            ("100m", "64Mi")
        );
        assert_eq!(
            (s.ephemeral_request.as_str(), s.ephemeral_limit.as_str()),
            ("", "")
        );
        assert!(s.exit_on_retry_failure);
        assert!(s.native_sidecar);
        assert_eq!(s.agent_flavor, AgentFlavor::Kagi);
        assert_eq!(parse(&[]).unwrap(), s);
    }

    #[test]
    fn flags_parse_with_go_style_booleans() {
        let s = parse(&[
            "--vault-address=https://vault:8200",
            "--native-sidecar=F",
            "--set-security-context=0",
            "--revoke-on-shutdown",
            "--agent-flavor=VAULT",
            "--default-template=JSON",
            "--cpu-limit=",
            "--run-as-user",
            "2000",
        ])
        .unwrap();
        assert_eq!(s.vault_address, "https://vault:8200");
        assert!(!s.native_sidecar && !s.set_security_context && s.revoke_on_shutdown);
        assert_eq!(s.agent_flavor, AgentFlavor::Vault);
        assert_eq!(s.default_agent_image(), DEFAULT_VAULT_IMAGE);
        let chosen = parse(&["--agent-flavor=vault", "--vault-image=openbao/openbao:2.4"]).unwrap();
        assert_eq!(chosen.default_agent_image(), "openbao/openbao:2.4");
        assert_eq!(s.default_template, DefaultTemplate::Json);
        assert_eq!(s.cpu_limit, "");
        assert_eq!(s.run_as_user, 2000);
    }

    #[test]
    fn bad_flag_values_are_rejected() {
        for bad in [
            "--native-sidecar=tRuE",
            "--cpu-request=lots",
            "--default-template=yaml",
            "--auth-min-backoff=soon",
            "--agent-flavor=consul",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn env_wins_over_flags_when_non_empty() {
        let mut s = parse(&[
            "--vault-address=http://flag",
            "--cpu-request=1",
            "--native-sidecar=true",
        ])
        .unwrap();
        let env = |name: &str| match name {
            "AGENT_INJECT_VAULT_ADDR" => Some("http://env".to_owned()),
            "AGENT_INJECT_CPU_REQUEST" => Some(String::new()), // empty: the flag stays
            "AGENT_INJECT_NATIVE_SIDECAR" => Some("FALSE".to_owned()),
            "AGENT_INJECT_RUN_AS_GROUP" => Some("3000".to_owned()),
            _ => None,
        };
        s.apply_env_precedence(env).unwrap();
        assert_eq!(s.vault_address, "http://env");
        assert_eq!(s.cpu_request, "1");
        assert!(!s.native_sidecar);
        assert_eq!(s.run_as_group, 3000);
        // Untouched fields keep their parsed values, not the defaults re-applied.
        assert_eq!(s.memory_request, "16Mi");

        // An empty variable is ignored, as vault-k8s does, even through clap's own env reading.
        let empty = parse(&[
            "--set-security-context=",
            "--run-as-user=",
            "--vault-image=",
        ])
        .unwrap();
        assert!(empty.set_security_context);
        assert_eq!(empty.run_as_user, 100);
        assert_eq!(empty.agent_image, DEFAULT_AGENT_IMAGE);

        let bad = |name: &str| (name == "AGENT_INJECT_RUN_AS_SAME_USER").then(|| "yes".to_owned());
        let err = parse(&[]).unwrap().apply_env_precedence(bad).unwrap_err();
        assert!(err.to_string().contains("yes"), "{err}");
    }

    #[test]
    fn every_flag_has_an_agent_inject_env_var() {
        let command = SettingsOnly::command();
        let mut count = 0;
        for arg in command.get_arguments().filter(|a| a.get_long().is_some()) {
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert!(
                env.starts_with("AGENT_INJECT_"),
                "--{:?} has env {env:?}",
                arg.get_long()
            );
            count += 1;
        }
        assert_eq!(count, 29);
    }
}

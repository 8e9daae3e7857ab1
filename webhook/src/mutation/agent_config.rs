//! The Vault Agent config of reference §9, built as the agent crate's typed config.

use std::collections::BTreeMap;

use base64::Engine as _;
use kagi_agent_config::{
    AgentApi, AgentConfig, AuthMethod, AutoAuth, Command, FileMode, KagiExtensions, Listener, Sink,
    Template, TemplateConfig, TemplateExec, VaultConnection, Wait,
};
use serde_json::{Value, json};

use super::volumes::{CACHE_DIR, Role, STATE_DIR};
use super::{Plan, Shape};
use crate::annotations::{PodSettings, RenderCommand, SecretFile};
use crate::settings::AgentFlavor;

pub(crate) const TOKEN_SINK: &str = "/home/vault/.vault-token";
pub(crate) const PID_FILE: &str = "/home/vault/.pid";
/// kagi: written by the agent once every template has rendered; `kagi-agent probe` checks it.
pub(crate) const READY_FILE: &str = "/home/vault/.kagi-ready";
/// The agent binary in the kagi agent image; a template `exec` is run without a `PATH` lookup.
pub(crate) const AGENT_BINARY: &str = "/usr/local/bin/kagi-agent";
/// `agent-inject-signal-<name>`'s template `wait`. A rotation can rewrite a file more than once
/// within a second or two (a re-login re-issues every lease, a dynamic path resolves in a second
/// pass, an operator writes a KV secret twice); 2 s of quiet folds that into one signal, and the
/// 10 s cap keeps the app from running on an old credential for long when changes keep coming.
pub(crate) const SIGNAL_WAIT_MIN: std::time::Duration = std::time::Duration::from_secs(2);
pub(crate) const SIGNAL_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// The config for one agent container.
pub(crate) fn build(plan: &Plan<'_>, role: Role, token_path: &str) -> AgentConfig {
    let pod = plan.pod;
    let mut sinks = vec![file_sink(TOKEN_SINK.to_owned())];
    if pod.inject_token {
        sinks.push(file_sink(format!(
            "{}/token",
            pod.secret_volume_path.trim_end_matches('/')
        )));
    }

    let (listener, cache) = listener_and_cache(plan, role);

    let kagi = match plan.flavor {
        AgentFlavor::Vault => None,
        AgentFlavor::Kagi => {
            let extensions = KagiExtensions {
                revoke_on_shutdown: pod.revoke_on_shutdown && role == Role::Sidecar,
                ready_file: (plan.shape == Shape::Native).then(|| READY_FILE.to_owned()),
                state_dir: plan.has_handoff().then(|| STATE_DIR.to_owned()),
            };
            (extensions != KagiExtensions::default()).then_some(extensions)
        }
    };

    AgentConfig {
        auto_auth: Some(auto_auth(pod, token_path, sinks)),
        exit_after_auth: role == Role::Init,
        pid_file: Some(PID_FILE.to_owned()),
        vault: Some(vault_connection(pod)),
        template: pod.secrets.iter().map(|s| template(plan, s)).collect(),
        env_template: Default::default(),
        exec: None,
        listener,
        cache: cache.map(|c| serde_json::from_value(c).expect("a valid cache stanza")),
        api_proxy: None,
        template_config: Some(template_config(pod)),
        disable_idle_connections: pod.disable_idle_connections.clone(),
        disable_keep_alives: pod.disable_keep_alives.clone(),
        telemetry: (!pod.telemetry.is_empty())
            .then(|| Value::Object(pod.telemetry.clone().into_iter().collect())),
        kagi,
        ..AgentConfig::default()
    }
}

/// `auto_auth` logging in with the service-account token at `token_path`.
pub(crate) fn auto_auth(pod: &PodSettings, token_path: &str, sink: Vec<Sink>) -> AutoAuth {
    let mut method_config: BTreeMap<String, Value> = BTreeMap::new();
    method_config.insert(
        "token_path".to_owned(),
        Value::String(token_path.to_owned()),
    );
    for (key, value) in &pod.auth_config {
        method_config.insert(key.clone(), Value::String(value.clone()));
    }
    if let Some(role) = &pod.role {
        method_config.insert("role".to_owned(), Value::String(role.clone()));
    }
    AutoAuth {
        method: AuthMethod {
            kind: pod.auth_type.clone(),
            mount_path: Some(pod.auth_path.clone()),
            namespace: pod.namespace.clone(),
            config: method_config,
            min_backoff: pod.min_backoff,
            max_backoff: pod.max_backoff,
            exit_on_err: pod.auto_auth_exit_on_err,
        },
        sink,
    }
}

pub(crate) fn vault_connection(pod: &PodSettings) -> VaultConnection {
    VaultConnection {
        address: pod.vault_address.clone(),
        ca_cert: pod.ca_cert.clone(),
        ca_path: pod.ca_key.clone(),
        client_cert: pod.client_cert.clone(),
        client_key: pod.client_key.clone(),
        tls_skip_verify: pod.tls_skip_verify,
        tls_server_name: pod.tls_server_name.clone(),
        retry: None,
    }
}

pub(crate) fn template_config(pod: &PodSettings) -> TemplateConfig {
    TemplateConfig {
        exit_on_retry_failure: pod.template.exit_on_retry_failure,
        static_secret_render_interval: pod.template.static_secret_render_interval,
        lease_renewal_threshold: pod.template.lease_renewal_threshold,
        max_connections_per_host: pod.template.max_connections_per_host,
    }
}

/// `VAULT_CONFIG`: base64 of the compact JSON.
pub(crate) fn encode(config: &AgentConfig) -> String {
    base64::engine::general_purpose::STANDARD.encode(config.to_json())
}

fn file_sink(path: String) -> Sink {
    Sink {
        kind: "file".to_owned(),
        config: BTreeMap::from([("path".to_owned(), Value::String(path))]),
    }
}

/// Listener and cache stanzas (reference §9 "Cache/listener").
fn listener_and_cache(plan: &Plan<'_>, role: Role) -> (Vec<Listener>, Option<Value>) {
    let cache_settings = &plan.pod.cache;
    let address = format!("127.0.0.1:{}", cache_settings.listener_port);
    let localhost = || Listener {
        kind: "tcp".to_owned(),
        address: address.clone(),
        tls_disable: true,
        ..Listener::default()
    };
    let mut listener = Vec::new();
    let mut cache = None;
    if cache_settings.enable {
        let sidecar_only = match plan.shape {
            Shape::Native => true,
            Shape::Classic { init, sidecar } => sidecar && !init,
        };
        if plan.has_handoff() {
            let mut persist = json!({"type": "kubernetes", "path": CACHE_DIR});
            if cache_settings.exit_on_err {
                persist["exit_on_err"] = Value::Bool(true);
            }
            listener.push(localhost());
            cache = Some(json!({
                "use_auto_auth_token": cache_settings.use_auto_auth_token,
                "persist": persist,
            }));
        } else if sidecar_only && role == Role::Sidecar {
            listener.push(localhost());
            cache = Some(json!({"use_auto_auth_token": cache_settings.use_auto_auth_token}));
        }
    }
    if plan.pod.enable_quit {
        if listener.is_empty() {
            listener.push(localhost());
        }
        listener[0].agent_api = Some(AgentApi { enable_quit: true });
        cache.get_or_insert_with(|| json!({}));
    }
    (listener, cache)
}

/// Where a secret's file is rendered.
pub(crate) fn destination(secret: &SecretFile) -> String {
    let dir = secret.volume_path.trim_end_matches('/');
    match &secret.file {
        None => format!("{dir}/{}", secret.file_name),
        Some(file) => {
            // Clean the relative part as Go's filepath.Join does; the annotation parser has
            // already refused paths that leave the directory.
            let mut parts: Vec<&str> = Vec::new();
            for part in file.split('/') {
                match part {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    p => parts.push(p),
                }
            }
            format!("{dir}/{}", parts.join("/"))
        }
    }
}

fn template(plan: &Plan<'_>, secret: &SecretFile) -> Template {
    let (contents, source) = match (&secret.template, &secret.template_file, &secret.vault_path) {
        (Some(inline), _, _) => (Some(inline.clone()), None),
        (None, Some(file), _) => (None, Some(file.clone())),
        (None, None, Some(path)) => (Some(plan.pod.default_template.render_for(path)), None),
        // Discovery only yields names with one of the three annotations.
        (None, None, None) => (Some(String::new()), None),
    };
    Template {
        destination: destination(secret),
        contents,
        source,
        left_delimiter: Some(secret.left_delimiter.clone()),
        right_delimiter: Some(secret.right_delimiter.clone()),
        perms: secret.perms.map(FileMode),
        error_on_missing_key: secret.error_on_missing_key,
        create_dest_dirs: None,
        ..after_render(secret.command.as_ref())
    }
}

/// The `command`, `exec` and `wait` of a template, from the secret's command annotations.
fn after_render(command: Option<&RenderCommand>) -> Template {
    let exec = |argv: Vec<String>| {
        Some(TemplateExec {
            command: Some(Command::Argv(argv)),
            timeout: None,
        })
    };
    match command {
        None => Template::default(),
        Some(RenderCommand::Line(line)) => Template {
            command: Some(Command::Line(line.clone())),
            ..Template::default()
        },
        Some(RenderCommand::Argv(argv)) => Template {
            exec: exec(argv.clone()),
            ..Template::default()
        },
        Some(RenderCommand::Signal { signal, process }) => Template {
            exec: exec(
                [
                    AGENT_BINARY,
                    "signal",
                    "--signal",
                    signal,
                    "--process",
                    process,
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
            wait: Some(Wait {
                min: SIGNAL_WAIT_MIN,
                max: SIGNAL_WAIT_MAX,
            }),
            ..Template::default()
        },
    }
}

/// Every file the agent renders (templates and the optional token file), for the
/// stock-image native probe.
pub(crate) fn rendered_files(plan: &Plan<'_>) -> Vec<String> {
    let mut files: Vec<String> = plan.pod.secrets.iter().map(destination).collect();
    if plan.pod.inject_token {
        files.push(format!(
            "{}/token",
            plan.pod.secret_volume_path.trim_end_matches('/')
        ));
    }
    files
}

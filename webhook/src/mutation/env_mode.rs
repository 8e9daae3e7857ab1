//! Env mode (kagi, `agent-env-*`): secrets as environment variables of the app's own process.
//!
//! Vault Agent's process-supervisor mode (`env_template` + `exec`) run inside the app
//! container: an init container `kagi-install` copies the static agent binary into the memory
//! volume `kagi-bin` (`kagi-agent install`, no shell, no `cp`), each chosen app container mounts
//! it read-only at `/kagi/bin`, and its command becomes
//! `/kagi/bin/kagi-agent exec -- <command...> <args...>` with the config in `VAULT_CONFIG`. The
//! wrapper logs in with the container's own service-account token, renders the variables,
//! starts the program with them, restarts it when a value changes, and exits with its exit
//! code. The container keeps its security context, so the wrapper runs as the app's user.
//!
//! Decisions:
//! - The program comes from the pod spec's `command` only; a container without one is refused
//!   (kagi never asks a registry for an image's entrypoint).
//! - The pod spec carries templates only: values exist in the wrapper's memory and the child's
//!   environment, never in the patch, the annotations, a log or an event.
//! - Env mode and the file agent combine freely. A pod that asks only for variables gets no
//!   agent sidecar (see [`needs_file_agent`]).
//! - `kagi-install` is the last init container: it needs nothing from Vault, and nothing but
//!   the app containers waits for it, so the agent's own place (`agent-init-first`) is kept.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use kagi_agent_config::{AgentConfig, EnvTemplate, Exec, KagiExtensions};

use super::token::Token;
use super::{Denial, Plan, agent_config, containers, volumes};
use crate::annotations::{ENV_PREFIX, PREFIX, PodSettings};
use crate::settings::AgentFlavor;

/// The init container that installs the wrapper.
pub const INSTALL_CONTAINER: &str = "kagi-install";
/// The memory volume holding the wrapper binary.
pub(crate) const BIN_VOLUME: &str = "kagi-bin";
pub(crate) const BIN_DIR: &str = "/kagi/bin";
/// The wrapper as the app containers see it.
const WRAPPER: &str = "/kagi/bin/kagi-agent";
const CONFIG_ENV: &str = "VAULT_CONFIG";

/// Whether the pod needs the file agent (sidecar or init container): it asks for something
/// only that agent provides, or for no variable at all (plain `agent-inject`, as before).
pub(crate) fn needs_file_agent(pod: &PodSettings) -> bool {
    !pod.env.is_active()
        || !pod.secrets.is_empty()
        || pod.inject_token
        || pod.cache.enable
        || pod.enable_quit
        || pod.configmap.is_some()
}

/// Names of the containers and volumes env mode adds.
pub(crate) fn added_names(plan: &Plan<'_>) -> (Vec<&'static str>, Vec<&'static str>) {
    if plan.pod.env.is_active() {
        (vec![INSTALL_CONTAINER], vec![BIN_VOLUME])
    } else {
        (Vec::new(), Vec::new())
    }
}

/// Wraps the chosen app containers (`apps`: the pod's own, before a classic sidecar joined
/// them) and adds the installer and its volume.
pub(crate) fn apply(
    spec: &mut PodSpec,
    apps: &[String],
    plan: &Plan<'_>,
    token: &Token,
    run_as_user: i64,
) -> Result<(), Denial> {
    let pod = plan.pod;
    if !pod.env.is_active() {
        return Ok(());
    }
    if plan.flavor == AgentFlavor::Vault {
        return Err(Denial::new(format!(
            "annotations {PREFIX}{ENV_PREFIX}* need the kagi agent (its `install` and `exec` \
             commands), but the injector runs with --agent-flavor vault: remove the \
             {ENV_PREFIX}* annotations or use the kagi agent image"
        )));
    }
    let targets = targets(apps, pod)?;
    let config = agent_config::encode(&config(pod, &token.path));
    for container in spec.containers.iter_mut() {
        if targets.contains(container.name.as_str()) {
            wrap(container, pod, token, &config)?;
        }
    }
    spec.volumes
        .get_or_insert_with(Vec::new)
        .push(volumes::memory(BIN_VOLUME));
    spec.init_containers
        .get_or_insert_with(Vec::new)
        .push(install_container(pod, run_as_user));
    Ok(())
}

/// The app containers `agent-env-containers` names (default: all of `apps`).
fn targets<'a>(apps: &'a [String], pod: &PodSettings) -> Result<BTreeSet<&'a str>, Denial> {
    let Some(wanted) = &pod.env.containers else {
        return Ok(apps.iter().map(String::as_str).collect());
    };
    let mut chosen = BTreeSet::new();
    for name in wanted {
        let app = apps.iter().find(|a| *a == name).ok_or_else(|| {
            Denial::new(format!(
                "annotation {PREFIX}{ENV_PREFIX}containers names {name:?}, which is not an app \
                 container of this pod (containers: {})",
                apps.join(", ")
            ))
        })?;
        chosen.insert(app.as_str());
    }
    Ok(chosen)
}

/// Turns `container`'s process into `kagi-agent exec -- <command...> <args...>`.
fn wrap(
    container: &mut Container,
    pod: &PodSettings,
    token: &Token,
    config: &str,
) -> Result<(), Denial> {
    let name = container.name.clone();
    let Some(command) = container.command.take().filter(|c| !c.is_empty()) else {
        return Err(Denial::new(format!(
            "container {name:?} has no command, but annotations {PREFIX}{ENV_PREFIX}* wrap its \
             program (kagi never looks an image's entrypoint up in a registry): set `command` \
             (and `args`) in the pod spec to what the image runs"
        )));
    };
    let env = container.env.get_or_insert_with(Vec::new);
    if let Some(clash) = env
        .iter()
        .find(|e| e.name == CONFIG_ENV || pod.env.vars.contains_key(&e.name))
    {
        let why = if clash.name == CONFIG_ENV {
            "which the wrapper reads its config from".to_owned()
        } else {
            format!("which annotation {PREFIX}{ENV_PREFIX}{} sets", clash.name)
        };
        return Err(Denial::new(format!(
            "container {name:?} already sets environment variable {}, {why}: remove one of them",
            clash.name
        )));
    }
    env.push(EnvVar {
        name: CONFIG_ENV.to_owned(),
        value: Some(config.to_owned()),
        value_from: None,
    });

    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    if let Some(clash) = mounts
        .iter()
        .find(|m| m.mount_path.trim_end_matches('/') == BIN_DIR)
    {
        return Err(Denial::new(format!(
            "container {name:?} already mounts volume {:?} at {BIN_DIR}, where env mode \
             ({PREFIX}{ENV_PREFIX}*) mounts its wrapper",
            clash.name
        )));
    }
    mounts.push(volumes::mount(BIN_VOLUME, BIN_DIR, true));
    // The wrapper logs in with this container's token; mount it where the config says.
    if let Some(token_mount) = &token.mount {
        match mounts
            .iter()
            .find(|m| m.mount_path == token_mount.mount_path)
        {
            Some(m) if m.name == token_mount.name => {}
            Some(m) => {
                return Err(Denial::new(format!(
                    "container {name:?} mounts volume {:?} at {}, where env mode expects the \
                     service-account token volume {:?}",
                    m.name, m.mount_path, token_mount.name
                )));
            }
            None => mounts.push(token_mount.clone()),
        }
    }

    let mut argv = vec![WRAPPER.to_owned(), "exec".to_owned(), "--".to_owned()];
    argv.extend(command);
    argv.extend(container.args.take().unwrap_or_default());
    container.command = Some(argv);
    Ok(())
}

/// The process-supervisor config: the agent's login and connection, one `env_template` per
/// variable, the restart policy. The program itself is on the wrapper's command line.
fn config(pod: &PodSettings, token_path: &str) -> AgentConfig {
    let env = &pod.env;
    AgentConfig {
        auto_auth: Some(agent_config::auto_auth(pod, token_path, Vec::new())),
        vault: Some(agent_config::vault_connection(pod)),
        env_template: env
            .vars
            .iter()
            .map(|(name, contents)| {
                let template = EnvTemplate {
                    contents: Some(contents.clone()),
                    error_on_missing_key: env.error_on_missing_key,
                    ..Default::default()
                };
                (name.clone(), template)
            })
            .collect(),
        exec: Some(Exec {
            command: Vec::new(),
            restart_on_secret_changes: Some(env.restart),
            restart_stop_signal: Some(env.stop_signal.clone()),
        }),
        template_config: Some(agent_config::template_config(pod)),
        disable_idle_connections: pod.disable_idle_connections.clone(),
        disable_keep_alives: pod.disable_keep_alives.clone(),
        kagi: pod.revoke_on_shutdown.then(|| KagiExtensions {
            revoke_on_shutdown: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `kagi-agent install /kagi/bin`, hardened like the agent.
fn install_container(pod: &PodSettings, run_as_user: i64) -> Container {
    Container {
        name: INSTALL_CONTAINER.to_owned(),
        image: Some(pod.image.clone()),
        command: Some(vec![
            "kagi-agent".to_owned(),
            "install".to_owned(),
            BIN_DIR.to_owned(),
        ]),
        resources: containers::resources(pod),
        security_context: Some(containers::security_context(pod, run_as_user)),
        volume_mounts: Some(vec![volumes::mount(BIN_VOLUME, BIN_DIR, false)]),
        ..Default::default()
    }
}

//! The template runner: renders every template from the dependency cache, starts a task for
//! each dependency a render asks for, and re-renders whenever one of them brings new data.
//!
//! Rendering is multi-pass as in consul-template: a template whose dependencies are not all
//! known yet is not written; the missing ones are fetched and the template is rendered again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config;
use crate::render::{self, Invocation, WriteOutcome};
use crate::template::{self, Dependency, Environment, RenderOptions, Template};
use crate::watch::{self, Event, FetchError, Fetcher, WatchSettings};

/// The last known response of every dependency; shared with the runtime for revoke and hand-off.
pub type Brain = Arc<Mutex<BTreeMap<Dependency, Value>>>;

/// Command timeout, Vault Agent's default.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("template {destination}: {source}")]
    Template {
        destination: String,
        source: template::TemplateError,
    },
    #[error("template {destination}: cannot read source {source_path}: {source}")]
    Source {
        destination: String,
        source_path: String,
        source: std::io::Error,
    },
    #[error("template {destination}: cannot write: {source}")]
    Write {
        destination: String,
        source: std::io::Error,
    },
    #[error("{dependency}: {source}")]
    Fetch {
        dependency: String,
        source: FetchError,
    },
    #[error(transparent)]
    Command(#[from] render::CommandError),
}

impl RunnerError {
    /// The token was rejected: log in again rather than retry with it.
    pub fn is_invalid_token(&self) -> bool {
        matches!(self, RunnerError::Fetch { source, .. } if source.is_invalid_token())
    }
}

/// A template ready to render.
struct Prepared {
    config: config::Template,
    parsed: Template,
    rendered_once: bool,
    target: Target,
}

/// Where a rendered template goes.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// `destination`, written atomically (and its `command` run).
    File,
    /// The named variable of the supervised child's environment (process-supervisor mode).
    Env(String),
}

/// The rendered value of every env template, by variable name.
pub type EnvValues = BTreeMap<String, String>;

/// Parses every configured template (reading `source` files).
pub fn prepare(templates: &[config::Template]) -> Result<Vec<PreparedTemplate>, RunnerError> {
    templates
        .iter()
        .map(|t| prepare_one(t, Target::File))
        .collect()
}

/// Parses env templates; their output goes to [`EnvValues`] instead of a file.
pub fn prepare_env(
    templates: &BTreeMap<String, config::EnvTemplate>,
) -> Result<Vec<PreparedTemplate>, RunnerError> {
    templates
        .iter()
        .map(|(name, env)| {
            let as_file = config::Template {
                // Labels errors: `template $NAME: ...` names the variable, never its value.
                destination: format!("${name}"),
                contents: env.contents.clone(),
                source: env.source.clone(),
                left_delimiter: env.left_delimiter.clone(),
                right_delimiter: env.right_delimiter.clone(),
                error_on_missing_key: env.error_on_missing_key,
                function_denylist: env.function_denylist.clone(),
                function_blacklist: env.function_blacklist.clone(),
                ..config::Template::default()
            };
            prepare_one(&as_file, Target::Env(name.clone()))
        })
        .collect()
}

fn prepare_one(t: &config::Template, target: Target) -> Result<PreparedTemplate, RunnerError> {
    let text = match (&t.contents, &t.source) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|source| RunnerError::Source {
                destination: t.destination.clone(),
                source_path: path.clone(),
                source,
            })?
        }
        (None, None) => String::new(),
    };
    let parsed = Template::parse(
        &t.destination,
        &text,
        t.left_delimiter(),
        t.right_delimiter(),
    )
    .map_err(|source| RunnerError::Template {
        destination: t.destination.clone(),
        source,
    })?;
    Ok(PreparedTemplate(Prepared {
        config: t.clone(),
        parsed,
        rendered_once: false,
        target,
    }))
}

/// A parsed template (opaque outside this module).
pub struct PreparedTemplate(Prepared);

/// Serves `lookup` from the cache; `env` and `file` from the process.
struct CacheEnv<'a>(&'a BTreeMap<Dependency, Value>);

impl Environment for CacheEnv<'_> {
    fn lookup(&self, dep: &Dependency) -> Option<Value> {
        self.0.get(dep).cloned()
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn resolve_path(&self, path: &str) -> std::io::Result<String> {
        Ok(std::fs::canonicalize(path)?.to_string_lossy().into_owned())
    }

    fn debug_output(&self, text: &[u8]) {
        use std::io::Write as _;
        let _ = std::io::stdout().write_all(text);
    }

    fn run_plugin(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Vec<u8>, template::PluginError> {
        crate::plugin::run(program, args, timeout)
    }

    fn zoneinfo(&self, name: &str) -> Option<Vec<u8>> {
        // Go's rule: a zone name is a relative path without `..`.
        let plain = name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/_+-".contains(&c));
        if name.is_empty() || name.starts_with('/') || name.contains("..") || !plain {
            return None;
        }
        // Where Go's time.LoadLocation looks on Unix.
        let dirs = std::env::var("ZONEINFO").ok().into_iter().chain(
            [
                "/usr/share/zoneinfo",
                "/usr/share/lib/zoneinfo",
                "/usr/lib/locale/TZ",
                "/etc/zoneinfo",
            ]
            .map(String::from),
        );
        dirs.map(|dir| std::path::Path::new(&dir).join(name))
            .find_map(|path| std::fs::read(path).ok())
    }

    fn network_interfaces(&self) -> Vec<template::NetInterface> {
        crate::host::network_interfaces()
    }

    fn default_route_interface(&self) -> Option<String> {
        crate::host::default_route_interface()
    }

    fn lookup_host(&self, name: &str) -> Vec<String> {
        use std::net::ToSocketAddrs as _;
        let mut addrs: Vec<String> = Vec::new();
        for addr in (name, 0).to_socket_addrs().into_iter().flatten() {
            let ip = addr.ip().to_string();
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
        addrs
    }
}

/// Called with the dependency cache after data changed and was rendered.
pub type ChangeHook = Box<dyn FnMut(&BTreeMap<Dependency, Value>) + Send>;

/// Called with the env templates' values (shared across runner restarts).
pub type EnvHook = Arc<dyn Fn(&EnvValues) + Send + Sync>;

/// Hooks the runtime gives the runner.
pub struct Hooks {
    /// Called once, after every template has rendered at least once.
    pub on_all_rendered: Box<dyn FnMut() + Send>,
    /// Called after data changed and was rendered (state hand-off).
    pub on_change: ChangeHook,
    /// Called after every pass in which every template rendered, with the env templates'
    /// values (process-supervisor mode; `None` when there are none).
    pub on_env: Option<EnvHook>,
}

/// One runner per token.
pub struct Runner {
    templates: Vec<Prepared>,
    brain: Brain,
    fetcher: Arc<Fetcher>,
    settings: WatchSettings,
    tasks: HashMap<Dependency, JoinHandle<()>>,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    /// Data adopted from the previous process, consumed as tasks start.
    seeds: BTreeMap<Dependency, Value>,
    /// The last output of every env template.
    env_values: EnvValues,
}

impl Drop for Runner {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

impl Runner {
    pub fn new(
        templates: Vec<PreparedTemplate>,
        brain: Brain,
        fetcher: Arc<Fetcher>,
        settings: WatchSettings,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::channel(64);
        let seeds = brain.lock().expect("not poisoned").clone();
        Runner {
            templates: templates.into_iter().map(|t| t.0).collect(),
            brain,
            fetcher,
            settings,
            tasks: HashMap::new(),
            events_tx,
            events_rx,
            seeds,
            env_values: EnvValues::new(),
        }
    }

    /// Renders until every template has rendered once (`once`) or forever. Returns `Ok` only
    /// in `once` mode.
    pub async fn run(&mut self, once: bool, hooks: &mut Hooks) -> Result<(), RunnerError> {
        let mut announced = false;
        loop {
            let all_rendered = self.render_pass().await?;
            if all_rendered {
                if !announced {
                    announced = true;
                    info!(templates = self.templates.len(), "all templates rendered");
                    (hooks.on_all_rendered)();
                }
                if let Some(on_env) = &hooks.on_env {
                    on_env(&self.env_values);
                }
                if once {
                    return Ok(());
                }
            }
            // Wait for news, then drain whatever else arrived so one pass covers it all.
            let Some(first) = self.events_rx.recv().await else {
                return Ok(());
            };
            let mut changed = self.apply(first)?;
            while let Ok(next) = self.events_rx.try_recv() {
                changed |= self.apply(next)?;
            }
            if changed && all_rendered {
                let brain = self.brain.lock().expect("not poisoned").clone();
                (hooks.on_change)(&brain);
            }
        }
    }

    fn apply(&mut self, event: Event) -> Result<bool, RunnerError> {
        match event {
            Event::Data(dep, value) => {
                let mut brain = self.brain.lock().expect("not poisoned");
                let changed = brain.get(&dep) != Some(&value);
                brain.insert(dep, value);
                Ok(changed)
            }
            Event::Failed(dep, source) => Err(RunnerError::Fetch {
                dependency: watch::describe(&dep),
                source,
            }),
        }
    }

    /// Renders every template; returns whether all of them have rendered at least once.
    async fn render_pass(&mut self) -> Result<bool, RunnerError> {
        let brain = self.brain.lock().expect("not poisoned").clone();
        let env = CacheEnv(&brain);
        let mut commands: Vec<Invocation> = Vec::new();
        let mut wanted: Vec<(Dependency, PathBuf)> = Vec::new();
        for t in &mut self.templates {
            let options = RenderOptions {
                error_on_missing_key: t.config.error_on_missing_key,
                function_denylist: t.config.denied_functions(),
                sandbox_path: t.config.sandbox_path.clone(),
            };
            let destination = t.config.destination.clone();
            let rendered = template::render(&t.parsed, &env, &options).map_err(|source| {
                RunnerError::Template {
                    destination: destination.clone(),
                    source,
                }
            })?;
            let dest = PathBuf::from(&destination);
            wanted.extend(
                rendered
                    .dependencies
                    .iter()
                    .chain(&rendered.missing)
                    .map(|d| (d.clone(), dest.clone())),
            );
            if !rendered.missing.is_empty() {
                continue;
            }
            if let Target::Env(name) = &t.target {
                // Values never reach a log: the variable is named, its value is not.
                let value = String::from_utf8_lossy(&rendered.output).into_owned();
                if self.env_values.get(name) != Some(&value) {
                    info!(variable = %name, "rendered env template");
                    self.env_values.insert(name.clone(), value);
                }
                t.rendered_once = true;
                continue;
            }
            for side in &rendered.file_writes {
                render::write_side_file(side).map_err(|source| RunnerError::Write {
                    destination: side.path.clone(),
                    source,
                })?;
            }
            let outcome = render::write_atomic(
                &PathBuf::from(&destination),
                &rendered.output,
                t.config.perms.map(|p| p.0),
                0o644,
                t.config.create_dest_dirs(),
            )
            .map_err(|source| RunnerError::Write {
                destination: destination.clone(),
                source,
            })?;
            t.rendered_once = true;
            if outcome == WriteOutcome::Written {
                info!(destination = %destination, "rendered template");
                if let Some(cmd) = t.config.command.as_ref().and_then(render::invocation)
                    && !commands.contains(&cmd)
                {
                    commands.push(cmd);
                }
            }
        }
        let used: HashSet<Dependency> = wanted.iter().map(|(d, _)| d.clone()).collect();
        for (dep, destination) in wanted {
            self.ensure_task(dep, destination);
        }
        // A dependency no template asks for any more (a dynamic path moved on) stops polling.
        {
            let mut brain = self.brain.lock().expect("not poisoned");
            self.tasks.retain(|dep, task| {
                let keep = used.contains(dep);
                if !keep {
                    task.abort();
                    brain.remove(dep);
                }
                keep
            });
        }
        for cmd in commands {
            if let Err(err) = render::run_command(&cmd, COMMAND_TIMEOUT).await {
                error!(error = %err, "template command failed");
                return Err(err.into());
            }
        }
        Ok(self.templates.iter().all(|t| t.rendered_once))
    }

    /// `destination` is the first template using `dep`; `pkiCert` caches its certificate there.
    fn ensure_task(&mut self, dep: Dependency, destination: PathBuf) {
        if self.tasks.contains_key(&dep) {
            return;
        }
        let seed = self.seeds.remove(&dep);
        if seed.is_none() {
            info!(dependency = %watch::describe(&dep), "fetching");
        }
        let task = tokio::spawn(watch::watch_dependency(
            dep.clone(),
            self.fetcher.clone(),
            self.settings,
            seed,
            matches!(dep, Dependency::PkiCert { .. }).then_some(destination),
            self.events_tx.clone(),
        ));
        self.tasks.insert(dep, task);
    }
}

/// Logs a runner failure once, with advice.
pub fn log_failure(err: &RunnerError, exit: bool) {
    if exit {
        error!(error = %err, "template runner failed; exiting (exit_on_retry_failure)");
    } else {
        warn!(error = %err, "template runner failed; restarting after backoff");
    }
}

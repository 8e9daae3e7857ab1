//! The template runner: renders every template from the dependency cache, starts a task for
//! each dependency a render asks for, and re-renders whenever one of them brings new data.
//!
//! Rendering is multi-pass as in consul-template: a template whose dependencies are not all
//! known yet is not written; the missing ones are fetched and the template is rendered again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config;
use crate::quiescence::Quiescence;
use crate::render::{self, WriteOutcome};
use crate::template::{self, Dependency, Environment, RenderOptions, Template};
use crate::template_command::{self, CommandError, Invocation};
use crate::watch::{self, Event, FetchError, Fetcher, WatchSettings};

/// The last known response of every dependency; shared with the runtime for revoke and hand-off.
pub type Brain = Arc<Mutex<BTreeMap<Dependency, Value>>>;

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
    /// Every command of the pass ran; these failed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Commands(Vec<CommandError>),
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
    command: Option<Invocation>,
    /// Armed once every template has rendered, when the template has a `wait`.
    quiescence: Option<Quiescence>,
    target: Target,
}

/// Where a rendered template goes.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// `destination`, written atomically (and its `command` run).
    File,
    /// The named variable of the supervised child's environment (process-supervisor mode),
    /// with its last rendered value.
    Env { name: String, value: Option<String> },
}

/// The rendered value of every env template, by variable name.
pub type EnvValues = BTreeMap<String, String>;

/// Parses every configured template, reading `source` files off the async workers.
pub async fn prepare(templates: &[config::Template]) -> Result<Vec<PreparedTemplate>, RunnerError> {
    let templates = templates.to_vec();
    blocking(move || prepare_now(&templates)).await
}

/// Runs blocking file work (reads, fsync) on tokio's blocking pool, not on the two workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// Parses env templates; their output goes to [`EnvValues`] instead of a file.
pub async fn prepare_env(
    templates: &BTreeMap<String, config::EnvTemplate>,
) -> Result<Vec<PreparedTemplate>, RunnerError> {
    let as_files: Vec<(String, config::Template)> = templates
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
            (name.clone(), as_file)
        })
        .collect();
    blocking(move || {
        as_files
            .iter()
            .map(|(name, t)| {
                let target = Target::Env {
                    name: name.clone(),
                    value: None,
                };
                prepare_one(t, target)
            })
            .collect()
    })
    .await
}

fn prepare_now(templates: &[config::Template]) -> Result<Vec<PreparedTemplate>, RunnerError> {
    templates
        .iter()
        .map(|t| prepare_one(t, Target::File))
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
        command: t.exec_command().and_then(Invocation::of),
        config: t.clone(),
        parsed,
        rendered_once: false,
        quiescence: None,
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
        }
    }

    /// Renders until every template has rendered once (`once`) or forever. Returns `Ok` only
    /// in `once` mode.
    pub async fn run(&mut self, once: bool, hooks: &mut Hooks) -> Result<(), RunnerError> {
        let mut announced = false;
        let mut pass = Pass::Data;
        loop {
            let all_rendered = self.render_pass(pass, once).await?;
            if all_rendered {
                if !announced {
                    announced = true;
                    info!(templates = self.templates.len(), "all templates rendered");
                    (hooks.on_all_rendered)();
                }
                if let Some(on_env) = &hooks.on_env {
                    on_env(&self.env_values());
                }
                if once {
                    return Ok(());
                }
                // consul-template arms quiescence only once everything has rendered, so the
                // first render is never delayed.
                for t in &mut self.templates {
                    if t.quiescence.is_none()
                        && let Some(wait) = t.config.quiescence()
                    {
                        t.quiescence = Some(Quiescence::new(wait));
                    }
                }
            }
            // Wait for news or a quiescence deadline, then drain whatever else arrived so one
            // pass covers it all.
            let due = self
                .templates
                .iter()
                .enumerate()
                .filter_map(|(i, t)| Some((t.quiescence?.deadline()?, i)))
                .min();
            let first = match due {
                Some((deadline, index)) => tokio::select! {
                    event = self.events_rx.recv() => event,
                    () = tokio::time::sleep_until(deadline.into()) => {
                        debug!(destination = %self.templates[index].config.destination, "quiescence over");
                        self.templates[index].quiescence = None;
                        pass = Pass::Quiesced(index);
                        continue;
                    }
                },
                None => self.events_rx.recv().await,
            };
            let Some(first) = first else {
                return Ok(());
            };
            pass = Pass::Data;
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

    /// Renders every template (off the async workers), then runs the queued commands; returns
    /// whether all templates have rendered at least once.
    async fn render_pass(&mut self, pass: Pass, once: bool) -> Result<bool, RunnerError> {
        let brain = self.brain.lock().expect("not poisoned").clone();
        let mut templates = std::mem::take(&mut self.templates);
        let (templates, rendered) = blocking(move || {
            // A pass whose runner was dropped mid-way (token change, shutdown) still finishes
            // on the blocking pool; one pass at a time keeps it from landing after a newer one.
            let _one_at_a_time = RENDER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let rendered = render_templates(&mut templates, &brain, pass);
            (templates, rendered)
        })
        .await;
        self.templates = templates;
        let Rendered { commands, wanted } = rendered?;
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
        run_commands(&commands, &self.fetcher.session().command_env(), once).await?;
        Ok(self.templates.iter().all(|t| t.rendered_once))
    }

    /// The last value of every env template that has rendered.
    fn env_values(&self) -> EnvValues {
        self.templates
            .iter()
            .filter_map(|t| match &t.target {
                Target::Env {
                    name,
                    value: Some(value),
                } => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect()
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

static RENDER_LOCK: Mutex<()> = Mutex::new(());

/// What triggered a runner pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// New data (or the first pass): templates without a running quiescence render.
    Data,
    /// This template's quiescence ended: it alone renders.
    Quiesced(usize),
}

/// What a pass rendered: commands to run (configuration order, each once) and the
/// dependencies the templates asked for, with the first destination using each.
struct Rendered {
    commands: Vec<(Invocation, Duration)>,
    wanted: Vec<(Dependency, PathBuf)>,
}

/// Executes every template and writes the complete ones (blocking file I/O: call it from
/// [`blocking`]).
fn render_templates(
    templates: &mut [Prepared],
    brain: &BTreeMap<Dependency, Value>,
    pass: Pass,
) -> Result<Rendered, RunnerError> {
    let env = CacheEnv(brain);
    let mut commands: Vec<(Invocation, Duration)> = Vec::new();
    let mut wanted: Vec<(Dependency, PathBuf)> = Vec::new();
    for (index, t) in templates.iter_mut().enumerate() {
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
        if let Target::Env { name, value } = &mut t.target {
            // Values never reach a log: the variable is named, its value is not.
            let new = String::from_utf8_lossy(&rendered.output).into_owned();
            if value.as_ref() != Some(&new) {
                info!(variable = %name, "rendered env template");
                *value = Some(new);
            }
            t.rendered_once = true;
            continue;
        }
        match pass {
            // Another template's quiescence ended: this one waits for its own turn.
            Pass::Quiesced(fired) if fired != index => continue,
            Pass::Data => {
                if let Some(q) = t.quiescence.as_mut() {
                    q.tick(Instant::now());
                    debug!(destination = %destination, "render postponed (wait)");
                    continue;
                }
            }
            Pass::Quiesced(_) => {}
        }
        for side in &rendered.file_writes {
            render::write_side_file(side).map_err(|source| RunnerError::Write {
                destination: side.path.clone(),
                source,
            })?;
        }
        let outcome = render::write_atomic(
            &dest,
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
            if let Some(cmd) = &t.command
                && !commands.iter().any(|(queued, _)| queued == cmd)
            {
                commands.push((cmd.clone(), t.config.exec_timeout()));
            }
        }
    }
    Ok(Rendered { commands, wanted })
}

/// Runs the queued commands one after another; every one runs even when an earlier one fails.
///
/// A failure fails the runner, as in Vault Agent, except: in `once` mode (`bao agent` with
/// `exit_after_auth` exits 0 after a failed command), and for the agent's own `signal`
/// subcommand (no process yet is normal while the app starts; the next change retries).
async fn run_commands(
    commands: &[(Invocation, Duration)],
    env: &[(&'static str, String)],
    once: bool,
) -> Result<(), RunnerError> {
    let mut failures = Vec::new();
    for (cmd, timeout) in commands {
        info!(command = %cmd.label(), "running template command");
        match template_command::run(cmd, env, *timeout).await {
            Ok(()) => {}
            Err(err) if once || cmd.is_agent_signal() => {
                warn!(error = %err, "template command failed; the render stands");
            }
            Err(err) => {
                error!(error = %err, "template command failed");
                failures.push(err);
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(RunnerError::Commands(failures))
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

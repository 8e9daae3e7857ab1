//! The agent's main loop: log in (or adopt a hand-off), keep the token alive, run the
//! template runner, and stop cleanly.
//!
//! Tasks: the token keeper (login, renew-self on the LifetimeWatcher schedule, re-login when
//! renewal stops extending the token), the runner with one task per dependency, the agent API,
//! and the signal forwarder. They talk through channels; nothing is global.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::auth::{LoginError, Method, MethodError};
use crate::config::{AgentConfig, Sink};
use crate::metrics::Metrics;
use crate::runner::{self, Brain, EnvHook, Hooks, Runner, RunnerError};
use crate::schedule::{self, Backoff, RetryPolicy};
use crate::signal::{Shutdown, Trigger};
use crate::sink::{check_sinks, write_sinks};
use crate::state::{self, HandOff};
use crate::vault::{Token, Vault, VaultError};
use crate::watch::{Fetcher, Renewal, WatchSettings, lease_ids, renew_until_spent};

/// Why the agent stopped with a failure (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Method(#[from] MethodError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Listener(#[from] crate::proxy::ServeError),
    /// Init-container mode stopped before every template rendered: exiting 0 would let the
    /// pod start its app without secrets.
    #[error("stopped before every template was rendered")]
    Interrupted,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// How long revocation may take at shutdown, so the process exits within 2 s.
const REVOKE_BUDGET: Duration = Duration::from_millis(1500);

/// Everything the loops share.
struct Agent {
    config: AgentConfig,
    vault: Arc<Vault>,
    method: Method,
    metrics: Arc<Metrics>,
    settings: WatchSettings,
    min_backoff: Duration,
    max_backoff: Duration,
    /// Process-supervisor mode: where env template values go.
    on_env: Option<EnvHook>,
    /// The current token, for the API proxy.
    auto_token: crate::proxy::AutoToken,
    /// The one writer of `kagi.state_dir`, if set.
    state_writer: Option<state::Writer>,
}

/// Runs the agent until it is done (`exit_after_auth`), shut down, or failed.
pub async fn run(
    config: AgentConfig,
    trigger: Trigger,
    shutdown: Shutdown,
) -> Result<(), AgentError> {
    run_with_env(config, trigger, shutdown, None).await
}

/// [`run`], also handing every complete set of env template values to `on_env` (the
/// process supervisor, [`crate::supervisor`]).
pub async fn run_with_env(
    config: AgentConfig,
    trigger: Trigger,
    shutdown: Shutdown,
    on_env: Option<EnvHook>,
) -> Result<(), AgentError> {
    let mut agent = Agent::new(config)?;
    agent.on_env = on_env;
    if !agent.config.listener.is_empty() {
        crate::proxy::serve(
            &agent.config,
            crate::proxy::Upstream::from_vault(&agent.vault),
            agent.auto_token.clone(),
            trigger.clone(),
            agent.metrics.clone(),
        )
        .await?;
    }
    agent.main(shutdown).await
}

impl Agent {
    fn new(config: AgentConfig) -> Result<Self, AgentError> {
        let auth_method = config
            .auth_method()
            .ok_or_else(|| AgentError::Config("auto_auth.method is required".into()))?
            .clone();
        let method = Method::from_config(&auth_method)?;
        // No `vault` stanza: the environment alone, else bao agent's https://127.0.0.1:8200
        // (ConnectionSettings fills in both).
        let conn = config.vault.clone().unwrap_or_default();
        let vault = Vault::new(&conn, auth_method.namespace.as_deref())?;
        let min_backoff = auth_method.min_backoff.map(|d| d.0);
        let max_backoff = auth_method.max_backoff.map(|d| d.0);
        let template_config = config.template_config.clone().unwrap_or_default();
        let settings = WatchSettings {
            retry: RetryPolicy::from_agent(
                conn.retry.as_ref().and_then(|r| r.num_retries),
                min_backoff,
                max_backoff,
            ),
            static_interval: template_config.static_secret_render_interval(),
            renewal_threshold: template_config.lease_renewal_threshold.unwrap_or(0.9),
        };
        let (min_backoff, max_backoff) = (
            min_backoff.unwrap_or(Duration::from_secs(1)),
            max_backoff.unwrap_or(Duration::from_secs(300)),
        );
        if min_backoff > max_backoff {
            return Err(AgentError::Config(
                "auto_auth.method.min_backoff is greater than max_backoff".into(),
            ));
        }
        let state_writer = config
            .kagi
            .clone()
            .unwrap_or_default()
            .state_dir
            .filter(|d| !d.is_empty())
            .map(|d| state::Writer::new(PathBuf::from(d)));
        Ok(Agent {
            config,
            state_writer,
            vault: Arc::new(vault),
            method,
            metrics: Arc::new(Metrics::default()),
            settings,
            min_backoff,
            max_backoff,
            on_env: None,
            auto_token: Default::default(),
        })
    }

    /// File templates and env templates, parsed.
    async fn prepare_templates(&self) -> Result<Vec<runner::PreparedTemplate>, RunnerError> {
        let mut all = runner::prepare(&self.config.template).await?;
        all.extend(runner::prepare_env(&self.config.env_template).await?);
        Ok(all)
    }

    fn kagi(&self) -> crate::config::KagiExtensions {
        self.config.kagi.clone().unwrap_or_default()
    }

    fn state_dir(&self) -> Option<PathBuf> {
        self.kagi()
            .state_dir
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }

    fn exit_on_retry_failure(&self) -> bool {
        self.config
            .template_config
            .as_ref()
            .is_some_and(|t| t.exit_on_retry_failure)
    }

    async fn main(self, mut shutdown: Shutdown) -> Result<(), AgentError> {
        if let Some(pid_file) = self.config.pid_file.as_ref().filter(|p| !p.is_empty()) {
            std::fs::write(pid_file, std::process::id().to_string()).map_err(|source| {
                AgentError::Io {
                    what: "pid_file",
                    path: pid_file.clone(),
                    source,
                }
            })?;
        }
        check_sinks(self.sinks())?;
        // Parse templates before logging in: a broken template is a config error.
        self.prepare_templates().await?;

        let brain: Brain = Arc::new(Mutex::new(Default::default()));
        let adopted = self.adopt().await;
        let token = match adopted {
            Some(handoff) => {
                *brain.lock().expect("not poisoned") = handoff.brain(crate::watch::unix_now());
                handoff.token
            }
            None => match self.login_with_backoff(&mut shutdown).await? {
                Some(token) => token,
                None if self.config.exit_after_auth => return Err(AgentError::Interrupted),
                None => return Ok(()),
            },
        };
        self.write_sinks(&token);
        let current = Arc::new(Mutex::new(token.clone()));

        if self.config.exit_after_auth {
            // Init container: render once, hand the state to the sidecar, exit 0. No revoke: the
            // sidecar adopts these leases.
            let done = self
                .render_loop(&current, &brain, true, &mut shutdown, None)
                .await;
            self.save_state(&current, &brain).await;
            return done;
        }

        let (token_tx, token_rx) = watch::channel(token);
        // The keeper's new tokens reach the API proxy too.
        let mut published = token_rx.clone();
        let auto_token = self.auto_token.clone();
        tokio::spawn(async move {
            while published.changed().await.is_ok() {
                auto_token.set(&published.borrow_and_update().client_token);
            }
        });
        let (reauth_tx, reauth_rx) = mpsc::channel(1);
        let keeper = tokio::spawn(keep_token(
            self.vault.clone(),
            self.method.clone(),
            token_tx,
            reauth_rx,
            self.metrics.clone(),
            self.sinks().to_vec(),
            (self.min_backoff, self.max_backoff),
            shutdown.clone(),
            self.auto_token.clone(),
        ));
        let result = self
            .render_loop(
                &current,
                &brain,
                false,
                &mut shutdown,
                Some((token_rx, reauth_tx)),
            )
            .await;
        keeper.abort();
        if self.kagi().revoke_on_shutdown {
            let token = current.lock().expect("not poisoned").clone();
            let leases = lease_ids(&brain.lock().expect("not poisoned"));
            if tokio::time::timeout(REVOKE_BUDGET, self.revoke(&token, &leases))
                .await
                .is_err()
            {
                warn!("revocation did not finish in time; leases expire with their TTL");
            }
            if let Some(writer) = &self.state_writer {
                // No save still queued may bring the file back after it is removed.
                writer.flush().await;
                let _ = std::fs::remove_file(state::path(writer.dir()));
            }
        }
        result
    }

    fn sinks(&self) -> &[Sink] {
        self.config
            .auto_auth
            .as_ref()
            .map(|a| a.sink.as_slice())
            .unwrap_or(&[])
    }

    fn write_sinks(&self, token: &Token) {
        self.auto_token.set(&token.client_token);
        write_sinks(self.sinks(), token);
    }

    /// The runner, restarted after failures (with backoff) and after every new token. Returns
    /// on shutdown, on `once` completion, or on a failure with `exit_on_retry_failure`.
    async fn render_loop(
        &self,
        current: &Arc<Mutex<Token>>,
        brain: &Brain,
        once: bool,
        shutdown: &mut Shutdown,
        mut token_channel: Option<(watch::Receiver<Token>, mpsc::Sender<()>)>,
    ) -> Result<(), AgentError> {
        let mut restart = Backoff::new(self.min_backoff, self.max_backoff, schedule::jitter());
        let ready_file = self.kagi().ready_file.filter(|f| !f.is_empty());
        loop {
            let templates = self.prepare_templates().await?;
            let token = current.lock().expect("not poisoned").clone();
            let fetcher = Arc::new(Fetcher::new(
                self.vault.with_token(&token.client_token),
                self.metrics.clone(),
            ));
            let mut runner = Runner::new(templates, brain.clone(), fetcher, self.settings);
            let ready = ready_file.clone();
            let state_writer = self.state_writer.clone();
            let state_token = current.clone();
            let renders = self.metrics.clone();
            let mut hooks = Hooks {
                on_all_rendered: Box::new(move || {
                    if let Some(path) = &ready {
                        write_ready(path);
                    }
                }),
                on_change: Box::new(move |brain| {
                    Metrics::inc(&renders.renders);
                    if let Some(writer) = &state_writer {
                        let token = state_token.lock().expect("not poisoned").clone();
                        // Written on the blocking pool; failures are logged there.
                        writer.save(HandOff::new(&token, brain));
                    }
                }),
                on_env: self.on_env.clone(),
            };
            let started = Instant::now();
            let outcome = {
                let run = runner.run(once, &mut hooks);
                let token_changed = async {
                    match token_channel.as_mut() {
                        Some((rx, _)) => rx.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                // Every arm is cancel-safe: dropping the runner's future keeps the brain, and the
                // runner's tasks are aborted when it is dropped below.
                tokio::select! {
                    biased;
                    _ = shutdown.wait() => return stopped(once),
                    true = token_changed => None,
                    result = run => Some(result),
                }
            };
            drop(hooks);
            drop(runner);
            match outcome {
                None => {
                    // A new token: leases of the old one die with it, so read everything again.
                    let token = token_channel
                        .as_ref()
                        .map(|(rx, _)| rx.borrow().clone())
                        .expect("token channel present");
                    *current.lock().expect("not poisoned") = token;
                    brain.lock().expect("not poisoned").clear();
                    info!("new token; restarting the template runner");
                }
                Some(Ok(())) => return Ok(()),
                Some(Err(err)) if err.is_invalid_token() => {
                    warn!(error = %err, "token rejected; logging in again");
                    match token_channel.as_mut() {
                        Some((rx, reauth)) => {
                            // Wait for the keeper's new token; restarting with the rejected one
                            // would only hammer Vault.
                            let _ = reauth.try_send(());
                            tokio::select! {
                                biased;
                                _ = shutdown.wait() => return stopped(once),
                                changed = rx.changed() => if changed.is_err() { return stopped(once) },
                            }
                            let token = rx.borrow_and_update().clone();
                            *current.lock().expect("not poisoned") = token;
                        }
                        None => {
                            let token = match self.login_with_backoff(shutdown).await? {
                                Some(token) => token,
                                None => return stopped(once),
                            };
                            self.write_sinks(&token);
                            *current.lock().expect("not poisoned") = token;
                        }
                    }
                    brain.lock().expect("not poisoned").clear();
                }
                Some(Err(err)) => {
                    let exit = self.exit_on_retry_failure();
                    runner::log_failure(&err, exit);
                    if exit {
                        return Err(err.into());
                    }
                    if started.elapsed() > Duration::from_secs(60) {
                        restart.reset(schedule::jitter());
                    }
                    let pause = restart.next(schedule::jitter());
                    tokio::select! {
                        biased;
                        _ = shutdown.wait() => return stopped(once),
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    /// Adopts a hand-off left by the init container if its token still works.
    async fn adopt(&self) -> Option<HandOff> {
        let dir = self.state_dir()?;
        let handoff = state::load(&dir)?;
        let session = self.vault.with_token(&handoff.token.client_token);
        match session.lookup_self(&handoff.token.client_token).await {
            Ok(found)
                if found.lease_duration > Duration::from_secs(1)
                    || found.lease_duration.is_zero() =>
            {
                info!(
                    accessor = %found.accessor,
                    ttl = found.lease_duration.as_secs(),
                    secrets = handoff.dependencies.len(),
                    "adopted token and leases from the init container"
                );
                let mut handoff = handoff;
                handoff.token.lease_duration = found.lease_duration;
                handoff.token.renewable = found.renewable;
                Some(handoff)
            }
            Ok(_) => {
                info!("handed-over token is about to expire; logging in");
                None
            }
            Err(err) => {
                info!(error = %err, "handed-over token is not usable; logging in");
                None
            }
        }
    }

    /// Saves the hand-off and waits until it is on disk (the init container exits next).
    async fn save_state(&self, current: &Arc<Mutex<Token>>, brain: &Brain) {
        if let Some(writer) = &self.state_writer {
            let token = current.lock().expect("not poisoned").clone();
            let handoff = HandOff::new(&token, &brain.lock().expect("not poisoned"));
            let secrets = handoff.dependencies.len();
            writer.save(handoff);
            match writer.flush().await {
                Some(Ok(())) => {
                    info!(dir = %writer.dir().display(), secrets, "saved state for the sidecar")
                }
                Some(Err(err)) => warn!(error = %err, "cannot save state for the sidecar"),
                None => {}
            }
        }
    }

    /// Logs in, retrying with backoff; `Ok(None)` if shutdown came first.
    async fn login_with_backoff(
        &self,
        shutdown: &mut Shutdown,
    ) -> Result<Option<Token>, AgentError> {
        let exit_on_err = self.config.auth_method().is_some_and(|m| m.exit_on_err);
        login_with_backoff(
            &self.vault,
            &self.method,
            (self.min_backoff, self.max_backoff),
            exit_on_err,
            &self.metrics,
            shutdown,
        )
        .await
        .map_err(AgentError::from)
    }

    async fn revoke(&self, token: &Token, leases: &[String]) {
        let session = self.vault.with_token(&token.client_token);
        for lease in leases {
            match session.revoke_lease(lease).await {
                Ok(()) => info!(lease = %lease, "revoked lease"),
                Err(err) => warn!(error = %err, "cannot revoke lease"),
            }
        }
        match session.revoke_self().await {
            Ok(()) => info!(accessor = %token.accessor, "revoked token"),
            Err(err) => warn!(error = %err, "cannot revoke token"),
        }
    }
}

/// The result of a shutdown request: fine for a sidecar, a failure for an unfinished init.
fn stopped(once: bool) -> Result<(), AgentError> {
    if once {
        Err(AgentError::Interrupted)
    } else {
        Ok(())
    }
}

async fn login_with_backoff(
    vault: &Vault,
    method: &Method,
    (min, max): (Duration, Duration),
    exit_on_err: bool,
    metrics: &Metrics,
    shutdown: &mut Shutdown,
) -> Result<Option<Token>, LoginError> {
    let mut backoff = Backoff::new(min, max, schedule::jitter());
    loop {
        let attempt = tokio::select! {
            biased;
            _ = shutdown.wait() => return Ok(None),
            result = method.login(vault) => result,
        };
        match attempt {
            Ok(token) => {
                Metrics::inc(&metrics.logins);
                info!(method = method.kind(), accessor = %token.accessor, ttl = token.lease_duration.as_secs(), renewable = token.renewable, "authentication successful");
                return Ok(Some(token));
            }
            Err(err) if exit_on_err => {
                Metrics::inc(&metrics.login_failures);
                error!(error = %err, "authentication failed; exiting (exit_on_err)");
                return Err(err);
            }
            Err(err) => {
                Metrics::inc(&metrics.login_failures);
                let pause = backoff.next(schedule::jitter());
                error!(error = %err, retry_in = ?pause, "authentication failed");
                tokio::select! {
                    biased;
                    _ = shutdown.wait() => return Ok(None),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Keeps the token alive: renew-self on the LifetimeWatcher schedule, log in again when
/// renewal stops extending it (or when the runner reports it invalid), publish new tokens.
#[allow(clippy::too_many_arguments)]
async fn keep_token(
    vault: Arc<Vault>,
    method: Method,
    tx: watch::Sender<Token>,
    mut reauth: mpsc::Receiver<()>,
    metrics: Arc<Metrics>,
    sinks: Vec<Sink>,
    backoff: (Duration, Duration),
    mut shutdown: Shutdown,
    // The API proxy's report that Vault refused this token (proxy self-healing).
    proxied: crate::proxy::AutoToken,
) {
    loop {
        let token = tx.borrow().clone();
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = reauth.recv() => info!("re-authenticating: token rejected"),
            _ = proxied.rejected(&token.client_token) => info!("re-authenticating: token rejected on a proxied request"),
            _ = watch_token(&vault, &token, &metrics) => info!("re-authenticating: token renewal no longer extends it"),
        }
        // Upstream pauses 1 s before every re-login; it keeps a dying token from spinning.
        tokio::time::sleep(Duration::from_secs(1)).await;
        match login_with_backoff(&vault, &method, backoff, false, &metrics, &mut shutdown).await {
            Ok(Some(token)) => {
                write_sinks(&sinks, &token);
                tx.send_replace(token);
            }
            _ => return,
        }
    }
}

/// Returns when the token should be replaced (the loop is [`renew_until_spent`]'s).
async fn watch_token(vault: &Vault, token: &Token, metrics: &Metrics) {
    if token.lease_duration.is_zero() {
        // A root or other non-expiring token: nothing to renew.
        return std::future::pending().await;
    }
    let session = vault.with_token(&token.client_token);
    let session = &session;
    let renew = || async move {
        match session.renew_self().await {
            Ok(renewed) => {
                Metrics::inc(&metrics.token_renewals);
                info!(ttl = renewed.lease_duration.as_secs(), "renewed auth token");
                Renewal::Extended(renewed.lease_duration)
            }
            Err(err)
                if err.is_invalid_token()
                    || (err.status() == Some(403)
                        && session.token_is_valid().await == Some(false)) =>
            {
                warn!(error = %err, "token is no longer valid");
                Renewal::Stop
            }
            Err(err) if err.status() == Some(403) => {
                // No permission to renew itself: wait the lease out, then log in again.
                warn!(error = %err, "token cannot renew itself; treating it as non-renewable");
                Renewal::WaitOut
            }
            Err(err) => {
                Metrics::inc(&metrics.renew_failures);
                Renewal::Transient(err)
            }
        }
    };
    renew_until_spent(
        "auth token",
        token.lease_duration,
        token.renewable,
        |attempt| Some(schedule::renew_error_delay(attempt, schedule::jitter())),
        renew,
    )
    .await;
}

fn write_ready(path: &str) {
    match crate::render::write_atomic(Path::new(path), b"ready\n", Some(0o644), 0o644, true) {
        Ok(_) => info!(path, "ready file written"),
        Err(err) => error!(path, error = %err, "cannot write ready file"),
    }
}

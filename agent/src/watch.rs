//! Fetching template dependencies from Vault and keeping each one fresh.
//!
//! One task per dependency. It reads the secret, then either renews its lease on the
//! LifetimeWatcher schedule until renewal stops extending it (then reads a new secret), or
//! sleeps 85–95 % of its lifetime (or of `static_secret_render_interval`) and reads it again.
//! Every new value goes to the runner, which re-renders.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::kv::{self, Access, SecretPath};
use crate::metrics::Metrics;
use crate::pki;
use crate::schedule::{self, LifetimeSchedule, RefreshBase, RenewStep, RetryPolicy};
use crate::template::Dependency;
use crate::vault::{Session, VaultError};

/// Why a dependency could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("no secret exists at {0}")]
    NotFound(String),
    #[error("{0}")]
    Refresh(#[from] schedule::RefreshError),
    #[error("the agent's token is no longer valid ({0})")]
    TokenInvalid(VaultError),
}

impl FetchError {
    pub fn is_invalid_token(&self) -> bool {
        match self {
            FetchError::TokenInvalid(_) => true,
            FetchError::Vault(e) => e.is_invalid_token(),
            _ => false,
        }
    }
}

/// A short, secret-free name for a dependency, for logs and state keys.
pub fn describe(dep: &Dependency) -> String {
    match dep {
        Dependency::Secret { path, write: None } => format!("secret({path})"),
        Dependency::Secret {
            path,
            write: Some(args),
        } => format!(
            "secret({path}, write {})",
            args.keys().cloned().collect::<Vec<_>>().join(",")
        ),
        Dependency::List { path } => format!("secrets({path})"),
        Dependency::PkiCert { path, .. } => format!("pkiCert({path})"),
    }
}

/// Reads and writes dependencies for one token.
pub struct Fetcher {
    session: Session,
    metrics: Arc<Metrics>,
    /// KV v2 mount per template path (`None`: not KV v2), from the mounts preflight.
    kv_mounts: kv::MountCache,
}

impl Fetcher {
    pub fn new(session: Session, metrics: Arc<Metrics>) -> Self {
        Fetcher {
            session,
            metrics,
            kv_mounts: kv::MountCache::default(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// `sys/internal/ui/mounts/<path>`, cached per path ([`kv::MountCache`]: answers and
    /// refusals kept, transient failures asked again). Any failure means "not KV v2" now.
    async fn kv2_mount(&self, path: &str) -> Option<String> {
        if let Some(known) = self.kv_mounts.get(path) {
            return known;
        }
        let preflight = format!("sys/internal/ui/mounts/{path}");
        let outcome = self.session.read(&preflight, None).await;
        if let Err(err) = &outcome {
            warn!(%path, error = %err, "failed to check if path is KV v2, assuming not");
        }
        self.kv_mounts.record(path, &outcome)
    }

    /// One fetch: the Vault response envelope the template sees.
    pub async fn fetch(&self, dep: &Dependency) -> Result<Value, FetchError> {
        match dep {
            Dependency::Secret { path, write: None } => {
                let sp = SecretPath::parse(path);
                let unsupported = crate::vault::unsupported_query(&sp.query);
                if !unsupported.is_empty() {
                    warn!(path = %sp.path, params = ?unsupported, "ignoring query parameters other than version");
                }
                let api_path = match self.kv2_mount(&sp.path).await {
                    Some(mount) => kv::shim_kv2(&sp.path, &mount, Access::Read),
                    None => sp.path.clone(),
                };
                let version = sp.query.get("version").map(String::as_str);
                match self.session.read(&api_path, version).await? {
                    Some(envelope) if !kv::is_soft_deleted(&envelope) => Ok(envelope),
                    _ => Err(FetchError::NotFound(api_path)),
                }
            }
            Dependency::Secret {
                path,
                write: Some(args),
            } => {
                let sp = SecretPath::parse(path);
                let body: serde_json::Map<String, Value> = args
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                let (api_path, body, kv2) = match self.kv2_mount(&sp.path).await {
                    Some(mount) => (
                        kv::shim_kv2(&sp.path, &mount, Access::Write),
                        json!({ "data": body }),
                        true,
                    ),
                    None => (sp.path.clone(), Value::Object(body), false),
                };
                match self.session.write(&api_path, &body).await? {
                    Some(envelope) => Ok(envelope),
                    None if kv2 => Err(FetchError::NotFound(api_path)),
                    // A KV v1 write answers 204; the template gets an empty secret.
                    None => Ok(empty_envelope()),
                }
            }
            Dependency::List { path } => {
                let sp = SecretPath::parse(path);
                let api_path = match self.kv2_mount(&sp.path).await {
                    Some(mount) => kv::shim_kv2(&sp.path, &mount, Access::List),
                    None => sp.path.clone(),
                };
                let answer = self.session.list(&api_path).await?;
                let keys = crate::vault::list_keys(answer.as_ref());
                let mut envelope = answer.unwrap_or_else(empty_envelope);
                envelope["data"] = json!({ "keys": keys });
                Ok(envelope)
            }
            Dependency::PkiCert { path, params } => self
                .fetch_pki(path, params, None)
                .await
                .map(|(answer, _)| answer),
        }
    }
}

impl Fetcher {
    /// `pkiCert`: the certificate cached in `cache_file` if it is still good, else a new one.
    /// Returns the template's answer and when to check again.
    pub async fn fetch_pki(
        &self,
        path: &str,
        params: &BTreeMap<String, String>,
        cache_file: Option<&std::path::Path>,
    ) -> Result<(Value, Duration), FetchError> {
        let now = unix_now_f64();
        let cached = cache_file
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|text| pki::Bundle::from_pem(&text))
            .unwrap_or_default();
        let bundle = if cached.needs_issue(now) {
            let sp = SecretPath::parse(path);
            let body: serde_json::Map<String, Value> = params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let issued = self
                .session
                .write(&sp.path, &Value::Object(body))
                .await?
                .ok_or_else(|| FetchError::NotFound(sp.path.clone()))?;
            info!(path = %sp.path, "issued certificate");
            pki::Bundle::from_issue(&issued)
        } else {
            cached
        };
        let next = bundle.next_check(unix_now_f64());
        Ok((bundle.answer(), next))
    }
}

/// Keeps a `pkiCert` dependency current: re-checks at 90 % of the remaining validity.
async fn watch_pki(
    dep: Dependency,
    name: String,
    fetcher: Arc<Fetcher>,
    settings: WatchSettings,
    cache_file: Option<std::path::PathBuf>,
    events: mpsc::Sender<Event>,
) {
    let Dependency::PkiCert { path, params } = &dep else {
        return;
    };
    let mut last: Option<Value> = None;
    loop {
        let mut attempt = 0;
        let (answer, next) = loop {
            match fetcher.fetch_pki(path, params, cache_file.as_deref()).await {
                Ok(found) => break found,
                Err(err) => match settings.retry.delay(attempt, schedule::jitter()) {
                    Some(delay) => {
                        warn!(dependency = %name, error = %err, retry = attempt + 1, after = ?delay, "certificate check failed; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    None => {
                        let _ = events.send(Event::Failed(dep.clone(), err)).await;
                        return;
                    }
                },
            }
        };
        if last.as_ref() != Some(&answer) {
            if events
                .send(Event::Data(dep.clone(), answer.clone()))
                .await
                .is_err()
            {
                return;
            }
            last = Some(answer);
        }
        // Never spin on a certificate that is already at the end of its life.
        tokio::time::sleep(next.max(Duration::from_secs(1))).await;
    }
}

fn empty_envelope() -> Value {
    json!({"request_id": "", "lease_id": "", "lease_duration": 0, "renewable": false, "data": null, "warnings": null})
}

/// What a dependency task tells the runner.
#[derive(Debug)]
pub enum Event {
    /// New data for a dependency (first read, re-read, or re-issue).
    Data(Dependency, Value),
    /// Retries are exhausted.
    Failed(Dependency, FetchError),
}

/// Settings shared by every dependency task.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    pub retry: RetryPolicy,
    pub static_interval: Duration,
    pub renewal_threshold: f64,
}

/// Keeps one dependency fresh until the task is aborted. `seed` is data adopted from a previous
/// process (classic init → sidecar); it is renewed rather than read again.
pub async fn watch_dependency(
    dep: Dependency,
    fetcher: Arc<Fetcher>,
    settings: WatchSettings,
    seed: Option<Value>,
    cache_file: Option<std::path::PathBuf>,
    events: mpsc::Sender<Event>,
) {
    let name = describe(&dep);
    if matches!(dep, Dependency::PkiCert { .. }) {
        return watch_pki(dep, name, fetcher, settings, cache_file, events).await;
    }
    let mut current = seed;
    let mut last_poll: Option<Instant> = None;
    loop {
        let envelope = match current.take() {
            Some(envelope) => envelope,
            None => {
                // Never poll one dependency more than ~10 times a second.
                if let Some(last) = last_poll {
                    let gap = Duration::from_millis(100 + fastrand::u64(0..20));
                    tokio::time::sleep(gap.saturating_sub(last.elapsed())).await;
                }
                last_poll = Some(Instant::now());
                match fetch_with_retries(&dep, &name, &fetcher, settings.retry).await {
                    Ok(envelope) => {
                        if events
                            .send(Event::Data(dep.clone(), envelope.clone()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        envelope
                    }
                    Err(err) => {
                        let _ = events.send(Event::Failed(dep.clone(), err)).await;
                        return;
                    }
                }
            }
        };
        let lease_id = envelope
            .get("lease_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let renewable = envelope
            .get("renewable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if renewable && !lease_id.is_empty() {
            let lease = schedule::lease_from_secs(
                envelope
                    .get("lease_duration")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            );
            keep_lease(&name, &lease_id, lease, &fetcher, settings.retry).await;
            info!(dependency = %name, "lease renewal ended (max TTL reached or lease gone); reading a new secret");
            continue;
        }
        let sleep = match &dep {
            Dependency::List { .. } => settings.static_interval,
            _ => {
                match schedule::refresh_base(&envelope, unix_now_f64(), settings.static_interval) {
                    Ok(RefreshBase::Exact(d)) => d,
                    Ok(RefreshBase::Jittered(base)) => schedule::non_renewable_sleep(
                        base,
                        settings.renewal_threshold,
                        schedule::jitter(),
                    ),
                    Err(err) => {
                        warn!(dependency = %name, error = %err, "cannot schedule refresh; retrying");
                        settings
                            .retry
                            .delay(0, schedule::jitter())
                            .unwrap_or(Duration::from_secs(1))
                    }
                }
            }
        };
        debug!(dependency = %name, sleep = ?sleep, "next refresh scheduled");
        tokio::time::sleep(sleep).await;
        // Re-read here rather than at the loop top so unchanged data sends no event at all.
        match fetch_with_retries(&dep, &name, &fetcher, settings.retry).await {
            Ok(fresh) => {
                last_poll = Some(Instant::now());
                if !same_secret(&fresh, &envelope) {
                    info!(dependency = %name, "secret changed");
                    if events
                        .send(Event::Data(dep.clone(), fresh.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                current = Some(fresh);
            }
            Err(err) => {
                let _ = events.send(Event::Failed(dep.clone(), err)).await;
                return;
            }
        }
    }
}

/// Two responses carry the same secret (request ids and lease ids aside).
fn same_secret(a: &Value, b: &Value) -> bool {
    a.get("data") == b.get("data") && a.get("auth") == b.get("auth")
}

async fn fetch_with_retries(
    dep: &Dependency,
    name: &str,
    fetcher: &Fetcher,
    policy: RetryPolicy,
) -> Result<Value, FetchError> {
    let mut attempt = 0;
    loop {
        match fetcher.fetch(dep).await {
            Ok(envelope) => return Ok(envelope),
            Err(err) if err.is_invalid_token() => return Err(err),
            Err(FetchError::Vault(err))
                if err.status() == Some(403)
                    && fetcher.session.token_is_valid().await == Some(false) =>
            {
                return Err(FetchError::TokenInvalid(err));
            }
            Err(err) => match policy.delay(attempt, schedule::jitter()) {
                Some(delay) => {
                    warn!(dependency = %name, error = %err, retry = attempt + 1, after = ?delay, "fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    warn!(dependency = %name, error = %err, "fetch failed; retries exhausted");
                    return Err(err);
                }
            },
        }
    }
}

/// What one renewal attempt of a token or a lease found.
#[derive(Debug)]
pub(crate) enum Renewal {
    /// Renewed: this much of it is left now.
    Extended(Duration),
    /// A failure that may pass (network, 5xx): retried while the credential is still valid.
    Transient(VaultError),
    /// It cannot renew itself (a token without permission): wait it out, then replace it.
    WaitOut,
    /// Renewal cannot work any more (lease revoked, token invalid): replace it now.
    Stop,
}

/// The renewal loop of every token and lease: sleep on the LifetimeWatcher schedule, renew,
/// and return when the credential should be replaced (renewal stops extending it, `renew`
/// says stop, or it runs out during an outage). `retry_delay(n)` is the wait before retry
/// `n` of a transient failure (`None`: give up). kagi retries while the credential is valid
/// (upstream replaces a lease at the first error), so a short Vault outage re-issues nothing.
pub(crate) async fn renew_until_spent<F, Fut>(
    what: &str,
    lease: Duration,
    renewable: bool,
    retry_delay: impl Fn(u32) -> Option<Duration>,
    mut renew: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Renewal>,
{
    let mut schedule = LifetimeSchedule::new(lease.min(schedule::MAX_LEASE), schedule::jitter());
    let mut expires = schedule::lease_end(Instant::now(), lease);
    let mut renewable = renewable;
    loop {
        let remaining = expires.saturating_duration_since(Instant::now());
        match schedule.next(remaining, schedule::jitter()) {
            RenewStep::GiveUp => return,
            RenewStep::Sleep(sleep) => tokio::time::sleep(sleep).await,
        }
        if !renewable {
            continue;
        }
        let mut attempt = 0;
        loop {
            match renew().await {
                Renewal::Extended(ttl) => {
                    expires = schedule::lease_end(Instant::now(), ttl);
                    break;
                }
                Renewal::WaitOut => {
                    renewable = false;
                    break;
                }
                Renewal::Stop => return,
                Renewal::Transient(err) => {
                    let left = expires.saturating_duration_since(Instant::now());
                    let delay = retry_delay(attempt).filter(|d| !d.is_zero());
                    let Some(delay) = delay.filter(|_| left > schedule.grace()) else {
                        warn!(renewing = %what, error = %err, "renewal failed and it is about to expire");
                        return;
                    };
                    let delay = delay.min(left.saturating_sub(schedule.grace()));
                    warn!(renewing = %what, error = %err, retry_in = ?delay, "renewal failed; retrying while it is valid");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// Renews a dependency's lease until it should be replaced (see [`renew_until_spent`]). Its
/// `lease_expiry` series lives exactly as long as this does, aborted or not.
async fn keep_lease(
    name: &str,
    lease_id: &str,
    lease: Duration,
    fetcher: &Fetcher,
    policy: RetryPolicy,
) {
    let gauge = fetcher.metrics.lease_gauge(name);
    gauge.set(lease);
    let renew = || async {
        match fetcher.session().renew_lease(lease_id).await {
            Ok(answer) => {
                let ttl = schedule::lease_from_secs(
                    answer
                        .get("lease_duration")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                );
                Metrics::inc(&fetcher.metrics.lease_renewals);
                gauge.set(ttl);
                info!(dependency = %name, ttl = ttl.as_secs(), "renewed lease");
                Renewal::Extended(ttl)
            }
            Err(err) => {
                Metrics::inc(&fetcher.metrics.renew_failures);
                if err.status().is_none_or(|c| c >= 500) {
                    Renewal::Transient(err)
                } else {
                    warn!(dependency = %name, error = %err, "lease renewal failed");
                    Renewal::Stop
                }
            }
        }
    };
    renew_until_spent(
        name,
        lease,
        true,
        |attempt| policy.delay(attempt, schedule::jitter()),
        renew,
    )
    .await;
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Lease ids held in a set of envelopes (for revoke on shutdown and the state hand-off).
pub fn lease_ids(brain: &BTreeMap<Dependency, Value>) -> Vec<String> {
    brain
        .values()
        .filter_map(|e| e.get("lease_id").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

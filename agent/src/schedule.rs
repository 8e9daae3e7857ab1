//! When to renew, re-read, retry and back off: the Vault Agent timing rules as pure functions.
//!
//! Every function takes its randomness as `u`, a number in `[0, 1)`, so tests can pin it and the
//! callers draw it from [`fastrand`]. The formulas are the ones Vault Agent users can observe
//! (reference vault-agent.md §0); where kagi deliberately differs, the doc comment says why.

use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest lease the agent plans with. Vault caps leases far below this (its system
/// maximum defaults to 32 days); a larger `lease_duration` is a broken or hostile answer, and
/// `Instant + lease` on it would overflow and abort the agent.
pub const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A lease of `secs` seconds as Vault reports it, capped at [`MAX_LEASE`].
pub fn lease_from_secs(secs: u64) -> Duration {
    Duration::from_secs(secs).min(MAX_LEASE)
}

/// When a lease of `lease` that started at `start` ends (capped at [`MAX_LEASE`]; never panics).
pub fn lease_end(start: Instant, lease: Duration) -> Instant {
    let lease = lease.min(MAX_LEASE);
    start
        .checked_add(lease)
        .or_else(|| start.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(start)
}

/// The LifetimeWatcher's grace period: uniform in `[10 %, 20 %)` of the lease.
pub fn grace(lease: Duration, u: f64) -> Duration {
    lease.mul_f64(0.1 + 0.1 * u.clamp(0.0, 1.0))
}

/// What a lifetime watcher does after learning how much of a lease remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewStep {
    /// Sleep this long, then renew again.
    Sleep(Duration),
    /// Renewal no longer extends the lease enough: get a new one (re-login / re-read).
    GiveUp,
}

/// The LifetimeWatcher schedule for one token or lease (`sleep = 2/3·remaining + grace/3`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifetimeSchedule {
    grace: Duration,
    prior: Duration,
}

impl LifetimeSchedule {
    /// Starts watching a lease of `lease` (the TTL at login or read time).
    pub fn new(lease: Duration, u: f64) -> Self {
        LifetimeSchedule {
            grace: grace(lease, u),
            prior: lease,
        }
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Decides the next step once `remaining` of the lease is left (after a renewal, the new
    /// TTL). A lease that grew gets a fresh grace, as upstream does, so a renewable lease keeps
    /// renewing at 70–73 % of each period.
    pub fn next(&mut self, remaining: Duration, u: f64) -> RenewStep {
        if remaining > self.prior {
            self.grace = grace(remaining, u);
        }
        self.prior = remaining;
        let sleep = remaining.mul_f64(2.0 / 3.0) + self.grace / 3;
        if remaining <= self.grace || remaining.saturating_sub(sleep) <= self.grace {
            RenewStep::GiveUp
        } else {
            RenewStep::Sleep(sleep)
        }
    }
}

/// The sleep before re-reading a non-renewable secret: `base × (threshold + (u − 0.5)·0.1)`,
/// i.e. 85–95 % of `base` with the default threshold 0.9.
pub fn non_renewable_sleep(base: Duration, threshold: f64, u: f64) -> Duration {
    let mut factor = threshold + (u - 0.5) * 0.1;
    if factor >= 1.0 || factor <= 0.0 {
        factor = threshold;
    }
    base.mul_f64(factor.clamp(0.0, 1.0))
}

/// How a non-renewable secret's refresh period is derived from its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshBase {
    /// Re-read after `threshold` (≈ 90 % ± 5 %) of this.
    Jittered(Duration),
    /// A rotating secret (database static role): re-read exactly after this (`ttl + 1` s).
    Exact(Duration),
}

/// Why a refresh period cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("vault rotating secret returned ttl=0, will retry")]
    RotatingTtlZero,
}

/// consul-template's `leaseCheckWait` base for a non-renewable response `envelope` (a Vault
/// response body), evaluated at Unix time `now` (fractional seconds, so a certificate's
/// whole-second `expiration` is not misjudged by up to a second). `default` is
/// `static_secret_render_interval`.
pub fn refresh_base(
    envelope: &Value,
    now: f64,
    default: Duration,
) -> Result<RefreshBase, RefreshError> {
    let lease_id = envelope
        .get("lease_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut base = envelope.get("lease_duration").and_then(as_i64).unwrap_or(0) as f64;
    if let Some(auth_lease) = envelope
        .get("auth")
        .and_then(|a| a.get("lease_duration"))
        .and_then(as_i64)
        .filter(|d| *d > 0)
    {
        base = auth_lease as f64;
    }
    let data = envelope.get("data");
    let field = |key: &str| data.and_then(|d| d.get(key));
    if lease_id.is_empty() {
        if field("certificate").is_some()
            && let Some(expiration) = field("expiration").and_then(as_i64)
        {
            base = expiration as f64 - now;
        }
        if field("secret_id").is_some()
            && let Some(ttl) = field("secret_id_ttl").and_then(as_i64).filter(|t| *t > 0)
        {
            base = (ttl + 1) as f64;
        }
        if field("rotation_period").is_some() {
            let ttl = field("ttl").and_then(as_i64).unwrap_or(0);
            if ttl <= 0 {
                return Err(RefreshError::RotatingTtlZero);
            }
            return Ok(RefreshBase::Exact(Duration::from_secs(ttl as u64 + 1)));
        }
    }
    if base <= 0.0 {
        return Ok(RefreshBase::Jittered(default));
    }
    Ok(RefreshBase::Jittered(Duration::from_secs_f64(base)))
}

/// Vault sends numbers; some engines send them as strings (`"ttl": "3600"`).
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Vault Agent's reading of `vault.retry.num_retries`, for template reads and for its API
/// proxy's client alike: 0 or unset ⇒ 12, negative ⇒ none.
pub fn agent_retries(num_retries: Option<i64>) -> u32 {
    match num_retries {
        None | Some(0) => 12,
        Some(n) if n < 0 => 0,
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    }
}

/// Per-dependency retries after a failed fetch (consul-template's `RetryFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first failure; 0 disables retrying.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// [`agent_retries`] of `num_retries`; the auth method's
    /// `min_backoff`/`max_backoff` replace 250 ms / 1 m when set.
    pub fn from_agent(
        num_retries: Option<i64>,
        min_backoff: Option<Duration>,
        max_backoff: Option<Duration>,
    ) -> Self {
        RetryPolicy {
            attempts: agent_retries(num_retries),
            base: min_backoff.unwrap_or(Duration::from_millis(250)),
            max: max_backoff.unwrap_or(Duration::from_secs(60)),
        }
    }

    /// The sleep before retry number `attempt` (0-based), or `None` when retries are used up:
    /// `base·2^attempt` until that would pass `max`, then `max`, less up to 25 % at random.
    /// consul-template does not jitter; kagi does, so a fleet of agents that failed together
    /// (a Vault outage) does not retry together. Jitter only shortens, so `max` still bounds it.
    pub fn delay(&self, attempt: u32, u: f64) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let base = self.base.max(Duration::from_millis(1));
        let ratio = self.max.as_secs_f64() / base.as_secs_f64();
        let doublings = if ratio >= 1.0 {
            ratio.log2().floor() as u32
        } else {
            0
        };
        let nominal = if attempt > doublings {
            self.max
        } else {
            base.saturating_mul(1 << attempt.min(30))
                .min(self.max.max(base))
        };
        Some(shorten(nominal, u))
    }
}

/// Vault's SDK backoff (login retries and runner restarts): the first delay is `min` less up to
/// 25 %, each later one doubles up to `max`, and jitter only ever shortens a delay.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
    fresh: bool,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration, u: f64) -> Self {
        let mut backoff = Backoff {
            min,
            max: max.max(min),
            current: min,
            fresh: true,
        };
        backoff.reset(u);
        backoff
    }

    /// After a success: start again from `min`.
    pub fn reset(&mut self, u: f64) {
        self.current = shorten(self.min, u);
        self.fresh = true;
    }

    pub fn next(&mut self, u: f64) -> Duration {
        if self.fresh {
            self.fresh = false;
            return self.current;
        }
        self.current = shorten(self.current.saturating_mul(2).min(self.max), u);
        self.current
    }
}

fn shorten(d: Duration, u: f64) -> Duration {
    d.mul_f64(1.0 - 0.25 * u.clamp(0.0, 1.0))
}

/// The token watcher's wait after a failed renewal: 10 s doubling to 5 m, ±50 %.
pub fn renew_error_delay(attempt: u32, u: f64) -> Duration {
    let nominal = Duration::from_secs(10)
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(300));
    nominal.mul_f64(0.5 + u.clamp(0.0, 1.0))
}

/// A uniform random number in `[0, 1)` for the functions above.
pub fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn grace_is_ten_to_twenty_percent() {
        assert_eq!(grace(secs(100), 0.0), secs(10));
        assert_eq!(grace(secs(100), 0.5), secs(15));
        assert!(grace(secs(100), 0.999) < secs(20));
    }

    #[test]
    fn renewable_lease_renews_at_70_to_73_percent() {
        for u in [0.0, 0.5, 0.999] {
            let mut schedule = LifetimeSchedule::new(secs(3600), u);
            match schedule.next(secs(3600), u) {
                RenewStep::Sleep(sleep) => {
                    let fraction = sleep.as_secs_f64() / 3600.0;
                    assert!((0.70..=0.734).contains(&fraction), "{fraction}");
                }
                RenewStep::GiveUp => panic!("a fresh lease must be renewed"),
            }
        }
    }

    #[test]
    fn capped_lease_gives_up_within_four_graces() {
        // Database creds: ttl 4 s, max 12 s. Grace 0.4–0.8 s; giving up once remaining ≤ 4·grace.
        let mut schedule = LifetimeSchedule::new(secs(4), 0.0); // grace 0.4 s
        assert!(matches!(schedule.next(secs(4), 0.0), RenewStep::Sleep(_)));
        assert!(matches!(schedule.next(secs(4), 0.0), RenewStep::Sleep(_)));
        assert!(matches!(
            schedule.next(Duration::from_millis(1700), 0.0),
            RenewStep::Sleep(_)
        ));
        assert_eq!(
            schedule.next(Duration::from_millis(1500), 0.0),
            RenewStep::GiveUp
        );
        assert_eq!(schedule.next(Duration::ZERO, 0.0), RenewStep::GiveUp);
    }

    #[test]
    fn non_renewable_sleep_is_85_to_95_percent() {
        let base = secs(300);
        assert_eq!(non_renewable_sleep(base, 0.9, 0.0), secs(255));
        assert_eq!(non_renewable_sleep(base, 0.9, 0.5), secs(270));
        assert!(non_renewable_sleep(base, 0.9, 0.999) < secs(285));
        // A threshold that would reach 100 % falls back to the threshold itself.
        assert_eq!(non_renewable_sleep(base, 0.99, 0.9), base.mul_f64(0.99));
    }

    #[test]
    fn refresh_base_follows_lease_check_wait() {
        let default = secs(300);
        let kv2 =
            json!({"lease_id": "", "lease_duration": 0, "renewable": false, "data": {"data": {}}});
        assert_eq!(
            refresh_base(&kv2, 0.0, default),
            Ok(RefreshBase::Jittered(default))
        );
        let leased = json!({"lease_id": "x/1", "lease_duration": 60, "renewable": false});
        assert_eq!(
            refresh_base(&leased, 0.0, default),
            Ok(RefreshBase::Jittered(secs(60)))
        );
        let cert = json!({"lease_id": "", "lease_duration": 0, "data": {"certificate": "c", "expiration": 1_000_100}});
        assert_eq!(
            refresh_base(&cert, 1_000_000.0, default),
            Ok(RefreshBase::Jittered(secs(100)))
        );
        let rotating = json!({"lease_id": "", "data": {"rotation_period": 60, "ttl": 17}});
        assert_eq!(
            refresh_base(&rotating, 0.0, default),
            Ok(RefreshBase::Exact(secs(18)))
        );
        let rotating_now = json!({"lease_id": "", "data": {"rotation_period": 60, "ttl": 0}});
        assert_eq!(
            refresh_base(&rotating_now, 0.0, default),
            Err(RefreshError::RotatingTtlZero)
        );
    }

    #[test]
    fn retry_ladder_matches_consul_template_defaults() {
        let policy = RetryPolicy::from_agent(None, None, None);
        let delays: Vec<f64> = (0..13)
            .map_while(|i| policy.delay(i, 0.0))
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(
            delays,
            [
                0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0
            ]
        );
        assert_eq!(
            RetryPolicy::from_agent(Some(-1), None, None).delay(0, 0.0),
            None
        );
        let custom = RetryPolicy::from_agent(Some(3), Some(secs(1)), Some(secs(3)));
        assert_eq!(custom.delay(0, 0.0), Some(secs(1)));
        assert_eq!(custom.delay(1, 0.0), Some(secs(2)));
        assert_eq!(custom.delay(2, 0.0), Some(secs(3)));
        assert_eq!(custom.delay(3, 0.0), None);
    }

    #[test]
    fn retry_delays_are_jittered_so_a_fleet_spreads_out() {
        let policy = RetryPolicy::from_agent(None, None, None);
        for attempt in 0..12 {
            let nominal = policy.delay(attempt, 0.0).unwrap();
            let early = policy.delay(attempt, 0.999).unwrap();
            let middle = policy.delay(attempt, 0.5).unwrap();
            // Agents drawing different numbers wait different times, never longer than the
            // ladder (so `max` still bounds the wait) and never under 75 % of it.
            assert!(early < middle && middle < nominal, "attempt {attempt}");
            assert!(early >= nominal.mul_f64(0.75), "attempt {attempt}");
        }
        assert_eq!(policy.delay(8, 0.5), Some(Duration::from_millis(52_500)));
    }

    #[test]
    fn absurd_leases_are_capped_not_overflowed() {
        // A `lease_duration` of 2^64-1 s: `Instant::now() + lease` panics on it.
        let absurd = lease_from_secs(u64::MAX);
        assert_eq!(absurd, MAX_LEASE);
        let now = Instant::now();
        assert_eq!(lease_end(now, absurd), now + MAX_LEASE);
        assert_eq!(lease_end(now, Duration::MAX), now + MAX_LEASE);
        assert_eq!(lease_end(now, secs(60)), now + secs(60));
        assert_eq!(lease_from_secs(3600), secs(3600));
        // The watcher schedule on the capped lease renews at ~70 % of it, as on any lease.
        let mut schedule = LifetimeSchedule::new(absurd, 0.5);
        assert!(matches!(schedule.next(absurd, 0.5), RenewStep::Sleep(s) if s < absurd));
    }

    #[test]
    fn backoff_doubles_to_max_and_only_shortens() {
        let mut backoff = Backoff::new(secs(1), secs(300), 0.0);
        let plain: Vec<u64> = (0..11).map(|_| backoff.next(0.0).as_secs()).collect();
        assert_eq!(plain, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        let mut jittered = Backoff::new(secs(1), secs(300), 0.999);
        let first = jittered.next(0.999);
        assert!(first <= secs(1) && first >= Duration::from_millis(750));
        backoff.reset(0.0);
        assert_eq!(backoff.next(0.0), secs(1));
    }

    #[test]
    fn renew_error_delay_starts_at_ten_seconds_and_caps() {
        assert_eq!(renew_error_delay(0, 0.5), secs(10));
        assert_eq!(renew_error_delay(1, 0.5), secs(20));
        assert_eq!(renew_error_delay(9, 0.5), secs(300));
        assert_eq!(renew_error_delay(0, 0.0), secs(5));
    }
}

//! The agent's Prometheus metrics (`GET /agent/v1/metrics`), encoded by `prometheus-client` as
//! the webhook's are:
//! - `kagi_agent_{logins,login_failures,token_renewals,lease_renewals,renew_failures,renders}_total`;
//! - `kagi_agent_lease_seconds_remaining{dependency}` (gauge): one series per lease being kept
//!   renewed, removed when its keeper stops (the dependency went away, or its lease is replaced).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output (OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    dependency: String,
}

/// When a kept lease expires, and which keeper set it.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    unix: i64,
    keeper: u64,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub logins: Counter,
    pub login_failures: Counter,
    pub token_renewals: Counter,
    pub lease_renewals: Counter,
    pub renew_failures: Counter,
    pub renders: Counter,
    lease_remaining: Family<DependencyLabels, Gauge<i64, AtomicI64>>,
    /// Unix time each kept lease (by dependency name) expires; the gauge is computed from it
    /// when scraped, so it counts down between renewals.
    lease_expiry: Mutex<BTreeMap<String, Expiry>>,
    keepers: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let logins = counter(&mut registry, "kagi_agent_logins", "Successful logins");
        let login_failures = counter(
            &mut registry,
            "kagi_agent_login_failures",
            "Failed login attempts",
        );
        let token_renewals = counter(
            &mut registry,
            "kagi_agent_token_renewals",
            "Renewals of the agent's token",
        );
        let lease_renewals = counter(
            &mut registry,
            "kagi_agent_lease_renewals",
            "Renewals of secret leases",
        );
        let renew_failures = counter(
            &mut registry,
            "kagi_agent_renew_failures",
            "Failed token or lease renewals",
        );
        let renders = counter(
            &mut registry,
            "kagi_agent_renders",
            "Template renders that changed a file",
        );
        let lease_remaining = Family::default();
        registry.register(
            "kagi_agent_lease_seconds_remaining",
            "Seconds until each kept lease expires",
            lease_remaining.clone(),
        );
        Metrics {
            registry,
            logins,
            login_failures,
            token_renewals,
            lease_renewals,
            renew_failures,
            renders,
            lease_remaining,
            lease_expiry: Mutex::new(BTreeMap::new()),
            keepers: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    /// The `lease_seconds_remaining` series of dependency `name`, kept while the returned guard
    /// lives. A newer guard for the same name takes the series over; dropping an older one
    /// (an aborted task being cleaned up late) leaves it alone.
    pub fn lease_gauge(&self, name: &str) -> LeaseGauge<'_> {
        LeaseGauge {
            metrics: self,
            name: name.to_owned(),
            keeper: self.keepers.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let now = crate::watch::unix_now();
        {
            let expiries = self.lease_expiry.lock().expect("not poisoned");
            self.lease_remaining.clear();
            for (dependency, expiry) in expiries.iter() {
                let labels = DependencyLabels {
                    dependency: dependency.clone(),
                };
                self.lease_remaining
                    .get_or_create(&labels)
                    .set(expiry.unix.saturating_sub(now).max(0));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Keeps one dependency's `lease_seconds_remaining` series; see [`Metrics::lease_gauge`].
pub struct LeaseGauge<'a> {
    metrics: &'a Metrics,
    name: String,
    keeper: u64,
}

impl LeaseGauge<'_> {
    /// The lease now has `remaining` left.
    pub fn set(&self, remaining: Duration) {
        let remaining = i64::try_from(remaining.as_secs()).unwrap_or(i64::MAX);
        let expiry = Expiry {
            unix: crate::watch::unix_now().saturating_add(remaining),
            keeper: self.keeper,
        };
        self.metrics
            .lease_expiry
            .lock()
            .expect("not poisoned")
            .insert(self.name.clone(), expiry);
    }
}

impl Drop for LeaseGauge<'_> {
    fn drop(&mut self) {
        let mut expiries = self.metrics.lease_expiry.lock().expect("not poisoned");
        if expiries
            .get(&self.name)
            .is_some_and(|e| e.keeper == self.keeper)
        {
            expiries.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(metrics: &Metrics) -> Vec<String> {
        metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("kagi_agent_lease_seconds_remaining{"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn counters_keep_their_names() {
        let metrics = Metrics::default();
        Metrics::inc(&metrics.logins);
        Metrics::inc(&metrics.renders);
        Metrics::inc(&metrics.renders);
        let text = metrics.render();
        for line in [
            "# TYPE kagi_agent_logins counter",
            "kagi_agent_logins_total 1",
            "kagi_agent_login_failures_total 0",
            "kagi_agent_token_renewals_total 0",
            "kagi_agent_lease_renewals_total 0",
            "kagi_agent_renew_failures_total 0",
            "kagi_agent_renders_total 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn lease_series_goes_away_with_its_keeper() {
        let metrics = Metrics::default();
        let db = metrics.lease_gauge("secret(database/creds/app)");
        db.set(Duration::from_secs(3600));
        assert!(
            metrics
                .render()
                .contains("# TYPE kagi_agent_lease_seconds_remaining gauge")
        );
        {
            let other = metrics.lease_gauge(r#"secret(pki/"odd")"#);
            other.set(Duration::from_secs(60));
            let now = series(&metrics);
            assert_eq!(now.len(), 2, "{now:?}");
            assert!(
                now.iter().any(|l| l.starts_with(
                    r#"kagi_agent_lease_seconds_remaining{dependency="secret(pki/\"odd\")"} "#
                )),
                "label values are escaped: {now:?}"
            );
        }
        // The template that used the second secret is gone: so is its series.
        let left = series(&metrics);
        assert_eq!(left.len(), 1, "{left:?}");
        let value: i64 = left[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((3598..=3600).contains(&value), "{left:?}");
        drop(db);
        assert!(series(&metrics).is_empty());
    }

    #[test]
    fn a_late_drop_of_a_replaced_keeper_keeps_the_new_series() {
        let metrics = Metrics::default();
        let old = metrics.lease_gauge("secret(db)");
        old.set(Duration::from_secs(10));
        // The runner restarted: the new task's keeper took over before the old one was dropped.
        let new = metrics.lease_gauge("secret(db)");
        new.set(Duration::from_secs(500));
        drop(old);
        assert_eq!(series(&metrics).len(), 1);
        drop(new);
        assert!(series(&metrics).is_empty());
    }

    #[test]
    fn absurd_remaining_time_does_not_overflow() {
        let metrics = Metrics::default();
        let gauge = metrics.lease_gauge("secret(x)");
        gauge.set(Duration::MAX);
        assert_eq!(series(&metrics).len(), 1);
    }
}

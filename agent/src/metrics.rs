//! Counters for the Prometheus text endpoint (`GET /agent/v1/metrics`). Plain atomics: the agent
//! exposes a handful of numbers and needs no metrics library for them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub token_renewals: AtomicU64,
    pub lease_renewals: AtomicU64,
    pub renew_failures: AtomicU64,
    pub renders: AtomicU64,
    /// Unix time each lease (by dependency name) expires.
    pub lease_expiry: Mutex<BTreeMap<String, i64>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            ("kagi_agent_logins_total", &self.logins),
            ("kagi_agent_login_failures_total", &self.login_failures),
            ("kagi_agent_token_renewals_total", &self.token_renewals),
            ("kagi_agent_lease_renewals_total", &self.lease_renewals),
            ("kagi_agent_renew_failures_total", &self.renew_failures),
            ("kagi_agent_renders_total", &self.renders),
        ];
        for (name, value) in counters {
            let _ = writeln!(
                out,
                "# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let now = crate::watch::unix_now();
        let _ = writeln!(out, "# TYPE kagi_agent_lease_seconds_remaining gauge");
        for (dep, expires) in self.lease_expiry.lock().expect("not poisoned").iter() {
            let escaped = dep.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "kagi_agent_lease_seconds_remaining{{dependency=\"{escaped}\"}} {}",
                (expires - now).max(0)
            );
        }
        out
    }
}

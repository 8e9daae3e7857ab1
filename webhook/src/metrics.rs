//! Prometheus metrics of the webhook, under vault-k8s's names so existing dashboards and
//! alerts keep working: `vault_agent_injector_request_queue_length`,
//! `vault_agent_injector_request_processing_duration_ms`,
//! `vault_agent_injector_injections_by_namespace_total{namespace,injection_type}` and
//! `vault_agent_injector_failed_injections_by_namespace_total{namespace}`.
//!
//! The registry is explicit (no global state), so tests read the numbers they caused.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::admission::{InjectionType, Outcome};

/// vault-k8s's metric namespace and subsystem, joined as Prometheus does.
const PREFIX: &str = "vault_agent_injector";

/// vault-k8s's processing-time buckets, in milliseconds.
const DURATION_BUCKETS_MS: [f64; 13] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InjectionLabels {
    namespace: String,
    injection_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

/// The webhook's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Admission requests being read or answered right now.
    queue_length: Gauge<i64, AtomicI64>,
    /// Time from a complete request body to the encoded answer.
    processing_ms: Histogram,
    /// Pods that got an agent, by namespace and shape.
    injections: Family<InjectionLabels, Counter>,
    /// Pods denied because of their annotations or settings, by namespace.
    failed_injections: Family<NamespaceLabels, Counter>,
}

/// Keeps [`Metrics`]' queue length raised while alive.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge<i64, AtomicI64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

// === impl Metrics ===

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let queue_length = Gauge::<i64, AtomicI64>::default();
        let processing_ms = Histogram::new(DURATION_BUCKETS_MS);
        let injections = Family::<InjectionLabels, Counter>::default();
        let failed_injections = Family::<NamespaceLabels, Counter>::default();
        registry.register(
            "request_queue_length",
            "Admission requests being processed",
            queue_length.clone(),
        );
        registry.register(
            "request_processing_duration_ms",
            "Time to answer an admission request, in milliseconds",
            processing_ms.clone(),
        );
        registry.register(
            "injections_by_namespace",
            "Pods the agent was injected into, by namespace and injection type",
            injections.clone(),
        );
        registry.register(
            "failed_injections_by_namespace",
            "Pods whose injection was denied, by namespace",
            failed_injections.clone(),
        );
        Self {
            registry,
            queue_length,
            processing_ms,
            injections,
            failed_injections,
        }
    }

    /// Counts one admission request in the queue until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.queue_length.inc();
        InFlight(&self.queue_length)
    }

    /// Records one answered review.
    pub fn observe(&self, outcome: &Outcome, took: Duration) {
        self.processing_ms.observe(took.as_secs_f64() * 1000.0);
        match outcome {
            Outcome::Injected {
                namespace,
                injection,
            } => {
                let labels = InjectionLabels {
                    namespace: namespace.clone(),
                    injection_type: injection.label(),
                };
                self.injections.get_or_create(&labels).inc();
            }
            Outcome::Denied { namespace, .. } => {
                let labels = NamespaceLabels {
                    namespace: namespace.clone(),
                };
                self.failed_injections.get_or_create(&labels).inc();
            }
            Outcome::Ignored { .. } | Outcome::Skipped { .. } => {}
        }
    }

    /// Renders every metric in the OpenMetrics text format (which Prometheus scrapes).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an error here would be a bug in the encoder.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "failed to encode metrics");
        }
        text
    }
}

impl InjectionType {
    /// The `injection_type` label value vault-k8s uses.
    pub fn label(self) -> &'static str {
        match self {
            Self::InitOnly => "init_only",
            Self::SidecarOnly => "sidecar_only",
            Self::InitAndSidecar => "init_and_sidecar",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vault_k8s_metric_names() {
        let metrics = Metrics::new();
        metrics.observe(
            &Outcome::Injected {
                namespace: "apps".into(),
                injection: InjectionType::InitAndSidecar,
            },
            Duration::from_millis(3),
        );
        metrics.observe(
            &Outcome::Denied {
                namespace: "apps".into(),
                message: "bad".into(),
            },
            Duration::from_millis(7),
        );
        let text = metrics.encode();
        for line in [
            "vault_agent_injector_request_queue_length 0",
            "vault_agent_injector_injections_by_namespace_total{namespace=\"apps\",injection_type=\"init_and_sidecar\"} 1",
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"apps\"} 1",
            "vault_agent_injector_request_processing_duration_ms_count 2",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"5.0\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn queue_length_follows_in_flight_guards() {
        let metrics = Metrics::new();
        let first = metrics.in_flight();
        let second = metrics.in_flight();
        assert!(metrics.encode().contains("request_queue_length 2"));
        drop(first);
        drop(second);
        assert!(metrics.encode().contains("request_queue_length 0"));
    }

    #[test]
    fn skipped_and_ignored_reviews_count_no_injection() {
        let metrics = Metrics::new();
        metrics.observe(
            &Outcome::Skipped {
                namespace: "apps".into(),
                reason: "no annotation".into(),
            },
            Duration::ZERO,
        );
        metrics.observe(
            &Outcome::Ignored {
                reason: "not a pod",
            },
            Duration::ZERO,
        );
        let text = metrics.encode();
        assert!(!text.contains("injections_by_namespace_total{"), "{text}");
        assert!(
            text.contains("request_processing_duration_ms_count 2"),
            "{text}"
        );
    }
}

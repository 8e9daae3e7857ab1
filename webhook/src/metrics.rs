//! Prometheus metrics of the webhook.
//!
//! vault-k8s's names, so existing dashboards and alerts keep working:
//! - `vault_agent_injector_request_queue_length` (gauge): reviews being read or answered;
//! - `vault_agent_injector_request_processing_duration_ms` (histogram): body to answer;
//! - `vault_agent_injector_injections_by_namespace_total{namespace,injection_type}`;
//! - `vault_agent_injector_failed_injections_by_namespace_total{namespace}`.
//!
//! kagi's own, about the connections:
//! - `kagi_webhook_connections_open` (gauge): TLS connections accepted and not yet closed;
//! - `kagi_webhook_connections_closed_total{reason}`: `handshake_failed`, `handshake_timeout`,
//!   `header_timeout`, `idle_timeout` or `done` (closed by the client or after an answer);
//! - `kagi_webhook_requests_refused_total{reason}`: `body_timeout`, `api_timeout`,
//!   `too_large`, `content_type`, `unreadable`, `not_a_review`.
//!
//! Every label value is bounded: the namespace comes from the request (anyone who can reach
//! the port can write any name), so at most `max_namespaces` distinct namespaces are kept and
//! every further one, and any name that is not a Kubernetes namespace name, is counted as
//! `namespace="_other"` (`_` cannot start a namespace name). The registry is explicit (no
//! global state), so tests read the numbers they caused.
//!
//! Each kept namespace has its counters at hand: a review takes a read lock and a lookup by
//! `&str`, without building label values or hashing them into the families.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{OnceLock, RwLock};
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
/// kagi's own metrics.
const KAGI_PREFIX: &str = "kagi_webhook";

/// The `namespace` value of every namespace past the cap, and of names that are not
/// namespace names.
pub const OTHER_NAMESPACE: &str = "_other";

/// Distinct namespaces kept as label values by default; a cluster with more opted-in
/// namespaces raises `--metrics-max-namespaces`.
pub const DEFAULT_MAX_NAMESPACES: usize = 256;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why a connection ended (the `reason` label of `kagi_webhook_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    HandshakeFailed,
    HandshakeTimeout,
    HeaderTimeout,
    IdleTimeout,
    Done,
}

/// Why a request got no review (the `reason` label of `kagi_webhook_requests_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    BodyTimeout,
    ApiTimeout,
    TooLarge,
    ContentType,
    Unreadable,
    NotAReview,
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
    /// The namespaces that have a label value of their own, with their counters.
    namespaces: RwLock<HashMap<String, NamespaceSeries>>,
    /// The counters of [`OTHER_NAMESPACE`].
    other: NamespaceSeries,
    max_namespaces: usize,
    connections_open: Gauge<i64, AtomicI64>,
    connections_closed: Family<ReasonLabels, Counter>,
    requests_refused: Family<ReasonLabels, Counter>,
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
    /// Creates the metrics, all at zero, with the default namespace cap.
    pub fn new() -> Self {
        Self::with_max_namespaces(DEFAULT_MAX_NAMESPACES)
    }

    /// Creates the metrics, keeping at most `max_namespaces` namespace label values.
    pub fn with_max_namespaces(max_namespaces: usize) -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix(PREFIX);
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
        let kagi = root.sub_registry_with_prefix(KAGI_PREFIX);
        let connections_open = Gauge::<i64, AtomicI64>::default();
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        let requests_refused = Family::<ReasonLabels, Counter>::default();
        kagi.register(
            "connections_open",
            "TLS connections accepted and not yet closed",
            connections_open.clone(),
        );
        kagi.register(
            "connections_closed",
            "Connections closed, by reason",
            connections_closed.clone(),
        );
        kagi.register(
            "requests_refused",
            "Requests to /mutate answered without a review, by reason",
            requests_refused.clone(),
        );
        Self {
            registry: root,
            queue_length,
            processing_ms,
            injections,
            failed_injections,
            namespaces: RwLock::new(HashMap::new()),
            other: NamespaceSeries::default(),
            max_namespaces,
            connections_open,
            connections_closed,
            requests_refused,
        }
    }

    /// Runs `count` on the counters of `namespace` (and its label value): its own while the
    /// cap allows, else those of [`OTHER_NAMESPACE`].
    fn count_in(&self, namespace: &str, count: impl FnOnce(&NamespaceSeries, &str)) {
        if !is_namespace_name(namespace) {
            return count(&self.other, OTHER_NAMESPACE);
        }
        // A poisoned lock only means another thread panicked mid-insert; the map is intact.
        {
            let known = self
                .namespaces
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(series) = known.get(namespace) {
                return count(series, namespace);
            }
        }
        let mut known = self
            .namespaces
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !known.contains_key(namespace) && known.len() >= self.max_namespaces {
            drop(known);
            return count(&self.other, OTHER_NAMESPACE);
        }
        let series = known.entry(namespace.to_owned()).or_default();
        count(series, namespace)
    }

    /// Counts one accepted connection until the guard is dropped with its reason.
    pub fn connection(&self) -> OpenConnection<'_> {
        self.connections_open.inc();
        OpenConnection(self)
    }

    /// Counts one request answered without a review.
    pub fn refused(&self, reason: Refused) {
        let reason = match reason {
            Refused::BodyTimeout => "body_timeout",
            Refused::ApiTimeout => "api_timeout",
            Refused::TooLarge => "too_large",
            Refused::ContentType => "content_type",
            Refused::Unreadable => "unreadable",
            Refused::NotAReview => "not_a_review",
        };
        self.requests_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
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
            } => self.count_in(namespace, |series, label| {
                let slot = &series.injections[injection.index()];
                slot.get_or_init(|| {
                    self.injections.get_or_create_owned(&InjectionLabels {
                        namespace: label.to_owned(),
                        injection_type: injection.label(),
                    })
                })
                .inc();
            }),
            Outcome::Denied { namespace, .. } => self.count_in(namespace, |series, label| {
                series
                    .failed
                    .get_or_init(|| {
                        self.failed_injections
                            .get_or_create_owned(&NamespaceLabels {
                                namespace: label.to_owned(),
                            })
                    })
                    .inc();
            }),
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

/// The counters of one namespace label value, each taken from its family the first time it
/// counts (so a series appears once it has counted, as before).
#[derive(Debug, Default)]
struct NamespaceSeries {
    /// By [`InjectionType`] as index.
    injections: [OnceLock<Counter>; 3],
    failed: OnceLock<Counter>,
}

/// Keeps `kagi_webhook_connections_open` raised until [`OpenConnection::close`].
#[derive(Debug)]
pub struct OpenConnection<'a>(&'a Metrics);

impl OpenConnection<'_> {
    /// Counts the connection as closed for `reason`.
    pub fn close(self, reason: Closed) {
        let reason = match reason {
            Closed::HandshakeFailed => "handshake_failed",
            Closed::HandshakeTimeout => "handshake_timeout",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::Done => "done",
        };
        self.0
            .connections_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}

/// A Kubernetes namespace name: a DNS-1123 label (lowercase letters, digits and `-`, at most
/// 63 characters, starting and ending with a letter or digit).
fn is_namespace_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
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

    /// Its place in [`NamespaceSeries::injections`].
    fn index(self) -> usize {
        match self {
            Self::InitOnly => 0,
            Self::SidecarOnly => 1,
            Self::InitAndSidecar => 2,
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
    fn namespaces_past_the_cap_and_bad_names_fold_into_one_value() {
        let metrics = Metrics::with_max_namespaces(3);
        let inject = |namespace: &str| {
            metrics.observe(
                &Outcome::Injected {
                    namespace: namespace.into(),
                    injection: InjectionType::InitOnly,
                },
                Duration::ZERO,
            )
        };
        for namespace in ["apps", "shop", "apps", "Not_A-Name", "team-a"] {
            inject(namespace);
        }
        let before = metrics.encode();
        for forged in 0..2000 {
            inject(&format!("forged-{forged}"));
            metrics.observe(
                &Outcome::Denied {
                    namespace: format!("forged-{forged}"),
                    message: "bad".into(),
                },
                Duration::ZERO,
            );
        }
        // Real namespaces seen first keep their series.
        inject("shop");
        let text = metrics.encode();
        for line in [
            "injections_by_namespace_total{namespace=\"apps\",injection_type=\"init_only\"} 2",
            "injections_by_namespace_total{namespace=\"shop\",injection_type=\"init_only\"} 2",
            "injections_by_namespace_total{namespace=\"team-a\",injection_type=\"init_only\"} 1",
            "injections_by_namespace_total{namespace=\"_other\",injection_type=\"init_only\"} 2001",
            "failed_injections_by_namespace_total{namespace=\"_other\"} 2000",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains("forged-"), "{text}");
        // Two thousand forged namespaces added two series in all.
        assert!(
            text.len() < before.len() + 400,
            "{} -> {}",
            before.len(),
            text.len()
        );
    }

    #[test]
    fn connection_and_refusal_counters_use_fixed_reasons() {
        let metrics = Metrics::new();
        let open = metrics.connection();
        assert!(metrics.encode().contains("kagi_webhook_connections_open 1"));
        open.close(Closed::HeaderTimeout);
        metrics.refused(Refused::BodyTimeout);
        let text = metrics.encode();
        for line in [
            "kagi_webhook_connections_open 0",
            "kagi_webhook_connections_closed_total{reason=\"header_timeout\"} 1",
            "kagi_webhook_requests_refused_total{reason=\"body_timeout\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
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

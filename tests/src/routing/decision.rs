//! What the API server decides for each webhook of a configuration.

use std::collections::BTreeMap;
use std::fmt;

use super::{GroupVersionKind, GroupVersionResource};

/// Why a webhook is not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The namespace's labels do not match `namespaceSelector`.
    NamespaceSelector {
        selector: String,
        labels: BTreeMap<String, String>,
    },
    /// Neither the object's nor the old object's labels match `objectSelector`.
    ObjectSelector {
        selector: String,
        labels: BTreeMap<String, String>,
    },
    /// No rule covers the operation and resource.
    NoRuleMatches,
    /// This match condition evaluated to false.
    MatchConditionFalse { condition: String },
    /// Conditions failed to evaluate and `failurePolicy` is `Ignore`.
    MatchConditionErrorIgnored { errors: Vec<String> },
    /// Admission configuration objects never go to webhooks (so a webhook cannot lock
    /// itself in).
    ExemptResource,
}

/// What the API server does with one webhook for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The webhook is called, with the object at this resource version and kind.
    Called {
        resource: GroupVersionResource,
        kind: GroupVersionKind,
    },
    Skipped(Skip),
    /// The API server refuses the whole request without calling the webhook (a match
    /// condition failed under `failurePolicy: Fail`, or the namespace does not exist).
    Rejected {
        reason: String,
    },
}

/// One webhook's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDecision {
    pub webhook: String,
    pub outcome: Outcome,
}

/// The outcome of every webhook of a configuration, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingDecision {
    pub webhooks: Vec<WebhookDecision>,
}

impl RoutingDecision {
    /// The names of the webhooks the request is sent to (empty when it is rejected first).
    pub fn called(&self) -> Vec<&str> {
        if self.rejection().is_some() {
            return Vec::new();
        }
        self.webhooks
            .iter()
            .filter(|w| matches!(w.outcome, Outcome::Called { .. }))
            .map(|w| w.webhook.as_str())
            .collect()
    }

    /// Why the API server refuses the request before any webhook runs, if it does.
    pub fn rejection(&self) -> Option<&str> {
        self.webhooks.iter().find_map(|w| match &w.outcome {
            Outcome::Rejected { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// The outcome for webhook `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.webhooks
            .iter()
            .find(|w| w.webhook == name)
            .map(|w| &w.outcome)
    }
}

impl fmt::Display for RoutingDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, webhook) in self.webhooks.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: ", webhook.webhook)?;
            match &webhook.outcome {
                Outcome::Called { resource, .. } => write!(
                    f,
                    "called ({}/{} {})",
                    resource.group, resource.version, resource.resource
                )?,
                Outcome::Rejected { reason } => write!(f, "request rejected: {reason}")?,
                Outcome::Skipped(Skip::NamespaceSelector { selector, labels }) => write!(
                    f,
                    "skipped: namespaceSelector {selector} does not match namespace labels {labels:?}"
                )?,
                Outcome::Skipped(Skip::ObjectSelector { selector, labels }) => write!(
                    f,
                    "skipped: objectSelector {selector} does not match object labels {labels:?}"
                )?,
                Outcome::Skipped(Skip::NoRuleMatches) => f.write_str("skipped: no rule matches")?,
                Outcome::Skipped(Skip::ExemptResource) => {
                    f.write_str("skipped: admission configuration objects are exempt")?
                }
                Outcome::Skipped(Skip::MatchConditionFalse { condition }) => {
                    write!(f, "skipped: matchCondition {condition:?} is false")?
                }
                Outcome::Skipped(Skip::MatchConditionErrorIgnored { errors }) => write!(
                    f,
                    "skipped: matchConditions failed under failurePolicy Ignore: {}",
                    errors.join("; ")
                )?,
            }
        }
        Ok(())
    }
}

//! Admission routing as the Kubernetes API server does it: which webhooks of a
//! MutatingWebhookConfiguration a request is sent to.
//!
//! For each webhook, in the API server's order (`generic.Webhook.ShouldCallHook`):
//! `namespaceSelector` against the namespace's labels, `objectSelector` against the object's
//! labels (the old object's too, for updates), `rules` (operations, groups, versions,
//! resources with subresources and `*`, scope) with `matchPolicy: Equivalent` trying the
//! request's equivalent resources, then every `matchConditions` expression evaluated as CEL
//! by cel-rust. A false condition skips the webhook; a condition that fails to evaluate
//! rejects the request under `failurePolicy: Fail` (the default) and skips the webhook under
//! `Ignore`. Unset fields take the API server's defaults (`failurePolicy: Fail`,
//! `matchPolicy: Equivalent`, selectors `{}`, `scope: "*"`).
//!
//! Bound CEL variables: `object`, `oldObject` (null on CREATE) and `request` (the
//! AdmissionRequest without `object`/`oldObject`, as the API server builds it). Not
//! supported: `authorizer` / `authorizer.requestResource` (refused with
//! [`RoutingError::Unsupported`]), the Kubernetes CEL libraries, and static type checking;
//! see `conditions.rs`.
//!
//! ```no_run
//! # fn main() -> Result<(), kagi_tests::routing::RoutingError> {
//! use std::collections::BTreeMap;
//! let yaml = std::fs::read_to_string("deploy/base/mutatingwebhookconfiguration.yaml").unwrap();
//! let config = &kagi_tests::routing::mutating_webhook_configurations(&yaml)?[0];
//! let labels = BTreeMap::from([("kagi-injection".to_owned(), "enabled".to_owned())]);
//! let pod = serde_json::json!({"metadata": {"name": "web", "annotations": {
//!     "openbao.org/agent-inject": "true"}}, "spec": {"containers": []}});
//! let decision = kagi_tests::routing::route(config, "team-a", &labels, &pod)?;
//! assert_eq!(decision.called(), ["agent-inject.kagi.dev"]);
//! # Ok(())
//! # }
//! ```

mod conditions;
mod decision;
mod rules;
mod selector;

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use serde_json::{Value, json};

use conditions::{Bindings, ConditionsOutcome};
pub use decision::{Outcome, RoutingDecision, Skip, WebhookDecision};
use selector::Selector;

/// A configuration the API server would not store, or a request this model cannot decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("{document}: not a MutatingWebhookConfiguration: {reason}")]
    Document { document: String, reason: String },
    #[error("invalid {field}: {reason}")]
    InvalidSelector { field: String, reason: String },
    #[error("webhook {webhook}: matchCondition {condition:?} is invalid: {reason}")]
    InvalidCondition {
        webhook: String,
        condition: String,
        reason: String,
    },
    #[error(
        "webhook {webhook}: matchCondition {condition:?} uses {what}, which this model does not support"
    )]
    Unsupported {
        webhook: String,
        condition: String,
        what: String,
    },
    #[error("cannot bind CEL variable {variable}: {reason}")]
    Binding { variable: String, reason: String },
    #[error(
        "the pod's metadata.namespace {object:?} does not match the request namespace {request:?} \
         (the API server refuses such a request)"
    )]
    NamespaceMismatch { object: String, request: String },
}

/// An API resource (`metav1.GroupVersionResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl GroupVersionResource {
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        GroupVersionResource {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"group": self.group, "version": self.version, "resource": self.resource})
    }
}

/// An API kind (`metav1.GroupVersionKind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        GroupVersionKind {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"group": self.group, "version": self.version, "kind": self.kind})
    }
}

/// An admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// The name rules and `request.operation` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Who sends the request (`request.userInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What the API server knows about a request when it picks webhooks (`admission.Attributes`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionAttributes {
    pub operation: Operation,
    pub resource: GroupVersionResource,
    /// Empty for the resource itself, e.g. `status` or `exec` otherwise.
    pub subresource: String,
    pub kind: GroupVersionKind,
    /// Empty for cluster-scoped resources; a Namespace's own name for Namespace objects.
    pub namespace: String,
    /// Empty when the name is generated (`generateName`), which happens after admission.
    pub name: String,
    /// The new object (`None` for DELETE).
    pub object: Option<Value>,
    /// The existing object (`None` for CREATE).
    pub old_object: Option<Value>,
    pub user_info: UserInfo,
    pub dry_run: bool,
    /// Other resources serving the same objects, with their kinds (apps/v1 and
    /// extensions/v1beta1 deployments, say), for `matchPolicy: Equivalent`. Core v1 pods
    /// have none.
    pub equivalents: Vec<(GroupVersionResource, GroupVersionKind)>,
}

impl AdmissionAttributes {
    /// `kubectl create` of a v1 Pod in `namespace`: the API server sets the object's
    /// `metadata.namespace` from the request before admission when the manifest has none.
    pub fn create_pod(namespace: &str, pod: &Value) -> Self {
        let mut object = pod.clone();
        if object["metadata"]["namespace"]
            .as_str()
            .is_none_or(str::is_empty)
            && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.insert("namespace".to_owned(), json!(namespace));
        }
        AdmissionAttributes {
            operation: Operation::Create,
            resource: GroupVersionResource::new("", "v1", "pods"),
            subresource: String::new(),
            kind: GroupVersionKind::new("", "v1", "Pod"),
            namespace: namespace.to_owned(),
            name: pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            object: Some(object),
            old_object: None,
            user_info: UserInfo {
                username: "kubernetes-admin".to_owned(),
                groups: vec![
                    "system:masters".to_owned(),
                    "system:authenticated".to_owned(),
                ],
                ..UserInfo::default()
            },
            dry_run: false,
            equivalents: Vec::new(),
        }
    }

    /// The `request` CEL variable: the AdmissionRequest as the API server builds it for
    /// match conditions (no uid, no object or oldObject; kind and resource are the ones the
    /// webhook is called with, requestKind/requestResource the original ones).
    fn request_json(&self, resource: &GroupVersionResource, kind: &GroupVersionKind) -> Value {
        let mut request = json!({
            "uid": "",
            "kind": kind.to_json(),
            "resource": resource.to_json(),
            "requestKind": self.kind.to_json(),
            "requestResource": self.resource.to_json(),
            "operation": self.operation.as_str(),
            "userInfo": {"username": self.user_info.username, "uid": self.user_info.uid,
                         "groups": self.user_info.groups, "extra": self.user_info.extra},
            "dryRun": self.dry_run,
        });
        let options_kind = match self.operation {
            Operation::Create => Some("CreateOptions"),
            Operation::Update => Some("UpdateOptions"),
            Operation::Delete => Some("DeleteOptions"),
            Operation::Connect => None,
        };
        let optional = [
            ("subResource", json!(self.subresource)),
            ("requestSubResource", json!(self.subresource)),
            ("name", json!(self.name)),
            ("namespace", json!(self.namespace)),
        ];
        let fields = request.as_object_mut().expect("a JSON object");
        for (key, value) in optional {
            if value.as_str().is_some_and(|s| !s.is_empty()) {
                fields.insert(key.to_owned(), value);
            }
        }
        if let Some(options_kind) = options_kind {
            fields.insert(
                "options".to_owned(),
                json!({"apiVersion": "meta.k8s.io/v1", "kind": options_kind}),
            );
        }
        request
    }
}

/// Every MutatingWebhookConfiguration among the YAML documents in `yaml` (such as the
/// output of `kubectl kustomize` or `helm template`); other kinds are ignored.
pub fn mutating_webhook_configurations(
    yaml: &str,
) -> Result<Vec<MutatingWebhookConfiguration>, RoutingError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| RoutingError::Yaml(e.to_string()))?;
    documents
        .into_iter()
        .filter(|d| d["kind"] == "MutatingWebhookConfiguration")
        .map(|document| {
            let name = document["metadata"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            serde_json::from_value(document).map_err(|e| RoutingError::Document {
                document: format!("MutatingWebhookConfiguration {name}"),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Which webhooks of `config` the API server calls when a v1 Pod `pod` is created in
/// namespace `namespace`, whose labels are `namespace_labels`.
///
/// An `Err` means the configuration is one the API server would refuse to store (or uses
/// what this model does not support); a request the API server refuses is
/// [`RoutingDecision::rejection`].
pub fn route(
    config: &MutatingWebhookConfiguration,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    pod: &Value,
) -> Result<RoutingDecision, RoutingError> {
    if let Some(object_namespace) = pod["metadata"]["namespace"].as_str()
        && !object_namespace.is_empty()
        && object_namespace != namespace
    {
        return Err(RoutingError::NamespaceMismatch {
            object: object_namespace.to_owned(),
            request: namespace.to_owned(),
        });
    }
    let attributes = AdmissionAttributes::create_pod(namespace, pod);
    route_request(config, Some(namespace_labels), &attributes)
}

/// Like [`route`] for any request. `namespace_labels` is `None` when the request's
/// namespace does not exist.
pub fn route_request(
    config: &MutatingWebhookConfiguration,
    namespace_labels: Option<&BTreeMap<String, String>>,
    attributes: &AdmissionAttributes,
) -> Result<RoutingDecision, RoutingError> {
    let exempt = attributes.kind.group == "admissionregistration.k8s.io"
        && EXEMPT_KINDS.contains(&attributes.kind.kind.as_str());
    let webhooks = config
        .webhooks
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, webhook)| {
            let field = |name: &str| format!("webhooks[{index}].{name}");
            let namespace_selector = Selector::parse(
                webhook.namespace_selector.as_ref(),
                &field("namespaceSelector"),
            )?;
            let object_selector =
                Selector::parse(webhook.object_selector.as_ref(), &field("objectSelector"))?;
            let conditions = conditions::compile(
                &webhook.name,
                webhook.match_conditions.as_deref().unwrap_or_default(),
            )?;
            let fail_closed = webhook.failure_policy.as_deref().unwrap_or("Fail") == "Fail";
            if exempt {
                return Ok(WebhookDecision {
                    webhook: webhook.name.clone(),
                    outcome: Outcome::Skipped(Skip::ExemptResource),
                });
            }
            let outcome = decide(
                &Checks {
                    namespace_selector: &namespace_selector,
                    object_selector: &object_selector,
                    rules: webhook.rules.as_deref().unwrap_or_default(),
                    match_policy: webhook.match_policy.as_deref(),
                    conditions: &conditions,
                    fail_closed,
                    name: &webhook.name,
                },
                namespace_labels,
                attributes,
            )?;
            Ok(WebhookDecision {
                webhook: webhook.name.clone(),
                outcome,
            })
        })
        .collect::<Result<Vec<_>, RoutingError>>()?;
    Ok(RoutingDecision { webhooks })
}

/// Kinds of `admissionregistration.k8s.io` the API server never sends to webhooks
/// (`rules.IsExemptAdmissionConfigurationResource`; the mutating policies since 1.32).
const EXEMPT_KINDS: &[&str] = &[
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
];

/// One webhook, parsed.
struct Checks<'a> {
    namespace_selector: &'a Selector,
    object_selector: &'a Selector,
    rules: &'a [k8s_openapi::api::admissionregistration::v1::RuleWithOperations],
    match_policy: Option<&'a str>,
    conditions: &'a [conditions::CompiledCondition],
    fail_closed: bool,
    name: &'a str,
}

fn labels_of(object: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let object = object?;
    Some(
        object["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
    )
}

fn decide(
    checks: &Checks<'_>,
    namespace_labels: Option<&BTreeMap<String, String>>,
    attributes: &AdmissionAttributes,
) -> Result<Outcome, RoutingError> {
    // namespaceSelector: cluster-scoped requests other than Namespaces always match; a
    // Namespace is matched on its own labels. A missing namespace is an error that only
    // counts if the rules match (the API server checks it after the rules).
    let is_namespace =
        attributes.resource.group.is_empty() && attributes.resource.resource == "namespaces";
    let cluster_scoped_other = attributes.namespace.is_empty() && !is_namespace;
    let mut namespace_missing = false;
    if !cluster_scoped_other && !checks.namespace_selector.is_empty() {
        let labels = if is_namespace {
            labels_of(
                attributes
                    .object
                    .as_ref()
                    .or(attributes.old_object.as_ref()),
            )
        } else {
            namespace_labels.cloned()
        };
        match labels {
            Some(labels) if !checks.namespace_selector.matches(&labels) => {
                return Ok(Outcome::Skipped(Skip::NamespaceSelector {
                    selector: checks.namespace_selector.to_string(),
                    labels,
                }));
            }
            Some(_) => {}
            None => namespace_missing = true,
        }
    }
    // objectSelector: either the new or the old object must match; a missing object
    // (oldObject on CREATE) never does.
    if !checks.object_selector.is_empty() {
        let new = labels_of(attributes.object.as_ref());
        let old = labels_of(attributes.old_object.as_ref());
        let matched = [&new, &old]
            .into_iter()
            .flatten()
            .any(|labels| checks.object_selector.matches(labels));
        if !matched {
            return Ok(Outcome::Skipped(Skip::ObjectSelector {
                selector: checks.object_selector.to_string(),
                labels: new.or(old).unwrap_or_default(),
            }));
        }
    }
    let Some((resource, kind)) =
        rules::matching_invocation(checks.rules, checks.match_policy, attributes)
    else {
        return Ok(Outcome::Skipped(Skip::NoRuleMatches));
    };
    if namespace_missing {
        return Ok(Outcome::Rejected {
            reason: format!("namespaces {:?} not found", attributes.namespace),
        });
    }
    if checks.conditions.is_empty() {
        return Ok(Outcome::Called { resource, kind });
    }
    let bindings = Bindings {
        object: attributes.object.clone().unwrap_or(Value::Null),
        old_object: attributes.old_object.clone().unwrap_or(Value::Null),
        request: attributes.request_json(&resource, &kind),
    };
    Ok(
        match conditions::evaluate(checks.name, checks.conditions, &bindings)? {
            ConditionsOutcome::AllTrue => Outcome::Called { resource, kind },
            ConditionsOutcome::False { condition } => {
                Outcome::Skipped(Skip::MatchConditionFalse { condition })
            }
            ConditionsOutcome::Errors(errors) if checks.fail_closed => Outcome::Rejected {
                reason: format!(
                    "failed evaluating match conditions of webhook {}, failing closed: {}",
                    checks.name,
                    errors.join("; ")
                ),
            },
            ConditionsOutcome::Errors(errors) => {
                Outcome::Skipped(Skip::MatchConditionErrorIgnored { errors })
            }
        },
    )
}

#[cfg(test)]
mod tests;

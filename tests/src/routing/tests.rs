use super::*;

fn config(webhook: Value) -> MutatingWebhookConfiguration {
    let mut base = json!({
        "name": "w.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": {"url": "https://example.com"},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}]
    });
    for (key, value) in webhook.as_object().unwrap() {
        base[key] = value.clone();
    }
    serde_json::from_value(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": {"name": "c"}, "webhooks": [base]}))
    .unwrap()
}

fn pod(labels: Value) -> Value {
    json!({"metadata": {"name": "web", "labels": labels}, "spec": {"containers": []}})
}

/// A label map from pairs (shared by the routing unit tests).
pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_bare_webhook_is_called_for_every_matching_request() {
    let decision = route(&config(json!({})), "team-a", &labels(&[]), &pod(json!({}))).unwrap();
    assert_eq!(decision.called(), ["w.example.com"], "{decision}");
    assert_eq!(
        decision.outcome("w.example.com"),
        Some(&Outcome::Called {
            resource: GroupVersionResource::new("", "v1", "pods"),
            kind: GroupVersionKind::new("", "v1", "Pod"),
        })
    );
}

#[test]
fn condition_errors_follow_the_failure_policy() {
    let failing = json!([{"name": "c", "expression": "object.metadata.annotations['x'] == 'y'"}]);
    let fail = route(
        &config(json!({"matchConditions": failing})),
        "team-a",
        &labels(&[]),
        &pod(json!({})),
    )
    .unwrap();
    assert!(fail.called().is_empty(), "{fail}");
    assert!(
        fail.rejection().unwrap().contains("failing closed"),
        "{fail}"
    );
    let ignore = route(
        &config(json!({"matchConditions": failing, "failurePolicy": "Ignore"})),
        "team-a",
        &labels(&[]),
        &pod(json!({})),
    )
    .unwrap();
    assert!(
        ignore.rejection().is_none() && ignore.called().is_empty(),
        "{ignore}"
    );
    assert!(matches!(
        ignore.outcome("w.example.com"),
        Some(Outcome::Skipped(Skip::MatchConditionErrorIgnored { .. }))
    ));
}

#[test]
fn conditions_see_the_namespace_the_api_server_sets() {
    let condition = json!([{"name": "ns", "expression":
        "object.metadata.namespace == 'team-a' && request.namespace == 'team-a' && request.name == 'web'"}]);
    let decision = route(
        &config(json!({"matchConditions": condition})),
        "team-a",
        &labels(&[]),
        &pod(json!({})),
    )
    .unwrap();
    assert_eq!(decision.called(), ["w.example.com"], "{decision}");
    let elsewhere = json!({"metadata": {"name": "web", "namespace": "team-b"}});
    let err = route(&config(json!({})), "team-a", &labels(&[]), &elsewhere).unwrap_err();
    assert!(
        matches!(err, RoutingError::NamespaceMismatch { .. }),
        "{err}"
    );
}

#[test]
fn a_missing_namespace_rejects_only_requests_the_rules_match() {
    let selecting = config(json!({"namespaceSelector": {"matchLabels": {"a": "b"}}}));
    let create = AdmissionAttributes::create_pod("gone", &pod(json!({})));
    let decision = route_request(&selecting, None, &create).unwrap();
    assert!(
        decision.rejection().unwrap().contains("not found"),
        "{decision}"
    );
    let mut update = create.clone();
    update.operation = Operation::Update;
    let decision = route_request(&selecting, None, &update).unwrap();
    assert_eq!(decision.rejection(), None, "{decision}");
    assert_eq!(
        decision.outcome("w.example.com"),
        Some(&Outcome::Skipped(Skip::NoRuleMatches))
    );
}

#[test]
fn the_object_selector_accepts_the_old_object_on_update() {
    let selecting = config(json!({
        "objectSelector": {"matchLabels": {"inject": "yes"}},
        "rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}]}));
    let mut update = AdmissionAttributes::create_pod("team-a", &pod(json!({})));
    update.operation = Operation::Update;
    assert!(
        route_request(&selecting, Some(&labels(&[])), &update)
            .unwrap()
            .called()
            .is_empty()
    );
    update.old_object = Some(pod(json!({"inject": "yes"})));
    let decision = route_request(&selecting, Some(&labels(&[])), &update).unwrap();
    assert_eq!(decision.called(), ["w.example.com"], "{decision}");
}

#[test]
fn cluster_scoped_requests_ignore_the_namespace_selector() {
    let selecting = config(json!({
        "namespaceSelector": {"matchLabels": {"a": "b"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": ["*"], "apiVersions": ["*"],
                   "resources": ["*"]}]}));
    let mut node = AdmissionAttributes::create_pod("", &json!({"metadata": {"name": "n1"}}));
    node.resource = GroupVersionResource::new("", "v1", "nodes");
    node.kind = GroupVersionKind::new("", "v1", "Node");
    let decision = route_request(&selecting, None, &node).unwrap();
    assert_eq!(decision.called(), ["w.example.com"], "{decision}");
    let mut namespace = node.clone();
    namespace.resource = GroupVersionResource::new("", "v1", "namespaces");
    namespace.namespace = "n1".to_owned();
    namespace.object = Some(json!({"metadata": {"name": "n1", "labels": {"a": "b"}}}));
    let decision = route_request(&selecting, None, &namespace).unwrap();
    assert_eq!(
        decision.called(),
        ["w.example.com"],
        "a Namespace matches on its own labels"
    );
}

#[test]
fn invalid_configurations_are_errors_naming_the_field() {
    let bad = config(json!({"objectSelector": {"matchExpressions": [
        {"key": "a", "operator": "Within", "values": ["x"]}]}}));
    let err = route(&bad, "team-a", &labels(&[]), &pod(json!({}))).unwrap_err();
    assert!(
        err.to_string().contains("webhooks[0].objectSelector"),
        "{err}"
    );
}

#[test]
fn only_mutating_webhook_configurations_are_read() {
    let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\
                apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n\
                metadata:\n  name: c\nwebhooks: []\n";
    let configs = mutating_webhook_configurations(yaml).unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].metadata.name.as_deref(), Some("c"));
    assert!(mutating_webhook_configurations("a: [").is_err());
}

#[test]
fn admission_configuration_objects_never_reach_webhooks() {
    let everything = config(json!({"rules": [{"operations": ["*"], "apiGroups": ["*"],
        "apiVersions": ["*"], "resources": ["*"]}]}));
    let mut attributes = AdmissionAttributes::create_pod("", &json!({"metadata": {"name": "c"}}));
    attributes.resource = GroupVersionResource::new(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
    );
    attributes.kind = GroupVersionKind::new(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
    );
    let decision = route_request(&everything, None, &attributes).unwrap();
    assert_eq!(
        decision.outcome("w.example.com"),
        Some(&Outcome::Skipped(Skip::ExemptResource)),
        "{decision}"
    );
}

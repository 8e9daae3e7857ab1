//! `rules` of a webhook matched against a request, as the API server's `rules.Matcher` does,
//! including `matchPolicy: Equivalent`.

use k8s_openapi::api::admissionregistration::v1::RuleWithOperations;

use super::{AdmissionAttributes, GroupVersionKind, GroupVersionResource};

/// `items` contains `requested` or the wildcard `*`.
fn exact_or_wildcard(items: Option<&Vec<String>>, requested: &str) -> bool {
    items
        .into_iter()
        .flatten()
        .any(|item| item == "*" || item == requested)
}

/// Whether `rule` matches a request for `resource` (with the request's operation,
/// subresource and namespace).
fn rule_matches(
    rule: &RuleWithOperations,
    attributes: &AdmissionAttributes,
    resource: &GroupVersionResource,
) -> bool {
    let is_namespace_object =
        resource.group.is_empty() && resource.version == "v1" && resource.resource == "namespaces";
    // A missing scope and "*" both mean every scope; a Namespace object is cluster-scoped
    // although its requests carry its own name as namespace.
    let scope = match rule.scope.as_deref() {
        None | Some("*") => true,
        Some("Namespaced") => !is_namespace_object && !attributes.namespace.is_empty(),
        Some("Cluster") => is_namespace_object || attributes.namespace.is_empty(),
        Some(_) => false,
    };
    let resources = rule.resources.iter().flatten().any(|entry| {
        // "pods" is the resource only, "*/status" one subresource of every resource, "*"
        // every resource but no subresource; "pods/*" matches pods and every subresource
        // (a "*" after the slash matches the empty subresource too, as in `rules.Matcher`).
        let (res, sub) = entry.split_once('/').unwrap_or((entry.as_str(), ""));
        (res == "*" || res == resource.resource) && (sub == "*" || sub == attributes.subresource)
    });
    scope
        && exact_or_wildcard(rule.operations.as_ref(), attributes.operation.as_str())
        && exact_or_wildcard(rule.api_groups.as_ref(), &resource.group)
        && exact_or_wildcard(rule.api_versions.as_ref(), &resource.version)
        && resources
}

/// The resource and kind the webhook is called with, or `None` when no rule matches.
///
/// The request's own resource is tried against every rule first; only then, with
/// `matchPolicy: Equivalent` (the default), its equivalent resources, rule by rule (the API
/// server honours earlier rules first). The webhook then sees the object converted to the
/// matching version.
pub(crate) fn matching_invocation(
    rules: &[RuleWithOperations],
    match_policy: Option<&str>,
    attributes: &AdmissionAttributes,
) -> Option<(GroupVersionResource, GroupVersionKind)> {
    if rules
        .iter()
        .any(|rule| rule_matches(rule, attributes, &attributes.resource))
    {
        return Some((attributes.resource.clone(), attributes.kind.clone()));
    }
    if match_policy.unwrap_or("Equivalent") != "Equivalent" {
        return None;
    }
    rules.iter().find_map(|rule| {
        attributes
            .equivalents
            .iter()
            .filter(|(resource, _)| *resource != attributes.resource)
            .find(|(resource, _)| rule_matches(rule, attributes, resource))
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Operation;
    use serde_json::json;

    fn rule(value: serde_json::Value) -> RuleWithOperations {
        serde_json::from_value(value).unwrap()
    }

    fn pods_rule() -> serde_json::Value {
        json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
               "resources": ["pods"], "scope": "Namespaced"})
    }

    fn pod_create() -> AdmissionAttributes {
        AdmissionAttributes::create_pod("team-a", &json!({"metadata": {"name": "web"}}))
    }

    fn matches(rule_value: serde_json::Value, attributes: &AdmissionAttributes) -> bool {
        matching_invocation(&[rule(rule_value)], None, attributes).is_some()
    }

    #[test]
    fn the_pods_create_rule_matches_pod_creation_only() {
        let create = pod_create();
        assert!(matches(pods_rule(), &create));
        let mut update = pod_create();
        update.operation = Operation::Update;
        assert!(!matches(pods_rule(), &update));
        let mut binding = pod_create();
        binding.subresource = "binding".to_owned();
        assert!(
            !matches(pods_rule(), &binding),
            "pods does not cover subresources"
        );
        let mut cluster = pod_create();
        cluster.namespace.clear();
        assert!(
            !matches(pods_rule(), &cluster),
            "Namespaced needs a namespace"
        );
    }

    #[test]
    fn wildcards_cover_what_kubernetes_says() {
        let mut exec = pod_create();
        exec.operation = Operation::Connect;
        exec.subresource = "exec".to_owned();
        let all_sub = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                             "resources": ["pods/*"]});
        assert!(matches(all_sub.clone(), &exec));
        // The API server compares the part after the slash with `*` before looking at the
        // request's subresource, so `pods/*` covers pods themselves too.
        assert!(matches(all_sub, &pod_create()));
        let star = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                          "resources": ["*"]});
        assert!(matches(star.clone(), &pod_create()));
        assert!(!matches(star, &exec), "* is resources without subresources");
        let everything = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                                "resources": ["*/*"]});
        assert!(matches(everything.clone(), &exec) && matches(everything, &pod_create()));
        let wrong_group = json!({"operations": ["CREATE"], "apiGroups": ["apps"],
                                 "apiVersions": ["v1"], "resources": ["pods"]});
        assert!(!matches(wrong_group, &pod_create()));
        let no_operations = json!({"operations": [], "apiGroups": [""], "apiVersions": ["v1"],
                                   "resources": ["pods"]});
        assert!(!matches(no_operations, &pod_create()));
        let cluster_scope = json!({"operations": ["CREATE"], "apiGroups": [""],
                                   "apiVersions": ["v1"], "resources": ["pods"],
                                   "scope": "Cluster"});
        assert!(!matches(cluster_scope, &pod_create()));
    }

    #[test]
    fn equivalent_policy_matches_another_version_of_the_resource() {
        let mut old_deployment = pod_create();
        old_deployment.resource = GroupVersionResource::new("extensions", "v1beta1", "deployments");
        old_deployment.kind = GroupVersionKind::new("extensions", "v1beta1", "Deployment");
        let apps = (
            GroupVersionResource::new("apps", "v1", "deployments"),
            GroupVersionKind::new("apps", "v1", "Deployment"),
        );
        old_deployment.equivalents = vec![apps.clone()];
        let apps_rule = rule(json!({"operations": ["CREATE"], "apiGroups": ["apps"],
                                    "apiVersions": ["v1"], "resources": ["deployments"]}));
        let rules = [apps_rule];
        assert_eq!(
            matching_invocation(&rules, None, &old_deployment),
            Some(apps.clone())
        );
        assert_eq!(
            matching_invocation(&rules, Some("Equivalent"), &old_deployment),
            Some(apps)
        );
        assert_eq!(
            matching_invocation(&rules, Some("Exact"), &old_deployment),
            None
        );
    }
}

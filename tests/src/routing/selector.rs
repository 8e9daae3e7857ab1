//! Label selectors as the API server evaluates them (`metav1.LabelSelectorAsSelector` and
//! `labels.Selector.Matches`).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::RoutingError;

/// One requirement of a selector, as `labels.Requirement` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    /// `NotIn` matches a missing label, as in Kubernetes (`labels.Requirement.Matches`).
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::In(key, values) if values.len() == 1 => write!(f, "{key}={}", values[0]),
            Requirement::In(key, values) => write!(f, "{key} in ({})", values.join(",")),
            Requirement::NotIn(key, values) => write!(f, "{key} notin ({})", values.join(",")),
            Requirement::Exists(key) => f.write_str(key),
            Requirement::DoesNotExist(key) => write!(f, "!{key}"),
        }
    }
}

/// A parsed label selector; no requirements selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses `selector`, or the empty selector when `None`: the API server defaults an
    /// unset `namespaceSelector`/`objectSelector` of a webhook to `{}` (match everything).
    /// `field` names the field in errors.
    pub(crate) fn parse(
        selector: Option<&LabelSelector>,
        field: &str,
    ) -> Result<Self, RoutingError> {
        let mut requirements = Vec::new();
        let Some(selector) = selector else {
            return Ok(Selector { requirements });
        };
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::In(key.clone(), vec![value.clone()]));
        }
        for (index, expression) in selector.match_expressions.iter().flatten().enumerate() {
            let values = expression.values.clone().unwrap_or_default();
            let key = expression.key.clone();
            let invalid = |reason: &str| RoutingError::InvalidSelector {
                field: format!("{field}.matchExpressions[{index}]"),
                reason: reason.to_owned(),
            };
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(invalid("operator In/NotIn needs at least one value"));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(invalid("operator Exists/DoesNotExist takes no values"));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    return Err(invalid(&format!(
                        "operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                    )));
                }
            };
            requirements.push(requirement);
        }
        Ok(Selector { requirements })
    }

    /// Whether the selector selects everything (`labels.Selector.Empty`).
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<everything>");
        }
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::labels;
    use super::*;
    use serde_json::json;

    fn selector(value: serde_json::Value) -> Selector {
        let parsed: LabelSelector = serde_json::from_value(value).unwrap();
        Selector::parse(Some(&parsed), "objectSelector").unwrap()
    }

    #[test]
    fn empty_and_absent_selectors_match_everything() {
        assert!(selector(json!({})).matches(&labels(&[])));
        let absent = Selector::parse(None, "namespaceSelector").unwrap();
        assert!(absent.is_empty() && absent.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let s = selector(json!({"matchLabels": {"a": "1", "b": "2"}}));
        assert!(s.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!s.matches(&labels(&[("a", "1")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "3")])));
    }

    #[test]
    fn expressions_follow_kubernetes_semantics() {
        let not_in = selector(json!({"matchExpressions": [
            {"key": "app", "operator": "NotIn", "values": ["x", "y"]}]}));
        assert!(
            not_in.matches(&labels(&[])),
            "NotIn matches a missing label"
        );
        assert!(not_in.matches(&labels(&[("app", "z")])));
        assert!(!not_in.matches(&labels(&[("app", "y")])));
        let is_in = selector(json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["x"]}]}));
        assert!(!is_in.matches(&labels(&[])));
        assert!(is_in.matches(&labels(&[("app", "x")])));
        let exists = selector(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}));
        assert!(exists.matches(&labels(&[("app", "")])) && !exists.matches(&labels(&[])));
        let absent = selector(json!({"matchExpressions": [
            {"key": "app", "operator": "DoesNotExist"}]}));
        assert!(absent.matches(&labels(&[])) && !absent.matches(&labels(&[("app", "x")])));
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let s = selector(json!({"matchLabels": {"a": "1"},
            "matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}));
        assert!(s.matches(&labels(&[("a", "1")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "")])));
    }

    #[test]
    fn invalid_expressions_name_the_field() {
        for bad in [
            json!({"key": "a", "operator": "In", "values": []}),
            json!({"key": "a", "operator": "Exists", "values": ["x"]}),
            json!({"key": "a", "operator": "in", "values": ["x"]}),
        ] {
            let parsed: LabelSelector =
                serde_json::from_value(json!({"matchExpressions": [bad]})).unwrap();
            let err = Selector::parse(Some(&parsed), "objectSelector").unwrap_err();
            assert!(
                err.to_string()
                    .contains("objectSelector.matchExpressions[0]"),
                "{err}"
            );
        }
    }
}

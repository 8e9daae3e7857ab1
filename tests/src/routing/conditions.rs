//! `matchConditions` compiled and evaluated with a real CEL implementation (cel-rust), bound
//! the way the API server binds them for admission webhooks.
//!
//! Environment: the CEL standard library, optional values, and the `strings` extension
//! (cel-go's `ext.Strings`, which Kubernetes enables). Not modelled: the Kubernetes CEL
//! libraries (`authorizer`, `quantity`, `url`, `ip`/`cidr`, `semver`, `format`, the
//! Kubernetes `lists`/`sets`/`regex` helpers), `timestamp`/`duration`, and static type
//! checking. A condition that names `authorizer` is refused with
//! [`RoutingError::Unsupported`] rather than evaluated wrongly.

use std::sync::{Arc, OnceLock};

use cel::{Context, Env, ExecutionError, Program, Value};
use k8s_openapi::api::admissionregistration::v1::MatchCondition;

use super::RoutingError;

/// Variables available to a webhook's match conditions (the API reference of
/// `MatchCondition.expression`); `authorizer` is the one this model lacks.
const UNSUPPORTED_VARIABLES: &[&str] = &["authorizer"];

fn environment() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        env.add_extension(cel::extensions::strings)
            .expect("the strings extension declares nothing twice");
        Arc::new(env)
    })
    .clone()
}

/// One match condition, compiled.
pub(crate) struct CompiledCondition {
    name: String,
    program: Program,
}

/// Compiles every condition of webhook `webhook`. A condition that does not compile is a
/// configuration the API server refuses to store, so it is an error here, not a skip.
pub(crate) fn compile(
    webhook: &str,
    conditions: &[MatchCondition],
) -> Result<Vec<CompiledCondition>, RoutingError> {
    let env = environment();
    conditions
        .iter()
        .map(|condition| {
            let program =
                env.compile(&condition.expression)
                    .map_err(|e| RoutingError::InvalidCondition {
                        webhook: webhook.to_owned(),
                        condition: condition.name.clone(),
                        reason: e.to_string(),
                    })?;
            if let Some(variable) = UNSUPPORTED_VARIABLES
                .iter()
                .find(|v| program.references().has_variable(v))
            {
                return Err(RoutingError::Unsupported {
                    webhook: webhook.to_owned(),
                    condition: condition.name.clone(),
                    what: format!("the {variable} variable"),
                });
            }
            Ok(CompiledCondition {
                name: condition.name.clone(),
                program,
            })
        })
        .collect()
}

/// What the conditions say, before `failurePolicy` is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConditionsOutcome {
    /// Every condition is true (or there are none).
    AllTrue,
    /// This condition, the first false one in order, is false: the webhook is skipped,
    /// whatever errors other conditions had.
    False { condition: String },
    /// No condition is false but these failed to evaluate (`name: error`).
    Errors(Vec<String>),
}

/// The CEL variables of one admission request.
pub(crate) struct Bindings {
    pub object: serde_json::Value,
    pub old_object: serde_json::Value,
    pub request: serde_json::Value,
}

fn to_cel(name: &str, value: &serde_json::Value) -> Result<Value, RoutingError> {
    cel::to_value(value).map_err(|e| RoutingError::Binding {
        variable: name.to_owned(),
        reason: e.to_string(),
    })
}

/// Evaluates every condition, then decides as the API server's matcher does: any false
/// wins; otherwise any error; otherwise a match.
pub(crate) fn evaluate(
    webhook: &str,
    conditions: &[CompiledCondition],
    bindings: &Bindings,
) -> Result<ConditionsOutcome, RoutingError> {
    let mut context = Context::with_env(environment());
    context.add_variable_from_value("object", to_cel("object", &bindings.object)?);
    context.add_variable_from_value("oldObject", to_cel("oldObject", &bindings.old_object)?);
    context.add_variable_from_value("request", to_cel("request", &bindings.request)?);
    let mut errors = Vec::new();
    for condition in conditions {
        match condition.program.execute(&context) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                return Ok(ConditionsOutcome::False {
                    condition: condition.name.clone(),
                });
            }
            // The API server type-checks expressions when the configuration is written
            // and refuses any whose type is not bool, so this configuration could not exist.
            Ok(other) => {
                return Err(RoutingError::InvalidCondition {
                    webhook: webhook.to_owned(),
                    condition: condition.name.clone(),
                    reason: format!("must evaluate to bool, got {other:?}"),
                });
            }
            // An unknown variable is a compile error for the API server, not a runtime one.
            Err(ExecutionError::UndeclaredReference(name)) => {
                return Err(RoutingError::InvalidCondition {
                    webhook: webhook.to_owned(),
                    condition: condition.name.clone(),
                    reason: format!("undeclared reference to {name}"),
                });
            }
            Err(error) => errors.push(format!("{}: {error}", condition.name)),
        }
    }
    Ok(if errors.is_empty() {
        ConditionsOutcome::AllTrue
    } else {
        ConditionsOutcome::Errors(errors)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conditions(pairs: &[(&str, &str)]) -> Vec<MatchCondition> {
        pairs
            .iter()
            .map(|(name, expression)| MatchCondition {
                name: name.to_string(),
                expression: expression.to_string(),
            })
            .collect()
    }

    fn run(pairs: &[(&str, &str)], object: serde_json::Value) -> ConditionsOutcome {
        let compiled = compile("w", &conditions(pairs)).unwrap();
        let bindings = Bindings {
            object,
            old_object: serde_json::Value::Null,
            request: json!({"operation": "CREATE", "namespace": "team-a",
                            "userInfo": {"username": "alice"}}),
        };
        evaluate("w", &compiled, &bindings).unwrap()
    }

    #[test]
    fn false_beats_errors_and_errors_beat_true() {
        let pod = json!({"metadata": {"name": "web"}});
        let missing_key = "object.metadata.annotations['x'] == 'y'";
        assert_eq!(
            run(&[("err", missing_key), ("no", "false")], pod.clone()),
            ConditionsOutcome::False {
                condition: "no".into()
            }
        );
        let ConditionsOutcome::Errors(errors) =
            run(&[("yes", "true"), ("err", missing_key)], pod.clone())
        else {
            panic!("expected an evaluation error")
        };
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("err: "), "{errors:?}");
        assert_eq!(
            run(&[("yes", "true")], pod.clone()),
            ConditionsOutcome::AllTrue
        );
        assert_eq!(run(&[], pod), ConditionsOutcome::AllTrue);
    }

    #[test]
    fn variables_are_bound_like_the_api_server_binds_them() {
        let pod = json!({"metadata": {"name": "web", "labels": {"app": "web"}}});
        assert_eq!(
            run(
                &[
                    ("object", "object.metadata.labels.app == 'web'"),
                    ("old", "oldObject == null"),
                    (
                        "request",
                        "request.operation == 'CREATE' && request.userInfo.username == 'alice'"
                    ),
                    ("has", "!has(object.metadata.annotations)"),
                    ("strings", "object.metadata.name.upperAscii() == 'WEB'"),
                    ("regex", "object.metadata.name.matches('^w[a-z]+$')"),
                    (
                        "optional",
                        "object.metadata.?annotations.orValue({}).size() == 0"
                    ),
                    (
                        "absorbing",
                        "object.metadata.annotations['x'] == 'y' || true"
                    ),
                ],
                pod
            ),
            ConditionsOutcome::AllTrue
        );
    }

    #[test]
    fn configurations_the_api_server_would_refuse_are_errors() {
        for (expression, want) in [
            ("object.metadata.name", "must evaluate to bool"),
            ("params.x == 1", "undeclared reference"),
            (
                "authorizer.group('').resource('pods').check('get').allowed()",
                "authorizer",
            ),
            ("object.metadata.(", "w"),
        ] {
            let result = compile("w", &conditions(&[("c", expression)])).and_then(|compiled| {
                let bindings = Bindings {
                    object: json!({"metadata": {"name": "web"}}),
                    old_object: serde_json::Value::Null,
                    request: json!({}),
                };
                evaluate("w", &compiled, &bindings)
            });
            let err = result.expect_err(expression).to_string();
            assert!(err.contains(want), "{expression}: {err}");
        }
    }
}

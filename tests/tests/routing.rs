//! Every shipped MutatingWebhookConfiguration routes pods as intended when the API server
//! evaluates it (rules, namespaceSelector, objectSelector, CEL matchConditions evaluated by
//! cel-rust), and its matchConditions agree with how the real webhook reads the annotation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kagi_tests::manifests::{deploy_dir, kustomize};
use kagi_tests::routing::{self, Outcome, Skip};
use serde_json::{Value, json};

mod inject_support;

const WEBHOOK: &str = "agent-inject.kagi.dev";
const NAMESPACE: &str = "team-a";
const OPT_IN: (&str, &str) = ("kagi-injection", "enabled");
const VAULT: &str = "vault.hashicorp.com/agent-inject";
const OPENBAO: &str = "openbao.org/agent-inject";

/// One shipped install: its name, the YAML it applies, and its configuration.
struct Install {
    name: String,
    yaml: String,
    config: MutatingWebhookConfiguration,
}

/// Every shipped install: the kustomize base and every overlay under deploy/overlays.
/// The Helm chart joins with one line: `add("helm chart", helm_template(...))`.
fn installs() -> &'static [Install] {
    static INSTALLS: OnceLock<Vec<Install>> = OnceLock::new();
    INSTALLS.get_or_init(|| {
        let mut installs = Vec::new();
        let mut add = |name: String, yaml: String| {
            let configs = routing::mutating_webhook_configurations(&yaml)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(configs.len(), 1, "{name}: one MutatingWebhookConfiguration");
            let config = configs.into_iter().next().unwrap();
            installs.push(Install { name, yaml, config });
        };
        add("kustomize base".to_owned(), kustomize("base"));
        let mut overlays: Vec<PathBuf> = std::fs::read_dir(deploy_dir().join("overlays"))
            .expect("deploy/overlays")
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("kustomization.yaml").is_file())
            .collect();
        overlays.sort();
        assert!(overlays.len() >= 2, "overlays missing: {overlays:?}");
        for overlay in overlays {
            let name = format!("overlay {}", overlay.file_name().unwrap().to_string_lossy());
            add(
                name,
                kustomize(&format!(
                    "overlays/{}",
                    overlay.file_name().unwrap().to_string_lossy()
                )),
            );
        }
        // The Helm chart as Helm's SDK renders it with default values.
        let chart: Vec<String> = kagi_tests::helm::render_chart(&json!({}), "kagi", "kagi")
            .iter()
            .map(|object| object.to_string())
            .collect();
        add("helm chart".to_owned(), chart.join("\n---\n"));
        installs
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pod(pod_labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Value {
    let mut all = labels(annotations);
    // Every pod names a role, so an injection the webhook performs can succeed.
    if annotations
        .iter()
        .any(|(k, _)| k.ends_with("/agent-inject"))
    {
        all.insert("vault.hashicorp.com/role".to_owned(), "app".to_owned());
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": NAMESPACE, "labels": labels(pod_labels),
                     "annotations": all},
        "spec": {"serviceAccountName": "web",
                 "containers": [{"name": "app", "image": "registry.example/app:1"}]}
    })
}

/// Annotations of a test pod, as (key, value) pairs.
type Annotations = Vec<(&'static str, &'static str)>;

/// What the API server should do with the webhook for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Sent,
    FilteredByCondition,
    FilteredByNamespace,
    FilteredByObjectSelector,
}

fn check(
    install: &Install,
    case: &str,
    namespace: &BTreeMap<String, String>,
    pod: &Value,
    want: Expect,
) {
    let decision = routing::route(&install.config, NAMESPACE, namespace, pod)
        .unwrap_or_else(|e| panic!("{}: {case}: {e}", install.name));
    assert_eq!(
        decision.rejection(),
        None,
        "{}: {case}: {decision}",
        install.name
    );
    let got = match decision.outcome(WEBHOOK) {
        Some(Outcome::Called { .. }) => Expect::Sent,
        Some(Outcome::Skipped(Skip::MatchConditionFalse { .. })) => Expect::FilteredByCondition,
        Some(Outcome::Skipped(Skip::NamespaceSelector { .. })) => Expect::FilteredByNamespace,
        Some(Outcome::Skipped(Skip::ObjectSelector { .. })) => Expect::FilteredByObjectSelector,
        other => panic!("{}: {case}: unexpected {other:?}: {decision}", install.name),
    };
    assert_eq!(got, want, "{}: {case}: {decision}", install.name);
}

#[test]
fn every_shipped_configuration_routes_the_annotations_it_promises() {
    use Expect::*;
    let opted_in = labels(&[OPT_IN]);
    let cases: Vec<(&str, Annotations, Expect)> = vec![
        ("vault true", vec![(VAULT, "true")], Sent),
        ("vault 1", vec![(VAULT, "1")], Sent),
        ("vault TRUE", vec![(VAULT, "TRUE")], Sent),
        ("vault t", vec![(VAULT, "t")], Sent),
        ("openbao-only true", vec![(OPENBAO, "true")], Sent),
        ("openbao-only TRUE", vec![(OPENBAO, "TRUE")], Sent),
        ("openbao-only 1", vec![(OPENBAO, "1")], Sent),
        ("vault false", vec![(VAULT, "false")], FilteredByCondition),
        ("vault 0", vec![(VAULT, "0")], FilteredByCondition),
        ("vault empty", vec![(VAULT, "")], FilteredByCondition),
        (
            "openbao false",
            vec![(OPENBAO, "false")],
            FilteredByCondition,
        ),
        (
            "openbao FALSE",
            vec![(OPENBAO, "FALSE")],
            FilteredByCondition,
        ),
        ("no annotations", vec![], FilteredByCondition),
        (
            "unrelated annotations",
            vec![
                ("vault.hashicorp.com/role", "app"),
                ("example.com/agent-inject", "true"),
            ],
            FilteredByCondition,
        ),
        // Sent so the webhook refuses them with a message instead of a pod without secrets.
        ("vault typo yes", vec![(VAULT, "yes")], Sent),
        ("openbao mixed case tRuE", vec![(OPENBAO, "tRuE")], Sent),
        (
            "both prefixes true",
            vec![(VAULT, "true"), (OPENBAO, "true")],
            Sent,
        ),
        (
            "both prefixes false",
            vec![(VAULT, "false"), (OPENBAO, "false")],
            FilteredByCondition,
        ),
        // Conflicts: the webhook must see them to deny them.
        (
            "vault false, openbao true",
            vec![(VAULT, "false"), (OPENBAO, "true")],
            Sent,
        ),
        (
            "vault true, openbao false",
            vec![(VAULT, "true"), (OPENBAO, "false")],
            Sent,
        ),
        (
            "vault false, openbao 0",
            vec![(VAULT, "false"), (OPENBAO, "0")],
            Sent,
        ),
        (
            "vault true, openbao TRUE",
            vec![(VAULT, "true"), (OPENBAO, "TRUE")],
            Sent,
        ),
    ];
    for install in installs() {
        for (case, annotations, want) in &cases {
            check(install, case, &opted_in, &pod(&[], annotations), *want);
        }
        let asking = pod(&[("app.kubernetes.io/name", "web")], &[(OPENBAO, "true")]);
        check(install, "other app label", &opted_in, &asking, Sent);
        let own = pod(
            &[("app.kubernetes.io/name", "kagi-webhook")],
            &[(VAULT, "true")],
        );
        check(
            install,
            "the webhook's own pod",
            &opted_in,
            &own,
            FilteredByObjectSelector,
        );
        let asking = pod(&[], &[(VAULT, "true")]);
        check(
            install,
            "unlabelled namespace",
            &labels(&[]),
            &asking,
            FilteredByNamespace,
        );
        let disabled = labels(&[(OPT_IN.0, "disabled")]);
        check(
            install,
            "namespace opted out",
            &disabled,
            &asking,
            FilteredByNamespace,
        );
    }
}

/// The injector's own pods, from the Deployment each install ships, never reach it even
/// when they run in an opted-in namespace: it could not start while it is down.
#[test]
fn the_injectors_own_deployment_is_never_routed_to_it() {
    for install in installs() {
        let documents: Vec<Value> = serde_saphyr::from_multiple(&install.yaml).unwrap();
        let deployment = documents
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap_or_else(|| panic!("{}: no Deployment", install.name));
        let mut template = deployment["spec"]["template"].clone();
        template["metadata"]["name"] = json!("kagi-webhook-abc12");
        template["metadata"]["annotations"] = json!({VAULT: "true", OPENBAO: "true"});
        let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
        let decision =
            routing::route(&install.config, namespace, &labels(&[OPT_IN]), &template).unwrap();
        assert!(
            matches!(
                decision.outcome(WEBHOOK),
                Some(Outcome::Skipped(Skip::ObjectSelector { .. }))
            ),
            "{}: {decision}",
            install.name
        );
    }
}

/// Only pod creation is sent: updates cannot add containers, other resources are not pods.
#[test]
fn only_pod_creation_is_routed() {
    let asking = pod(&[], &[(VAULT, "true")]);
    for install in installs() {
        for operation in [routing::Operation::Update, routing::Operation::Delete] {
            let mut attributes = routing::AdmissionAttributes::create_pod(NAMESPACE, &asking);
            attributes.operation = operation;
            attributes.old_object = Some(asking.clone());
            let decision =
                routing::route_request(&install.config, Some(&labels(&[OPT_IN])), &attributes)
                    .unwrap();
            assert_eq!(
                decision.outcome(WEBHOOK),
                Some(&Outcome::Skipped(Skip::NoRuleMatches)),
                "{}: {operation:?}: {decision}",
                install.name
            );
        }
        let mut status = routing::AdmissionAttributes::create_pod(NAMESPACE, &asking);
        status.subresource = "status".to_owned();
        let decision =
            routing::route_request(&install.config, Some(&labels(&[OPT_IN])), &status).unwrap();
        assert!(decision.called().is_empty(), "{}: {decision}", install.name);
    }
}

/// What the real webhook does with a pod, run offline (`kagi-webhook inject`).
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Injected,
    Skipped,
    Denied(String),
}

fn webhook_verdict(pod: &Value) -> Verdict {
    let documents = match inject_support::inject(pod, &[]) {
        Ok(documents) => documents,
        Err(denial) => return Verdict::Denied(denial),
    };
    let status =
        &documents[0]["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"];
    if status == "injected" {
        Verdict::Injected
    } else {
        Verdict::Skipped
    }
}

/// The matchCondition and the webhook's boolean parser agree: every pod the condition
/// filters out is one the webhook would leave alone (so filtering never hides a pod that
/// wanted the agent, or a mistake the webhook would refuse), and every pod it sends is one
/// the webhook acts on (injects or refuses).
#[test]
fn the_match_condition_filters_exactly_what_the_webhook_reads_as_false() {
    let values = [
        "true", "false", "1", "0", "t", "f", "T", "F", "TRUE", "FALSE", "True", "False", "", "yes",
        "no", "on", "off", "tRuE", "fAlSe", " false", "false ", "2", "-1", "null",
    ];
    let mut annotation_sets: Vec<Annotations> = Vec::new();
    for value in values {
        annotation_sets.push(vec![(VAULT, value)]);
        annotation_sets.push(vec![(OPENBAO, value)]);
    }
    for (vault, openbao) in [
        ("false", "0"),
        ("false", "true"),
        ("", "false"),
        ("0", "0"),
        ("1", "true"),
    ] {
        annotation_sets.push(vec![(VAULT, vault), (OPENBAO, openbao)]);
    }
    let opted_in = labels(&[OPT_IN]);
    let mut checked = 0;
    for annotations in &annotation_sets {
        let pod = pod(&[], annotations);
        let verdict = webhook_verdict(&pod);
        for install in installs() {
            let decision = routing::route(&install.config, NAMESPACE, &opted_in, &pod).unwrap();
            let sent = decision.called() == [WEBHOOK];
            match (&verdict, sent) {
                (Verdict::Skipped, false) | (Verdict::Injected | Verdict::Denied(_), true) => {}
                (Verdict::Skipped, true) => panic!(
                    "{}: {annotations:?} is sent although the webhook reads it as false \
                     (the condition should filter it)",
                    install.name
                ),
                (verdict, false) => panic!(
                    "{}: {annotations:?} is filtered out although the webhook would act on it: \
                     {verdict:?}",
                    install.name
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= annotation_sets.len() * 3, "checked {checked}");
}

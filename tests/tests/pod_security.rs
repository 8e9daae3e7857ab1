//! Pods the real webhook produces with default settings pass the Pod Security Standards
//! "restricted" profile, in every shape (native sidecar, classic init + sidecar, init only)
//! and for workloads (a Job's pod template), whenever the app's own containers do.

use k8s_openapi::api::core::v1::Pod;
use kagi_tests::pod_security::{self, Level, Violation};
use serde_json::{Value, json};

mod inject_support;

/// An app pod that is compliant on its own: non-root, RuntimeDefault seccomp at pod level,
/// a hardened container.
fn app_pod(extra_annotations: &[(&str, &str)]) -> Value {
    let mut annotations = json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "app",
        "vault.hashicorp.com/agent-inject-secret-config": "secret/data/app/config",
    });
    for (key, value) in extra_annotations {
        annotations[*key] = json!(value);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "team-a", "annotations": annotations},
        "spec": {
            "serviceAccountName": "web",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "registry.example/app:1",
                "securityContext": {"allowPrivilegeEscalation": false,
                                    "capabilities": {"drop": ["ALL"]}}}]
        }
    })
}

/// `kagi-webhook inject` with default settings (plus `flags`) on `manifest`.
fn inject(manifest: &Value, flags: &[&str]) -> Value {
    let mut documents = inject_support::inject(manifest, flags)
        .unwrap_or_else(|e| panic!("kagi-webhook inject failed: {e}"));
    assert_eq!(documents.len(), 1);
    documents.remove(0)
}

/// The pod a workload's template creates.
fn pod_of(document: &Value) -> Pod {
    let pod = match document["kind"].as_str() {
        Some("Pod") => document.clone(),
        Some("Job") => json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": document["spec"]["template"]["metadata"],
            "spec": document["spec"]["template"]["spec"]}),
        other => panic!("unexpected kind {other:?}"),
    };
    serde_json::from_value(pod).expect("a Pod")
}

fn agent_names(pod: &Pod) -> Vec<String> {
    let spec = pod.spec.as_ref().unwrap();
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| c.name.clone())
        .filter(|name| name.starts_with("vault-agent"))
        .collect()
}

fn assert_restricted(label: &str, pod: &Pod) {
    let violations = pod_security::check_restricted(pod);
    let listed: Vec<String> = violations.iter().map(Violation::to_string).collect();
    assert!(
        violations.is_empty(),
        "{label}: the mutated pod breaks Pod Security \"restricted\":\n  {}",
        listed.join("\n  ")
    );
}

#[test]
fn the_input_pod_is_compliant_on_its_own() {
    let violations = pod_security::check_json(Level::Restricted, &app_pod(&[])).unwrap();
    assert_eq!(violations, vec![], "the fixture itself must pass");
}

#[test]
fn every_shape_the_webhook_produces_passes_restricted() {
    let cases: Vec<(&str, Value, Vec<&str>, Vec<&str>)> = vec![
        (
            "native sidecar (default)",
            app_pod(&[]),
            vec![],
            vec!["vault-agent"],
        ),
        (
            "classic shape by annotation",
            app_pod(&[("vault.hashicorp.com/agent-native-sidecar", "false")]),
            vec![],
            vec!["vault-agent-init", "vault-agent"],
        ),
        (
            "classic shape by injector flag",
            app_pod(&[]),
            vec!["--native-sidecar=false"],
            vec!["vault-agent-init", "vault-agent"],
        ),
        (
            "init container only",
            app_pod(&[("vault.hashicorp.com/agent-pre-populate-only", "true")]),
            vec![],
            vec!["vault-agent-init"],
        ),
    ];
    for (label, manifest, flags, agents) in cases {
        let pod = pod_of(&inject(&manifest, &flags));
        assert_eq!(agent_names(&pod), agents, "{label}: unexpected shape");
        assert_restricted(label, &pod);
        let labels = std::collections::BTreeMap::from([(
            pod_security::ENFORCE_LABEL.to_owned(),
            "restricted".to_owned(),
        )]);
        assert_eq!(pod_security::admit(&labels, &pod), Ok(()), "{label}");
    }
}

#[test]
fn a_jobs_pod_template_passes_restricted() {
    let pod = app_pod(&[]);
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "report", "namespace": "team-a"},
        "spec": {"backoffLimit": 1, "template": {
            "metadata": {"annotations": pod["metadata"]["annotations"]},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": "web",
                "securityContext": pod["spec"]["securityContext"],
                "containers": pod["spec"]["containers"]}}}
    });
    let pod = pod_of(&inject(&job, &[]));
    assert!(
        !agent_names(&pod).is_empty(),
        "the Job's template was injected"
    );
    assert_restricted("Job", &pod);
}

/// The agents carry their own hardening, so they never add a violation even when the app
/// sets nothing at pod level: every violation of such a pod is on the app's container.
#[test]
fn the_agents_are_compliant_whatever_the_app_sets() {
    let mut bare = app_pod(&[("vault.hashicorp.com/agent-native-sidecar", "false")]);
    let spec = bare["spec"].as_object_mut().unwrap();
    spec.remove("securityContext");
    spec.insert(
        "containers".into(),
        json!([{"name": "app", "image": "registry.example/app:1"}]),
    );
    for manifest in [bare.clone(), {
        let mut native = bare.clone();
        native["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("vault.hashicorp.com/agent-native-sidecar");
        native
    }] {
        let pod = pod_of(&inject(&manifest, &[]));
        let violations = pod_security::check_restricted(&pod);
        assert!(
            !violations.is_empty(),
            "the bare app container is not compliant"
        );
        let on_agents: Vec<&Violation> = violations
            .iter()
            .filter(|v| !v.field.starts_with("spec.containers[0](app)"))
            .collect();
        assert!(
            on_agents.is_empty(),
            "violations outside the app container: {on_agents:?}"
        );
    }
}

/// `agent-set-security-context=false` (for OpenShift, which assigns UIDs) leaves the UID to
/// the pod: without a pod-level `runAsNonRoot: true` the agents no longer pass, which is
/// what an operator of a restricted namespace needs to know.
#[test]
fn without_its_uid_settings_the_agent_relies_on_the_pod_level_run_as_non_root() {
    let mut manifest = app_pod(&[("vault.hashicorp.com/agent-set-security-context", "false")]);
    assert_restricted("pod-level runAsNonRoot", &pod_of(&inject(&manifest, &[])));
    manifest["spec"]["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("runAsNonRoot");
    manifest["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
    let violations = pod_security::check_restricted(&pod_of(&inject(&manifest, &[])));
    assert!(
        violations
            .iter()
            .any(|v| v.rule == "runAsNonRoot" && v.field.contains("(vault-agent)")),
        "{violations:?}"
    );
}

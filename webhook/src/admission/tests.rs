use base64::Engine as _;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe, Volume};
use serde_json::{Value, json};

use super::*;

/// Injector settings as `serve` would get them with only the required Vault address.
pub(crate) fn settings() -> InjectorSettings {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        settings: InjectorSettings,
    }
    use clap::Parser as _;
    Flags::try_parse_from([
        "kagi-webhook",
        "--vault-address",
        "https://vault.example:8200",
    ])
    .map(|flags| flags.settings)
    .unwrap_or_default()
}

fn pod(annotations: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "apps", "annotations": annotations},
        "spec": {
            "serviceAccountName": "web",
            "containers": [{
                "name": "app",
                "image": "nginx:1.27",
                "volumeMounts": [{
                    "name": "kube-api-access-x7k2p",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": true
                }]
            }],
            "volumes": [{
                "name": "kube-api-access-x7k2p",
                "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}
            }]
        }
    })
}

fn annotated() -> Value {
    pod(json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "web",
        "vault.hashicorp.com/agent-inject-secret-db": "database/creds/web"
    }))
}

fn request(version: &str, operation: &str, kind: Value, namespace: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": version,
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": kind,
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    }))
    .expect("json")
}

fn pod_create(version: &str, namespace: &str, object: Value) -> Vec<u8> {
    let kind = json!({"group": "", "version": "v1", "kind": "Pod"});
    request(version, "CREATE", kind, namespace, object)
}

fn answer_of(body: &[u8]) -> (Value, Outcome) {
    let reviewed = review(body, &settings()).expect("reviewable");
    let value: Value = serde_json::from_slice(&reviewed.body).expect("response is JSON");
    (value, reviewed.outcome)
}

fn decoded_patch(response: &Value) -> Option<json_patch::Patch> {
    let encoded = response
        .pointer("/response/patch")?
        .as_str()
        .expect("patch is base64 text");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    Some(serde_json::from_slice(&bytes).expect("patch is a JSON patch"))
}

fn container_names(pod: &Value, field: &str) -> Vec<String> {
    pod["spec"][field]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn unannotated_pod_is_allowed_untouched_with_its_uid() {
    let (response, outcome) = answer_of(&pod_create(API_VERSIONS[0], "apps", pod(json!({}))));
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(response["kind"], "AdmissionReview");
    assert_eq!(
        response["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(response["response"]["allowed"], true);
    assert!(response["response"].get("patch").is_none(), "{response}");
    assert!(
        response["response"].get("patchType").is_none(),
        "{response}"
    );
    assert!(matches!(outcome, Outcome::Skipped { .. }), "{outcome:?}");
}

#[test]
fn answers_v1beta1_in_v1beta1() {
    let (response, _) = answer_of(&pod_create(API_VERSIONS[1], "apps", pod(json!({}))));
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(response["response"]["allowed"], true);
}

#[test]
fn other_kinds_are_allowed_without_a_patch() {
    let kind = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let deployment =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    let (response, outcome) = answer_of(&request(
        API_VERSIONS[0],
        "CREATE",
        kind,
        "apps",
        deployment,
    ));
    assert_eq!(response["response"]["allowed"], true);
    assert!(response["response"].get("patch").is_none());
    assert_eq!(
        outcome,
        Outcome::Ignored {
            reason: "not a Pod"
        }
    );
}

#[test]
fn pod_updates_are_allowed_without_a_patch() {
    let kind = json!({"group": "", "version": "v1", "kind": "Pod"});
    let (response, outcome) = answer_of(&request(
        API_VERSIONS[0],
        "UPDATE",
        kind,
        "apps",
        annotated(),
    ));
    assert_eq!(response["response"]["allowed"], true);
    assert!(response["response"].get("patch").is_none());
    assert_eq!(
        outcome,
        Outcome::Ignored {
            reason: "not a CREATE"
        }
    );
}

#[test]
fn pod_subresources_are_ignored() {
    let mut body: Value =
        serde_json::from_slice(&pod_create(API_VERSIONS[0], "apps", annotated())).unwrap();
    body["request"]["subResource"] = json!("ephemeralcontainers");
    let (response, outcome) = answer_of(&serde_json::to_vec(&body).unwrap());
    assert!(response["response"].get("patch").is_none());
    assert_eq!(
        outcome,
        Outcome::Ignored {
            reason: "a Pod subresource"
        }
    );
}

#[test]
fn refuses_a_body_that_is_not_an_admission_review() {
    for body in [
        &b"not json"[..],
        b"{}",
        b"[1,2]",
        b"{\"kind\":\"AdmissionReview\"}",
    ] {
        assert!(
            review(body, &settings()).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let wrong_kind = br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":null}"#;
    assert!(
        matches!(review(wrong_kind, &settings()), Err(ReviewError::WrongKind(kind)) if kind == "Pod")
    );
}

#[test]
fn refuses_an_unknown_review_version() {
    let body = pod_create("admission.k8s.io/v2", "apps", pod(json!({})));
    let error = review(&body, &settings()).unwrap_err();
    assert!(matches!(&error, ReviewError::UnsupportedVersion(v) if v == "admission.k8s.io/v2"));
    assert!(
        error.to_string().contains("admission.k8s.io/v1beta1"),
        "{error}"
    );
}

#[test]
fn refuses_a_review_without_request() {
    let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
    assert!(matches!(
        review(body, &settings()),
        Err(ReviewError::MissingRequest)
    ));
}

#[test]
fn unreadable_pod_asking_for_injection_is_denied_with_its_uid() {
    let mut object = annotated();
    object["spec"]["containers"] = json!("not a list");
    let (response, outcome) = answer_of(&pod_create(API_VERSIONS[0], "apps", object));
    assert_eq!(response["response"]["allowed"], false);
    assert_eq!(
        response["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("could not be read"), "{message}");
    assert!(matches!(outcome, Outcome::Denied { namespace, .. } if namespace == "apps"));
}

#[test]
fn unreadable_pod_not_asking_for_injection_is_allowed() {
    let mut object = pod(json!({}));
    object["spec"]["containers"] = json!("not a list");
    let (response, _) = answer_of(&pod_create(API_VERSIONS[0], "apps", object));
    assert_eq!(response["response"]["allowed"], true);
    assert!(response["response"].get("patch").is_none());
}

/// A Pod as a newer cluster sends it: fields k8s-openapi has never heard of, at every level.
fn pod_with_unknown_fields(annotations: Value) -> Value {
    let mut object = pod(annotations);
    object["metadata"]["futureMetadata"] = json!({"kept": true});
    object["spec"]["futurePodField"] = json!({"mode": "quantum"});
    object["spec"]["containers"][0]["futureContainerField"] = json!(["a", "b"]);
    object["spec"]["volumes"][0]["futureVolumeField"] = json!(7);
    object["status"] = json!({"futureStatus": "x"});
    object
}

fn assert_unknown_fields_kept(patched: &Value) {
    assert_eq!(
        patched["metadata"]["futureMetadata"],
        json!({"kept": true}),
        "{patched}"
    );
    assert_eq!(
        patched["spec"]["futurePodField"],
        json!({"mode": "quantum"}),
        "{patched}"
    );
    let app = patched["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "app")
        .expect("app container kept");
    assert_eq!(app["futureContainerField"], json!(["a", "b"]), "{patched}");
    let token = patched["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "kube-api-access-x7k2p")
        .expect("token volume kept");
    assert_eq!(token["futureVolumeField"], json!(7), "{patched}");
    assert_eq!(patched["status"]["futureStatus"], "x", "{patched}");
}

#[test]
fn pod_patch_never_removes_fields_unknown_to_k8s_openapi() {
    let raw = pod_with_unknown_fields(json!({}));
    let before: Pod = serde_json::from_value(raw.clone()).unwrap();
    // A mutation of the kind the injector makes: containers, volumes, mounts, annotations.
    let mut after = before.clone();
    let spec = after.spec.get_or_insert_with(PodSpec::default);
    spec.init_containers = Some(vec![Container {
        name: "vault-agent".into(),
        restart_policy: Some("Always".into()),
        ..Container::default()
    }]);
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: "vault-secrets".into(),
        ..Volume::default()
    });
    spec.containers[0].env = Some(vec![]);
    after
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            "vault.hashicorp.com/agent-inject-status".into(),
            "injected".into(),
        );

    let patch = pod_patch(&before, &after).unwrap();
    assert!(!patch.0.is_empty());
    assert!(
        !patch
            .0
            .iter()
            .any(|op| matches!(op, json_patch::PatchOperation::Remove(_))),
        "{patch:?}"
    );
    let mut patched = raw;
    json_patch::patch(&mut patched, &patch).expect("patch applies to the raw pod");
    assert_unknown_fields_kept(&patched);
    assert_eq!(container_names(&patched, "initContainers"), ["vault-agent"]);
    assert_eq!(
        patched["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
}

#[test]
fn annotated_pod_gets_the_agent_and_keeps_unknown_fields() {
    let raw = pod_with_unknown_fields(annotated()["metadata"]["annotations"].clone());
    let (response, outcome) = answer_of(&pod_create(API_VERSIONS[0], "apps", raw.clone()));
    assert_eq!(response["response"]["allowed"], true, "{response}");
    assert_eq!(response["response"]["patchType"], "JSONPatch", "{response}");
    let patch = decoded_patch(&response).expect("a patch");
    let mut patched = raw;
    json_patch::patch(&mut patched, &patch).expect("patch applies to the raw pod");
    assert_unknown_fields_kept(&patched);
    let agents: Vec<String> = [
        container_names(&patched, "initContainers"),
        container_names(&patched, "containers"),
    ]
    .concat()
    .into_iter()
    .filter(|name| name.starts_with("vault-agent"))
    .collect();
    assert!(!agents.is_empty(), "{patched}");
    assert_eq!(
        patched["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    assert!(matches!(outcome, Outcome::Injected { namespace, .. } if namespace == "apps"));
}

#[test]
fn invalid_annotation_is_denied_with_a_message_naming_it() {
    let object = pod(json!({"vault.hashicorp.com/agent-inject": "tRuE"}));
    let (response, outcome) = answer_of(&pod_create(API_VERSIONS[1], "apps", object));
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(response["response"]["allowed"], false, "{response}");
    assert_eq!(
        response["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("agent-inject") && message.contains("tRuE"),
        "{message}"
    );
    assert!(matches!(outcome, Outcome::Denied { .. }));
}

#[test]
fn system_namespaces_are_denied_only_when_asking_for_injection() {
    let (response, _) = answer_of(&pod_create(API_VERSIONS[0], "kube-system", annotated()));
    assert_eq!(response["response"]["allowed"], false, "{response}");
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("kube-system"), "{message}");

    let (response, _) = answer_of(&pod_create(API_VERSIONS[0], "kube-system", pod(json!({}))));
    assert_eq!(response["response"]["allowed"], true);
}

#[test]
fn already_injected_pod_is_left_alone() {
    let mut object = annotated();
    object["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"] =
        json!("injected");
    let (response, outcome) = answer_of(&pod_create(API_VERSIONS[0], "apps", object));
    assert_eq!(response["response"]["allowed"], true);
    assert!(response["response"].get("patch").is_none());
    assert!(matches!(outcome, Outcome::Skipped { .. }));
}

fn with_containers(init: Vec<Container>, app: Vec<Container>) -> Pod {
    Pod {
        spec: Some(PodSpec {
            init_containers: Some(init),
            containers: app,
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn named(name: &str) -> Container {
    Container {
        name: name.into(),
        ..Container::default()
    }
}

#[test]
fn classifies_injections_like_vault_k8s_metrics() {
    let before = with_containers(vec![named("migrate")], vec![named("app")]);
    let classic = with_containers(
        vec![named("vault-agent-init"), named("migrate")],
        vec![named("app"), named("vault-agent")],
    );
    assert_eq!(
        injection_type(&before, &classic),
        InjectionType::InitAndSidecar
    );
    let init_only = with_containers(
        vec![named("vault-agent-init"), named("migrate")],
        vec![named("app")],
    );
    assert_eq!(injection_type(&before, &init_only), InjectionType::InitOnly);
    let sidecar_only = with_containers(
        vec![named("migrate")],
        vec![named("app"), named("vault-agent")],
    );
    assert_eq!(
        injection_type(&before, &sidecar_only),
        InjectionType::SidecarOnly
    );
    let mut native = named("vault-agent");
    native.restart_policy = Some("Always".into());
    native.startup_probe = Some(Probe::default());
    let native = with_containers(vec![native, named("migrate")], vec![named("app")]);
    assert_eq!(
        injection_type(&before, &native),
        InjectionType::InitAndSidecar
    );
}

#[test]
fn unknown_fields_of_the_apps_init_containers_stay_with_their_container() {
    let mut raw = annotated();
    raw["spec"]["initContainers"] = json!([
        {"name": "migrate", "image": "m", "futureField": "migrate's"},
        {"name": "warm", "image": "w", "futureField": "warm's"}
    ]);
    let (response, _) = answer_of(&pod_create(API_VERSIONS[0], "apps", raw.clone()));
    let patch = decoded_patch(&response).expect("a patch");
    assert!(
        !patch
            .0
            .iter()
            .any(|op| matches!(op, json_patch::PatchOperation::Remove(_))),
        "{patch:?}"
    );
    let mut patched = raw;
    json_patch::patch(&mut patched, &patch).unwrap();
    for container in patched["spec"]["initContainers"].as_array().unwrap() {
        let expected = match container["name"].as_str().unwrap() {
            "migrate" => json!("migrate's"),
            "warm" => json!("warm's"),
            _ => Value::Null,
        };
        assert_eq!(container["futureField"], expected, "{container}");
    }
}

use serde_json::json;

use super::*;

fn settings() -> InjectorSettings {
    crate::admission::tests::settings()
}

fn values(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).expect("our output is YAML")
}

#[test]
fn passes_other_documents_through_unchanged() {
    let input = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  enabled: \"yes\"
  port: \"8080\"
  flag: \"true\"
  empty: \"\"
  script: |
    #!/bin/sh
    echo hi
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
";
    let injected = inject(input, &settings(), None).unwrap();
    assert_eq!(values(&injected.yaml), values(input));
    assert!(injected.report.is_empty());
    // Strings that look like other YAML types stay strings for every YAML reader.
    for quoted in ["\"yes\"", "\"8080\"", "\"true\""] {
        assert!(
            injected.yaml.contains(quoted),
            "{quoted} in\n{}",
            injected.yaml
        );
    }
}

#[test]
fn unannotated_workloads_come_back_untouched() {
    let input = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx
        futureField: kept
";
    let injected = inject(input, &settings(), Some("apps")).unwrap();
    assert_eq!(values(&injected.yaml), values(input));
    assert_eq!(injected.report.len(), 1);
    assert_eq!(injected.report[0].object, "deployment/web");
    assert_eq!(injected.report[0].injection, None);
}

#[test]
fn visits_list_items_and_json_input() {
    let input = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
             "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        ]
    });
    let injected = inject(&input.to_string(), &settings(), None).unwrap();
    assert_eq!(values(&injected.yaml), vec![input]);
    let objects: Vec<&str> = injected.report.iter().map(|r| r.object.as_str()).collect();
    assert_eq!(objects, ["job/once", "pod/p"]);
}

#[test]
fn kinds_of_other_api_groups_are_not_workloads() {
    let input = "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: []}}}\n";
    let injected = inject(input, &settings(), None).unwrap();
    assert!(injected.report.is_empty());
}

#[test]
fn reports_unreadable_input() {
    assert!(matches!(
        inject("{not json", &settings(), None),
        Err(InjectError::Json(_))
    ));
    assert!(matches!(
        inject("a: [unclosed", &settings(), None),
        Err(InjectError::Yaml(_))
    ));
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

#[test]
fn simulated_token_mounts_every_container_and_comes_out_cleanly() {
    let before = pod(json!({
        "initContainers": [{"name": "migrate", "image": "m"}],
        "containers": [{"name": "app", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
    }));
    let with = with_simulated_token(&before).expect("a token to simulate");
    let spec = with.spec.as_ref().unwrap();
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let mounts = container.volume_mounts.as_ref().unwrap();
        assert!(
            mounts.iter().any(|m| m.mount_path == TOKEN_MOUNT_PATH),
            "{}",
            container.name
        );
    }
    assert_eq!(spec.volumes.as_ref().unwrap().len(), 1);
    assert_eq!(without_simulated_token(with, &before), before);
}

#[test]
fn no_simulated_token_when_opted_out_or_already_mounted() {
    let opted_out =
        pod(json!({"automountServiceAccountToken": false, "containers": [{"name": "a"}]}));
    assert!(with_simulated_token(&opted_out).is_none());
    let mounted = pod(json!({"containers": [{"name": "a", "volumeMounts": [
        {"name": "kube-api-access-abcde", "mountPath": TOKEN_MOUNT_PATH}]}]}));
    assert!(with_simulated_token(&mounted).is_none());
}

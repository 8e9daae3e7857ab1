//! Reviews per second through the pure admission function (`admission::review`), for a
//! realistic Pod asking for five secrets: parse, mutate, diff, encode; no network.
//!
//! `cargo bench -p kagi-webhook --bench review`; criterion's `thrpt` line is reviews/s.

use std::hint::black_box;
use std::time::Duration;

use clap::Parser;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kagi_webhook::admission::{self, Outcome};
use kagi_webhook::settings::InjectorSettings;
use serde_json::json;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    settings: InjectorSettings,
}

fn pod_with_five_secrets() -> serde_json::Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert("vault.hashicorp.com/agent-inject".into(), json!("true"));
    annotations.insert("vault.hashicorp.com/role".into(), json!("web"));
    for (name, path) in [
        ("db", "database/creds/web"),
        ("api-key", "secret/data/web/api"),
        ("tls", "pki/issue/web"),
        ("redis", "secret/data/web/redis"),
        ("smtp", "secret/data/shared/smtp"),
    ] {
        annotations.insert(
            format!("vault.hashicorp.com/agent-inject-secret-{name}"),
            json!(path),
        );
    }
    annotations.insert(
        "vault.hashicorp.com/agent-inject-template-db".into(),
        json!("{{ with secret \"database/creds/web\" }}postgres://{{ .Data.username }}:{{ .Data.password }}@db:5432/web{{ end }}"),
    );
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3a1c4e2b-9f0d-4c55-8f1e-7b2d6a9c0e11",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": "web-7c9f8d6b5-",
                    "namespace": "shop",
                    "labels": {"app": "web", "pod-template-hash": "7c9f8d6b5"},
                    "annotations": annotations,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c9f8d6b5",
                        "uid": "0f6c0c9e-2b7a-4d8e-9a51-3c4f5e6d7a8b", "controller": true, "blockOwnerDeletion": true}]
                },
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [{
                        "name": "web",
                        "image": "registry.example.com/shop/web:1.42.0",
                        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                        "env": [{"name": "RUST_LOG", "value": "info"}],
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                        "volumeMounts": [{"name": "kube-api-access-7xk2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
                    }],
                    "volumes": [{"name": "kube-api-access-7xk2p", "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                    ]}}],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
                }
            }
        }
    })
}

fn review(c: &mut Criterion) {
    let settings =
        Flags::parse_from(["bench", "--vault-address", "https://vault.vault:8200"]).settings;
    let body = serde_json::to_vec(&pod_with_five_secrets()).expect("json");
    let reviewed = admission::review(&body, &settings).expect("reviewable");
    // A bench of a skipped review would measure the wrong thing.
    assert!(
        matches!(reviewed.outcome, Outcome::Injected { .. }),
        "the bench pod was not injected: {:?}",
        reviewed.outcome
    );
    let mut group = c.benchmark_group("admission");
    // A review takes well under a millisecond: a few seconds give a stable figure without
    // holding a shared 2-core box for long.
    group
        .throughput(Throughput::Elements(1))
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("review_pod_with_5_secrets", |b| {
        b.iter(|| admission::review(black_box(&body), &settings).expect("reviewable"))
    });
    group.finish();
}

criterion_group!(benches, review);
criterion_main!(benches);

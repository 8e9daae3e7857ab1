//! The chain as one piece, the way a cluster runs it: annotated pod → `kagi-webhook serve`
//! (real TLS) → JSON patch → kubelet-like pod runner → `kagi-agent` → real OpenBao (and
//! PostgreSQL) → rendered files → the app → shutdown.
//!
//! One OpenBao, PostgreSQL, TokenReview responder and webhook serve every scenario of this
//! binary; each scenario has its own namespace, service account, role and secret paths.

use std::sync::OnceLock;
use std::time::Duration;

use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{PodPhase, PodRunner, RunningPod, admit_and_run};
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use kagi_tests::webhook::{Admission, Webhook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

struct Env {
    bao: OpenBao,
    pg: Postgres,
    issuer: ServiceAccountIssuer,
    reviewer: TokenReviewer,
    webhook: Webhook,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
        let pg = Postgres::start().expect("PostgreSQL");
        let issuer = ServiceAccountIssuer::new().unwrap();
        let reviewer = TokenReviewer::start(&issuer).unwrap();
        setup::configure_kubernetes_auth_at(&bao, "kubernetes", &reviewer).unwrap();
        let webhook = Webhook::start(&["--vault-address", &bao.addr()]).expect("kagi-webhook");
        Env {
            bao,
            pg,
            issuer,
            reviewer,
            webhook,
        }
    })
}

/// A role `role` for `ns`/`sa` with a policy granting `rules` (HCL).
fn grant(env: &Env, role: &str, ns: &str, sa: &str, rules: &str, extra: &[&str]) {
    setup::write_policy(&env.bao, role, rules).unwrap();
    setup::kubernetes_role(&env.bao, "kubernetes", role, ns, sa, &[role], extra).unwrap();
}

/// An annotated pod running `kagi-test-app` with `args`.
fn pod(ns: &str, sa: &str, annotations: Value, args: &[&str], restart: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": format!("{sa}-pod"), "namespace": ns, "annotations": annotations },
        "spec": {
            "serviceAccountName": sa,
            "restartPolicy": restart,
            "containers": [{ "name": "app", "image": "kagi-test-app:1", "args": args }]
        }
    })
}

fn run(env: &Env, ns: &str, manifest: &Value) -> (Admission, RunningPod) {
    let runner = PodRunner::new(ns, &env.issuer);
    admit_and_run(&runner, &env.webhook, manifest).unwrap_or_else(|e| {
        panic!("{e:#}\nwebhook log:\n{}", env.webhook.log())
    })
}

#[test]
fn kv_v2_secret_is_rendered_before_the_app_starts() {
    let env = env();
    let (ns, sa, role) = ("e2e-kv", "web", "e2e-kv");
    setup::put_kv(&env.bao, "secret/e2e-kv/config", &[("password", "kv-pass-1")]).unwrap();
    grant(
        env,
        role,
        ns,
        sa,
        r#"path "secret/data/e2e-kv/*" { capabilities = ["read"] }"#,
        &[],
    );
    let manifest = pod(
        ns,
        sa,
        json!({
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": role,
            "vault.hashicorp.com/agent-inject-secret-config": "secret/data/e2e-kv/config",
            "vault.hashicorp.com/agent-inject-template-config":
                "{{ with secret \"secret/data/e2e-kv/config\" }}password={{ .Data.data.password }}{{ end }}",
        }),
        &["--require", "/vault/secrets/config", "--print", "/vault/secrets/config"],
        "Always",
    );
    let (admission, pod) = run(env, ns, &manifest);
    assert_eq!(
        admission.object["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    pod.wait_running(WAIT).unwrap();
    let logs = pod.wait_log("app", "/config: password=kv-pass-1", WAIT).unwrap();
    assert!(!logs.contains("missing"), "{}", pod.describe());
    let status = pod.status();
    assert!(
        status.event_index("ready vault-agent") < status.event_index("started app"),
        "{}",
        pod.describe()
    );
    assert_eq!(
        pod.read_file("app", "/vault/secrets/config").unwrap(),
        "password=kv-pass-1"
    );
    let status = pod.delete();
    assert_eq!(status.container("app").unwrap().exit_codes, vec![0]);
}

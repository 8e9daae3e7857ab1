//! `agent-inject-signal-<name>` end to end: annotated pod → `kagi-webhook serve` → pod runner
//! (shared PID namespace) → `kagi-agent` renders, then signals the app through the template
//! `exec` (`kagi-agent signal`) with no shell in any image. A burst of secret writes within the
//! template `wait` gives one SIGHUP; every later rotation one more.

use std::time::Duration;

use kagi_tests::image::TEST_APP_IMAGE;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{PodRunner, admit_and_run};
use kagi_tests::setup;
use kagi_tests::webhook::Webhook;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
/// Longer than the webhook's signal `wait` maximum (10 s) plus one KV re-read: a second
/// signal for the same burst would have arrived by then.
const SETTLE: Duration = Duration::from_secs(13);

fn sighups(logs: &str) -> usize {
    logs.lines().filter(|l| l.starts_with("sighup ")).count()
}

#[test]
fn signal_annotation_sends_one_sighup_per_rotation_to_the_app() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let issuer = ServiceAccountIssuer::new().unwrap();
    let reviewer = TokenReviewer::start(&issuer).unwrap();
    let (ns, sa, role) = ("e2e-signal", "web", "e2e-signal");
    setup::configure_kubernetes_auth(&bao, &reviewer, role, ns, sa, &[role]).unwrap();
    setup::write_policy(
        &bao,
        role,
        r#"path "secret/data/e2e-signal/*" { capabilities = ["read"] }"#,
    )
    .unwrap();
    setup::put_kv(&bao, "secret/e2e-signal/config", &[("v", "1")]).unwrap();
    let webhook = Webhook::start(&["--vault-address", &bao.addr()]).expect("kagi-webhook");

    let config = "/vault/secrets/config";
    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "reloader", "namespace": ns, "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": role,
            "vault.hashicorp.com/agent-inject-secret-config": "secret/data/e2e-signal/config",
            "vault.hashicorp.com/agent-inject-template-config":
                "{{ with secret \"secret/data/e2e-signal/config\" }}v={{ .Data.data.v }}{{ end }}",
            // The alias prefix works for the kagi extension too.
            "openbao.org/agent-inject-signal-config": "SIGHUP kagi-test-app",
            "vault.hashicorp.com/template-static-secret-render-interval": "1s",
            // kill(2) needs the same UID: the agent runs as the app's user.
            "vault.hashicorp.com/agent-run-as-same-user": "true",
        } },
        "spec": {
            "serviceAccountName": sa,
            "restartPolicy": "Always",
            "containers": [{ "name": "app", "image": TEST_APP_IMAGE,
                "securityContext": { "runAsUser": 1000 },
                "args": ["--require", config, "--print", config, "--count-sighup"] }]
        }
    });
    let runner = PodRunner::new(ns, &issuer).host_ports(&[bao.port()]);
    let (admission, pod) = admit_and_run(&runner, &webhook, &manifest)
        .unwrap_or_else(|e| panic!("{e:#}\nwebhook log:\n{}", webhook.log()));
    assert_eq!(admission.object["spec"]["shareProcessNamespace"], true);
    pod.wait_log("app", "counting sighup", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", pod.describe()));
    assert!(
        pod.logs("app").contains("/config: v=1"),
        "{}",
        pod.describe()
    );
    // The first render happened before the app started: nothing to signal then, and the
    // agent went on (the app started only after it reported every template rendered).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sighups(&pod.logs("app")), 0, "{}", pod.describe());

    // A burst: three writes within a second, well inside the 2 s quiet window.
    for v in ["2", "3", "4"] {
        setup::put_kv(&bao, "secret/e2e-signal/config", &[("v", v)]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let logs = pod
        .wait_log("app", "sighup 1", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", pod.describe()));
    // The app was signalled after the file held the last value of the burst.
    let after_signal = logs.split("sighup 1").nth(1).unwrap_or_default();
    assert!(after_signal.contains("/config: v=4"), "{logs}");
    std::thread::sleep(SETTLE);
    assert_eq!(sighups(&pod.logs("app")), 1, "{}", pod.describe());

    // The next rotation gives exactly one more.
    setup::put_kv(&bao, "secret/e2e-signal/config", &[("v", "5")]).unwrap();
    let logs = pod
        .wait_log("app", "sighup 2", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", pod.describe()));
    assert!(
        logs.split("sighup 2")
            .nth(1)
            .unwrap_or_default()
            .contains("/config: v=5"),
        "{logs}"
    );
    std::thread::sleep(SETTLE);
    assert_eq!(sighups(&pod.logs("app")), 2, "{}", pod.describe());
    assert_eq!(pod.read_file("app", config).unwrap(), "v=5");

    let status = pod.delete();
    assert_eq!(
        status.container("app").unwrap().exit_codes,
        vec![0],
        "the app was never ended by a signal"
    );
}

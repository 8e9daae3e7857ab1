//! Env mode end to end: `agent-env-*` annotations → `kagi-webhook serve` → the runc pod runner
//! runs `kagi-install`, then the app container as `/kagi/bin/kagi-agent exec -- kagi-test-app`
//! → the wrapper logs in to a real OpenBao with the app's own token, renders the variables,
//! starts the app with them, restarts it on a rotation and exits with its exit code.
//!
//! The figures the issue asks for (time from pod start to the app's first line, restart latency
//! after a KV write, the wrapper's memory) are printed, not asserted.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kagi_tests::image::TEST_APP_IMAGE;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{
    PodPhase, PodRunner, RunningPod, admit_and_run, inject_annotations as annotations,
};
use kagi_tests::setup;
use kagi_tests::webhook::{Admission, Webhook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const TEST_APP: &str = "/usr/local/bin/kagi-test-app";

struct Env {
    bao: OpenBao,
    issuer: ServiceAccountIssuer,
    _reviewer: TokenReviewer,
    webhook: Webhook,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
        let issuer = ServiceAccountIssuer::new().unwrap();
        let reviewer = TokenReviewer::start(&issuer).unwrap();
        setup::configure_kubernetes_auth_at(&bao, "kubernetes", &reviewer).unwrap();
        let webhook = Webhook::start(&["--vault-address", &bao.addr()]).expect("kagi-webhook");
        Env {
            bao,
            issuer,
            _reviewer: reviewer,
            webhook,
        }
    })
}

/// A KV secret under `secret/<ns>/` readable by role `ns` for `ns`/`sa`.
fn grant(env: &Env, ns: &str, sa: &str) {
    setup::write_policy(
        &env.bao,
        ns,
        &format!(r#"path "secret/data/{ns}/*" {{ capabilities = ["read"] }}"#),
    )
    .unwrap();
    setup::kubernetes_role(&env.bao, "kubernetes", ns, ns, sa, &[ns], &[]).unwrap();
}

/// A pod whose app container runs the test app with an explicit `command`, as env mode needs.
fn pod(ns: &str, sa: &str, annotations: Value, args: &[&str], restart: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": format!("{sa}-pod"), "namespace": ns, "annotations": annotations },
        "spec": {
            "serviceAccountName": sa,
            "restartPolicy": restart,
            "containers": [{
                "name": "app", "image": TEST_APP_IMAGE,
                "command": [TEST_APP], "args": args,
                "securityContext": { "runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": true,
                                     "allowPrivilegeEscalation": false,
                                     "capabilities": { "drop": ["ALL"] },
                                     "seccompProfile": { "type": "RuntimeDefault" } }
            }]
        }
    })
}

/// Runs the pod in a namespace that enforces Pod Security "restricted": the installer and the
/// wrapped app must pass it.
fn run(env: &Env, ns: &str, manifest: &Value) -> (Admission, RunningPod) {
    let runner = PodRunner::new(ns, &env.issuer)
        .host_ports(&[env.bao.port()])
        .namespace_labels(&[
            ("kagi-injection", "enabled"),
            ("pod-security.kubernetes.io/enforce", "restricted"),
        ]);
    admit_and_run(&runner, &env.webhook, manifest)
        .unwrap_or_else(|e| panic!("{e:#}\nwebhook log:\n{}", env.webhook.log()))
}

fn kv_template(ns: &str, secret: &str, key: &str) -> String {
    format!(
        "{{{{ with secret \"secret/data/{ns}/{secret}\" }}}}{{{{ .Data.data.{key} }}}}{{{{ end }}}}"
    )
}

/// Resident memory of a host process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn variables_reach_the_app_next_to_a_file_and_a_rotation_restarts_it() {
    let env = env();
    let (ns, sa) = ("e2e-env", "web");
    grant(env, ns, sa);
    setup::put_kv(
        &env.bao,
        &format!("secret/{ns}/db"),
        &[("password", "env-pass-1")],
    )
    .unwrap();
    setup::put_kv(
        &env.bao,
        &format!("secret/{ns}/config"),
        &[("mode", "file")],
    )
    .unwrap();
    let password = kv_template(ns, "db", "password");
    let file = format!("mode={}", kv_template(ns, "config", "mode"));
    let manifest = pod(
        ns,
        sa,
        annotations(
            ns,
            &[
                ("agent-env-DB_PASSWORD", &password),
                ("template-static-secret-render-interval", "1s"),
                (
                    "agent-inject-secret-config",
                    &format!("secret/data/{ns}/config"),
                ),
                ("agent-inject-template-config", &file),
            ],
        ),
        &[
            "--print-env",
            "DB_PASSWORD",
            "--require",
            "/vault/secrets/config",
            "--print",
            "/vault/secrets/config",
        ],
        "Always",
    );
    let (admission, pod) = run(env, ns, &manifest);
    let started = Instant::now();
    let spec = &admission.object["spec"];
    let inits: Vec<&str> = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(inits, ["vault-agent", "kagi-install"]);
    assert_eq!(spec["containers"][0]["command"][0], "/kagi/bin/kagi-agent");

    pod.wait_log("app", "env DB_PASSWORD=env-pass-1", WAIT)
        .unwrap();
    let first_line = started.elapsed();
    let logs = pod.wait_log("app", "/config: mode=file", WAIT).unwrap();
    assert!(!logs.contains("missing"), "{}", pod.describe());
    // The runner records "started app" once runc returns, which can be after the first line.
    let status = pod.wait_running(WAIT).unwrap();
    let installed = status.event_index("exited kagi-install code=0");
    assert!(
        installed.is_some() && installed < status.event_index("started app"),
        "{}",
        pod.describe()
    );

    // Measured, not asserted: the wrapper (the container's PID 1) and its child.
    let wrapper = pod.pid("app").expect("app running");
    let wrapper_rss = rss_kib(wrapper);
    let child_rss: Vec<Option<u64>> = children(wrapper).into_iter().map(rss_kib).collect();
    let binary = pod
        .host_path("app", "/kagi/bin/kagi-agent")
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    eprintln!(
        "env mode: pod start to the app's first line {first_line:?}; wrapper RSS {wrapper_rss:?} \
         KiB, child RSS {child_rss:?} KiB; /kagi/bin/kagi-agent {binary:?} bytes in kagi-bin"
    );

    // A new value: the wrapper stops the app (SIGTERM, its default) and starts it again with
    // the new environment; the container itself does not restart.
    let written = Instant::now();
    setup::put_kv(
        &env.bao,
        &format!("secret/{ns}/db"),
        &[("password", "env-pass-2")],
    )
    .unwrap();
    let logs = pod
        .wait_log("app", "env DB_PASSWORD=env-pass-2", WAIT)
        .unwrap();
    eprintln!(
        "env mode: KV write to the restarted app's first line {:?} (render interval 1s)",
        written.elapsed()
    );
    // The wrapper's own account of the restart (names, never values).
    for line in logs
        .lines()
        .filter(|l| l.contains("child") || l.contains("changed"))
    {
        eprintln!("    wrapper: {line}");
    }
    let before_new = &logs[..logs.find("env DB_PASSWORD=env-pass-2").unwrap()];
    assert!(before_new.contains("sigterm"), "{}", pod.describe());
    let status = pod.status();
    assert_eq!(
        status.container("app").unwrap().restarts,
        0,
        "{}",
        pod.describe()
    );

    // Values stay out of Kubernetes: not in the admission answer (patch, annotations), not in
    // the webhook's log, not in a line of the wrapper's; only the app prints them.
    let review = admission.review.to_string();
    for value in ["env-pass-1", "env-pass-2"] {
        assert!(!review.contains(value), "{value} in the admission review");
        assert!(
            !env.webhook.log().contains(value),
            "{value} in the webhook log"
        );
        for line in logs.lines().filter(|l| l.contains(value)) {
            assert!(line.starts_with("env DB_PASSWORD="), "a value in: {line}");
        }
    }
    let status = pod.delete();
    assert_eq!(status.container("app").unwrap().exit_codes, vec![0]);
}

#[test]
fn a_job_exits_with_its_programs_exit_code_and_needs_no_agent_sidecar() {
    let env = env();
    let (ns, sa) = ("e2e-env-job", "job");
    grant(env, ns, sa);
    setup::put_kv(
        &env.bao,
        &format!("secret/{ns}/api"),
        &[("token", "job-token-1")],
    )
    .unwrap();
    let token = kv_template(ns, "api", "token");
    let manifest = pod(
        ns,
        sa,
        annotations(ns, &[("agent-env-API_TOKEN", &token)]),
        &["--print-env", "API_TOKEN", "--exit", "--exit-code", "7"],
        "Never",
    );
    let (admission, pod) = run(env, ns, &manifest);
    let started = Instant::now();
    let inits = admission.object["spec"]["initContainers"]
        .as_array()
        .unwrap();
    assert_eq!(inits.len(), 1, "env only: the installer, no agent");
    pod.wait_log("app", "env API_TOKEN=", WAIT).unwrap();
    eprintln!(
        "env mode, env only: pod start to the app's first line {:?}",
        started.elapsed()
    );
    let status = pod.wait_finished(WAIT).unwrap();
    assert!(
        pod.logs("app").contains("env API_TOKEN=job-token-1"),
        "{}",
        pod.describe()
    );
    assert_eq!(status.phase, PodPhase::Failed, "{}", pod.describe());
    assert_eq!(status.container("app").unwrap().exit_codes, vec![7]);
    assert!(status.container("vault-agent").is_none());
    pod.delete();
}

#[test]
fn a_container_without_command_is_denied_naming_it() {
    let env = env();
    let mut manifest = pod(
        "e2e-env-deny",
        "web",
        annotations("any", &[("agent-env-TOKEN", "{{ .x }}")]),
        &[],
        "Always",
    );
    manifest["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("command");
    let pod = kagi_tests::pod_runner::service_account_admission(&manifest);
    let admission = env.webhook.admit(&pod, "e2e-env-deny").unwrap();
    assert!(!admission.allowed);
    let message = admission.message.unwrap_or_default();
    assert!(
        message.contains("container \"app\" has no command"),
        "{message}"
    );
    assert!(message.contains("set `command`"), "{message}");
    assert!(admission.patch.0.is_empty());
}

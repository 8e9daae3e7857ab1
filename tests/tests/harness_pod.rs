//! Proves the pod runner's kubelet behaviour with the harness's own test program standing in
//! for every container (no webhook or agent involved): native sidecar gated by its startup
//! probe, volumes shared through mapped paths, Kubernetes' termination order, Job completion.

use std::time::Duration;

use kagi_tests::image::TEST_APP_IMAGE;
use kagi_tests::kube::ServiceAccountIssuer;
use kagi_tests::pod_runner::{PodPhase, PodRunner, service_account_admission};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// A pod whose native sidecar "renders" /vault/secrets/config after a delay; its startup probe
/// checks for the file; the app requires the file at start.
fn pod(restart_policy: &str, app_args: &[&str]) -> serde_json::Value {
    let mut app = vec![
        "--require",
        "/vault/secrets/config",
        "--print",
        "/vault/secrets/config",
    ];
    app.extend_from_slice(app_args);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web", "namespace": "team-a" },
        "spec": {
            "restartPolicy": restart_policy,
            "serviceAccountName": "web",
            "volumes": [{ "name": "vault-secrets", "emptyDir": { "medium": "Memory" } }],
            "initContainers": [{
                "name": "vault-agent", "image": TEST_APP_IMAGE, "restartPolicy": "Always",
                "args": ["--sleep-ms", "400", "--write", "/vault/secrets/config=user: alice"],
                "startupProbe": { "exec": { "command":
                    ["kagi-test-app", "--require", "/vault/secrets/config", "--exit"] },
                    "periodSeconds": 1, "failureThreshold": 30 },
                "volumeMounts": [{ "name": "vault-secrets", "mountPath": "/vault/secrets" }]
            }],
            "containers": [{
                "name": "app", "image": TEST_APP_IMAGE, "args": app,
                "volumeMounts": [{ "name": "vault-secrets", "mountPath": "/vault/secrets" }]
            }]
        }
    })
}

#[test]
fn native_sidecar_gates_the_app_and_stops_last() {
    let issuer = ServiceAccountIssuer::new().unwrap();
    let runner = PodRunner::new("team-a", &issuer);
    let running = runner
        .run(&service_account_admission(&pod("Always", &[])))
        .unwrap();
    running.wait_running(WAIT).unwrap();
    running
        .wait_log("app", "/config: user: alice", WAIT)
        .unwrap();
    let status = running.status();
    assert!(
        status.event_index("ready vault-agent").unwrap()
            < status.event_index("started app").unwrap(),
        "{}",
        running.describe()
    );
    // The projected service-account token is a JWT the issuer signed for this pod's account.
    let token = running
        .read_file("app", "/var/run/secrets/kubernetes.io/serviceaccount/token")
        .unwrap();
    let claims = issuer.verify(&token).unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:web");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "web");

    let status = running.delete();
    assert!(status.deleted);
    let app_term = status.event_index("SIGTERM app").expect("app got SIGTERM");
    let agent_term = status
        .event_index("SIGTERM vault-agent")
        .expect("agent got SIGTERM");
    assert!(app_term < agent_term, "{:?}", status.events);
    assert_eq!(status.container("app").unwrap().exit_codes, vec![0]);
}

#[test]
fn job_completes_and_its_sidecar_is_stopped() {
    let issuer = ServiceAccountIssuer::new().unwrap();
    let runner = PodRunner::new("team-a", &issuer);
    let running = runner
        .run(&service_account_admission(&pod("Never", &["--exit"])))
        .unwrap();
    let status = running.wait_finished(WAIT).unwrap();
    assert_eq!(status.phase, PodPhase::Succeeded, "{}", running.describe());
    let exited = status.event_index("exited app code=0").unwrap();
    let stopped = status.event_index("SIGTERM vault-agent").unwrap();
    assert!(exited < stopped, "{:?}", status.events);
}

#[test]
fn app_does_not_start_while_the_startup_probe_fails() {
    let issuer = ServiceAccountIssuer::new().unwrap();
    let runner = PodRunner::new("team-a", &issuer);
    let mut spec = pod("Always", &[]);
    // The sidecar never writes the file its probe waits for.
    spec["spec"]["initContainers"][0]["args"] = json!(["--sleep-ms", "0"]);
    let running = runner.run(&service_account_admission(&spec)).unwrap();
    let probing = running.wait_until("the sidecar to run", WAIT, |s| {
        s.ever_started("vault-agent")
    });
    assert!(probing.is_ok());
    // Give the kubelet loop many probe rounds; the app must still be waiting.
    std::thread::sleep(Duration::from_millis(1500));
    let status = running.status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert!(!status.ever_started("app"), "{}", running.describe());
    let status = running.delete();
    assert!(!status.ever_started("app"));
}

/// A pod using what the runner models beyond the basics: users and fsGroup, a size-limited
/// memory emptyDir, a read-only root, a shared PID namespace.
fn hardened_pod(share_pid: bool) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "locked", "namespace": "team-a" },
        "spec": {
            "serviceAccountName": "web",
            "shareProcessNamespace": share_pid,
            "securityContext": { "runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                "seccompProfile": { "type": "RuntimeDefault" } },
            "volumes": [{ "name": "shared",
                "emptyDir": { "medium": "Memory", "sizeLimit": "8Mi" } }],
            "containers": [{
                "name": "app", "image": TEST_APP_IMAGE,
                "args": ["--write", "/shared/out=written", "--write", "/etc/out=nope",
                    "--print", "/proc/1/cmdline"],
                "securityContext": { "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } },
                "volumeMounts": [{ "name": "shared", "mountPath": "/shared" }]
            }]
        }
    })
}

#[test]
fn users_fs_group_memory_volumes_and_read_only_root_are_applied() {
    use std::os::unix::fs::MetadataExt;
    let issuer = ServiceAccountIssuer::new().unwrap();
    let running = PodRunner::new("team-a", &issuer)
        .run(&service_account_admission(&hardened_pod(false)))
        .unwrap();
    running.wait_log("app", "/proc/1/cmdline", WAIT).unwrap();
    let logs = running.logs("app");
    assert!(logs.contains("wrote /shared/out"), "{}", running.describe());
    assert!(
        logs.contains("cannot write /etc/out"),
        "root is read-only: {logs}"
    );
    // Own PID namespace: PID 1 is the app itself.
    assert!(logs.contains("kagi-test-app"), "{logs}");
    let volume = running.host_path("app", "/shared").unwrap();
    let file = std::fs::metadata(volume.join("out")).unwrap();
    // Written as runAsUser, group fsGroup through the setgid volume directory.
    assert_eq!((file.uid(), file.gid()), (1000, 2000));
    let dir = std::fs::metadata(&volume).unwrap();
    assert_eq!((dir.gid(), dir.mode() & 0o2000), (2000, 0o2000));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(volume.to_str().unwrap()))
        .expect("the memory emptyDir is a mount");
    assert!(
        line.starts_with("tmpfs ") && line.contains("size=8192k"),
        "{line}"
    );
    drop(running);
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(volume.to_str().unwrap()),
        "the tmpfs is unmounted with the pod"
    );
}

#[test]
fn share_process_namespace_puts_the_pod_in_one_pid_namespace() {
    let issuer = ServiceAccountIssuer::new().unwrap();
    let running = PodRunner::new("team-a", &issuer)
        .run(&service_account_admission(&hardened_pod(true)))
        .unwrap();
    let logs = running.wait_log("app", "/proc/1/cmdline", WAIT).unwrap();
    // PID 1 is the pod's sandbox, as with the kubelet's pause container.
    assert!(logs.contains("kagi-pod-sandbox"), "{logs}");
}

#[test]
fn fields_the_runner_cannot_express_and_missing_images_fail_with_their_names() {
    let issuer = ServiceAccountIssuer::new().unwrap();
    let runner = PodRunner::new("team-a", &issuer);
    let mut spec = pod("Always", &[]);
    spec["spec"]["hostNetwork"] = json!(true);
    let err = format!("{:#}", runner.run(&spec).err().unwrap());
    assert!(err.contains("spec.hostNetwork"), "{err}");
    let missing = std::env::temp_dir().join("kagi-no-such-layout");
    let err = format!(
        "{:#}",
        runner
            .clone()
            .image("kagi-test-app", &missing)
            .run(&service_account_admission(&pod("Always", &[])))
            .err()
            .unwrap()
    );
    assert!(
        err.contains(missing.to_str().unwrap()) && err.contains("make images"),
        "{err}"
    );
}

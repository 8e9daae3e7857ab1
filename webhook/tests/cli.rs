//! `kagi-webhook review` and `kagi-webhook inject`, run as a user would, over the fixtures.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

const VAULT: &str = "https://vault.shop.svc:8200";
const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs the binary with a clean `AGENT_INJECT_*` environment and `stdin` as input.
fn kagi(args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kagi-webhook"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AGENT_INJECT_")) {
        command.env_remove(name);
    }
    command.args(args);
    if matches!(args.first(), Some(&"review" | &"inject")) {
        command.args(["--vault-address", VAULT]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kagi-webhook runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn succeeded(output: Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "kagi-webhook failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn review(file: &str) -> (Value, Value) {
    let request: Value = serde_json::from_slice(&std::fs::read(fixture(file)).unwrap()).unwrap();
    let path = fixture(file);
    let out = succeeded(kagi(&["review", "-f", path.to_str().unwrap()], b""));
    (
        request,
        serde_json::from_slice(&out).expect("review prints JSON"),
    )
}

/// Applies the response's patch to the request's object, as the API server does.
fn patched_object(request: &Value, response: &Value) -> Value {
    let encoded = response["response"]["patch"]
        .as_str()
        .expect("a base64 patch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    assert!(
        !patch
            .0
            .iter()
            .any(|op| matches!(op, json_patch::PatchOperation::Remove(_))),
        "the patch removes something: {patch:?}"
    );
    let mut object = request["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).expect("the patch applies");
    object
}

fn containers<'a>(spec: &'a Value, field: &str) -> Vec<&'a Value> {
    spec[field].as_array().into_iter().flatten().collect()
}

fn agents(spec: &Value) -> Vec<&Value> {
    [
        containers(spec, "initContainers"),
        containers(spec, "containers"),
    ]
    .concat()
    .into_iter()
    .filter(|c| {
        c["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("vault-agent")
    })
    .collect()
}

fn mounts(container: &Value) -> Vec<(String, String)> {
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
            (text("name"), text("mountPath"))
        })
        .collect()
}

/// The agent config an agent container carries in `VAULT_CONFIG`.
fn agent_config(container: &Value) -> Value {
    let env = container["env"].as_array().expect("agent env");
    let encoded = env
        .iter()
        .find(|e| e["name"] == "VAULT_CONFIG")
        .and_then(|e| e["value"].as_str())
        .expect("VAULT_CONFIG");
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    serde_json::from_slice(&json).expect("JSON agent config")
}

fn token_paths(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "token_path" {
                    found.push(value.as_str().unwrap_or_default().to_owned());
                }
                token_paths(value, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| token_paths(v, found)),
        _ => {}
    }
}

fn assert_agent_reads_token_from(spec: &Value, dir: &str) {
    let agents = agents(spec);
    assert!(!agents.is_empty(), "no agent container in {spec}");
    for agent in agents {
        let mut found = Vec::new();
        token_paths(&agent_config(agent), &mut found);
        assert_eq!(found, [format!("{dir}/token")], "{}", agent["name"]);
    }
}

#[test]
fn review_v1_injects_and_mounts_the_pods_token_volume_into_the_agent() {
    let (request, response) = review("review-v1.json");
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(response["kind"], "AdmissionReview");
    assert_eq!(response["response"]["uid"], request["request"]["uid"]);
    assert_eq!(response["response"]["allowed"], true, "{response}");
    assert_eq!(response["response"]["patchType"], "JSONPatch");

    let pod = patched_object(&request, &response);
    assert_eq!(
        pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    assert_eq!(
        pod["spec"]["futurePodField"],
        serde_json::json!({"kept": true})
    );
    let spec = &pod["spec"];
    for agent in agents(spec) {
        let token = ("kube-api-access-7xk2p".to_owned(), TOKEN_DIR.to_owned());
        assert!(mounts(agent).contains(&token), "{agent}");
    }
    assert_agent_reads_token_from(spec, TOKEN_DIR);
    let web = containers(spec, "containers")
        .into_iter()
        .find(|c| c["name"] == "web")
        .unwrap();
    assert!(
        mounts(web).contains(&("vault-secrets".into(), "/vault/secrets".into())),
        "{web}"
    );
}

#[test]
fn review_v1beta1_is_answered_in_v1beta1_with_the_agent_before_the_apps_init_containers() {
    let (request, response) = review("review-v1beta1.json");
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(response["response"]["uid"], request["request"]["uid"]);
    let pod = patched_object(&request, &response);
    let init: Vec<&str> = containers(&pod["spec"], "initContainers")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(init[0].starts_with("vault-agent"), "{init:?}");
    assert_eq!(&init[init.len() - 2..], ["wait-for-queue", "warm-cache"]);
}

#[test]
fn review_reads_stdin_and_prints_exactly_what_it_prints_for_a_file() {
    let path = fixture("review-v1.json");
    let from_file = succeeded(kagi(&["review", "-f", path.to_str().unwrap()], b""));
    let from_stdin = succeeded(kagi(&["review"], &std::fs::read(&path).unwrap()));
    assert_eq!(from_file, from_stdin);
}

#[test]
fn review_refuses_what_is_not_an_admission_review() {
    let output = kagi(&["review"], b"{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AdmissionReview"), "{stderr}");
}

fn inject(file: &str, extra: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let path = fixture(file);
    let input: Vec<Value> =
        serde_saphyr::from_multiple(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut args = vec!["inject", "-f", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = String::from_utf8(succeeded(kagi(&args, b""))).unwrap();
    assert!(
        !out.contains("kube-api-access-kagi"),
        "stand-in token volume leaked:\n{out}"
    );
    (
        input,
        serde_saphyr::from_multiple(&out).expect("inject prints YAML"),
    )
}

fn injected_template(template: &Value) -> &Value {
    assert_eq!(
        template["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"], "injected",
        "{template}"
    );
    &template["spec"]
}

#[test]
fn inject_deployment_keeps_other_documents_and_uses_the_templates_token_volume() {
    let (input, output) = inject("deployment.yaml", &[]);
    assert_eq!(output.len(), 3);
    assert_eq!(output[0], input[0], "ConfigMap changed");
    assert_eq!(output[2], input[2], "Service changed");
    let deployment = &output[1];
    assert_eq!(deployment["spec"]["strategy"], input[1]["spec"]["strategy"]);
    assert_eq!(deployment["spec"]["replicas"], 3);
    let spec = injected_template(&deployment["spec"]["template"]);
    for agent in agents(spec) {
        assert!(
            mounts(agent).contains(&("kube-api-access-7xk2p".into(), TOKEN_DIR.into())),
            "{agent}"
        );
    }
    assert_agent_reads_token_from(spec, TOKEN_DIR);
}

#[test]
fn inject_job_leaves_the_token_mount_to_the_api_server_and_lets_the_job_complete() {
    let (_, output) = inject("job.yaml", &[]);
    let spec = injected_template(&output[0]["spec"]["template"]);
    // pre-populate-only: nothing may outlive the job's own container.
    assert!(
        containers(spec, "containers")
            .iter()
            .all(|c| c["name"] == "migrate"),
        "{spec}"
    );
    for agent in agents(spec) {
        assert_ne!(agent["restartPolicy"], "Always", "{agent}");
        // The API server mounts the token into every container at creation.
        assert!(
            mounts(agent).iter().all(|(_, path)| path != TOKEN_DIR),
            "{agent}"
        );
    }
    assert_agent_reads_token_from(spec, TOKEN_DIR);
    assert!(
        spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["projected"].is_null())
    );
}

#[test]
fn inject_cronjob_mutates_the_job_template_pod() {
    let (input, output) = inject("cronjob.yaml", &[]);
    assert_eq!(output[0]["spec"]["schedule"], input[0]["spec"]["schedule"]);
    let spec = injected_template(&output[0]["spec"]["jobTemplate"]["spec"]["template"]);
    assert_agent_reads_token_from(spec, TOKEN_DIR);
}

#[test]
fn inject_pod_with_init_containers_runs_the_agent_first() {
    let (_, output) = inject("pod-init-containers.yaml", &[]);
    let spec = injected_template(&output[0]);
    let init: Vec<&str> = containers(spec, "initContainers")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(init[0].starts_with("vault-agent"), "{init:?}");
    assert!(
        init.ends_with(&["wait-for-queue", "warm-cache"]),
        "{init:?}"
    );
    for app_init in containers(spec, "initContainers")
        .iter()
        .filter(|c| c["name"] == "warm-cache")
    {
        assert!(mounts(app_init).contains(&("vault-secrets".into(), "/vault/secrets".into())));
    }
}

#[test]
fn inject_pod_without_volumes_gets_only_the_secrets_volume() {
    let (_, output) = inject("pod-no-volumes.yaml", &[]);
    let spec = injected_template(&output[0]);
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(volumes.contains(&"vault-secrets"), "{volumes:?}");
    assert_agent_reads_token_from(spec, TOKEN_DIR);
    let hello = &containers(spec, "containers")[0];
    assert_eq!(
        mounts(hello),
        [("vault-secrets".to_owned(), "/vault/secrets".to_owned())]
    );
}

#[test]
fn inject_twice_changes_nothing_the_second_time() {
    let path = fixture("deployment.yaml");
    let once = succeeded(kagi(&["inject", "-f", path.to_str().unwrap()], b""));
    assert!(
        String::from_utf8_lossy(&once).contains("agent-inject-status"),
        "nothing injected"
    );
    let twice = succeeded(kagi(&["inject"], &once));
    assert_eq!(
        String::from_utf8(twice).unwrap(),
        String::from_utf8(once).unwrap()
    );
}

#[test]
fn inject_into_a_system_namespace_fails_naming_the_pod() {
    let path = fixture("pod-no-volumes.yaml");
    let output = kagi(
        &[
            "inject",
            "-f",
            path.to_str().unwrap(),
            "--namespace",
            "kube-system",
        ],
        b"",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pod/hello") && stderr.contains("kube-system"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing half-written to stdout");
}

#[test]
fn inject_reads_stdin_and_passes_unannotated_pods_through() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
    let out = succeeded(kagi(&["inject"], input.as_bytes()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(std::str::from_utf8(&out).unwrap()).unwrap();
    let expected: Vec<Value> = serde_saphyr::from_multiple(input).unwrap();
    assert_eq!(docs, expected);
}

#[test]
fn annotations_prints_the_table_and_updates_a_readme_in_place() {
    let table = String::from_utf8(succeeded(kagi(&["annotations", "--markdown"], b""))).unwrap();
    assert!(table.contains("| `agent-inject` |"), "{table}");
    assert!(table.contains("`agent-inject-secret-"), "{table}");

    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    let before =
        "# x\n<!-- section:annotations -->\nSTALE-TABLE\n<!-- /section:annotations -->\ntail\n";
    std::fs::write(&readme, before).unwrap();
    succeeded(kagi(
        &["annotations", "--update-readme", readme.to_str().unwrap()],
        b"",
    ));
    let after = std::fs::read_to_string(&readme).unwrap();
    assert!(
        after.contains(&table) && !after.contains("STALE-TABLE") && after.ends_with("tail\n"),
        "{after}"
    );

    std::fs::write(&readme, "# no markers\n").unwrap();
    let output = kagi(
        &["annotations", "--update-readme", readme.to_str().unwrap()],
        b"",
    );
    assert!(!output.status.success());
}

//! The chain as one piece, the way a cluster runs it: annotated pod → `kagi-webhook serve`
//! (real TLS) → JSON patch → kubelet-like pod runner → `kagi-agent` → real OpenBao (and
//! PostgreSQL) → rendered files → the app → shutdown.
//!
//! One OpenBao, PostgreSQL, TokenReview responder and webhook serve every scenario of this
//! binary; each scenario has its own namespace, service account, role and secret paths.

use std::sync::OnceLock;
use std::time::Duration;

use kagi_tests::image::TEST_APP_IMAGE;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{
    PodPhase, PodRunner, RunningPod, admit_and_run, inject_annotations as annotations,
};
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
            "containers": [{ "name": "app", "image": TEST_APP_IMAGE, "args": args }]
        }
    })
}

fn run(env: &Env, ns: &str, manifest: &Value) -> (Admission, RunningPod) {
    run_reaching(env, ns, manifest, &[])
}

/// Runs the pod with OpenBao's and PostgreSQL's ports (and `more`) relayed into its network
/// namespace.
fn run_reaching(env: &Env, ns: &str, manifest: &Value, more: &[u16]) -> (Admission, RunningPod) {
    let runner = PodRunner::new(ns, &env.issuer)
        .host_ports(&[env.bao.port(), env.pg.port()])
        .host_ports(more);
    admit_and_run(&runner, &env.webhook, manifest)
        .unwrap_or_else(|e| panic!("{e:#}\nwebhook log:\n{}", env.webhook.log()))
}

#[test]
fn kv_v2_secret_is_rendered_before_the_app_starts() {
    let env = env();
    let (ns, sa, role) = ("e2e-kv", "web", "e2e-kv");
    setup::put_kv(
        &env.bao,
        "secret/e2e-kv/config",
        &[("password", "kv-pass-1")],
    )
    .unwrap();
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
        &[
            "--require",
            "/vault/secrets/config",
            "--print",
            "/vault/secrets/config",
        ],
        "Always",
    );
    let (admission, pod) = run(env, ns, &manifest);
    assert_eq!(
        admission.object["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    pod.wait_running(WAIT).unwrap();
    let logs = pod
        .wait_log("app", "/config: password=kv-pass-1", WAIT)
        .unwrap();
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

/// A database role `role` (credentials live `ttl`, at most `max_ttl`) that `ns`/`sa` may read,
/// and a pod whose app logs in to PostgreSQL with the URL the agent renders to
/// /vault/secrets/db; `extra_annotations` come first, `extra_args` last.
fn db_pod(
    env: &Env,
    (ns, sa, role): (&str, &str, &str),
    (ttl, max_ttl): (&str, &str),
    extra_annotations: &[(&str, &str)],
    extra_args: &[&str],
) -> Value {
    setup::enable_database(&env.bao, &env.pg, role, ttl, max_ttl).unwrap();
    grant(
        env,
        role,
        ns,
        sa,
        &format!(r#"path "database/creds/{role}" {{ capabilities = ["read"] }}"#),
        &[],
    );
    let secret = format!("database/creds/{role}");
    let template = format!(
        "{{{{ with secret \"database/creds/{role}\" }}}}postgresql://{{{{ .Data.username }}}}:{{{{ .Data.password }}}}@127.0.0.1:{}/postgres?sslmode=disable{{{{ end }}}}",
        env.pg.port()
    );
    let mut extra = extra_annotations.to_vec();
    extra.push(("agent-inject-secret-db", &secret));
    extra.push(("agent-inject-template-db", &template));
    let mut args = vec![
        "--require",
        "/vault/secrets/db",
        "--db-url-file",
        "/vault/secrets/db",
    ];
    args.extend_from_slice(extra_args);
    pod(ns, sa, annotations(role, &extra), &args, "Always")
}

fn db_user(url: &str) -> String {
    url.trim()
        .strip_prefix("postgresql://")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_default()
        .to_string()
}

fn leases_under(env: &Env, prefix: &str) -> Vec<String> {
    env.bao
        .bao_json(&["list", &format!("sys/leases/lookup/{prefix}")])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[test]
fn database_credentials_are_used_renewed_and_reissued_at_max_ttl() {
    let env = env();
    let (ns, sa, role) = ("e2e-db", "web", "e2e-db");
    let manifest = db_pod(env, (ns, sa, role), ("4s", "12s"), &[], &["--watch"]);
    let (_, pod) = run(env, ns, &manifest);
    pod.wait_running(WAIT).unwrap();
    let first = db_user(&pod.read_file("app", "/vault/secrets/db").unwrap());
    pod.wait_log("app", &format!("db-login-ok user={first}"), WAIT)
        .unwrap();
    assert!(env.pg.roles().contains(&first));

    // The lease is renewed before it expires, then re-issued when max TTL is near: the file
    // changes, the app logs in with the new user, and Vault drops the old one at expiry.
    let second = kagi_tests::wait_for("a re-issued database user", WAIT, || {
        let user = db_user(&pod.read_file("app", "/vault/secrets/db").ok()?);
        (!user.is_empty() && user != first).then_some(user)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", pod.describe()));
    pod.wait_log("app", &format!("db-login-ok user={second}"), WAIT)
        .unwrap();
    let renewals = env.bao.requests_matching("sys/leases/renew", |body| {
        body["lease_id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("database/creds/{role}/")))
    });
    assert!(
        !renewals.is_empty(),
        "no renewal of this pod's lease reached OpenBao"
    );
    kagi_tests::wait_for("the old database user to be dropped", WAIT, || {
        (!env.pg.roles().contains(&first)).then_some(())
    })
    .unwrap();
    assert!(env.pg.roles().contains(&second));
    pod.delete();
}

#[test]
fn pki_certificate_is_rendered() {
    let env = env();
    let (ns, sa, role) = ("e2e-pki", "web", "e2e-pki");
    setup::enable_pki(&env.bao, "pki", "e2e-web", "1h").unwrap();
    grant(
        env,
        role,
        ns,
        sa,
        r#"path "pki/issue/e2e-web" { capabilities = ["create", "update"] }"#,
        &[],
    );
    let template = "{{ with secret \"pki/issue/e2e-web\" \"common_name=app.e2e-pki.svc.cluster.local\" \"ttl=10m\" }}{{ .Data.certificate }}\n{{ .Data.private_key }}\n{{ end }}";
    let manifest = pod(
        ns,
        sa,
        annotations(
            role,
            &[
                ("agent-inject-secret-tls.pem", "pki/issue/e2e-web"),
                ("agent-inject-template-tls.pem", template),
            ],
        ),
        &["--require", "/vault/secrets/tls.pem"],
        "Always",
    );
    let (_, pod) = run(env, ns, &manifest);
    pod.wait_running(WAIT).unwrap();
    let pem = pod.read_file("app", "/vault/secrets/tls.pem").unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(pem.contains("PRIVATE KEY-----"));
    pod.delete();
}

#[test]
fn classic_shape_creates_exactly_one_database_user() {
    let env = env();
    let (ns, sa, role) = ("e2e-classic", "web", "e2e-classic");
    let manifest = db_pod(
        env,
        (ns, sa, role),
        ("1h", "2h"),
        &[("agent-native-sidecar", "false")],
        &[],
    );
    let (admission, pod) = run(env, ns, &manifest);
    let spec = &admission.object["spec"];
    assert_eq!(spec["initContainers"][0]["name"], "vault-agent-init");
    assert!(
        spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "vault-agent")
    );
    pod.wait_running(WAIT).unwrap();
    pod.wait_log("app", "db-login-ok user=", WAIT).unwrap();
    // Give the sidecar time to settle (it adopts the init container's lease: no second issue).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        env.bao.count_requests(&format!("database/creds/{role}")),
        1,
        "{}",
        pod.describe()
    );
    assert_eq!(
        leases_under(env, &format!("database/creds/{role}/")).len(),
        1
    );
    pod.delete();
}

#[test]
fn pre_populate_only_job_completes() {
    let env = env();
    let (ns, sa, role) = ("e2e-prepop", "job", "e2e-prepop");
    setup::put_kv(&env.bao, "secret/e2e-prepop/config", &[("token", "abc")]).unwrap();
    grant(
        env,
        role,
        ns,
        sa,
        r#"path "secret/data/e2e-prepop/*" { capabilities = ["read"] }"#,
        &[],
    );
    let manifest = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": { "name": "migrate", "namespace": ns },
        "spec": { "template": {
            "metadata": { "annotations": annotations(role, &[
                ("agent-pre-populate-only", "true"),
                ("agent-inject-secret-config", "secret/data/e2e-prepop/config"),
                ("agent-inject-template-config",
                 "{{ with secret \"secret/data/e2e-prepop/config\" }}token={{ .Data.data.token }}{{ end }}"),
            ]) },
            "spec": {
                "serviceAccountName": sa,
                "restartPolicy": "Never",
                "containers": [{ "name": "app", "image": TEST_APP_IMAGE,
                    "args": ["--require", "/vault/secrets/config", "--print", "/vault/secrets/config", "--exit"] }]
            }
        } }
    });
    let (admission, pod) = run(env, ns, &manifest);
    let containers = admission.object["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "no sidecar in pre-populate-only");
    let status = pod.wait_finished(WAIT).unwrap();
    assert_eq!(status.phase, PodPhase::Succeeded, "{}", pod.describe());
    assert!(pod.logs("app").contains("/config: token=abc"));
    pod.delete();
}

#[test]
fn native_sidecar_job_completes_and_the_agent_stops_after_the_app() {
    let env = env();
    let (ns, sa, role) = ("e2e-job", "job", "e2e-job");
    setup::put_kv(&env.bao, "secret/e2e-job/config", &[("token", "xyz")]).unwrap();
    grant(
        env,
        role,
        ns,
        sa,
        r#"path "secret/data/e2e-job/*" { capabilities = ["read"] }"#,
        &[],
    );
    let manifest = pod(
        ns,
        sa,
        annotations(
            role,
            &[
                ("agent-inject-secret-config", "secret/data/e2e-job/config"),
                (
                    "agent-inject-template-config",
                    "{{ with secret \"secret/data/e2e-job/config\" }}token={{ .Data.data.token }}{{ end }}",
                ),
            ],
        ),
        &["--require", "/vault/secrets/config", "--exit"],
        "Never",
    );
    let (_, pod) = run(env, ns, &manifest);
    let status = pod.wait_finished(WAIT).unwrap();
    assert_eq!(status.phase, PodPhase::Succeeded, "{}", pod.describe());
    let app_exit = status.event_index("exited app code=0").unwrap();
    let agent_term = status.event_index("SIGTERM vault-agent").unwrap();
    assert!(app_exit < agent_term, "{:?}", status.events);
    let agent = status.container("vault-agent").unwrap();
    assert_eq!(agent.exit_codes.last(), Some(&0), "{}", pod.describe());
    assert!(
        !status.events.contains(&"SIGKILL vault-agent".to_string()),
        "the agent must stop on SIGTERM: {}",
        pod.describe()
    );
    pod.delete();
}

#[test]
fn agent_waits_for_an_unreachable_openbao_and_the_app_starts_only_after() {
    let env = env();
    let (ns, sa, role) = ("e2e-outage", "web", "e2e-outage");
    let port = kagi_tests::free_port();
    let address = format!("http://127.0.0.1:{port}");
    let manifest = pod(
        ns,
        sa,
        annotations(
            role,
            &[
                ("service", &address),
                (
                    "agent-inject-secret-config",
                    "secret/data/e2e-outage/config",
                ),
                (
                    "agent-inject-template-config",
                    "{{ with secret \"secret/data/e2e-outage/config\" }}v={{ .Data.data.v }}{{ end }}",
                ),
            ],
        ),
        &[
            "--require",
            "/vault/secrets/config",
            "--print",
            "/vault/secrets/config",
        ],
        "Always",
    );
    let (_, pod) = run_reaching(env, ns, &manifest, &[port]);
    pod.wait_until("the agent to start", WAIT, |s| {
        s.ever_started("vault-agent")
    })
    .unwrap();
    // While OpenBao is down the agent keeps trying; the app is not started.
    std::thread::sleep(Duration::from_secs(3));
    let status = pod.status();
    assert!(!status.ever_started("app"), "{}", pod.describe());

    let bao = OpenBao::start_on(port).expect("OpenBao on the announced port");
    setup::configure_kubernetes_auth(&bao, &env.reviewer, role, ns, sa, &[role]).unwrap();
    setup::write_policy(
        &bao,
        role,
        r#"path "secret/data/e2e-outage/*" { capabilities = ["read"] }"#,
    )
    .unwrap();
    setup::put_kv(&bao, "secret/e2e-outage/config", &[("v", "late")]).unwrap();

    pod.wait_running(WAIT).unwrap();
    let logs = pod.wait_log("app", "/config: v=late", WAIT).unwrap();
    assert!(!logs.contains("missing"));
    pod.delete();
}

#[test]
fn wrong_role_fails_with_the_role_named_and_the_app_never_starts() {
    let env = env();
    let (ns, sa) = ("e2e-wrong", "web");
    let manifest = pod(
        ns,
        sa,
        annotations(
            "no-such-role",
            &[("agent-inject-secret-config", "secret/data/e2e-wrong/config")],
        ),
        &["--require", "/vault/secrets/config"],
        "Always",
    );
    let (_, pod) = run(env, ns, &manifest);
    let logs = pod
        .wait_log("vault-agent", "role \"no-such-role\"", WAIT)
        .unwrap();
    assert!(logs.contains("denied"), "{logs}");
    let status = pod.status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert!(!status.ever_started("app"), "{}", pod.describe());
    let status = pod.delete();
    assert!(!status.ever_started("app"));
}

#[test]
fn revoke_on_shutdown_leaves_no_lease_behind() {
    let env = env();
    let (ns, sa, role) = ("e2e-revoke", "web", "e2e-revoke");
    let manifest = db_pod(
        env,
        (ns, sa, role),
        ("1h", "2h"),
        &[("agent-revoke-on-shutdown", "true")],
        &[],
    );
    let (_, pod) = run(env, ns, &manifest);
    pod.wait_running(WAIT).unwrap();
    let user = db_user(&pod.read_file("app", "/vault/secrets/db").unwrap());
    pod.wait_log("app", &format!("db-login-ok user={user}"), WAIT)
        .unwrap();
    let prefix = format!("database/creds/{role}/");
    assert_eq!(leases_under(env, &prefix).len(), 1);
    let token = pod
        .read_file("vault-agent", "/home/vault/.vault-token")
        .unwrap();
    assert!(env.bao.bao_json(&["token", "lookup", token.trim()]).is_ok());

    let status = pod.delete();
    assert_eq!(
        status.container("vault-agent").unwrap().exit_codes.last(),
        Some(&0),
        "{:?}",
        status.events
    );
    assert!(leases_under(env, &prefix).is_empty(), "lease left behind");
    assert!(!env.pg.roles().contains(&user), "database user left behind");
    assert!(
        env.bao
            .bao_json(&["token", "lookup", token.trim()])
            .is_err(),
        "the agent's token is still valid"
    );
}

#[test]
fn unannotated_pod_comes_back_untouched() {
    let env = env();
    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "plain", "namespace": "e2e-plain",
                      "annotations": { "team": "a" } },
        "spec": { "containers": [{ "name": "app", "image": TEST_APP_IMAGE }] }
    });
    let pod = kagi_tests::pod_runner::service_account_admission(&manifest);
    let admission = env.webhook.admit(&pod, "e2e-plain").unwrap();
    assert!(admission.allowed);
    assert!(admission.patch.0.is_empty(), "{:?}", admission.patch);
    assert_eq!(admission.object, pod);
}

#[test]
fn jwt_auth_logs_in_without_any_token_review() {
    let env = env();
    let (ns, sa, role) = ("e2e-jwt", "web", "e2e-jwt");
    setup::put_kv(&env.bao, "secret/e2e-jwt/config", &[("mode", "jwt")]).unwrap();
    setup::write_policy(
        &env.bao,
        role,
        r#"path "secret/data/e2e-jwt/*" { capabilities = ["read"] }"#,
    )
    .unwrap();
    setup::configure_jwt_auth(
        &env.bao,
        &env.issuer,
        role,
        ns,
        sa,
        kagi_tests::kube::DEFAULT_ISSUER,
        &[role],
    )
    .unwrap();
    let manifest = pod(
        ns,
        sa,
        annotations(
            role,
            &[
                ("auth-type", "jwt"),
                ("auth-path", "auth/jwt"),
                (
                    "auth-config-path",
                    "/var/run/secrets/kubernetes.io/serviceaccount/token",
                ),
                ("agent-inject-secret-config", "secret/data/e2e-jwt/config"),
                (
                    "agent-inject-template-config",
                    "{{ with secret \"secret/data/e2e-jwt/config\" }}mode={{ .Data.data.mode }}{{ end }}",
                ),
            ],
        ),
        &["--require", "/vault/secrets/config"],
        "Always",
    );
    let logins_before = env.bao.count_requests("auth/jwt/login");
    let (_, pod) = run(env, ns, &manifest);
    pod.wait_running(WAIT).unwrap();
    assert_eq!(
        pod.read_file("app", "/vault/secrets/config").unwrap(),
        "mode=jwt"
    );
    assert_eq!(
        env.bao.count_requests("auth/jwt/login"),
        logins_before + 1,
        "{}",
        pod.describe()
    );
    // OpenBao verified the token with the issuer's public key: no TokenReview for this account.
    assert!(
        !env.reviewer
            .reviews()
            .iter()
            .any(|r| r.username.as_deref() == Some("system:serviceaccount:e2e-jwt:web")),
    );
    pod.delete();
}

#[test]
fn invalid_annotation_is_denied_with_a_message_naming_it() {
    let env = env();
    let manifest = pod(
        "e2e-invalid",
        "web",
        annotations("any", &[("agent-native-sidecar", "nope")]),
        &[],
        "Always",
    );
    let pod = kagi_tests::pod_runner::service_account_admission(&manifest);
    let admission = env.webhook.admit(&pod, "e2e-invalid").unwrap();
    assert!(!admission.allowed);
    let message = admission.message.unwrap_or_default();
    assert!(message.contains("agent-native-sidecar"), "{message}");
    assert!(admission.patch.0.is_empty());
}

/// A KV secret at `secret/<ns>/config` that `ns`/`sa` may read through role `ns`, and the
/// annotations (under `prefix`) that render it to /vault/secrets/config.
fn kv_pod_annotations(env: &Env, prefix: &str, ns: &str, sa: &str, password: &str) -> Value {
    setup::put_kv(
        &env.bao,
        &format!("secret/{ns}/config"),
        &[("password", password)],
    )
    .unwrap();
    grant(
        env,
        ns,
        ns,
        sa,
        &format!(r#"path "secret/data/{ns}/*" {{ capabilities = ["read"] }}"#),
        &[],
    );
    json!({
        format!("{prefix}/agent-inject"): "true",
        format!("{prefix}/role"): ns,
        format!("{prefix}/agent-inject-secret-config"): format!("secret/data/{ns}/config"),
        format!("{prefix}/agent-inject-template-config"): format!(
            "{{{{ with secret \"secret/data/{ns}/config\" }}}}password={{{{ .Data.data.password }}}}{{{{ end }}}}"
        ),
    })
}

const PRINT_CONFIG: &[&str] = &[
    "--require",
    "/vault/secrets/config",
    "--print",
    "/vault/secrets/config",
];

#[test]
fn openbao_alias_alone_is_routed_to_the_webhook_and_injected() {
    let env = env();
    let (ns, sa) = ("e2e-alias", "web");
    let annotations = kv_pod_annotations(env, "openbao.org", ns, sa, "alias-pass");
    let manifest = pod(ns, sa, annotations, PRINT_CONFIG, "Always");
    let (admission, pod) = run(env, ns, &manifest);
    assert!(
        !admission.patch.0.is_empty(),
        "the alias pod was not mutated"
    );
    pod.wait_log("app", "/config: password=alias-pass", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", pod.describe()));
    pod.delete();
}

#[test]
fn pod_in_a_namespace_that_did_not_opt_in_is_created_without_the_agent() {
    let env = env();
    let (ns, sa) = ("e2e-no-opt-in", "web");
    let manifest = pod(ns, sa, annotations("any", &[]), &[], "Always");
    let runner = PodRunner::new(ns, &env.issuer).namespace_labels(&[("team", "a")]);
    let (admission, pod) =
        admit_and_run(&runner, &env.webhook, &manifest).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(admission.patch.0.is_empty(), "{:?}", admission.patch);
    assert!(
        admission.object["spec"]["initContainers"].is_null(),
        "{}",
        admission.object
    );
    pod.wait_running(WAIT).unwrap();
    let status = pod.delete();
    assert!(status.container("vault-agent").is_none(), "an agent ran");
}

#[test]
fn restricted_namespace_runs_the_injected_pod_and_refuses_a_noncompliant_app() {
    let env = env();
    let (ns, sa) = ("e2e-restricted", "web");
    let annotations = kv_pod_annotations(env, "vault.hashicorp.com", ns, sa, "restricted-pass");
    let runner = PodRunner::new(ns, &env.issuer)
        .host_ports(&[env.bao.port()])
        .namespace_labels(&[
            ("kagi-injection", "enabled"),
            ("pod-security.kubernetes.io/enforce", "restricted"),
        ]);
    // The app container itself sets nothing: Pod Security refuses the pod, naming the app.
    let mut manifest = pod(ns, sa, annotations, PRINT_CONFIG, "Always");
    match admit_and_run(&runner, &env.webhook, &manifest) {
        Ok(_) => panic!("a pod with a non-compliant app ran in a restricted namespace"),
        Err(e) => {
            let message = format!("{e:#}");
            assert!(message.contains("Pod Security"), "{message}");
            assert!(message.contains("(app)"), "{message}");
            assert!(!message.contains("vault-agent)"), "{message}");
        }
    }
    // With a compliant app, the injected agent passes "restricted" and the secret arrives.
    manifest["spec"]["containers"][0]["securityContext"] = json!({
        "runAsNonRoot": true,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" },
    });
    let (_, pod) = admit_and_run(&runner, &env.webhook, &manifest)
        .unwrap_or_else(|e| panic!("{e:#}\nwebhook log:\n{}", env.webhook.log()));
    pod.wait_log("app", "/config: password=restricted-pass", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", pod.describe()));
    pod.delete();
}

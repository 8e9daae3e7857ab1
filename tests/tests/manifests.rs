//! Everything under deploy/ installs on a real API server: the kustomize base and overlays
//! and the `kagi-webhook inject` output of every example validate against the Kubernetes
//! 1.29 schema and the newest schema `kubernetes-validate` ships (strict: unknown fields are
//! errors), and the pieces that must agree with each other (selectors, names, RBAC) do.
//! deploy/examples/vault-setup.sh is run against a real OpenBao in JWT mode.
//!
//! Needs `kubectl` and the PyPI package `kubernetes-validate`; `make test-deps` installs both.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use kagi_tests::kube::{ServiceAccountIssuer, TokenRequest};
use kagi_tests::manifests::{
    deploy_dir, documents, env_value, find, kagi_certs_default_secret, kubectl, kustomize, validate,
};
use kagi_tests::openbao::OpenBao;
use serde_json::{Value, json};

const VAULT_ADDR: &str = "https://vault.vault.svc:8200";

/// The shape every install shares: a webhook that only sees opted-in, annotated pods, never
/// its own, and a Deployment that runs under the restricted Pod Security Standard.
fn check_common(label: &str, docs: &[Value]) {
    let deployment = find(docs, "Deployment", "kagi-webhook");
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert_eq!(deployment["spec"]["replicas"], 2, "{label}");

    let config = find(docs, "MutatingWebhookConfiguration", "kagi-webhook");
    let webhooks = config["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 1, "{label}");
    let webhook = &webhooks[0];
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["timeoutSeconds"], 10);
    assert_eq!(webhook["reinvocationPolicy"], "Never");
    assert_eq!(webhook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(
        webhook["rules"],
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods"], "scope": "Namespaced"}])
    );
    assert_eq!(
        webhook["namespaceSelector"],
        json!({"matchLabels": {"kagi-injection": "enabled"}})
    );
    // The object selector must really exclude the injector's own pods.
    let exclusion = &webhook["objectSelector"]["matchExpressions"][0];
    assert_eq!(exclusion["operator"], "NotIn");
    let key = exclusion["key"].as_str().unwrap();
    assert!(
        exclusion["values"]
            .as_array()
            .unwrap()
            .contains(&pod_labels[key]),
        "{label}: objectSelector does not exclude the injector pods"
    );
    let condition = webhook["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    assert!(
        condition.contains("'vault.hashicorp.com/agent-inject' in object.metadata.annotations")
    );

    // The webhook reaches the Service, which reaches the container port.
    let target = &webhook["clientConfig"]["service"];
    assert_eq!(target["path"], "/mutate");
    let service = find(docs, "Service", target["name"].as_str().unwrap());
    assert_eq!(service["metadata"]["namespace"], target["namespace"]);
    assert_eq!(service["spec"]["ports"][0]["port"], target["port"]);
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(
            &pod_labels[k], v,
            "{label}: Service selector misses the pods"
        );
    }
    let container = &pod["spec"]["containers"][0];
    assert_eq!(
        container["ports"][0]["name"],
        service["spec"]["ports"][0]["targetPort"]
    );

    // Only the webhook port is admitted, and the policy really selects the injector pods.
    let policy = find(docs, "NetworkPolicy", "kagi-webhook");
    for (k, v) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&pod_labels[k], v, "{label}: NetworkPolicy selects nothing");
    }
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]), "{label}");
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"ports": [{"port": container["ports"][0]["name"], "protocol": "TCP"}]}]),
        "{label}: NetworkPolicy admits more than the webhook port"
    );

    let pdb = find(docs, "PodDisruptionBudget", "kagi-webhook");
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &pod_labels[k], v,
            "{label}: PodDisruptionBudget selects nothing"
        );
    }

    // Restricted Pod Security.
    let security = &container["securityContext"];
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        pod["spec"]["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["path"], "/health/ready",
            "{label} {probe}"
        );
    }
    assert!(container["resources"]["requests"]["memory"].is_string());
}

/// The documents `kubectl kustomize deploy/<dir>` makes, validated and put through
/// [`check_common`] under `label`.
fn built_and_checked(dir: &str, label: &str) -> Vec<Value> {
    let yaml = kustomize(dir);
    validate(dir, &yaml);
    let docs = documents(&yaml);
    check_common(label, &docs);
    docs
}

#[test]
fn base_validates_and_holds_together() {
    let docs = built_and_checked("base", "base");
    // With certificates from a Secret volume the injector needs no API access at all.
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"].as_str().unwrap().contains("Role"))
    );
    let deployment = find(&docs, "Deployment", "kagi-webhook");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
}

#[test]
fn cert_manager_overlay_validates_and_its_certificate_feeds_the_webhook() {
    let docs = built_and_checked("overlays/cert-manager", "cert-manager");

    let config = find(&docs, "MutatingWebhookConfiguration", "kagi-webhook");
    let inject_from = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        .as_str()
        .expect("cert-manager CA injection annotation");
    let (namespace, name) = inject_from.split_once('/').unwrap();
    let certificate = find(&docs, "Certificate", name);
    assert_eq!(certificate["metadata"]["namespace"], namespace);

    // The serving certificate lands in the Secret the Deployment mounts, for every name
    // the API server may use.
    let deployment = find(&docs, "Deployment", "kagi-webhook");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == certificate["spec"]["secretName"])
    );
    let names: Vec<&str> = certificate["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for want in kagi_names() {
        assert!(names.contains(&want.as_str()), "Certificate lacks {want}");
    }
    // Every issuer reference resolves.
    for cert in docs.iter().filter(|d| d["kind"] == "Certificate") {
        let issuer = cert["spec"]["issuerRef"]["name"].as_str().unwrap();
        find(&docs, "Issuer", issuer);
    }
}

fn kagi_names() -> Vec<String> {
    vec![
        "kagi-webhook".into(),
        "kagi-webhook.kagi".into(),
        "kagi-webhook.kagi.svc".into(),
        "kagi-webhook.kagi.svc.cluster.local".into(),
    ]
}

#[test]
fn self_managed_overlay_validates_with_least_privilege_rbac() {
    let docs = built_and_checked("overlays/self-managed", "self-managed");

    let deployment = find(&docs, "Deployment", "kagi-webhook");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let config_name = env_value(container, "AGENT_INJECT_TLS_AUTO").expect("--tls-auto is set");
    find(&docs, "MutatingWebhookConfiguration", config_name);
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert!(
        pod.get("volumes").is_none(),
        "no certificate volume in self-managed mode"
    );

    // Exactly the MWC by name, get/patch only.
    let cluster_role = find(&docs, "ClusterRole", "kagi-webhook-cabundle");
    assert_eq!(
        cluster_role["rules"],
        json!([{"apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["mutatingwebhookconfigurations"],
                "resourceNames": [config_name], "verbs": ["get", "patch"]}])
    );
    // Secrets: create, and get/update of the one CA Secret the controller uses.
    let role = find(&docs, "Role", "kagi-webhook-ca");
    assert_eq!(role["metadata"]["namespace"], "kagi");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"],
             "resourceNames": [kagi_certs_default_secret()], "verbs": ["get", "update"]}
        ])
    );
    let sa = deployment["spec"]["template"]["spec"]["serviceAccountName"].clone();
    for binding in ["RoleBinding", "ClusterRoleBinding"] {
        let b = docs.iter().find(|d| d["kind"] == binding).unwrap();
        assert_eq!(b["subjects"][0]["name"], sa);
        assert_eq!(b["subjects"][0]["namespace"], "kagi");
    }
}

#[test]
fn every_example_injects_and_validates() {
    let webhook = kagi_tests::bins::binary("kagi-webhook").unwrap_or_else(|e| panic!("{e}"));
    let examples = deploy_dir().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "examples missing: {files:?}");
    for file in files {
        let label = file.file_name().unwrap().to_string_lossy().to_string();
        let out = Command::new(&webhook)
            .args(["inject", "--vault-address", VAULT_ADDR, "-f"])
            .arg(&file)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "inject {label} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = String::from_utf8(out.stdout).unwrap();
        validate(&label, &yaml);
        let mut pods = 0;
        for doc in documents(&yaml) {
            let template = match doc["kind"].as_str().unwrap() {
                "Deployment" | "Job" => &doc["spec"]["template"],
                "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"],
                _ => continue,
            };
            pods += 1;
            assert_eq!(
                template["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
                "injected",
                "{label}"
            );
            let agents = template["spec"]["initContainers"].as_array().unwrap();
            assert!(agents.iter().any(|c| c["name"] == "vault-agent"), "{label}");
        }
        assert_eq!(pods, 1, "{label}: one annotated workload per example");
    }
}

#[test]
fn the_mutating_webhook_configuration_validates_on_its_own() {
    let docs = documents(
        &std::fs::read_to_string(deploy_dir().join("base/mutatingwebhookconfiguration.yaml"))
            .unwrap(),
    );
    assert_eq!(docs.len(), 1);
    validate(
        "mutatingwebhookconfiguration",
        &serde_saphyr::to_string(&docs[0]).unwrap(),
    );
}

/// The setup script in JWT mode (the path for external/HCP Vault), against a real OpenBao,
/// with the cluster replaced by a service-account token issuer whose JWKS the script
/// converts to PEM: the example role then logs in and reads exactly what the examples need.
#[test]
fn vault_setup_script_configures_jwt_login_for_the_examples() {
    let bao = OpenBao::start().unwrap_or_else(|e| panic!("{e:#} (run `make test-deps`)"));
    let issuer = ServiceAccountIssuer::new().unwrap();
    let jwks_file = bao.dir().join("jwks.json");
    std::fs::write(&jwks_file, jwks_of(issuer.public_key_pem()).to_string()).unwrap();

    let out = setup_script_jwt(&bao, &issuer, &jwks_file)
        .env_remove("PGHOST")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vault-setup.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let jwt = issuer.token_for(&TokenRequest::new("shop", "orders"));
    let login = bao
        .bao_json(&[
            "write",
            "auth/jwt/login",
            "role=orders",
            &format!("jwt={jwt}"),
        ])
        .expect("the example service account logs in");
    let token = login["auth"]["client_token"].as_str().unwrap();
    let config = bao
        .bao_json_as(token, &["kv", "get", "-mount=secret", "orders/config"])
        .unwrap();
    assert!(config["data"]["data"]["payment_api_key"].is_string());
    let cert = bao
        .bao_json_as(
            token,
            &[
                "write",
                "pki/issue/orders",
                "common_name=orders.shop.svc",
                "ttl=1h",
            ],
        )
        .unwrap();
    assert!(
        cert["data"]["certificate"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    // Least privilege: nothing beyond what the examples read.
    assert!(
        bao.bao_json_as(token, &["kv", "get", "-mount=secret", "other/config"])
            .is_err()
    );
    assert!(
        bao.bao_json_as(
            token,
            &["write", "pki/issue/orders", "common_name=evil.example.com"]
        )
        .is_err()
    );
    // Another service account is refused.
    let stranger = issuer.token_for(&TokenRequest::new("shop", "intruder"));
    assert!(
        bao.bao_json(&[
            "write",
            "auth/jwt/login",
            "role=orders",
            &format!("jwt={stranger}")
        ])
        .is_err()
    );
    // Running it again changes nothing that matters (idempotent).
    let again = setup_script_jwt(&bao, &issuer, &jwks_file)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// `vault-setup.sh jwt` against `bao`, trusting `issuer` through its JWKS in `jwks_file`.
fn setup_script_jwt(bao: &OpenBao, issuer: &ServiceAccountIssuer, jwks_file: &Path) -> Command {
    let mut script = Command::new("bash");
    script
        .arg(deploy_dir().join("examples/vault-setup.sh"))
        .arg("jwt")
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.root_token())
        .env("VAULT_CLI", bao.bin())
        .env("JWT_ISSUER", issuer.issuer())
        .env(
            "JWT_AUDIENCE",
            "https://kubernetes.default.svc.cluster.local",
        )
        .env("JWKS_FILE", jwks_file);
    script
}

/// The JWKS a cluster would publish at /openid/v1/jwks for a P-256 SubjectPublicKeyInfo PEM.
fn jwks_of(spki_pem: &str) -> Value {
    let b64: String = spki_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    // An uncompressed P-256 point ends the SPKI: 0x04 || x (32 bytes) || y (32 bytes).
    let point = &der[der.len() - 64..];
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "test",
        "x": url.encode(&point[..32]), "y": url.encode(&point[32..]),
    }]})
}

/// The README's bring-your-own-certificate path: `gen-certs` output becomes the Secret the
/// base Deployment mounts, and a valid one.
#[test]
fn gen_certs_output_makes_the_secret_the_base_mounts() {
    use std::os::unix::fs::PermissionsExt;

    let webhook = kagi_tests::bins::binary("kagi-webhook").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let run = Command::new(&webhook)
        .args([
            "gen-certs",
            "--service",
            "kagi-webhook",
            "--namespace",
            "kagi",
            "--days",
            "30",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let key_mode = std::fs::metadata(out.join("tls.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    assert!(
        std::fs::read_to_string(out.join("ca.crt"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    let base = documents(&kustomize("base"));
    let deployment = find(&base, "Deployment", "kagi-webhook");
    let secret_name = deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]
        .as_str()
        .unwrap();
    let secret = Command::new(kubectl())
        .args([
            "create",
            "secret",
            "tls",
            secret_name,
            "-n",
            "kagi",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .arg(format!("--cert={}", out.join("tls.crt").display()))
        .arg(format!("--key={}", out.join("tls.key").display()))
        .output()
        .unwrap();
    assert!(
        secret.status.success(),
        "{}",
        String::from_utf8_lossy(&secret.stderr)
    );
    validate("byo-secret", &String::from_utf8(secret.stdout).unwrap());
}

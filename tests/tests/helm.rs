//! The Helm chart `deploy/helm/kagi`, rendered and linted by Helm's own Go SDK (PyPI
//! `helm-python-sdk`): it lints clean, every TLS mode makes objects valid on Kubernetes 1.29
//! and the newest schema, a real-world vault-helm values file means what it meant there
//! (down to the pods `kagi-webhook inject` makes from the rendered environment), the chart
//! installs what the kustomize base does, and the schema names the key of a bad value.
//!
//! Needs `helm-python-sdk`, `kubernetes-validate` and `kubectl`; `make test-deps` installs them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use kagi_tests::helm::{self, Rendered, Values};
use kagi_tests::manifests::{
    CRD_GROUP, documents, find, kagi_certs_default_secret, kustomize, validate,
};
use serde_json::{Value, json};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vault-helm-values.yaml")
}

/// The fixture as data, to compare what the chart made against what the file says.
fn fixture_values() -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap()
}

fn rendered(values: &Values, release: &str, namespace: &str) -> Rendered {
    helm::render(values, release, namespace)
        .unwrap_or_else(|e| panic!("helm could not render the chart: {e}"))
}

/// Values selecting a TLS mode (secret mode with the caBundle it needs).
fn mode_values(mode: &str) -> Value {
    match mode {
        "secret" => json!({"kagi": {"tls": {"mode": "secret"}},
                           "injector": {"certs": {"caBundle": "Q0EgYnVuZGxl"}}}),
        _ => json!({"kagi": {"tls": {"mode": mode}}}),
    }
}

const MODES: [&str; 3] = ["self-managed", "cert-manager", "secret"];

fn one_of<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut matching = objects.iter().filter(|o| o["kind"] == kind);
    let first = matching.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(matching.next().is_none(), "more than one {kind}");
    first
}

fn webhook_container(objects: &[Value]) -> &Value {
    &one_of(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

/// The literal environment of a container; a later entry wins, as in a pod.
fn env_map(container: &Value) -> BTreeMap<String, String> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn chart_lints_clean_with_defaults_every_tls_mode_and_a_vault_helm_file() {
    let mut cases: Vec<(String, Values)> = vec![("defaults".into(), Values::default())];
    for m in MODES {
        cases.push((m.into(), Values::json(mode_values(m))));
    }
    cases.push(("vault-helm file".into(), Values::file(fixture(), json!({}))));
    for (label, values) in cases {
        let report = helm::lint(&values);
        assert_eq!(report["errors"], json!([]), "{label}: {report:#}");
        let findings: Vec<&Value> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_i64().unwrap() >= 2)
            .collect();
        assert!(findings.is_empty(), "{label}: {findings:#?}");
        assert_eq!(report["total_charts_linted"], 1, "{label}");
    }
}

#[test]
fn every_tls_mode_renders_objects_valid_on_kubernetes_1_29_and_the_newest() {
    for m in MODES {
        let chart = rendered(&Values::json(mode_values(m)), "kagi", "kagi");
        validate(&format!("helm-{m}"), &chart.yaml);
        let objects = &chart.objects;
        let pod = &one_of(objects, "Deployment")["spec"]["template"]["spec"];
        let container = webhook_container(objects);
        let env = env_map(container);
        let config = one_of(objects, "MutatingWebhookConfiguration");
        let has_rbac = objects
            .iter()
            .any(|o| o["kind"].as_str().unwrap().contains("Role"));
        assert_eq!(
            has_rbac,
            m == "self-managed",
            "{m}: RBAC only for --tls-auto"
        );
        assert_eq!(
            pod["automountServiceAccountToken"],
            m == "self-managed",
            "{m}"
        );
        assert_eq!(
            one_of(objects, "ServiceAccount")["automountServiceAccountToken"],
            m == "self-managed",
            "{m}"
        );
        let service = one_of(objects, "Service");
        let service_name = service["metadata"]["name"].as_str().unwrap();
        let namespace = service["metadata"]["namespace"].as_str().unwrap();
        match m {
            "self-managed" => {
                let config_name = config["metadata"]["name"].as_str().unwrap();
                assert_eq!(env["AGENT_INJECT_TLS_AUTO"], config_name);
                assert!(pod.get("volumes").is_none());
                assert_eq!(
                    one_of(objects, "ClusterRole")["rules"][0]["resourceNames"],
                    json!([config_name])
                );
                assert_eq!(
                    one_of(objects, "Role")["rules"][1]["resourceNames"],
                    json!([kagi_certs_default_secret()])
                );
                let sa = &pod["serviceAccountName"];
                for binding in ["RoleBinding", "ClusterRoleBinding"] {
                    let subject = &one_of(objects, binding)["subjects"][0];
                    assert_eq!(&subject["name"], sa, "{binding}");
                    assert_eq!(subject["namespace"], namespace, "{binding}");
                }
                let hosts = env["AGENT_INJECT_TLS_AUTO_HOSTS"].replace("$(NAMESPACE)", namespace);
                for name in service_names(service_name, namespace) {
                    assert!(hosts.split(',').any(|h| h == name), "{hosts} lacks {name}");
                }
            }
            "cert-manager" => {
                let inject_from =
                    config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
                        .as_str()
                        .expect("cert-manager CA injection annotation");
                let (ca_namespace, name) = inject_from.split_once('/').unwrap();
                let certificate = find(objects, "Certificate", name);
                assert_eq!(certificate["metadata"]["namespace"], ca_namespace);
                assert_eq!(
                    pod["volumes"][0]["secret"]["secretName"],
                    certificate["spec"]["secretName"]
                );
                let names = certificate["spec"]["dnsNames"].as_array().unwrap();
                for name in service_names(service_name, namespace) {
                    assert!(names.contains(&json!(name)), "Certificate lacks {name}");
                }
                for cert in objects.iter().filter(|o| o["kind"] == "Certificate") {
                    let issuer = cert["spec"]["issuerRef"]["name"].as_str().unwrap();
                    find(objects, "Issuer", issuer);
                }
                assert!(
                    config["webhooks"][0]["clientConfig"]
                        .get("caBundle")
                        .is_none()
                );
            }
            _ => {
                assert_eq!(
                    config["webhooks"][0]["clientConfig"]["caBundle"],
                    "Q0EgYnVuZGxl"
                );
                assert!(
                    !objects
                        .iter()
                        .any(|o| o["apiVersion"].as_str().unwrap().starts_with(CRD_GROUP))
                );
                assert_eq!(env["AGENT_INJECT_TLS_CERT_FILE"], "/etc/kagi/tls/tls.crt");
            }
        }
        if m != "self-managed" {
            assert_eq!(container["volumeMounts"][0]["mountPath"], "/etc/kagi/tls");
            assert_eq!(pod["volumes"][0]["secret"]["defaultMode"], 0o440);
        }
    }
    let vault_helm = rendered(&Values::file(fixture(), json!({})), "vault", "vault");
    validate("helm-vault-helm-values", &vault_helm.yaml);
}

fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Each key of a vault-helm values file, checked where vault-helm puts its meaning (the
/// `AGENT_INJECT_*` variable, flag or object field), against the value in the file.
#[test]
fn a_vault_helm_values_file_means_what_it_meant_in_vault_helm() {
    let file = fixture_values();
    let inj = &file["injector"];
    let chart = rendered(&Values::file(fixture(), json!({})), "vault", "vault");
    let objects = &chart.objects;
    let deployment = one_of(objects, "Deployment");
    let template = &deployment["spec"]["template"];
    let pod = &template["spec"];
    let container = webhook_container(objects);
    let env = env_map(container);
    let webhook = &one_of(objects, "MutatingWebhookConfiguration")["webhooks"][0];
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let mut checked = Vec::new();
    let mut check = |key: &str, actual: Value, expected: Value| {
        assert_eq!(actual, expected, "{key}");
        checked.push(key.to_owned());
    };

    check(
        "global.externalVaultAddr",
        json!(env["AGENT_INJECT_VAULT_ADDR"]),
        file["global"]["externalVaultAddr"].clone(),
    );
    let pull_secrets: Vec<Value> = file["global"]["imagePullSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"name": p.get("name").unwrap_or(p)}))
        .collect();
    check(
        "global.imagePullSecrets",
        pod["imagePullSecrets"].clone(),
        json!(pull_secrets),
    );
    check(
        "injector.replicas",
        deployment["spec"]["replicas"].clone(),
        inj["replicas"].clone(),
    );
    check(
        "injector.port",
        json!([
            env["AGENT_INJECT_LISTEN"],
            container["ports"][0]["containerPort"]
        ]),
        json!([format!(":{}", inj["port"]), inj["port"]]),
    );
    check(
        "injector.image.repository+tag",
        container["image"].clone(),
        json!(format!(
            "{}:{}",
            s(&inj["image"]["repository"]),
            s(&inj["image"]["tag"])
        )),
    );
    check(
        "injector.image.pullPolicy",
        container["imagePullPolicy"].clone(),
        inj["image"]["pullPolicy"].clone(),
    );
    check(
        "injector.agentImage.repository+tag",
        json!(env["AGENT_INJECT_VAULT_IMAGE"]),
        json!(format!(
            "{}:{}",
            s(&inj["agentImage"]["repository"]),
            s(&inj["agentImage"]["tag"])
        )),
    );
    // Where vault-helm's injector Deployment puts each value: the same variable here.
    for (key, var) in [
        ("agentDefaults.cpuLimit", "AGENT_INJECT_CPU_LIMIT"),
        ("agentDefaults.cpuRequest", "AGENT_INJECT_CPU_REQUEST"),
        ("agentDefaults.memLimit", "AGENT_INJECT_MEM_LIMIT"),
        ("agentDefaults.memRequest", "AGENT_INJECT_MEM_REQUEST"),
        (
            "agentDefaults.ephemeralLimit",
            "AGENT_INJECT_EPHEMERAL_LIMIT",
        ),
        (
            "agentDefaults.ephemeralRequest",
            "AGENT_INJECT_EPHEMERAL_REQUEST",
        ),
        ("agentDefaults.template", "AGENT_INJECT_DEFAULT_TEMPLATE"),
        (
            "agentDefaults.templateConfig.exitOnRetryFailure",
            "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE",
        ),
        (
            "agentDefaults.templateConfig.staticSecretRenderInterval",
            "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL",
        ),
        ("authPath", "AGENT_INJECT_VAULT_AUTH_PATH"),
        ("logLevel", "AGENT_INJECT_LOG_LEVEL"),
        ("logFormat", "AGENT_INJECT_LOG_FORMAT"),
        ("revokeOnShutdown", "AGENT_INJECT_REVOKE_ON_SHUTDOWN"),
    ] {
        let value = key.split('.').fold(inj, |v, part| &v[part]);
        // Booleans become the strings "true" / "false".
        let expected = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        check(&format!("injector.{key}"), json!(env[var]), json!(expected));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let mut numbers = container[probe].clone();
        numbers.as_object_mut().unwrap().remove("httpGet");
        check(&format!("injector.{probe}"), numbers, inj[probe].clone());
    }
    let metrics = &template["metadata"]["annotations"];
    check(
        "injector.metrics.enabled",
        json!([
            metrics["prometheus.io/scrape"],
            metrics["prometheus.io/port"],
            metrics["prometheus.io/path"]
        ]),
        json!(["true", inj["port"].to_string(), "/metrics"]),
    );

    let hook = &inj["webhook"];
    for key in [
        "failurePolicy",
        "matchPolicy",
        "timeoutSeconds",
        "namespaceSelector",
    ] {
        check(
            &format!("injector.webhook.{key}"),
            webhook[key].clone(),
            hook[key].clone(),
        );
    }
    // A templated string, rendered with the chart's own name.
    let selector: Value = serde_saphyr::from_str(
        &s(&hook["objectSelector"]).replace("{{ template \"vault.name\" . }}", "kagi-webhook"),
    )
    .unwrap();
    check(
        "injector.webhook.objectSelector",
        webhook["objectSelector"].clone(),
        selector,
    );
    check(
        "injector.webhook.annotations",
        one_of(objects, "MutatingWebhookConfiguration")["metadata"]["annotations"].clone(),
        hook["annotations"].clone(),
    );

    let certs = &inj["certs"];
    check(
        "injector.certs.secretName",
        pod["volumes"][0]["secret"]["secretName"].clone(),
        certs["secretName"].clone(),
    );
    check(
        "injector.certs.caBundle",
        webhook["clientConfig"]["caBundle"].clone(),
        certs["caBundle"].clone(),
    );
    check(
        "injector.certs.certName",
        json!(env["AGENT_INJECT_TLS_CERT_FILE"]),
        json!(format!("/etc/kagi/tls/{}", s(&certs["certName"]))),
    );
    check(
        "injector.certs.keyName",
        json!(env["AGENT_INJECT_TLS_KEY_FILE"]),
        json!(format!("/etc/kagi/tls/{}", s(&certs["keyName"]))),
    );

    check(
        "injector.securityContext.pod",
        pod["securityContext"].clone(),
        inj["securityContext"]["pod"].clone(),
    );
    check(
        "injector.securityContext.container",
        container["securityContext"].clone(),
        inj["securityContext"]["container"].clone(),
    );
    check(
        "injector.resources",
        container["resources"].clone(),
        inj["resources"].clone(),
    );
    // vault-helm's naming: upper case, dots to underscores.
    for (name, value) in inj["extraEnvironmentVars"].as_object().unwrap() {
        let var = name.replace('.', "_").to_uppercase();
        check(
            &format!("injector.extraEnvironmentVars.{name}"),
            json!(env[&var]),
            value.clone(),
        );
    }
    let affinity: Value =
        serde_saphyr::from_str(&s(&inj["affinity"]).replace("{{ .Release.Name }}", "vault"))
            .unwrap();
    check("injector.affinity", pod["affinity"].clone(), affinity);
    for (key, field) in [
        ("topologySpreadConstraints", "topologySpreadConstraints"),
        ("tolerations", "tolerations"),
        ("nodeSelector", "nodeSelector"),
        ("priorityClassName", "priorityClassName"),
    ] {
        check(
            &format!("injector.{key}"),
            pod[field].clone(),
            inj[key].clone(),
        );
    }
    check(
        "injector.annotations",
        json!(metrics["corp.example.com/team"]),
        inj["annotations"]["corp.example.com/team"].clone(),
    );
    check(
        "injector.extraLabels",
        template["metadata"]["labels"]["corp.example.com/cost-center"].clone(),
        inj["extraLabels"]["corp.example.com/cost-center"].clone(),
    );
    check(
        "injector.hostNetwork",
        json!(pod.get("hostNetwork").is_some_and(|h| h == true)),
        inj["hostNetwork"].clone(),
    );
    check(
        "injector.service.annotations",
        one_of(objects, "Service")["metadata"]["annotations"].clone(),
        inj["service"]["annotations"].clone(),
    );
    check(
        "injector.serviceAccount.annotations",
        one_of(objects, "ServiceAccount")["metadata"]["annotations"].clone(),
        inj["serviceAccount"]["annotations"].clone(),
    );
    let mut budget = one_of(objects, "PodDisruptionBudget")["spec"].clone();
    budget.as_object_mut().unwrap().remove("selector");
    check(
        "injector.podDisruptionBudget",
        budget,
        inj["podDisruptionBudget"].clone(),
    );
    check(
        "injector.strategy",
        deployment["spec"]["strategy"].clone(),
        inj["strategy"].clone(),
    );
    // The flavor follows the image: a stock Vault image gets vault-k8s's start command.
    assert_eq!(env["AGENT_INJECT_AGENT_FLAVOR"], "vault");

    // What the fixture cannot show at once: the deprecated spellings, the injector-level
    // address, OpenShift and the namespace override.
    let older = rendered(
        &Values::json(json!({
            "global": {"openshift": true, "namespace": "secrets"},
            "injector": {
                "externalVaultAddr": "http://vault.legacy:8200",
                "failurePolicy": "Ignore",
                "namespaceSelector": {"matchLabels": {"team": "a"}},
                "objectSelector": {"matchLabels": {"inject": "yes"}},
                "webhookAnnotations": {"owner": "legacy"},
            }
        })),
        "kagi",
        "kagi",
    );
    let older_webhook = &one_of(&older.objects, "MutatingWebhookConfiguration")["webhooks"][0];
    let older_env = env_map(webhook_container(&older.objects));
    check(
        "injector.externalVaultAddr",
        json!(older_env["AGENT_INJECT_VAULT_ADDR"]),
        json!("http://vault.legacy:8200"),
    );
    check(
        "injector.failurePolicy",
        older_webhook["failurePolicy"].clone(),
        json!("Ignore"),
    );
    check(
        "injector.namespaceSelector",
        older_webhook["namespaceSelector"].clone(),
        json!({"matchLabels": {"team": "a"}}),
    );
    check(
        "injector.objectSelector",
        older_webhook["objectSelector"].clone(),
        json!({"matchLabels": {"inject": "yes"}}),
    );
    check(
        "injector.webhookAnnotations",
        one_of(&older.objects, "MutatingWebhookConfiguration")["metadata"]["annotations"].clone(),
        json!({"owner": "legacy"}),
    );
    let older_pod = &one_of(&older.objects, "Deployment")["spec"]["template"]["spec"];
    check(
        "global.openshift",
        json!([
            older_env.get("AGENT_INJECT_SET_SECURITY_CONTEXT"),
            older_pod["securityContext"].get("runAsUser")
        ]),
        json!(["false", null]),
    );
    let ids = rendered(
        &Values::json(json!({"injector": {"uid": 1234, "gid": 5678}})),
        "kagi",
        "kagi",
    );
    let ids_context =
        &one_of(&ids.objects, "Deployment")["spec"]["template"]["spec"]["securityContext"];
    check(
        "injector.uid+gid",
        json!([
            ids_context["runAsUser"],
            ids_context["runAsGroup"],
            ids_context["fsGroup"]
        ]),
        json!([1234, 5678, 5678]),
    );
    let namespaces: Vec<&Value> = older
        .objects
        .iter()
        .filter_map(|o| o["metadata"].get("namespace"))
        .collect();
    assert!(!namespaces.is_empty());
    check(
        "global.namespace",
        json!(namespaces.iter().all(|n| *n == "secrets")),
        json!(true),
    );
    eprintln!(
        "{} vault-helm keys checked: {}",
        checked.len(),
        checked.join(", ")
    );
}

/// The rendered Deployment's environment, given to `kagi-webhook inject`, makes the agents
/// vault-helm's values ask for; with the chart's defaults it makes exactly what the webhook's
/// own defaults make.
#[test]
fn the_rendered_environment_drives_kagi_webhook_inject() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "web",
            "vault.hashicorp.com/agent-inject-secret-config": "secret/data/web/config"}},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]}
    });

    let file = fixture_values();
    let defaults = &file["injector"]["agentDefaults"];
    let chart = rendered(&Values::file(fixture(), json!({})), "vault", "vault");
    let env = env_map(webhook_container(&chart.objects));
    let injected = inject(&pod, &env, &[]);
    let agent = only_agent(&injected);
    assert_eq!(agent["image"], env["AGENT_INJECT_VAULT_IMAGE"]);
    assert_eq!(
        agent["resources"],
        json!({
            "requests": {"cpu": defaults["cpuRequest"], "memory": defaults["memRequest"],
                         "ephemeral-storage": defaults["ephemeralRequest"]},
            "limits": {"cpu": defaults["cpuLimit"], "memory": defaults["memLimit"],
                       "ephemeral-storage": defaults["ephemeralLimit"]},
        })
    );
    // A stock Vault image, started the way vault-k8s starts it.
    assert_eq!(agent["command"], json!(["/bin/sh", "-ec"]));
    // revokeOnShutdown: the agent revokes its token before it stops.
    let pre_stop = agent["lifecycle"]["preStop"]["exec"]["command"].to_string();
    assert!(pre_stop.contains("token revoke"), "{pre_stop}");
    let config = agent_config(agent);
    assert_eq!(
        config["vault"]["address"],
        file["global"]["externalVaultAddr"]
    );
    let method = &config["auto_auth"]["method"];
    assert_eq!(method["mount_path"], file["injector"]["authPath"]);
    assert_eq!(
        method["namespace"],
        file["injector"]["extraEnvironmentVars"]["AGENT_INJECT_VAULT_NAMESPACE"]
    );
    // The file's 90s, in the canonical Go form the webhook writes.
    assert_eq!(
        config["template_config"],
        json!({"exit_on_retry_failure": false, "static_secret_render_interval": "1m30s"})
    );
    // template: json renders the secret as JSON.
    let contents = config["template"][0]["contents"].as_str().unwrap();
    assert!(contents.contains("toJSON"), "{contents}");
    let agent_env = env_map(agent);
    assert_eq!(
        agent_env["HTTPS_PROXY"],
        file["injector"]["extraEnvironmentVars"]["agent_inject.proxy_addr"]
    );

    // Defaults: kagi's agent image and requests, the same pod the webhook's built-in
    // defaults give (so values.yaml cannot drift from the binary).
    let chart = rendered(&Values::default(), "kagi", "kagi");
    let env = env_map(webhook_container(&chart.objects));
    let injected = inject(&pod, &env, &[]);
    let agent = only_agent(&injected);
    assert_eq!(agent["image"], "kagi-agent:0.1.0");
    assert_eq!(
        agent["resources"],
        json!({"requests": {"cpu": "10m", "memory": "16Mi"},
               "limits": {"cpu": "100m", "memory": "64Mi"}})
    );
    let built_in = inject(
        &pod,
        &BTreeMap::new(),
        &["--vault-address", &env["AGENT_INJECT_VAULT_ADDR"]],
    );
    assert_eq!(
        injected, built_in,
        "the chart's defaults differ from the webhook's"
    );
}

/// `kagi-webhook inject` on `pod` with exactly `env` (nothing from the test's environment).
fn inject(pod: &Value, env: &BTreeMap<String, String>, args: &[&str]) -> Value {
    let webhook = kagi_tests::bins::binary("kagi-webhook").unwrap_or_else(|e| panic!("{e}"));
    let out = kagi_tests::procs::output_with_stdin(
        Command::new(&webhook)
            .arg("inject")
            .args(args)
            .env_clear()
            .envs(env),
        pod.to_string().as_bytes(),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "inject failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut docs = documents(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn only_agent(pod: &Value) -> &Value {
    let agents: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|list| pod["spec"][list].as_array())
        .flatten()
        .filter(|c| c["name"].as_str().unwrap().starts_with("vault-agent"))
        .collect();
    assert_eq!(agents.len(), 1, "one native sidecar: {pod:#}");
    agents[0]
}

fn agent_config(agent: &Value) -> Value {
    let encoded = &env_map(agent)["VAULT_CONFIG"];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn the_schema_rejects_bad_values_naming_the_key() {
    for (values, key, says) in [
        (
            json!({"kagi": {"tls": {"mode": "acme"}}}),
            "/kagi/tls/mode",
            "self-managed",
        ),
        (
            json!({"injector": {"replicas": "two"}}),
            "/injector/replicas",
            "integer",
        ),
        (
            json!({"injector": {"revokeOnShutdown": "yes"}}),
            "/injector/revokeOnShutdown",
            "boolean",
        ),
        (
            json!({"injector": {"agentDefaults": {"memLimit": "lots"}}}),
            "/injector/agentDefaults/memLimit",
            "lots",
        ),
        (
            json!({"injector": {"webhook": {"failurePolicy": "Sometimes"}}}),
            "/injector/webhook/failurePolicy",
            "Ignore",
        ),
        (
            json!({"injector": {"logFormat": "xml"}}),
            "/injector/logFormat",
            "json",
        ),
        (
            json!({"injector": {"replica": 3}}),
            "/injector",
            "'replica'",
        ),
    ] {
        let error = helm::render(&Values::json(values.clone()), "kagi", "kagi")
            .expect_err(&format!("{values} was accepted"));
        assert!(
            error.contains(&format!("'{key}'")) && error.contains(says),
            "{values}: {error}"
        );
    }
}

/// NOTES.txt says what to do next, and names exactly the vault-helm values the file set that
/// the chart has no use for: the file's keys with no place in the chart's values.yaml.
#[test]
fn notes_give_the_next_step_and_name_the_ignored_vault_helm_values() {
    let defaults = rendered(&Values::default(), "kagi", "kagi");
    for step in [
        "kubectl label namespace my-app kagi-injection=enabled",
        "vault.hashicorp.com/agent-inject: \"true\"",
    ] {
        assert!(defaults.notes.contains(step), "{}", defaults.notes);
    }
    assert!(!defaults.notes.contains("Ignored"), "{}", defaults.notes);

    let chart_values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(helm::chart_dir().join("values.yaml")).unwrap(),
    )
    .unwrap();
    let file = fixture_values();
    let mut unused = Vec::new();
    for (key, value) in file.as_object().unwrap() {
        match chart_values.get(key) {
            None => unused.push(key.clone()),
            Some(_) => {
                for inner in value.as_object().unwrap().keys() {
                    if chart_values[key].get(inner).is_none() {
                        unused.push(format!("{key}.{inner}"));
                    }
                }
            }
        }
    }
    assert!(unused.len() >= 5, "{unused:?}");
    let notes = rendered(&Values::file(fixture(), json!({})), "vault", "vault").notes;
    let listed: Vec<String> = notes
        .split_once("Ignored vault-helm values")
        .unwrap_or_else(|| panic!("{notes}"))
        .1
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_owned()))
        .collect();
    unused.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, unused, "{notes}");
}

/// `kagi-webhook serve`'s settings, each as (flag, env var, default), from its own help.
fn serve_settings() -> Vec<(String, String, String)> {
    let webhook = kagi_tests::bins::binary("kagi-webhook").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(webhook)
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut settings: Vec<(String, String, String)> = Vec::new();
    for line in help.lines().map(str::trim) {
        if let Some(flag) = line.strip_prefix("--") {
            let end = flag.find([' ', '[', '=', '<']).unwrap_or(flag.len());
            settings.push((flag[..end].to_owned(), String::new(), String::new()));
        } else if let (Some(env), Some(last)) = (line.strip_prefix("[env: "), settings.last_mut()) {
            last.1 = env.trim_end_matches(']').trim_end_matches('=').to_owned();
        } else if let (Some(default), Some(last)) =
            (line.strip_prefix("[default: "), settings.last_mut())
        {
            last.2 = default.trim_end_matches(']').trim_matches('"').to_owned();
        }
    }
    settings.retain(|(_, env, _)| !env.is_empty());
    assert!(settings.len() > 20, "{help}");
    settings
}

/// The settings a webhook container runs with: defaults, then flags, then `AGENT_INJECT_*`
/// variables. Env and args are taken out of `container`; a variable `serve` does not know
/// fails the test (it would silently do nothing).
fn effective_settings(
    container: &mut Value,
    settings: &[(String, String, String)],
) -> BTreeMap<String, String> {
    let mut effective: BTreeMap<String, String> = settings
        .iter()
        .map(|(_, env, default)| (env.clone(), default.clone()))
        .collect();
    let args = container.as_object_mut().unwrap().remove("args").unwrap();
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    for arg in &args[1..] {
        let (flag, value) = arg.trim_start_matches("--").split_once('=').unwrap();
        let env = &settings
            .iter()
            .find(|(f, _, _)| f == flag)
            .unwrap_or_else(|| panic!("serve has no --{flag}"))
            .1;
        effective.insert(env.clone(), value.to_owned());
    }
    let env = container["env"].as_array_mut().unwrap();
    env.retain(|e| {
        let name = e["name"].as_str().unwrap();
        let Some(value) = e["value"].as_str() else {
            return true;
        };
        assert!(
            settings.iter().any(|(_, var, _)| var == name),
            "{name} is not a variable of kagi-webhook serve"
        );
        effective.insert(name.to_owned(), value.to_owned());
        false
    });
    effective
}

/// Kubernetes' probe defaults, so a field left out equals the same field spelled out.
fn with_probe_defaults(container: &mut Value) {
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        if let Some(p) = container.get_mut(probe).and_then(Value::as_object_mut) {
            for (field, default) in [
                ("initialDelaySeconds", 0),
                ("periodSeconds", 10),
                ("timeoutSeconds", 1),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                p.entry(field).or_insert(json!(default));
            }
        }
    }
}

/// Label maps and selectors: the chart adds `app.kubernetes.io/instance` and Helm's labels.
/// Where the base has a label map, the chart's must hold every one of its labels; it is then
/// replaced by the base's, so only the rest is compared.
fn align_labels(base: &Value, chart: &mut Value, path: &str) {
    match (base, chart) {
        (Value::Object(b), Value::Object(c)) => {
            for (key, bv) in b {
                let Some(cv) = c.get_mut(key) else { continue };
                let is_label_map = matches!(key.as_str(), "labels" | "matchLabels" | "selector")
                    && bv
                        .as_object()
                        .is_some_and(|m| m.values().all(Value::is_string));
                if is_label_map {
                    for (label, value) in bv.as_object().unwrap() {
                        assert_eq!(cv.get(label), Some(value), "{path}/{key}: label {label}");
                    }
                    *cv = bv.clone();
                } else {
                    align_labels(bv, cv, &format!("{path}/{key}"));
                }
            }
            // Labels the chart adds where the base has none.
            if !b.contains_key("labels") {
                c.remove("labels");
            }
        }
        (Value::Array(b), Value::Array(c)) if b.len() == c.len() => {
            for (i, (bv, cv)) in b.iter().zip(c.iter_mut()).enumerate() {
                align_labels(bv, cv, &format!("{path}/{i}"));
            }
        }
        _ => {}
    }
}

/// With release `kagi` in namespace `kagi`, the chart makes the objects the kustomize base
/// and overlays make, field for field, apart from labels it only adds to, the settings it
/// spells out in the environment instead of flags, and the Namespace (left to
/// `--create-namespace`).
#[test]
fn the_chart_installs_what_the_kustomize_base_does() {
    let settings = serve_settings();
    for (m, dir) in [
        ("self-managed", "overlays/self-managed"),
        ("cert-manager", "overlays/cert-manager"),
        ("secret", "base"),
    ] {
        let mut base: Vec<Value> = documents(&kustomize(dir))
            .into_iter()
            .filter(|o| o["kind"] != "Namespace")
            .collect();
        // The base leaves the caBundle to the user, so no caBundle here either.
        let values = json!({"kagi": {"tls": {"mode": m}}});
        let mut chart = helm::render_chart(&values, "kagi", "kagi");
        let key = |o: &Value| {
            format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap()
            )
        };
        base.sort_by_key(key);
        chart.sort_by_key(key);
        let base_keys: Vec<String> = base.iter().map(key).collect();
        let chart_keys: Vec<String> = chart.iter().map(key).collect();
        assert_eq!(chart_keys, base_keys, "{m}: not the same objects as {dir}");

        for (b, c) in base.iter_mut().zip(chart.iter_mut()) {
            let label = format!("{m}: {}", key(b));
            align_labels(b, c, &label);
            if b["kind"] == "Deployment" {
                let bc = &mut b["spec"]["template"]["spec"]["containers"][0];
                let base_settings = effective_settings(bc, &settings);
                with_probe_defaults(bc);
                let cc = &mut c["spec"]["template"]["spec"]["containers"][0];
                let chart_settings = effective_settings(cc, &settings);
                with_probe_defaults(cc);
                assert_eq!(chart_settings, base_settings, "{label}: settings differ");
            }
            assert_eq!(
                c,
                b,
                "{label} differs from kustomize {dir}:\nchart {}\nbase  {}",
                serde_json::to_string_pretty(c).unwrap(),
                serde_json::to_string_pretty(b).unwrap()
            );
        }
    }
    // Routing of the chart's configuration (both prefixes) is proven by tests/tests/routing.rs.
}

//! `make demo`: the whole kagi chain on one machine, no cluster. Starts OpenBao, PostgreSQL
//! and a TokenReview responder, configures them like deploy/examples/vault-setup.sh, serves
//! the webhook over HTTPS, mutates deploy/examples/app-deployment.yaml, runs the pod like a
//! kubelet (agent as native sidecar, the app after the first render, a second container in env
//! mode with its variable from `kagi-agent exec`), shows a lease renewal
//! and a re-issue, deletes the pod (the agent revokes its leases) and stops everything.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{PodRunner, RunningPod, admit_and_run, load_manifests};
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use kagi_tests::webhook::Webhook;
use serde_json::{Value, json};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

const NAMESPACE: &str = "shop";
const SERVICE_ACCOUNT: &str = "orders";
const ROLE: &str = "orders";
/// Short database TTLs so a renewal and a re-issue happen while you watch.
const DB_TTL: &str = "6s";
const DB_MAX_TTL: &str = "16s";

fn step(text: &str) {
    println!("\n\x1b[1m==> {text}\x1b[0m");
}

fn info(text: &str) {
    println!("    {text}");
}

fn check_interrupt() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps in small slices so Ctrl-C is honoured quickly.
fn pause(duration: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        check_interrupt()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn watch_ctrl_c() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                println!("\n    Ctrl-C: stopping everything the demo started...");
                INTERRUPTED.store(true, Ordering::SeqCst);
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                // Second Ctrl-C: leave now; the servers die with us (parent-death signal).
                std::process::exit(130);
            }
        });
    });
}

fn main() {
    watch_ctrl_c();
    let started = Instant::now();
    let result = demo();
    // Everything was dropped (stopped) inside `demo` by now.
    match result {
        Ok(()) => {
            step(&format!(
                "Done in {:.0?}: every process the demo started has been stopped",
                started.elapsed()
            ));
        }
        Err(e) => {
            eprintln!("\nkagi-demo: {e:#}");
            eprintln!("every process the demo started has been stopped");
            std::process::exit(1);
        }
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples")
}

fn demo() -> anyhow::Result<()> {
    step("Starting OpenBao (dev server), PostgreSQL and a Kubernetes TokenReview responder");
    let bao = OpenBao::start()?;
    info(&format!(
        "OpenBao      {}  (audit log {})",
        bao.addr(),
        bao.audit_log().display()
    ));
    check_interrupt()?;
    let pg = Postgres::start()?;
    info(&format!("PostgreSQL   127.0.0.1:{}", pg.port()));
    let issuer = ServiceAccountIssuer::new()?;
    let reviewer = TokenReviewer::start(&issuer)?;
    info(&format!(
        "TokenReview  {}  (verifies service-account JWTs like the API server)",
        reviewer.addr()
    ));
    check_interrupt()?;

    step("Configuring OpenBao like deploy/examples/vault-setup.sh");
    configure(&bao, &pg, &reviewer)?;
    info(&format!(
        "kubernetes auth role {ROLE:?} for {NAMESPACE}/{SERVICE_ACCOUNT}, KV v2 secret/orders/config,"
    ));
    info(&format!(
        "database role {ROLE:?} (TTL {DB_TTL}, max {DB_MAX_TTL}), PKI role {ROLE:?}"
    ));
    check_interrupt()?;

    step("Starting the webhook: kagi-webhook serve over HTTPS");
    let webhook = Webhook::start(&["--vault-address", &bao.addr()])?;
    info(&format!("{} (CA generated for this run)", webhook.url()));
    check_interrupt()?;

    let example = examples_dir().join("app-deployment.yaml");
    step(&format!(
        "Sending {} through the webhook",
        display_path(&example)
    ));
    let deployment = load_manifests(&example)?
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .context("no Deployment in the example")?;
    let deployment = adapt_for_local_run(
        deployment,
        &[
            "--require",
            "/vault/secrets/config.env",
            "--require",
            "/vault/secrets/db.json",
            "--require",
            "/vault/secrets/tls.pem",
        ],
        &["--print-env", "PAYMENT_API_KEY", "--mask"],
    );
    // The pod has its own network namespace; OpenBao and PostgreSQL are relayed into it.
    let runner = PodRunner::new(NAMESPACE, &issuer).host_ports(&[bao.port(), pg.port()]);
    let (admission, pod) = admit_and_run(&runner, &webhook, &deployment)?;
    print_injection(&admission.patch, &admission.object);
    if admission.object["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"]
        != "injected"
    {
        drop(pod);
        bail!(
            "the webhook did not inject the agent; its log:\n{}",
            webhook.log()
        );
    }

    // Whatever happens while it runs (Ctrl-C included), the pod is deleted gracefully so the
    // agent revokes what it holds.
    let watched = watch_pod(&bao, &pod);

    step("Deleting the pod: the app gets SIGTERM, then the agent, which revokes its leases");
    let leases_before = leases(&bao);
    let status = pod.delete();
    for event in status
        .events
        .iter()
        .filter(|e| e.starts_with("SIGTERM") || e.starts_with("exited") || e.starts_with("SIGKILL"))
    {
        info(event);
    }
    info(&format!(
        "database leases: {} before, {} after",
        leases_before.len(),
        leases(&bao).len()
    ));
    let users: Vec<String> = pg
        .roles()
        .into_iter()
        .filter(|r| r.starts_with("v-"))
        .collect();
    info(&format!(
        "PostgreSQL users issued by OpenBao still present: {}",
        users.len()
    ));
    watched?;

    check_interrupt()?;

    run_job(&runner, &webhook)?;

    step("Stopping the webhook, TokenReview responder, PostgreSQL and OpenBao");
    drop(webhook);
    drop(reviewer);
    drop(pg);
    drop(bao);
    Ok(())
}

fn watch_pod(bao: &OpenBao, pod: &RunningPod) -> anyhow::Result<()> {
    step("Running the pod like a kubelet: agent first, the app once its startup probe passes");
    wait_pod(
        pod,
        |p| p.wait_running(Duration::from_millis(500)).is_ok(),
        60,
    )?;
    let status = pod.status();
    for event in &status.events {
        info(event);
    }
    show_files(pod)?;

    step("Next to it, container payments in env mode: kagi-agent exec started its program");
    let logs = pod.wait_log("payments", "env PAYMENT_API_KEY=", Duration::from_secs(30))?;
    for line in logs.lines().filter(|l| l.starts_with("env ")) {
        info(&format!("payments: {line}"));
    }

    step("Watching the database lease: renewed, then re-issued at max TTL");
    watch_leases(bao, pod)?;

    Ok(())
}

/// deploy/examples/job.yaml: with the native sidecar the Job completes on its own.
fn run_job(runner: &PodRunner, webhook: &Webhook) -> anyhow::Result<()> {
    let example = examples_dir().join("job.yaml");
    step(&format!(
        "Running {}: the migration exits, then its agent is stopped and the Job completes",
        display_path(&example)
    ));
    let job = load_manifests(&example)?
        .into_iter()
        .find(|d| d["kind"] == "Job")
        .context("no Job in the example")?;
    let job = adapt_for_local_run(job, &["--require", "/vault/secrets/db.env", "--exit"], &[]);
    let (_, pod) = admit_and_run(runner, webhook, &job)?;
    let status = wait_finished(&pod)?;
    for event in &status.events {
        info(event);
    }
    info(&format!("pod phase: {:?}", status.phase));
    pod.delete();
    Ok(())
}

fn wait_finished(pod: &RunningPod) -> anyhow::Result<kagi_tests::pod_runner::PodStatus> {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        check_interrupt()?;
        if let Ok(status) = pod.wait_finished(Duration::from_millis(500)) {
            return Ok(status);
        }
    }
    bail!("the Job did not finish in 60s:\n{}", pod.describe())
}

fn display_path(path: &Path) -> String {
    path.canonicalize()
        .ok()
        .and_then(|p| {
            std::env::current_dir()
                .ok()
                .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        })
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn configure(bao: &OpenBao, pg: &Postgres, reviewer: &TokenReviewer) -> anyhow::Result<()> {
    setup::put_kv(
        bao,
        "secret/orders/config",
        &[
            ("payment_api_url", "https://payments.example.com"),
            ("payment_api_key", "demo-key-do-not-use"),
        ],
    )?;
    setup::enable_database(bao, pg, ROLE, DB_TTL, DB_MAX_TTL)?;
    setup::enable_pki(bao, "pki", ROLE, "72h")?;
    setup::write_policy(
        bao,
        ROLE,
        r#"path "secret/data/orders/*" { capabilities = ["read"] }
path "database/creds/orders" { capabilities = ["read"] }
path "pki/issue/orders" { capabilities = ["create", "update"] }"#,
    )?;
    setup::configure_kubernetes_auth(bao, reviewer, ROLE, NAMESPACE, SERVICE_ACCOUNT, &[ROLE])?;
    Ok(())
}

/// The example's app images are not on this machine: its containers run the harness's test app
/// image (the first checks the files exist, the others print their env-mode variables masked,
/// then they wait), and template commands that signal another container are dropped (the
/// example's command needs a shell the images do not have).
fn adapt_for_local_run(mut workload: Value, app_args: &[&str], other_args: &[&str]) -> Value {
    let template = if workload["kind"] == "CronJob" {
        &mut workload["spec"]["jobTemplate"]["spec"]["template"]
    } else {
        &mut workload["spec"]["template"]
    };
    if let Some(annotations) = template["metadata"]["annotations"].as_object_mut() {
        annotations.retain(|key, _| !key.starts_with("vault.hashicorp.com/agent-inject-command-"));
    }
    let containers = template["spec"]["containers"].as_array_mut();
    for (i, container) in containers.into_iter().flatten().enumerate() {
        container["image"] = json!(kagi_tests::image::TEST_APP_IMAGE);
        // An absolute path: env mode runs the program itself, without a shell.
        container["command"] = json!(["/usr/local/bin/kagi-test-app"]);
        container["args"] = json!(if i == 0 { app_args } else { other_args });
    }
    workload
}

fn print_injection(patch: &json_patch::Patch, pod: &Value) {
    info(&format!("JSON patch: {} operations", patch.0.len()));
    for op in &patch.0 {
        let op = serde_json::to_value(op).unwrap_or_default();
        let value = &op["value"];
        let what = if let Some(name) = value["name"].as_str() {
            let mut text = format!("name={name}");
            if let Some(path) = value["mountPath"].as_str() {
                text.push_str(&format!(" mountPath={path}"));
            }
            text
        } else if let Some(items) = value.as_array() {
            let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
            format!("[{}]", names.join(", "))
        } else {
            let text = value.to_string();
            if text.len() > 60 {
                format!("{}...", &text[..60])
            } else {
                text
            }
        };
        info(&format!(
            "+ {:<7} {:<62} {what}",
            op["op"].as_str().unwrap_or(""),
            op["path"].as_str().unwrap_or("")
        ));
    }
    let containers = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod["spec"]["containers"].as_array().into_iter().flatten());
    for container in containers {
        let Some(encoded) = container["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == "VAULT_CONFIG"))
            .and_then(|e| e["value"].as_str())
        else {
            continue;
        };
        let Ok(config) = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(anyhow::Error::from)
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(anyhow::Error::from))
        else {
            continue;
        };
        let words = |value: &Value| -> String {
            let words: Vec<&str> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            words.join(" ")
        };
        let method = &config["auto_auth"]["method"];
        let auth = format!(
            "auth {} role {}",
            method["type"].as_str().unwrap_or("?"),
            method["config"]["role"].as_str().unwrap_or("?")
        );
        let name = container["name"].as_str().unwrap_or("");
        if let Some(vars) = config["env_template"].as_object() {
            let names: Vec<&str> = vars.keys().map(String::as_str).collect();
            info(&format!(
                "env mode {name:?}: {}, {auth}, sets {}",
                words(&container["command"]),
                names.join(", "),
            ));
            continue;
        }
        let probe = match words(&container["startupProbe"]["exec"]["command"]) {
            probe if probe.is_empty() => "none".to_owned(),
            probe => probe,
        };
        info(&format!(
            "agent {name:?}: {} {}, {auth}, probe {probe}",
            container["command"][0].as_str().unwrap_or(""),
            container["args"][0].as_str().unwrap_or(""),
        ));
        for template in config["template"].as_array().into_iter().flatten() {
            info(&format!(
                "    renders {}",
                template["destination"].as_str().unwrap_or("?")
            ));
        }
    }
}

fn wait_pod(
    pod: &RunningPod,
    mut done: impl FnMut(&RunningPod) -> bool,
    seconds: u64,
) -> anyhow::Result<()> {
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        check_interrupt()?;
        if done(pod) {
            return Ok(());
        }
    }
    bail!(
        "the pod did not get there in {seconds}s:\n{}",
        pod.describe()
    )
}

/// Shows each rendered file with values masked.
fn show_files(pod: &RunningPod) -> anyhow::Result<()> {
    for file in ["config.env", "db.json", "tls.pem"] {
        let path = format!("/vault/secrets/{file}");
        let text = pod.read_file("orders", &path)?;
        info(&format!("{path} ({} bytes):", text.len()));
        for line in mask(&text) {
            info(&format!("    {line}"));
        }
    }
    Ok(())
}

fn mask(text: &str) -> Vec<String> {
    if text.contains("-----BEGIN") {
        return text
            .lines()
            .filter(|l| l.starts_with("-----BEGIN"))
            .map(|l| format!("{l} ... (masked)"))
            .collect();
    }
    // Mask every quoted value that follows `=` or `:` (env files and JSON alike).
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut in_value = false;
            for c in line.chars() {
                if in_value {
                    if c == '"' {
                        out.push_str("****\"");
                        in_value = false;
                    }
                    continue;
                }
                if c == '"' && matches!(out.trim_end().chars().last(), Some('=' | ':')) {
                    in_value = true;
                }
                out.push(c);
            }
            out
        })
        .collect()
}

fn leases(bao: &OpenBao) -> Vec<String> {
    bao.bao_json(&["list", &format!("sys/leases/lookup/database/creds/{ROLE}/")])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn db_user(pod: &RunningPod) -> Option<String> {
    let text = pod.read_file("orders", "/vault/secrets/db.json").ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    value["username"].as_str().map(str::to_string)
}

/// Prints renewals and re-issues as the audit log records them, until a re-issue was seen.
fn watch_leases(bao: &OpenBao, pod: &RunningPod) -> anyhow::Result<()> {
    let first_user = db_user(pod).unwrap_or_default();
    info(&format!("database user now: {first_user}"));
    let mut renewals = bao.count_requests("sys/leases/renew");
    let user = first_user.clone();
    let end = Instant::now() + Duration::from_secs(45);
    let mut reissued = false;
    while Instant::now() < end {
        pause(Duration::from_millis(250))?;
        let now = bao.count_requests("sys/leases/renew");
        if now > renewals {
            info(&format!(
                "lease renewed by the agent (renewals so far: {now})"
            ));
            renewals = now;
        }
        if let Some(current) = db_user(pod).filter(|u| *u != user) {
            info(&format!(
                "max TTL reached: new credentials issued and re-rendered, user {user} -> {current}"
            ));
            reissued = true;
            break;
        }
    }
    if !reissued {
        info("no re-issue seen within 45s (see the agent log below)");
        info(&pod.logs("vault-agent"));
    }
    Ok(())
}

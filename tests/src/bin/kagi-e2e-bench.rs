//! Measures the chain end to end on this machine (numbers for the README, not assertions):
//! admission latency of `kagi-webhook serve` over TLS, time from "pod scheduled" to "app
//! started" with the native-sidecar agent against a real OpenBao, and the agent's memory.
//!
//! cargo build --workspace --bins && cargo run --release -p kagi-tests --bin kagi-e2e-bench [PODS]
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::Context;
use kagi_tests::image::TEST_APP_IMAGE;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::pod_runner::{ContainerState, PodRunner, service_account_admission};
use kagi_tests::setup;
use kagi_tests::webhook::Webhook;
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";
const ADMISSIONS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<4} p50={:>8.2?} p90={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn pod(index: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": format!("bench-{index}"), "namespace": NAMESPACE, "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "bench",
            "vault.hashicorp.com/agent-inject-secret-config": "secret/data/bench/config",
            "vault.hashicorp.com/agent-inject-template-config":
                "{{ with secret \"secret/data/bench/config\" }}v={{ .Data.data.v }}{{ end }}"
        } },
        "spec": { "serviceAccountName": "app", "containers": [{
            "name": "app", "image": TEST_APP_IMAGE, "args": ["--require", "/vault/secrets/config"]
        }] }
    })
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> anyhow::Result<()> {
    let pods: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()
        .context("PODS must be a number")?
        .unwrap_or(10);
    let bao = OpenBao::start()?;
    let issuer = ServiceAccountIssuer::new()?;
    let reviewer = TokenReviewer::start(&issuer)?;
    setup::put_kv(&bao, "secret/bench/config", &[("v", "1")])?;
    setup::write_policy(
        &bao,
        "bench",
        r#"path "secret/data/bench/*" { capabilities = ["read"] }"#,
    )?;
    setup::configure_kubernetes_auth(&bao, &reviewer, "bench", NAMESPACE, "app", &["bench"])?;
    let webhook = Webhook::start(&["--vault-address", &bao.addr()])?;

    println!(
        "kagi end-to-end figures ({} cores; debug or release as built)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Admission: one new TLS connection per review, as the API server often does.
    let object = service_account_admission(&pod(0));
    let mut admissions = Vec::with_capacity(ADMISSIONS);
    for _ in 0..ADMISSIONS {
        let start = Instant::now();
        let admission = webhook.admit(&object, NAMESPACE)?;
        admissions.push(start.elapsed());
        anyhow::ensure!(admission.allowed && !admission.patch.0.is_empty());
    }
    summary("admission (TLS handshake + review + patch)", admissions);

    // Pod start: from handing the mutated pod to the kubelet until the app container starts
    // (agent started, logged in, rendered, startup probe passed).
    let runner = PodRunner::new(NAMESPACE, &issuer).host_ports(&[bao.port()]);
    let mut renders = Vec::new();
    let mut startups = Vec::new();
    let mut memory = Vec::new();
    for index in 0..pods {
        let manifest = pod(index);
        let object = service_account_admission(&manifest);
        let admission = webhook.admit(&object, NAMESPACE)?;
        let start = Instant::now();
        let running = runner.run(&admission.object)?;
        let rendered = running
            .host_path("app", "/vault/secrets/config")
            .context("the app mounts /vault/secrets")?;
        let deadline = start + Duration::from_secs(60);
        while !rendered.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        renders.push(start.elapsed());
        running.wait_running(Duration::from_secs(60))?;
        startups.push(start.elapsed());
        // Let the agent settle into its steady state before reading its memory.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(ContainerState::Running { pid }) = running
            .status()
            .container("vault-agent")
            .map(|c| c.state.clone())
        {
            memory.extend(rss_kib(pid));
        }
        running.delete();
    }
    summary("pod scheduled -> secret file rendered", renders);
    // Includes the runner's 100 ms startup-probe period (a kubelet's is >= 1 s).
    summary("pod scheduled -> app started (native sidecar)", startups);
    if !memory.is_empty() {
        memory.sort();
        println!(
            "{:<44} n={:<4} median={} KiB max={} KiB",
            "agent resident memory after first render",
            memory.len(),
            memory[memory.len() / 2],
            memory[memory.len() - 1]
        );
    }
    Ok(())
}

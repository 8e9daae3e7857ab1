//! Latency of one proxied request: `GET /v1/secret/data/app` over one kept-alive connection,
//! sent straight to OpenBao, through kagi-agent's API proxy and through `bao agent`'s, all on
//! the same dev server with the same token (auto-auth `token_file`, `use_auto_auth_token`).
//! Prints median, p90 and p99 per path and the proxies' median overhead over direct. Run with
//! `make bench` (or `cargo bench -p kagi-agent --bench proxy_latency`); needs `bao`
//! (`make test-deps`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use kagi_tests::http::Connection;
use kagi_tests::openbao::OpenBao;
use kagi_tests::{procs, setup};
use serde_json::json;

const REQUESTS: usize = 2000;
const WARM_UP: usize = 100;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(bao: &OpenBao, dir: &Path, name: &str, port: u16) -> PathBuf {
    let cfg = json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": dir.join("token").display().to_string() } } ],
            "sink": [ { "type": "file", "config": { "path": dir.join(format!("{name}-sink")).display().to_string() } } ]
        },
        "listener": [ { "type": "tcp", "address": format!("127.0.0.1:{port}"), "tls_disable": true } ],
        "api_proxy": { "use_auto_auth_token": true },
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

fn start(program: &Path, args: &[&str], config: &Path) -> Running {
    let child = Command::new(program)
        .args(args)
        .arg(config)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    Running(child)
}

/// Per-request latencies in microseconds, sorted.
fn measure(port: u16, token: Option<&str>, requests: usize) -> Vec<u64> {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
    let mut conn = procs::wait_for("the proxy to answer", Duration::from_secs(20), || {
        let mut conn = Connection::open(port).ok()?;
        let reply = conn
            .request("GET", "/v1/secret/data/app", &headers, b"")
            .ok()?;
        (reply.status == 200).then_some(conn)
    })
    .unwrap();
    for _ in 0..WARM_UP {
        conn.request("GET", "/v1/secret/data/app", &headers, b"")
            .unwrap();
    }
    let mut times: Vec<u64> = (0..requests)
        .map(|_| {
            let started = Instant::now();
            let reply = conn
                .request("GET", "/v1/secret/data/app", &headers, b"")
                .unwrap();
            assert_eq!(reply.status, 200);
            started.elapsed().as_micros() as u64
        })
        .collect();
    times.sort();
    times
}

fn at(times: &[u64], q: f64) -> u64 {
    times[((times.len() - 1) as f64 * q) as usize]
}

fn main() {
    let Some(full) = common::full_run() else {
        return;
    };
    // A smoke run (`cargo test --benches`) is a short run.
    let requests = if full { REQUESTS } else { 50 };
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::put_kv(&bao, "secret/app", &[("password", "bench-pass")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), bao.root_token()).unwrap();
    let (kagi_port, bao_port) = (procs::free_port(), procs::free_port());
    // KAGI_AGENT_BIN: measure another build of the agent (say, an optimised one).
    let kagi_bin = std::env::var_os("KAGI_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kagi-agent")));
    let _kagi = start(
        &kagi_bin,
        &["run", "-config"],
        &config(&bao, dir.path(), "kagi", kagi_port),
    );
    let _bao_agent = start(
        bao.bin(),
        &["agent", "-config"],
        &config(&bao, dir.path(), "bao", bao_port),
    );

    println!(
        "proxy_latency: {requests} sequential GETs of a KV v2 secret on one kept-alive connection"
    );
    let direct = measure(bao.port(), Some(bao.root_token()), requests);
    let kagi = measure(kagi_port, None, requests);
    let bao_agent = measure(bao_port, None, requests);
    for (name, times) in [
        ("direct", &direct),
        ("kagi-agent", &kagi),
        ("bao agent", &bao_agent),
    ] {
        println!(
            "  {name:<11} median {:>6} µs   p90 {:>6} µs   p99 {:>6} µs",
            at(times, 0.5),
            at(times, 0.9),
            at(times, 0.99)
        );
    }
    let overhead = |t: &[u64]| at(t, 0.5) as i64 - at(&direct, 0.5) as i64;
    println!(
        "  median overhead over direct: kagi-agent {} µs, bao agent {} µs",
        overhead(&kagi),
        overhead(&bao_agent)
    );
}

//! kagi-agent vs `bao agent` on the same config and the same OpenBao dev server: time to first
//! render (spawn → every template written) and steady resident memory of a sidecar a few
//! seconds after its first render. Run with `make bench` (or `cargo bench -p kagi-agent`);
//! needs `bao` (`make test-deps`). Prints both figures and their ratio.
//! The memory figures of the image's own build (static, `[profile.agent]`: RSS, PSS and
//! anonymous memory from smaps_rollup) come from `agent/benches/memory.sh`, also run by `make bench`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Contender, Running, median, rss_kib};
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;
use serde_json::json;

const RUNS: usize = 7;
const TEMPLATES: usize = 3;
const SETTLE: Duration = Duration::from_secs(4);

fn config(bao: &OpenBao, dir: &Path, out: &Path) -> PathBuf {
    let token_file = dir.join("token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let templates: Vec<_> = (0..TEMPLATES)
        .map(|i| {
            json!({
                "destination": out.join(format!("t{i}.txt")).display().to_string(),
                "contents": format!("{{{{ with secret \"secret/app{i}\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}\n"),
            })
        })
        .collect();
    let cfg = json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": token_file.display().to_string() } } ],
            "sink": [ { "type": "file", "config": { "path": dir.join("sink").display().to_string() } } ]
        },
        "template": templates,
    });
    let path = dir.join("agent.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

fn rendered(out: &Path) -> bool {
    (0..TEMPLATES)
        .all(|i| std::fs::metadata(out.join(format!("t{i}.txt"))).is_ok_and(|m| m.len() > 0))
}

/// Returns (time to first render, RSS in KiB after settling, SIGTERM-to-exit) for one run.
fn run_once(c: &Contender, out: &Path, settle: Duration) -> (Duration, u64, Duration) {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let started = Instant::now();
    let child = Command::new(&c.program)
        .args(&c.args)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", c.name));
    let mut running = Running(child);
    while !rendered(out) {
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("{} exited early: {status}", c.name);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} did not render",
            c.name
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    let first_render = started.elapsed();
    std::thread::sleep(settle);
    let rss = rss_kib(running.0.id());
    let stopping = Instant::now();
    kagi_tests::procs::signal(running.0.id(), "TERM").unwrap();
    while running.0.try_wait().unwrap().is_none() {
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "{} ignored SIGTERM",
            c.name
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    (first_render, rss, stopping.elapsed())
}

fn main() {
    // A smoke run (`cargo test --benches`) does one quick run each.
    let Some(full) = common::full_run() else {
        return;
    };
    let (runs, settle) = if full {
        (RUNS, SETTLE)
    } else {
        (1, Duration::from_secs(1))
    };
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    for i in 0..TEMPLATES {
        setup::put_kv(
            &bao,
            &format!("secret/app{i}"),
            &[("password", "bench-pass")],
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&bao, dir.path(), &dir.path().join("out"));
    let contenders = common::contenders(&bao, &cfg);
    println!(
        "agent_vs_bao: {TEMPLATES} KV v2 templates, token_file auth, {runs} runs each, RSS {}s after first render",
        settle.as_secs()
    );
    let mut results = Vec::new();
    for c in &contenders {
        let runs: Vec<(Duration, u64, Duration)> = (0..runs)
            .map(|_| run_once(c, &dir.path().join("out"), settle))
            .collect();
        let ttfr = median(runs.iter().map(|r| r.0).collect());
        let rss = median(runs.iter().map(|r| r.1).collect());
        let stop = median(runs.iter().map(|r| r.2).collect());
        println!(
            "  {:<11} time to first render (median) {:>8.1} ms   steady RSS (median) {:>7.1} MiB   SIGTERM to exit (median) {:>7.1} ms",
            c.name,
            ttfr.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            stop.as_secs_f64() * 1000.0
        );
        results.push((ttfr, rss));
    }
    let (kagi, bao_agent) = (results[0], results[1]);
    println!(
        "  ratio bao/kagi: time to first render {:.1}x, RSS {:.1}x",
        bao_agent.0.as_secs_f64() / kagi.0.as_secs_f64(),
        bao_agent.1 as f64 / kagi.1.max(1) as f64
    );
}

//! Process-supervisor mode, kagi-agent vs `bao agent` on the same config and the same OpenBao
//! dev server: time from agent spawn to child start, time from a KV change to the restarted
//! child, and the wrapper's resident memory while the child runs. Run with `make bench` (or
//! `cargo bench -p kagi-agent --bench supervisor_vs_bao`); needs `bao` (`make test-deps`).
//!
//! The child is `sh -c` appending `$PASSWORD` and the time to a file, then `exec sleep`, so
//! both agents supervise the same few-ms program.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod common;

use common::{Contender, Running, median, rss_kib};
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;
use serde_json::json;

const RUNS: usize = 5;
/// `static_secret_render_interval`: how soon both agents see a KV change.
const POLL: &str = "1s";

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn config(bao: &OpenBao, dir: &Path, record: &Path) -> PathBuf {
    let token_file = dir.join("token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let script = format!(
        "echo \"$PASSWORD $(date +%s%3N)\" >> {}; exec sleep 1000",
        record.display()
    );
    let cfg = json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": token_file.display().to_string() } } ]
        },
        "template_config": { "static_secret_render_interval": POLL },
        "env_template": { "PASSWORD": {
            "contents": "{{ with secret \"secret/data/bench\" }}{{ .Data.data.password }}{{ end }}"
        } },
        "exec": { "command": ["sh", "-c", script] },
    });
    let path = dir.join("supervisor.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

/// The (value, unix ms) lines the child wrote, one per start.
fn starts(record: &Path) -> Vec<(String, u128)> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (value, at) = l.rsplit_once(' ')?;
            Some((value.to_owned(), at.parse().ok()?))
        })
        .collect()
}

fn wait_starts(record: &Path, count: usize, name: &str) -> Vec<(String, u128)> {
    kagi_tests::procs::wait_for(
        &format!("{name}: child start {count}"),
        Duration::from_secs(30),
        || Some(starts(record)).filter(|s| s.len() >= count),
    )
    .unwrap()
}

/// (spawn → child start, KV change → restarted child, wrapper RSS) in ms, ms, KiB.
fn run_once(c: &Contender, bao: &OpenBao, record: &Path, run: usize) -> (u128, u128, u64) {
    let _ = std::fs::remove_file(record);
    let before = format!("before-{run}");
    setup::put_kv(bao, "secret/bench", &[("password", &before)]).unwrap();
    let spawned = now_ms();
    let child = Command::new(&c.program)
        .args(&c.args)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", c.name));
    let running = Running(child);
    let first = wait_starts(record, 1, c.name);
    assert_eq!(first[0].0, before, "{}: the child saw the value", c.name);
    // Let the wrapper settle (and bao agent finish its debounce) before reading memory.
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(running.0.id());
    let changed = now_ms();
    let after = format!("after-{run}");
    setup::put_kv(bao, "secret/bench", &[("password", &after)]).unwrap();
    let second = wait_starts(record, 2, c.name);
    assert_eq!(
        second[1].0, after,
        "{}: restarted with the new value",
        c.name
    );
    kagi_tests::procs::signal(running.0.id(), "TERM").unwrap();
    (first[0].1 - spawned, second[1].1 - changed, rss)
}

fn main() {
    let Some(full) = common::full_run() else {
        return;
    };
    // A smoke run (`cargo test --benches`) does one run each.
    let runs = if full { RUNS } else { 1 };
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("starts");
    let cfg = config(&bao, dir.path(), &record);
    let contenders = common::contenders(&bao, &cfg);
    println!(
        "supervisor_vs_bao: 1 env template (KV v2), token_file auth, poll {POLL}, {runs} runs each"
    );
    for c in &contenders {
        let results: Vec<_> = (0..runs)
            .map(|run| run_once(c, &bao, &record, run))
            .collect();
        println!(
            "  {:<11} spawn to child start (median) {:>6} ms   KV change to restarted child (median) {:>6} ms   wrapper RSS (median) {:>6.1} MiB",
            c.name,
            median(results.iter().map(|r| r.0).collect()),
            median(results.iter().map(|r| r.1).collect()),
            median(results.iter().map(|r| r.2).collect()) as f64 / 1024.0,
        );
    }
}

//! What the agent-vs-`bao agent` benchmarks share: the two programs compared, a process killed
//! on drop, resident memory, medians and how cargo ran the bench.
#![allow(dead_code)] // each benchmark uses a different subset

use std::path::{Path, PathBuf};
use std::process::Child;

use kagi_tests::openbao::OpenBao;

/// One of the programs compared, with its arguments.
pub struct Contender {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// `kagi-agent run` and `bao agent`, both on the config file `config`.
pub fn contenders(bao: &OpenBao, config: &Path) -> [Contender; 2] {
    let config = config.display().to_string();
    [
        Contender {
            name: "kagi-agent",
            program: PathBuf::from(env!("CARGO_BIN_EXE_kagi-agent")),
            args: vec!["run".into(), "-config".into(), config.clone()],
        },
        Contender {
            name: "bao agent",
            program: bao.bin().to_path_buf(),
            args: vec!["agent".into(), "-config".into(), config],
        },
    ]
}

/// A running contender; killed on drop.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of `pid` in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// How cargo ran this bench: `None` when it only lists benches (`--list`), `Some(true)` for a
/// full `cargo bench` run (`--bench`), `Some(false)` for the smoke run of a plain `cargo test
/// --benches`, which passes no flags.
pub fn full_run() -> Option<bool> {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    (!has("--list")).then(|| has("--bench"))
}

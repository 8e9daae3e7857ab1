//! Orphan reaping for PID 1: processes the app leaves behind are re-parented to the agent when
//! it is the container's first process, and their exits must be collected or they stay zombies.
//!
//! Only zombies that are not ours to wait for are collected: never the supervised child (tokio
//! waits for it), and never one that is gone within [`GRACE`], which is how long a process the
//! agent itself waits for (a template plugin, polled every 10 ms) stays a zombie at most.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use rustix::process::{Pid, WaitOptions};
use tracing::debug;

/// How long a zombie must stay one before it counts as an orphan.
const GRACE: Duration = Duration::from_millis(100);

/// The pid of the supervised child (0: none), which the reaper leaves alone.
pub type ChildPid = Arc<AtomicI32>;

/// True when this process is PID 1 of its pid namespace.
pub fn is_init() -> bool {
    rustix::process::getpid().is_init()
}

/// Collects orphans whenever a child exits, for the life of the process.
pub async fn reap_orphans(child: ChildPid) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut exits) = signal(SignalKind::child()) else {
        return;
    };
    loop {
        // A missed SIGCHLD (signals coalesce) is caught by the periodic scan.
        let _ = tokio::time::timeout(Duration::from_secs(5), exits.recv()).await;
        let first = zombie_children();
        if first.is_empty() {
            continue;
        }
        tokio::time::sleep(GRACE).await;
        let still = zombie_children();
        let own = child.load(Ordering::Relaxed);
        for pid in first.intersection(&still).filter(|pid| **pid != own) {
            if let Some(pid) = Pid::from_raw(*pid)
                && let Ok(Some((_, status))) =
                    rustix::process::waitpid(Some(pid), WaitOptions::NOHANG)
            {
                debug!(pid = pid.as_raw_nonzero().get(), status = ?status, "reaped orphan");
            }
        }
    }
}

/// Pids of this process's children that are zombies, from `/proc`.
fn zombie_children() -> BTreeSet<i32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parse_stat(&stat))
                .is_some_and(|(state, ppid)| state == 'Z' && ppid == me)
        })
        .collect()
}

/// State and parent pid from a `/proc/PID/stat` line (`pid (comm) S ppid ...`; the name may
/// hold spaces and parentheses, so parse after the last `)`).
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        assert_eq!(parse_stat("42 (a) b) Z 1 42 42 0"), Some(('Z', 1)));
        assert_eq!(parse_stat("7 (sleep) S 3 7 7"), Some(('S', 3)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[tokio::test]
    async fn an_exited_grandchild_left_to_us_is_collected() {
        // Not PID 1 here, so stand in for it: a child of ours that nobody waits for.
        let orphan = std::process::Command::new("true").spawn().unwrap();
        let pid = orphan.id() as i32;
        std::mem::forget(orphan);
        let reaper = tokio::spawn(reap_orphans(Arc::new(AtomicI32::new(0))));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "zombie {pid} was not reaped"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reaper.abort();
    }
}

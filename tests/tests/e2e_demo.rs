//! `make demo` start to finish: the demo binary runs the whole chain, shows a renewal and a
//! re-issue, revokes on shutdown, never prints a secret value, and leaves no process behind,
//! also when interrupted with Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use kagi_tests::procs::{processes_owned_by, signal};

#[test]
fn demo_runs_start_to_finish_masks_secrets_and_leaves_nothing_behind() {
    let child = Command::new(env!("CARGO_BIN_EXE_kagi-demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kagi-demo");
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "renders /vault/secrets/db.json",
        "ready vault-agent",
        "env mode \"payments\": /kagi/bin/kagi-agent exec -- /usr/local/bin/kagi-test-app",
        "payments: env PAYMENT_API_KEY=**** (19 bytes)",
        "lease renewed by the agent",
        "new credentials issued and re-rendered",
        "SIGTERM vault-agent",
        ", 0 after",
        "PostgreSQL users issued by OpenBao still present: 0",
        "pod phase: Succeeded",
        "every process the demo started has been stopped",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Secret values are masked: the KV value and the database password never appear.
    assert!(!stdout.contains("demo-key-do-not-use"), "{stdout}");
    assert!(stdout.contains("\"password\": \"****\""), "{stdout}");
    assert_eq!(processes_owned_by(pid), Vec::<String>::new());
}

#[test]
fn demo_interrupted_with_ctrl_c_still_revokes_and_stops_everything() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kagi-demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kagi-demo");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("database user now:") {
            break;
        }
    }
    assert!(
        !processes_owned_by(pid).is_empty(),
        "servers should be running mid-demo:\n{seen}"
    );
    signal(pid, "INT").unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted demo reports failure");
    assert!(seen.contains("Ctrl-C: stopping everything"), "{seen}");
    assert!(seen.contains(", 0 after"), "leases revoked:\n{seen}");
    assert_eq!(processes_owned_by(pid), Vec::<String>::new());
}

//! A template whose secret cannot be read: per-dependency retries (`vault.retry.num_retries`,
//! base/max from the auth method's backoff), then `exit_on_retry_failure` decides between
//! exit 1 and a restart after backoff that recovers once the secret exists.

mod agent_support;

use std::time::Duration;

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;
use serde_json::{Value, json};

fn failing_config(
    bao: &OpenBao,
    dir: &std::path::Path,
    out: &std::path::Path,
    exit: bool,
) -> Value {
    let token_file = dir.join("root-token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let mut method = token_file_method(&token_file);
    method["min_backoff"] = json!("100ms");
    method["max_backoff"] = json!("400ms");
    let mut cfg = config(
        &bao.addr(),
        method,
        &dir.join("sink"),
        vec![template(
            out,
            "{{ with secret \"secret/missing\" }}{{ .Data.data.v }}{{ end }}",
        )],
    );
    cfg["vault"]["retry"] = json!({ "num_retries": 2 });
    cfg["template_config"] = json!({ "exit_on_retry_failure": exit });
    cfg
}

#[test]
fn exhausted_retries_exit_1_with_exit_on_retry_failure() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let mut agent = Agent::start(
        dir.path(),
        "exit",
        &failing_config(&bao, dir.path(), &out, true),
    );
    let status = agent
        .wait_exit(Duration::from_secs(20))
        .expect("agent gives up");
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    assert!(
        agent
            .log()
            .contains("no secret exists at secret/data/missing"),
        "{}",
        agent.log()
    );
    assert_eq!(
        bao.count_requests("secret/data/missing"),
        3,
        "one read and two retries"
    );
    assert!(!out.exists(), "nothing rendered");
}

#[test]
fn without_exit_on_retry_failure_the_runner_restarts_and_recovers() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let mut agent = Agent::start(
        dir.path(),
        "restart",
        &failing_config(&bao, dir.path(), &out, false),
    );
    eventually(&agent, "a runner restart", Duration::from_secs(20), || {
        agent
            .log()
            .contains("restarting after backoff")
            .then_some(())
    });
    assert!(agent.is_running());
    setup::put_kv(&bao, "secret/missing", &[("v", "found")]).unwrap();
    eventually(&agent, "recovery", Duration::from_secs(20), || {
        read(&out).filter(|s| s == "found")
    });
    assert!(agent.is_running());
}

#[test]
fn sigterm_before_the_first_render_fails_the_init_container() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let mut cfg = failing_config(&bao, dir.path(), &out, true);
    cfg["vault"]["retry"] = json!({ "num_retries": 50 });
    cfg["exit_after_auth"] = json!(true);
    let mut agent = Agent::start(dir.path(), "interrupted", &cfg);
    eventually(&agent, "a failed read", Duration::from_secs(20), || {
        agent.log().contains("fetch failed; retrying").then_some(())
    });
    agent.signal("TERM");
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert_eq!(
        status.code(),
        Some(1),
        "an unfinished init must not look successful\n{}",
        agent.log()
    );
    assert!(
        agent
            .log()
            .contains("stopped before every template was rendered")
    );
}

//! Stopping the agent: SIGTERM with `kagi.revoke_on_shutdown` revokes the leases and the token
//! (checked with `bao`), drops the database user, keeps the rendered files and exits 0;
//! `POST /agent/v1/quit` stops it like SIGTERM when the listener enables it.

mod agent_support;

use std::io::{Read, Write};
use std::time::Duration;

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use serde_json::json;

const POLICY: &str = r#"
path "database/creds/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

#[test]
fn sigterm_with_revoke_revokes_leases_and_token_and_exits_zero() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let pg = Postgres::start().expect("PostgreSQL (run `make test-deps`)");
    setup::enable_database(&bao, &pg, "app", "1m", "5m").unwrap();
    setup::write_policy(&bao, "app", POLICY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let login = kubernetes_login(&bao, dir.path());
    let out = dir.path().join("db.txt");
    let sink = dir.path().join("token");
    let method = login.method.clone();
    let mut cfg = config(
        &bao.addr(),
        method,
        &sink,
        vec![template(
            &out,
            "{{ with secret \"database/creds/app\" }}{{ .Data.username }}{{ end }}",
        )],
    );
    cfg["kagi"] = json!({ "revoke_on_shutdown": true });
    let mut agent = Agent::start(dir.path(), "revoke", &cfg);
    let user = eventually(
        &agent,
        "credential rendered",
        Duration::from_secs(20),
        || read(&out),
    );
    let token = read(&sink).unwrap();
    assert!(pg.roles().contains(&user));
    let leases = bao
        .bao_json(&["list", "sys/leases/lookup/database/creds/app"])
        .unwrap();
    assert_eq!(leases.as_array().map(Vec::len), Some(1), "{leases}");

    agent.signal("TERM");
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits after SIGTERM");
    assert!(status.success(), "exit {status:?}\n{}", agent.log());
    assert!(
        bao.bao_json(&["token", "lookup", &token]).is_err(),
        "token revoked"
    );
    let leases = bao.bao_json(&["list", "sys/leases/lookup/database/creds/app"]);
    assert!(
        leases.as_ref().map_or(true, |l| l.is_null()
            || l.as_array().is_some_and(Vec::is_empty)),
        "leases revoked: {leases:?}"
    );
    assert!(
        !pg.roles().contains(&user),
        "database user dropped on revoke"
    );
    assert_eq!(
        read(&out).as_deref(),
        Some(user.as_str()),
        "rendered file stays"
    );
    assert!(agent.log().contains("revoked lease"), "{}", agent.log());
}

#[test]
fn quit_endpoint_stops_the_agent_when_enabled() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("root-token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let port = kagi_tests::free_port();
    let mut cfg = config(
        &bao.addr(),
        token_file_method(&token_file),
        &dir.path().join("sink"),
        vec![],
    );
    cfg["listener"] = json!([{ "type": "tcp", "address": format!("127.0.0.1:{port}"), "tls_disable": true, "agent_api": { "enable_quit": true } }]);
    let mut agent = Agent::start(dir.path(), "quit", &cfg);
    let request = |method: &str| -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            stream,
            "{method} /agent/v1/quit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    let answer = eventually(&agent, "listener up", Duration::from_secs(10), || {
        request("GET")
    });
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    let metrics = {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET /agent/v1/metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(metrics.contains("kagi_agent_logins_total 1"), "{metrics}");
    assert!(agent.is_running());
    let answer = request("POST").expect("quit answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits after quit");
    assert!(status.success(), "{}", agent.log());
}

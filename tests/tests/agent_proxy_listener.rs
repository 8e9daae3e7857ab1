//! Listener settings of the API proxy against `bao agent` 2.7.2 on the same config: the
//! `metrics_only` role, `require_request_header`, and a unix socket's `socket_mode`,
//! `socket_user` and `socket_group`.

mod agent_proxy_support;
mod agent_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use agent_proxy_support::{BaoAgent, config};
use agent_support::{Agent, token_file_method};
use kagi_tests::openbao::OpenBao;
use kagi_tests::{http, procs, setup};
use serde_json::{Value, json};

fn seeded() -> (OpenBao, String) {
    let bao = OpenBao::start().expect("OpenBao dev server (run `make test-deps`)");
    setup::put_kv(&bao, "secret/app", &[("password", "s3cr3t")]).unwrap();
    setup::write_policy(
        &bao,
        "proxy",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    let token = setup::create_token(&bao, &["-policy=proxy", "-ttl=1h"]).unwrap();
    (bao, token)
}

/// The listeners: a default one demanding `X-Vault-Request`, a `metrics_only` one (which
/// ignores that demand), and unix sockets with owner and mode.
fn listeners(ports: (u16, u16), dir: &Path, name: &str) -> Value {
    json!([
        { "type": "tcp", "address": format!("127.0.0.1:{}", ports.0), "tls_disable": true,
          "require_request_header": true },
        { "type": "tcp", "address": format!("127.0.0.1:{}", ports.1), "tls_disable": true,
          "role": "metrics_only", "require_request_header": true },
        { "type": "unix", "address": dir.join(format!("{name}-all.sock")).display().to_string(),
          "tls_disable": true, "socket_mode": "0660", "socket_user": "65534", "socket_group": "nogroup" },
        { "type": "unix", "address": dir.join(format!("{name}-mode.sock")).display().to_string(),
          "tls_disable": true, "socket_mode": "0600" },
    ])
}

/// What a client of these listeners sees.
fn story(ports: (u16, u16), dir: &Path, name: &str) -> Vec<String> {
    let (main, metrics) = ports;
    let ask = |port: u16, method: &str, path: &str, headers: &[(&str, &str)]| {
        let reply = http::request(port, method, path, headers, b"").unwrap();
        let body = match reply.json() {
            Value::Null => String::from_utf8_lossy(&reply.body).into_owned(),
            json => json.get("errors").map_or("(json)".into(), Value::to_string),
        };
        format!(
            "{method} {path} on {}: {} {body:?}",
            if port == main {
                "default"
            } else {
                "metrics_only"
            },
            reply.status
        )
    };
    let request = [("X-Vault-Request", "true")];
    let mut story = vec![
        ask(main, "GET", "/v1/secret/data/app", &[]),
        ask(main, "GET", "/v1/secret/data/app", &request),
        ask(main, "GET", "/agent/v1/metrics", &[])
            .split(':')
            .next()
            .unwrap()
            .to_owned(),
        ask(metrics, "GET", "/v1/secret/data/app", &request),
        ask(metrics, "GET", "/v1/sys/health", &[]),
        ask(metrics, "POST", "/agent/v1/quit", &[]),
        ask(metrics, "POST", "/agent/v1/cache-clear", &[]),
    ];
    let metrics_status = http::request(metrics, "GET", "/agent/v1/metrics", &[], b"")
        .unwrap()
        .status;
    story.push(format!("metrics on metrics_only: {metrics_status}"));
    let meta = std::fs::metadata(dir.join(format!("{name}-all.sock"))).unwrap();
    story.push(format!(
        "socket with all three: mode {:o} uid {} gid {}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid()
    ));
    story
}

#[test]
fn listener_roles_headers_and_socket_permissions_match_bao_agent() {
    let (bao, token) = seeded();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let method = token_file_method(&dir.path().join("token"));
    let mut stories = Vec::new();
    let mut only_mode = Vec::new();
    for name in ["bao", "kagi"] {
        let ports = (procs::free_port(), procs::free_port());
        let sink = dir.path().join(format!("{name}-sink"));
        let mut cfg = config(
            &bao.addr(),
            method.clone(),
            &sink,
            ports.0,
            json!({ "api_proxy": { "use_auto_auth_token": true } }),
        );
        cfg["listener"] = listeners(ports, dir.path(), name);
        let running: Box<dyn std::any::Any> = if name == "bao" {
            Box::new(BaoAgent::start(&bao, dir.path(), name, &cfg))
        } else {
            Box::new(Agent::start(dir.path(), name, &cfg))
        };
        kagi_tests::procs::wait_for(&format!("{name} ready"), Duration::from_secs(20), || {
            (sink.exists() && http::request(ports.1, "GET", "/agent/v1/metrics", &[], b"").is_ok())
                .then_some(())
        })
        .unwrap();
        stories.push(story(ports, dir.path(), name));
        let meta = std::fs::metadata(dir.path().join(format!("{name}-mode.sock"))).unwrap();
        only_mode.push(meta.mode() & 0o777);
        drop(running);
    }
    eprintln!(
        "bao agent: {:#?}\nkagi-agent: {:#?}",
        stories[0], stories[1]
    );
    assert_eq!(
        stories[0], stories[1],
        "bao agent (left) vs kagi-agent (right)"
    );
    let not_found = "\"404 page not found\\n\"";
    assert_eq!(
        stories[1],
        [
            format!(
                "GET /v1/secret/data/app on default: 412 {:?}",
                r#"["missing \"X-Vault-Request\" header"]"#
            ),
            "GET /v1/secret/data/app on default: 200 \"(json)\"".to_owned(),
            "GET /agent/v1/metrics on default".to_owned(),
            format!("GET /v1/secret/data/app on metrics_only: 404 {not_found}"),
            format!("GET /v1/sys/health on metrics_only: 404 {not_found}"),
            format!("POST /agent/v1/quit on metrics_only: 404 {not_found}"),
            format!("POST /agent/v1/cache-clear on metrics_only: 404 {not_found}"),
            "metrics on metrics_only: 200".to_owned(),
            "socket with all three: mode 660 uid 65534 gid 65534".to_owned(),
        ]
    );
    // bao agent applies socket settings only when all three are set; kagi applies each one.
    eprintln!(
        "socket_mode 0600 alone: bao agent {:o}, kagi-agent {:o}",
        only_mode[0], only_mode[1]
    );
    assert_eq!(only_mode[1], 0o600);
}

#[test]
fn a_bad_role_or_socket_setting_stops_the_agent_naming_the_listener() {
    let (bao, token) = seeded();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let method = token_file_method(&dir.path().join("token"));
    for (listener, needle) in [
        (
            json!({ "type": "tcp", "address": "127.0.0.1:0", "tls_disable": true, "role": "admin" }),
            "\"admin\"",
        ),
        (
            json!({ "type": "unix", "address": dir.path().join("x.sock").display().to_string(), "tls_disable": true, "socket_mode": "rw-rw----" }),
            "socket_mode",
        ),
        (
            json!({ "type": "unix", "address": dir.path().join("y.sock").display().to_string(), "tls_disable": true, "socket_user": "no-such-user-here" }),
            "no-such-user-here",
        ),
    ] {
        let mut cfg = config(
            &bao.addr(),
            method.clone(),
            &dir.path().join("sink"),
            0,
            json!({}),
        );
        cfg["listener"] = json!([listener]);
        let mut agent = Agent::start(dir.path(), "bad", &cfg);
        let status = agent
            .wait_exit(Duration::from_secs(10))
            .expect("the agent exits");
        let log = agent.log();
        assert!(!status.success());
        assert!(
            log.contains("listener 0") && log.contains(needle),
            "{needle}: {log}"
        );
    }
}

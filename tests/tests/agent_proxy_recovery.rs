//! The API proxy when Vault misbehaves, against `bao agent` 2.7.2 on the same config:
//! proxied requests retried on 5xx/412/429 with their body (through a stand-in Vault that fails
//! chosen paths), a cached token kept through a renewal outage, and self-healing after the
//! agent's token is revoked (which kagi does and bao agent does not: openbao/vault#31995).

mod agent_proxy_support;
mod agent_support;

use std::path::Path;
use std::time::{Duration, Instant};

use agent_proxy_support::{BaoAgent, Flaky, config, wait_ready};
use agent_support::{Agent, token_file_method};
use kagi_tests::openbao::OpenBao;
use kagi_tests::{http, procs, setup};
use serde_json::{Value, json};

const POLICY: &str = r#"
path "secret/data/app" { capabilities = ["read"] }
path "secret/data/w-*" { capabilities = ["create", "update", "read"] }
path "auth/token/create" { capabilities = ["create", "update"] }
"#;

/// A dev server with `secret/app`, the policy, and a policy-limited token for `token_file`.
fn seeded() -> (OpenBao, String) {
    let bao = OpenBao::start().expect("OpenBao dev server (run `make test-deps`)");
    setup::put_kv(&bao, "secret/app", &[("password", "s3cr3t")]).unwrap();
    setup::write_policy(&bao, "proxy", POLICY).unwrap();
    let token = setup::create_token(&bao, &["-policy=proxy", "-ttl=1h"]).unwrap();
    (bao, token)
}

enum Running {
    Bao(BaoAgent),
    Kagi(Agent),
}

impl Running {
    fn log(&self) -> String {
        match self {
            Running::Bao(agent) => agent.log(),
            Running::Kagi(agent) => agent.log(),
        }
    }
}

/// Starts `name` (`bao` or `kagi`) on `cfg`; returns it and its proxy port.
fn start(
    bao: &OpenBao,
    dir: &Path,
    name: &str,
    cfg: impl Fn(u16, &Path) -> Value,
) -> (Running, u16) {
    let port = procs::free_port();
    let sink = dir.join(format!("{name}-sink"));
    let cfg = cfg(port, &sink);
    let running = if name == "bao" {
        Running::Bao(BaoAgent::start(bao, dir, name, &cfg))
    } else {
        Running::Kagi(Agent::start(dir, name, &cfg))
    };
    wait_ready(port, &sink);
    (running, port)
}

/// What a client of one proxy sees while the stand-in fails its requests.
fn retry_story(flaky: &Flaky, port: u16, agent: &str) -> Vec<String> {
    let path = format!("/v1/secret/data/w-{agent}");
    let mut story = Vec::new();
    let mut case = |what: &str, method: &str, body: &str, status: u16, count: usize| {
        let before = flaky.seen(&path).len();
        flaky.fail_next(&path, status, count);
        let reply = http::request(port, method, &path, &[], body.as_bytes()).unwrap();
        let seen = flaky.seen(&path)[before..].to_vec();
        let intact = seen
            .iter()
            .all(|s| s.body == body.as_bytes() && s.method == method);
        story.push(format!(
            "{what}: {} after {} attempts, request intact every time: {intact}, body {}",
            reply.status,
            seen.len(),
            reply.json().get("errors").cloned().unwrap_or(Value::Null)
        ));
    };
    // num_retries = 2: three attempts at most.
    case("PUT, 503 twice", "PUT", r#"{"data":{"a":"b"}}"#, 503, 2);
    case("GET, 503 five times", "GET", "", 503, 5);
    case("GET, 502 once", "GET", "", 502, 1);
    case("GET, 412 once", "GET", "", 412, 1);
    case("POST, 429 once", "POST", r#"{"data":{"a":"c"}}"#, 429, 1);
    case("GET, 501 (not retried)", "GET", "", 501, 3);
    case("GET, 400 (not retried)", "GET", "", 400, 3);
    flaky.fail_next(&path, 500, 0);
    let read = http::request(port, "GET", &path, &[], b"").unwrap();
    story.push(format!("written: {}", read.json()["data"]["data"]));
    story
}

#[test]
fn proxied_requests_are_retried_with_their_body_like_bao_agent() {
    let (bao, token) = seeded();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let flaky = Flaky::start(&bao);
    let extra = json!({ "api_proxy": { "use_auto_auth_token": true } });
    let cfg = |port: u16, sink: &Path| {
        let mut c = config(
            &flaky.addr(),
            token_file_method(&dir.path().join("token")),
            sink,
            port,
            extra.clone(),
        );
        c["vault"]["retry"] = json!({ "num_retries": 2 });
        c
    };
    let (_bao_agent, bao_port) = start(&bao, dir.path(), "bao", cfg);
    let (_kagi, kagi_port) = start(&bao, dir.path(), "kagi", cfg);
    let (bao_story, kagi_story) = std::thread::scope(|s| {
        let kagi = s.spawn(|| retry_story(&flaky, kagi_port, "kagi"));
        (retry_story(&flaky, bao_port, "bao"), kagi.join().unwrap())
    });
    eprintln!("bao agent: {bao_story:#?}\nkagi-agent: {kagi_story:#?}");
    assert_eq!(
        bao_story, kagi_story,
        "bao agent (left) vs kagi-agent (right)"
    );
    let promised = [
        "PUT, 503 twice: 200 after 3 attempts, request intact every time: true, body null",
        "GET, 503 five times: 503 after 3 attempts, request intact every time: true, body [\"stand-in failure 3\"]",
        "GET, 502 once: 200 after 2 attempts, request intact every time: true, body null",
        "GET, 412 once: 200 after 2 attempts, request intact every time: true, body null",
        "POST, 429 once: 200 after 2 attempts, request intact every time: true, body null",
        "GET, 501 (not retried): 501 after 1 attempts, request intact every time: true, body [\"stand-in failure 1\"]",
        "GET, 400 (not retried): 400 after 1 attempts, request intact every time: true, body [\"stand-in failure 1\"]",
        "written: {\"a\":\"c\"}",
    ];
    assert_eq!(kagi_story, promised);
}

/// A token created through one proxy's cache while the stand-in refuses every renewal for
/// 6 s: still cached and alive past its 10 s TTL.
fn outage_story(bao: &OpenBao, port: u16) -> Vec<String> {
    let create = r#"{"ttl":"10s","explicit_max_ttl":"120s","policies":["default"]}"#;
    let started = Instant::now();
    let first = http::request(
        port,
        "POST",
        "/v1/auth/token/create",
        &[],
        create.as_bytes(),
    )
    .unwrap();
    let child = first.json()["auth"]["client_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    std::thread::sleep(Duration::from_secs(14).saturating_sub(started.elapsed()));
    let again = http::request(
        port,
        "POST",
        "/v1/auth/token/create",
        &[],
        create.as_bytes(),
    )
    .unwrap();
    vec![
        format!(
            "create: {} {}",
            first.status,
            first.header("x-cache").unwrap_or("-")
        ),
        format!(
            "after the outage, past its TTL: {} same token {}",
            again.header("x-cache").unwrap_or("-"),
            again.json()["auth"]["client_token"] == child.as_str()
        ),
        format!(
            "token alive: {}",
            bao.bao_json(&["token", "lookup", &child]).is_ok()
        ),
    ]
}

#[test]
fn a_cached_token_outlives_a_renewal_outage_like_bao_agent() {
    let (bao, token) = seeded();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let flaky = Flaky::start(&bao);
    let extra = json!({ "cache": { "use_auto_auth_token": true } });
    let cfg = |port: u16, sink: &Path| {
        config(
            &flaky.addr(),
            token_file_method(&dir.path().join("token")),
            sink,
            port,
            extra.clone(),
        )
    };
    let (_bao_agent, bao_port) = start(&bao, dir.path(), "bao", cfg);
    let (_kagi, kagi_port) = start(&bao, dir.path(), "kagi", cfg);
    flaky.fail_for("/v1/auth/token/renew-self", 503, Duration::from_secs(6));
    let (bao_story, kagi_story) = std::thread::scope(|s| {
        let kagi = s.spawn(|| outage_story(&bao, kagi_port));
        (outage_story(&bao, bao_port), kagi.join().unwrap())
    });
    eprintln!("bao agent: {bao_story:#?}\nkagi-agent: {kagi_story:#?}");
    assert!(
        flaky.failed("/v1/auth/token/renew-self") > 0,
        "renewals were refused"
    );
    assert_eq!(
        bao_story, kagi_story,
        "bao agent (left) vs kagi-agent (right)"
    );
    assert_eq!(
        kagi_story,
        [
            "create: 200 MISS",
            "after the outage, past its TTL: HIT same token true",
            "token alive: true"
        ]
    );
}

/// AppRole auto-auth (each login gives a new token) on a dev server.
fn approle(bao: &OpenBao, dir: &Path) -> Value {
    let (role_id, secret_id) =
        setup::approle_role(bao, "app", &["token_policies=proxy", "token_ttl=1h"]).unwrap();
    std::fs::write(dir.join("role-id"), role_id).unwrap();
    std::fs::write(dir.join("secret-id"), secret_id).unwrap();
    json!({ "type": "approle", "config": {
        "role_id_file_path": dir.join("role-id").display().to_string(),
        "secret_id_file_path": dir.join("secret-id").display().to_string(),
        "remove_secret_id_file_after_reading": false
    } })
}

fn sink_token(sink: &Path) -> String {
    std::fs::read_to_string(sink)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Revokes the agent's token behind its back; returns whether a proxied read recovered
/// within 15 s, and whether the sink then held a new token.
fn heal_story(bao: &OpenBao, port: u16, sink: &Path) -> (bool, bool) {
    let before = sink_token(sink);
    bao.bao_json(&["token", "revoke", &before]).unwrap();
    let first = http::request(port, "GET", "/v1/secret/data/app", &[], b"").unwrap();
    assert_eq!(first.status, 403, "the revoked token is refused");
    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let reply = http::request(port, "GET", "/v1/secret/data/app", &[], b"").unwrap();
        if reply.status == 200 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    (recovered, sink_token(sink) != before)
}

#[test]
fn a_revoked_auto_auth_token_is_replaced_on_a_proxied_403_unlike_bao_agent() {
    let (bao, _) = seeded();
    let dir = tempfile::tempdir().unwrap();
    let method = approle(&bao, dir.path());
    let extra = json!({ "api_proxy": { "use_auto_auth_token": true } });
    let cfg =
        |port: u16, sink: &Path| config(&bao.addr(), method.clone(), sink, port, extra.clone());
    let (_bao_agent, bao_port) = start(&bao, dir.path(), "bao", cfg);
    let (kagi, kagi_port) = start(&bao, dir.path(), "kagi", cfg);
    let kagi_sink = dir.path().join("kagi-sink");

    // A policy denial is not an invalid token: no new login.
    let token = sink_token(&kagi_sink);
    for _ in 0..3 {
        let denied = http::request(kagi_port, "GET", "/v1/secret/data/other", &[], b"").unwrap();
        assert_eq!(denied.status, 403);
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sink_token(&kagi_sink),
        token,
        "a permission denial made kagi log in again"
    );
    assert!(!kagi.log().contains("logging in again"), "{}", kagi.log());

    let bao_sink = dir.path().join("bao-sink");
    let (bao_story, kagi_story) = std::thread::scope(|s| {
        let theirs = s.spawn(|| heal_story(&bao, bao_port, &bao_sink));
        let ours = heal_story(&bao, kagi_port, &kagi_sink);
        (theirs.join().unwrap(), ours)
    });
    // bao agent 2.7.2 keeps sending the revoked token until its own renewal fails (the token
    // TTL is 1 h): recorded, not asserted, as it is a bug kagi need not share.
    eprintln!("bao agent recovered: {bao_story:?}, kagi-agent recovered: {kagi_story:?}");
    assert_eq!(kagi_story, (true, true), "{}", kagi.log());
}

#[test]
fn templates_recover_from_a_revoked_token_with_a_fresh_login() {
    let (bao, _) = seeded();
    let dir = tempfile::tempdir().unwrap();
    let method = approle(&bao, dir.path());
    let out = dir.path().join("app.txt");
    let sink = dir.path().join("kagi-sink");
    let mut cfg = agent_support::config(
        &bao.addr(),
        method,
        &sink,
        vec![agent_support::template(
            &out,
            "{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg["template_config"] = json!({ "static_secret_render_interval": "1s" });
    let agent = Agent::start(dir.path(), "kagi", &cfg);
    agent_support::eventually(&agent, "first render", Duration::from_secs(20), || {
        (agent_support::read(&out).as_deref() == Some("s3cr3t")).then_some(())
    });
    let before = sink_token(&sink);
    bao.bao_json(&["token", "revoke", &before]).unwrap();
    setup::put_kv(&bao, "secret/app", &[("password", "rotated")]).unwrap();
    agent_support::eventually(
        &agent,
        "render with a new token",
        Duration::from_secs(30),
        || (agent_support::read(&out).as_deref() == Some("rotated")).then_some(()),
    );
    assert_ne!(sink_token(&sink), before, "a fresh login wrote a new token");
}

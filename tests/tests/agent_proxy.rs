//! The agent as a local Vault API proxy, differential against the real `bao agent`: the same
//! config (only the listener port and sink path differ) against the same `bao server -dev`,
//! both logged in with the same policy-limited token (auto-auth `token_file`). Requests go to
//! both proxies and their status and body are compared after removing what differs per request
//! (`request_id`, creation times, TTLs that tick).
//!
//! Then the lease cache: a token created through the proxy and a PostgreSQL credential read
//! through it are cached (the same request answers the same secret), renewed past their TTL by
//! the proxy, and evicted when their revocation goes through the proxy.

mod agent_proxy_support;
mod agent_support;

use std::path::Path;
use std::time::{Duration, Instant};

use agent_proxy_support::{BaoAgent, wait_ready};
use agent_support::{Agent, token_file_method};
use kagi_tests::http::{self, Reply};
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::{procs, setup};
use serde_json::{Value, json};

const POLICY: &str = r#"
path "secret/data/app" { capabilities = ["read"] }
path "secret/data/w-*" { capabilities = ["create", "update", "read"] }
path "secret/metadata/list/" { capabilities = ["list"] }
path "database/creds/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["create", "update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

/// The two proxies on one config shape.
struct Pair {
    bao: BaoAgent,
    _kagi: Agent,
    bao_port: u16,
    kagi_port: u16,
}

/// Either agent's config on `bao`: token_file auth, sink `<name>-sink`, a tcp listener on
/// `port`, plus the `extra` stanzas.
fn config(bao: &OpenBao, dir: &Path, name: &str, port: u16, extra: &Value) -> Value {
    agent_proxy_support::config(
        &bao.addr(),
        token_file_method(&dir.join("token")),
        &dir.join(format!("{name}-sink")),
        port,
        extra.clone(),
    )
}

/// Starts `bao agent` and `kagi-agent` on `extra` stanzas (e.g. `cache`, `api_proxy`) and waits
/// until both proxies answer and both have logged in.
fn start_pair(bao: &OpenBao, dir: &Path, extra: Value) -> Pair {
    let (bao_port, kagi_port) = (procs::free_port(), procs::free_port());
    let bao_agent = BaoAgent::start(bao, dir, "bao", &config(bao, dir, "bao", bao_port, &extra));
    let kagi = Agent::start(dir, "kagi", &config(bao, dir, "kagi", kagi_port, &extra));
    for (port, sink) in [(bao_port, "bao-sink"), (kagi_port, "kagi-sink")] {
        wait_ready(port, &dir.join(sink));
    }
    Pair {
        bao: bao_agent,
        _kagi: kagi,
        bao_port,
        kagi_port,
    }
}

/// What is compared: status and the body without per-request fields.
fn normalised(reply: &Reply) -> (u16, Value) {
    let mut body = reply.json();
    if let Some(map) = body.as_object_mut() {
        map.remove("request_id");
    }
    for pointer in ["/data", "/data/metadata", "/auth"] {
        if let Some(Value::Object(map)) = body.pointer_mut(pointer) {
            for key in [
                "created_time",
                "creation_time",
                "issue_time",
                "ttl",
                "expire_time",
                "last_renewal_time",
                "last_renewal",
            ] {
                map.remove(key);
            }
        }
    }
    (reply.status, body)
}

struct Case {
    what: &'static str,
    method: &'static str,
    /// `{agent}` is replaced by `bao` or `kagi` (writes go to paths of their own).
    path: &'static str,
    token: Option<&'static str>,
    body: &'static str,
}

fn send(port: u16, agent: &str, case: &Case) -> Reply {
    let path = case.path.replace("{agent}", agent);
    let body = case.body.replace("{agent}", agent);
    let mut headers = vec![];
    if let Some(token) = case.token {
        headers.push(("X-Vault-Token", token));
    }
    http::request(port, case.method, &path, &headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", case.what))
}

/// Sends every case to both proxies; returns the differences.
fn differences(pair: &Pair, cases: &[Case]) -> Vec<String> {
    let mut found = Vec::new();
    for case in cases {
        let bao = normalised(&send(pair.bao_port, "bao", case));
        let kagi = normalised(&send(pair.kagi_port, "kagi", case));
        // kagi writes to w-kagi where bao agent writes to w-bao.
        let kagi_body: Value =
            serde_json::from_str(&kagi.1.to_string().replace("w-kagi", "w-bao")).unwrap();
        if bao.0 != kagi.0 || bao.1 != kagi_body {
            found.push(format!(
                "{}: bao agent answered {} {}\n  kagi-agent answered {} {}",
                case.what, bao.0, bao.1, kagi.0, kagi.1
            ));
        }
    }
    found
}

fn seeded_bao() -> (OpenBao, String) {
    let bao =
        OpenBao::start().expect("OpenBao dev server (is `bao` installed? run `make test-deps`)");
    setup::put_kv(&bao, "secret/app", &[("password", "s3cr3t")]).unwrap();
    setup::put_kv(&bao, "secret/other", &[("password", "not-yours")]).unwrap();
    setup::put_kv(&bao, "secret/list/a", &[("k", "1")]).unwrap();
    setup::put_kv(&bao, "secret/list/b", &[("k", "2")]).unwrap();
    setup::write_policy(&bao, "proxy", POLICY).unwrap();
    let token = setup::create_token(&bao, &["-policy=proxy", "-ttl=1h"]).unwrap();
    (bao, token)
}

fn common_cases() -> Vec<Case> {
    vec![
        Case {
            what: "read",
            method: "GET",
            path: "/v1/secret/data/app",
            token: None,
            body: "",
        },
        Case {
            what: "missing path",
            method: "GET",
            path: "/v1/secret/data/nothing-here",
            token: None,
            body: "",
        },
        Case {
            what: "denied path",
            method: "GET",
            path: "/v1/secret/data/other",
            token: None,
            body: "",
        },
        Case {
            what: "list",
            method: "LIST",
            path: "/v1/secret/metadata/list/",
            token: None,
            body: "",
        },
        Case {
            what: "list via query",
            method: "GET",
            path: "/v1/secret/metadata/list/?list=true",
            token: None,
            body: "",
        },
        Case {
            what: "write",
            method: "PUT",
            path: "/v1/secret/data/w-{agent}",
            token: None,
            body: r#"{"data":{"a":"b"}}"#,
        },
        Case {
            what: "write then read",
            method: "GET",
            path: "/v1/secret/data/w-{agent}",
            token: None,
            body: "",
        },
        Case {
            what: "token lookup-self (auto-auth token)",
            method: "GET",
            path: "/v1/auth/token/lookup-self",
            token: None,
            body: "",
        },
        Case {
            what: "token lookup-self (root token)",
            method: "GET",
            path: "/v1/auth/token/lookup-self",
            token: Some("root"),
            body: "",
        },
        Case {
            what: "bad JSON body",
            method: "PUT",
            path: "/v1/secret/data/w-{agent}",
            token: None,
            body: "{not json",
        },
        Case {
            what: "unknown token",
            method: "GET",
            path: "/v1/secret/data/app",
            token: Some("s.nope"),
            body: "",
        },
    ]
}

/// A seeded server, a scratch directory holding the policy-limited auto-auth token, and both
/// proxies started on `extra` stanzas. Bind as `(bao, dir, pair)`: the proxies stop first.
fn proxies(extra: Value) -> (OpenBao, tempfile::TempDir, Pair) {
    let (bao, token) = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let pair = start_pair(&bao, dir.path(), extra);
    (bao, dir, pair)
}

#[test]
fn proxied_answers_match_bao_agent_with_use_auto_auth_token_true() {
    // The vault-k8s form: `cache { use_auto_auth_token = "true" }`.
    let (_bao, _dir, pair) = proxies(json!({ "cache": { "use_auto_auth_token": "true" } }));
    let mut cases = common_cases();
    // The client's own token wins: root may read what the auto-auth token may not.
    cases.push(Case {
        what: "client token wins",
        method: "GET",
        path: "/v1/secret/data/other",
        token: Some("root"),
        body: "",
    });
    let found = differences(&pair, &cases);
    assert!(found.is_empty(), "{}", found.join("\n"));

    // The answers are the server's own (no agent sent its token where the client sent one).
    let denied = send(pair.kagi_port, "kagi", &cases[2]);
    assert_eq!(denied.status, 403, "the auto-auth token is policy-limited");
    let own = send(pair.kagi_port, "kagi", cases.last().unwrap());
    assert_eq!(own.json()["data"]["data"]["password"], "not-yours");
    let lookup = send(pair.kagi_port, "kagi", &cases[7]);
    assert_eq!(lookup.status, 200);
    assert!(
        lookup.json()["data"].get("id").is_none(),
        "the agent's token is never shown"
    );
    drop(pair.bao);
}

#[test]
fn proxied_answers_match_bao_agent_with_api_proxy_force() {
    let (_bao, _dir, pair) = proxies(json!({ "api_proxy": { "use_auto_auth_token": "force" } }));
    let mut cases = common_cases();
    // With force the client's root token is replaced: denied.
    cases.push(Case {
        what: "force replaces the client token",
        method: "GET",
        path: "/v1/secret/data/other",
        token: Some("root"),
        body: "",
    });
    let found = differences(&pair, &cases);
    assert!(found.is_empty(), "{}", found.join("\n"));
    let forced = send(pair.kagi_port, "kagi", cases.last().unwrap());
    assert_eq!(forced.status, 403, "force sends the auto-auth token");
    drop(pair.bao);
}

#[test]
fn without_use_auto_auth_token_requests_carry_only_the_client_token() {
    let (_bao, _dir, pair) = proxies(json!({ "api_proxy": { "use_auto_auth_token": false } }));
    let cases = vec![
        Case {
            what: "no token",
            method: "GET",
            path: "/v1/secret/data/app",
            token: None,
            body: "",
        },
        Case {
            what: "client token",
            method: "GET",
            path: "/v1/secret/data/app",
            token: Some("root"),
            body: "",
        },
        Case {
            what: "lookup-self (root)",
            method: "GET",
            path: "/v1/auth/token/lookup-self",
            token: Some("root"),
            body: "",
        },
    ];
    let found = differences(&pair, &cases);
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert_eq!(send(pair.kagi_port, "kagi", &cases[0]).status, 403);
    drop(pair.bao);
}

/// Sends the same request twice; returns both answers.
fn twice(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (Reply, Reply) {
    let first = http::request(port, method, path, headers, body.as_bytes()).unwrap();
    let second = http::request(port, method, path, headers, body.as_bytes()).unwrap();
    (first, second)
}

/// The cache behaviour seen by a client of one proxy, as comparable facts.
fn cache_story(bao: &OpenBao, pg: &Postgres, port: u16) -> Vec<String> {
    let mut story = Vec::new();
    let started = Instant::now();
    // A credential at its max TTL (5 s) is evicted: the same request then gets a new one.
    let short = http::request(port, "GET", "/v1/database/creds/short", &[], b"").unwrap();
    let short_lease = short.json()["lease_id"].as_str().unwrap_or("").to_owned();
    // A child token of the auto-auth token, 4 s TTL: cached, so the same request gives it again.
    let create = r#"{"ttl":"4s","explicit_max_ttl":"60s","policies":["default"]}"#;
    let (a, b) = twice(port, "POST", "/v1/auth/token/create", &[], create);
    let child = a.json()["auth"]["client_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    story.push(format!(
        "token create: {} {}, again: {} {}",
        a.status,
        a.header("x-cache").unwrap_or("-"),
        b.status,
        b.header("x-cache").unwrap_or("-")
    ));
    story.push(format!(
        "same token again: {}",
        b.json()["auth"]["client_token"] == child.as_str()
    ));
    // A database credential, 4 s default TTL, 60 s max.
    let (c, d) = twice(port, "GET", "/v1/database/creds/app", &[], "");
    let lease = c.json()["lease_id"].as_str().unwrap_or("").to_owned();
    let user = c.json()["data"]["username"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    story.push(format!(
        "db creds: {} {}, again: {} {}",
        c.status,
        c.header("x-cache").unwrap_or("-"),
        d.status,
        d.header("x-cache").unwrap_or("-")
    ));
    story.push(format!(
        "same credential again: {}",
        d.json()["lease_id"] == lease.as_str()
    ));

    // Past both TTLs, both still live: the proxy renewed them.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(started.elapsed()));
    let token_alive = bao.bao_json(&["token", "lookup", &child]).is_ok();
    let lease_alive = bao.bao_json(&["lease", "lookup", &lease]).is_ok();
    let user_alive = pg.roles().contains(&user);
    story.push(format!(
        "after 7 s: token live {token_alive}, lease live {lease_alive}, db user live {user_alive}"
    ));

    std::thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
    let after_max = http::request(port, "GET", "/v1/database/creds/short", &[], b"").unwrap();
    story.push(format!(
        "short-lived credential after its max TTL: {} new {}",
        after_max.header("x-cache").unwrap_or("-"),
        after_max.json()["lease_id"] != short_lease.as_str()
    ));

    // Revocations through the proxy evict: the same requests now give new secrets.
    let revoke_self = http::request(
        port,
        "POST",
        "/v1/auth/token/revoke-self",
        &[("X-Vault-Token", &child)],
        b"",
    )
    .unwrap();
    let revoke_lease = http::request(
        port,
        "PUT",
        "/v1/sys/leases/revoke",
        &[],
        json!({ "lease_id": lease }).to_string().as_bytes(),
    )
    .unwrap();
    story.push(format!(
        "revoke-self {}, lease revoke {}",
        revoke_self.status, revoke_lease.status
    ));
    let e = http::request(
        port,
        "POST",
        "/v1/auth/token/create",
        &[],
        create.as_bytes(),
    )
    .unwrap();
    let f = http::request(port, "GET", "/v1/database/creds/app", &[], b"").unwrap();
    story.push(format!(
        "after revoke: token create {} {} new {}, db creds {} {} new {}",
        e.status,
        e.header("x-cache").unwrap_or("-"),
        e.json()["auth"]["client_token"] != child.as_str(),
        f.status,
        f.header("x-cache").unwrap_or("-"),
        f.json()["lease_id"] != lease.as_str(),
    ));
    story
}

#[test]
fn cached_leases_and_tokens_are_renewed_and_evicted_on_revoke_like_bao_agent() {
    let (bao, token) = seeded_bao();
    let pg = Postgres::start().expect("PostgreSQL (run `make test-deps`)");
    setup::enable_database(&bao, &pg, "app", "4s", "60s").unwrap();
    setup::database_role(&bao, "short", "3s", "5s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let pair = start_pair(
        &bao,
        dir.path(),
        json!({ "cache": { "use_auto_auth_token": true } }),
    );
    let (bao_story, kagi_story) = std::thread::scope(|s| {
        let kagi = s.spawn(|| cache_story(&bao, &pg, pair.kagi_port));
        let bao_story = cache_story(&bao, &pg, pair.bao_port);
        (bao_story, kagi.join().expect("kagi story"))
    });
    eprintln!("bao agent: {bao_story:#?}\nkagi-agent: {kagi_story:#?}");
    assert_eq!(
        bao_story, kagi_story,
        "bao agent's cache (left) vs kagi-agent's (right)"
    );
    // And the story is the one the cache promises (not two proxies failing alike).
    let promised = [
        "token create: 200 MISS, again: 200 HIT",
        "same token again: true",
        "db creds: 200 MISS, again: 200 HIT",
        "same credential again: true",
        "after 7 s: token live true, lease live true, db user live true",
        "short-lived credential after its max TTL: MISS new true",
        "revoke-self 204, lease revoke 204",
        "after revoke: token create 200 MISS new true, db creds 200 MISS new true",
    ];
    assert_eq!(kagi_story, promised);
    drop(pair.bao);
}

#[test]
fn bounds_oversized_body_stalled_client_and_address_in_use() {
    let (bao, token) = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let port = procs::free_port();
    let _agent = Agent::start(
        dir.path(),
        "kagi",
        &config(
            &bao,
            dir.path(),
            "kagi",
            port,
            &json!({ "cache": { "use_auto_auth_token": true } }),
        ),
    );
    // Logged in (the sink is written) and listening.
    wait_ready(port, &dir.path().join("kagi-sink"));

    // A client that sends half a request head and stalls holds nothing else up.
    use std::io::Write;
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow_body = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow_body
        .write_all(b"PUT /v1/secret/data/w-x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let ok = http::request(port, "GET", "/v1/secret/data/app", &[], b"").unwrap();
    assert_eq!(ok.status, 200, "other clients are served while two stall");

    // A body above the 32 MiB the server would refuse is refused by the proxy, unread.
    let mut big = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        big,
        "PUT /v1/secret/data/w-big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        (32u64 << 20) + 1
    )
    .unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut big, &mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));

    // The stalled head is cut off after the header timeout (10 s).
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let read = std::io::Read::read(&mut stalled, &mut buf);
    assert!(
        read.is_ok() && started.elapsed() < Duration::from_secs(19),
        "a stalled client is disconnected: {read:?}"
    );

    // A second agent on the same address fails at startup, naming the listener.
    let mut second = Agent::start(
        dir.path(),
        "kagi2",
        &config(&bao, dir.path(), "kagi2", port, &json!({})),
    );
    let status = second
        .wait_exit(Duration::from_secs(10))
        .expect("the second agent exits");
    assert!(!status.success());
    let log = second.log();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")) && log.contains("listener"),
        "{log}"
    );
}

/// `bao kv get` (Vault's own Go client) through a proxy at `address`, trusting `ca`.
fn kv_get_through(bao: &OpenBao, home: &Path, address: &str, ca: &Path) -> (bool, Value) {
    let output = bao
        .cli()
        .env_remove("VAULT_TOKEN")
        .env("HOME", home)
        .env("VAULT_ADDR", address)
        .env("VAULT_CACERT", ca)
        .env("VAULT_FORMAT", "json")
        .args(["kv", "get", "secret/app"])
        .output()
        .unwrap();
    let mut body: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    if let Some(map) = body.as_object_mut() {
        map.remove("request_id");
    }
    (output.status.success(), body)
}

#[test]
fn tls_and_unix_listeners_serve_the_vault_client_like_bao_agent() {
    let (bao, token) = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let (ca, cert, key) = kagi_tests::webhook::serving_certificate().unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let mut answers = Vec::new();
    for name in ["bao", "kagi"] {
        let port = procs::free_port();
        let socket = dir.path().join(format!("{name}.sock"));
        let mut cfg = config(
            &bao,
            dir.path(),
            name,
            port,
            &json!({ "cache": { "use_auto_auth_token": "true" } }),
        );
        cfg["listener"] = json!([
            { "type": "tcp", "address": format!("127.0.0.1:{port}"),
              "tls_cert_file": cert_file.display().to_string(), "tls_key_file": key_file.display().to_string() },
            { "type": "unix", "address": socket.display().to_string(), "tls_disable": true },
        ]);
        let tls_name = format!("{name}-tls");
        let _running: Box<dyn std::any::Any> = if name == "bao" {
            Box::new(BaoAgent::start(&bao, dir.path(), &tls_name, &cfg))
        } else {
            Box::new(Agent::start(dir.path(), &tls_name, &cfg))
        };
        let https = format!("https://127.0.0.1:{port}");
        let over_tls =
            procs::wait_for(&format!("{name} over TLS"), Duration::from_secs(20), || {
                let answer = kv_get_through(&bao, dir.path(), &https, &ca_file);
                answer.0.then_some(answer)
            })
            .unwrap();
        let over_unix = kv_get_through(
            &bao,
            dir.path(),
            &format!("unix://{}", socket.display()),
            &ca_file,
        );
        answers.push((name, over_tls, over_unix));
    }
    let (_, bao_tls, bao_unix) = &answers[0];
    let (_, kagi_tls, kagi_unix) = &answers[1];
    assert_eq!(
        kagi_tls.1["data"]["data"]["password"], "s3cr3t",
        "{kagi_tls:?}"
    );
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(Value::Object(m)) = v.pointer_mut("/data/metadata") {
            m.remove("created_time");
        }
        v
    };
    assert_eq!(strip(&bao_tls.1), strip(&kagi_tls.1), "over TLS");
    assert!(kagi_unix.0, "kagi over the unix socket: {kagi_unix:?}");
    assert_eq!(
        strip(&bao_unix.1),
        strip(&kagi_unix.1),
        "over the unix socket"
    );
}

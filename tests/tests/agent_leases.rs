//! Keeping secrets fresh against real OpenBao + PostgreSQL: a database credential renewed on
//! the LifetimeWatcher schedule, re-issued when max TTL caps it (the file re-rendered, the old
//! PostgreSQL user gone once Vault revokes it); a KV v2 change picked up on a short static
//! interval with the command run only on change; a PKI certificate re-issued before it expires.

mod agent_support;

use std::time::Duration;

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use serde_json::json;

fn root_token_agent(
    bao: &OpenBao,
    dir: &std::path::Path,
    name: &str,
    templates: Vec<serde_json::Value>,
    extra: serde_json::Value,
) -> Agent {
    let token_file = dir.join("root-token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let mut cfg = config(
        &bao.addr(),
        token_file_method(&token_file),
        &dir.join("sink"),
        templates,
    );
    if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            cfg.insert(k.clone(), v.clone());
        }
    }
    Agent::start(dir, name, &cfg)
}

#[test]
fn database_credential_is_renewed_then_reissued_at_max_ttl() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let pg = Postgres::start().expect("PostgreSQL (run `make test-deps`)");
    setup::enable_database(&bao, &pg, "app", "4s", "12s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("db.txt");
    let agent = root_token_agent(
        &bao,
        dir.path(),
        "db",
        vec![template(
            &out,
            "{{ with secret \"database/creds/app\" }}{{ .Data.username }} {{ .Data.password }}{{ end }}",
        )],
        json!({}),
    );
    let first = eventually(&agent, "first credential", Duration::from_secs(20), || {
        read(&out)
    });
    let (user1, pass1) = first
        .split_once(' ')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
        .unwrap();
    assert!(pg.roles().contains(&user1), "Vault created {user1}");
    pg.psql_as(&user1, &pass1, "SELECT 1")
        .expect("the rendered credential works");

    eventually(
        &agent,
        "two lease renewals",
        Duration::from_secs(12),
        || (agent.log().matches("renewed lease").count() >= 2).then_some(()),
    );
    let second = eventually(
        &agent,
        "re-issued credential",
        Duration::from_secs(20),
        || read(&out).filter(|c| *c != first),
    );
    let (user2, pass2) = second.split_once(' ').unwrap();
    assert_ne!(user1, user2);
    pg.psql_as(user2, pass2, "SELECT 1")
        .expect("the new credential works");
    assert!(bao.count_requests("sys/leases/renew") >= 2);
    // Vault revokes the old lease at its max TTL, which drops the user.
    eventually(&agent, "old user dropped", Duration::from_secs(20), || {
        (!pg.roles().contains(&user1)).then_some(())
    });
    assert_log_clean(&agent.log(), &[&pass1, pass2]);
}

#[test]
fn kv_v2_change_is_picked_up_and_the_command_runs_once_per_change() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::put_kv(&bao, "secret/app", &[("color", "red")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kv.txt");
    let runs = dir.path().join("runs");
    let mut tpl = template(
        &out,
        "{{ with secret \"secret/app\" }}{{ .Data.data.color }}{{ end }}",
    );
    tpl["command"] = json!(format!("sh -c 'echo run >> {}'", runs.display()));
    let agent = root_token_agent(
        &bao,
        dir.path(),
        "kv",
        vec![tpl],
        json!({ "template_config": { "static_secret_render_interval": "1s" } }),
    );
    eventually(&agent, "first render", Duration::from_secs(20), || {
        read(&out).filter(|s| s == "red")
    });
    eventually(&agent, "command ran", Duration::from_secs(5), || {
        read(&runs)
    });
    // Several static re-reads with nothing changed: no rewrite, no command.
    eventually(&agent, "three re-reads", Duration::from_secs(10), || {
        (bao.count_requests("secret/data/app") >= 4).then_some(())
    });
    assert_eq!(
        read(&runs).unwrap().lines().count(),
        1,
        "unchanged data runs no command"
    );
    setup::put_kv(&bao, "secret/app", &[("color", "blue")]).unwrap();
    eventually(
        &agent,
        "new value rendered",
        Duration::from_secs(10),
        || read(&out).filter(|s| s == "blue"),
    );
    eventually(&agent, "command ran again", Duration::from_secs(5), || {
        (read(&runs).unwrap().lines().count() == 2).then_some(())
    });
}

#[test]
fn pki_certificate_is_reissued_before_it_expires() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::enable_pki(&bao, "pki", "web", "1h").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cert.txt");
    let agent = root_token_agent(
        &bao,
        dir.path(),
        "pki",
        vec![template(
            &out,
            "{{ with secret \"pki/issue/web\" \"common_name=app.example.com\" \"ttl=8s\" }}{{ .Data.serial_number }} {{ .Data.expiration }}{{ end }}",
        )],
        json!({}),
    );
    let first = eventually(&agent, "first certificate", Duration::from_secs(20), || {
        read(&out)
    });
    let expiration: u64 = first.split_once(' ').unwrap().1.parse().unwrap();
    let second = eventually(
        &agent,
        "re-issued certificate",
        Duration::from_secs(15),
        || read(&out).filter(|c| *c != first),
    );
    let changed_at = std::fs::metadata(&out).unwrap().modified().unwrap();
    let changed_unix = changed_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        changed_unix < expiration,
        "re-issued at {changed_unix}, old cert expired at {expiration}"
    );
    assert_ne!(
        first.split_once(' ').unwrap().0,
        second.split_once(' ').unwrap().0
    );
}

#[test]
fn pki_cert_reuses_the_certificate_cached_in_its_destination() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::enable_pki(&bao, "pki", "web", "1h").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls.pem");
    let tpl = template(
        &out,
        "{{ with pkiCert \"pki/issue/web\" \"common_name=app.example.com\" \"ttl=30m\" }}{{ .Cert }}{{ .Key }}{{ .CA }}{{ end }}",
    );
    let run = |name: &str| {
        let mut agent = root_token_agent(
            &bao,
            dir.path(),
            name,
            vec![tpl.clone()],
            json!({ "exit_after_auth": true }),
        );
        let status = agent.wait_exit(Duration::from_secs(30)).expect("exits");
        assert!(status.success(), "{}", agent.log());
        read(&out).expect("rendered")
    };
    let first = run("issue");
    assert!(
        first.contains("BEGIN CERTIFICATE") && first.contains("PRIVATE KEY"),
        "{first}"
    );
    assert_eq!(bao.count_requests("pki/issue/web"), 1);
    let second = run("reuse");
    assert_eq!(
        second, first,
        "a valid cached certificate is rendered again"
    );
    assert_eq!(
        bao.count_requests("pki/issue/web"),
        1,
        "and not issued again"
    );
}

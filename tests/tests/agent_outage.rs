//! OpenBao stopped for 20 s in the middle of a run: rendered files keep their last good content
//! and the agent recovers by itself after the restart (the dev server forgets every token and
//! lease, so that means logging in again and reading new credentials).

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use serde_json::json;

const POLICY: &str = r#"
path "secret/*" { capabilities = ["read", "list"] }
path "database/creds/*" { capabilities = ["read"] }
"#;

#[test]
fn files_survive_a_20s_outage_and_the_agent_recovers() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let pg = Postgres::start().expect("PostgreSQL (run `make test-deps`)");
    setup::enable_database(&bao, &pg, "app", "4s", "1m").unwrap();
    setup::write_policy(&bao, "app", POLICY).unwrap();
    setup::put_kv(&bao, "secret/app", &[("color", "green")]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let login = kubernetes_login(&bao, dir.path());
    let kv = dir.path().join("kv.txt");
    let db = dir.path().join("db.txt");
    let method = login.method.clone();
    let mut cfg = config(
        &bao.addr(),
        method,
        &dir.path().join("token"),
        vec![
            template(
                &kv,
                "{{ with secret \"secret/app\" }}{{ .Data.data.color }}{{ end }}",
            ),
            template(
                &db,
                "{{ with secret \"database/creds/app\" }}{{ .Data.username }}{{ end }}",
            ),
        ],
    );
    cfg["template_config"] = json!({ "static_secret_render_interval": "1s" });
    let mut agent = Agent::start(dir.path(), "outage", &cfg);
    eventually(
        &agent,
        "both files rendered",
        Duration::from_secs(20),
        || (read(&kv).is_some() && read(&db).is_some()).then_some(()),
    );
    let (kv_before, db_before) = (read(&kv).unwrap(), read(&db).unwrap());

    bao.stop();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(20) {
        assert_eq!(
            read(&kv).as_deref(),
            Some(kv_before.as_str()),
            "KV file kept during the outage"
        );
        assert_eq!(
            read(&db).as_deref(),
            Some(db_before.as_str()),
            "DB file kept during the outage"
        );
        assert!(
            agent.is_running(),
            "agent survives the outage\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    bao.restart().unwrap();

    // The restarted dev server knows neither the token nor the lease: the agent must log in
    // again and issue a new credential, by itself.
    let db_after = eventually(
        &agent,
        "new credential after restart",
        Duration::from_secs(60),
        || read(&db).filter(|u| *u != db_before),
    );
    assert!(
        pg.roles().contains(&db_after),
        "the new credential is a live user"
    );
    assert_eq!(read(&kv).as_deref(), Some(kv_before.as_str()));
    setup::put_kv(&bao, "secret/app", &[("color", "violet")]).unwrap();
    eventually(
        &agent,
        "KV change after recovery",
        Duration::from_secs(10),
        || read(&kv).filter(|c| c == "violet"),
    );
    assert!(agent.is_running());
    assert!(agent.log().matches("authentication successful").count() >= 2);
}

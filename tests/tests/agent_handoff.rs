//! Classic injection: the init container (`exit_after_auth`) leaves its token and leases in
//! `kagi.state_dir`; the sidecar adopts and renews them. One login and exactly one PostgreSQL
//! user for the pod, instead of two (vault#14634).

mod agent_support;

use std::time::Duration;

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;
use serde_json::json;

#[test]
fn init_then_sidecar_creates_one_database_user() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let pg = Postgres::start().expect("PostgreSQL (run `make test-deps`)");
    setup::enable_database(&bao, &pg, "app", "4s", "1m").unwrap();
    setup::write_policy(
        &bao,
        "app",
        "path \"database/creds/*\" { capabilities = [\"read\"] }",
    )
    .unwrap();
    let before = pg.roles();

    let dir = tempfile::tempdir().unwrap();
    let login = kubernetes_login(&bao, dir.path());
    let state_dir = dir.path().join("agent-state");
    let out = dir.path().join("db.txt");
    let method = login.method.clone();
    let mut cfg = config(
        &bao.addr(),
        method,
        &dir.path().join("token"),
        vec![template(
            &out,
            "{{ with secret \"database/creds/app\" }}{{ .Data.username }}{{ end }}",
        )],
    );
    cfg["kagi"] = json!({ "state_dir": state_dir.display().to_string() });

    let mut init_cfg = cfg.clone();
    init_cfg["exit_after_auth"] = json!(true);
    let mut init = Agent::start(dir.path(), "init", &init_cfg);
    let status = init.wait_exit(Duration::from_secs(30)).expect("init exits");
    assert!(status.success(), "{}", init.log());
    let user = read(&out).expect("init rendered");

    let sidecar = Agent::start(dir.path(), "sidecar", &cfg);
    eventually(&sidecar, "adoption", Duration::from_secs(10), || {
        sidecar
            .log()
            .contains("adopted token and leases")
            .then_some(())
    });
    eventually(
        &sidecar,
        "two renewals of the adopted lease",
        Duration::from_secs(15),
        || (sidecar.log().matches("renewed lease").count() >= 2).then_some(()),
    );
    assert_eq!(
        read(&out).as_deref(),
        Some(user.as_str()),
        "the sidecar keeps the init's credential"
    );
    let created: Vec<String> = pg
        .roles()
        .into_iter()
        .filter(|r| !before.contains(r))
        .collect();
    assert_eq!(created, vec![user], "exactly one database user for the pod");
    assert_eq!(
        bao.count_requests("auth/kubernetes/login"),
        1,
        "one login for the pod"
    );
    assert_eq!(
        bao.count_requests("database/creds/app"),
        1,
        "one credential issued"
    );
}

//! Auto-auth against a real OpenBao: Kubernetes auth (TokenReview answered by a responder that
//! really verifies the test issuer's JWTs), JWT auth (no fake at all), token renewal and
//! re-login at max TTL, and a denied login that names role, mount and service account.

mod agent_support;

use std::time::Duration;

use agent_support::*;
use kagi_tests::kube::{ServiceAccountIssuer, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;
use serde_json::json;

const POLICY: &str = r#"
path "secret/*" { capabilities = ["read", "list"] }
"#;
const SECRET: &str = "kube-secret-5521";

fn start_bao() -> OpenBao {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::write_policy(&bao, "app", POLICY).unwrap();
    setup::put_kv(&bao, "secret/app", &[("password", SECRET)]).unwrap();
    bao
}

const TEMPLATE: &str = "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}";

#[test]
fn kubernetes_login_renews_the_token_and_logs_in_again_at_max_ttl() {
    let bao = start_bao();
    let issuer = ServiceAccountIssuer::new().unwrap();
    let reviewer = TokenReviewer::start(&issuer).unwrap();
    setup::configure_kubernetes_auth_at(&bao, "kubernetes", &reviewer).unwrap();
    setup::kubernetes_role(
        &bao,
        "kubernetes",
        "app",
        "shop",
        "web",
        &["app"],
        &["token_ttl=3s", "token_max_ttl=8s"],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sa_token = dir.path().join("sa-token");
    std::fs::write(&sa_token, issuer.token("shop", "web")).unwrap();
    let sink = dir.path().join("token");
    let out = dir.path().join("secret.txt");
    let method = json!({
        "type": "kubernetes",
        "mount_path": "auth/kubernetes",
        "config": { "role": "app", "token_path": sa_token.display().to_string() }
    });
    let cfg = config(&bao.addr(), method, &sink, vec![template(&out, TEMPLATE)]);
    let agent = Agent::start(dir.path(), "k8s", &cfg);

    eventually(&agent, "rendered secret", Duration::from_secs(20), || {
        read(&out).filter(|s| s == SECRET)
    });
    let first = read(&sink).expect("sink written");
    let lookup = bao.bao_json(&["token", "lookup", &first]).unwrap();
    assert_eq!(lookup["data"]["meta"]["service_account_name"], "web");
    assert!(
        reviewer.reviews_seen() >= 1,
        "OpenBao asked the TokenReview responder"
    );

    // Renewed at ~70 % of 3 s, then replaced by a new login when max TTL (8 s) caps it.
    eventually(&agent, "token renewal", Duration::from_secs(10), || {
        agent.log().contains("renewed auth token").then_some(())
    });
    let second = eventually(
        &agent,
        "re-login with a new token",
        Duration::from_secs(20),
        || read(&sink).filter(|t| *t != first),
    );
    assert!(bao.count_requests("auth/kubernetes/login") >= 2);
    assert!(bao.bao_json(&["token", "lookup", &second]).is_ok());
    assert_eq!(
        read(&out).as_deref(),
        Some(SECRET),
        "file still has the secret"
    );
    assert_log_clean(&agent.log(), &[SECRET, &first, &second]);
}

#[test]
fn jwt_login_renders_and_exits_in_init_mode() {
    let bao = start_bao();
    let issuer = ServiceAccountIssuer::new().unwrap();
    setup::configure_jwt_auth(
        &bao,
        &issuer,
        "app",
        "shop",
        "web",
        issuer.issuer(),
        &["app"],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt");
    let token = issuer.token("shop", "web");
    std::fs::write(&jwt, &token).unwrap();
    let out = dir.path().join("secret.txt");
    let method =
        json!({ "type": "jwt", "config": { "role": "app", "path": jwt.display().to_string() } });
    let mut cfg = config(
        &bao.addr(),
        method,
        &dir.path().join("token"),
        vec![template(&out, TEMPLATE)],
    );
    cfg["exit_after_auth"] = json!(true);
    let mut agent = Agent::start(dir.path(), "jwt", &cfg);
    let status = agent.wait_exit(Duration::from_secs(30)).expect("exits");
    assert!(status.success(), "{}", agent.log());
    assert_eq!(read(&out).as_deref(), Some(SECRET));
    assert_eq!(bao.count_requests("auth/jwt/login"), 1);
    assert_log_clean(&agent.log(), &[SECRET, &token]);
}

#[test]
fn denied_login_names_role_mount_and_service_account() {
    let bao = start_bao();
    let issuer = ServiceAccountIssuer::new().unwrap();
    let reviewer = TokenReviewer::start(&issuer).unwrap();
    setup::configure_kubernetes_auth(&bao, &reviewer, "app", "shop", "web", &["app"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sa_token = dir.path().join("sa-token");
    // A real token, but for a service account the role is not bound to.
    std::fs::write(&sa_token, issuer.token("shop", "intruder")).unwrap();
    let method = json!({
        "type": "kubernetes",
        "exit_on_err": true,
        "config": { "role": "app", "token_path": sa_token.display().to_string() }
    });
    let cfg = config(&bao.addr(), method, &dir.path().join("token"), vec![]);
    let mut agent = Agent::start(dir.path(), "denied", &cfg);
    let status = agent
        .wait_exit(Duration::from_secs(20))
        .expect("exit_on_err exits");
    assert_eq!(status.code(), Some(1));
    let log = agent.log();
    for needle in [
        "login denied",
        "role \"app\"",
        "auth/kubernetes",
        "shop/intruder",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
}

#[test]
fn approle_login_reads_role_and_secret_id_files() {
    let bao = start_bao();
    let (role_id, secret_id) =
        kagi_tests::setup::approle_role(&bao, "app", &["token_policies=app"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (role_file, secret_file) = (dir.path().join("role-id"), dir.path().join("secret-id"));
    std::fs::write(&role_file, &role_id).unwrap();
    std::fs::write(&secret_file, format!("{secret_id}\n")).unwrap();
    let out = dir.path().join("secret.txt");
    let method = json!({ "type": "approle", "config": {
        "role_id_file_path": role_file.display().to_string(),
        "secret_id_file_path": secret_file.display().to_string(),
        "remove_secret_id_file_after_reading": false
    } });
    let mut cfg = config(
        &bao.addr(),
        method,
        &dir.path().join("token"),
        vec![template(&out, TEMPLATE)],
    );
    cfg["exit_after_auth"] = json!(true);
    let mut agent = Agent::start_with(dir.path(), "approle", &cfg, &[("VAULT_LOG_FORMAT", "json")]);
    let status = agent.wait_exit(Duration::from_secs(30)).expect("exits");
    let log = agent.log();
    assert!(status.success(), "{log}");
    assert_eq!(read(&out).as_deref(), Some(SECRET));
    for line in log.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
    assert_log_clean(&log, &[SECRET, &secret_id]);
}

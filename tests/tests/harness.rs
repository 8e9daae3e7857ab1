//! Proves each harness piece against the real servers: OpenBao (with its audit log),
//! PostgreSQL, the service-account issuer and the TokenReview responder. One server set per
//! binary, shared by the checks below, to keep CI fast.

use std::time::Duration;

use kagi_tests::kube::{ServiceAccountIssuer, TokenRequest, TokenReviewer};
use kagi_tests::openbao::OpenBao;
use kagi_tests::postgres::Postgres;
use kagi_tests::setup;

const NS: &str = "team-a";
const SA: &str = "app";

fn login_kubernetes(bao: &OpenBao, role: &str, jwt: &str) -> anyhow::Result<serde_json::Value> {
    bao.bao_json(&[
        "write",
        "auth/kubernetes/login",
        &format!("role={role}"),
        &format!("jwt={jwt}"),
    ])
}

#[test]
fn harness_drives_real_openbao_postgres_and_kubernetes_auth() {
    let bao = OpenBao::start().expect("OpenBao dev server");
    let pg = Postgres::start().expect("PostgreSQL");
    let issuer = ServiceAccountIssuer::new().unwrap();
    let reviewer = TokenReviewer::start(&issuer).unwrap();

    // --- Kubernetes auth through the TokenReview responder.
    setup::write_policy(
        &bao,
        "app",
        r#"path "secret/data/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    setup::configure_kubernetes_auth(&bao, &reviewer, "app", NS, SA, &["app"]).unwrap();
    let login = login_kubernetes(&bao, "app", &issuer.token(NS, SA)).expect("kubernetes login");
    let client_token = login["auth"]["client_token"].as_str().unwrap().to_string();
    assert!(!client_token.is_empty());
    assert_eq!(
        login["auth"]["metadata"]["service_account_name"], SA,
        "{login}"
    );
    assert!(
        login["auth"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "app"),
        "{login}"
    );
    assert_eq!(reviewer.reviews_seen(), 1);
    assert_eq!(
        reviewer.reviews()[0].username.as_deref(),
        Some("system:serviceaccount:team-a:app")
    );

    // A tampered token (claims changed, signature kept) is refused by the responder.
    let good = issuer.token(NS, "other");
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let forged = issuer.token(NS, SA);
    parts[1] = forged.split('.').nth(1).unwrap().to_string();
    let tampered = parts.join(".");
    let refused = login_kubernetes(&bao, "app", &tampered).unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    assert_eq!(reviewer.reviews_seen(), 2);
    assert!(!reviewer.reviews()[1].authenticated);

    // An expired token is refused too, and another service account is not bound to the role.
    let mut claims = issuer.claims_for(&TokenRequest::new(NS, SA));
    claims["exp"] = serde_json::json!(1);
    let expired = issuer.sign(&claims);
    assert_eq!(
        issuer.verify(&expired).unwrap_err(),
        kagi_tests::kube::TokenRejection::Expired
    );
    assert!(login_kubernetes(&bao, "app", &expired).is_err());
    assert!(login_kubernetes(&bao, "app", &issuer.token(NS, "intruder")).is_err());

    // The client token reads what its policy allows, and the audit log saw the logins.
    setup::put_kv(&bao, "secret/app/config", &[("password", "s3cr3t")]).unwrap();
    let read = bao
        .bao_json_as(&client_token, &["kv", "get", "secret/app/config"])
        .unwrap();
    assert_eq!(read["data"]["data"]["password"], "s3cr3t");
    assert!(bao.count_requests("auth/kubernetes/login") >= 4);

    // --- JWT auth with the issuer's public key, no responder involved.
    setup::configure_jwt_auth(&bao, &issuer, "app-jwt", NS, SA, "vault", &["app"]).unwrap();
    let mut request = TokenRequest::new(NS, SA);
    request.audiences = vec!["vault".to_string()];
    let jwt_login = bao
        .bao_json(&[
            "write",
            "auth/jwt/login",
            "role=app-jwt",
            &format!("jwt={}", issuer.token_for(&request)),
        ])
        .expect("jwt login");
    assert!(jwt_login["auth"]["client_token"].as_str().is_some());
    let reviews_before = reviewer.reviews_seen();
    let wrong_audience = bao.bao_json(&[
        "write",
        "auth/jwt/login",
        "role=app-jwt",
        &format!("jwt={}", issuer.token(NS, SA)),
    ]);
    assert!(wrong_audience.is_err());
    assert_eq!(reviewer.reviews_seen(), reviews_before);

    // --- Database credentials: the user exists in PostgreSQL, logs in, and is dropped on revoke.
    setup::enable_database(&bao, &pg, "app", "1m", "5m").unwrap();
    let creds = bao
        .bao_json_as(&client_token, &["read", "database/creds/app"])
        .expect("database creds");
    let user = creds["data"]["username"].as_str().unwrap().to_string();
    let password = creds["data"]["password"].as_str().unwrap().to_string();
    let lease = creds["lease_id"].as_str().unwrap().to_string();
    assert!(pg.roles().contains(&user), "{:?}", pg.roles());
    assert_eq!(
        pg.psql_as(&user, &password, "SELECT current_user").unwrap(),
        user
    );
    bao.bao_json(&["lease", "revoke", &lease]).unwrap();
    // The plugin drops the role as part of revocation; a just-closed session can delay it.
    kagi_tests::wait_for(
        "the revoked user to be dropped",
        Duration::from_secs(20),
        || (!pg.roles().contains(&user)).then_some(()),
    )
    .unwrap();

    // --- PKI.
    setup::enable_pki(&bao, "pki", "web", "1h").unwrap();
    let cert = bao
        .bao_json(&[
            "write",
            "pki/issue/web",
            "common_name=app.team-a.svc.cluster.local",
        ])
        .unwrap();
    assert!(
        cert["data"]["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(cert["data"]["private_key"].as_str().is_some());

    // --- Restart on the same port replays the setup (KV data, auth, roles are back).
    let port = bao.port();
    bao.stop();
    assert!(!bao.is_running());
    assert!(bao.bao_json(&["status"]).is_err());
    bao.restart().expect("restart");
    assert_eq!(bao.port(), port);
    let read = bao.bao_json(&["kv", "get", "secret/app/config"]).unwrap();
    assert_eq!(read["data"]["data"]["password"], "s3cr3t");
    assert!(login_kubernetes(&bao, "app", &issuer.token(NS, SA)).is_ok());
}

#[test]
fn missing_bao_names_make_test_deps() {
    let err = kagi_tests::openbao::find_bao_from(None, Some("/nonexistent".into())).unwrap_err();
    assert!(err.to_string().contains("make test-deps"), "{err}");
    let err =
        kagi_tests::openbao::find_bao_from(Some("/nonexistent/bao".into()), None).unwrap_err();
    assert!(err.to_string().contains("make test-deps"), "{err}");
}

#[test]
fn missing_binaries_are_reported_with_the_fix() {
    let err = kagi_tests::bins::binary("no-such-kagi-binary").unwrap_err();
    assert!(
        err.to_string().contains("cargo build --workspace --bins"),
        "{err}"
    );
}

//! Every conversation the self-managed TLS controller has with the API server, scripted:
//! first start, a second replica joining, a race on creating the CA Secret, CA rotation
//! (and a race on it), an unusable Secret, a newer CA from another replica, a conflicting
//! bundle patch, and API errors with retries.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::apiserver::{
    MWC_PATH, SECRET_PATH, SECRETS_PATH, ca_secret, run_start, settings, status, unb64,
    webhook_config,
};
use kagi_certs::auto::bundle::CaCert;
use kagi_certs::{CertificateAuthority, Validity};
use serde_json::json;

const DAY: Duration = Duration::from_secs(86_400);
const SERVICE_NAME: &str = "kagi-webhook.kagi.svc";

fn fresh_ca() -> CertificateAuthority {
    CertificateAuthority::generate("existing CA", Validity::starting_now(100 * DAY)).unwrap()
}

/// A CA past 90 % of its life (95 of 100 days used): due for rotation.
fn ageing_ca() -> CertificateAuthority {
    let now = SystemTime::now();
    CertificateAuthority::generate(
        "ageing CA",
        Validity {
            not_before: now - 95 * DAY,
            not_after: now + 5 * DAY,
        },
    )
    .unwrap()
}

async fn assert_trusted(bundle_pem: &str, auto: &kagi_certs::auto::AutoTls) {
    common::handshake(bundle_pem, auto.resolver() as Arc<_>, SERVICE_NAME)
        .await
        .expect("a client trusting the bundle accepts the serving certificate");
}

#[tokio::test]
async fn first_start_creates_the_ca_and_patches_the_bundle() {
    let (started, bundle) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.fail(404, "NotFound");

        let create = api.expect("POST", SECRETS_PATH).await;
        let secret = create.body.clone().unwrap();
        assert_eq!(secret["metadata"]["name"], "kagi-webhook-ca");
        assert_eq!(secret["type"], "Opaque");
        assert!(secret["data"].get("previous-ca.crt").is_none());
        let ca_pem = unb64(&secret["data"]["ca.crt"]);
        assert!(unb64(&secret["data"]["ca.key"]).contains("PRIVATE KEY"));
        let mut created = secret.clone();
        created["metadata"]["resourceVersion"] = json!("1");
        create.respond(201, created);

        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(None, 1, "7"));
        let patch = api.expect("PATCH", MWC_PATH).await;
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/json-patch+json")
        );
        let ops = patch.body.clone().unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"})
        );
        assert_eq!(ops[1]["path"], "/webhooks/0/clientConfig/caBundle");
        assert_eq!(ops.as_array().unwrap().len(), 2);
        let bundle = unb64(&ops[1]["value"]);
        assert_eq!(
            CaCert::all_in(bundle.as_bytes()),
            CaCert::all_in(ca_pem.as_bytes())
        );
        patch.respond(200, webhook_config(Some(&bundle), 1, "8"));
        bundle
    })
    .await;
    let auto = started.expect("first start succeeds");
    assert_trusted(&bundle, &auto).await;
}

#[tokio::test]
async fn second_replica_joins_with_the_shared_ca_and_writes_nothing() {
    let ca = fresh_ca();
    let secret = ca_secret(&ca, None, "3");
    let bundle = ca.cert_pem().to_string();
    let config = webhook_config(Some(&bundle), 1, "9");
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, secret);
        api.expect("GET", MWC_PATH).await.respond(200, config);
        // The script ends here: any write would reach a closed server and fail the start.
    })
    .await;
    let auto = started.expect("joining replica starts without writing");
    // Trusting only the shared CA is enough: this replica's certificate comes from it.
    assert_trusted(ca.cert_pem(), &auto).await;
}

#[tokio::test]
async fn loser_of_the_secret_creation_race_uses_the_winners_ca() {
    let winner = fresh_ca();
    let winner_secret = ca_secret(&winner, None, "2");
    let winner_bundle = winner.cert_pem().to_string();
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.fail(404, "NotFound");
        api.expect("POST", SECRETS_PATH)
            .await
            .fail(409, "AlreadyExists");
        api.expect("GET", SECRET_PATH)
            .await
            .respond(200, winner_secret);
        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(Some(&winner_bundle), 1, "4"));
    })
    .await;
    let auto = started.expect("the race loser starts");
    assert_trusted(winner.cert_pem(), &auto).await;
}

#[tokio::test]
async fn ageing_ca_is_rotated_with_old_and_new_in_the_bundle() {
    let old = ageing_ca();
    let old_pem = old.cert_pem().to_string();
    let secret = ca_secret(&old, None, "5");
    let (started, (new_pem, bundle)) = run_start(settings(), move |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, secret);

        let replace = api.expect("PUT", SECRET_PATH).await;
        let body = replace.body.clone().unwrap();
        // Conditional on what was read, and keeping metadata others added.
        assert_eq!(body["metadata"]["resourceVersion"], "5");
        assert_eq!(body["metadata"]["labels"]["team"], "platform");
        assert_eq!(unb64(&body["data"]["previous-ca.crt"]), old_pem);
        let new_pem = unb64(&body["data"]["ca.crt"]);
        assert_ne!(new_pem, old_pem);
        let mut stored = body.clone();
        stored["metadata"]["resourceVersion"] = json!("6");
        replace.respond(200, stored);

        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(Some(&old_pem), 1, "10"));
        let patch = api.expect("PATCH", MWC_PATH).await;
        let ops = patch.body.clone().unwrap();
        let bundle = unb64(&ops[1]["value"]);
        let mut want = CaCert::all_in(new_pem.as_bytes());
        want.extend(CaCert::all_in(old_pem.as_bytes()));
        assert_eq!(
            CaCert::all_in(bundle.as_bytes()),
            want,
            "bundle = new CA, then old CA"
        );
        patch.respond(200, webhook_config(Some(&bundle), 1, "11"));
        (new_pem, bundle)
    })
    .await;
    let auto = started.expect("rotation succeeds");
    assert_trusted(&bundle, &auto).await;
    // The serving certificate already comes from the new CA.
    assert_trusted(&new_pem, &auto).await;
    let err = common::handshake(old.cert_pem(), auto.resolver() as Arc<_>, SERVICE_NAME)
        .await
        .expect_err("the old CA alone no longer verifies this replica");
    assert!(err.contains("invalid peer certificate"), "{err}");
}

#[tokio::test]
async fn loser_of_a_rotation_race_uses_the_winners_new_ca() {
    let old = ageing_ca();
    let winner = fresh_ca();
    let stale = ca_secret(&old, None, "5");
    let rotated = ca_secret(&winner, Some(old.cert_pem()), "6");
    let bundle = format!("{}{}", winner.cert_pem(), old.cert_pem());
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, stale);
        api.expect("PUT", SECRET_PATH).await.fail(409, "Conflict");
        api.expect("GET", SECRET_PATH).await.respond(200, rotated);
        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(Some(&bundle), 1, "12"));
    })
    .await;
    let auto = started.expect("rotation race loser starts");
    assert_trusted(winner.cert_pem(), &auto).await;
}

#[tokio::test]
async fn unusable_secret_is_replaced_and_every_webhook_is_patched() {
    let mut broken = ca_secret(&fresh_ca(), None, "8");
    broken["data"]["ca.crt"] = json!(common::apiserver::b64("not a certificate"));
    let (started, bundle) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, broken);
        let replace = api.expect("PUT", SECRET_PATH).await;
        let body = replace.body.clone().unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], "8");
        assert!(
            body["data"].get("previous-ca.crt").is_none(),
            "a broken CA is not kept"
        );
        let ca_pem = unb64(&body["data"]["ca.crt"]);
        replace.respond(200, body);

        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(Some("garbage"), 2, "20"));
        let patch = api.expect("PATCH", MWC_PATH).await;
        let ops = patch.body.clone().unwrap();
        let paths: Vec<&str> = ops.as_array().unwrap()[1..]
            .iter()
            .map(|op| op["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/webhooks/0/clientConfig/caBundle",
                "/webhooks/1/clientConfig/caBundle"
            ]
        );
        patch.respond(200, json!({}));
        ca_pem
    })
    .await;
    let auto = started.expect("broken Secret is repaired");
    assert_trusted(&bundle, &auto).await;
}

#[tokio::test]
async fn a_newer_ca_added_by_another_replica_is_left_in_the_bundle() {
    // We read CA `ours`; meanwhile another replica rotated to `theirs` and patched the bundle.
    let ours = fresh_ca();
    let now = SystemTime::now();
    let theirs = CertificateAuthority::generate(
        "their CA",
        Validity {
            not_before: now + Duration::from_secs(5),
            not_after: now + 200 * DAY,
        },
    )
    .unwrap();
    let bundle = format!("{}{}", theirs.cert_pem(), ours.cert_pem());
    let secret = ca_secret(&ours, None, "3");
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, secret);
        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(Some(&bundle), 1, "30"));
        // No PATCH: removing their CA would make their replica untrusted.
    })
    .await;
    started.expect("no fight over the bundle");
}

#[tokio::test]
async fn api_errors_are_retried_until_the_certificate_is_trusted() {
    let ca = fresh_ca();
    let secret = ca_secret(&ca, None, "3");
    let ca_pem = ca.cert_pem().to_string();
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH)
            .await
            .fail(503, "ServiceUnavailable");
        api.expect("GET", SECRET_PATH)
            .await
            .fail(500, "InternalError");
        api.expect("GET", SECRET_PATH)
            .await
            .respond(200, secret.clone());
        api.expect("GET", MWC_PATH)
            .await
            .fail(429, "TooManyRequests");
        // Next pass: the Secret again, then a patch that loses to a concurrent writer.
        api.expect("GET", SECRET_PATH)
            .await
            .respond(200, secret.clone());
        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(None, 1, "40"));
        api.expect("PATCH", MWC_PATH)
            .await
            .respond(422, status(422, "Invalid"));
        // Next pass: re-read everything and patch against the new resourceVersion.
        api.expect("GET", SECRET_PATH).await.respond(200, secret);
        api.expect("GET", MWC_PATH)
            .await
            .respond(200, webhook_config(None, 1, "41"));
        let patch = api.expect("PATCH", MWC_PATH).await;
        let ops = patch.body.clone().unwrap();
        assert_eq!(ops[0]["value"], "41");
        assert_eq!(unb64(&ops[1]["value"]), ca_pem);
        patch.respond(200, json!({}));
    })
    .await;
    let auto = started.expect("start succeeds after transient errors");
    assert_trusted(ca.cert_pem(), &auto).await;
}

#[tokio::test]
async fn start_gives_up_with_a_clear_error_when_access_is_forbidden() {
    let attempts = settings().start_attempts;
    let (started, ()) = run_start(settings(), move |mut api| async move {
        for _ in 0..attempts {
            api.expect("GET", SECRET_PATH).await.fail(403, "Forbidden");
        }
    })
    .await;
    let err = started
        .err()
        .expect("start must fail when RBAC forbids reading the Secret");
    let message = err.to_string();
    assert!(message.contains("reading the CA Secret"), "{message}");
    assert!(message.contains("Forbidden"), "{message}");
}

#[tokio::test]
async fn missing_webhook_configuration_does_not_block_serving() {
    let ca = fresh_ca();
    let secret = ca_secret(&ca, None, "3");
    let (started, ()) = run_start(settings(), |mut api| async move {
        api.expect("GET", SECRET_PATH).await.respond(200, secret);
        api.expect("GET", MWC_PATH).await.fail(404, "NotFound");
    })
    .await;
    let auto = started.expect("serves even before the webhook is registered");
    assert_trusted(ca.cert_pem(), &auto).await;
}

//! Generation round-trips through PEM and a real TLS handshake; bad PEM is refused with an
//! error that says what is wrong.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use kagi_certs::{
    CertError, CertificateAuthority, GenCertsRequest, ReloadingResolver, Validity, parse_pair,
    service_hosts, write_bundle,
};

const DAY: Duration = Duration::from_secs(86_400);

fn ca() -> CertificateAuthority {
    CertificateAuthority::generate("test CA", Validity::starting_now(30 * DAY)).unwrap()
}

#[test]
fn service_hosts_cover_every_in_cluster_name_once() {
    let hosts = service_hosts(
        "kagi",
        "infra",
        &["kagi.example.com".into(), "kagi".into(), "10.0.0.7".into()],
    );
    assert_eq!(
        hosts,
        [
            "kagi",
            "kagi.infra",
            "kagi.infra.svc",
            "kagi.infra.svc.cluster.local",
            "kagi.example.com",
            "10.0.0.7"
        ]
    );
}

#[tokio::test]
async fn serving_cert_is_trusted_for_every_service_name_and_ip() {
    let ca = ca();
    let hosts = service_hosts(
        "kagi",
        "infra",
        &["127.0.0.1".into(), "kagi.example.com".into()],
    );
    let issued = ca
        .issue_serving(&hosts, Validity::starting_now(DAY))
        .unwrap();
    let resolver = ReloadingResolver::from_pair(issued.to_serving_pair().unwrap());
    for name in &hosts {
        common::handshake(ca.cert_pem(), resolver.clone(), name)
            .await
            .unwrap_or_else(|e| panic!("handshake for {name} failed: {e}"));
    }
    let err = common::handshake(ca.cert_pem(), resolver.clone(), "other.infra.svc")
        .await
        .expect_err("a name outside the SANs must be refused");
    assert!(
        err.contains("NotValidForName") || err.contains("not valid for"),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_trusting_another_ca_refuses_the_cert() {
    let issued = ca()
        .issue_serving(
            &service_hosts("kagi", "infra", &[]),
            Validity::starting_now(DAY),
        )
        .unwrap();
    let resolver = ReloadingResolver::from_pair(issued.to_serving_pair().unwrap());
    let stranger =
        CertificateAuthority::generate("another CA", Validity::starting_now(DAY)).unwrap();
    let err = common::handshake(stranger.cert_pem(), resolver.clone(), "kagi.infra.svc")
        .await
        .expect_err("unknown issuer must be refused");
    assert!(err.contains("UnknownIssuer"), "{err}");
    // Same CA name, different key: the signature does not verify.
    let err = common::handshake(ca().cert_pem(), resolver, "kagi.infra.svc")
        .await
        .expect_err("a look-alike CA must be refused");
    assert!(err.contains("BadSignature"), "{err}");
}

#[tokio::test]
async fn ca_read_back_from_pem_signs_certs_the_original_ca_verifies() {
    let original = ca();
    let reread = CertificateAuthority::from_pem(original.cert_pem(), &original.key_pem()).unwrap();
    assert_eq!(reread.not_after(), original.not_after());
    let issued = reread
        .issue_serving(&["kagi.infra.svc".into()], Validity::starting_now(DAY))
        .unwrap();
    let resolver = ReloadingResolver::from_pair(issued.to_serving_pair().unwrap());
    common::handshake(original.cert_pem(), resolver, "kagi.infra.svc")
        .await
        .expect("the re-read CA issues certs trusted through the original CA cert");
}

#[test]
fn expired_certificate_is_rejected_with_its_expiry() {
    let now = SystemTime::now();
    let issued = ca()
        .issue_serving(
            &["kagi.infra.svc".into()],
            Validity {
                not_before: now - 3 * DAY,
                not_after: now - DAY,
            },
        )
        .unwrap();
    let err = parse_pair(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), now).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate expired at"), "{err}");
}

#[test]
fn not_yet_valid_certificate_is_rejected() {
    let now = SystemTime::now();
    let issued = ca()
        .issue_serving(
            &["kagi.infra.svc".into()],
            Validity {
                not_before: now + DAY,
                not_after: now + 2 * DAY,
            },
        )
        .unwrap();
    let err = parse_pair(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), now).unwrap_err();
    assert!(matches!(err, CertError::NotYetValid { .. }), "{err:?}");
}

#[test]
fn key_of_another_certificate_is_rejected_as_mismatch() {
    let ca = ca();
    let a = ca
        .issue_serving(&["a.svc".into()], Validity::starting_now(DAY))
        .unwrap();
    let b = ca
        .issue_serving(&["b.svc".into()], Validity::starting_now(DAY))
        .unwrap();
    let err = parse_pair(
        a.cert_pem.as_bytes(),
        b.key_pem.as_bytes(),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch), "{err:?}");
    assert_eq!(
        err.to_string(),
        "private key does not match the certificate's public key"
    );
}

#[test]
fn garbage_is_rejected_naming_what_is_missing() {
    let ca = ca();
    let good = ca
        .issue_serving(&["a.svc".into()], Validity::starting_now(DAY))
        .unwrap();
    let now = SystemTime::now();

    let err = parse_pair(
        b"hello, I am not a certificate",
        good.key_pem.as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            CertError::Empty {
                what: "certificate",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");

    let err = parse_pair(good.cert_pem.as_bytes(), b"", now).unwrap_err();
    assert!(
        err.to_string().contains("private key holds no PRIVATE KEY"),
        "{err}"
    );

    // Valid PEM framing around bytes that are not a certificate.
    let framed = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    let err = parse_pair(framed.as_bytes(), good.key_pem.as_bytes(), now).unwrap_err();
    assert!(matches!(err, CertError::X509(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("certificate is not valid X.509"),
        "{err}"
    );

    // A private key in the certificate slot and vice versa.
    let err = parse_pair(good.key_pem.as_bytes(), good.cert_pem.as_bytes(), now).unwrap_err();
    assert!(matches!(err, CertError::Empty { .. }), "{err:?}");
}

#[test]
fn invalid_host_names_are_refused() {
    let err = ca()
        .issue_serving(&["bad name!".into()], Validity::starting_now(DAY))
        .unwrap_err();
    assert!(matches!(err, CertError::InvalidName { .. }), "{err:?}");
}

#[tokio::test]
async fn gen_certs_writes_a_usable_bundle_with_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let written = write_bundle(
        &out,
        &GenCertsRequest {
            service: "kagi".into(),
            namespace: "kagi".into(),
            extra_hosts: vec![],
            days: 30,
        },
    )
    .unwrap();
    let mode = std::fs::metadata(&written.tls_key)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "tls.key must be private");

    let resolver = ReloadingResolver::load(&written.tls_cert, &written.tls_key).unwrap();
    let pair = resolver.current();
    let lifetime = pair.not_after - pair.not_before;
    assert!(
        (30 * 86_400..=30 * 86_400 + 120).contains(&lifetime),
        "lifetime {lifetime}s"
    );

    let ca_pem = std::fs::read_to_string(&written.ca_cert).unwrap();
    common::handshake(&ca_pem, resolver, "kagi.kagi.svc")
        .await
        .expect("gen-certs output serves TLS trusted through ca.crt");
}

#[test]
fn gen_certs_narrows_an_existing_world_readable_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tls.key");
    std::fs::write(&key, "old").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let request = GenCertsRequest {
        service: "s".into(),
        namespace: "n".into(),
        extra_hosts: vec![],
        days: 1,
    };
    write_bundle(dir.path(), &request).unwrap();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(write_bundle(dir.path(), &GenCertsRequest { days: 0, ..request }).is_err());
}

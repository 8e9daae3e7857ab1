//! The resolver follows certificate files the way Kubernetes updates them: the kubelet
//! writes a new timestamped directory and atomically swaps the `..data` symlink.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kagi_certs::{CertificateAuthority, IssuedPair, ReloadingResolver, Validity};

const DAY: Duration = Duration::from_secs(86_400);

fn issue(ca: &CertificateAuthority) -> IssuedPair {
    ca.issue_serving(&["kagi.kagi.svc".into()], Validity::starting_now(DAY))
        .unwrap()
}

/// Lays out `dir` like a Secret volume: `..<gen>/tls.{crt,key}`, `..data -> ..<gen>`,
/// `tls.crt -> ..data/tls.crt`, `tls.key -> ..data/tls.key`.
fn secret_volume_init(dir: &Path, pair: &IssuedPair) {
    let generation = dir.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir(&generation).unwrap();
    std::fs::write(generation.join("tls.crt"), &pair.cert_pem).unwrap();
    std::fs::write(generation.join("tls.key"), &pair.key_pem).unwrap();
    symlink("..2026_01_01_00_00_00.000000001", dir.join("..data")).unwrap();
    symlink("..data/tls.crt", dir.join("tls.crt")).unwrap();
    symlink("..data/tls.key", dir.join("tls.key")).unwrap();
}

/// What the kubelet does on a Secret update: new directory, new symlink, rename over `..data`.
fn secret_volume_swap(dir: &Path, generation: &str, cert_pem: &str, key_pem: &str) {
    let new = dir.join(generation);
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join("tls.crt"), cert_pem).unwrap();
    std::fs::write(new.join("tls.key"), key_pem).unwrap();
    symlink(generation, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
}

/// Waits (bounded, for failure only) until the resolver serves `expected_leaf_pem`.
fn wait_for_leaf(resolver: &ReloadingResolver, expected: &IssuedPair) -> bool {
    let want =
        kagi_certs::pem::parse_certificates("expected", expected.cert_pem.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if resolver.current().leaf_der() == &want[0] {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[tokio::test]
async fn symlink_swap_is_picked_up_without_a_restart() {
    let ca = CertificateAuthority::generate("ca", Validity::starting_now(DAY)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = issue(&ca);
    secret_volume_init(dir.path(), &first);

    let resolver =
        ReloadingResolver::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    // A re-check interval far longer than the test: only the file event can explain a reload.
    let _guard = resolver.watch_every(Duration::from_secs(3600)).unwrap();
    assert!(wait_for_leaf(&resolver, &first));

    let second = issue(&ca);
    secret_volume_swap(
        dir.path(),
        "..2026_01_02_00_00_00.000000002",
        &second.cert_pem,
        &second.key_pem,
    );
    assert!(
        wait_for_leaf(&resolver, &second),
        "symlink swap was not noticed"
    );
    common::handshake(ca.cert_pem(), resolver.clone() as Arc<_>, "kagi.kagi.svc")
        .await
        .expect("the reloaded certificate serves TLS");
}

#[test]
fn a_bad_new_pair_is_refused_and_the_old_one_stays_in_service() {
    let ca = CertificateAuthority::generate("ca", Validity::starting_now(DAY)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = issue(&ca);
    secret_volume_init(dir.path(), &first);
    let resolver =
        ReloadingResolver::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();

    // Certificate of one pair with the key of another.
    let other = issue(&ca);
    secret_volume_swap(dir.path(), "..gen2", &other.cert_pem, &first.key_pem);
    let err = resolver.reload().unwrap_err();
    assert!(matches!(err, kagi_certs::CertError::KeyMismatch), "{err:?}");
    assert!(
        wait_for_leaf(&resolver, &first),
        "old pair must stay in service"
    );

    // Unchanged files are not re-parsed and report no change.
    assert!(!resolver.reload().unwrap());

    // Fixed files are taken.
    let third = issue(&ca);
    secret_volume_swap(dir.path(), "..gen3", &third.cert_pem, &third.key_pem);
    assert!(resolver.reload().unwrap());
    assert!(wait_for_leaf(&resolver, &third));
}

#[test]
fn periodic_recheck_reloads_even_without_file_events() {
    let ca = CertificateAuthority::generate("ca", Validity::starting_now(DAY)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = issue(&ca);
    secret_volume_init(dir.path(), &first);
    let resolver =
        ReloadingResolver::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();

    // Change the files first, then start watching: no event will come for this change.
    let second = issue(&ca);
    secret_volume_swap(dir.path(), "..gen2", &second.cert_pem, &second.key_pem);
    let _guard = resolver.watch_every(Duration::from_millis(50)).unwrap();
    assert!(
        wait_for_leaf(&resolver, &second),
        "backstop re-check did not reload"
    );
}

#[test]
fn loading_missing_files_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = ReloadingResolver::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot read certificate file"),
        "{err}"
    );
    assert!(err.to_string().contains("tls.crt"), "{err}");
}

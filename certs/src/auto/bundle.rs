//! The pure part of self-managed TLS: what the shared Secret holds, which CAs the
//! webhook configuration's `caBundle` must carry, and when things are due for renewal.
//! No I/O here, so every rule is testable with plain values.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::ByteString;
use rustls::pki_types::CertificateDer;

use crate::pem::validity;

/// Secret key of the current CA certificate (PEM).
pub const KEY_CA_CERT: &str = "ca.crt";
/// Secret key of the current CA private key (PEM, PKCS#8).
pub const KEY_CA_KEY: &str = "ca.key";
/// Secret key of the CA certificate that was current before the last rotation (PEM). It
/// stays in every `caBundle` until it expires, so certificates it signed stay trusted.
pub const KEY_PREVIOUS_CA_CERT: &str = "previous-ca.crt";

/// One CA certificate as it appears in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCert {
    pub der: Vec<u8>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
}

impl CaCert {
    /// Every certificate in a PEM bundle that parses; anything else is ignored, because a
    /// hand-edited or empty `caBundle` must not stop the controller from fixing it.
    pub fn all_in(pem: &[u8]) -> Vec<CaCert> {
        rustls_pemfile::certs(&mut &pem[..])
            .filter_map(Result::ok)
            .filter_map(|der| Self::from_der(&der))
            .collect()
    }

    /// The first certificate of `pem`, if any parses.
    pub fn first_in(pem: &[u8]) -> Option<CaCert> {
        Self::all_in(pem).into_iter().next()
    }

    fn from_der(der: &CertificateDer<'_>) -> Option<CaCert> {
        let (not_before, not_after) = validity(der).ok()?;
        Some(CaCert {
            der: der.to_vec(),
            not_before,
            not_after,
        })
    }

    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

/// The PEM bundle for a list of CAs, in order.
pub fn encode_bundle(cas: &[CaCert]) -> String {
    cas.iter().map(CaCert::to_pem).collect()
}

/// What the shared Secret holds, decoded.
#[derive(Clone, Debug)]
pub struct SharedCaData {
    pub cert_pem: String,
    pub key_pem: String,
    pub previous_cert_pem: Option<String>,
}

/// Reads the shared Secret's data; `Err` says what is missing or broken.
pub fn decode_secret(data: Option<&BTreeMap<String, ByteString>>) -> Result<SharedCaData, String> {
    let data = data.ok_or_else(|| "it has no data".to_string())?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match data.get(key) {
            None => Ok(None),
            Some(ByteString(bytes)) => String::from_utf8(bytes.clone())
                .map(Some)
                .map_err(|_| format!("{key} is not UTF-8 PEM")),
        }
    };
    let cert_pem = text(KEY_CA_CERT)?.ok_or_else(|| format!("{KEY_CA_CERT} is missing"))?;
    let key_pem = text(KEY_CA_KEY)?.ok_or_else(|| format!("{KEY_CA_KEY} is missing"))?;
    Ok(SharedCaData {
        cert_pem,
        key_pem,
        previous_cert_pem: text(KEY_PREVIOUS_CA_CERT)?,
    })
}

/// The Secret data for a CA and, after a rotation, the one it replaced.
pub fn encode_secret(
    cert_pem: &str,
    key_pem: &str,
    previous_cert_pem: Option<&str>,
) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    data.insert(
        KEY_CA_CERT.to_string(),
        ByteString(cert_pem.as_bytes().to_vec()),
    );
    data.insert(
        KEY_CA_KEY.to_string(),
        ByteString(key_pem.as_bytes().to_vec()),
    );
    if let Some(previous) = previous_cert_pem {
        data.insert(
            KEY_PREVIOUS_CA_CERT.to_string(),
            ByteString(previous.as_bytes().to_vec()),
        );
    }
    data
}

/// The moment something valid from `not_before` to `not_after` is due for renewal: when 90 %
/// of its life has passed, leaving the last 10 % as a margin for retries and for clients
/// that still hold the previous bundle.
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    not_before + (not_after - not_before).max(0) * 9 / 10
}

/// Whether a replica must issue a new serving certificate at `now`, given the one it serves
/// (due for renewal at `renew_at`, valid until `not_after`). `switch` is `None` while the
/// shared CA is the one that signed it; after a CA rotation it says whether the bundle has
/// carried the new CA for long enough that the API server trusts it.
///
/// A pending switch overrides a due renewal: the renewal would have to come from the new CA,
/// which the API server may not trust yet, and the old certificate still has the last 10 %
/// of its life. The two fall due together whenever the certificate was capped at the old
/// CA's end. Only an expired certificate switches early, since it is refused anyway.
pub fn serving_cert_due(renew_at: i64, not_after: i64, now: i64, switch: Option<bool>) -> bool {
    match switch {
        None => now >= renew_at,
        Some(propagated) => propagated || now >= not_after,
    }
}

/// The CAs the `caBundle` must carry at `now`, newest first:
/// - the current CA and the previous one (while unexpired), from the shared Secret;
/// - any unexpired CA already in the bundle that is NEWER than our current CA: another
///   replica has rotated after we last read the Secret, and its new certificates must stay
///   trusted. This rule is what stops replicas from fighting over the bundle.
///
/// Everything else (expired CAs, CAs older than ours that the Secret no longer names) goes.
pub fn desired_bundle(
    current: &CaCert,
    previous: Option<&CaCert>,
    existing: &[CaCert],
    now: i64,
) -> Vec<CaCert> {
    let mut wanted: Vec<CaCert> = Vec::new();
    let candidates = std::iter::once(current).chain(previous).chain(
        existing
            .iter()
            .filter(|ca| ca.not_before > current.not_before),
    );
    for ca in candidates {
        if ca.not_after > now && !wanted.iter().any(|w| w.der == ca.der) {
            wanted.push(ca.clone());
        }
    }
    // The current CA stays even if (wrongly) expired: without it nothing we serve is trusted.
    if !wanted.iter().any(|w| w.der == current.der) {
        wanted.push(current.clone());
    }
    wanted.sort_by(|a, b| b.not_before.cmp(&a.not_before).then(a.der.cmp(&b.der)));
    wanted
}

/// Whether two bundles hold the same certificates, in any order.
pub fn same_cas(a: &[CaCert], b: &[CaCert]) -> bool {
    let mut a: Vec<&[u8]> = a.iter().map(|c| c.der.as_slice()).collect();
    let mut b: Vec<&[u8]> = b.iter().map(|c| c.der.as_slice()).collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(id: u8, not_before: i64, not_after: i64) -> CaCert {
        CaCert {
            der: vec![id],
            not_before,
            not_after,
        }
    }

    #[test]
    fn renewal_is_due_at_ninety_percent_of_life() {
        assert_eq!(renew_at(1000, 2000), 1900);
        assert_eq!(renew_at(0, 86_400), 77_760);
        assert_eq!(renew_at(5, 5), 5);
    }

    #[test]
    fn a_due_renewal_waits_for_the_new_ca_to_propagate() {
        // Same CA: renew at the renewal time, not before.
        assert!(!serving_cert_due(90, 100, 89, None));
        assert!(serving_cert_due(90, 100, 90, None));
        // The CA rotated in the same pass the certificate fell due: keep serving it.
        assert!(!serving_cert_due(90, 100, 95, Some(false)));
        // Once the bundle has carried the new CA long enough, switch even before renewal.
        assert!(serving_cert_due(90, 100, 50, Some(true)));
        // An expired certificate is refused anyway, so it is replaced at once.
        assert!(serving_cert_due(90, 100, 100, Some(false)));
    }

    #[test]
    fn bundle_carries_current_and_unexpired_previous_newest_first() {
        let old = ca(1, 0, 1000);
        let new = ca(2, 900, 2000);
        assert_eq!(
            desired_bundle(&new, Some(&old), &[], 950),
            vec![new.clone(), old.clone()]
        );
        // Once the previous CA has expired it leaves the bundle.
        assert_eq!(desired_bundle(&new, Some(&old), &[], 1000), vec![new]);
    }

    #[test]
    fn a_newer_ca_put_there_by_another_replica_is_kept() {
        let ours = ca(1, 0, 1000);
        let theirs = ca(2, 900, 2000);
        let bundle = desired_bundle(&ours, None, &[theirs.clone(), ours.clone()], 950);
        assert_eq!(bundle, vec![theirs.clone(), ours.clone()]);
        assert!(same_cas(&bundle, &[ours, theirs]));
    }

    #[test]
    fn stale_and_foreign_cas_are_dropped() {
        let ours = ca(1, 500, 5000);
        let older_foreign = ca(7, 100, 5000);
        let expired_newer = ca(8, 600, 700);
        let bundle = desired_bundle(&ours, None, &[older_foreign, expired_newer], 800);
        assert_eq!(bundle, vec![ours]);
    }

    #[test]
    fn same_cas_ignores_order_and_duplicates() {
        let a = ca(1, 0, 10);
        let b = ca(2, 0, 10);
        assert!(same_cas(
            &[a.clone(), b.clone()],
            &[b.clone(), a.clone(), a.clone()]
        ));
        assert!(!same_cas(std::slice::from_ref(&a), &[a.clone(), b]));
    }

    #[test]
    fn secret_round_trips_and_reports_what_is_missing() {
        let data = encode_secret("CERT", "KEY", Some("OLD"));
        let decoded = decode_secret(Some(&data)).unwrap();
        assert_eq!(decoded.cert_pem, "CERT");
        assert_eq!(decoded.key_pem, "KEY");
        assert_eq!(decoded.previous_cert_pem.as_deref(), Some("OLD"));
        let mut data = encode_secret("CERT", "KEY", None);
        data.remove(KEY_CA_KEY);
        assert_eq!(decode_secret(Some(&data)).unwrap_err(), "ca.key is missing");
        assert_eq!(decode_secret(None).unwrap_err(), "it has no data");
    }
}

//! Loading and validating a PEM certificate/key pair.
//!
//! Validation happens before a pair is ever served: a key that does not match its
//! certificate, an expired certificate or a file that is not PEM at all is an error with a
//! message that says which of these it is, never a TLS handshake failure much later.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::CertError;

/// A validated serving certificate chain with its private key, ready for rustls.
#[derive(Clone, Debug)]
pub struct ServingPair {
    /// What rustls serves: the chain (leaf first) and the signing key.
    pub certified_key: Arc<CertifiedKey>,
    /// Start of the leaf's validity, unix seconds.
    pub not_before: i64,
    /// End of the leaf's validity, unix seconds.
    pub not_after: i64,
}

impl ServingPair {
    /// The leaf certificate in DER form.
    pub fn leaf_der(&self) -> &CertificateDer<'static> {
        &self.certified_key.cert[0]
    }
}

/// Seconds since the unix epoch; times before 1970 count as 0.
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Reads and validates `cert` (chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1) from disk.
pub fn load_pair(cert: &Path, key: &Path) -> Result<ServingPair, CertError> {
    let (cert_pem, key_pem) = read_pem_files(cert, key)?;
    parse_pair(&cert_pem, &key_pem, SystemTime::now())
}

/// Reads the raw PEM bytes of a certificate file and a key file, naming the one that failed.
pub(crate) fn read_pem_files(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| CertError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((read("certificate", cert)?, read("private key", key)?))
}

/// Parses and validates a PEM pair as of `now`.
pub fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    now: SystemTime,
) -> Result<ServingPair, CertError> {
    let chain = parse_certificates("certificate", cert_pem)?;
    let key = parse_private_key(key_pem)?;
    let (not_before, not_after) = validity(&chain[0])?;

    let signing_key =
        any_supported_type(&key).map_err(|e| CertError::UnusableKey(e.to_string()))?;
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertError::KeyMismatch);
        }
        Err(e) => return Err(CertError::UnusableKey(e.to_string())),
    }

    let now = unix_seconds(now);
    if now >= not_after {
        return Err(CertError::Expired { not_after, now });
    }
    if now < not_before {
        return Err(CertError::NotYetValid { not_before, now });
    }
    Ok(ServingPair {
        certified_key: Arc::new(certified_key),
        not_before,
        not_after,
    })
}

/// Every `CERTIFICATE` block in `pem`, in order; at least one.
pub fn parse_certificates(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::Empty {
            what,
            expected: "CERTIFICATE",
        });
    }
    for der in &chain {
        validity(der)?;
    }
    Ok(chain)
}

fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| CertError::Pem {
            what: "private key",
            reason: e.to_string(),
        })?
        .ok_or(CertError::Empty {
            what: "private key",
            expected: "PRIVATE KEY",
        })
}

/// `(not_before, not_after)` of a DER certificate, unix seconds.
pub fn validity(der: &CertificateDer<'_>) -> Result<(i64, i64), CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| CertError::X509(e.to_string()))?;
    let v = cert.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

//! Creating a CA and serving certificates with rcgen (ECDSA P-256 throughout).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::CertError;
use crate::pem::{ServingPair, parse_pair, unix_seconds, validity};

/// Certificates start one minute in the past so a node whose clock is slightly behind the
/// one that issued them does not see a not-yet-valid certificate.
pub const BACKDATE: Duration = Duration::from_secs(60);

/// The validity window of a certificate to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From a minute ago until `lifetime` from now.
    pub fn starting_now(lifetime: Duration) -> Self {
        Self::starting_at(SystemTime::now(), BACKDATE, lifetime)
    }

    /// From `backdate` before `now` until `lifetime` after it.
    pub fn starting_at(now: SystemTime, backdate: Duration, lifetime: Duration) -> Self {
        Self {
            not_before: now - backdate,
            not_after: now + lifetime,
        }
    }

    /// The same window, ending no later than `limit` (a leaf must not outlive its CA).
    pub fn capped_at(self, limit: SystemTime) -> Self {
        Self {
            not_before: self.not_before,
            not_after: self.not_after.min(limit),
        }
    }
}

/// The names a Kubernetes client may use for a Service: `<svc>`, `<svc>.<ns>`,
/// `<svc>.<ns>.svc` and `<svc>.<ns>.svc.cluster.local`, then `extra` (DNS names or IPs),
/// without duplicates.
pub fn service_hosts(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut hosts = vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    for host in extra {
        let host = host.trim();
        if !host.is_empty() && !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_string());
        }
    }
    hosts
}

/// A certificate authority that can sign serving certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    not_after: i64,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("CertificateAuthority")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed CA with a fresh ECDSA P-256 key.
    pub fn generate(common_name: &str, validity: Validity) -> Result<Self, CertError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, validity);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        let not_after = unix_seconds(validity.not_after);
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            not_after,
        })
    }

    /// A CA read back from PEM (for example from the shared Secret).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let der = crate::pem::parse_certificates("CA certificate", cert_pem.as_bytes())?;
        let (_, not_after) = validity(&der[0])?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| CertError::UnusableKey(e.to_string()))?;
        let issuer = Issuer::from_ca_cert_der(&der[0], key)?;
        // A CA whose key does not match its certificate would sign leaves nobody trusts.
        parse_pair(cert_pem.as_bytes(), key_pem.as_bytes(), SystemTime::now())?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_string(),
            not_after,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM (PKCS#8). Handle with care: never log it.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// End of the CA's validity, unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// A serving certificate for `hosts` (DNS names or IP addresses; the first is also the
    /// common name) with a fresh ECDSA P-256 key.
    pub fn issue_serving(
        &self,
        hosts: &[String],
        validity: Validity,
    ) -> Result<IssuedPair, CertError> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = hosts.iter().map(|h| san(h)).collect::<Result<_, _>>()?;
        if let Some(first) = hosts.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct IssuedPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for IssuedPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedPair")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl IssuedPair {
    /// Validates the pair and turns it into what the resolver serves.
    pub fn to_serving_pair(&self) -> Result<ServingPair, CertError> {
        parse_pair(
            self.cert_pem.as_bytes(),
            self.key_pem.as_bytes(),
            SystemTime::now(),
        )
    }
}

fn san(host: &str) -> Result<SanType, CertError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && (label == "*" || label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        });
    if !valid {
        return Err(CertError::InvalidName {
            name: host.to_string(),
            reason: "not an IP address or a DNS name".into(),
        });
    }
    let name = host
        .to_string()
        .try_into()
        .map_err(|e: rcgen::Error| CertError::InvalidName {
            name: host.to_string(),
            reason: e.to_string(),
        })?;
    Ok(SanType::DnsName(name))
}

fn set_validity(params: &mut CertificateParams, validity: Validity) {
    params.not_before = to_offset(validity.not_before);
    params.not_after = to_offset(validity.not_after);
}

fn to_offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_seconds(t)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

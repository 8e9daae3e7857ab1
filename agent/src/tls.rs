//! The rustls client configuration for Vault, from [`TlsSettings`].
//!
//! Every file is read and parsed at startup, whatever the address scheme (Vault's client loads
//! them in `ConfigureTLS` too), so a bad CA file or a client certificate without its key stops
//! the agent with an error naming the setting instead of failing at the first request.
//!
//! CA sources are added together (`ca_cert`, `VAULT_CACERT_BYTES`, every PEM file in `ca_path`),
//! as OpenBao's client pools them. Without any, the platform's roots verify the server.
//! `tls_server_name` replaces the URL host in certificate verification, and is the SNI sent
//! ([`crate::sni`]; none for an IP, as in Go). Only the ring provider is used.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::connection::{Sourced, TlsSettings};

/// A TLS setting that cannot be used; each names the key or variable that holds it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {path}: cannot read: {source}")]
    Read {
        setting: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{setting} {path}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { setting: &'static str, path: String },
    #[error("{setting} {path}: not a valid PEM file: {message}")]
    BadPem {
        setting: &'static str,
        path: String,
        message: String,
    },
    #[error("{setting} {path}: no PEM private key found (PKCS#1, PKCS#8 or SEC1)")]
    NoKey { setting: &'static str, path: String },
    #[error("{setting}: {message}")]
    BadCa {
        setting: &'static str,
        message: String,
    },
    #[error(
        "{present} is set but {missing} is not: a client certificate needs its key and vice versa"
    )]
    Incomplete {
        present: &'static str,
        missing: &'static str,
    },
    #[error("{cert} and {key} do not make a usable client identity: {message}")]
    Identity {
        cert: &'static str,
        key: &'static str,
        message: String,
    },
    #[error("{setting} {name:?} is not a valid DNS name or IP address")]
    ServerName { setting: &'static str, name: String },
    #[error("cannot load the platform's trusted roots (set vault.ca_cert): {0}")]
    Platform(String),
}

/// The validated TLS material, ready to become a rustls config.
pub struct LoadedTls {
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: Option<ServerName<'static>>,
    skip_verify: bool,
}

impl LoadedTls {
    /// Reads and checks every file the settings name.
    pub fn load(settings: &TlsSettings) -> Result<Self, TlsError> {
        let mut roots = Vec::new();
        if let Some(ca) = &settings.ca_cert {
            roots.extend(certificates_in_file(ca.origin, &ca.value)?);
        }
        if let Some(pem) = &settings.ca_cert_bytes {
            roots.extend(certificates_in(pem.origin, "(PEM bytes)", &pem.value)?);
        }
        if let Some(dir) = &settings.ca_path {
            roots.extend(certificates_in_dir(dir)?);
        }
        // A pair of PEM variables is parsed whenever it is set, as bao agent's client reads it
        // from the environment at startup (unusable bytes stop it even beside the files); the
        // files win when both are given. Half a pair of either kind is an error rather than a
        // silent anonymous client.
        let from_bytes = match (&settings.client_cert_bytes, &settings.client_key_bytes) {
            (Some(cert), Some(key)) => Some(identity(
                Pem::bytes(cert.origin, &cert.value),
                Pem::bytes(key.origin, &key.value),
            )?),
            _ => None,
        };
        let identity = match (&settings.client_cert, &settings.client_key) {
            (Some(cert), Some(key)) => Some(identity(
                Pem::file(cert.origin, &cert.value)?,
                Pem::file(key.origin, &key.value)?,
            )?),
            (Some(cert), None) => {
                return Err(TlsError::Incomplete {
                    present: cert.origin,
                    missing: "vault.client_key (VAULT_CLIENT_KEY)",
                });
            }
            (None, Some(key)) => {
                return Err(TlsError::Incomplete {
                    present: key.origin,
                    missing: "vault.client_cert (VAULT_CLIENT_CERT)",
                });
            }
            (None, None) => match (&settings.client_cert_bytes, &settings.client_key_bytes) {
                (Some(cert), None) => {
                    return Err(TlsError::Incomplete {
                        present: cert.origin,
                        missing: "VAULT_CLIENT_KEY_BYTES (or BAO_CLIENT_KEY_BYTES)",
                    });
                }
                (None, Some(key)) => {
                    return Err(TlsError::Incomplete {
                        present: key.origin,
                        missing: "VAULT_CLIENT_CERT_BYTES (or BAO_CLIENT_CERT_BYTES)",
                    });
                }
                _ => from_bytes,
            },
        };
        let server_name = match &settings.server_name {
            Some(name) => Some(ServerName::try_from(name.value.clone()).map_err(|_| {
                TlsError::ServerName {
                    setting: name.origin,
                    name: name.value.clone(),
                }
            })?),
            None => None,
        };
        Ok(LoadedTls {
            roots,
            identity,
            server_name,
            skip_verify: settings.skip_verify,
        })
    }

    /// Whether anything differs from a default client (platform roots, no identity).
    pub fn is_custom(&self) -> bool {
        !self.roots.is_empty()
            || self.identity.is_some()
            || self.server_name.is_some()
            || self.skip_verify
    }

    /// The rustls client configuration (ring provider).
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner: Arc<dyn ServerCertVerifier> = if self.skip_verify {
            Arc::new(AnyCertificate(provider.clone()))
        } else if self.roots.is_empty() {
            Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| TlsError::Platform(e.to_string()))?,
            )
        } else {
            let mut store = RootCertStore::empty();
            for cert in &self.roots {
                store.add(cert.clone()).map_err(|e| TlsError::BadCa {
                    setting: "vault.ca_cert",
                    message: e.to_string(),
                })?;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsError::BadCa {
                    setting: "vault.ca_cert",
                    message: e.to_string(),
                })?
        };
        let verifier: Arc<dyn ServerCertVerifier> = match &self.server_name {
            Some(name) if !self.skip_verify => Arc::new(ExpectedName {
                inner,
                name: name.clone(),
            }),
            _ => inner,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Platform(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| TlsError::Identity {
                    cert: "vault.client_cert",
                    key: "vault.client_key",
                    message: e.to_string(),
                })?,
            None => builder.with_no_client_auth(),
        };
        // Go sends no SNI for an IP `ServerName`; a DNS one reaches the SNI through the URL
        // host (crate::sni).
        if matches!(self.server_name, Some(ServerName::IpAddress(_))) {
            config.enable_sni = false;
        }
        Ok(config)
    }
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        setting,
        path: path.display().to_string(),
        source,
    })
}

fn certificates_in(
    setting: &'static str,
    path: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            setting,
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            setting,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn certificates_in_file(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_in(setting, &path.display().to_string(), &read(setting, path)?)
}

/// Every certificate in the directory's files; files without one are skipped, as Go's
/// `AppendCertsFromPEM` skips them, but an empty result is an error.
fn certificates_in_dir(
    dir: &Sourced<std::path::PathBuf>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |source| TlsError::Read {
        setting: dir.origin,
        path: dir.value.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir.value)
        .map_err(unreadable)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        let pem = read(dir.origin, &path)?;
        if let Ok(found) = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
            certs.extend(found);
        }
    }
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            setting: dir.origin,
            path: dir.value.display().to_string(),
        });
    }
    Ok(certs)
}

/// PEM text and where it came from, for error messages.
struct Pem {
    setting: &'static str,
    label: String,
    text: Vec<u8>,
}

impl Pem {
    fn file(setting: &'static str, path: &Path) -> Result<Pem, TlsError> {
        Ok(Pem {
            setting,
            label: path.display().to_string(),
            text: read(setting, path)?,
        })
    }

    fn bytes(setting: &'static str, text: &[u8]) -> Pem {
        Pem {
            setting,
            label: "(PEM bytes)".to_owned(),
            text: text.to_vec(),
        }
    }
}

fn identity(
    cert: Pem,
    key: Pem,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = certificates_in(cert.setting, &cert.label, &cert.text)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key.text).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            setting: key.setting,
            path: key.label.clone(),
        },
        other => TlsError::BadPem {
            setting: key.setting,
            path: key.label.clone(),
            message: other.to_string(),
        },
    })?;
    // A key that does not sign for the certificate fails here, not at the first handshake.
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der.clone_key())
        .map_err(|e| TlsError::Identity {
            cert: cert.setting,
            key: key.setting,
            message: e.to_string(),
        })?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing)
        .keys_match()
        .map_err(|e| TlsError::Identity {
            cert: cert.setting,
            key: key.setting,
            message: e.to_string(),
        })?;
    Ok((chain, key_der))
}

/// Verifies the chain against `tls_server_name` instead of the URL host.
#[derive(Debug)]
struct ExpectedName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for ExpectedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tls_skip_verify`: any certificate is accepted; the handshake signatures are still checked,
/// so the session is at least bound to the key the server presented.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

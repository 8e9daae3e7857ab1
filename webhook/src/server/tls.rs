//! The serving certificate: where it comes from and the rustls config that serves it.

use std::path::Path;
use std::sync::Arc;

use kagi_certs::{CertError, ReloadingResolver, WatchGuard};
use rustls::crypto::ring;
use rustls::server::ResolvesServerCert;
use rustls::{CipherSuite, ServerConfig, SupportedCipherSuite};

/// Why the serving certificate could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to load the serving certificate")]
    Load(#[source] CertError),
    #[error("failed to watch the serving certificate files")]
    Watch(#[source] CertError),
    #[error("failed to configure TLS")]
    Config(#[source] rustls::Error),
    #[error("self-managed TLS (--tls-auto) failed to start")]
    Auto(#[source] CertError),
}

/// Where the serving certificate comes from, kept alive (watching or renewing) as long as
/// this lives.
pub(crate) struct CertSource {
    resolver: Arc<ReloadingResolver>,
    _keep: Keep,
}

/// Held only to be dropped with the source: it stops the watcher or the renewals.
enum Keep {
    Files {
        _guard: WatchGuard,
    },
    Auto {
        _handle: kagi_certs::auto::AutoTlsHandle,
    },
}

impl CertSource {
    /// Loads `cert` and `key` and starts reloading them when their directory changes.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let resolver = ReloadingResolver::load(cert, key).map_err(TlsError::Load)?;
        let watch = resolver.watch().map_err(TlsError::Watch)?;
        Ok(Self {
            resolver,
            _keep: Keep::Files { _guard: watch },
        })
    }

    /// Self-managed TLS: returns once a certificate trusted by `webhook_config` is ready.
    pub(crate) async fn auto(webhook_config: &str, hosts: Vec<String>) -> Result<Self, TlsError> {
        let handle = kagi_certs::auto::spawn(webhook_config, "kagi-webhook", hosts)
            .await
            .map_err(TlsError::Auto)?;
        Ok(Self {
            resolver: handle.resolver(),
            _keep: Keep::Auto { _handle: handle },
        })
    }

    pub(crate) fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.resolver.clone()
    }
}

/// The oldest TLS version served (`--tls-min-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinVersion {
    #[default]
    Tls12,
    Tls13,
}

impl std::str::FromStr for TlsMinVersion {
    type Err = String;

    /// vault-k8s's names (`tls12`, `tls13`); an empty value means the default.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "tls12" => Ok(Self::Tls12),
            "tls13" => Ok(Self::Tls13),
            "tls10" | "tls11" => Err(format!(
                "TLS minimum version {text:?} is not supported: rustls implements only TLS 1.2 \
                 and 1.3, so use tls12 or tls13"
            )),
            _ => Err(format!(
                "unknown TLS minimum version {text:?}: use tls12 or tls13"
            )),
        }
    }
}

/// Go's `crypto/tls` names of the suites rustls (ring) implements, as vault-k8s's
/// `--tls-cipher-suites` takes them, with the legacy CHACHA20 aliases Go still accepts.
const GO_CIPHER_SUITES: [(&str, CipherSuite); 11] = [
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Maps one Go cipher-suite name to the rustls suite.
pub fn parse_cipher_suite(name: &str) -> Result<CipherSuite, String> {
    let name = name.trim();
    GO_CIPHER_SUITES
        .iter()
        .find(|(go, _)| go.eq_ignore_ascii_case(name))
        .map(|(_, suite)| *suite)
        .ok_or_else(|| {
            let known: Vec<&str> = GO_CIPHER_SUITES.iter().map(|(go, _)| *go).collect();
            format!(
                "unknown or unsupported TLS cipher suite {name:?}: use Go names of the AEAD \
                 suites rustls implements ({})",
                known.join(", ")
            )
        })
}

/// What `--tls-min-version` and `--tls-cipher-suites` ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub min_version: TlsMinVersion,
    /// Empty: rustls's defaults. As in Go, the list selects the TLS 1.2 suites; TLS 1.3
    /// suites are all kept unless the list names some of them.
    pub cipher_suites: Vec<CipherSuite>,
}

/// A TLS server config (ring, HTTP/2 and HTTP/1.1 by ALPN) that asks `resolver` for the
/// certificate on every handshake.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    options: &TlsOptions,
) -> Result<Arc<ServerConfig>, TlsError> {
    // The provider is named here rather than taken from the process default so that the
    // server cannot end up on another provider whatever else is linked in.
    let mut provider = ring::default_provider();
    if !options.cipher_suites.is_empty() {
        let is_tls13 = |suite: &SupportedCipherSuite| suite.tls13().is_some();
        let names_tls13 = provider
            .cipher_suites
            .iter()
            .any(|s| is_tls13(s) && options.cipher_suites.contains(&s.suite()));
        provider.cipher_suites.retain(|suite| {
            options.cipher_suites.contains(&suite.suite()) || (is_tls13(suite) && !names_tls13)
        });
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options.min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_map_to_rustls_suites_and_unknown_names_are_named() {
        assert_eq!(
            parse_cipher_suite(" TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 "),
            Ok(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(
            parse_cipher_suite("TLS_AES_256_GCM_SHA384"),
            Ok(CipherSuite::TLS13_AES_256_GCM_SHA384)
        );
        let error = parse_cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err();
        assert!(error.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{error}");
        assert!(
            error.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{error}"
        );
        // Every name maps to a suite the ring provider has.
        let provided: Vec<CipherSuite> = ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        for (name, suite) in GO_CIPHER_SUITES {
            assert!(provided.contains(&suite), "{name}");
        }
    }

    #[test]
    fn min_version_accepts_vault_k8s_names_and_refuses_old_versions_clearly() {
        assert_eq!("".parse(), Ok(TlsMinVersion::Tls12));
        assert_eq!("TLS13".parse(), Ok(TlsMinVersion::Tls13));
        let error = "tls11".parse::<TlsMinVersion>().unwrap_err();
        assert!(
            error.contains("tls11") && error.contains("tls12"),
            "{error}"
        );
        assert!("ssl3".parse::<TlsMinVersion>().is_err());
    }
}

//! The serving certificate: where it comes from and the rustls config that serves it.

use std::path::Path;
use std::sync::Arc;

use kagi_certs::{CertError, ReloadingResolver, WatchGuard};
use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::server::ResolvesServerCert;

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

/// A TLS 1.2+ server config (ring, HTTP/2 and HTTP/1.1 by ALPN) that asks `resolver` for
/// the certificate on every handshake.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<Arc<ServerConfig>, TlsError> {
    // The provider is named here rather than taken from the process default so that the
    // server cannot end up on another provider whatever else is linked in.
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

//! Helpers shared by the certs tests: a real TLS handshake over an in-memory pipe, and a
//! scripted API server.
#![allow(dead_code)]

pub mod apiserver;

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::server::ResolvesServerCert;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A client configuration trusting exactly the CAs in `ca_bundle_pem`.
pub fn client_trusting(ca_bundle_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for der in kagi_certs::pem::parse_certificates("test CA bundle", ca_bundle_pem.as_bytes())
        .expect("CA bundle parses")
    {
        roots.add(der).expect("CA is usable as a trust anchor");
    }
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub fn server_with(resolver: Arc<dyn ResolvesServerCert>) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(resolver),
    )
}

/// Connects a client trusting `ca_bundle_pem` to a server using `resolver`, asking for
/// `server_name`, and exchanges one message. `Err` carries the client's TLS error.
pub async fn handshake(
    ca_bundle_pem: &str,
    resolver: Arc<dyn ResolvesServerCert>,
    server_name: &str,
) -> Result<(), String> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(server_with(resolver));
    let server = tokio::spawn(async move {
        if let Ok(mut tls) = acceptor.accept(server_io).await {
            let mut buf = [0u8; 4];
            if tls.read_exact(&mut buf).await.is_ok() {
                let _ = tls.write_all(b"pong").await;
                let _ = tls.shutdown().await;
            }
        }
    });
    let connector = TlsConnector::from(client_trusting(ca_bundle_pem));
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let result = async {
        let mut tls = connector
            .connect(name, client_io)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut reply = [0u8; 4];
        tls.read_exact(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        if &reply != b"pong" {
            return Err(format!("unexpected reply {reply:?}"));
        }
        Ok(())
    }
    .await;
    server.abort();
    result
}

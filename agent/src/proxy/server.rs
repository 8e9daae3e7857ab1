//! The listeners: bind (tcp plain or TLS, unix), accept, one task per connection, routes.
//!
//! Limits as Vault Agent's server sets them: request headers within 10 s, the body within
//! 30 s, and a body no larger than [`MAX_REQUEST_BODY`](super::MAX_REQUEST_BODY). A stalled
//! client only holds its own task; renewals run in theirs.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::cache::{ClearRequest, LeaseCache};
use super::socket::SocketPerms;
use super::{AutoToken, MAX_REQUEST_BODY, Proxy, Reply, Upstream};
use crate::config::{AgentConfig, Listener, TokenUse};
use crate::metrics::Metrics;
use crate::signal::Trigger;

const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors, usually), wait instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the listeners could not start. Each names the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listener {listener}: cannot listen: {source}")]
    Bind {
        listener: String,
        source: std::io::Error,
    },
    #[error("listener {listener}: {message}")]
    Setting { listener: String, message: String },
}

/// What one listener serves.
struct Site {
    proxy: Arc<Proxy>,
    /// `role = "metrics_only"`: `/agent/v1/metrics` and nothing else.
    metrics_only: bool,
    quit: bool,
    require_request_header: bool,
    trigger: Trigger,
    metrics: Arc<Metrics>,
}

/// Binds every listener of `config` and serves them in background tasks; the proxy forwards
/// to `upstream`.
pub async fn serve(
    config: &AgentConfig,
    upstream: Upstream,
    auto_token: AutoToken,
    trigger: Trigger,
    metrics: Arc<Metrics>,
) -> Result<(), ServeError> {
    let token_use = config.proxy_token_use();
    let cache = config.cache.as_ref().map(|_| {
        let managed = (token_use != TokenUse::ClientOnly).then(|| auto_token.clone());
        LeaseCache::new(upstream.clone(), managed)
    });
    let proxy = Arc::new(Proxy {
        upstream,
        token_use,
        auto_token,
        cache,
    });
    for (index, listener) in config.listener.iter().enumerate() {
        let name = format!("{index} ({} {})", listener.kind, listener.address);
        match listener.role.as_deref() {
            None | Some("" | "default" | "metrics_only") => {}
            Some(other) => {
                return Err(ServeError::Setting {
                    listener: name,
                    message: format!(
                        "unsupported listener role {other:?} (default or metrics_only)"
                    ),
                });
            }
        }
        let site = Arc::new(Site {
            proxy: proxy.clone(),
            metrics_only: listener.metrics_only(),
            quit: listener.agent_api.as_ref().is_some_and(|a| a.enable_quit),
            require_request_header: listener.require_request_header,
            trigger: trigger.clone(),
            metrics: metrics.clone(),
        });
        match listener.kind.as_str() {
            "tcp" => {
                let tls = tls_acceptor(listener).map_err(|message| ServeError::Setting {
                    listener: name.clone(),
                    message,
                })?;
                let address = if listener.address.is_empty() {
                    "127.0.0.1:8200"
                } else {
                    &listener.address
                };
                let socket =
                    TcpListener::bind(address)
                        .await
                        .map_err(|source| ServeError::Bind {
                            listener: name.clone(),
                            source,
                        })?;
                let local = socket
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                info!(address = %local, tls = tls.is_some(), quit = site.quit, cache = proxy.cache.is_some(), "API proxy listening");
                tokio::spawn(accept_tcp(socket, tls, site));
            }
            "unix" => {
                let path = Path::new(&listener.address);
                let perms = SocketPerms::of(listener).map_err(|message| ServeError::Setting {
                    listener: name.clone(),
                    message,
                })?;
                // A socket left by a previous run would make the bind fail.
                let _ = std::fs::remove_file(path);
                let socket = UnixListener::bind(path).map_err(|source| ServeError::Bind {
                    listener: name.clone(),
                    source,
                })?;
                perms.apply(path).map_err(|message| ServeError::Setting {
                    listener: name.clone(),
                    message,
                })?;
                info!(path = %listener.address, quit = site.quit, "API proxy listening");
                tokio::spawn(accept_unix(socket, site));
            }
            other => {
                return Err(ServeError::Setting {
                    listener: name,
                    message: format!("type {other:?} is not supported (tcp or unix)"),
                });
            }
        }
    }
    Ok(())
}

/// `None` for `tls_disable`; otherwise a TLS acceptor on the listener's cert and key.
fn tls_acceptor(listener: &Listener) -> Result<Option<TlsAcceptor>, String> {
    if listener.tls_disable {
        return Ok(None);
    }
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (Some(cert_file), Some(key_file)) = (
        non_empty(&listener.tls_cert_file),
        non_empty(&listener.tls_key_file),
    ) else {
        return Err(
            "tls_cert_file and tls_key_file are required unless tls_disable is true".into(),
        );
    };
    let read =
        |what: &str, path: &str| std::fs::read(path).map_err(|e| format!("{what} {path}: {e}"));
    let cert_pem = read("tls_cert_file", &cert_file)?;
    let key_pem = read("tls_key_file", &key_file)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_cert_file {cert_file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert_file {cert_file}: no PEM certificate in it"
        ));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("tls_key_file {key_file}: {e}"))?
        .ok_or_else(|| format!("tls_key_file {key_file}: no PEM private key in it"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_cert_file/tls_key_file: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

async fn accept_tcp(socket: TcpListener, tls: Option<TlsAcceptor>, site: Arc<Site>) {
    loop {
        let stream = match socket.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                warn!(%error, "failed to accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let site = site.clone();
        match tls.clone() {
            None => {
                tokio::spawn(serve_connection(stream, site));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, site).await,
                        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
                        Err(_) => debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

async fn accept_unix(socket: UnixListener, site: Arc<Site>) {
    loop {
        match socket.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, site.clone()));
            }
            Err(error) => {
                warn!(%error, "failed to accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

async fn serve_connection<S>(stream: S, site: Arc<Site>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(site.route(request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        debug!(%error, "connection ended with an error");
    }
}

impl Site {
    async fn route(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let reply = match parts.uri.path() {
            // Go's ServeMux answer for a path the listener does not serve.
            path if self.metrics_only && path != "/agent/v1/metrics" => not_found(),
            "/agent/v1/metrics" => match parts.method {
                Method::GET => {
                    let mut reply = Reply::empty(StatusCode::OK);
                    reply.body = Bytes::from(self.metrics.render());
                    reply.headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                    );
                    reply
                }
                _ => Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            },
            "/agent/v1/quit" if !self.quit => Reply::empty(StatusCode::NOT_FOUND),
            "/agent/v1/quit" if parts.method == Method::POST => {
                let trigger = self.trigger.clone();
                // Let the answer go out before the shutdown starts.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    trigger.fire("POST /agent/v1/quit");
                });
                Reply::empty(StatusCode::OK)
            }
            "/agent/v1/quit" => Reply::empty(StatusCode::METHOD_NOT_ALLOWED),
            "/agent/v1/cache-clear" => match read_body(&parts.headers, body).await {
                Ok(body) => self.cache_clear(&parts.method, &body),
                Err(reply) => reply,
            },
            _ if self.require_request_header
                && parts
                    .headers
                    .get("x-vault-request")
                    .map(HeaderValue::as_bytes)
                    != Some(b"true") =>
            {
                Reply::error(
                    StatusCode::PRECONDITION_FAILED,
                    "missing \"X-Vault-Request\" header",
                )
            }
            _ => match read_body(&parts.headers, body).await {
                Ok(body) => {
                    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    self.proxy
                        .handle(parts.method, target, &parts.headers, body)
                        .await
                }
                Err(reply) => reply,
            },
        };
        let mut response = Response::new(Full::new(reply.body));
        *response.status_mut() = reply.status;
        *response.headers_mut() = reply.headers;
        if parts.uri.path().starts_with("/agent/v1/") {
            // One-shot callers (`curl -X POST .../quit`, scrapers) read to the end.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    fn cache_clear(&self, method: &Method, body: &[u8]) -> Reply {
        let Some(cache) = &self.proxy.cache else {
            return Reply::empty(StatusCode::OK);
        };
        if *method != Method::POST && *method != Method::PUT {
            return Reply::empty(StatusCode::OK);
        }
        let request: ClearRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(err) => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    &format!("failed to parse JSON input: {err}"),
                );
            }
        };
        match cache.clear(&request) {
            Ok(()) => Reply::empty(StatusCode::OK),
            Err(message) => Reply::error(
                StatusCode::BAD_REQUEST,
                &format!("failed to clear cache: {message}"),
            ),
        }
    }
}

fn not_found() -> Reply {
    let mut reply = Reply::empty(StatusCode::NOT_FOUND);
    reply.body = Bytes::from_static(b"404 page not found\n");
    reply.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply.headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    reply
}

/// Reads the body within [`BODY_TIMEOUT`] and [`MAX_REQUEST_BODY`].
async fn read_body(headers: &hyper::HeaderMap, body: Incoming) -> Result<Bytes, Reply> {
    let too_large = || Reply::error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_REQUEST_BODY).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to read request body",
        )),
        Err(_) => Err(Reply::error(
            StatusCode::REQUEST_TIMEOUT,
            "timed out reading the request body",
        )),
    }
}

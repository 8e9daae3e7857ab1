//! The HTTPS edge: `POST /mutate`, `GET /health/ready` and `GET /metrics` over rustls.
//!
//! TLS is terminated in a task per connection (a slow handshake never stalls the accept loop)
//! and hyper-util's auto builder serves HTTP/1.1 or HTTP/2 to the axum router. Certificates
//! come from a [`ResolvesServerCert`] consulted on every handshake, so a reloaded key pair
//! applies to new connections while open ones keep theirs. On shutdown the listener closes
//! first, then in-flight requests finish.

pub mod logging;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::admission::{self, Outcome};
use crate::metrics::{self, Metrics};
use crate::settings::InjectorSettings;

pub use tls::{TlsError, server_config};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests: under Kubernetes' default 30 s grace
/// period, so the process exits by itself before it is killed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// After a failed accept (usually out of file descriptors), wait before the next one instead
/// of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Flags of `kagi-webhook serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to serve HTTPS on; `:PORT` means every interface.
    #[arg(long, env = "AGENT_INJECT_LISTEN", default_value = ":8080")]
    pub listen: String,

    /// PEM certificate chain served to the API server; reloaded when the file changes.
    #[arg(
        long,
        env = "AGENT_INJECT_TLS_CERT_FILE",
        required_unless_present = "tls_auto"
    )]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of that certificate; reloaded when the file changes.
    #[arg(
        long,
        env = "AGENT_INJECT_TLS_KEY_FILE",
        required_unless_present = "tls_auto"
    )]
    pub tls_key_file: Option<PathBuf>,

    /// Self-managed TLS: the MutatingWebhookConfiguration whose caBundle to keep in sync.
    /// Replicas share one CA kept in the Secret `kagi-webhook-ca` of their namespace.
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO", conflicts_with_all = ["tls_cert_file", "tls_key_file"])]
    pub tls_auto: Option<String>,

    /// Names in the self-managed serving certificate (comma-separated; default: the
    /// names of Service `kagi-webhook` in the pod's namespace).
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO_HOSTS", value_delimiter = ',')]
    pub tls_auto_hosts: Vec<String>,

    #[command(flatten)]
    pub injector: InjectorSettings,
}

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("failed to listen on {listen}")]
    Bind {
        listen: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Runs `kagi-webhook serve` until `shutdown` completes, then drains.
pub async fn run(args: ServeArgs, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let ServeArgs {
        listen,
        tls_cert_file,
        tls_key_file,
        tls_auto,
        tls_auto_hosts,
        injector,
    } = args;
    let certs = match (tls_auto, tls_cert_file, tls_key_file) {
        (Some(webhook_config), _, _) => {
            tls::CertSource::auto(&webhook_config, tls_auto_hosts).await?
        }
        (None, Some(cert), Some(key)) => tls::CertSource::load(&cert, &key)?,
        _ => unreachable!("clap requires both files unless --tls-auto is set"),
    };
    let config = server_config(certs.resolver())?;
    let listener = bind(&listen).await?;
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving admission reviews over HTTPS");
    }
    let app = router(Arc::new(injector), Arc::new(Metrics::new()));
    serve(listener, config, app, shutdown).await;
    drop(certs);
    Ok(())
}

/// Binds `listen`, accepting Go's `:PORT` form for every interface.
pub async fn bind(listen: &str) -> Result<TcpListener, ServeError> {
    let address = match listen.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen.to_owned(),
    };
    TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind {
            listen: listen.to_owned(),
            source,
        })
}

/// Completes on SIGTERM (what the kubelet sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => info!("SIGTERM received, draining"),
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => info!("interrupted, draining"),
            Err(error) => warn!(%error, "cannot listen for Ctrl-C"),
        },
    }
}

#[derive(Clone)]
struct Webhook {
    settings: Arc<InjectorSettings>,
    metrics: Arc<Metrics>,
}

/// The webhook's routes.
pub fn router(settings: Arc<InjectorSettings>, metrics: Arc<Metrics>) -> Router {
    let webhook = Webhook { settings, metrics };
    let mutate_route = post(mutate)
        .layer(DefaultBodyLimit::max(admission::MAX_REVIEW_BYTES))
        .layer(middleware::from_fn(refuse_announced_oversize))
        .layer(middleware::from_fn_with_state(
            webhook.clone(),
            count_in_flight,
        ));
    Router::new()
        .route("/mutate", mutate_route)
        .route("/health/ready", get(|| async { StatusCode::NO_CONTENT }))
        .route("/metrics", get(render_metrics))
        .with_state(webhook)
}

/// Counts a review in vault-k8s's queue-length gauge from its first byte (before the body is
/// read) to its answer.
async fn count_in_flight(State(webhook): State<Webhook>, request: Request, next: Next) -> Response {
    let _in_flight = webhook.metrics.in_flight();
    next.run(request).await
}

/// Refuses a body announced (by `content-length`) as larger than the limit before reading
/// any of it; a body that only turns out too large is cut off by the body limit instead.
async fn refuse_announced_oversize(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match announced {
        Some(length) if length > admission::MAX_REVIEW_BYTES as u64 => {
            let reason = format!(
                "the request body ({length} bytes) is larger than the limit of {} bytes",
                admission::MAX_REVIEW_BYTES
            );
            debug!(%reason, "refused a review");
            (StatusCode::PAYLOAD_TOO_LARGE, reason).into_response()
        }
        _ => next.run(request).await,
    }
}

async fn mutate(
    State(webhook): State<Webhook>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(reason) = require_json(&headers) {
        debug!(%reason, "refused a review");
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let reason = format!("failed to read the request body: {}", rejection.body_text());
            debug!(%reason, "refused a review");
            return (rejection.status(), reason).into_response();
        }
    };
    let started = Instant::now();
    match admission::review(&body, &webhook.settings) {
        Ok(reviewed) => {
            webhook
                .metrics
                .observe(&reviewed.outcome, started.elapsed());
            log_outcome(&reviewed);
            ([(header::CONTENT_TYPE, "application/json")], reviewed.body).into_response()
        }
        Err(error) => {
            let reason = error_chain(&error);
            warn!(%reason, "refused a review");
            (StatusCode::BAD_REQUEST, reason).into_response()
        }
    }
}

fn require_json(headers: &HeaderMap) -> Result<(), String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let media_type = content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case("application/json") => Ok(()),
        Some(_) => Err(format!(
            "content type {:?} is not application/json",
            content_type.unwrap_or_default()
        )),
        None => Err("missing content type, expected application/json".to_owned()),
    }
}

fn log_outcome(reviewed: &admission::Reviewed) {
    let admission::Reviewed {
        uid,
        object,
        outcome,
        ..
    } = reviewed;
    match outcome {
        Outcome::Injected { injection, .. } => {
            info!(%uid, %object, injection = injection.label(), "injected the agent");
        }
        Outcome::Denied { message, .. } => info!(%uid, %object, %message, "denied"),
        Outcome::Skipped { reason, .. } => debug!(%uid, %object, %reason, "skipped"),
        Outcome::Ignored { reason } => debug!(%uid, %object, %reason, "ignored"),
    }
}

async fn render_metrics(State(webhook): State<Webhook>) -> Response {
    let text = webhook.metrics.encode();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then stops accepting and
/// waits (bounded) for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            // Checked first so a busy listener cannot postpone shutdown; a pinned future that
            // is polled again after losing the race keeps its progress (cancel-safe).
            () = &mut shutdown => break,
            // `TcpListener::accept` is documented cancel-safe: losing the race loses nothing.
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "failed to accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // The watcher is taken here, before the task starts, so a shutdown signalled while
        // the handshake runs still reaches the connection.
        let watcher = graceful.watcher();
        tokio::spawn(connection(
            acceptor.clone(),
            app.clone(),
            tcp,
            peer,
            watcher,
        ));
    }
    drop(listener);
    info!(
        connections = graceful.count(),
        "stopped accepting; finishing in-flight requests"
    );
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(timeout = ?DRAIN_TIMEOUT, "gave up waiting for in-flight requests");
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    app: Router,
    tcp: TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
) {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    if let Err(error) = watcher.watch(connection).await {
        debug!(%peer, %error, "connection closed with an error");
    }
}

/// An error and its causes, joined the way a person reads them.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

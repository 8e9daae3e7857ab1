//! The HTTPS edge: `POST /mutate`, `GET /health/ready` and `GET /metrics` over rustls.
//!
//! TLS is terminated in a task per connection (a slow handshake never stalls the accept loop)
//! and hyper serves HTTP/1.1 or HTTP/2 (as ALPN chose): `POST /mutate` goes straight to its
//! handler, as it is nearly all of the traffic; the rest goes to an axum router. Certificates
//! come from a [`ResolvesServerCert`] consulted on every handshake, so a reloaded key pair
//! applies to new connections while open ones keep theirs. On shutdown the listener closes
//! first, then in-flight requests finish.

mod listener;
pub mod logging;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Bytes};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::admission::{self, Outcome};
use crate::metrics::{self, Metrics, Refused};
use crate::settings::{InjectorSettings, go_duration_or};

pub use listener::{Limits, serve};

const _: () = assert!(BODY_BUDGET > admission::MAX_REVIEW_BYTES);
pub use tls::{TlsError, TlsMinVersion, TlsOptions, parse_cipher_suite, server_config};

/// Bytes of request bodies held at once beyond each request's first [`BODY_ALLOWANCE`]:
/// stalled bodies from many connections wait for this budget instead of growing memory.
const BODY_BUDGET: usize = 8 * 1024 * 1024;

/// What a request body may hold without the budget: every realistic Pod review fits, so real
/// reviews never wait behind stalled ones.
const BODY_ALLOWANCE: usize = 64 * 1024;

/// Taken off the API server's `?timeout=` so the answer leaves before it gives up.
const API_TIMEOUT_MARGIN: Duration = Duration::from_millis(100);

/// Flags of `kagi-webhook serve`. As with the injector settings, a non-empty `AGENT_INJECT_*`
/// variable wins over the flag (`settings::apply_env_precedence`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to serve HTTPS on; `:PORT` means every interface.
    #[arg(long, env = "AGENT_INJECT_LISTEN", default_value = ":8080")]
    pub listen: String,

    /// PEM certificate chain served to the API server; reloaded when the file changes.
    #[arg(long, env = "AGENT_INJECT_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of that certificate; reloaded when the file changes.
    #[arg(long, env = "AGENT_INJECT_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// Self-managed TLS: the MutatingWebhookConfiguration whose caBundle to keep in sync.
    /// Replicas share one CA kept in the Secret `kagi-webhook-ca` of their namespace.
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO")]
    pub tls_auto: Option<String>,

    /// Names in the self-managed serving certificate (comma-separated; default: the
    /// names of Service `kagi-webhook` in the pod's namespace).
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO_HOSTS", value_delimiter = ',')]
    pub tls_auto_hosts: Vec<String>,

    /// Oldest TLS version served: `tls12` or `tls13` (rustls has nothing older).
    #[arg(long, env = "AGENT_INJECT_TLS_MIN_VERSION", default_value = "tls12",
          value_parser = |v: &str| v.parse::<TlsMinVersion>())]
    pub tls_min_version: TlsMinVersion,

    /// TLS cipher suites by their Go names, comma-separated (default: rustls's AEAD suites).
    /// As in Go, the list selects the TLS 1.2 suites; TLS 1.3 suites stay unless named.
    #[arg(long, env = "AGENT_INJECT_TLS_CIPHER_SUITES", value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,

    /// Time for a client to finish the TLS handshake (Go duration).
    #[arg(long, env = "AGENT_INJECT_HANDSHAKE_TIMEOUT", default_value = "10s",
          value_parser = go_duration_or::<10>)]
    pub handshake_timeout: Duration,

    /// Time from a request's first byte to the end of its headers (Go duration).
    #[arg(long, env = "AGENT_INJECT_HEADER_READ_TIMEOUT", default_value = "10s",
          value_parser = go_duration_or::<10>)]
    pub header_read_timeout: Duration,

    /// Time from the headers to the end of the body (Go duration); the API server's shorter
    /// `?timeout=` wins.
    #[arg(long, env = "AGENT_INJECT_BODY_READ_TIMEOUT", default_value = "10s",
          value_parser = go_duration_or::<10>)]
    pub body_read_timeout: Duration,

    /// A keep-alive connection without a request for this long is closed (Go duration).
    /// Longer than the API server's 90 s idle timeout, so the client closes first.
    #[arg(long, env = "AGENT_INJECT_IDLE_TIMEOUT", default_value = "120s",
          value_parser = go_duration_or::<120>)]
    pub idle_timeout: Duration,

    /// Connections open at once; further ones wait in the listen backlog.
    #[arg(long, env = "AGENT_INJECT_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = positive_or::<DEFAULT_MAX_CONNECTIONS>)]
    pub max_connections: usize,

    /// Distinct namespaces kept as metric label values; the rest count as `_other`.
    #[arg(long, env = "AGENT_INJECT_METRICS_MAX_NAMESPACES",
          default_value_t = metrics::DEFAULT_MAX_NAMESPACES,
          value_parser = positive_or::<{ metrics::DEFAULT_MAX_NAMESPACES }>)]
    pub metrics_max_namespaces: usize,

    #[command(flatten)]
    pub injector: InjectorSettings,
}

/// Default of `--max-connections`: with the per-connection buffers and the body budget, the
/// worst case stays under the pod's 64Mi limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

fn positive_or<const DEFAULT: usize>(text: &str) -> Result<usize, String> {
    if text.is_empty() {
        return Ok(DEFAULT);
    }
    text.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a positive integer"))
}

impl ServeArgs {
    /// The connection limits these flags ask for.
    pub fn limits(&self) -> Limits {
        Limits {
            handshake_timeout: self.handshake_timeout,
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }

    /// The TLS options these flags ask for; an unknown cipher suite is an error naming it.
    pub fn tls_options(&self) -> Result<TlsOptions, ServeError> {
        let cipher_suites = self
            .tls_cipher_suites
            .iter()
            .filter(|name| !name.trim().is_empty())
            .map(|name| parse_cipher_suite(name))
            .collect::<Result<_, _>>()
            .map_err(ServeError::CipherSuites)?;
        Ok(TlsOptions {
            min_version: self.tls_min_version,
            cipher_suites,
        })
    }
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
    #[error("--tls-cipher-suites (AGENT_INJECT_TLS_CIPHER_SUITES): {0}")]
    CipherSuites(String),
    #[error(
        "no serving certificate: set --tls-cert-file and --tls-key-file \
         (AGENT_INJECT_TLS_CERT_FILE, AGENT_INJECT_TLS_KEY_FILE), or --tls-auto \
         (AGENT_INJECT_TLS_AUTO)"
    )]
    NoCertificate,
    #[error(
        "--tls-auto (AGENT_INJECT_TLS_AUTO) cannot be combined with --tls-cert-file or \
         --tls-key-file: choose one source for the serving certificate"
    )]
    TwoCertificateSources,
}

/// Runs `kagi-webhook serve` until `shutdown` completes, then drains.
pub async fn run(args: ServeArgs, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let tls_options = args.tls_options()?;
    let limits = args.limits();
    let ServeArgs {
        listen,
        tls_cert_file,
        tls_key_file,
        tls_auto,
        tls_auto_hosts,
        metrics_max_namespaces,
        injector,
        ..
    } = args;
    let certs = match (tls_auto, tls_cert_file, tls_key_file) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ServeError::TwoCertificateSources);
        }
        (Some(webhook_config), None, None) => {
            tls::CertSource::auto(&webhook_config, tls_auto_hosts).await?
        }
        (None, Some(cert), Some(key)) => tls::CertSource::load(&cert, &key)?,
        (None, _, _) => return Err(ServeError::NoCertificate),
    };
    let config = server_config(certs.resolver(), &tls_options)?;
    let listener = bind(&listen).await?;
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, ?limits, "serving admission reviews over HTTPS");
    }
    let metrics = Arc::new(Metrics::with_max_namespaces(metrics_max_namespaces));
    let app = Arc::new(App::new(Arc::new(injector), metrics.clone(), &limits));
    serve(listener, config, app, limits, metrics, shutdown).await;
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
    body_read_timeout: Duration,
    body_budget: Arc<Semaphore>,
}

/// What every connection serves: the admission handler, and the router for the rest.
pub struct App {
    webhook: Webhook,
    router: Router,
}

impl App {
    /// The webhook's handlers.
    pub fn new(settings: Arc<InjectorSettings>, metrics: Arc<Metrics>, limits: &Limits) -> Self {
        let webhook = Webhook {
            settings,
            metrics,
            body_read_timeout: limits.body_read_timeout,
            body_budget: Arc::new(Semaphore::new(BODY_BUDGET)),
        };
        let router = router(webhook.clone());
        Self { webhook, router }
    }

    /// Answers one request. `POST /mutate` skips the router (its matching, its boxed body
    /// and its clones per request); everything else, including other methods on `/mutate`,
    /// gets the router's answers.
    pub async fn handle<B>(&self, request: Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if request.method() == Method::POST && request.uri().path() == "/mutate" {
            return mutate(&self.webhook, request).await;
        }
        match self.router.clone().oneshot(request.map(Body::new)).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        }
    }
}

/// The webhook's routes (`POST /mutate` is also answered here, for completeness).
fn router(webhook: Webhook) -> Router {
    let mutate_route = post(
        |State(webhook): State<Webhook>, request: Request| async move {
            mutate(&webhook, request).await
        },
    );
    Router::new()
        .route("/mutate", mutate_route)
        .route("/health/ready", get(|| async { StatusCode::NO_CONTENT }))
        .route("/metrics", get(render_metrics))
        .with_state(webhook)
}

/// A request answered without a review: counted, logged, and the connection closed after it
/// (its body may be unread).
fn refuse(webhook: &Webhook, reason: Refused, status: StatusCode, text: String) -> Response {
    webhook.metrics.refused(reason);
    debug!(reason = %text, "refused a review");
    (status, [(header::CONNECTION, "close")], text).into_response()
}

async fn mutate<B>(webhook: &Webhook, request: Request<B>) -> Response
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    // vault-k8s's queue length counts a review from its first byte (before the body is read)
    // to its answer.
    let _in_flight = webhook.metrics.in_flight();
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    if let Err(reason) = require_json(&parts.headers) {
        return refuse(
            webhook,
            Refused::ContentType,
            StatusCode::BAD_REQUEST,
            reason,
        );
    }
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    // Refused before reading any of it; a body that only turns out too large is cut off below.
    if let Some(length) = announced.filter(|l| *l > admission::MAX_REVIEW_BYTES as u64) {
        let reason = format!(
            "the request body ({length} bytes) is larger than the limit of {} bytes",
            admission::MAX_REVIEW_BYTES
        );
        return refuse(
            webhook,
            Refused::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            reason,
        );
    }
    let api_timeout = parts.uri.query().and_then(api_timeout);
    let api_budget = api_timeout.map(|t| t.saturating_sub(API_TIMEOUT_MARGIN));
    let read_budget = match api_budget {
        Some(api) => api.min(webhook.body_read_timeout),
        None => webhook.body_read_timeout,
    };
    let read = read_body(body, &webhook.body_budget, announced.map(|l| l as usize));
    let (body, _budget) = match tokio::time::timeout(read_budget, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(BodyError::TooLarge)) => {
            let reason = format!(
                "the request body is larger than the limit of {} bytes",
                admission::MAX_REVIEW_BYTES
            );
            return refuse(
                webhook,
                Refused::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                reason,
            );
        }
        Ok(Err(BodyError::Read(error))) => {
            let reason = format!("failed to read the request body: {error}");
            return refuse(
                webhook,
                Refused::Unreadable,
                StatusCode::BAD_REQUEST,
                reason,
            );
        }
        Err(_) if api_budget == Some(read_budget) => {
            return past_api_timeout(webhook, "the request body did not arrive", api_timeout);
        }
        Err(_) => {
            let reason = format!("the request body did not arrive within {read_budget:?}");
            return refuse(
                webhook,
                Refused::BodyTimeout,
                StatusCode::REQUEST_TIMEOUT,
                reason,
            );
        }
    };
    let started = Instant::now();
    match admission::review(&body, &webhook.settings) {
        Ok(reviewed) => {
            if let Some(budget) = api_budget
                && received.elapsed() > budget
            {
                return past_api_timeout(webhook, "the review did not finish", api_timeout);
            }
            webhook
                .metrics
                .observe(&reviewed.outcome, started.elapsed());
            log_outcome(&reviewed);
            ([(header::CONTENT_TYPE, "application/json")], reviewed.body).into_response()
        }
        Err(error) => {
            let reason = error_chain(&error);
            warn!(%reason, "refused a review");
            webhook.metrics.refused(Refused::NotAReview);
            (StatusCode::BAD_REQUEST, reason).into_response()
        }
    }
}

/// An answer that would arrive after the API server gave up: an error now instead.
fn past_api_timeout(webhook: &Webhook, what: &str, timeout: Option<Duration>) -> Response {
    let reason = format!(
        "{what} within the API server's timeout ({:?})",
        timeout.unwrap_or_default()
    );
    refuse(
        webhook,
        Refused::ApiTimeout,
        StatusCode::GATEWAY_TIMEOUT,
        reason,
    )
}

/// The API server's `timeout` query parameter (a Go duration such as `10s`); a value that
/// does not parse is ignored, as the body timeout still applies.
fn api_timeout(query: &str) -> Option<Duration> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))
        .and_then(|value| go_duration_or::<0>(value).ok())
        .filter(|timeout| !timeout.is_zero())
}

enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// Reads the body up to the review limit. Memory past [`BODY_ALLOWANCE`] is taken from the
/// shared budget before it is allocated, so bodies held open by slow clients cannot add up
/// without bound; the permit returned keeps that room until the review is answered. The
/// buffer grows at most once, to the announced length (or the limit), so what the budget
/// counts is what is allocated.
async fn read_body<B>(
    body: B,
    budget: &Arc<Semaphore>,
    announced: Option<usize>,
) -> Result<(Vec<u8>, Option<OwnedSemaphorePermit>), BodyError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let mut body = std::pin::pin!(body);
    let limit = admission::MAX_REVIEW_BYTES;
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(BODY_ALLOWANCE));
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyError::Read(axum::Error::new(error)))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = bytes.len() + data.len();
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if total > bytes.capacity() {
            let capacity = announced
                .unwrap_or(limit)
                .clamp(total, limit)
                .max(BODY_ALLOWANCE);
            let needed = capacity - BODY_ALLOWANCE;
            if held.is_none() && needed > 0 {
                let permit = budget
                    .clone()
                    .acquire_many_owned(needed as u32)
                    .await
                    .expect("the body budget is never closed");
                held = Some(permit);
            }
            bytes.reserve_exact(capacity - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, held))
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

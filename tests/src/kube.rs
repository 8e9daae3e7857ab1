//! The two Kubernetes pieces OpenBao's auth methods talk to: a service-account token issuer
//! (ES256, like a cluster's `--service-account-signing-key-file`) and a TokenReview responder
//! that verifies those tokens for real, the way the API server does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

/// The issuer of a default kubeadm cluster.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// What goes into one service-account token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub namespace: String,
    pub service_account: String,
    pub audiences: Vec<String>,
    pub ttl: Duration,
    /// Bound pod (name, uid), as in kubelet-projected tokens.
    pub pod: Option<(String, String)>,
}

impl TokenRequest {
    /// A one-hour token for `system:serviceaccount:NS:NAME` with the issuer as audience.
    pub fn new(namespace: &str, service_account: &str) -> TokenRequest {
        TokenRequest {
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            audiences: vec![DEFAULT_ISSUER.to_string()],
            ttl: Duration::from_secs(3600),
            pod: None,
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed(&'static str),
    BadSignature,
    Expired,
    WrongIssuer,
}

impl std::fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRejection::Malformed(why) => write!(f, "malformed token: {why}"),
            TokenRejection::BadSignature => f.write_str("invalid signature"),
            TokenRejection::Expired => f.write_str("token has expired"),
            TokenRejection::WrongIssuer => f.write_str("token issued by another issuer"),
        }
    }
}

struct IssuerInner {
    issuer: String,
    key: EcdsaKeyPair,
    public_key_pem: String,
    rng: SystemRandom,
}

/// Signs Kubernetes-style service-account JWTs with its own P-256 key (cheap to clone).
#[derive(Clone)]
pub struct ServiceAccountIssuer {
    inner: Arc<IssuerInner>,
}

impl ServiceAccountIssuer {
    pub fn new() -> anyhow::Result<ServiceAccountIssuer> {
        ServiceAccountIssuer::with_issuer(DEFAULT_ISSUER)
    }

    pub fn with_issuer(issuer: &str) -> anyhow::Result<ServiceAccountIssuer> {
        let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("generating the service-account signing key")?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &generated.serialize_der(),
            &rng,
        )
        .map_err(|e| anyhow::anyhow!("loading the signing key into ring: {e}"))?;
        Ok(ServiceAccountIssuer {
            inner: Arc::new(IssuerInner {
                issuer: issuer.to_string(),
                key,
                public_key_pem: generated.public_key_pem(),
                rng,
            }),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The verification key (SubjectPublicKeyInfo PEM), as JWT auth's `jwt_validation_pubkeys`.
    pub fn public_key_pem(&self) -> &str {
        &self.inner.public_key_pem
    }

    /// The stable uid of a service account (the same for every token of that account, as in a
    /// cluster, so OpenBao's uid check against the TokenReview passes).
    pub fn service_account_uid(namespace: &str, name: &str) -> String {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("serviceaccount/{namespace}/{name}").as_bytes(),
        );
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// A one-hour token for `system:serviceaccount:NS:NAME`.
    pub fn token(&self, namespace: &str, service_account: &str) -> String {
        self.token_for(&TokenRequest::new(namespace, service_account))
    }

    /// A token with the claims a kubelet-projected token carries.
    pub fn token_for(&self, request: &TokenRequest) -> String {
        self.sign(&self.claims_for(request))
    }

    /// The claims [`ServiceAccountIssuer::token_for`] signs (edit them, then [`Self::sign`]).
    pub fn claims_for(&self, request: &TokenRequest) -> Value {
        let now = unix_now();
        let uid = Self::service_account_uid(&request.namespace, &request.service_account);
        let mut kubernetes = json!({
            "namespace": request.namespace,
            "serviceaccount": { "name": request.service_account, "uid": uid },
        });
        if let Some((pod_name, pod_uid)) = &request.pod {
            kubernetes["pod"] = json!({ "name": pod_name, "uid": pod_uid });
        }
        json!({
            "iss": self.inner.issuer,
            "sub": format!("system:serviceaccount:{}:{}", request.namespace, request.service_account),
            "aud": request.audiences,
            "iat": now,
            "nbf": now,
            "exp": now + request.ttl.as_secs(),
            "kubernetes.io": kubernetes,
        })
    }

    /// Signs arbitrary claims (for tests that need an odd token).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "kagi-harness" });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .inner
            .key
            .sign(&self.inner.rng, signing_input.as_bytes())
            .expect("ECDSA signing with a valid key does not fail");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    /// Verifies signature, issuer and expiry; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Value, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed("not three dot-separated parts"));
        };
        let header: Value = decode_json(header)?;
        if header["alg"] != "ES256" {
            return Err(TokenRejection::Malformed("alg is not ES256"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenRejection::Malformed("signature is not base64url"))?;
        let public = UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_FIXED,
            self.inner.key.public_key().as_ref(),
        );
        let signed = &token[..token.len() - token.rsplit('.').next().unwrap_or("").len() - 1];
        public
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| TokenRejection::BadSignature)?;
        let claims: Value = decode_json(payload)?;
        if claims["iss"] != self.inner.issuer.as_str() {
            return Err(TokenRejection::WrongIssuer);
        }
        match claims["exp"].as_u64() {
            Some(exp) if exp > unix_now() => Ok(claims),
            Some(_) => Err(TokenRejection::Expired),
            None => Err(TokenRejection::Malformed("no exp claim")),
        }
    }
}

fn decode_json(part: &str) -> Result<Value, TokenRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenRejection::Malformed("part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed("part is not JSON"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One TokenReview the responder answered.
#[derive(Debug, Clone)]
pub struct ReviewRecord {
    pub authenticated: bool,
    /// `system:serviceaccount:NS:NAME` when authenticated.
    pub username: Option<String>,
    pub error: Option<String>,
}

struct ReviewerState {
    issuer: ServiceAccountIssuer,
    reviews: Mutex<Vec<ReviewRecord>>,
    count: AtomicUsize,
}

/// An HTTP server answering `POST /apis/authentication.k8s.io/v1/tokenreviews` by verifying
/// the JWT with the issuer's key. Runs on its own thread and runtime, so it works from both
/// sync and async tests; stopped on drop.
pub struct TokenReviewer {
    addr: SocketAddr,
    state: Arc<ReviewerState>,
    ca_pem: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenReviewer {
    pub fn start(issuer: &ServiceAccountIssuer) -> anyhow::Result<TokenReviewer> {
        let state = Arc::new(ReviewerState {
            issuer: issuer.clone(),
            reviews: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        });
        // OpenBao insists on a CA for kubernetes_host even over plain HTTP; any CA will do.
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = rcgen::CertificateParams::new(vec!["kubernetes.default.svc".to_string()])?
            .self_signed(&ca_key)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let router = axum::Router::new()
            .route(
                "/apis/authentication.k8s.io/v1/tokenreviews",
                post(review_token),
            )
            .with_state(state.clone());
        let thread = std::thread::Builder::new()
            .name("kagi-tests-tokenreview".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("building the TokenReview runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("registering the TokenReview listener");
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = shutdown_rx.await;
                        })
                        .await;
                });
            })?;
        Ok(TokenReviewer {
            addr,
            state,
            ca_pem: ca.pem(),
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (the `kubernetes_host` for OpenBao).
    pub fn addr(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A CA certificate PEM to satisfy `kubernetes_ca_cert`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How many TokenReviews were answered (authenticated or not).
    pub fn reviews_seen(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    pub fn reviews(&self) -> Vec<ReviewRecord> {
        self.state
            .reviews
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for TokenReviewer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn review_token(
    State(state): State<Arc<ReviewerState>>,
    Json(review): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let wanted_audiences: Vec<String> = review["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let outcome = state.issuer.verify(token).and_then(|claims| {
        let token_audiences: Vec<String> = match &claims["aud"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        // Like the API server: when the caller names audiences, at least one must match.
        let audiences: Vec<String> = if wanted_audiences.is_empty() {
            token_audiences
        } else {
            wanted_audiences
                .iter()
                .filter(|a| token_audiences.contains(a))
                .cloned()
                .collect()
        };
        if !wanted_audiences.is_empty() && audiences.is_empty() {
            return Err(TokenRejection::Malformed("token audiences are invalid"));
        }
        Ok((claims, audiences))
    });
    state.count.fetch_add(1, Ordering::SeqCst);
    let (status, record) = match outcome {
        Ok((claims, audiences)) => {
            let k8s = &claims["kubernetes.io"];
            let namespace = k8s["namespace"].as_str().unwrap_or_default();
            let name = k8s["serviceaccount"]["name"].as_str().unwrap_or_default();
            let username = format!("system:serviceaccount:{namespace}:{name}");
            let mut user = json!({
                "username": username,
                "uid": k8s["serviceaccount"]["uid"],
                "groups": [
                    "system:serviceaccounts",
                    format!("system:serviceaccounts:{namespace}"),
                    "system:authenticated",
                ],
            });
            if let Some(pod) = k8s["pod"]["name"].as_str() {
                user["extra"] = json!({
                    "authentication.kubernetes.io/pod-name": [pod],
                    "authentication.kubernetes.io/pod-uid": [k8s["pod"]["uid"]],
                });
            }
            (
                json!({ "authenticated": true, "user": user, "audiences": audiences }),
                ReviewRecord {
                    authenticated: true,
                    username: Some(username),
                    error: None,
                },
            )
        }
        Err(rejection) => (
            json!({ "authenticated": false, "error": rejection.to_string() }),
            ReviewRecord {
                authenticated: false,
                username: None,
                error: Some(rejection.to_string()),
            },
        ),
    };
    state
        .reviews
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(record);
    let mut body = json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": { "creationTimestamp": null },
        "spec": review["spec"],
        "status": status,
    });
    if let Some(spec) = body["spec"].as_object_mut() {
        // The API server does not echo the token back.
        spec.remove("token");
    }
    (StatusCode::CREATED, Json(body))
}

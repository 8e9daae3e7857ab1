//! A scripted Kubernetes API server for kube-client, in the controller-rs style: each test
//! lists the conversation it expects, asserting every request and answering it as the
//! API server would. A request the script does not expect fails the test.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use http::{Request, Response, StatusCode};
use kagi_certs::CertificateAuthority;
use kagi_certs::auto::{AutoTls, AutoTlsSettings};
use kube::client::Body;
use serde_json::{Value, json};

pub const NS: &str = "kagi";
pub const SECRET_PATH: &str = "/api/v1/namespaces/kagi/secrets/kagi-webhook-ca";
pub const SECRETS_PATH: &str = "/api/v1/namespaces/kagi/secrets";
pub const MWC_PATH: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kagi-webhook";

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

pub struct ApiServer(pub Handle);

/// One request the script received.
pub struct Received {
    pub method: http::Method,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Option<Value>,
    reply: tower_test::mock::SendResponse<Response<Body>>,
}

impl Received {
    pub fn respond(self, status: u16, body: Value) {
        let response = Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        self.reply.send_response(response);
    }

    pub fn fail(self, code: u16, reason: &str) {
        self.respond(code, status(code, reason));
    }
}

impl ApiServer {
    /// Waits for the next request and asserts its method and path.
    pub async fn expect(&mut self, method: &str, path: &str) -> Received {
        let (request, reply) = tokio::time::timeout(Duration::from_secs(10), self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("expected {method} {path}, but no request came"))
            .unwrap_or_else(|| panic!("expected {method} {path}, but the client went away"));
        let (parts, body) = request.into_parts();
        assert_eq!(
            (parts.method.as_str(), parts.uri.path()),
            (method, path),
            "unexpected request {} {}",
            parts.method,
            parts.uri
        );
        let bytes = body.collect_bytes().await.unwrap();
        Received {
            method: parts.method,
            path: parts.uri.path().to_string(),
            content_type: parts
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string()),
            body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap()),
            reply,
        }
    }
}

pub fn status(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("fake apiserver says {reason}"), "reason": reason, "code": code,
    })
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn unb64(v: &Value) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 string"))
            .unwrap(),
    )
    .unwrap()
}

/// The CA Secret as the API server would return it.
pub fn ca_secret(
    ca: &CertificateAuthority,
    previous: Option<&str>,
    resource_version: &str,
) -> Value {
    let mut data = json!({ "ca.crt": b64(ca.cert_pem()), "ca.key": b64(&ca.key_pem()) });
    if let Some(previous) = previous {
        data["previous-ca.crt"] = json!(b64(previous));
    }
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {
            "name": "kagi-webhook-ca", "namespace": NS, "resourceVersion": resource_version,
            "labels": { "team": "platform" },
        },
        "data": data,
    })
}

/// The webhook configuration with `webhooks` entries, each with `bundle` (PEM) if given.
pub fn webhook_config(bundle: Option<&str>, webhooks: usize, resource_version: &str) -> Value {
    let entries: Vec<Value> = (0..webhooks)
        .map(|i| {
            let mut client_config = json!({
                "service": { "name": "kagi-webhook", "namespace": NS, "path": "/mutate", "port": 443 }
            });
            if let Some(bundle) = bundle {
                client_config["caBundle"] = json!(b64(bundle));
            }
            json!({
                "name": format!("inject{i}.kagi.dev"),
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "clientConfig": client_config,
            })
        })
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": { "name": "kagi-webhook", "resourceVersion": resource_version },
        "webhooks": entries,
    })
}

/// Settings with tiny retry delays so error scenarios run fast.
pub fn settings() -> AutoTlsSettings {
    AutoTlsSettings {
        retry_min: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        start_attempts: 6,
        ..AutoTlsSettings::new("kagi-webhook", NS, "kagi-webhook")
    }
}

/// Runs `AutoTls::start` against the scripted server; returns the controller's result and
/// whatever the script returns. An assertion failing inside the script fails the test with
/// that assertion's message.
pub async fn run_start<T, F, Fut>(
    settings: AutoTlsSettings,
    script: F,
) -> (Result<AutoTls, kagi_certs::CertError>, T)
where
    F: FnOnce(ApiServer) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, NS);
    let script = tokio::spawn(script(ApiServer(handle)));
    let started = tokio::time::timeout(Duration::from_secs(20), AutoTls::start(client, settings))
        .await
        .expect("controller did not finish");
    let out = match tokio::time::timeout(Duration::from_secs(20), script)
        .await
        .expect("script hung")
    {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    (started, out)
}

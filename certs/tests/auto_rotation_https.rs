//! Two replicas serve HTTPS with self-managed TLS while the shared CA rotates several times.
//! A client that behaves like the API server (it trusts exactly the `caBundle` currently in
//! the webhook configuration) sends 1,000 sequential requests, alternating between the
//! replicas; every one must succeed.
//!
//! Lifetimes are seconds long here so that rotations happen during the run; the API server
//! is an in-memory fake that keeps state and honours resourceVersion preconditions.

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http::{Request, Response, StatusCode};
use kagi_certs::ReloadingResolver;
use kagi_certs::auto::bundle::CaCert;
use kagi_certs::auto::{AutoTls, AutoTlsSettings};
use kube::client::Body;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use common::apiserver::{MWC_PATH, NS, SECRET_PATH, SECRETS_PATH, status, webhook_config};

/// Objects of the fake API server.
#[derive(Default)]
struct Store {
    secret: Option<Value>,
    webhook_config: Value,
    resource_version: u64,
}

impl Store {
    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn handle(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        match (method, path) {
            ("GET", SECRET_PATH) => match &self.secret {
                Some(secret) => (200, secret.clone()),
                None => (404, status(404, "NotFound")),
            },
            ("POST", SECRETS_PATH) => {
                if self.secret.is_some() {
                    return (409, status(409, "AlreadyExists"));
                }
                let mut secret = body.unwrap();
                secret["metadata"]["resourceVersion"] = json!(self.next_version());
                self.secret = Some(secret.clone());
                (201, secret)
            }
            ("PUT", SECRET_PATH) => {
                let mut secret = body.unwrap();
                let current = &self.secret.as_ref().unwrap()["metadata"]["resourceVersion"];
                if &secret["metadata"]["resourceVersion"] != current {
                    return (409, status(409, "Conflict"));
                }
                secret["metadata"]["resourceVersion"] = json!(self.next_version());
                self.secret = Some(secret.clone());
                (200, secret)
            }
            ("GET", MWC_PATH) => (200, self.webhook_config.clone()),
            ("PATCH", MWC_PATH) => {
                let patch: json_patch::Patch = serde_json::from_value(body.unwrap()).unwrap();
                let mut patched = self.webhook_config.clone();
                if json_patch::patch(&mut patched, &patch).is_err() {
                    return (422, status(422, "Invalid"));
                }
                patched["metadata"]["resourceVersion"] = json!(self.next_version());
                self.webhook_config = patched.clone();
                (200, patched)
            }
            _ => panic!("unexpected request {method} {path}"),
        }
    }

    /// The PEM bundle of the (only) webhook, as the API server would use it right now.
    fn ca_bundle(&self) -> String {
        let encoded = self.webhook_config["webhooks"][0]["clientConfig"]["caBundle"]
            .as_str()
            .unwrap_or_default();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap()
    }

    fn current_ca(&self) -> Option<String> {
        self.secret
            .as_ref()
            .map(|s| s["data"]["ca.crt"].as_str().unwrap().to_string())
    }
}

fn fake_client(store: Arc<Mutex<Store>>) -> kube::Client {
    let service = tower::service_fn(move |request: Request<Body>| {
        let store = store.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap());
            let (code, answer) =
                store
                    .lock()
                    .unwrap()
                    .handle(parts.method.as_str(), parts.uri.path(), body);
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            )
        }
    });
    kube::Client::new(service, NS)
}

/// A tiny HTTPS server answering every request with `200 ok`; aborted on drop.
struct Replica {
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn start_replica(store: Arc<Mutex<Store>>, settings: AutoTlsSettings) -> Replica {
    let auto = AutoTls::start(fake_client(store), settings)
        .await
        .expect("replica starts");
    let resolver: Arc<ReloadingResolver> = auto.resolver();
    let controller = tokio::spawn(auto.run());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(common::server_with(resolver));
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Replica {
        port,
        tasks: vec![controller, server],
    }
}

async fn request(port: u16, ca_bundle: &str) -> Result<String, String> {
    let connector = TlsConnector::from(common::client_trusting(ca_bundle));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("kagi-webhook.kagi.svc").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(
        b"POST /mutate HTTP/1.1\r\nhost: kagi-webhook.kagi.svc\r\ncontent-length: 0\r\n\r\n",
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tls.read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_requests_succeed_while_the_ca_rotates() {
    let store = Arc::new(Mutex::new(Store {
        webhook_config: webhook_config(None, 1, "1"),
        resource_version: 1,
        ..Store::default()
    }));
    let settings = AutoTlsSettings {
        // CA rotated after 9 s (90 % of 10 s); serving certificates renewed every few
        // seconds. The margin between the switch to the new CA and the old CA's expiry (1 s)
        // must outlast scheduling delays on a loaded 2-core CI machine.
        ca_lifetime: Duration::from_secs(10),
        serving_lifetime: Duration::from_secs(3),
        backdate: Duration::ZERO,
        resync: Duration::from_millis(50),
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        bundle_propagation: Duration::from_millis(200),
        ..AutoTlsSettings::new("kagi-webhook", NS, "kagi-webhook")
    };
    let replicas = [
        start_replica(store.clone(), settings.clone()).await,
        start_replica(store.clone(), settings).await,
    ];

    let mut cas_seen = HashSet::new();
    let mut failures = Vec::new();
    // At least 1,000 requests, and keep going until 200 have been served after a rotation
    // (bounded, so a CA that never rotates ends the loop and fails the assertion below).
    let mut rotated_at = None;
    let mut i = 0;
    while (i < 1000 || rotated_at.is_none_or(|at| i < at + 200)) && i < 20_000 {
        let (bundle, current) = {
            let store = store.lock().unwrap();
            (store.ca_bundle(), store.current_ca())
        };
        cas_seen.extend(current);
        assert!(
            !CaCert::all_in(bundle.as_bytes()).is_empty(),
            "bundle was never patched"
        );
        match request(replicas[i % 2].port, &bundle).await {
            Ok(response) if response.starts_with("HTTP/1.1 200 OK") && response.ends_with("ok") => {
            }
            Ok(response) => failures.push(format!("request {i}: bad response {response:?}")),
            Err(error) => failures.push(format!("request {i}: {error}")),
        }
        if rotated_at.is_none() && cas_seen.len() >= 2 {
            rotated_at = Some(i);
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {i} requests failed: {failures:#?}",
        failures.len()
    );
    assert!(
        cas_seen.len() >= 2,
        "the CA never rotated during the run; the test proves nothing"
    );
}

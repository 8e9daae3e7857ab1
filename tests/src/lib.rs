//! End-to-end harness for kagi: a real OpenBao dev server, a real PostgreSQL, a service-account
//! token issuer with a TokenReview responder, the real `kagi-webhook` over TLS, and a
//! kubelet-like pod runner that runs every container of the mutated pod under runc from the
//! images `make images` builds (the real static `kagi-agent`).
//!
//! Every server is a real process on a free loopback port, stopped on drop. Processes also die
//! with the test binary (parent-death signal) and their scratch directories are swept by the
//! next run, so servers may live in a `static` shared by the tests of one binary.
//!
//! ```no_run
//! use std::time::Duration;
//! use kagi_tests::{kube, openbao::OpenBao, pod_runner, setup, webhook::Webhook};
//! use serde_json::json;
//!
//! # fn main() -> anyhow::Result<()> {
//! let bao = OpenBao::start()?; // `make test-deps` installs `bao` when missing
//! let issuer = kube::ServiceAccountIssuer::new()?;
//! let reviewer = kube::TokenReviewer::start(&issuer)?;
//! setup::put_kv(&bao, "secret/app/config", &[("password", "s3cr3t")])?;
//! setup::write_policy(&bao, "app", r#"path "secret/data/app/*" { capabilities = ["read"] }"#)?;
//! setup::configure_kubernetes_auth(&bao, &reviewer, "app", "team-a", "web", &["app"])?;
//!
//! let webhook = Webhook::start(&["--vault-address", &bao.addr()])?;
//! let manifest = json!({
//!     "apiVersion": "v1", "kind": "Pod",
//!     "metadata": { "name": "web", "namespace": "team-a", "annotations": {
//!         "vault.hashicorp.com/agent-inject": "true",
//!         "vault.hashicorp.com/role": "app",
//!         "vault.hashicorp.com/agent-inject-secret-config": "secret/data/app/config" } },
//!     "spec": { "serviceAccountName": "web", "containers": [{ "name": "app",
//!         "image": kagi_tests::image::TEST_APP_IMAGE, "args": ["--require", "/vault/secrets/config"] }] }
//! });
//! // The pod has its own network namespace: OpenBao's port is relayed into it.
//! let runner = pod_runner::PodRunner::new("team-a", &issuer).host_ports(&[bao.port()]);
//! let (_admission, pod) = pod_runner::admit_and_run(&runner, &webhook, &manifest)?;
//! pod.wait_running(Duration::from_secs(60))?;
//! let rendered = pod.read_file("app", "/vault/secrets/config")?;
//! let status = pod.delete(); // SIGTERM: app first, then the agent
//! # let _ = (rendered, status);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod bins;
pub mod helm;
pub mod http;
pub mod image;
pub mod kube;
pub mod manifests;
pub mod openbao;
pub mod pod_runner;
pub mod pod_security;
pub mod postgres;
pub mod procs;
pub mod relay;
pub mod routing;
pub mod setup;
pub mod webhook;

pub use procs::{free_port, wait_for};

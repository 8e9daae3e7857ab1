//! End-to-end harness for kagi: a real OpenBao dev server, a real PostgreSQL, a service-account
//! token issuer with a TokenReview responder, and (see `pod_runner`) a kubelet-like pod runner
//! over the real webhook and agent binaries.
//!
//! Every server is a real process on a free loopback port, stopped on drop; long-lived servers
//! also die with the test binary (parent-death signal), so nothing outlives a test run.
#![forbid(unsafe_code)]

pub mod bins;
pub mod kube;
pub mod openbao;
pub mod pod_runner;
pub mod postgres;
pub mod procs;
pub mod setup;
pub mod webhook;

pub use procs::{free_port, wait_for};

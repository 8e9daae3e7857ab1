//! Webhook TLS for kagi: generate a CA and serving certificates, load and validate PEM
//! pairs, serve them through a hot-reloading rustls resolver, and (optionally) manage one
//! shared CA and the webhook configuration's `caBundle` on a cluster.
#![forbid(unsafe_code)]

pub mod auto;
mod error;
mod files;
pub mod generate;
pub mod pem;
mod resolver;

pub use error::CertError;
pub use files::{DEFAULT_GEN_DAYS, GenCertsRequest, WrittenBundle, write_bundle};
pub use generate::{CertificateAuthority, IssuedPair, Validity, service_hosts};
pub use pem::{ServingPair, load_pair, parse_pair};
pub use resolver::{DEFAULT_RECHECK_INTERVAL, ReloadingResolver, WatchGuard};

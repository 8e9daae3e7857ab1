#![forbid(unsafe_code)]
//! kagi-agent: a small Vault/OpenBao agent.
//!
//! With default features this is the whole runtime: auto-auth ([`auth`]), the Vault client
//! ([`vault`]), dependency watchers ([`watch`]) on the Vault Agent schedule ([`schedule`]), the
//! template runner ([`runner`]) writing files atomically ([`render`]), and the process glue
//! ([`runtime`], [`signal`], [`api`], [`state`]). Without them (`default-features = false`) only
//! [`config`], the webhook's contract, is compiled.

pub mod config;
#[cfg(feature = "runtime")]
pub mod template;

#[cfg(feature = "runtime")]
pub mod api;
#[cfg(feature = "runtime")]
pub mod auth;
#[cfg(feature = "runtime")]
pub mod cli;
#[cfg(feature = "runtime")]
pub mod kv;
#[cfg(feature = "runtime")]
pub mod metrics;
#[cfg(feature = "runtime")]
pub mod pki;
#[cfg(feature = "runtime")]
pub mod render;
#[cfg(feature = "runtime")]
pub mod runner;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod schedule;
#[cfg(feature = "runtime")]
pub mod signal;
#[cfg(feature = "runtime")]
pub mod sink;
#[cfg(feature = "runtime")]
pub mod state;
#[cfg(feature = "runtime")]
pub mod vault;
#[cfg(feature = "runtime")]
pub mod watch;

#![forbid(unsafe_code)]
//! kagi-agent: a small Vault/OpenBao agent.
//!
//! Auto-auth ([`auth`]), the Vault client ([`vault`]), dependency watchers ([`watch`]) on the
//! Vault Agent schedule ([`schedule`]), the template runner ([`runner`]) writing files
//! atomically ([`render`]), and the process glue ([`runtime`], [`signal`], [`state`]), and the
//! local Vault API proxy with its lease cache ([`proxy`]).
//! The configuration contract ([`config`], package kagi-agent-config) and the template engine
//! ([`template`], package kagi-template) live in packages of their own, so the webhook can
//! depend on the contract alone and the engine stays free of I/O.

pub use kagi_agent_config as config;
pub use kagi_template as template;

pub mod auth;
pub mod cli;
pub mod connection;
pub mod host;
pub mod http_retry;
pub mod kv;
pub mod metrics;
pub mod pki;
pub mod plugin;
pub mod proxy;
pub mod quiescence;
pub mod render;
pub mod runner;
pub mod runtime;
pub mod schedule;
pub mod signal;
pub mod signal_cmd;
pub mod sink;
pub mod sni;
pub mod state;
pub mod supervisor;
pub mod template_command;
pub mod tls;
pub mod vault;
pub mod watch;

#![forbid(unsafe_code)]
//! kagi-agent: a small Vault/OpenBao agent.

pub mod config;

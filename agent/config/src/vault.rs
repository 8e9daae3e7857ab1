//! `vault`: how the agent reaches the server.

use serde::{Deserialize, Serialize};

use crate::is_false;

/// `vault`: how to reach the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VaultConnection {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// `vault.retry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Vault Agent's default is 12; `-1` disables retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
}

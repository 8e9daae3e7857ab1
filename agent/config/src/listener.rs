//! `listener[]`: the agent's local listeners.

use serde::{Deserialize, Serialize};

use crate::is_false;

/// `listener[]`. kagi serves only the agent API (`/agent/v1/quit`) on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_api: Option<AgentApi>,
}

/// `listener[].agent_api`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentApi {
    #[serde(default)]
    pub enable_quit: bool,
}

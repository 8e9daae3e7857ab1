//! `kagi`: kagi's own settings, which a stock Vault Agent rejects.

use serde::{Deserialize, Serialize};

use crate::is_false;

/// kagi's own settings, under the top-level key `kagi`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KagiExtensions {
    /// On shutdown, revoke every lease and then the token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoke_on_shutdown: bool,
    /// Written once every template has rendered; `kagi-agent probe` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_file: Option<String>,
    /// Directory (an agent-only memory volume) where the init container leaves its token and
    /// lease ids for the sidecar to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

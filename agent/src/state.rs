//! The classic-mode hand-off: the init container leaves its token and secrets in
//! `kagi.state_dir` (an agent-only memory volume) and the sidecar adopts them, so a pod gets one
//! login and one set of leases instead of two (vault#14634).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::render;
use crate::template::Dependency;
use crate::vault::Token;

const STATE_FILE: &str = "agent-state.json";

/// What is handed over. Stored 0600; it holds the token and the secrets already rendered.
#[derive(Clone, Serialize, Deserialize)]
pub struct HandOff {
    pub token: Token,
    /// Unix time the state was written.
    pub written_at: i64,
    pub dependencies: Vec<Entry>,
}

impl std::fmt::Debug for HandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOff")
            .field("token", &self.token)
            .field("written_at", &self.written_at)
            .field("dependencies", &self.dependencies.len())
            .finish()
    }
}

/// One dependency and its last response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub kind: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<BTreeMap<String, String>>,
    pub response: Value,
}

impl Entry {
    fn from_dep(dep: &Dependency, response: &Value) -> Self {
        let (kind, path, args) = match dep {
            Dependency::Secret { path, write } => ("secret", path.clone(), write.clone()),
            Dependency::List { path } => ("list", path.clone(), None),
            Dependency::PkiCert { path, params } => ("pki", path.clone(), Some(params.clone())),
        };
        Entry {
            kind: kind.into(),
            path,
            args,
            response: response.clone(),
        }
    }

    fn dependency(&self) -> Option<Dependency> {
        match self.kind.as_str() {
            "secret" => Some(Dependency::Secret {
                path: self.path.clone(),
                write: self.args.clone(),
            }),
            "list" => Some(Dependency::List {
                path: self.path.clone(),
            }),
            "pki" => Some(Dependency::PkiCert {
                path: self.path.clone(),
                params: self.args.clone().unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

impl HandOff {
    pub fn new(token: &Token, brain: &BTreeMap<Dependency, Value>) -> Self {
        HandOff {
            token: token.clone(),
            written_at: crate::watch::unix_now(),
            dependencies: brain.iter().map(|(d, v)| Entry::from_dep(d, v)).collect(),
        }
    }

    /// The handed-over responses as seen at Unix time `now`: lease durations shortened by the
    /// time since the hand-off, and leases that ran out dropped (they are read again).
    pub fn brain(&self, now: i64) -> BTreeMap<Dependency, Value> {
        let elapsed = (now - self.written_at).max(0);
        self.dependencies
            .iter()
            .filter_map(|e| {
                let mut response = e.response.clone();
                let leased = response
                    .get("lease_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !id.is_empty());
                if leased {
                    let duration = response
                        .get("lease_duration")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    let left = duration - elapsed;
                    if left <= 0 {
                        return None;
                    }
                    response["lease_duration"] = Value::from(left);
                }
                Some((e.dependency()?, response))
            })
            .collect()
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Writes the hand-off atomically, readable only by the agent.
pub fn save(dir: &Path, state: &HandOff) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(state).expect("state serializes");
    render::write_atomic(&path(dir), &bytes, Some(0o600), 0o600, true).map(|_| ())
}

/// Reads a hand-off if one exists; a corrupt file is reported and ignored.
pub fn load(dir: &Path) -> Option<HandOff> {
    let bytes = std::fs::read(path(dir)).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(state) => Some(state),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring unreadable agent state");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hand_off_round_trips_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        let mut brain = BTreeMap::new();
        brain.insert(
            Dependency::Secret {
                path: "database/creds/app".into(),
                write: None,
            },
            serde_json::json!({"lease_id": "database/creds/app/x", "renewable": true, "lease_duration": 5}),
        );
        brain.insert(
            Dependency::List {
                path: "secret/".into(),
            },
            serde_json::json!({"data": {"keys": ["a"]}}),
        );
        let token = Token {
            client_token: "s.secret".into(),
            accessor: "acc".into(),
            lease_duration: Duration::from_secs(60),
            renewable: true,
        };
        save(dir.path(), &HandOff::new(&token, &brain)).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path(dir.path())).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let back = load(dir.path()).unwrap();
        assert_eq!(back.token, token);
        assert_eq!(back.brain(back.written_at), brain);
        let later = back.brain(back.written_at + 10);
        assert_eq!(later.len(), 1, "the lease that ran out is read again");
        assert!(!format!("{back:?}").contains("s.secret"));
    }
}

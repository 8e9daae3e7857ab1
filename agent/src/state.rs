//! The classic-mode hand-off: the init container leaves its token and secrets in
//! `kagi.state_dir` (an agent-only memory volume) and the sidecar adopts them, so a pod gets one
//! login and one set of leases instead of two (vault#14634).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The one writer of a state directory: saves run on the blocking pool, never on the two async
/// workers (an fsync on a loaded node takes milliseconds to seconds), one at a time and in
/// order. A save queued while another is being written replaces any older one still waiting,
/// which would be overwritten anyway: the file always ends with the latest state.
#[derive(Clone)]
pub struct Writer(Arc<WriterInner>);

struct WriterInner {
    dir: PathBuf,
    queue: Mutex<Queue>,
    idle: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    next: Option<HandOff>,
    busy: bool,
    last: Option<Result<(), String>>,
}

impl Writer {
    pub fn new(dir: PathBuf) -> Writer {
        Writer(Arc::new(WriterInner {
            dir,
            queue: Mutex::default(),
            idle: tokio::sync::Notify::new(),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    /// Queues `state`; returns at once. Must be called inside the tokio runtime.
    pub fn save(&self, state: HandOff) {
        let start = {
            let mut queue = self.0.queue.lock().expect("not poisoned");
            queue.next = Some(state);
            !std::mem::replace(&mut queue.busy, true)
        };
        if start {
            let inner = self.0.clone();
            tokio::task::spawn_blocking(move || inner.drain());
        }
    }

    /// Waits until every queued save is on disk; the outcome of the last one.
    pub async fn flush(&self) -> Option<Result<(), String>> {
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a drain ending in between still wakes us.
            idle.as_mut().enable();
            {
                let queue = self.0.queue.lock().expect("not poisoned");
                if !queue.busy {
                    return queue.last.clone();
                }
            }
            idle.await;
        }
    }
}

impl WriterInner {
    /// Writes until the queue is empty (on the blocking pool).
    fn drain(&self) {
        loop {
            let next = {
                let mut queue = self.queue.lock().expect("not poisoned");
                match queue.next.take() {
                    Some(next) => next,
                    None => {
                        queue.busy = false;
                        drop(queue);
                        self.idle.notify_waiters();
                        return;
                    }
                }
            };
            let result = save(&self.dir, &next).map_err(|e| e.to_string());
            if let Err(err) = &result {
                tracing::warn!(dir = %self.dir.display(), error = %err, "cannot save agent state");
            }
            self.queue.lock().expect("not poisoned").last = Some(result);
        }
    }
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

    /// A burst of saves ends with the latest on disk, whatever was skipped on the way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_keeps_saves_in_order_off_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::new(dir.path().to_path_buf());
        assert_eq!(writer.flush().await, None, "nothing saved yet");
        let token = Token {
            client_token: "s.secret".into(),
            accessor: "acc".into(),
            lease_duration: Duration::from_secs(60),
            renewable: true,
        };
        let brain = BTreeMap::new();
        for n in 0..200 {
            let mut state = HandOff::new(&token, &brain);
            state.written_at = n;
            writer.save(state);
        }
        assert_eq!(writer.flush().await, Some(Ok(())));
        assert_eq!(load(dir.path()).unwrap().written_at, 199);
        // A save that cannot be written is reported by flush (a file where the directory
        // should be).
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"").unwrap();
        let gone = Writer::new(blocker.join("state"));
        gone.save(HandOff::new(&token, &brain));
        assert!(matches!(gone.flush().await, Some(Err(_))));
    }

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

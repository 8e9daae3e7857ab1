//! Secret paths as templates write them, and the KV version 2 `data/` shim.
//!
//! Templates say `secret "secret/app"` for a KV v2 secret whose API path is `secret/data/app`.
//! Like consul-template, the agent asks `sys/internal/ui/mounts/<path>` which mount serves a
//! path and whether that mount is KV v2, then rewrites the path.
//!
//! Deliberate deviation from bao agent 2.7.2: consul-template caches a preflight that failed
//! (after the client's retries) as "not KV v2" for the life of the dependency
//! (consul-template #2149), so a Vault that was briefly unavailable at startup leaves a KV v2
//! secret unreadable for good. [`MountCache`] keeps answers and 4xx refusals (which will not
//! change), and asks again after transient failures (connection errors, 412, 429, 5xx).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::Value;

use crate::vault::{HttpRetry, VaultError};

/// What the preflights answered, per template path: the KV v2 mount, or `None` for "not KV v2".
#[derive(Debug, Default)]
pub struct MountCache(Mutex<HashMap<String, Option<String>>>);

impl MountCache {
    /// The cached answer for `path`, if one is kept.
    pub fn get(&self, path: &str) -> Option<Option<String>> {
        self.0.lock().expect("not poisoned").get(path).cloned()
    }

    /// Takes the preflight's outcome: the KV v2 mount to use now (`None`: read the path as
    /// written). Answers and refusals are kept; transient failures are not.
    pub fn record(
        &self,
        path: &str,
        outcome: &Result<Option<Value>, VaultError>,
    ) -> Option<String> {
        let (mount, keep) = match outcome {
            Ok(answer) => (answer.as_ref().and_then(kv2_mount), true),
            Err(err) => (None, !is_transient(err)),
        };
        if keep {
            self.0
                .lock()
                .expect("not poisoned")
                .insert(path.to_owned(), mount.clone());
        }
        mount
    }
}

/// A failure that may be gone on the next try: not a 4xx refusal (403 without the UI mounts
/// policy, 400) but a connection error, a timeout or a status the client retries.
fn is_transient(err: &VaultError) -> bool {
    match err.status() {
        Some(code) => HttpRetry::retryable_status(code),
        None => !matches!(err, VaultError::Decode { .. } | VaultError::Setup(_)),
    }
}

/// A template path split into the API path and its query (`secret "kv/app?version=3"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPath {
    /// Trimmed of whitespace and of `/` at both ends.
    pub path: String,
    pub query: BTreeMap<String, String>,
}

impl SecretPath {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        let (path, query) = match raw.split_once('?') {
            Some((path, query)) => (path, query),
            None => (raw, ""),
        };
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (pair.to_owned(), String::new()),
            })
            .collect();
        SecretPath {
            path: path.trim().trim_matches('/').to_owned(),
            query,
        }
    }
}

/// What a request does with a KV v2 path; decides which sub-tree to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    List,
}

/// The KV v2 mount (`secret/`) named by a `sys/internal/ui/mounts/<path>` response, or `None`
/// when the mount is anything else (KV v1, database, PKI, ...).
pub fn kv2_mount(preflight: &Value) -> Option<String> {
    let data = preflight.get("data")?;
    let is_kv = data.get("type").and_then(Value::as_str) == Some("kv");
    let version = data
        .get("options")
        .and_then(|o| o.get("version"))
        .and_then(Value::as_str);
    if is_kv && version == Some("2") {
        data.get("path").and_then(Value::as_str).map(str::to_owned)
    } else {
        None
    }
}

/// Rewrites `path` for a KV v2 `mount`: `secret/foo` → `secret/data/foo` for reads and writes,
/// `secret/metadata/foo` for lists. Paths already naming a sub-tree are left alone.
pub fn shim_kv2(path: &str, mount: &str, access: Access) -> String {
    let mount = mount.trim_matches('/');
    let subtree = match access {
        Access::Read | Access::Write => "data",
        Access::List => "metadata",
    };
    if path == mount {
        return format!("{mount}/{subtree}");
    }
    let Some(rest) = path
        .strip_prefix(mount)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return path.to_owned();
    };
    let already = ["data", "metadata", "subkeys"]
        .iter()
        .any(|tree| rest == *tree || rest.starts_with(&format!("{tree}/")));
    if already {
        path.to_owned()
    } else {
        format!("{mount}/{subtree}/{rest}")
    }
}

/// True when a KV v2 read response is a soft-deleted version (`metadata.deletion_time` set).
/// Vault only answers with a non-empty deletion time once the deletion took effect.
pub fn is_soft_deleted(envelope: &Value) -> bool {
    envelope
        .get("data")
        .and_then(|d| d.get("metadata"))
        .and_then(|m| m.get("deletion_time"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_trimmed_and_queries_split() {
        let p = SecretPath::parse(" /secret/app/?version=3 ");
        assert_eq!(p.path, "secret/app");
        assert_eq!(p.query.get("version").map(String::as_str), Some("3"));
        assert!(SecretPath::parse("database/creds/app").query.is_empty());
    }

    #[test]
    fn preflight_recognises_only_kv_version_2() {
        let v2 = json!({"data": {"type": "kv", "path": "secret/", "options": {"version": "2"}}});
        assert_eq!(kv2_mount(&v2).as_deref(), Some("secret/"));
        let v1 = json!({"data": {"type": "kv", "path": "kv/", "options": {"version": "1"}}});
        assert_eq!(kv2_mount(&v1), None);
        let db = json!({"data": {"type": "database", "path": "database/", "options": null}});
        assert_eq!(kv2_mount(&db), None);
    }

    #[test]
    fn kv2_paths_get_data_inserted_once() {
        assert_eq!(
            shim_kv2("secret/app", "secret/", Access::Read),
            "secret/data/app"
        );
        assert_eq!(
            shim_kv2("secret/team/app", "secret/", Access::Write),
            "secret/data/team/app"
        );
        assert_eq!(
            shim_kv2("secret/data/app", "secret/", Access::Read),
            "secret/data/app"
        );
        assert_eq!(
            shim_kv2("secret/metadata/app", "secret/", Access::Read),
            "secret/metadata/app"
        );
        assert_eq!(shim_kv2("secret", "secret/", Access::Read), "secret/data");
        assert_eq!(
            shim_kv2("secret/apps", "secret/", Access::List),
            "secret/metadata/apps"
        );
        // A key that merely starts with "data" is not the data sub-tree.
        assert_eq!(
            shim_kv2("secret/database", "secret/", Access::Read),
            "secret/data/database"
        );
        assert_eq!(
            shim_kv2("nested/kv/app", "nested/kv/", Access::Read),
            "nested/kv/data/app"
        );
    }

    #[test]
    fn answers_and_refusals_are_cached_transient_failures_are_not() {
        let cache = MountCache::default();
        let api = |code| {
            Err(VaultError::Api {
                code,
                method: "GET",
                path: "sys/internal/ui/mounts/x".into(),
                errors: String::new(),
            })
        };
        let v2 = json!({"data": {"type": "kv", "path": "secret/", "options": {"version": "2"}}});
        assert_eq!(cache.record("a", &api(503)), None);
        assert_eq!(cache.get("a"), None, "a 503 is asked again");
        assert_eq!(cache.record("a", &api(429)), None);
        let down = Err(VaultError::Transport {
            method: "GET",
            path: "p".into(),
            message: "connection refused".into(),
        });
        assert_eq!(cache.record("a", &down), None);
        assert_eq!(cache.get("a"), None, "a connection error is asked again");
        assert_eq!(cache.record("a", &Ok(Some(v2))).as_deref(), Some("secret/"));
        assert_eq!(cache.get("a"), Some(Some("secret/".into())));
        assert_eq!(cache.record("b", &api(403)), None);
        assert_eq!(cache.get("b"), Some(None), "a refusal is kept");
        assert_eq!(cache.record("c", &Ok(None)), None);
        assert_eq!(cache.get("c"), Some(None));
    }

    #[test]
    fn soft_deleted_versions_are_detected() {
        let live = json!({"data": {"data": {"a": 1}, "metadata": {"deletion_time": ""}}});
        let gone =
            json!({"data": {"data": null, "metadata": {"deletion_time": "2026-01-01T00:00:00Z"}}});
        assert!(!is_soft_deleted(&live));
        assert!(is_soft_deleted(&gone));
    }
}

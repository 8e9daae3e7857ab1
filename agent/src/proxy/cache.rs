//! The lease cache, as Vault Agent's `cache {}` runs it.
//!
//! Cached: 2xx JSON answers that carry a renewable lease obtained with a token the agent
//! manages (its auto-auth token when the proxy may use it, or a token created through the
//! cache), and renewable tokens created through the proxy (orphans, or children of a managed
//! token). An entry is keyed by the whole request (method, path and query, headers, body,
//! token), so the same request gets the same answer; it is renewed on the LifetimeWatcher
//! schedule by its own task and evicted when renewal ends (lease at its max TTL, a refusal, an
//! outage outlasting it: transient failures are retried while it has time left),
//! when a revocation passes through the proxy (`sys/leases/revoke*`, `auth/token/revoke*`:
//! a revoked token takes its leases and child tokens along), or on `/agent/v1/cache-clear`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use super::{AutoToken, Outgoing, Reply, Upstream};
use crate::schedule::{self, LifetimeSchedule, RenewStep};

type Key = [u8; 32];

/// What an entry holds besides the answer.
#[derive(Clone, Debug, PartialEq)]
enum Holds {
    /// A lease obtained with `token`.
    Lease { lease_id: String, token: String },
    /// A token created through the proxy, with the managed token that created it (none for
    /// an orphan).
    Token {
        token: String,
        accessor: String,
        parent: Option<String>,
    },
}

struct Entry {
    generation: u64,
    reply: Reply,
    stored: Instant,
    holds: Holds,
    namespace: String,
    request_path: String,
    renewer: Option<AbortHandle>,
}

#[derive(Default)]
struct Entries {
    next_generation: u64,
    by_key: HashMap<Key, Entry>,
    /// Requests being forwarded, so identical ones wait for the first instead of creating a
    /// second lease.
    in_flight: HashMap<Key, Arc<tokio::sync::Mutex<()>>>,
}

/// The cache; cheap to clone (one shared state).
#[derive(Clone)]
pub struct LeaseCache {
    entries: Arc<Mutex<Entries>>,
    /// The auto-auth token, managed when the proxy may send it (Vault Agent registers it
    /// through its in-memory sink only then).
    auto_token: Option<AutoToken>,
    upstream: Upstream,
}

/// A cache-clear request (`POST /agent/v1/cache-clear`).
#[derive(Debug, serde::Deserialize)]
pub struct ClearRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub namespace: String,
}

impl LeaseCache {
    pub fn new(upstream: Upstream, auto_token: Option<AutoToken>) -> LeaseCache {
        LeaseCache {
            entries: Arc::default(),
            auto_token,
            upstream,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of cached answers.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Answers from the cache, or forwards and caches what qualifies.
    pub async fn send(&self, upstream: &Upstream, request: &Outgoing) -> Reply {
        let key = key(request);
        let gate = self.lock().in_flight.entry(key).or_default().clone();
        let reply = {
            let _turn = gate.lock().await;
            match self.cached(&key) {
                Some(hit) => hit,
                None => {
                    let reply = upstream.send(request).await;
                    self.consider(key, request, &reply);
                    let mut reply = reply;
                    reply
                        .headers
                        .insert("x-cache", HeaderValue::from_static("MISS"));
                    reply
                }
            }
        };
        let mut entries = self.lock();
        if Arc::strong_count(&gate) <= 2 {
            entries.in_flight.remove(&key);
        }
        reply
    }

    fn cached(&self, key: &Key) -> Option<Reply> {
        let entries = self.lock();
        let entry = entries.by_key.get(key)?;
        let mut reply = entry.reply.clone();
        reply
            .headers
            .insert("x-cache", HeaderValue::from_static("HIT"));
        if let Ok(age) = HeaderValue::from_str(&entry.stored.elapsed().as_secs().to_string()) {
            reply.headers.insert(header::AGE, age);
        }
        // The server writes a fresh Date, as Vault Agent does on a hit.
        reply.headers.remove(header::DATE);
        Some(reply)
    }

    /// Evicts what a revocation removed, or caches a leased/token answer.
    fn consider(&self, key: Key, request: &Outgoing, reply: &Reply) {
        if !reply.status.is_success() || !reply.is_json() {
            return;
        }
        if reply.status == StatusCode::NO_CONTENT {
            self.on_revocation(request);
            return;
        }
        let Ok(secret) = serde_json::from_slice::<Value>(&reply.body) else {
            return;
        };
        let Some(holds) = self.what_to_hold(request, &secret) else {
            return;
        };
        let lease = match &holds {
            Holds::Lease { .. } => secret.get("lease_duration"),
            Holds::Token { .. } => secret.pointer("/auth/lease_duration"),
        }
        .and_then(Value::as_u64)
        .unwrap_or(0);
        let namespace = request.namespace();
        let mut entries = self.lock();
        entries.next_generation += 1;
        let generation = entries.next_generation;
        let renewer = tokio::spawn(self.clone().keep_renewed(
            key,
            generation,
            holds.clone(),
            Duration::from_secs(lease.min(10 * 365 * 86_400)),
            namespace.clone(),
        ))
        .abort_handle();
        debug!(path = request.api_path(), "caching the answer");
        let old = entries.by_key.insert(
            key,
            Entry {
                generation,
                reply: reply.clone(),
                stored: Instant::now(),
                holds,
                namespace,
                request_path: request.api_path().to_owned(),
                renewer: Some(renewer),
            },
        );
        if let Some(old) = old.and_then(|o| o.renewer) {
            old.abort();
        }
    }

    fn what_to_hold(&self, request: &Outgoing, secret: &Value) -> Option<Holds> {
        let renewable = secret.get("renewable").and_then(Value::as_bool) == Some(true);
        let auth = secret.get("auth").filter(|a| a.is_object());
        let token_renewable = auth
            .and_then(|a| a.get("renewable"))
            .and_then(Value::as_bool)
            == Some(true);
        if !renewable && !token_renewable {
            return None;
        }
        let lease_id = secret.get("lease_id").and_then(Value::as_str).unwrap_or("");
        if !lease_id.is_empty() {
            return self.is_managed(&request.token).then(|| Holds::Lease {
                lease_id: lease_id.to_owned(),
                token: request.token.clone(),
            });
        }
        let auth = auth?;
        let text = |k: &str| auth.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let orphan = auth.get("orphan").and_then(Value::as_bool) == Some(true);
        let parent = if orphan {
            None
        } else if self.is_managed(&request.token) {
            Some(request.token.clone())
        } else {
            return None;
        };
        Some(Holds::Token {
            token: text("client_token"),
            accessor: text("accessor"),
            parent,
        })
    }

    /// The agent's auto-auth token (when the proxy uses it) and tokens the cache created.
    fn is_managed(&self, token: &str) -> bool {
        if token.is_empty() {
            return false;
        }
        if self.auto_token.as_ref().is_some_and(|a| a.get() == token) {
            return true;
        }
        self.lock()
            .by_key
            .values()
            .any(|e| matches!(&e.holds, Holds::Token { token: t, .. } if t == token))
    }

    /// Renews the entry's lease or token until renewal stops extending it, then evicts it.
    async fn keep_renewed(
        self,
        key: Key,
        generation: u64,
        holds: Holds,
        lease: Duration,
        namespace: String,
    ) {
        let mut schedule = LifetimeSchedule::new(lease, schedule::jitter());
        let mut expires = Instant::now() + lease;
        let mut failures = 0;
        // Like the LifetimeWatcher, renew at once, then on the schedule.
        loop {
            let renewed = match &holds {
                Holds::Lease { lease_id, token } => {
                    let body = json!({ "lease_id": lease_id, "increment": 0 });
                    self.upstream
                        .put_json("sys/leases/renew", token, Some(&namespace), &body)
                        .await
                        .map(|v| v.get("lease_duration").and_then(Value::as_u64))
                }
                Holds::Token { token, .. } => self
                    .upstream
                    .put_json("auth/token/renew-self", token, Some(&namespace), &json!({}))
                    .await
                    .map(|v| v.pointer("/auth/lease_duration").and_then(Value::as_u64)),
            };
            match renewed {
                Ok(Some(ttl)) => {
                    debug!(kind = kind(&holds), ttl, "renewed a cached secret");
                    expires = Instant::now() + Duration::from_secs(ttl.min(10 * 365 * 86_400));
                }
                Ok(None) => {}
                Err(err) if err.is_transient() => {
                    // An outage (no answer, 5xx): retry with the LifetimeWatcher's error backoff
                    // (10 s doubling to 5 min, ±50 %) while the secret has time left, so the
                    // client's next request still gets the same, still valid secret.
                    let left = expires.saturating_duration_since(Instant::now());
                    let delay = schedule::renew_error_delay(failures, schedule::jitter())
                        .min(left.saturating_sub(schedule.grace()));
                    if delay.is_zero() {
                        warn!(kind = kind(&holds), error = %err, "renewing a cached secret failed and it is about to expire; evicting it");
                        break;
                    }
                    warn!(kind = kind(&holds), error = %err, retry_in = ?delay, "renewing a cached secret failed; retrying while it is valid");
                    failures += 1;
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(err) => {
                    warn!(kind = kind(&holds), error = %err, "renewing a cached secret failed; evicting it");
                    break;
                }
            }
            failures = 0;
            let remaining = expires.saturating_duration_since(Instant::now());
            match schedule.next(remaining, schedule::jitter()) {
                RenewStep::GiveUp => {
                    info!(
                        kind = kind(&holds),
                        "cached secret reached its end; evicting it"
                    );
                    break;
                }
                RenewStep::Sleep(pause) => tokio::time::sleep(pause).await,
            }
        }
        let mut entries = self.lock();
        if entries
            .by_key
            .get(&key)
            .is_some_and(|e| e.generation == generation)
        {
            let removed = entries.by_key.remove(&key);
            drop(entries);
            if let Some(Holds::Token { token, .. }) = removed.map(|e| e.holds) {
                self.evict_token(&token, true);
            }
        }
    }

    /// Evicts entries matching `pick`; returns the tokens of evicted token entries.
    fn evict_where(&self, pick: impl Fn(&Entry) -> bool) -> Vec<String> {
        let mut entries = self.lock();
        let keys: Vec<Key> = entries
            .by_key
            .iter()
            .filter(|(_, e)| pick(e))
            .map(|(k, _)| *k)
            .collect();
        let mut tokens = Vec::new();
        for key in keys {
            if let Some(entry) = entries.by_key.remove(&key) {
                if let Some(renewer) = entry.renewer {
                    renewer.abort();
                }
                if let Holds::Token { token, .. } = entry.holds {
                    tokens.push(token);
                }
            }
        }
        tokens
    }

    /// Evicts `token`'s entry, its leases and (when `cascade`) its child tokens with theirs;
    /// without `cascade` (revoke-orphan) the children stay, now without a parent.
    fn evict_token(&self, token: &str, cascade: bool) {
        let mut pending = vec![token.to_owned()];
        let mut first = true;
        while let Some(token) = pending.pop() {
            let evicted = self.evict_where(|e| match &e.holds {
                Holds::Lease { token: t, .. } => *t == token,
                Holds::Token {
                    token: t, parent, ..
                } => *t == token || (cascade && parent.as_deref() == Some(token.as_str())),
            });
            if !cascade && first {
                let mut entries = self.lock();
                for entry in entries.by_key.values_mut() {
                    if let Holds::Token { parent, .. } = &mut entry.holds
                        && parent.as_deref() == Some(token.as_str())
                    {
                        *parent = None;
                    }
                }
            }
            first = false;
            if cascade {
                pending.extend(evicted.into_iter().filter(|t| *t != token));
            }
        }
    }

    /// Cache clean-up after a successful revocation passed through the proxy.
    fn on_revocation(&self, request: &Outgoing) {
        let path = revocation_path(request.api_path());
        let body_text = |k: &str| match request.json_field(k) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        match path.as_str() {
            "/v1/auth/token/revoke" => {
                if let Some(token) = body_text("token") {
                    self.evict_token(&token, true);
                }
            }
            "/v1/auth/token/revoke-self" => self.evict_token(&request.token, true),
            "/v1/auth/token/revoke-accessor" => {
                if let Some(accessor) = body_text("accessor") {
                    self.clear_accessor(&accessor);
                }
            }
            "/v1/auth/token/revoke-orphan" => {
                if let Some(token) = body_text("token") {
                    self.evict_token(&token, false);
                }
            }
            "/v1/sys/leases/revoke" => {
                if let Some(lease) = body_text("lease_id") {
                    self.clear_lease(|l| l == lease);
                }
            }
            other => {
                let prefix = other
                    .strip_prefix("/v1/sys/leases/revoke-prefix/")
                    .or_else(|| other.strip_prefix("/v1/sys/leases/revoke-force/"));
                match prefix {
                    Some(prefix) => self.clear_lease(|l| l.starts_with(prefix)),
                    None => return,
                }
            }
        }
        info!(
            path,
            "revocation passed through the proxy; evicted its cached secrets"
        );
    }

    fn clear_lease(&self, matches: impl Fn(&str) -> bool) {
        self.evict_where(
            |e| matches!(&e.holds, Holds::Lease { lease_id, .. } if matches(lease_id)),
        );
    }

    fn clear_accessor(&self, accessor: &str) {
        let token = self.lock().by_key.values().find_map(|e| match &e.holds {
            Holds::Token {
                token, accessor: a, ..
            } if a == accessor => Some(token.clone()),
            _ => None,
        });
        if let Some(token) = token {
            self.evict_token(&token, true);
        }
    }

    /// `/agent/v1/cache-clear`.
    pub fn clear(&self, request: &ClearRequest) -> Result<(), String> {
        match request.kind.as_str() {
            "request_path" => {
                if request.value.is_empty() {
                    return Err("request path not provided".into());
                }
                let namespace = if request.namespace.is_empty() {
                    "root/"
                } else {
                    &request.namespace
                };
                let tokens = self.evict_where(|e| {
                    e.namespace == namespace && e.request_path.starts_with(&request.value)
                });
                for token in tokens {
                    self.evict_token(&token, true);
                }
            }
            "token" => {
                if request.value.is_empty() {
                    return Err("token not provided".into());
                }
                self.evict_token(&request.value, true);
            }
            "token_accessor" => {
                if request.value.is_empty() {
                    return Err("token accessor not provided".into());
                }
                self.clear_accessor(&request.value);
            }
            "lease" => {
                if request.value.is_empty() {
                    return Err("lease not provided".into());
                }
                self.clear_lease(|l| l == request.value);
            }
            "all" => {
                self.evict_where(|_| true);
            }
            other => return Err(format!("invalid type provided: {other:?}")),
        }
        Ok(())
    }
}

fn kind(holds: &Holds) -> &'static str {
    match holds {
        Holds::Lease { .. } => "lease",
        Holds::Token { .. } => "token",
    }
}

/// The cache key: a hash of the whole request and the token it is sent with.
fn key(request: &Outgoing) -> Key {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    field(request.method.as_str().as_bytes());
    field(request.target.as_bytes());
    let mut headers: Vec<(&str, &[u8])> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    headers.sort();
    for (name, value) in headers {
        field(name.as_bytes());
        field(value);
    }
    field(&request.body);
    field(request.token.as_bytes());
    hash.finalize().into()
}

/// The revocation endpoint a path names, with a namespace prefix in the path removed
/// (`/v1/ns1/sys/leases/revoke` → `/v1/sys/leases/revoke`), as Vault Agent matches them.
fn revocation_path(path: &str) -> String {
    const REVOCATIONS: &[&str] = &["/auth/token/revoke", "/sys/leases/revoke"];
    let rest = path.strip_prefix("/v1").unwrap_or(path);
    for endpoint in REVOCATIONS {
        if let Some(at) = rest.find(endpoint) {
            return format!("/v1{}", &rest[at..]);
        }
    }
    format!("/v1{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;
    use hyper::{HeaderMap, Method};

    fn request(method: Method, target: &str, body: &str, token: &str) -> Outgoing {
        Outgoing::new(
            method,
            target,
            &HeaderMap::new(),
            Bytes::from(body.to_owned()),
            token.into(),
        )
    }

    #[test]
    fn the_key_covers_method_path_body_and_token() {
        let base = key(&request(Method::GET, "/v1/db/creds/app", "", "t"));
        assert_eq!(
            base,
            key(&request(Method::GET, "/v1/db/creds/app", "", "t"))
        );
        let variants = [
            (Method::PUT, "/v1/db/creds/app", "", "t"),
            (Method::GET, "/v1/db/creds/other", "", "t"),
            (Method::GET, "/v1/db/creds/app", "{}", "t"),
            (Method::GET, "/v1/db/creds/app", "", "u"),
        ];
        for (method, path, body, token) in variants {
            assert_ne!(
                base,
                key(&request(method, path, body, token)),
                "{path} {body} {token}"
            );
        }
    }

    #[test]
    fn namespaced_revocations_are_recognised() {
        assert_eq!(
            revocation_path("/v1/ns1/sys/leases/revoke"),
            "/v1/sys/leases/revoke"
        );
        assert_eq!(
            revocation_path("/v1/auth/token/revoke-self"),
            "/v1/auth/token/revoke-self"
        );
        assert_eq!(
            revocation_path("/v1/sys/leases/revoke-prefix/db/creds"),
            "/v1/sys/leases/revoke-prefix/db/creds"
        );
        assert_eq!(revocation_path("/v1/secret/data/x"), "/v1/secret/data/x");
    }
}

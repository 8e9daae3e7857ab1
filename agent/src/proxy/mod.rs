//! The local Vault API proxy on `listener` addresses, as `bao agent` serves it.
//!
//! [`server`] binds every listener (tcp, plain or TLS, and unix) and routes the agent's own
//! `/agent/v1/{quit,metrics,cache-clear}`; every other request goes through [`Proxy::handle`]:
//! the token is chosen ([`choose_token`]), the request is forwarded ([`forward`]), through the
//! lease [`cache`] when a `cache` stanza is present, and a lookup of the agent's own token is
//! stripped of its id and accessor, as Vault Agent does, so clients never learn it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tracing::warn;

use crate::config::TokenUse;

pub mod cache;
pub mod forward;
pub mod server;
mod socket;

pub use forward::{Outgoing, Reply, Upstream};
pub use server::{ServeError, serve};

/// The header that carries a Vault token.
pub const TOKEN_HEADER: &str = "x-vault-token";

/// The largest request body the proxy accepts. Vault Agent itself reads any body; the Vault
/// server refuses anything above its `max_request_size` (32 MiB by default) with 413, so a
/// bigger body can only fail, and is refused here before it is buffered.
pub const MAX_REQUEST_BODY: usize = 32 << 20;

/// The agent's current auto-auth token, published by the token keeper, read per request;
/// and the way back: the proxy reports a token Vault refused, the keeper logs in again.
#[derive(Clone, Default)]
pub struct AutoToken(Arc<Shared>);

#[derive(Default)]
struct Shared {
    token: RwLock<String>,
    /// The last token reported refused, and the keeper's wake-up.
    rejected: Mutex<String>,
    wake: tokio::sync::Notify,
    /// A lookup-self check is under way (one at a time).
    checking: AtomicBool,
}

impl AutoToken {
    pub fn set(&self, token: &str) {
        *self.0.token.write().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
    }

    /// The token; empty before the first login.
    pub fn get(&self) -> String {
        self.0
            .token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reports that Vault refused `token` itself.
    pub fn reject(&self, token: &str) {
        *self.0.rejected.lock().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
        self.0.wake.notify_one();
    }

    /// Resolves once `token` is reported refused (reports about older tokens are ignored).
    pub async fn rejected(&self, token: &str) {
        loop {
            self.0.wake.notified().await;
            if *self.0.rejected.lock().unwrap_or_else(|e| e.into_inner()) == token {
                return;
            }
        }
    }
}

/// A 403 that may mean the token itself is invalid, not a policy denial: Vault says
/// "invalid token"; OpenBao answers a revoked or unknown token with a bare
/// `["permission denied"]`, while a policy denial is wrapped ("1 error occurred: ...").
fn may_be_invalid_token(reply: &Reply) -> bool {
    if reply.status != StatusCode::FORBIDDEN {
        return false;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&reply.body) else {
        return false;
    };
    let errors: Vec<&str> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    errors.iter().any(|e| e.contains("invalid token")) || errors == ["permission denied"]
}

/// The token a proxied request is sent with: the client's own, unless `force` (or none was
/// sent and the auto-auth token may be used).
pub fn choose_token(client: Option<&str>, token_use: TokenUse, auto: &AutoToken) -> String {
    let client = client.filter(|t| !t.is_empty() && token_use != TokenUse::Force);
    match (client, token_use) {
        (Some(token), _) => token.to_owned(),
        (None, TokenUse::ClientOnly) => String::new(),
        (None, _) => auto.get(),
    }
}

/// Everything a proxied request needs.
pub struct Proxy {
    pub upstream: Upstream,
    pub token_use: TokenUse,
    pub auto_token: AutoToken,
    pub cache: Option<cache::LeaseCache>,
}

impl Proxy {
    /// Forwards one request (head already split, body read) and shapes the answer.
    pub async fn handle(
        &self,
        method: Method,
        target: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Reply {
        let client_token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
        let token = choose_token(client_token, self.token_use, &self.auto_token);
        let request = Outgoing::new(method, target, headers, body, token);
        let mut reply = match &self.cache {
            Some(cache) => cache.send(&self.upstream, &request).await,
            None => self.upstream.send(&request).await,
        };
        if self.token_use != TokenUse::ClientOnly {
            let auto = self.auto_token.get();
            if !auto.is_empty() && request.token == auto && may_be_invalid_token(&reply) {
                self.check_auto_token(auto.clone());
            }
            strip_auto_token(&request, &auto, &mut reply);
        }
        reply
    }

    /// Self-healing (Vault 1.17+ Proxy; not in bao agent, openbao/vault#31995): Vault refused
    /// the auto-auth token on a proxied request, so check it with `lookup-self` and, if it is
    /// refused there too (revoked, expired), have the keeper log in again. One check at a
    /// time, in the background: the client has its answer already.
    fn check_auto_token(&self, token: String) {
        let shared = &self.auto_token.0;
        if shared.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let (auto, upstream) = (self.auto_token.clone(), self.upstream.clone());
        tokio::spawn(async move {
            if upstream.token_rejected(&token).await {
                warn!("Vault refused the auto-auth token on a proxied request; logging in again");
                auto.reject(&token);
            }
            auto.0.checking.store(false, Ordering::Release);
        });
    }
}

/// A lookup or renewal of the agent's own token answers without `id`/`accessor` (lookups)
/// or `client_token`/`accessor` (renewals), re-encoded in the shape Vault's Go client writes.
fn strip_auto_token(request: &Outgoing, auto: &str, reply: &mut Reply) {
    if reply.status != StatusCode::OK || auto.is_empty() {
        return;
    }
    let about_auto = match request.api_path() {
        "/v1/auth/token/lookup-self" | "/v1/auth/token/renew-self" => request.token == auto,
        "/v1/auth/token/lookup" | "/v1/auth/token/renew" => match request.json_field("token") {
            Some(Value::String(t)) => t.is_empty() || t == auto,
            _ => false,
        },
        _ => false,
    };
    if !about_auto {
        return;
    }
    let Ok(Value::Object(mut secret)) = serde_json::from_slice::<Value>(&reply.body) else {
        return;
    };
    if let Some(Value::Object(data)) = secret.get_mut("data") {
        if data.get("id").is_none_or(Value::is_null)
            && data.get("accessor").is_none_or(Value::is_null)
        {
            return;
        }
        data.remove("id");
        data.remove("accessor");
    } else if let Some(Value::Object(auth)) = secret.get_mut("auth") {
        let blank = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").is_empty();
        if blank(auth.get("client_token")) && blank(auth.get("accessor")) {
            return;
        }
        auth.insert("client_token".into(), Value::String(String::new()));
        auth.insert("accessor".into(), Value::String(String::new()));
    } else {
        return;
    }
    reply.body =
        Bytes::from(serde_json::to_vec(&go_secret_shape(secret)).expect("JSON values serialize"));
    reply.headers.remove(hyper::header::CONTENT_LENGTH);
    reply.headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

/// The fields (and zero values) of Vault's Go `api.Secret`, which `bao agent` re-encodes a
/// stripped answer through: other top-level keys are dropped, absent ones written as zero.
fn go_secret_shape(mut secret: serde_json::Map<String, Value>) -> Value {
    let mut take = |key: &str, zero: Value| (key.to_owned(), secret.remove(key).unwrap_or(zero));
    let mut shaped = serde_json::Map::from_iter([
        take("request_id", Value::from("")),
        take("lease_id", Value::from("")),
        take("lease_duration", Value::from(0)),
        take("renewable", Value::from(false)),
        take("data", Value::Null),
        take("warnings", Value::Null),
    ]);
    if let Some(Value::Object(mut auth)) = secret.remove("auth") {
        let mut field = |key: &str, zero: Value| (key.to_owned(), auth.remove(key).unwrap_or(zero));
        let auth = serde_json::Map::from_iter([
            field("client_token", Value::from("")),
            field("accessor", Value::from("")),
            field("policies", Value::Null),
            field("token_policies", Value::Null),
            field("identity_policies", Value::Null),
            field("metadata", Value::Null),
            field("orphan", Value::from(false)),
            field("entity_id", Value::from("")),
            field("lease_duration", Value::from(0)),
            field("renewable", Value::from(false)),
            field("mfa_requirement", Value::Null),
        ]);
        shaped.insert("auth".into(), Value::Object(auth));
    }
    if let Some(wrap) = secret.remove("wrap_info").filter(|w| !w.is_null()) {
        shaped.insert("wrap_info".into(), wrap);
    }
    Value::Object(shaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn the_client_token_wins_unless_forced() {
        let auto = AutoToken::default();
        auto.set("agent");
        assert_eq!(
            choose_token(Some("mine"), TokenUse::WhenMissing, &auto),
            "mine"
        );
        assert_eq!(choose_token(None, TokenUse::WhenMissing, &auto), "agent");
        assert_eq!(
            choose_token(Some(""), TokenUse::WhenMissing, &auto),
            "agent"
        );
        assert_eq!(choose_token(Some("mine"), TokenUse::Force, &auto), "agent");
        assert_eq!(choose_token(None, TokenUse::ClientOnly, &auto), "");
        assert_eq!(
            choose_token(Some("mine"), TokenUse::ClientOnly, &auto),
            "mine"
        );
    }

    #[test]
    fn only_a_bare_permission_denied_or_invalid_token_suggests_a_bad_token() {
        let reply = |status, errors: Value| Reply::json(status, &json!({ "errors": errors }));
        let forbidden = StatusCode::FORBIDDEN;
        assert!(may_be_invalid_token(&reply(
            forbidden,
            json!(["permission denied"])
        )));
        assert!(may_be_invalid_token(&reply(
            forbidden,
            json!(["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"])
        )));
        // OpenBao's and Vault's policy denial.
        assert!(!may_be_invalid_token(&reply(
            forbidden,
            json!(["1 error occurred:\n\t* permission denied\n\n"])
        )));
        assert!(!may_be_invalid_token(&reply(
            StatusCode::BAD_REQUEST,
            json!(["permission denied"])
        )));
    }

    #[tokio::test]
    async fn the_keeper_hears_only_about_its_own_token() {
        let auto = AutoToken::default();
        auto.reject("old");
        let waiting = tokio::time::timeout(Duration::from_millis(50), auto.rejected("new"));
        assert!(waiting.await.is_err(), "a report about another token");
        auto.reject("new");
        tokio::time::timeout(Duration::from_secs(1), auto.rejected("new"))
            .await
            .expect("woken");
    }

    #[test]
    fn a_lookup_of_the_agent_token_loses_id_and_accessor() {
        let headers = HeaderMap::new();
        let request = Outgoing::new(
            Method::GET,
            "/v1/auth/token/lookup-self",
            &headers,
            Bytes::new(),
            "agent".into(),
        );
        let body = json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": {"id": "agent", "accessor": "acc", "ttl": 5}, "wrap_info": null, "warnings": null,
            "auth": null, "mount_type": "token"});
        let mut reply = Reply::json(StatusCode::OK, &body);
        strip_auto_token(&request, "agent", &mut reply);
        let got: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            got,
            json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {"ttl": 5}, "warnings": null})
        );
        // Someone else's token is left alone.
        let mut other = Reply::json(StatusCode::OK, &body);
        strip_auto_token(&request, "other", &mut other);
        assert_eq!(serde_json::from_slice::<Value>(&other.body).unwrap(), body);
    }
}

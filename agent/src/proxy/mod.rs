//! The local Vault API proxy on `listener` addresses, as `bao agent` serves it.
//!
//! [`server`] binds every listener (tcp, plain or TLS, and unix) and routes the agent's own
//! `/agent/v1/{quit,metrics,cache-clear}`; every other request goes through [`Proxy::handle`]:
//! the token is chosen ([`choose_token`]), the request is forwarded ([`forward`]), through the
//! lease [`cache`] when a `cache` stanza is present, and a lookup of the agent's own token is
//! stripped of its id and accessor, as Vault Agent does, so clients never learn it.

use std::sync::{Arc, RwLock};

use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::config::TokenUse;

pub mod cache;
pub mod forward;
pub mod server;

pub use forward::{Outgoing, Reply, Upstream};
pub use server::{ServeError, serve};

/// The header that carries a Vault token.
pub const TOKEN_HEADER: &str = "x-vault-token";

/// The largest request body the proxy accepts. Vault Agent itself reads any body; the Vault
/// server refuses anything above its `max_request_size` (32 MiB by default) with 413, so a
/// bigger body can only fail, and is refused here before it is buffered.
pub const MAX_REQUEST_BODY: usize = 32 << 20;

/// The agent's current auto-auth token, published by the token keeper, read per request.
#[derive(Clone, Default)]
pub struct AutoToken(Arc<RwLock<String>>);

impl AutoToken {
    pub fn set(&self, token: &str) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
    }

    /// The token; empty before the first login.
    pub fn get(&self) -> String {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
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
            strip_auto_token(&request, &self.auto_token.get(), &mut reply);
        }
        reply
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
